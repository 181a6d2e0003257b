// bfloat16 for the CUDA emulation (see cuda_runtime.h): held as a float, so
// the kernels' bfloat16 paths are tested for their indexing, not rounding.
#pragma once

struct __nv_bfloat16 {
  float value;
};
inline float __bfloat162float(__nv_bfloat16 h) { return h.value; }
inline __nv_bfloat16 __float2bfloat16_rn(float f) { return {f}; }

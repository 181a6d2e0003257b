// float16 for the CUDA emulation (see cuda_runtime.h): held as a float, so
// the kernels' float16 paths are tested for their indexing, not rounding.
#pragma once

struct __half {
  float value;
};
inline float __half2float(__half h) { return h.value; }
inline __half __float2half_rn(float f) { return {f}; }

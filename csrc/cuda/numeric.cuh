// Arithmetic types of pygan's CUDA kernels, shared by the .cu files:
// 16-bit inputs are accumulated in float32, float64 in float64, with
// explicit conversions, and dispatch() instantiates a launcher's kernels for
// each DType. No torch header.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "dtype.cuh"

namespace pygan {
namespace cuda {

template <typename T>
struct Accum {
  using type = float;
};
template <>
struct Accum<double> {
  using type = double;
};

// Explicit conversions: torch builds CUDA code with __CUDA_NO_HALF_CONVERSIONS__,
// so the 16-bit types' implicit operators cannot be relied on.
__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

__device__ __forceinline__ void assign(float& dst, float v) { dst = v; }
__device__ __forceinline__ void assign(double& dst, double v) { dst = v; }
__device__ __forceinline__ void assign(__half& dst, float v) { dst = __float2half_rn(v); }
__device__ __forceinline__ void assign(__nv_bfloat16& dst, float v) { dst = __float2bfloat16_rn(v); }

// Calls fn(T{}) with T the C++ type of dtype: where a launcher's kernels are
// instantiated for float, double, __half and __nv_bfloat16.
template <typename Fn>
cudaError_t dispatch(DType dtype, const Fn& fn) {
  switch (dtype) {
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat64:
      return fn(double{});
    case DType::kFloat16:
      return fn(__half{});
    case DType::kBFloat16:
      return fn(__nv_bfloat16{});
  }
  return cudaErrorInvalidValue;
}

}  // namespace cuda
}  // namespace pygan

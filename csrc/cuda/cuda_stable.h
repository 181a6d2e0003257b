// The CUDA queries the glue needs, through torch's stable ABI (its CUDA
// shims, declared when USE_CUDA is defined, as CMakeLists.txt does for CUDA
// builds) and the CUDA runtime.
#pragma once

#include <cuda_runtime.h>
#include <torch/csrc/inductor/aoti_torch/c/shim.h>
#include <torch/csrc/stable/macros.h>

#include "dtype.cuh"
#include "stable_utils.h"

// torch 2.13's macros.h defines this (as TORCH_ERROR_CODE_CHECK for targets
// before 2.13); older headers lack it. Only a build against an older torch
// (CMakeLists.txt, PYGAN_TARGET_TORCH) sees this definition.
#ifndef STABLE_TORCH_ERROR_CODE_CHECK
#define STABLE_TORCH_ERROR_CODE_CHECK(call) TORCH_ERROR_CODE_CHECK(call)
#endif

namespace pygan {

// torch's current stream on x's device: the kernels run there, in order with
// torch's own work, and are captured with it into a CUDA graph.
inline cudaStream_t current_stream(const Tensor& x) {
  void* stream = nullptr;
  STABLE_TORCH_ERROR_CODE_CHECK(aoti_torch_get_current_cuda_stream(x.get_device_index(), &stream));
  return static_cast<cudaStream_t>(stream);
}

// The multiprocessor count of x's device. cudaDeviceGetAttribute reads
// properties the runtime has cached: no device round trip per call, and
// allowed while a CUDA graph is being captured.
inline int multiprocessors(const Tensor& x) {
  int count = 0;
  STD_CUDA_CHECK(cudaDeviceGetAttribute(&count, cudaDevAttrMultiProcessorCount, x.get_device_index()));
  return count;
}

// The launchers' element type of x; op names the op in the error for a
// dtype the CUDA kernels lack.
inline cuda::DType cuda_dtype(const Tensor& x, const char* op) {
  switch (x.scalar_type()) {
    case ScalarType::Float:
      return cuda::DType::kFloat32;
    case ScalarType::Double:
      return cuda::DType::kFloat64;
    case ScalarType::Half:
      return cuda::DType::kFloat16;
    case ScalarType::BFloat16:
      return cuda::DType::kBFloat16;
    default:
      fail(op, ": on CUDA supports float32, float64, float16 and bfloat16, got ", x.scalar_type());
  }
}

}  // namespace pygan

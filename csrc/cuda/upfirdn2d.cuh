// CUDA launcher of pygan::upfirdn2d, over raw pointers and a stream, with no
// torch headers (see leaky_relu_conv2d.cuh); the torch glue is
// upfirdn2d_cuda.cpp.
//
// x is read through its strides (any layout); out is written through its
// own, which the glue makes channels-last or contiguous, and channels_last
// says which, so that consecutive threads write consecutive elements. The
// filter is a contiguous [taps_y, taps_x] tensor of x's dtype. The launcher
// only enqueues work on `stream` (CUDA-graph capturable) and returns
// cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "dtype.cuh"

namespace pygan {
namespace cuda {

// One axis: the input's size, the factors, the padding before, the
// filter's taps and the output's size (upfirdn2d_checks.h's ResampleAxis).
struct ResampleAxisArgs {
  int64_t size, up, down, pad0, taps, out;
};

struct Upfirdn2dArgs {
  int64_t batch, channels;
  ResampleAxisArgs x, y;
  int64_t x_strides[4], out_strides[4];  // (n, c, y, x), in elements
  bool out_channels_last;
  bool flip_filter;
  double gain;
  const void* input;
  const void* filter;
  void* out;
};

cudaError_t upfirdn2d(DType dtype, const Upfirdn2dArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan

// CUDA launchers of pygan::leaky_relu_conv2d and its backward ops.
//
// Plain C++ over raw pointers and a stream, with no torch headers, so that
// the kernels compile with nvcc alone (tests/test_cuda_build.py does so on
// machines without a GPU); leaky_relu_conv2d_cuda.cpp is the torch glue.
//
// Every activation and gradient tensor is dense NHWC (channels-last), the
// weight is dense [O, KH, KW, C] (a channels-last [O, C, KH, KW] tensor), and
// the weight gradient is written as a contiguous [O, C, KH, KW] tensor. 16-bit
// inputs are accumulated in float32, float64 in float64. Indices are 32-bit:
// the glue checks that every tensor has fewer than 2^31 elements.
//
// The launchers only enqueue work on `stream`: they never allocate or
// synchronize (CUDA-graph capturable) and return cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstddef>

#include "dtype.cuh"

namespace pygan {
namespace cuda {

struct ConvShape {
  int batch, channels, height, width;
  int out_channels, kernel_h, kernel_w;
  int out_h, out_w;
  int stride_h, stride_w, pad_top, pad_left;
};

// out = conv2d(leaky_relu(x), weight) + bias; bias may be null.
cudaError_t leaky_relu_conv2d_forward(DType dtype, const ConvShape& shape, const void* x, const void* weight,
                                      const void* bias, double negative_slope, void* out, cudaStream_t stream);

// grad_x = conv_transpose(grad_output, weight) * leaky_relu'(x).
cudaError_t leaky_relu_conv2d_backward_input(DType dtype, const ConvShape& shape, const void* grad_output,
                                             const void* x, const void* weight, double negative_slope,
                                             void* grad_x, cudaStream_t stream);

// The weight gradient is a GEMM reduced over every output pixel of the batch:
// the reduction is split into `splits` slices (so that small layers still fill
// the GPU), each slice's partial sum is written to a workspace, and a second
// kernel sums the slices in a fixed order (deterministic, no atomics).
int leaky_relu_conv2d_backward_weight_splits(const ConvShape& shape, int multiprocessors);

// Elements of the workspace, of the accumulation type (float64 for float64
// inputs, float32 otherwise).
size_t leaky_relu_conv2d_backward_weight_workspace(const ConvShape& shape, int splits);

// grad_weight = correlate(grad_output, leaky_relu(x)) as a contiguous [O, C,
// KH, KW] tensor, and grad_bias = grad_output summed over every pixel, [O].
cudaError_t leaky_relu_conv2d_backward_weight(DType dtype, const ConvShape& shape, const void* grad_output,
                                              const void* x, double negative_slope, int splits, void* workspace,
                                              void* grad_weight, void* grad_bias, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan

// CUDA launcher of pygan::bias_act and pygan::bias_act_grad, over raw
// pointers and a stream, with no torch headers (see leaky_relu_conv2d.cuh);
// the torch glue is bias_act_cuda.cpp.
//
// x, grad and out are dense and laid out alike (the glue sees to it) and are
// walked in memory order: element i's bias is bias[i % count] when run is 1,
// else bias[i / run % count] (bias_act_checks.h's BiasLayout). The launcher
// only enqueues work on `stream` (CUDA-graph capturable) and returns
// cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../activations.h"
#include "dtype.cuh"

namespace pygan {
namespace cuda {

struct BiasActArgs {
  Activation act;
  int order;           // 0: the forward; 1 or 2: the gradient of that order
  bool clamped;        // whether `clamp` applies
  int64_t numel, run, count;
  const void* x;
  const void* grad;    // null for the forward
  const void* bias;    // null without a bias
  double alpha, gain, clamp;
  void* out;
};

cudaError_t bias_act(DType dtype, const BiasActArgs& args, cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan

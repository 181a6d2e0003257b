// CUDA launcher of pygan::rmsprop_step_ (see ops.cpp), over raw pointers and
// a stream, with no torch headers (see leaky_relu_conv2d.cuh); the torch glue
// is rmsprop_cuda.cpp.
//
// Every parameter, gradient and square average is float32, dense, and laid
// out like its parameter. `skip` and `updates` live on the device: the
// launcher only enqueues work on `stream`, never allocates or synchronizes
// (CUDA-graph capturable), and returns cudaGetLastError().
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace pygan {
namespace cuda {

struct RmspropSettings {
  double lr, decay, alpha, eps;
};

cudaError_t rmsprop_step(int count, float* const* params, const float* const* grads, float* const* square_avgs,
                         const int64_t* numels, const bool* skip, int64_t* updates, const RmspropSettings& settings,
                         cudaStream_t stream);

}  // namespace cuda
}  // namespace pygan

// C entry points to the emulated CUDA launchers, for ctypes
// (tests/test_cuda_emulation.py). A shape is the 13 ints of ConvShape.
#include "leaky_relu_conv2d.cuh"
#include "rmsprop.cuh"

using namespace pygan::cuda;

namespace {
ConvShape shape_of(const int* v) {
  return ConvShape{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12]};
}
}  // namespace

extern "C" {
int forward(int dtype, const int* shape, const void* x, const void* weight, const void* bias, double slope,
            void* out) {
  return leaky_relu_conv2d_forward(DType(dtype), shape_of(shape), x, weight, bias, slope, out, nullptr);
}

int backward_input(int dtype, const int* shape, const void* grad_output, const void* x, const void* weight,
                   double slope, void* grad_x) {
  return leaky_relu_conv2d_backward_input(DType(dtype), shape_of(shape), grad_output, x, weight, slope, grad_x,
                                          nullptr);
}

int backward_weight_splits(const int* shape, int multiprocessors) {
  return leaky_relu_conv2d_backward_weight_splits(shape_of(shape), multiprocessors);
}

long long backward_weight_workspace(const int* shape, int splits) {
  return static_cast<long long>(leaky_relu_conv2d_backward_weight_workspace(shape_of(shape), splits));
}

int backward_weight(int dtype, const int* shape, const void* grad_output, const void* x, double slope, int splits,
                    void* workspace, void* grad_weight, void* grad_bias) {
  return leaky_relu_conv2d_backward_weight(DType(dtype), shape_of(shape), grad_output, x, slope, splits, workspace,
                                           grad_weight, grad_bias, nullptr);
}

int rmsprop(int count, float* const* params, const float* const* grads, float* const* square_avgs,
            const int64_t* numels, const bool* skip, int64_t* updates, double lr, double decay, double alpha,
            double eps) {
  return rmsprop_step(count, params, grads, square_avgs, numels, skip, updates, RmspropSettings{lr, decay, alpha, eps},
                      nullptr);
}
}

// C entry points to the emulated CUDA launchers, for ctypes
// (tests/test_cuda_emulation.py). A shape is the 13 ints of ConvShape; an
// upfirdn2d geometry the 14 int64s of batch, channels and the x and y
// ResampleAxisArgs.
#include "bias_act.cuh"
#include "leaky_relu_conv2d.cuh"
#include "rmsprop.cuh"
#include "upfirdn2d.cuh"

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

int bias_act(int dtype, int act, int order, int clamped, long long numel, long long run, long long count,
             const void* x, const void* grad, const void* bias, double alpha, double gain, double clamp, void* out) {
  return pygan::cuda::bias_act(DType(dtype),
                               BiasActArgs{pygan::Activation(act), order, clamped != 0, numel, run, count, x, grad,
                                           bias, alpha, gain, clamp, out},
                               nullptr);
}

int upfirdn2d(int dtype, const int64_t* geometry, const int64_t* x_strides, const int64_t* out_strides,
              int out_channels_last, int flip_filter, double gain, const void* x, const void* filter, void* out) {
  const auto axis = [&](int i) {
    return ResampleAxisArgs{geometry[i], geometry[i + 1], geometry[i + 2], geometry[i + 3], geometry[i + 4],
                            geometry[i + 5]};
  };
  Upfirdn2dArgs args{geometry[0], geometry[1], axis(2), axis(8), {}, {}, out_channels_last != 0, flip_filter != 0,
                     gain, x, filter, out};
  for (int d = 0; d < 4; ++d) {
    args.x_strides[d] = x_strides[d];
    args.out_strides[d] = out_strides[d];
  }
  return pygan::cuda::upfirdn2d(DType(dtype), args, nullptr);
}
}

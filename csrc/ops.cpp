// The pygan operator library: the schemas of the fused ops, defined through
// torch's stable ABI (torch/csrc/stable/library.h).
//
// Kernels are registered per device in their own files
// (STABLE_TORCH_LIBRARY_IMPL); the fake (meta) implementations, autograd
// formulas and autocast rules live in Python, in pygan/ops/, shared by every
// device. pygan/ops/_extension.py loads this library with torch.ops.load_library.
#include <torch/csrc/stable/library.h>

STABLE_TORCH_LIBRARY(pygan, m) {
  // conv2d(leaky_relu(x, negative_slope), weight, bias, stride) with explicit
  // zero padding (top, bottom, left, right), dilation 1, groups 1.
  m.def(
      "leaky_relu_conv2d(Tensor x, Tensor weight, Tensor? bias, int[2] stride, "
      "int[4] padding, float negative_slope) -> Tensor");
  // d loss / d x: the transposed convolution of grad_output times the
  // activation's derivative at x.
  m.def(
      "leaky_relu_conv2d_backward_input(Tensor grad_output, Tensor x, Tensor weight, "
      "int[2] stride, int[4] padding, float negative_slope) -> Tensor");
  // d loss / d weight: grad_output correlated with leaky_relu(x); and
  // d loss / d bias: grad_output summed over every pixel, which the kernels
  // get in the same pass over grad_output.
  m.def(
      "leaky_relu_conv2d_backward_weight(Tensor grad_output, Tensor x, SymInt[] weight_size, "
      "int[2] stride, int[4] padding, float negative_slope) -> (Tensor grad_weight, Tensor grad_bias)");
  // NVlabs' StyleGAN2 bias_act: clamp(gain * act(x + b), -clamp, clamp), b
  // (1-d) added along dimension dim; act is linear, relu, lrelu (alpha its
  // negative slope), tanh, sigmoid, elu, selu, softplus or swish; no clamp
  // when clamp is None. The output is laid out as empty_like(x).
  m.def(
      "bias_act(Tensor x, Tensor? b, int dim, str act, float alpha, float gain, float? clamp) -> Tensor");
  // The gradient of bias_act in x + b (order 1), or its derivative (order 2):
  // grad * gain * act^(order)(x + b), zero where the clamp cut the output.
  m.def(
      "bias_act_grad(Tensor grad, Tensor x, Tensor? b, int order, int dim, str act, float alpha, float gain, "
      "float? clamp) -> Tensor");
  // NVlabs' StyleGAN2 upfirdn2d, per channel of x (N, C, H, W): insert up - 1
  // zeros after each pixel, pad (negative padding crops), convolve with the
  // 2-d filter f (correlate if flip_filter), keep every down-th pixel, times
  // gain. Pairs are (x, y) and padding (x0, x1, y0, y1), as NVlabs has them.
  // The output is channels-last when x is, else contiguous.
  m.def(
      "upfirdn2d(Tensor x, Tensor f, int[2] up, int[2] down, int[4] padding, bool flip_filter, float gain) "
      "-> Tensor");
  // RMSprop with Keras' time decay, in place, unless skip is true:
  //   lr_t = lr / (1 + decay * updates); v = alpha v + (1 - alpha) g^2;
  //   p -= lr_t g / (sqrt(v) + eps); updates += 1.
  // skip and updates are read on the device, so a training step that decides
  // to skip a non-finite update never waits for the host (CUDA graphs).
  m.def(
      "rmsprop_step_(Tensor(a!)[] params, Tensor[] grads, Tensor(b!)[] square_avgs, Tensor(c!) updates, "
      "Tensor skip, float lr, float decay, float alpha, float eps) -> ()");
}

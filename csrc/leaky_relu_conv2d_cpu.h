// What the CPU kernels of pygan::leaky_relu_conv2d share between their two
// algorithms: the activation loops, and the entry points of the Winograd
// path (leaky_relu_conv2d_winograd_cpu.cpp) that leaky_relu_conv2d_cpu.cpp
// takes for the layers winograd_plan accepts.
#pragma once

#include <cstdint>
#include <optional>

#include "leaky_relu_conv2d_checks.h"

namespace pygan {

// dst = leaky_relu(src). Written as a select of two computed values, which
// vectorizes (with -fno-trapping-math) instead of branching on every sign.
template <typename scalar_t>
inline void leaky_relu(const scalar_t* __restrict src, scalar_t* __restrict dst, int64_t count, scalar_t slope) {
  for (int64_t i = 0; i < count; ++i) {
    const scalar_t v = src[i], scaled = v * slope;
    dst[i] = v > 0 ? v : scaled;
  }
}

// grad *= leaky_relu'(x), with leaky_relu'(0) = slope as in torch.
template <typename scalar_t>
inline void mul_leaky_relu_grad(const scalar_t* __restrict x, scalar_t* __restrict grad, int64_t count,
                                scalar_t slope) {
  for (int64_t i = 0; i < count; ++i) {
    const scalar_t v = grad[i], scaled = v * slope;
    grad[i] = x[i] > 0 ? v : scaled;
  }
}

// The stride-1 convolution a layer is computed as on the Winograd path.
struct WinogradPlan {
  int64_t stride;            // the layer's: 1, or 2 (the input's pixel phases become channels)
  int64_t kernel;            // 5, or 3
  int64_t channels;          // stride * stride * C
  int64_t pad_top, pad_left;
  int64_t shift_h, shift_w;  // the layer's padding's remainder by the stride
};

// The layer's plan, if it takes the Winograd path.
std::optional<WinogradPlan> winograd_plan(const ConvGeometry& g);

// The three kernels on the Winograd path, over NHWC data (the weight
// [O, C, 5, 5] contiguous): out = conv(leaky_relu(x)) + bias; gx =
// grad_output's input gradient before the activation's derivative; and the
// weight gradient [O, C, 5, 5].
template <typename scalar_t>
void winograd_forward(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* x, const scalar_t* weight,
                      const scalar_t* bias, scalar_t slope, scalar_t* out);
template <typename scalar_t>
void winograd_backward_input(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad,
                             const scalar_t* weight, scalar_t* gx);
template <typename scalar_t>
void winograd_backward_weight(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad, const scalar_t* x,
                              scalar_t slope, scalar_t* grad_weight);

}  // namespace pygan

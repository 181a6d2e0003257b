// Argument checks of pygan::leaky_relu_conv2d and its backward ops, shared by
// the CPU and CUDA registrations; each adds only its own (the device, the
// dtypes it has kernels for, the index ranges its kernels support).
#pragma once

#include <algorithm>
#include <optional>
#include <vector>

#include "stable_utils.h"

namespace pygan {

constexpr const char* kConvOp = "pygan::leaky_relu_conv2d";

// One call's extents: the input, the kernel, the output, the stride, and the
// padding's top and left (its bottom and right follow from the output size).
struct ConvGeometry {
  int64_t batch, channels, height, width;
  int64_t out_channels, kernel_h, kernel_w;
  int64_t out_h, out_w;
  int64_t stride_h, stride_w, pad_top, pad_left;

  int64_t patch() const { return kernel_h * kernel_w * channels; }
};

// The input x is 4-d and the weight fits it and the padding.
inline ConvGeometry check_geometry(const Tensor& x, IntHeaderOnlyArrayRef weight_size, IntHeaderOnlyArrayRef stride,
                                   IntHeaderOnlyArrayRef padding) {
  PYGAN_CHECK(x.dim() == 4, kConvOp, ": expected a 4-d input (N, C, H, W), got shape ", Sizes{x.sizes()});
  PYGAN_CHECK(weight_size.size() == 4, kConvOp, ": expected a 4-d weight (O, C, KH, KW), got shape ",
              Sizes{weight_size});
  PYGAN_CHECK(stride.size() == 2 && stride[0] > 0 && stride[1] > 0, kConvOp,
              ": stride must be two positive integers, got ", Sizes{stride});
  PYGAN_CHECK(padding.size() == 4 && *std::min_element(padding.begin(), padding.end()) >= 0, kConvOp,
              ": padding must be four non-negative integers (top, bottom, left, right), got ", Sizes{padding});
  PYGAN_CHECK(weight_size[1] == x.size(1), kConvOp, ": the weight expects ", weight_size[1],
              " input channels but the input has ", x.size(1));
  // torch's conv2d returns a 0-channel output for 0 input channels, ignoring
  // the weight's output channels and the bias; the reference refuses it too.
  PYGAN_CHECK(x.size(1) > 0, kConvOp, ": expected at least one input channel, got an input of shape ",
              Sizes{x.sizes()});
  PYGAN_CHECK(weight_size[2] > 0 && weight_size[3] > 0, kConvOp, ": the kernel must be at least 1x1, got ",
              weight_size[2], "x", weight_size[3]);
  // Every index the kernels compute stays within the padded input, so that it
  // fits in int64 is enough; a sum or product that overflowed would wrap to a
  // wrong geometry and a silently wrong result.
  int64_t padded_h = 0, padded_w = 0, padded_elements = 0;
  const bool overflows = __builtin_add_overflow(x.size(2), padding[0], &padded_h) ||
                         __builtin_add_overflow(padded_h, padding[1], &padded_h) ||
                         __builtin_add_overflow(x.size(3), padding[2], &padded_w) ||
                         __builtin_add_overflow(padded_w, padding[3], &padded_w) ||
                         __builtin_mul_overflow(padded_h, padded_w, &padded_elements) ||
                         __builtin_mul_overflow(padded_elements, x.size(1), &padded_elements) ||
                         __builtin_mul_overflow(padded_elements, x.size(0), &padded_elements);
  PYGAN_CHECK(!overflows, kConvOp, ": padding ", Sizes{padding},
              " makes the padded input larger than 2^63 - 1 elements");
  PYGAN_CHECK(padded_h >= weight_size[2] && padded_w >= weight_size[3], kConvOp, ": the padded input (", padded_h,
              "x", padded_w, ") is smaller than the kernel (", weight_size[2], "x", weight_size[3], ")");
  return ConvGeometry{x.size(0),
                      x.size(1),
                      x.size(2),
                      x.size(3),
                      weight_size[0],
                      weight_size[2],
                      weight_size[3],
                      (padded_h - weight_size[2]) / stride[0] + 1,
                      (padded_w - weight_size[3]) / stride[1] + 1,
                      stride[0],
                      stride[1],
                      padding[0],
                      padding[2]};
}

// Another operand (weight, bias, grad_output) lies on the input's device, in its dtype.
inline void check_operand(const char* name, const Tensor& t, const Tensor& x) {
  PYGAN_CHECK(t.device() == x.device(), kConvOp, ": ", name, " is on ", DeviceName{t.device()},
              " but the input is on ", DeviceName{x.device()});
  PYGAN_CHECK(t.scalar_type() == x.scalar_type(), kConvOp, ": ", name, " has dtype ", t.scalar_type(),
              " but the input has dtype ", x.scalar_type());
}

inline void check_bias(const std::optional<Tensor>& bias, const Tensor& x, const ConvGeometry& g) {
  if (bias) {
    check_operand("bias", *bias, x);
    PYGAN_CHECK(bias->dim() == 1 && bias->size(0) == g.out_channels, kConvOp, ": expected a bias of shape [",
                g.out_channels, "], got ", Sizes{bias->sizes()});
  }
}

inline void check_grad_output(const Tensor& grad_output, const Tensor& x, const ConvGeometry& g) {
  check_operand("grad_output", grad_output, x);
  const std::vector<int64_t> output_size{g.batch, g.out_channels, g.out_h, g.out_w};
  PYGAN_CHECK(grad_output.sizes().equals(IntHeaderOnlyArrayRef(output_size)), kConvOp, ": grad_output has shape ",
              Sizes{grad_output.sizes()}, " but the output has shape ", Sizes{output_size});
}

}  // namespace pygan

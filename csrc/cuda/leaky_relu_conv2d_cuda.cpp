// CUDA registrations of pygan::leaky_relu_conv2d and its backward ops: checks,
// layouts and allocation, around the launchers of leaky_relu_conv2d.cu.
//
// Tensors go to the kernels channels-last (as the CPU kernels, and the fake
// impls, return them); the weight too, as [O, KH, KW, C], which both the
// forward and the input gradient read contiguously. Outputs and workspaces
// come from torch's caching allocator, kernels run on the current stream, and
// nothing here synchronizes, so the ops can be captured in a CUDA graph.
// Only torch's stable ABI is used (see stable_utils.h; cuda_stable.h).
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <limits>
#include <tuple>
#include <vector>

#include "cuda_stable.h"
#include "leaky_relu_conv2d.cuh"
#include "leaky_relu_conv2d_checks.h"

namespace pygan {
namespace {

// The kernels index with 32-bit integers, and round extents up to whole
// tiles and splits (by less than 2^21) on the way.
constexpr int64_t kMaxElements = (int64_t{1} << 31) - (int64_t{1} << 21);
// A grid's y and z extents: a GEMM's column tiles (64 columns each), the
// input gradient's stride phases.
constexpr int64_t kMaxGridYZ = 65535;
constexpr int64_t kTileColumns = 64;

void check_size(const char* name, int64_t elements) {
  PYGAN_CHECK(elements <= kMaxElements, kConvOp, ": ", name, " has ", elements,
              " elements; the CUDA kernels support at most ", kMaxElements);
}

// The CUDA kernels' own checks, around check_geometry's: the device, the
// dtypes, and the ranges of their 32-bit indices and grid extents.
ConvGeometry make_geometry(const Tensor& x, IntHeaderOnlyArrayRef weight_size, IntHeaderOnlyArrayRef stride,
                           IntHeaderOnlyArrayRef padding) {
  PYGAN_CHECK(x.is_cuda(), kConvOp, ": the input must be a CUDA tensor, got ", DeviceName{x.device()});
  cuda_dtype(x, kConvOp);
  const ConvGeometry g = check_geometry(x, weight_size, stride, padding);
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  PYGAN_CHECK(std::max(g.stride_h, g.stride_w) <= kMaxInt &&
                  *std::max_element(padding.begin(), padding.end()) <= kMaxInt,
              kConvOp, ": stride ", Sizes{stride}, " and padding ", Sizes{padding}, " must be below 2^31 on CUDA");
  check_size("the input", x.numel());
  check_size("the weight", g.out_channels * g.patch());
  check_size("the output", g.batch * g.out_channels * g.out_h * g.out_w);
  check_size("the padded input",
             g.batch * g.channels * (g.height + padding[0] + padding[1]) * (g.width + padding[2] + padding[3]));
  const int64_t widest = std::max({g.out_channels, g.channels, g.patch() + 1});  // + 1: the bias column
  PYGAN_CHECK(widest <= kMaxGridYZ * kTileColumns, kConvOp, ": ", widest,
              " channels (or weight elements per output channel) exceed the CUDA kernels' grid, at most ",
              kMaxGridYZ * kTileColumns);
  const int64_t phases = std::min(g.stride_h, g.height) * std::min(g.stride_w, g.width);
  PYGAN_CHECK(phases <= kMaxGridYZ, kConvOp, ": stride ", Sizes{stride}, " over a ", g.height, "x", g.width,
              " input makes ", phases, " input-gradient phases; the CUDA kernels support at most ", kMaxGridYZ);
  return g;
}

// Every extent is at most an element count make_geometry checked.
cuda::ConvShape cuda_shape(const ConvGeometry& g) {
  const auto i = [](int64_t v) { return static_cast<int>(v); };
  return cuda::ConvShape{i(g.batch),    i(g.channels), i(g.height),   i(g.width),    i(g.out_channels),
                         i(g.kernel_h), i(g.kernel_w), i(g.out_h),    i(g.out_w),    i(g.stride_h),
                         i(g.stride_w), i(g.pad_top),  i(g.pad_left)};
}

Tensor leaky_relu_conv2d_cuda(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias,
                              const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                              double negative_slope) {
  const ConvGeometry g = make_geometry(x, weight.sizes(), stride, padding);
  const cuda::ConvShape s = cuda_shape(g);
  check_operand("weight", weight, x);
  check_bias(bias, x, g);
  const torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor out = empty_like_device(x, {g.batch, g.out_channels, g.out_h, g.out_w}, MemoryFormat::ChannelsLast);
  const Tensor x_nhwc = channels_last(x), weight_nhwc = channels_last(weight);
  const std::optional<Tensor> bias_c = bias ? std::optional(torch::stable::contiguous(*bias)) : std::nullopt;
  STD_CUDA_CHECK(cuda::leaky_relu_conv2d_forward(cuda_dtype(x, kConvOp), s, x_nhwc.const_data_ptr(),
                                                 weight_nhwc.const_data_ptr(),
                                                 bias_c ? bias_c->const_data_ptr() : nullptr, negative_slope,
                                                 out.mutable_data_ptr(), current_stream(x)));
  return out;
}

Tensor leaky_relu_conv2d_backward_input_cuda(const Tensor& grad_output, const Tensor& x, const Tensor& weight,
                                             const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                             double negative_slope) {
  const ConvGeometry g = make_geometry(x, weight.sizes(), stride, padding);
  const cuda::ConvShape s = cuda_shape(g);
  check_operand("weight", weight, x);
  check_grad_output(grad_output, x, g);
  const torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor grad_x = empty_like_device(x, x.sizes(), MemoryFormat::ChannelsLast);
  const Tensor grad_nhwc = channels_last(grad_output), x_nhwc = channels_last(x);
  const Tensor weight_nhwc = channels_last(weight);
  STD_CUDA_CHECK(cuda::leaky_relu_conv2d_backward_input(
      cuda_dtype(x, kConvOp), s, grad_nhwc.const_data_ptr(), x_nhwc.const_data_ptr(), weight_nhwc.const_data_ptr(),
      negative_slope, grad_x.mutable_data_ptr(), current_stream(x)));
  return grad_x;
}

std::tuple<Tensor, Tensor> leaky_relu_conv2d_backward_weight_cuda(const Tensor& grad_output, const Tensor& x,
                                                                  const std::vector<int64_t>& weight_size,
                                                                  const std::vector<int64_t>& stride,
                                                                  const std::vector<int64_t>& padding,
                                                                  double negative_slope) {
  const ConvGeometry g = make_geometry(x, weight_size, stride, padding);
  const cuda::ConvShape s = cuda_shape(g);
  check_grad_output(grad_output, x, g);
  const torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor grad_weight = empty_like_device(x, weight_size);
  Tensor grad_bias = empty_like_device(x, {g.out_channels});
  const Tensor grad_nhwc = channels_last(grad_output), x_nhwc = channels_last(x);
  const int splits = cuda::leaky_relu_conv2d_backward_weight_splits(s, multiprocessors(x));
  const ScalarType accumulate = x.scalar_type() == ScalarType::Double ? ScalarType::Double : ScalarType::Float;
  const int64_t workspace_size = static_cast<int64_t>(cuda::leaky_relu_conv2d_backward_weight_workspace(s, splits));
  check_size("the weight gradient's workspace", workspace_size);
  const Tensor workspace = empty_like_device(x, {workspace_size}, MemoryFormat::Contiguous, accumulate);
  STD_CUDA_CHECK(cuda::leaky_relu_conv2d_backward_weight(
      cuda_dtype(x, kConvOp), s, grad_nhwc.const_data_ptr(), x_nhwc.const_data_ptr(), negative_slope, splits,
      workspace.mutable_data_ptr(), grad_weight.mutable_data_ptr(), grad_bias.mutable_data_ptr(),
      current_stream(x)));
  return {grad_weight, grad_bias};
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CUDA, m) {
  m.impl("leaky_relu_conv2d", TORCH_BOX(&leaky_relu_conv2d_cuda));
  m.impl("leaky_relu_conv2d_backward_input", TORCH_BOX(&leaky_relu_conv2d_backward_input_cuda));
  m.impl("leaky_relu_conv2d_backward_weight", TORCH_BOX(&leaky_relu_conv2d_backward_weight_cuda));
}

}  // namespace pygan

// CUDA registrations of pygan::leaky_relu_conv2d and its backward ops: checks,
// layouts and allocation, around the launchers of leaky_relu_conv2d.cu.
//
// Tensors go to the kernels channels-last (as the CPU kernels, and the fake
// impls, return them); the weight too, as [O, KH, KW, C], which both the
// forward and the input gradient read contiguously. Outputs and workspaces
// come from torch's caching allocator, kernels run on the current stream, and
// nothing here synchronizes, so the ops can be captured in a CUDA graph.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "leaky_relu_conv2d.cuh"

namespace pygan {
namespace {

constexpr const char* kOp = "pygan::leaky_relu_conv2d";

cuda::DType dtype_of(const at::Tensor& x) {
  switch (x.scalar_type()) {
    case at::kFloat:
      return cuda::DType::kFloat32;
    case at::kDouble:
      return cuda::DType::kFloat64;
    case at::kHalf:
      return cuda::DType::kFloat16;
    case at::kBFloat16:
      return cuda::DType::kBFloat16;
    default:
      TORCH_CHECK(false, kOp, ": on CUDA supports float32, float64, float16 and bfloat16, got ", x.scalar_type());
  }
}

void check_tensor(const char* name, const at::Tensor& t, const at::Tensor& x) {
  TORCH_CHECK(t.device() == x.device(), kOp, ": ", name, " is on ", t.device(), " but the input is on ", x.device());
  TORCH_CHECK(t.scalar_type() == x.scalar_type(), kOp, ": ", name, " has dtype ", t.scalar_type(),
              " but the input has dtype ", x.scalar_type());
}

// The kernels index with 32-bit integers, and round extents up to whole
// tiles and splits (by less than 2^21) on the way.
constexpr int64_t kMaxElements = (int64_t{1} << 31) - (int64_t{1} << 21);
// A grid's y and z extents: a GEMM's column tiles (64 columns each), the
// input gradient's stride phases.
constexpr int64_t kMaxGridYZ = 65535;
constexpr int64_t kTileColumns = 64;

void check_size(const char* name, int64_t elements) {
  TORCH_CHECK(elements <= kMaxElements, kOp, ": ", name, " has ", elements,
              " elements; the CUDA kernels support at most ", kMaxElements);
}

cuda::ConvShape make_shape(const at::Tensor& x, at::IntArrayRef weight_size, at::IntArrayRef stride,
                           at::IntArrayRef padding) {
  TORCH_CHECK(x.is_cuda(), kOp, ": the input must be a CUDA tensor, got ", x.device());
  dtype_of(x);
  TORCH_CHECK(x.dim() == 4, kOp, ": expected a 4-d input (N, C, H, W), got shape ", x.sizes());
  TORCH_CHECK(weight_size.size() == 4, kOp, ": expected a 4-d weight (O, C, KH, KW), got shape ", weight_size);
  TORCH_CHECK(stride.size() == 2 && stride[0] > 0 && stride[1] > 0, kOp,
              ": stride must be two positive integers, got ", stride);
  TORCH_CHECK(padding.size() == 4 && *std::min_element(padding.begin(), padding.end()) >= 0, kOp,
              ": padding must be four non-negative integers (top, bottom, left, right), got ", padding);
  constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();
  TORCH_CHECK(std::max(stride[0], stride[1]) <= kMaxInt &&
                  *std::max_element(padding.begin(), padding.end()) <= kMaxInt,
              kOp, ": stride ", stride, " and padding ", padding, " must be below 2^31 on CUDA");
  TORCH_CHECK(weight_size[1] == x.size(1), kOp, ": the weight expects ", weight_size[1],
              " input channels but the input has ", x.size(1));
  const int64_t padded_h = x.size(2) + padding[0] + padding[1];
  const int64_t padded_w = x.size(3) + padding[2] + padding[3];
  TORCH_CHECK(padded_h >= weight_size[2] && padded_w >= weight_size[3], kOp, ": the padded input (",
              padded_h, "x", padded_w, ") is smaller than the kernel (", weight_size[2], "x", weight_size[3], ")");
  const int64_t out_h = (padded_h - weight_size[2]) / stride[0] + 1;
  const int64_t out_w = (padded_w - weight_size[3]) / stride[1] + 1;
  check_size("the input", x.numel());
  check_size("the weight", c10::multiply_integers(weight_size));
  check_size("the output", x.size(0) * weight_size[0] * out_h * out_w);
  check_size("the padded input", x.size(0) * x.size(1) * padded_h * padded_w);
  const int64_t widest = std::max({weight_size[0], x.size(1), weight_size[1] * weight_size[2] * weight_size[3]});
  TORCH_CHECK(widest <= kMaxGridYZ * kTileColumns, kOp, ": ", widest,
              " channels (or weight elements per output channel) exceed the CUDA kernels' grid, at most ",
              kMaxGridYZ * kTileColumns);
  const int64_t phases = std::min(stride[0], x.size(2)) * std::min(stride[1], x.size(3));
  TORCH_CHECK(phases <= kMaxGridYZ, kOp, ": stride ", stride, " over a ", x.size(2), "x", x.size(3),
              " input makes ", phases, " input-gradient phases; the CUDA kernels support at most ", kMaxGridYZ);
  // Every extent below is at most an element count checked above.
  const auto i = [](int64_t v) { return static_cast<int>(v); };
  return cuda::ConvShape{i(x.size(0)),      i(x.size(1)),      i(x.size(2)),       i(x.size(3)),
                         i(weight_size[0]), i(weight_size[2]), i(weight_size[3]),  i(out_h),
                         i(out_w),          i(stride[0]),      i(stride[1]),       i(padding[0]),
                         i(padding[2])};
}

void check_grad_output(const at::Tensor& grad_output, const at::Tensor& x, const cuda::ConvShape& s) {
  check_tensor("grad_output", grad_output, x);
  const std::vector<int64_t> output_size{s.batch, s.out_channels, s.out_h, s.out_w};
  TORCH_CHECK(grad_output.sizes() == output_size, kOp, ": grad_output has shape ", grad_output.sizes(),
              " but the output has shape ", output_size);
}

at::Tensor channels_last(const at::Tensor& t) { return t.contiguous(at::MemoryFormat::ChannelsLast); }

at::Tensor leaky_relu_conv2d_cuda(const at::Tensor& x, const at::Tensor& weight, const std::optional<at::Tensor>& bias,
                                  at::IntArrayRef stride, at::IntArrayRef padding, double negative_slope) {
  const cuda::ConvShape s = make_shape(x, weight.sizes(), stride, padding);
  check_tensor("weight", weight, x);
  if (bias) {
    check_tensor("bias", *bias, x);
    TORCH_CHECK(bias->dim() == 1 && bias->size(0) == s.out_channels, kOp, ": expected a bias of shape [",
                s.out_channels, "], got ", bias->sizes());
  }
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor out = at::empty({s.batch, s.out_channels, s.out_h, s.out_w},
                             x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const at::Tensor x_nhwc = channels_last(x), weight_nhwc = channels_last(weight);
  const at::Tensor bias_c = bias ? bias->contiguous() : at::Tensor();
  C10_CUDA_CHECK(cuda::leaky_relu_conv2d_forward(dtype_of(x), s, x_nhwc.const_data_ptr(),
                                                 weight_nhwc.const_data_ptr(),
                                                 bias ? bias_c.const_data_ptr() : nullptr, negative_slope,
                                                 out.mutable_data_ptr(), at::cuda::getCurrentCUDAStream()));
  return out;
}

at::Tensor leaky_relu_conv2d_backward_input_cuda(const at::Tensor& grad_output, const at::Tensor& x,
                                                 const at::Tensor& weight, at::IntArrayRef stride,
                                                 at::IntArrayRef padding, double negative_slope) {
  const cuda::ConvShape s = make_shape(x, weight.sizes(), stride, padding);
  check_tensor("weight", weight, x);
  check_grad_output(grad_output, x, s);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor grad_x = at::empty(x.sizes(), x.options().memory_format(at::MemoryFormat::ChannelsLast));
  const at::Tensor grad_nhwc = channels_last(grad_output), x_nhwc = channels_last(x);
  const at::Tensor weight_nhwc = channels_last(weight);
  C10_CUDA_CHECK(cuda::leaky_relu_conv2d_backward_input(
      dtype_of(x), s, grad_nhwc.const_data_ptr(), x_nhwc.const_data_ptr(), weight_nhwc.const_data_ptr(),
      negative_slope, grad_x.mutable_data_ptr(), at::cuda::getCurrentCUDAStream()));
  return grad_x;
}

at::Tensor leaky_relu_conv2d_backward_weight_cuda(const at::Tensor& grad_output, const at::Tensor& x,
                                                  c10::SymIntArrayRef weight_size, at::IntArrayRef stride,
                                                  at::IntArrayRef padding, double negative_slope) {
  const std::vector<int64_t> weight_sizes = C10_AS_INTARRAYREF_SLOW(weight_size).vec();
  const cuda::ConvShape s = make_shape(x, weight_sizes, stride, padding);
  check_grad_output(grad_output, x, s);
  const c10::cuda::CUDAGuard guard(x.device());
  at::Tensor grad_weight = at::empty(weight_sizes, x.options());
  const at::Tensor grad_nhwc = channels_last(grad_output), x_nhwc = channels_last(x);
  // The multiprocessor count is cached by torch: no device query per call.
  const int splits =
      cuda::leaky_relu_conv2d_backward_weight_splits(s, at::cuda::getCurrentDeviceProperties()->multiProcessorCount);
  const auto accumulate = x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat;
  const int64_t workspace_size = static_cast<int64_t>(cuda::leaky_relu_conv2d_backward_weight_workspace(s, splits));
  check_size("the weight gradient's workspace", workspace_size);
  const at::Tensor workspace = at::empty({workspace_size}, x.options().dtype(accumulate));
  C10_CUDA_CHECK(cuda::leaky_relu_conv2d_backward_weight(
      dtype_of(x), s, grad_nhwc.const_data_ptr(), x_nhwc.const_data_ptr(), negative_slope, splits,
      workspace.mutable_data_ptr(), grad_weight.mutable_data_ptr(), at::cuda::getCurrentCUDAStream()));
  return grad_weight;
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CUDA, m) {
  m.impl("leaky_relu_conv2d", &leaky_relu_conv2d_cuda);
  m.impl("leaky_relu_conv2d_backward_input", &leaky_relu_conv2d_backward_input_cuda);
  m.impl("leaky_relu_conv2d_backward_weight", &leaky_relu_conv2d_backward_weight_cuda);
}

}  // namespace pygan

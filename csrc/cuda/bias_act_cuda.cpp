// CUDA registrations of pygan::bias_act and pygan::bias_act_grad: checks and
// layout (bias_act_checks.h), around the launcher of bias_act.cu. The
// output comes from torch's caching allocator, laid out as empty_like(x),
// and the kernel runs on the current stream: nothing here synchronizes.
// Only torch's stable ABI is used (see stable_utils.h; cuda_stable.h).
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>

#include <optional>

#include "bias_act.cuh"
#include "bias_act_checks.h"
#include "cuda_stable.h"

namespace pygan {
namespace {

Tensor run_bias_act(int order, const BiasActSettings& s, const Tensor& x, const std::optional<Tensor>& grad,
                    const std::optional<Tensor>& b) {
  PYGAN_CHECK(x.is_cuda(), kBiasActOp, ": the input must be a CUDA tensor, got ", DeviceName{x.device()});
  const cuda::DType dtype = cuda_dtype(x, kBiasActOp);
  const torch::stable::accelerator::DeviceGuard guard(x.get_device_index());
  Tensor out = torch::stable::empty_like(x);
  const Tensor x_d = in_layout_of(x, out);
  const std::optional<Tensor> grad_d = grad ? std::optional(in_layout_of(*grad, out)) : std::nullopt;
  const std::optional<Tensor> b_c = b ? std::optional(torch::stable::contiguous(*b)) : std::nullopt;
  const BiasLayout layout = b ? bias_layout(out, s) : BiasLayout{1, 1};
  const cuda::BiasActArgs args{s.act,
                               order,
                               s.clamp.has_value(),
                               x.numel(),
                               layout.run,
                               layout.count,
                               x_d.const_data_ptr(),
                               grad_d ? grad_d->const_data_ptr() : nullptr,
                               b_c ? b_c->const_data_ptr() : nullptr,
                               s.alpha,
                               s.gain,
                               s.clamp.value_or(0),
                               out.mutable_data_ptr()};
  STD_CUDA_CHECK(cuda::bias_act(dtype, args, current_stream(x)));
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CUDA, m) {
  m.impl("bias_act", TORCH_BOX(&bias_act_op<run_bias_act>));
  m.impl("bias_act_grad", TORCH_BOX(&bias_act_grad_op<run_bias_act>));
}

}  // namespace pygan

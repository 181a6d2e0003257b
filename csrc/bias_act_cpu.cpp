// CPU kernels of pygan::bias_act and pygan::bias_act_grad: one pass over
// memory, the element function (activations.h) templated on the
// activation, the gradient's order and the clamp, so that each combination
// is a loop the compiler vectorizes (the exponential ones call libm).
//
// The output is laid out as torch's empty_like(x) (x's strides when x is
// dense); x and the incoming gradient are brought to that layout, and all
// three are walked in memory order, the bias index following the bias
// dimension's stride (bias_act_checks.h).
#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <optional>

#include "activations.h"
#include "bias_act_checks.h"
#include "stable_utils.h"

namespace pygan {
namespace {

// Elements per task of torch's thread pool.
constexpr int64_t kGrain = 1 << 15;

template <typename T>
struct Operands {
  const T* x;
  const T* grad;  // null for the forward
  const T* bias;  // null without a bias
  T* out;
  BiasLayout layout;
  T alpha, gain, clamp;
};

template <Activation A, int kOrder, bool kClamp, typename T>
void bias_act_loop(const Operands<T>& p, int64_t numel) {
  const T alpha = p.alpha, gain = p.gain, clamp = p.clamp;
  // out[i] for i in [0, n) from x + bias[i * kBiasStep] (no bias: x alone).
  const auto run = [&](auto bias_step, int64_t offset, int64_t n, const T* bias) {
    constexpr int kBiasStep = decltype(bias_step)::value;
    const T* __restrict x = p.x + offset;
    const T* __restrict grad = p.grad + (kOrder > 0 ? offset : 0);
    T* __restrict out = p.out + offset;
    for (int64_t i = 0; i < n; ++i) {
      T v = x[i];
      if constexpr (kBiasStep >= 0) v += bias[kBiasStep * i];
      out[i] = bias_act_element<A, kOrder, kClamp>(v, kOrder > 0 ? grad[i] : T(0), alpha, gain, clamp);
    }
  };
  using NoBias = std::integral_constant<int, -1>;
  using OneBias = std::integral_constant<int, 0>;
  using BiasVector = std::integral_constant<int, 1>;
  const int64_t run_length = p.layout.run, count = p.layout.count;
  torch::stable::parallel_for(0, numel, kGrain, [&](int64_t begin, int64_t end) {
    if (p.bias == nullptr) {
      run(NoBias{}, begin, end - begin, nullptr);
    } else if (run_length == 1) {  // the bias vector along memory
      for (int64_t i = begin; i < end;) {
        const int64_t c = i % count, n = std::min(end - i, count - c);
        run(BiasVector{}, i, n, p.bias + c);
        i += n;
      }
    } else {  // runs of one bias each
      for (int64_t i = begin; i < end;) {
        const int64_t r = i / run_length, n = std::min(end, (r + 1) * run_length) - i;
        run(OneBias{}, i, n, p.bias + r % count);
        i += n;
      }
    }
  });
}

// The forward (order 0) or a gradient into a new tensor laid out as x.
Tensor run_bias_act(int order, const BiasActSettings& s, const Tensor& x, const std::optional<Tensor>& grad,
                    const std::optional<Tensor>& b) {
  PYGAN_CHECK(x.is_cpu(), kBiasActOp, ": the input must be on the CPU, got ", DeviceName{x.device()});
  PYGAN_CHECK(x.scalar_type() == ScalarType::Float || x.scalar_type() == ScalarType::Double, kBiasActOp,
              ": supports float32 and float64, got ", x.scalar_type());
  Tensor out = torch::stable::empty_like(x);
  if (x.numel() == 0) return out;
  const Tensor x_d = in_layout_of(x, out);
  const std::optional<Tensor> grad_d = grad ? std::optional(in_layout_of(*grad, out)) : std::nullopt;
  const std::optional<Tensor> b_c = b ? std::optional(torch::stable::contiguous(*b)) : std::nullopt;
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using T = decltype(zero);
    const Operands<T> p{x_d.const_data_ptr<T>(),
                        grad_d ? grad_d->const_data_ptr<T>() : nullptr,
                        b_c ? b_c->const_data_ptr<T>() : nullptr,
                        out.mutable_data_ptr<T>(),
                        b ? bias_layout(out, s) : BiasLayout{1, 1},
                        static_cast<T>(s.alpha),
                        static_cast<T>(s.gain),
                        static_cast<T>(s.clamp.value_or(0))};
    dispatch_activation(s.act, [&](auto act) {
      dispatch_order_and_clamp(order, s.clamp.has_value(), [&](auto order_constant, auto clamp_constant) {
        bias_act_loop<decltype(act)::value, decltype(order_constant)::value, decltype(clamp_constant)::value>(
            p, x.numel());
      });
    });
  });
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CPU, m) {
  m.impl("bias_act", TORCH_BOX(&bias_act_op<run_bias_act>));
  m.impl("bias_act_grad", TORCH_BOX(&bias_act_grad_op<run_bias_act>));
}

}  // namespace pygan

// Argument checks of pygan::bias_act and pygan::bias_act_grad, and the
// layout their kernels work in, shared by the CPU and CUDA registrations;
// each adds only its own checks (the device, the dtypes it has kernels for).
#pragma once

#include <optional>
#include <string>

#include "activations.h"
#include "stable_utils.h"

namespace pygan {

constexpr const char* kBiasActOp = "pygan::bias_act";

// One call's settings, checked.
struct BiasActSettings {
  Activation act;
  int64_t dim;  // non-negative; meaningful only with a bias
  double alpha, gain;
  std::optional<double> clamp;
};

inline void check_same_device_and_dtype(const char* name, const Tensor& t, const Tensor& x) {
  PYGAN_CHECK(t.device() == x.device(), kBiasActOp, ": ", name, " is on ", DeviceName{t.device()},
              " but the input is on ", DeviceName{x.device()});
  PYGAN_CHECK(t.scalar_type() == x.scalar_type(), kBiasActOp, ": ", name, " has dtype ", t.scalar_type(),
              " but the input has dtype ", x.scalar_type());
}

inline BiasActSettings check_bias_act(const Tensor& x, const std::optional<Tensor>& b, int64_t dim,
                                      const std::string& act, double alpha, double gain,
                                      std::optional<double> clamp) {
  BiasActSettings settings{Activation::kLinear, dim, alpha, gain, clamp};
  if (!parse_activation(act.c_str(), &settings.act)) {
    std::string names;
    for (const char* name : kActivationNames) names += (names.empty() ? "" : ", ") + std::string(name);
    fail(kBiasActOp, ": unknown activation '", act, "'; choose one of ", names);
  }
  PYGAN_CHECK(!clamp || (*clamp >= 0 && std::isfinite(*clamp)), kBiasActOp,
              ": clamp must be a finite number >= 0 (or None for no clamp), got ", *clamp);
  if (b) {
    check_same_device_and_dtype("the bias", *b, x);
    PYGAN_CHECK(-x.dim() <= dim && dim < x.dim(), kBiasActOp, ": dim ", dim, " is out of range for a ", x.dim(),
                "-d input");
    settings.dim = dim < 0 ? dim + x.dim() : dim;
    PYGAN_CHECK(b->dim() == 1 && b->size(0) == x.size(settings.dim), kBiasActOp, ": expected a bias of shape [",
                x.size(settings.dim), "] (dimension ", settings.dim, " of the input, shape ", Sizes{x.sizes()},
                "), got ", Sizes{b->sizes()});
  }
  return settings;
}

inline void check_gradient(const Tensor& grad, const Tensor& x, int64_t order) {
  check_same_device_and_dtype("grad", grad, x);
  PYGAN_CHECK(grad.sizes().equals(x.sizes()), kBiasActOp, ": grad has shape ", Sizes{grad.sizes()},
              " but the input has shape ", Sizes{x.sizes()});
  PYGAN_CHECK(order == 1 || order == 2, kBiasActOp, ": the kernels have gradients of order 1 and 2, not ", order);
}

// t in like's layout: t itself if its strides are like's, else a copy.
// The kernels walk their operands in memory order, which like (a dense
// tensor, from empty_like) makes the same for all of them.
inline Tensor in_layout_of(const Tensor& t, const Tensor& like) {
  if (t.strides().equals(like.strides())) return t;
  Tensor copy = torch::stable::empty_like(like);
  torch::stable::copy_(copy, t);
  return copy;
}

// Where the bias index changes along memory: the elements come in runs of
// `run` (the bias dimension's stride), each run's bias index one more than
// the last's, cycling through `count` (its size). A run of 1 (channels
// innermost, or a 2-d input) is the bias vector laid along memory.
struct BiasLayout {
  int64_t run, count;
};

inline BiasLayout bias_layout(const Tensor& out, const BiasActSettings& settings) {
  const int64_t count = out.size(settings.dim);
  // A dimension of size 1 may have any stride: its one bias covers every element.
  return count == 1 ? BiasLayout{out.numel(), 1} : BiasLayout{out.stride(settings.dim), count};
}

// A device's kernels: the forward (order 0) or a gradient (1, 2) into a new
// tensor laid out as x, after the device's own checks.
using BiasActKernel = Tensor (*)(int order, const BiasActSettings& settings, const Tensor& x,
                                 const std::optional<Tensor>& grad, const std::optional<Tensor>& b);

// The ops' entry points over a device's kernels, for STABLE_TORCH_LIBRARY_IMPL.
template <BiasActKernel kRun>
Tensor bias_act_op(const Tensor& x, const std::optional<Tensor>& b, int64_t dim, const std::string& act,
                   double alpha, double gain, std::optional<double> clamp) {
  return kRun(0, check_bias_act(x, b, dim, act, alpha, gain, clamp), x, std::nullopt, b);
}

template <BiasActKernel kRun>
Tensor bias_act_grad_op(const Tensor& grad, const Tensor& x, const std::optional<Tensor>& b, int64_t order,
                        int64_t dim, const std::string& act, double alpha, double gain,
                        std::optional<double> clamp) {
  const BiasActSettings settings = check_bias_act(x, b, dim, act, alpha, gain, clamp);
  check_gradient(grad, x, order);
  return kRun(static_cast<int>(order), settings, x, grad, b);
}

}  // namespace pygan

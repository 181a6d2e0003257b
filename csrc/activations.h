// The element function of pygan::bias_act and of its gradients, one
// definition for the CPU and CUDA kernels: plain C++ with no torch header,
// host and device functions under nvcc (csrc/cuda/bias_act.cu includes it).
//
// With v = x + b, the forward computes y = clamp(gain * act(v)), and the
// gradient of order k >= 1 computes g * gain * act^(k)(v), zero where the
// clamp cut y. The arithmetic follows the reference's order
// (pygan/ops/reference.py, whose torch ops define the values at the kinks:
// relu'(0) = 0, lrelu'(0) = alpha, elu'(0) = 1, selu'(0) = scale * alpha;
// softplus is v beyond 20, as torch's threshold).
#pragma once

#include <cmath>
#include <cstring>
#include <type_traits>

#if defined(__CUDACC__)
#define PYGAN_HOST_DEVICE __host__ __device__ __forceinline__
#else
#define PYGAN_HOST_DEVICE inline
#endif

namespace pygan {

enum class Activation : int { kLinear, kRelu, kLrelu, kTanh, kSigmoid, kElu, kSelu, kSoftplus, kSwish };
constexpr int kActivations = 9;

// The names pygan.ops.bias_act takes, in the enum's order.
constexpr const char* kActivationNames[kActivations] = {"linear", "relu", "lrelu",    "tanh", "sigmoid",
                                                        "elu",    "selu", "softplus", "swish"};

// The activation called `name`; false if there is none.
inline bool parse_activation(const char* name, Activation* act) {
  for (int i = 0; i < kActivations; ++i) {
    if (std::strcmp(name, kActivationNames[i]) == 0) {
      *act = static_cast<Activation>(i);
      return true;
    }
  }
  return false;
}

// Whether the activation's second derivative is zero almost everywhere: the
// gradient's own derivative in x is then zero, and the kernels never need
// the second order.
constexpr bool is_piecewise_linear(Activation act) {
  return act == Activation::kLinear || act == Activation::kRelu || act == Activation::kLrelu;
}

// Calls fn(std::integral_constant<Activation, act>{}): a kernel templated on
// the activation, chosen at run time (host code).
template <typename Fn>
void dispatch_activation(Activation act, const Fn& fn) {
  switch (act) {
    case Activation::kLinear: return fn(std::integral_constant<Activation, Activation::kLinear>{});
    case Activation::kRelu: return fn(std::integral_constant<Activation, Activation::kRelu>{});
    case Activation::kLrelu: return fn(std::integral_constant<Activation, Activation::kLrelu>{});
    case Activation::kTanh: return fn(std::integral_constant<Activation, Activation::kTanh>{});
    case Activation::kSigmoid: return fn(std::integral_constant<Activation, Activation::kSigmoid>{});
    case Activation::kElu: return fn(std::integral_constant<Activation, Activation::kElu>{});
    case Activation::kSelu: return fn(std::integral_constant<Activation, Activation::kSelu>{});
    case Activation::kSoftplus: return fn(std::integral_constant<Activation, Activation::kSoftplus>{});
    case Activation::kSwish: return fn(std::integral_constant<Activation, Activation::kSwish>{});
  }
}

// Calls fn(std::integral_constant<int, order>{}, std::bool_constant<clamp>{})
// for order 0 (the forward), 1 or 2 (gradients), with or without a clamp.
template <typename Fn>
void dispatch_order_and_clamp(int order, bool clamp, const Fn& fn) {
  const auto with_clamp = [&](auto order_constant) {
    return clamp ? fn(order_constant, std::true_type{}) : fn(order_constant, std::false_type{});
  };
  switch (order) {
    case 0: return with_clamp(std::integral_constant<int, 0>{});
    case 1: return with_clamp(std::integral_constant<int, 1>{});
    default: return with_clamp(std::integral_constant<int, 2>{});
  }
}

// SELU's constants (Klambauer et al. 2017), as torch has them.
constexpr double kSeluScale = 1.0507009873554804934193349852946;
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
// torch's softplus is the identity beyond this (beta 1).
constexpr double kSoftplusThreshold = 20;

template <typename T>
PYGAN_HOST_DEVICE T sigmoid(T v) {
  using std::exp;
  return T(1) / (T(1) + exp(-v));
}

// The kOrder-th derivative of the activation at v (kOrder 0: its value).
template <Activation A, int kOrder, typename T>
PYGAN_HOST_DEVICE T activation(T v, T alpha) {
  using std::exp;
  using std::expm1;
  using std::log1p;
  using std::tanh;
  static_assert(kOrder >= 0 && kOrder <= 2, "bias_act's kernels have derivatives up to the second order");
  if constexpr (A == Activation::kLinear) {
    return kOrder == 0 ? v : kOrder == 1 ? T(1) : T(0);
  } else if constexpr (A == Activation::kRelu) {
    // Selects of computed values, which vectorize.
    return kOrder == 0 ? (v > T(0) ? v : T(0)) : kOrder == 1 ? (v > T(0) ? T(1) : T(0)) : T(0);
  } else if constexpr (A == Activation::kLrelu) {
    return kOrder == 0 ? (v > T(0) ? v : v * alpha) : kOrder == 1 ? (v > T(0) ? T(1) : alpha) : T(0);
  } else if constexpr (A == Activation::kTanh) {
    const T t = tanh(v);
    return kOrder == 0 ? t : kOrder == 1 ? T(1) - t * t : T(-2) * t * (T(1) - t * t);
  } else if constexpr (A == Activation::kSigmoid) {
    const T s = sigmoid(v);
    return kOrder == 0 ? s : kOrder == 1 ? s * (T(1) - s) : s * (T(1) - s) * (T(1) - T(2) * s);
  } else if constexpr (A == Activation::kElu) {
    if constexpr (kOrder == 0) return v > T(0) ? v : expm1(v);
    return v > T(0) ? T(kOrder == 1) : exp(v);
  } else if constexpr (A == Activation::kSelu) {
    const T scale = T(kSeluScale), negative = T(kSeluScale * kSeluAlpha);
    if constexpr (kOrder == 0) return v > T(0) ? scale * v : negative * expm1(v);
    return v > T(0) ? (kOrder == 1 ? scale : T(0)) : negative * exp(v);
  } else if constexpr (A == Activation::kSoftplus) {
    if (v > T(kSoftplusThreshold)) return kOrder == 0 ? v : T(kOrder == 1);
    if constexpr (kOrder == 0) return log1p(exp(v));
    const T s = sigmoid(v);
    return kOrder == 1 ? s : s * (T(1) - s);
  } else {  // swish: v * sigmoid(v)
    const T s = sigmoid(v);
    if constexpr (kOrder == 0) return v * s;
    if constexpr (kOrder == 1) return s * (T(1) + v * (T(1) - s));
    return s * (T(1) - s) * (T(2) + v * (T(1) - T(2) * s));
  }
}

// One element of bias_act (kOrder 0) or of its gradient of order kOrder,
// for v = x + b and the incoming gradient g (unused by the forward). Without
// kClamp, `clamp` is ignored.
template <Activation A, int kOrder, bool kClamp, typename T>
PYGAN_HOST_DEVICE T bias_act_element(T v, T g, T alpha, T gain, T clamp) {
  if constexpr (kOrder == 0) {
    const T y = gain * activation<A, 0>(v, alpha);
    // NaN passes through, as with torch.clamp.
    return kClamp ? (y < -clamp ? -clamp : y > clamp ? clamp : y) : y;
  } else {
    const T d = g * gain * activation<A, kOrder>(v, alpha);
    if constexpr (kClamp) {
      // torch.clamp's gradient flows where -clamp <= y <= clamp.
      const T y = gain * activation<A, 0>(v, alpha);
      return (y >= -clamp && y <= clamp) ? d : T(0);
    }
    return d;
  }
}

}  // namespace pygan

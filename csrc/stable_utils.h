// What the CPU and CUDA glue share on top of torch's stable ABI
// (torch/csrc/stable/): errors, printing, and the few tensor helpers the
// stable Tensor lacks. Nothing here touches libtorch's C++ API, so the
// compiled kernels load into any torch from the release CMakeLists.txt
// targets (TORCH_TARGET_VERSION) on.
#pragma once

#include <torch/csrc/stable/device.h>
#include <torch/csrc/stable/ops.h>
#include <torch/csrc/stable/tensor.h>
#include <torch/headeronly/core/MemoryFormat.h>
#include <torch/headeronly/core/ScalarType.h>
#include <torch/headeronly/util/HeaderOnlyArrayRef.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <ostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace pygan {

using torch::headeronly::IntHeaderOnlyArrayRef;
using torch::headeronly::MemoryFormat;
using torch::headeronly::ScalarType;
using torch::stable::Device;
using torch::stable::Tensor;

// Throws the arguments, streamed into one message, as a std::runtime_error,
// which torch raises in Python as a RuntimeError. (STD_TORCH_CHECK would put
// the C++ function, file and line in front of the message.)
template <typename... Args>
[[noreturn]] void fail(const Args&... args) {
  std::ostringstream message;
  (message << ... << args);
  throw std::runtime_error(message.str());
}

#define PYGAN_CHECK(condition, ...)  \
  do {                               \
    if (!(condition)) {              \
      ::pygan::fail(__VA_ARGS__);    \
    }                                \
  } while (false)

// Streams as torch prints sizes and devices: [1, 2, 3], cpu, cuda:0.
struct Sizes {
  IntHeaderOnlyArrayRef values;
};

inline std::ostream& operator<<(std::ostream& out, Sizes sizes) {
  out << "[";
  for (size_t i = 0; i < sizes.values.size(); ++i) out << (i ? ", " : "") << sizes.values[i];
  return out << "]";
}

struct DeviceName {
  Device device;
};

inline std::ostream& operator<<(std::ostream& out, const DeviceName& name) {
  using torch::headeronly::DeviceType;
  switch (name.device.type()) {
    case DeviceType::CPU:
      return out << "cpu";
    case DeviceType::CUDA:
      return name.device.has_index() ? out << "cuda:" << name.device.index() : out << "cuda";
    case DeviceType::Meta:
      return out << "meta";
    default:
      return out << "device type " << static_cast<int>(name.device.type());
  }
}

// Calls fn(T{}) with T the C++ type of dtype, which the caller has checked is
// float32 or float64.
template <typename Fn>
void dispatch_float_types(ScalarType dtype, const Fn& fn) {
  if (dtype == ScalarType::Double) {
    fn(double{});
  } else {
    fn(float{});
  }
}

// A new tensor on t's device, in t's dtype (or `dtype`), laid out in `format`.
inline Tensor empty_like_device(const Tensor& t, IntHeaderOnlyArrayRef sizes,
                                MemoryFormat format = MemoryFormat::Contiguous,
                                std::optional<ScalarType> dtype = std::nullopt) {
  return torch::stable::empty(sizes, dtype.value_or(t.scalar_type()), std::nullopt, t.device(), std::nullopt, format);
}

inline Tensor channels_last(const Tensor& t) { return torch::stable::contiguous(t, MemoryFormat::ChannelsLast); }

// Whether t's elements cover its memory exactly once, in some order of its
// dimensions: at::Tensor::is_non_overlapping_and_dense, which the stable
// Tensor lacks (the same rule: dimensions of size 1 are ignored, the others,
// ordered by stride, must each step over all the dimensions before them).
inline bool is_non_overlapping_and_dense(const Tensor& t) {
  std::vector<std::pair<int64_t, int64_t>> dims;  // (stride, size)
  for (int64_t d = 0; d < t.dim(); ++d) {
    if (t.size(d) != 1) dims.emplace_back(t.stride(d), t.size(d));
  }
  std::sort(dims.begin(), dims.end());
  int64_t expected = 1;
  for (const auto& [stride, size] : dims) {
    if (stride != expected) return false;
    expected *= size;
  }
  return true;
}

}  // namespace pygan

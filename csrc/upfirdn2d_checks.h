// Argument checks and geometry of pygan::upfirdn2d, shared by the CPU and
// CUDA registrations; each adds only its own checks (the device, the dtypes
// it has kernels for, its index ranges).
#pragma once

#include "stable_utils.h"

namespace pygan {

constexpr const char* kUpfirdnOp = "pygan::upfirdn2d";

// One axis: the input's size, the factors, the padding before and after,
// the filter's taps and the output's size.
struct ResampleAxis {
  int64_t size, up, down, pad0, pad1, taps, out;
};

struct ResampleGeometry {
  int64_t batch, channels;
  ResampleAxis x, y;
  // The output is channels-last (NHWC in memory) exactly when x is.
  bool channels_last;
};

// Whether t's memory is NHWC: torch's is_contiguous(channels_last) (dimensions
// of size 1 ignored), and not also NCHW-contiguous, which wins the tie.
inline bool is_channels_last(const Tensor& t) {
  if (t.is_contiguous()) return false;
  int64_t expected = 1;
  for (const int64_t d : {1, 3, 2, 0}) {
    if (t.size(d) == 1) continue;
    if (t.stride(d) != expected) return false;
    expected *= t.size(d);
  }
  return true;
}

inline ResampleAxis check_axis(const char* name, int64_t size, int64_t up, int64_t down, int64_t pad0, int64_t pad1,
                               int64_t taps) {
  PYGAN_CHECK(up >= 1 && down >= 1, kUpfirdnOp, ": up and down must be at least 1, got ", up, " and ", down,
              " along ", name);
  // Every index the kernels compute stays within the upsampled, padded
  // input, so that it fits in int64 is enough.
  int64_t padded = 0;
  const bool overflows = __builtin_mul_overflow(size, up, &padded) || __builtin_add_overflow(padded, pad0, &padded) ||
                         __builtin_add_overflow(padded, pad1, &padded);
  PYGAN_CHECK(!overflows, kUpfirdnOp, ": along ", name, " the upsampled, padded input (", size, " x ", up, " + ",
              pad0, " + ", pad1, ") is larger than 2^63 - 1");
  PYGAN_CHECK(padded >= taps, kUpfirdnOp, ": along ", name, " the upsampled, padded input has ", padded,
              " pixels (", size, " x ", up, " + ", pad0, " + ", pad1, "), fewer than the filter's ", taps, " taps");
  return ResampleAxis{size, up, down, pad0, pad1, taps, (padded - taps) / down + 1};
}

inline ResampleGeometry check_upfirdn2d(const Tensor& x, const Tensor& f, IntHeaderOnlyArrayRef up,
                                        IntHeaderOnlyArrayRef down, IntHeaderOnlyArrayRef padding) {
  PYGAN_CHECK(x.dim() == 4, kUpfirdnOp, ": expected a 4-d input (N, C, H, W), got shape ", Sizes{x.sizes()});
  PYGAN_CHECK(f.dim() == 2 && f.numel() > 0, kUpfirdnOp, ": expected a non-empty 2-d filter, got shape ",
              Sizes{f.sizes()});
  PYGAN_CHECK(f.device() == x.device(), kUpfirdnOp, ": the filter is on ", DeviceName{f.device()},
              " but the input is on ", DeviceName{x.device()});
  PYGAN_CHECK(f.scalar_type() == x.scalar_type(), kUpfirdnOp, ": the filter has dtype ", f.scalar_type(),
              " but the input has dtype ", x.scalar_type());
  PYGAN_CHECK(up.size() == 2 && down.size() == 2, kUpfirdnOp, ": up and down are (x, y) pairs, got ", Sizes{up},
              " and ", Sizes{down});
  PYGAN_CHECK(padding.size() == 4, kUpfirdnOp, ": padding is (x0, x1, y0, y1), got ", Sizes{padding});
  const ResampleGeometry g{x.size(0), x.size(1),
                           check_axis("x", x.size(3), up[0], down[0], padding[0], padding[1], f.size(1)),
                           check_axis("y", x.size(2), up[1], down[1], padding[2], padding[3], f.size(0)),
                           is_channels_last(x)};
  int64_t elements = 0;
  const bool overflows = __builtin_mul_overflow(g.batch, g.channels, &elements) ||
                         __builtin_mul_overflow(elements, g.y.out, &elements) ||
                         __builtin_mul_overflow(elements, g.x.out, &elements);
  PYGAN_CHECK(!overflows, kUpfirdnOp, ": the output (", g.batch, " x ", g.channels, " x ", g.y.out, " x ", g.x.out,
              ") has more than 2^63 - 1 elements");
  return g;
}

// The output, laid out as the kernels write it.
inline Tensor upfirdn2d_output(const Tensor& x, const ResampleGeometry& g) {
  return empty_like_device(x, {g.batch, g.channels, g.y.out, g.x.out},
                           g.channels_last ? MemoryFormat::ChannelsLast : MemoryFormat::Contiguous);
}

}  // namespace pygan

// CPU kernel of pygan::upfirdn2d.
//
// Zeros are never multiplied: along each axis, only the taps that land on an
// input pixel, not on an inserted zero or the padding, are summed (a quarter
// of a 4x4 filter's taps when upsampling by 2).
//
// Along y, each output row lists its taps (AxisTaps). Along x, each filter
// tap reaches an arithmetic progression of output columns, reading an
// arithmetic progression of input columns (TapRuns): an output row is the
// sum, over its rows' taps and each column tap, of a strided multiply-add of
// an input row into it, with no index arithmetic inside the loops.
//
// Every element of those loops is a vector of "lanes", the same pixel of
// several planes, adjacent in memory: in an NHWC (channels-last) input the
// channels are; an NCHW input is transposed, one vector's worth of planes at
// a time, into a scratch block and back. (gemm.h says why GCC vectors.)
//
// Only torch's stable ABI is used (see stable_utils.h); threads come from
// torch's pool (torch::stable::parallel_for).
#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <cstring>
#include <numeric>
#include <vector>

#include "gemm.h"
#include "stable_utils.h"
#include "upfirdn2d_checks.h"

namespace pygan {
namespace {

// The position in the upsampled input that filter tap k of output o reads,
// and whether an input pixel lies there (rather than an inserted zero or
// the padding): its index, or -1.
int64_t input_at(const ResampleAxis& a, int64_t o, int64_t k) {
  const int64_t u = o * a.down + k - a.pad0;
  return u >= 0 && u % a.up == 0 && u / a.up < a.size ? u / a.up : -1;
}

// For each output row o, the filter taps k and input rows i it sums:
// taps[first[o]] to taps[first[o + 1] - 1].
struct AxisTaps {
  struct Tap {
    int64_t k, i;
  };
  std::vector<int64_t> first;
  std::vector<Tap> taps;

  explicit AxisTaps(const ResampleAxis& a) {
    for (int64_t o = 0; o < a.out; ++o) {
      first.push_back(static_cast<int64_t>(taps.size()));
      for (int64_t k = 0; k < a.taps; ++k) {
        if (const int64_t i = input_at(a, o, k); i >= 0) taps.push_back({k, i});
      }
    }
    first.push_back(static_cast<int64_t>(taps.size()));
  }
};

// For each filter tap k along an axis, the outputs it reaches: out0 +
// t * out_step, reading inputs in0 + t * in_step, for t < count. (o * down
// + k - pad0 is a multiple of up for every out_step = up / gcd(up, down)-th
// output o, whose input then steps by in_step = down / gcd(up, down).)
struct TapRuns {
  struct Run {
    int64_t k, out0, in0, count;
  };
  int64_t out_step, in_step;
  std::vector<Run> runs;

  explicit TapRuns(const ResampleAxis& a)
      : out_step(a.up / std::gcd(a.up, a.down)), in_step(a.down / std::gcd(a.up, a.down)) {
    for (int64_t k = 0; k < a.taps; ++k) {
      Run run{k, 0, 0, 0};
      for (int64_t o = 0; o < a.out; ++o) {
        const int64_t i = input_at(a, o, k);
        if (i < 0) continue;
        if (run.count == 0) run.out0 = o, run.in0 = i;
        ++run.count;
      }
      if (run.count > 0) runs.push_back(run);
    }
  }
};

// Where the lanes lie: pixel (y, x)'s first lane at y * row + x * pixel.
struct Plane {
  int64_t row, pixel;
};

// The filter as the sums use it: weights[ky * width + kx] multiplies the tap
// at ky, kx, the filter flipped unless flip_filter (a convolution), times gain.
template <typename T>
std::vector<T> tap_weights(const Tensor& f, bool flip_filter, double gain) {
  const Tensor f_c = torch::stable::contiguous(f);
  const T* src = f_c.const_data_ptr<T>();
  const int64_t count = f.numel();
  std::vector<T> weights(count);
  for (int64_t i = 0; i < count; ++i) weights[i] = static_cast<T>(gain) * src[flip_filter ? i : count - 1 - i];
  return weights;
}

// dst[l] += w * src[l] for l < lanes: vectors, then single lanes.
template <typename T>
inline void multiply_add(T* dst, const T* src, T w, int64_t lanes) {
  using V = typename Simd<T>::vec;
  constexpr int64_t L = Simd<T>::lanes;
  int64_t l = 0;
  for (; l + L <= lanes; l += L) {
    V a, b;
    std::memcpy(&a, dst + l, sizeof(V));
    std::memcpy(&b, src + l, sizeof(V));
    a += w * b;
    std::memcpy(dst + l, &a, sizeof(V));
  }
  for (; l < lanes; ++l) dst[l] += w * src[l];
}

struct Resampling {
  const ResampleGeometry& g;
  AxisTaps ty;
  TapRuns rx;
};

// Output row oy, `lanes` lanes of each pixel, from the input's lanes.
template <typename T>
void resample_row(const Resampling& r, const T* weights, const T* in, Plane in_plane, T* out, Plane out_plane,
                  int64_t lanes, int64_t oy) {
  T* out_row = out + oy * out_plane.row;
  for (int64_t ox = 0; ox < r.g.x.out; ++ox) std::fill_n(out_row + ox * out_plane.pixel, lanes, T(0));
  const int64_t out_step = r.rx.out_step * out_plane.pixel, in_step = r.rx.in_step * in_plane.pixel;
  for (int64_t a = r.ty.first[oy]; a < r.ty.first[oy + 1]; ++a) {
    const T* in_row = in + r.ty.taps[a].i * in_plane.row;
    const T* weight_row = weights + r.ty.taps[a].k * r.g.x.taps;
    for (const TapRuns::Run& run : r.rx.runs) {
      const T w = weight_row[run.k];
      T* dst = out_row + run.out0 * out_plane.pixel;
      const T* src = in_row + run.in0 * in_plane.pixel;
      for (int64_t t = 0; t < run.count; ++t) multiply_add(dst + t * out_step, src + t * in_step, w, lanes);
    }
  }
}

// NHWC: the channels are the lanes; tasks are output rows of each sample.
template <typename T>
void upfirdn2d_nhwc(const Resampling& r, const T* weights, const T* x, T* out) {
  const ResampleGeometry& g = r.g;
  const int64_t C = g.channels;
  const Plane in_plane{g.x.size * C, C}, out_plane{g.x.out * C, C};
  const int64_t rows_per_task = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(out_plane.row, 1));
  torch::stable::parallel_for(0, g.batch * g.y.out, rows_per_task, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.y.out;
      resample_row(r, weights, x + n * g.y.size * in_plane.row, in_plane, out + n * g.y.out * out_plane.row,
                   out_plane, C, row % g.y.out);
    }
  });
}

// NCHW: one vector's worth of planes at a time is transposed into a block
// whose lanes are the planes, resampled there, and transposed back.
template <typename T>
void upfirdn2d_nchw(const Resampling& r, const T* weights, const T* x, T* out) {
  const ResampleGeometry& g = r.g;
  constexpr int64_t L = Simd<T>::lanes;
  const int64_t planes = g.batch * g.channels;
  const int64_t in_pixels = g.y.size * g.x.size, out_pixels = g.y.out * g.x.out;
  const Plane in_plane{g.x.size * L, L}, out_plane{g.x.out * L, L};
  torch::stable::parallel_for(0, (planes + L - 1) / L, 1, [&](int64_t begin, int64_t end) {
    // The lanes of the last block past the last plane stay zero.
    std::vector<T> block_in(in_pixels * L, T(0)), block_out(out_pixels * L);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t first = block * L, lanes = std::min(L, planes - first);
      for (int64_t j = 0; j < lanes; ++j) {
        const T* __restrict src = x + (first + j) * in_pixels;
        for (int64_t p = 0; p < in_pixels; ++p) block_in[p * L + j] = src[p];
      }
      for (int64_t oy = 0; oy < g.y.out; ++oy) {
        resample_row(r, weights, block_in.data(), in_plane, block_out.data(), out_plane, L, oy);
      }
      for (int64_t j = 0; j < lanes; ++j) {
        T* __restrict dst = out + (first + j) * out_pixels;
        for (int64_t p = 0; p < out_pixels; ++p) dst[p] = block_out[p * L + j];
      }
    }
  });
}

Tensor upfirdn2d_cpu(const Tensor& x, const Tensor& f, const std::vector<int64_t>& up,
                     const std::vector<int64_t>& down, const std::vector<int64_t>& padding, bool flip_filter,
                     double gain) {
  PYGAN_CHECK(x.is_cpu(), kUpfirdnOp, ": the input must be on the CPU, got ", DeviceName{x.device()});
  PYGAN_CHECK(x.scalar_type() == ScalarType::Float || x.scalar_type() == ScalarType::Double, kUpfirdnOp,
              ": supports float32 and float64, got ", x.scalar_type());
  const ResampleGeometry g = check_upfirdn2d(x, f, up, down, padding);
  Tensor out = upfirdn2d_output(x, g);
  if (out.numel() == 0) return out;
  const Resampling r{g, AxisTaps(g.y), TapRuns(g.x)};
  const Tensor x_c = g.channels_last ? x : torch::stable::contiguous(x);
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using T = decltype(zero);
    const std::vector<T> weights = tap_weights<T>(f, flip_filter, gain);
    const auto run = g.channels_last ? upfirdn2d_nhwc<T> : upfirdn2d_nchw<T>;
    run(r, weights.data(), x_c.const_data_ptr<T>(), out.mutable_data_ptr<T>());
  });
  return out;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CPU, m) { m.impl("upfirdn2d", TORCH_BOX(&upfirdn2d_cpu)); }

}  // namespace pygan

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
// t * out_step, reading inputs in0 + t * in_step, for t < count (a Run). (o
// * down + k - pad0 is a multiple of up for every out_step = up / gcd(up,
// down)-th output o, whose input then steps by in_step = down / gcd(up,
// down).) Taps whose outputs interleave alike (the same out0 modulo
// out_step) are summed together where all of them reach (a Group), so that
// each output is loaded and stored once per input row rather than once per
// tap; what of a tap's reach lies outside its group's is left as Runs.
struct TapRuns {
  struct Run {
    int64_t k, out0, in0, count;
  };
  struct Group {
    int64_t out0, count;
    std::vector<int64_t> k, in0;  // each tap, and its input at out0
  };
  int64_t out_step, in_step;
  std::vector<Group> groups;
  std::vector<Run> rest;

  explicit TapRuns(const ResampleAxis& a)
      : out_step(a.up / std::gcd(a.up, a.down)), in_step(a.down / std::gcd(a.up, a.down)) {
    std::vector<std::vector<Run>> phases(out_step);
    for (int64_t k = 0; k < a.taps; ++k) {
      Run run{k, 0, 0, 0};
      for (int64_t o = 0; o < a.out; ++o) {
        const int64_t i = input_at(a, o, k);
        if (i < 0) continue;
        if (run.count == 0) run.out0 = o, run.in0 = i;
        ++run.count;
      }
      if (run.count > 0) phases[run.out0 % out_step].push_back(run);
    }
    for (const std::vector<Run>& runs : phases) {
      if (runs.empty()) continue;
      // The outputs every tap of the phase reaches: [first, last], out_step apart.
      int64_t first = runs[0].out0, last = runs[0].out0 + (runs[0].count - 1) * out_step;
      for (const Run& run : runs) {
        first = std::max(first, run.out0);
        last = std::min(last, run.out0 + (run.count - 1) * out_step);
      }
      Group group{first, first <= last ? (last - first) / out_step + 1 : 0, {}, {}};
      for (const Run& run : runs) {
        if (group.count == 0) {
          rest.push_back(run);
          continue;
        }
        const int64_t before = (first - run.out0) / out_step, after = run.count - before - group.count;
        group.k.push_back(run.k);
        group.in0.push_back(run.in0 + before * in_step);
        if (before > 0) rest.push_back({run.k, run.out0, run.in0, before});
        if (after > 0) {
          rest.push_back({run.k, first + group.count * out_step, run.in0 + (before + group.count) * in_step, after});
        }
      }
      if (group.count > 0) groups.push_back(std::move(group));
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

// dst[l] += sum over j < taps of w[j] * src[j][l], for l < lanes: vectors,
// then single lanes.
template <typename T>
inline void multiply_add_taps(T* dst, const T* const* src, const T* w, int64_t taps, int64_t lanes) {
  using V = typename Simd<T>::vec;
  constexpr int64_t L = Simd<T>::lanes;
  int64_t l = 0;
  for (; l + L <= lanes; l += L) {
    V a, b;
    std::memcpy(&a, dst + l, sizeof(V));
    for (int64_t j = 0; j < taps; ++j) {
      std::memcpy(&b, src[j] + l, sizeof(V));
      a += w[j] * b;
    }
    std::memcpy(dst + l, &a, sizeof(V));
  }
  for (; l < lanes; ++l) {
    for (int64_t j = 0; j < taps; ++j) dst[l] += w[j] * src[j][l];
  }
}

struct Resampling {
  const ResampleGeometry& g;
  AxisTaps ty;
  TapRuns rx;
};

// A task's room for one filter row's input pointers and weights, allocated
// once per task rather than once per output row.
template <typename T>
struct RowScratch {
  std::vector<const T*> src;
  std::vector<T> w;
  explicit RowScratch(const Resampling& r) : src(r.g.x.taps), w(r.g.x.taps) {}
};

// Output row oy, `lanes` lanes of each pixel, from the input's lanes.
template <typename T>
void resample_row(const Resampling& r, RowScratch<T>& scratch, const T* weights, const T* in, Plane in_plane,
                  T* out, Plane out_plane, int64_t lanes, int64_t oy) {
  T* out_row = out + oy * out_plane.row;
  for (int64_t ox = 0; ox < r.g.x.out; ++ox) std::fill_n(out_row + ox * out_plane.pixel, lanes, T(0));
  const int64_t out_step = r.rx.out_step * out_plane.pixel, in_step = r.rx.in_step * in_plane.pixel;
  // Where consecutive outputs of a run are adjacent in memory, and so are
  // their inputs (up equals down along x, and the lanes fill each pixel), a
  // run's lanes and pixels are one long vector.
  const bool adjacent = out_step == lanes && in_step == lanes;
  std::vector<const T*>& src = scratch.src;
  std::vector<T>& w = scratch.w;
  for (int64_t a = r.ty.first[oy]; a < r.ty.first[oy + 1]; ++a) {
    const T* in_row = in + r.ty.taps[a].i * in_plane.row;
    const T* weight_row = weights + r.ty.taps[a].k * r.g.x.taps;
    for (const TapRuns::Group& group : r.rx.groups) {
      const int64_t taps = static_cast<int64_t>(group.k.size());
      for (int64_t j = 0; j < taps; ++j) w[j] = weight_row[group.k[j]];
      T* dst = out_row + group.out0 * out_plane.pixel;
      if (adjacent) {  // the whole run is one vector
        for (int64_t j = 0; j < taps; ++j) src[j] = in_row + group.in0[j] * in_plane.pixel;
        multiply_add_taps(dst, src.data(), w.data(), taps, group.count * lanes);
        continue;
      }
      for (int64_t t = 0; t < group.count; ++t) {
        for (int64_t j = 0; j < taps; ++j) src[j] = in_row + group.in0[j] * in_plane.pixel + t * in_step;
        multiply_add_taps(dst + t * out_step, src.data(), w.data(), taps, lanes);
      }
    }
    for (const TapRuns::Run& run : r.rx.rest) {
      const T weight = weight_row[run.k];
      T* dst = out_row + run.out0 * out_plane.pixel;
      const T* src_row = in_row + run.in0 * in_plane.pixel;
      if (adjacent) {
        multiply_add_taps(dst, &src_row, &weight, 1, run.count * lanes);
        continue;
      }
      for (int64_t t = 0; t < run.count; ++t) {
        const T* src_t = src_row + t * in_step;
        multiply_add_taps(dst + t * out_step, &src_t, &weight, 1, lanes);
      }
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
    RowScratch<T> scratch(r);
    for (int64_t row = begin; row < end; ++row) {
      const int64_t n = row / g.y.out;
      resample_row(r, scratch, weights, x + n * g.y.size * in_plane.row, in_plane, out + n * g.y.out * out_plane.row,
                   out_plane, C, row % g.y.out);
    }
  });
}

// NCHW: one vector's worth of planes at a time is transposed into a block
// whose lanes are the planes, resampled there, and transposed back; or,
// where up equals down along x (a filter alone) and rows are long, each
// plane is resampled in place, its rows the vectors. (Measured with the
// [1, 3, 3, 1] filter: in place is 1.2 to 1.4 times faster on rows of 129 and
// 257 pixels, and 2 to 4 times slower on rows of 33 and 17, where the calls
// per row cost more than the transposes.)
constexpr int64_t kDirectWidth = 8;  // vectors

template <typename T>
void upfirdn2d_nchw(const Resampling& r, const T* weights, const T* x, T* out) {
  const ResampleGeometry& g = r.g;
  constexpr int64_t L = Simd<T>::lanes;
  const int64_t planes = g.batch * g.channels;
  const int64_t in_pixels = g.y.size * g.x.size, out_pixels = g.y.out * g.x.out;
  if (r.rx.out_step == 1 && r.rx.in_step == 1 && g.x.out >= kDirectWidth * L) {
    const int64_t planes_per_task = std::max<int64_t>(1, (1 << 14) / std::max<int64_t>(out_pixels, 1));
    torch::stable::parallel_for(0, planes, planes_per_task, [&](int64_t begin, int64_t end) {
      RowScratch<T> scratch(r);
      for (int64_t plane = begin; plane < end; ++plane) {
        for (int64_t oy = 0; oy < g.y.out; ++oy) {
          resample_row(r, scratch, weights, x + plane * in_pixels, Plane{g.x.size, 1}, out + plane * out_pixels,
                       Plane{g.x.out, 1}, 1, oy);
        }
      }
    });
    return;
  }
  const Plane in_plane{g.x.size * L, L}, out_plane{g.x.out * L, L};
  torch::stable::parallel_for(0, (planes + L - 1) / L, 1, [&](int64_t begin, int64_t end) {
    // The lanes of the last block past the last plane stay zero.
    std::vector<T> block_in(in_pixels * L, T(0)), block_out(out_pixels * L);
    RowScratch<T> scratch(r);
    for (int64_t block = begin; block < end; ++block) {
      const int64_t first = block * L, lanes = std::min(L, planes - first);
      for (int64_t j = 0; j < lanes; ++j) {
        const T* __restrict src = x + (first + j) * in_pixels;
        for (int64_t p = 0; p < in_pixels; ++p) block_in[p * L + j] = src[p];
      }
      for (int64_t oy = 0; oy < g.y.out; ++oy) {
        resample_row(r, scratch, weights, block_in.data(), in_plane, block_out.data(), out_plane, L, oy);
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

// The Winograd path of the CPU kernels of pygan::leaky_relu_conv2d and its
// two backward ops: winograd.h's arithmetic, applied to the layers
// winograd_plan accepts, over NHWC data.
//
// 5x5 layers of stride 1 or 2 take Winograd's minimal filtering (winograd.h)
// instead of the patches when they have kWinogradChannels output channels
// and as many input channels, each counted once per phase (below): at
// stride 1, F(4x4, 5x5), 64 products per 4x4 tile of output and pair of
// channels where the patches take 400; at stride 2, F(4x4, 3x3) of the
// input's pixel phases.
//
// A stride-2 layer is the stride-1 convolution of its input's 2x2 pixel
// phases (space to depth): effective pixel (Y, X) holds, as its channels
// (ry * 2 + rx) * C + c, channel c of input pixel (2Y + ry - sy, 2X + rx - sx)
// for the four phases (ry, rx), (sy, sx) being the padding's parity; and the
// 5x5 kernel becomes the 3x3 one whose tap (j, i) of phase (ry, rx) is tap
// (2j + ry, 2i + rx), zero past the kernel. The padding is halved, rounded
// down. F(4x4, 3x3) then takes 36 products per tile and pair of 4C and O
// channels: 144 per pair of the layer's, where the patches take 400 (at the
// image's edges fewer, as they skip the padding).
//
// The transforms cost in proportion to the channels, the products to their
// pairs: with fewer channels the transforms eat the saving. Measured on the
// seed discriminator (forward and backward, batch 128, 2 threads): block 4
// (128 to 256 channels, stride 1) 15 ms against the patches' 28, block 3 (64
// to 128, stride 2) 7.5 against 8.8, block 2 (32 to 64, stride 2) 9.9 against
// 9.0, hence 128.
//
// Each kernel runs in chunks of samples, in three phases, each in parallel:
// the tiles' transforms, the matrix products (one per transformed element,
// with the GEMM of gemm.h), the inverse transforms.
#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <vector>

#include "gemm.h"
#include "leaky_relu_conv2d_cpu.h"
#include "stable_utils.h"
#include "winograd.h"

namespace pygan {
namespace {

constexpr int64_t kWinogradChannels = 128;
// A chunk's transformed tiles take at most this many elements (16 MB in
// float32), which bounds the scratch memory. (Chunks of 1 to 64 MB made no
// difference the noise did not hide to the seed discriminator's pass.)
constexpr int64_t kWinogradChunkElements = 1 << 22;
using winograd::kOutputTile;

}  // namespace

std::optional<WinogradPlan> winograd_plan(const ConvGeometry& g) {
  const int64_t s = g.stride_h;
  if (g.stride_w != s || (s != 1 && s != 2) || g.kernel_h != 5 || g.kernel_w != 5 ||
      s * s * g.channels < kWinogradChannels || g.out_channels < kWinogradChannels) {
    return std::nullopt;
  }
  const int64_t kernel = (5 + s - 1) / s;
  return WinogradPlan{s, kernel, s * s * g.channels, g.pad_top / s, g.pad_left / s, g.pad_top % s, g.pad_left % s};
}

namespace {

// Calls fn(alg) with the winograd::Algorithm of the plan's kernel.
template <typename Fn>
void with_algorithm(const WinogradPlan& p, const Fn& fn) {
  if (p.kernel == 5) {
    fn(winograd::Algorithm<5>{});
  } else {
    fn(winograd::Algorithm<3>{});
  }
}

// The output tiles of a sample and the chunks of samples transformed at once.
struct Tiles {
  int64_t rows, cols, samples_per_chunk;

  Tiles(const ConvGeometry& g, const WinogradPlan& p, int64_t points)
      : rows((g.out_h + kOutputTile - 1) / kOutputTile), cols((g.out_w + kOutputTile - 1) / kOutputTile) {
    const int64_t per_sample = points * rows * cols * (p.channels + g.out_channels);
    samples_per_chunk = std::clamp<int64_t>(kWinogradChunkElements / std::max<int64_t>(per_sample, 1), 1,
                                            std::max<int64_t>(g.batch, 1));
  }
  int64_t per_sample() const { return rows * cols; }
  int64_t chunk_tiles() const { return samples_per_chunk * per_sample(); }

  // Calls fn(n0, n1, count) for each chunk: samples [n0, n1), count tiles.
  template <typename Fn>
  void for_each_chunk(const ConvGeometry& g, const Fn& fn) const {
    for (int64_t n0 = 0; n0 < g.batch; n0 += samples_per_chunk) {
      const int64_t n1 = std::min(n0 + samples_per_chunk, g.batch);
      fn(n0, n1, (n1 - n0) * per_sample());
    }
  }
};

// Calls fn(index, pixel) for each pixel and phase of a size x size tile of
// an image of phases: tile pixel (y, x) is image pixel (top + y, left + x),
// whose phase (ry, rx) is pixel (row * stride + ry - shift_h, column * stride
// + rx - shift_w) of the height x width image; pixel is that one's index, or
// -1 outside the image, and index = ((y * size + x) * stride + ry) * stride + rx.
// Stride 1 is the image itself.
template <typename Fn>
void for_each_tile_pixel(int64_t height, int64_t width, int64_t stride, int64_t shift_h, int64_t shift_w,
                         int64_t top, int64_t left, int64_t size, const Fn& fn) {
  int64_t index = 0;
  for (int64_t y = 0; y < size; ++y) {
    for (int64_t x = 0; x < size; ++x) {
      for (int64_t ry = 0; ry < stride; ++ry) {
        const int64_t h = (top + y) * stride + ry - shift_h;
        for (int64_t rx = 0; rx < stride; ++rx, ++index) {
          const int64_t w = (left + x) * stride + rx - shift_w;
          fn(index, h >= 0 && h < height && w >= 0 && w < width ? h * width + w : -1);
        }
      }
    }
  }
}

// Calls fn(p, n, top, left) for the tiles [first, end) of the chunk starting
// at sample n0: p the tile's index in the chunk, n its sample, (top, left)
// its first output pixel.
template <typename Fn>
void for_each_tile(const Tiles& t, int64_t n0, int64_t first, int64_t end, const Fn& fn) {
  for (int64_t p = first; p < end; ++p) {
    const int64_t tile = p % t.per_sample();
    fn(p, n0 + p / t.per_sample(), tile / t.cols * kOutputTile, tile % t.cols * kOutputTile);
  }
}

// The weight and its transform u are converted into each other in blocks of
// kWeightBlock effective filters (c', o) with consecutive o (by_output:
// consecutive c'), one vector of u, their taps gathered as
// [kernel * kernel][kWeightBlock].
constexpr int64_t kWeightBlock = 64;

// Offsets of the effective 3x3 (or 5x5) kernel's taps of each phase into a
// 5x5 filter: -1 past it.
std::vector<int64_t> tap_offsets(const ConvGeometry& g, const WinogradPlan& p) {
  std::vector<int64_t> offsets;
  for (int64_t phase = 0; phase < p.stride * p.stride; ++phase) {
    for (int64_t j = 0; j < p.kernel; ++j) {
      for (int64_t i = 0; i < p.kernel; ++i) {
        const int64_t ky = j * p.stride + phase / p.stride, kx = i * p.stride + phase % p.stride;
        offsets.push_back(ky < g.kernel_h && kx < g.kernel_w ? ky * g.kernel_w + kx : -1);
      }
    }
  }
  return offsets;
}

// Calls fn(r, j0, count) for each block of count effective filters: for
// (c' = r, o = j0 + j) (by_output: (c' = j0 + j, o = r)), j < count, in parallel.
template <typename Fn>
void for_each_weight_block(const ConvGeometry& g, const WinogradPlan& p, bool by_output, const Fn& fn) {
  const int64_t inner = by_output ? p.channels : g.out_channels, outer = by_output ? g.out_channels : p.channels;
  const int64_t blocks = (inner + kWeightBlock - 1) / kWeightBlock;
  torch::stable::parallel_for(0, outer * blocks, 4, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t j0 = b % blocks * kWeightBlock;
      fn(b / blocks, j0, std::min(kWeightBlock, inner - j0));
    }
  });
}

// Calls fn(j, filter, taps) for the block's filters: filter is the index of
// filter j's 5x5 taps in the layer's weight, taps its phase's offsets.
template <typename Fn>
void for_each_block_filter(const ConvGeometry& g, const WinogradPlan& p, const std::vector<int64_t>& offsets,
                           bool by_output, int64_t r, int64_t j0, int64_t count, const Fn& fn) {
  const int64_t taps = g.kernel_h * g.kernel_w, kernel_taps = p.kernel * p.kernel;
  for (int64_t j = 0; j < count; ++j) {
    const int64_t c_eff = by_output ? j0 + j : r, o = by_output ? r : j0 + j;
    const int64_t phase = c_eff / g.channels, c = c_eff % g.channels;
    fn(j, (o * g.channels + c) * taps, offsets.data() + phase * kernel_taps);
  }
}

// u[f][c'][o] (u[f][o][c'] when by_output: the input gradient multiplies by
// its transpose) = G w' G^T, w' the effective kernel.
template <typename Alg, typename scalar_t>
void transform_weight(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* weight, bool by_output,
                      scalar_t* u) {
  constexpr int64_t K = Alg::kernel, T = Alg::input_tile;
  const int64_t pairs = p.channels * g.out_channels;
  const std::vector<int64_t> offsets = tap_offsets(g, p);
  for_each_weight_block(g, p, by_output, [&](int64_t r, int64_t j0, int64_t count) {
    scalar_t block[K * K * kWeightBlock];
    for_each_block_filter(g, p, offsets, by_output, r, j0, count, [&](int64_t j, int64_t filter, const int64_t* taps) {
      for (int64_t t = 0; t < K * K; ++t) block[t * kWeightBlock + j] = taps[t] < 0 ? 0 : weight[filter + taps[t]];
    });
    const int64_t inner = by_output ? p.channels : g.out_channels;
    winograd::transform<Alg::G>(block, K * kWeightBlock, kWeightBlock, u + r * inner + j0, T * pairs, pairs, count);
  });
}

// v[f][p][c']: the chunk's activated input tiles, transformed (BT d B).
template <typename Alg, typename scalar_t>
void transform_input_tiles(const ConvGeometry& g, const WinogradPlan& p, const Tiles& t, const scalar_t* x,
                           scalar_t slope, int64_t n0, int64_t count, scalar_t* v) {
  constexpr int64_t T = Alg::input_tile;
  const int64_t C = g.channels, channels = p.channels;
  torch::stable::parallel_for(0, count, 1, [&](int64_t first, int64_t end) {
    std::vector<scalar_t> tile(T * T * channels);
    for_each_tile(t, n0, first, end, [&](int64_t tile_index, int64_t n, int64_t top, int64_t left) {
      const scalar_t* sample = x + n * g.height * g.width * C;
      for_each_tile_pixel(g.height, g.width, p.stride, p.shift_h, p.shift_w, top - p.pad_top, left - p.pad_left, T,
                          [&](int64_t index, int64_t pixel) {
                            scalar_t* dst = tile.data() + index * C;
                            if (pixel < 0) {
                              std::fill_n(dst, C, scalar_t(0));
                            } else {
                              leaky_relu(sample + pixel * C, dst, C, slope);
                            }
                          });
      winograd::transform<Alg::BT>(tile.data(), T * channels, channels, v + tile_index * channels,
                                   T * count * channels, count * channels, channels);
    });
  });
}

// dm[f][p][o]: the chunk's output-gradient tiles, transformed (A dY AT).
template <typename Alg, typename scalar_t>
void transform_grad_tiles(const ConvGeometry& g, const Tiles& t, const scalar_t* grad, int64_t n0, int64_t count,
                          scalar_t* dm) {
  constexpr int64_t T = Alg::input_tile;
  const int64_t O = g.out_channels;
  torch::stable::parallel_for(0, count, 1, [&](int64_t first, int64_t end) {
    std::vector<scalar_t> tile(kOutputTile * kOutputTile * O);
    for_each_tile(t, n0, first, end, [&](int64_t p, int64_t n, int64_t top, int64_t left) {
      const scalar_t* sample = grad + n * g.out_h * g.out_w * O;
      for_each_tile_pixel(g.out_h, g.out_w, 1, 0, 0, top, left, kOutputTile, [&](int64_t index, int64_t pixel) {
        scalar_t* dst = tile.data() + index * O;
        if (pixel < 0) {
          std::fill_n(dst, O, scalar_t(0));
        } else {
          std::copy_n(sample + pixel * O, O, dst);
        }
      });
      winograd::transform<Alg::A>(tile.data(), kOutputTile * O, O, dm + p * O, T * count * O, count * O, O);
    });
  });
}

// The Winograd path's scratch (the transformed weights and a chunk's
// transformed tiles, 20 MiB for the seed discriminator's block 4 at batch
// 128): kept between calls, one per calling thread, grown to the largest
// call's, up to kKeptScratchBytes; a larger call's is its own, freed after
// it. Allocated afresh each call, like the patches' scratch, the buffers
// went back to the system when freed and came back page by page: the seed
// discriminator's pass took 70.6 and 63.2 ms of CPU time at one thread with
// it kept, 73.6 and 77.2 without (benchmarks/compare_plain.py, alternated).
// It is 2 MiB-aligned and asks Linux for huge pages (the machines here
// grant them on request only): the 64 matrix products read planes 1 MiB
// apart, which 4 KiB pages made a TLB miss each; the pass went from 1.37x
// plain PyTorch's to 1.48-1.60x (2 threads, compare_plain.py, builds
// alternated). torch's memory profiler does not see it.
constexpr size_t kKeptScratchBytes = size_t{64} << 20;
constexpr size_t kHugePage = size_t{2} << 20;

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Buffer = std::unique_ptr<void, FreeDeleter>;

// bytes (a multiple of kHugePage) on huge-page boundaries, huge pages asked for.
Buffer huge_page_buffer(size_t bytes) {
  Buffer buffer(std::aligned_alloc(kHugePage, bytes));
  if (!buffer) throw std::bad_alloc();
#ifdef MADV_HUGEPAGE
  madvise(buffer.get(), bytes, MADV_HUGEPAGE);  // a hint: without huge pages it still works
#endif
  return buffer;
}

// One call's scratch: the transformed weights (or their gradient),
// points x C' x O, and a chunk's transformed tiles of the input side,
// points x tiles x C', and of the output side, points x tiles x O.
template <typename scalar_t>
class WinogradScratch {
 public:
  WinogradScratch(const ConvGeometry& g, const WinogradPlan& p, const Tiles& t, int64_t points) {
    const int64_t weights = points * p.channels * g.out_channels, inputs = points * t.chunk_tiles() * p.channels;
    allocate(weights + inputs + points * t.chunk_tiles() * g.out_channels);
    inputs_ = weights_ + weights;
    outputs_ = inputs_ + inputs;
  }
  scalar_t* weights() const { return weights_; }
  scalar_t* inputs() const { return inputs_; }
  scalar_t* outputs() const { return outputs_; }

 private:
  void allocate(int64_t elements) {
    thread_local Buffer kept;
    thread_local size_t kept_bytes = 0;
    const size_t bytes =
        std::max<size_t>((static_cast<size_t>(elements) * sizeof(scalar_t) + kHugePage - 1) / kHugePage, 1) *
        kHugePage;
    if (bytes > kKeptScratchBytes) {
      own_ = huge_page_buffer(bytes);
      weights_ = static_cast<scalar_t*>(own_.get());
      return;
    }
    if (kept_bytes < bytes) {
      kept.reset();  // before the new one: the two need not be held at once
      kept_bytes = 0;
      kept = huge_page_buffer(bytes);
      kept_bytes = bytes;
    }
    weights_ = static_cast<scalar_t*>(kept.get());
  }

  Buffer own_;
  scalar_t *weights_, *inputs_, *outputs_;
};

// c[f] = a[f] * b[f] (+ c[f] when accumulate) for the points transformed
// elements f, in parallel; a[f] is rows x depth (read transposed when
// transpose_a: then stored depth x rows), b[f] depth x cols, c[f] rows x cols.
template <typename scalar_t>
void multiply_points(int64_t points, int64_t rows, int64_t cols, int64_t depth, const scalar_t* a, bool transpose_a,
                     const scalar_t* b, scalar_t* c, bool accumulate) {
  torch::stable::parallel_for(0, points, 1, [&](int64_t begin, int64_t end) {
    for (int64_t f = begin; f < end; ++f) {
      const Operand<scalar_t> a_f{a + f * rows * depth, transpose_a ? 1 : depth, transpose_a ? rows : 1};
      gemm<scalar_t>(rows, cols, depth, a_f, b + f * depth * cols, cols, c + f * rows * cols, cols, accumulate);
    }
  });
}

template <typename Alg, typename scalar_t>
void forward_with(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* x, const scalar_t* weight,
                  const scalar_t* bias, scalar_t slope, scalar_t* out) {
  constexpr int64_t T = Alg::input_tile, points = T * T;
  const int64_t channels = p.channels, O = g.out_channels;
  const Tiles t(g, p, points);
  const WinogradScratch<scalar_t> scratch(g, p, t, points);
  scalar_t *u = scratch.weights(), *v = scratch.inputs(), *m = scratch.outputs();
  transform_weight<Alg>(g, p, weight, false, u);
  t.for_each_chunk(g, [&](int64_t n0, int64_t, int64_t count) {
    transform_input_tiles<Alg>(g, p, t, x, slope, n0, count, v);
    multiply_points(points, count, O, channels, v, false, u, m, false);
    // Y = AT M A, plus the bias, where the tile is inside the output.
    torch::stable::parallel_for(0, count, 1, [&](int64_t first, int64_t end) {
      std::vector<scalar_t> tile(kOutputTile * kOutputTile * O);
      for_each_tile(t, n0, first, end, [&](int64_t tile_index, int64_t n, int64_t top, int64_t left) {
        winograd::transform<Alg::AT>(m + tile_index * O, T * count * O, count * O, tile.data(), kOutputTile * O, O, O);
        scalar_t* sample = out + n * g.out_h * g.out_w * O;
        for_each_tile_pixel(g.out_h, g.out_w, 1, 0, 0, top, left, kOutputTile, [&](int64_t index, int64_t pixel) {
          if (pixel < 0) return;
          const scalar_t* __restrict src = tile.data() + index * O;
          scalar_t* __restrict dst = sample + pixel * O;
          for (int64_t o = 0; o < O; ++o) dst[o] = src[o] + bias[o];
        });
      });
    });
  });
}

// grad_x before the activation's derivative: the tiles' input gradients
// B [dM U^T] BT, added where they overlap.
template <typename Alg, typename scalar_t>
void backward_input_with(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad, const scalar_t* weight,
                         scalar_t* gx) {
  constexpr int64_t T = Alg::input_tile, points = T * T;
  const int64_t C = g.channels, channels = p.channels, O = g.out_channels, sample = g.height * g.width * C;
  const Tiles t(g, p, points);
  const WinogradScratch<scalar_t> scratch(g, p, t, points);
  scalar_t *u = scratch.weights(), *dv = scratch.inputs(), *dm = scratch.outputs();
  transform_weight<Alg>(g, p, weight, true, u);
  t.for_each_chunk(g, [&](int64_t n0, int64_t n1, int64_t count) {
    transform_grad_tiles<Alg>(g, t, grad, n0, count, dm);
    multiply_points(points, count, channels, O, dm, false, u, dv, false);
    // In parallel over samples: neighbouring tiles of a sample overlap.
    torch::stable::parallel_for(n0, n1, 1, [&](int64_t first, int64_t end) {
      std::fill(gx + first * sample, gx + end * sample, scalar_t(0));
      std::vector<scalar_t> tile(T * T * channels);
      for_each_tile(t, n0, (first - n0) * t.per_sample(), (end - n0) * t.per_sample(),
                    [&](int64_t tile_index, int64_t n, int64_t top, int64_t left) {
                      winograd::transform<Alg::B>(dv + tile_index * channels, T * count * channels, count * channels,
                                                  tile.data(), T * channels, channels, channels);
                      for_each_tile_pixel(g.height, g.width, p.stride, p.shift_h, p.shift_w, top - p.pad_top,
                                          left - p.pad_left, T, [&](int64_t index, int64_t pixel) {
                                            if (pixel < 0) return;
                                            const scalar_t* __restrict src = tile.data() + index * C;
                                            scalar_t* __restrict dst = gx + n * sample + pixel * C;
                                            for (int64_t c = 0; c < C; ++c) dst[c] += src[c];
                                          });
                    });
    });
  });
}

// The weight gradient [O, C, 5, 5]: G^T [V^T dM] G, V^T dM summed over the
// batch's tiles, each effective tap written to the layer's tap under it.
template <typename Alg, typename scalar_t>
void backward_weight_with(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad, const scalar_t* x,
                          scalar_t slope, scalar_t* grad_weight) {
  constexpr int64_t K = Alg::kernel, T = Alg::input_tile, points = T * T;
  const int64_t channels = p.channels, O = g.out_channels, pairs = channels * O;
  const Tiles t(g, p, points);
  const WinogradScratch<scalar_t> scratch(g, p, t, points);
  scalar_t *du = scratch.weights(), *v = scratch.inputs(), *dm = scratch.outputs();
  if (g.batch == 0) std::fill_n(du, points * pairs, scalar_t(0));
  t.for_each_chunk(g, [&](int64_t n0, int64_t, int64_t count) {
    transform_input_tiles<Alg>(g, p, t, x, slope, n0, count, v);
    transform_grad_tiles<Alg>(g, t, grad, n0, count, dm);
    multiply_points(points, channels, O, count, v, true, dm, du, n0 > 0);
  });
  const std::vector<int64_t> offsets = tap_offsets(g, p);
  for_each_weight_block(g, p, false, [&](int64_t r, int64_t j0, int64_t count) {
    scalar_t block[K * K * kWeightBlock];
    winograd::transform<Alg::GT>(du + r * O + j0, T * pairs, pairs, block, K * kWeightBlock, kWeightBlock, count);
    for_each_block_filter(g, p, offsets, false, r, j0, count, [&](int64_t j, int64_t filter, const int64_t* taps) {
      for (int64_t tap = 0; tap < K * K; ++tap) {
        if (taps[tap] >= 0) grad_weight[filter + taps[tap]] = block[tap * kWeightBlock + j];
      }
    });
  });
}

}  // namespace

template <typename scalar_t>
void winograd_forward(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* x, const scalar_t* weight,
                      const scalar_t* bias, scalar_t slope, scalar_t* out) {
  with_algorithm(p, [&](auto alg) { forward_with<decltype(alg)>(g, p, x, weight, bias, slope, out); });
}

template <typename scalar_t>
void winograd_backward_input(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad,
                             const scalar_t* weight, scalar_t* gx) {
  with_algorithm(p, [&](auto alg) { backward_input_with<decltype(alg)>(g, p, grad, weight, gx); });
}

template <typename scalar_t>
void winograd_backward_weight(const ConvGeometry& g, const WinogradPlan& p, const scalar_t* grad, const scalar_t* x,
                              scalar_t slope, scalar_t* grad_weight) {
  with_algorithm(p, [&](auto alg) { backward_weight_with<decltype(alg)>(g, p, grad, x, slope, grad_weight); });
}

// The CPU kernels take float32 and float64.
#define PYGAN_WINOGRAD_INSTANTIATE(scalar_t)                                                                          \
  template void winograd_forward(const ConvGeometry&, const WinogradPlan&, const scalar_t*, const scalar_t*,       \
                                 const scalar_t*, scalar_t, scalar_t*);                                              \
  template void winograd_backward_input(const ConvGeometry&, const WinogradPlan&, const scalar_t*, const scalar_t*, \
                                        scalar_t*);                                                                  \
  template void winograd_backward_weight(const ConvGeometry&, const WinogradPlan&, const scalar_t*, const scalar_t*,\
                                         scalar_t, scalar_t*);
PYGAN_WINOGRAD_INSTANTIATE(float)
PYGAN_WINOGRAD_INSTANTIATE(double)

}  // namespace pygan

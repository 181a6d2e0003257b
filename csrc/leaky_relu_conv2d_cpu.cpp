// CPU kernels of pygan::leaky_relu_conv2d and its two backward ops.
//
// All three work in NHWC ("channels-last") layout. There, a convolution is a
// GEMM between the matrix of input patches ("rows": one row per output pixel,
// channels innermost) and the weight as a [O, KH*KW*C] matrix, and the
// product is the output in NHWC already: no transposes on either side.
//
// Zero padding is never multiplied: output pixels are grouped into regions
// whose patches hit the same kernel taps inside the image (the interior, each
// border, each corner), and a region's rows hold only those taps. On the
// discriminator's small images that skips up to half of the products. Within a
// row, each kernel row (kh) of the region's taps is one contiguous segment of
// the NHWC input, and the matching weight rows are contiguous too, so each
// segment is one GEMM call on views, with no copy of the weight.
//
// The activation is applied while the patches are copied (forward, weight
// gradient), and its derivative applied to the summed patch gradients
// (input gradient), so the activated input is never a whole tensor.
//
// Layers with few input channels (patches of at most kDirectPatch taps) skip
// both the regions and the patch copies: see for_each_padded_sample.
//
// The batch is cut into one contiguous part per thread (torch's parallel_for);
// each part walks the regions in chunks of samples sized for the caches, and
// multiplies with the single-threaded GEMM of gemm.h.
//
// 5x5 layers of stride 1 and 2 with many channels take Winograd's algorithm
// instead, which needs up to 6 times fewer products: see
// leaky_relu_conv2d_winograd_cpu.cpp.
//
// Only torch's stable ABI is used (see stable_utils.h): tensors are
// torch::stable::Tensor, and threads come from torch::stable::parallel_for,
// which runs on torch's own thread pool (torch.set_num_threads governs it).
#include <torch/csrc/stable/library.h>

#include <algorithm>
#include <tuple>
#include <vector>

#include "gemm.h"
#include "leaky_relu_conv2d_checks.h"
#include "leaky_relu_conv2d_cpu.h"
#include "stable_utils.h"

namespace pygan {
namespace {

// A chunk of patch rows is at least kChunkRows rows, for the register tiles
// to reach full speed, and grows to kChunkElements elements when its rows are
// short (few channels), so that the GEMM calls stay few and deep; either way
// it stays within a core's L2 cache.
constexpr int64_t kChunkRows = 192;
constexpr int64_t kChunkElements = 128 * 1024;
// Elements per thread when the parts' weight gradients are summed.
constexpr int64_t kSumGrain = 1 << 14;

using Geometry = ConvGeometry;

struct Range {
  int64_t begin, end;
  int64_t size() const { return end - begin; }
  bool operator==(const Range& other) const { return begin == other.begin && end == other.end; }
};

// Consecutive output positions along one axis whose patches see the same
// kernel taps inside the image.
struct AxisRegion {
  Range outputs, taps;
};

std::vector<AxisRegion> axis_regions(int64_t size, int64_t out, int64_t stride, int64_t pad, int64_t kernel) {
  std::vector<AxisRegion> regions;
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * stride - pad;
    const int64_t first_tap = std::clamp<int64_t>(-start, 0, kernel);
    const Range taps{first_tap, std::clamp<int64_t>(size - start, first_tap, kernel)};
    if (!regions.empty() && regions.back().taps == taps) {
      regions.back().outputs.end = o + 1;
    } else {
      regions.push_back({{o, o + 1}, taps});
    }
  }
  return regions;
}

struct Region {
  AxisRegion h, w;
  int64_t channels;

  int64_t pixels() const { return h.outputs.size() * w.outputs.size(); }
  int64_t segment() const { return w.taps.size() * channels; }  // one kernel row's taps
  int64_t depth() const { return h.taps.size() * segment(); }    // row length
};

std::vector<Region> regions(const Geometry& g) {
  std::vector<Region> result;
  for (const AxisRegion& h : axis_regions(g.height, g.out_h, g.stride_h, g.pad_top, g.kernel_h)) {
    for (const AxisRegion& w : axis_regions(g.width, g.out_w, g.stride_w, g.pad_left, g.kernel_w)) {
      result.push_back({h, w, g.channels});
    }
  }
  return result;
}

// Calls fn(row, output_pixel, input_offset) for every row of region r in
// samples [first, end), in row order. output_pixel indexes the [N*OH*OW]
// output pixels; input_offset is the NHWC element offset of the row's first
// tap, and kernel row i of the taps starts i * width * channels after it.
template <typename Fn>
void for_each_row(const Geometry& g, const Region& r, int64_t first, int64_t end, const Fn& fn) {
  int64_t row = 0;
  for (int64_t n = first; n < end; ++n) {
    for (int64_t oh = r.h.outputs.begin; oh < r.h.outputs.end; ++oh) {
      const int64_t ih = oh * g.stride_h - g.pad_top + r.h.taps.begin;
      for (int64_t ow = r.w.outputs.begin; ow < r.w.outputs.end; ++ow, ++row) {
        const int64_t iw = ow * g.stride_w - g.pad_left + r.w.taps.begin;
        fn(row, (n * g.out_h + oh) * g.out_w + ow, ((n * g.height + ih) * g.width + iw) * g.channels);
      }
    }
  }
}

// The CPU's own checks; check_geometry does the rest.
Geometry make_geometry(const Tensor& x, IntHeaderOnlyArrayRef weight_size, IntHeaderOnlyArrayRef stride,
                       IntHeaderOnlyArrayRef padding) {
  PYGAN_CHECK(x.is_cpu(), kConvOp, ": the input must be on the CPU, got ", DeviceName{x.device()});
  PYGAN_CHECK(x.scalar_type() == ScalarType::Float || x.scalar_type() == ScalarType::Double, kConvOp,
              ": supports float32 and float64, got ", x.scalar_type());
  return check_geometry(x, weight_size, stride, padding);
}

// Calls fn(i, t, c, o) for every weight element, i its index in the
// [O, C, KH, KW] weight, t its kernel tap (kh * KW + kw), c and o its input
// and output channel, in blocks of kBlock output by kBlock input channels,
// whose kernel taps all fit in L1: copies between the weight and the
// tap-major layouts the GEMMs use ([KH*KW*C, O] and the like) then read and
// write whole cache lines. (torch's permute().contiguous() spent about a
// sixth of block 4's forward and a fifth of its weight gradient.)
template <typename Fn>
void for_each_weight_element(const Geometry& g, const Fn& fn) {
  constexpr int64_t kBlock = 16;
  const int64_t C = g.channels, O = g.out_channels, taps = g.kernel_h * g.kernel_w;
  torch::stable::parallel_for(0, O, kBlock, [&](int64_t o_begin, int64_t o_end) {
    for (int64_t o0 = o_begin; o0 < o_end; o0 += kBlock) {
      for (int64_t c0 = 0; c0 < C; c0 += kBlock) {
        for (int64_t t = 0; t < taps; ++t) {
          for (int64_t c = c0; c < std::min(c0 + kBlock, C); ++c) {
            for (int64_t o = o0; o < std::min(o0 + kBlock, o_end); ++o) fn((o * C + c) * taps + t, t, c, o);
          }
        }
      }
    }
  });
}

// Offset of the first weight column (or Wt row) of region r's kernel row i.
int64_t weight_offset(const Geometry& g, const Region& r, int64_t i) {
  return ((r.h.taps.begin + i) * g.kernel_w + r.w.taps.begin) * g.channels;
}

// Kernel rows of region r that one GEMM call takes: all of them when the
// region has every column tap, since its kernel rows are then adjacent in both
// the patch rows and the weight matrix; otherwise one at a time.
int64_t kernel_rows_per_gemm(const Geometry& g, const Region& r) {
  return r.w.taps.size() == g.kernel_w ? std::max<int64_t>(r.h.taps.size(), 1) : 1;
}

int64_t num_parts(const Geometry& g) {
  return std::min<int64_t>(g.batch, torch::stable::get_num_threads());
}

// Calls body(part, first, end) for each part of the batch, in parallel.
template <typename Body>
void for_each_part(const Geometry& g, int64_t parts, const Body& body) {
  torch::stable::parallel_for(0, parts, 1, [&](int64_t first_part, int64_t end_part) {
    for (int64_t part = first_part; part < end_part; ++part) {
      body(part, g.batch * part / parts, g.batch * (part + 1) / parts);
    }
  });
}

// Samples per chunk of region r: at least one, at most a part.
int64_t chunk_samples(const Geometry& g, const Region& r, int64_t parts) {
  const int64_t part_samples = std::max<int64_t>(1, (g.batch + parts - 1) / std::max<int64_t>(parts, 1));
  const int64_t wanted =
      std::max(kChunkRows / r.pixels(), kChunkElements / std::max<int64_t>(r.pixels() * r.depth(), 1));
  return std::clamp<int64_t>(wanted, 1, part_samples);
}

// Calls body(region, first, end) for the chunks of samples [first, end) of every region.
template <typename Body>
void for_each_chunk(const Geometry& g, int64_t parts, int64_t first, int64_t end, const Body& body) {
  for (const Region& r : regions(g)) {
    const int64_t samples = chunk_samples(g, r, parts);
    for (int64_t n = first; n < end; n += samples) body(r, n, std::min(n + samples, end));
  }
}

// Scratch of every part, allocated by the calling thread so that memory
// profilers see it: per part, room for the largest chunk's patch rows and
// for its output-pixel rows.
struct ScratchSize {
  int64_t rows = 0, pixels = 0;
};

ScratchSize scratch_size(const Geometry& g, int64_t parts) {
  ScratchSize size;
  for (const Region& r : regions(g)) {
    const int64_t rows = chunk_samples(g, r, parts) * r.pixels();
    size.rows = std::max(size.rows, rows * r.depth());
    size.pixels = std::max(size.pixels, rows * g.out_channels);
  }
  return size;
}

Tensor scratch_buffer(const ScratchSize& size, int64_t parts, const Tensor& like) {
  return empty_like_device(like, {parts, size.rows + size.pixels});
}

template <typename scalar_t>
struct Scratch {
  scalar_t* rows;
  scalar_t* pixels;
  Scratch(const Tensor& buffer, int64_t part, const ScratchSize& size)
      : rows(buffer.mutable_data_ptr<scalar_t>() + part * buffer.size(1)), pixels(rows + size.rows) {}
};

// Copies the rows of region r, samples [first, end), of an [N*OH*OW, O] matrix.
template <typename scalar_t>
void gather_pixels(const Geometry& g, const Region& r, int64_t first, int64_t end, const scalar_t* src,
                   scalar_t* dst) {
  const int64_t O = g.out_channels;
  for_each_row(g, r, first, end, [&](int64_t row, int64_t pixel, int64_t) {
    for (int64_t o = 0; o < O; ++o) dst[row * O + o] = src[pixel * O + o];
  });
}

// Copies leaky_relu(x) patches of region r, samples [first, end), into rows.
template <typename scalar_t>
void im2row_leaky_relu(const Geometry& g, const Region& r, int64_t first, int64_t end, const scalar_t* x,
                       scalar_t* rows, scalar_t slope) {
  for_each_row(g, r, first, end, [&](int64_t row, int64_t, int64_t offset) {
    for (int64_t i = 0; i < r.h.taps.size(); ++i) {
      leaky_relu(x + offset + i * g.width * g.channels, rows + row * r.depth() + i * r.segment(), r.segment(), slope);
    }
  });
}

// Layers with few input channels (the discriminator's first reads 1-channel
// images) have patches of a few dozen taps. There, the region split would cut
// the GEMMs to a few taps deep, and copying patches out costs as much as
// multiplying them. Instead each sample is activated once into a zero-padded
// copy, and the GEMM reads the patches from it in place (a Gather operand),
// whole: the few padding taps cost less than the split would.
constexpr int64_t kDirectPatch = 64;

bool direct(const Geometry& g) { return g.patch() <= kDirectPatch; }

// The padded copy of one sample (NHWC, only the rows and columns some patch
// reads) and the offset tables of its patch matrix: pixels[p] is output pixel
// p's first tap, taps[k] the offset of tap k (kh, kw, c order, as the weight
// matrix's columns) from it.
struct Padded {
  int64_t height, width;
  std::vector<int64_t> pixels, taps;

  explicit Padded(const Geometry& g)
      : height((g.out_h - 1) * g.stride_h + g.kernel_h), width((g.out_w - 1) * g.stride_w + g.kernel_w) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        pixels.push_back((oh * g.stride_h * width + ow * g.stride_w) * g.channels);
      }
    }
    for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
      for (int64_t k = 0; k < g.kernel_w * g.channels; ++k) taps.push_back(kh * width * g.channels + k);
    }
  }
  int64_t size(const Geometry& g) const { return height * width * g.channels; }
};

// Calls body(part, n, padded) for every sample n, in parallel over parts of
// the batch, padded holding leaky_relu(sample n) with zero padding.
template <typename scalar_t, typename Body>
void for_each_padded_sample(const Geometry& g, const Padded& p, int64_t parts, const Tensor& x_nhwc,
                            scalar_t slope, const Body& body) {
  // Zeroed once: each sample rewrites only the image's place in it.
  const Tensor buffer = torch::stable::new_zeros(x_nhwc, {parts, p.size(g)});
  const int64_t rows = std::clamp<int64_t>(p.height - g.pad_top, 0, g.height);
  const int64_t cols = std::clamp<int64_t>(p.width - g.pad_left, 0, g.width);
  const int64_t sample = g.height * g.width * g.channels;
  const scalar_t* x = x_nhwc.const_data_ptr<scalar_t>();
  scalar_t* const buffer_data = buffer.mutable_data_ptr<scalar_t>();
  for_each_part(g, parts, [&](int64_t part, int64_t first, int64_t end) {
    scalar_t* padded = buffer_data + part * p.size(g);
    for (int64_t n = first; n < end; ++n) {
      for (int64_t ih = 0; ih < rows; ++ih) {
        leaky_relu(x + n * sample + ih * g.width * g.channels,
                   padded + ((g.pad_top + ih) * p.width + g.pad_left) * g.channels, cols * g.channels, slope);
      }
      body(part, n, padded);
    }
  });
}

Tensor leaky_relu_conv2d_cpu(const Tensor& x, const Tensor& weight, const std::optional<Tensor>& bias,
                             const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                             double negative_slope) {
  const Geometry g = make_geometry(x, weight.sizes(), stride, padding);
  check_operand("weight", weight, x);
  check_bias(bias, x, g);
  Tensor output = empty_like_device(x, {g.batch, g.out_channels, g.out_h, g.out_w}, MemoryFormat::ChannelsLast);
  const Tensor x_nhwc = channels_last(x);
  const Tensor weight_c = torch::stable::contiguous(weight);
  const Tensor bias_c = bias ? torch::stable::contiguous(*bias) : torch::stable::new_zeros(x, {g.out_channels});
  const int64_t parts = num_parts(g);
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using scalar_t = decltype(zero);
    const auto slope = static_cast<scalar_t>(negative_slope);
    const int64_t O = g.out_channels;
    const scalar_t* x_data = x_nhwc.const_data_ptr<scalar_t>();
    const scalar_t* src = weight_c.const_data_ptr<scalar_t>();
    const scalar_t* bias_data = bias_c.const_data_ptr<scalar_t>();
    scalar_t* out = output.mutable_data_ptr<scalar_t>();
    if (const std::optional<WinogradPlan> plan = winograd_plan(g)) {
      winograd_forward(g, *plan, x_data, src, bias_data, slope, out);
      return;
    }
    const Tensor weight_t = empty_like_device(x, {g.patch(), g.out_channels});
    scalar_t* weight_data = weight_t.mutable_data_ptr<scalar_t>();  // [KH*KW*C, O]
    for_each_weight_element(g, [&](int64_t i, int64_t t, int64_t c, int64_t o) {
      weight_data[(t * g.channels + c) * O + o] = src[i];
    });
    if (direct(g)) {
      const Padded p(g);
      const int64_t pixels = g.out_h * g.out_w;
      for_each_padded_sample(g, p, parts, x_nhwc, slope, [&](int64_t, int64_t n, const scalar_t* padded) {
        scalar_t* dst = out + n * pixels * O;
        for (int64_t i = 0; i < pixels; ++i) std::copy_n(bias_data, O, dst + i * O);
        gemm<scalar_t>(pixels, O, g.patch(), Gather<scalar_t>{padded, p.pixels.data(), p.taps.data()},
                       weight_data, O, dst, O, true);
      });
      return;
    }
    const ScratchSize size = scratch_size(g, parts);
    const Tensor buffer = scratch_buffer(size, parts, x);
    for_each_part(g, parts, [&](int64_t part, int64_t first, int64_t end) {
      Scratch<scalar_t> scratch(buffer, part, size);
      for_each_chunk(g, parts, first, end, [&](const Region& r, int64_t n0, int64_t n1) {
        const int64_t m = (n1 - n0) * r.pixels();
        im2row_leaky_relu(g, r, n0, n1, x_data, scratch.rows, slope);
        const int64_t step = kernel_rows_per_gemm(g, r);
        if (r.h.taps.size() == 0) std::fill_n(scratch.pixels, m * O, scalar_t(0));  // sees only padding
        for (int64_t i = 0; i < r.h.taps.size(); i += step) {
          gemm<scalar_t>(m, O, step * r.segment(), Operand<scalar_t>{scratch.rows + i * r.segment(), r.depth(), 1},
                         weight_data + weight_offset(g, r, i) * O, O, scratch.pixels, O, i > 0);
        }
        for_each_row(g, r, n0, n1, [&](int64_t row, int64_t pixel, int64_t) {
          const scalar_t* __restrict src = scratch.pixels + row * O;
          scalar_t* __restrict dst = out + pixel * O;
          for (int64_t o = 0; o < O; ++o) dst[o] = src[o] + bias_data[o];
        });
      });
    });
  });
  return output;
}

Tensor leaky_relu_conv2d_backward_input_cpu(const Tensor& grad_output, const Tensor& x, const Tensor& weight,
                                            const std::vector<int64_t>& stride, const std::vector<int64_t>& padding,
                                            double negative_slope) {
  const Geometry g = make_geometry(x, weight.sizes(), stride, padding);
  check_operand("weight", weight, x);
  check_grad_output(grad_output, x, g);
  Tensor grad_x = empty_like_device(x, x.sizes(), MemoryFormat::ChannelsLast);
  const Tensor x_nhwc = channels_last(x);
  if (const std::optional<WinogradPlan> plan = winograd_plan(g)) {
    const Tensor grad_nhwc = channels_last(grad_output);
    const Tensor weight_c = torch::stable::contiguous(weight);
    dispatch_float_types(x.scalar_type(), [&](auto zero) {
      using scalar_t = decltype(zero);
      scalar_t* gx = grad_x.mutable_data_ptr<scalar_t>();
      winograd_backward_input(g, *plan, grad_nhwc.const_data_ptr<scalar_t>(), weight_c.const_data_ptr<scalar_t>(), gx);
      const int64_t sample = g.height * g.width * g.channels;
      torch::stable::parallel_for(0, g.batch, 1, [&](int64_t first, int64_t end) {
        mul_leaky_relu_grad(x_nhwc.const_data_ptr<scalar_t>() + first * sample, gx + first * sample,
                            (end - first) * sample, static_cast<scalar_t>(negative_slope));
      });
    });
    return grad_x;
  }
  // grad_output as the [N*OH*OW, O] matrix of its NHWC copy, and the weight
  // [O, C, KH, KW] as the [O, KH*KW*C] matrix whose columns match a patch:
  // both are their channels-last copies.
  const Tensor grad_nhwc = channels_last(grad_output);
  const Tensor weight_nhwc = channels_last(weight);
  const int64_t parts = num_parts(g);
  const ScratchSize size = scratch_size(g, parts);
  const Tensor buffer = scratch_buffer(size, parts, x);
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using scalar_t = decltype(zero);
    const int64_t O = g.out_channels, sample = g.height * g.width * g.channels;
    const scalar_t* x_data = x_nhwc.const_data_ptr<scalar_t>();
    const scalar_t* grad_data = grad_nhwc.const_data_ptr<scalar_t>();
    const scalar_t* weight_data = weight_nhwc.const_data_ptr<scalar_t>();
    scalar_t* gx = grad_x.mutable_data_ptr<scalar_t>();
    for_each_part(g, parts, [&](int64_t part, int64_t first, int64_t end) {
      Scratch<scalar_t> scratch(buffer, part, size);
      // The part's samples are its own: the scatter-add below needs no atomics.
      std::fill(gx + first * sample, gx + end * sample, scalar_t(0));
      for_each_chunk(g, parts, first, end, [&](const Region& r, int64_t n0, int64_t n1) {
        const int64_t m = (n1 - n0) * r.pixels();
        gather_pixels(g, r, n0, n1, grad_data, scratch.pixels);
        // Patch gradients: rows = grad_pixels * weight, one kernel row of taps at a time.
        const int64_t step = kernel_rows_per_gemm(g, r);
        for (int64_t i = 0; i < r.h.taps.size(); i += step) {
          gemm<scalar_t>(m, step * r.segment(), O, Operand<scalar_t>{scratch.pixels, O, 1},
                         weight_data + weight_offset(g, r, i), g.patch(),
                         scratch.rows + i * r.segment(), r.depth(), false);
        }
        for_each_row(g, r, n0, n1, [&](int64_t row, int64_t, int64_t offset) {
          for (int64_t i = 0; i < r.h.taps.size(); ++i) {
            const scalar_t* src = scratch.rows + row * r.depth() + i * r.segment();
            scalar_t* dst = gx + offset + i * g.width * g.channels;
            for (int64_t c = 0; c < r.segment(); ++c) dst[c] += src[c];
          }
        });
      });
      mul_leaky_relu_grad(x_data + first * sample, gx + first * sample,
                          (end - first) * sample, static_cast<scalar_t>(negative_slope));
    });
  });
  return grad_x;
}

std::tuple<Tensor, Tensor> leaky_relu_conv2d_backward_weight_cpu(const Tensor& grad_output, const Tensor& x,
                                                                 const std::vector<int64_t>& weight_size,
                                                                 const std::vector<int64_t>& stride,
                                                                 const std::vector<int64_t>& padding,
                                                                 double negative_slope) {
  const Geometry g = make_geometry(x, weight_size, stride, padding);
  check_grad_output(grad_output, x, g);
  const Tensor x_nhwc = channels_last(x);
  const Tensor grad_nhwc = channels_last(grad_output);  // the [N*OH*OW, O] matrix of grad_output
  // The bias gradient: grad_output summed over every pixel.
  const std::vector<int64_t> pixel_dims{0, 2, 3};
  const Tensor grad_bias = torch::stable::sum(grad_nhwc, IntHeaderOnlyArrayRef(pixel_dims));
  if (const std::optional<WinogradPlan> plan = winograd_plan(g)) {
    Tensor grad_weight = empty_like_device(x, weight_size);
    dispatch_float_types(x.scalar_type(), [&](auto zero) {
      using scalar_t = decltype(zero);
      winograd_backward_weight(g, *plan, grad_nhwc.const_data_ptr<scalar_t>(), x_nhwc.const_data_ptr<scalar_t>(),
                               static_cast<scalar_t>(negative_slope), grad_weight.mutable_data_ptr<scalar_t>());
    });
    return {grad_weight, grad_bias};
  }
  // One accumulator per part, summed in part order: the result does not
  // depend on how the parts were scheduled.
  const int64_t parts = num_parts(g), accumulator_size = g.patch() * g.out_channels;
  std::vector<Tensor> partial;
  for (int64_t part = 0; part < std::max<int64_t>(parts, 1); ++part) {
    partial.push_back(empty_like_device(x, {g.patch(), g.out_channels}));
  }
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using scalar_t = decltype(zero);
    std::vector<scalar_t*> accumulators;
    for (const Tensor& t : partial) accumulators.push_back(t.mutable_data_ptr<scalar_t>());
    // Each part zeroes its own accumulator: in parallel, and into its own caches.
    torch::stable::parallel_for(0, static_cast<int64_t>(accumulators.size()), 1, [&](int64_t begin, int64_t end) {
      for (int64_t part = begin; part < end; ++part) std::fill_n(accumulators[part], accumulator_size, scalar_t(0));
    });
    const auto slope = static_cast<scalar_t>(negative_slope);
    const int64_t O = g.out_channels;
    const scalar_t* x_data = x_nhwc.const_data_ptr<scalar_t>();
    const scalar_t* grad_data = grad_nhwc.const_data_ptr<scalar_t>();
    if (direct(g)) {
      // grad_weight_t += patches^T * grad_pixels, sample by sample.
      const Padded p(g);
      const int64_t pixels = g.out_h * g.out_w;
      for_each_padded_sample(g, p, parts, x_nhwc, slope, [&](int64_t part, int64_t n, const scalar_t* padded) {
        gemm<scalar_t>(g.patch(), O, pixels, Gather<scalar_t>{padded, p.taps.data(), p.pixels.data()},
                       grad_data + n * pixels * O, O, accumulators[part], O, true);
      });
    } else {
      const ScratchSize size = scratch_size(g, parts);
      const Tensor buffer = scratch_buffer(size, parts, x);
      for_each_part(g, parts, [&](int64_t part, int64_t first, int64_t end) {
        const Scratch<scalar_t> scratch(buffer, part, size);
        for_each_chunk(g, parts, first, end, [&](const Region& r, int64_t n0, int64_t n1) {
          im2row_leaky_relu(g, r, n0, n1, x_data, scratch.rows, slope);
          gather_pixels(g, r, n0, n1, grad_data, scratch.pixels);
          // grad_weight_t[taps] += rows^T * grad_pixels, A being the rows read transposed.
          // (Transposed so that the GEMM's columns are the output channels, a
          // multiple of the vector width, even when a kernel row has few taps.)
          const int64_t m = (n1 - n0) * r.pixels(), step = kernel_rows_per_gemm(g, r);
          for (int64_t i = 0; i < r.h.taps.size(); i += step) {
            gemm<scalar_t>(step * r.segment(), O, m,
                           Operand<scalar_t>{scratch.rows + i * r.segment(), 1, r.depth()}, scratch.pixels, O,
                           accumulators[part] + weight_offset(g, r, i) * O, O, true);
          }
        });
      });
    }
    for (int64_t part = 1; part < parts; ++part) {
      const scalar_t* __restrict src = accumulators[part];
      scalar_t* __restrict dst = accumulators[0];
      torch::stable::parallel_for(0, accumulator_size, kSumGrain, [&](int64_t begin, int64_t end) {
        for (int64_t j = begin; j < end; ++j) dst[j] += src[j];
      });
    }
  });
  // Freed before the weight gradient is allocated: this runs in every
  // backward, where one more weight-sized tensor would raise the peak of
  // memory use.
  partial.resize(1);
  Tensor grad_weight = empty_like_device(x, weight_size);
  dispatch_float_types(x.scalar_type(), [&](auto zero) {
    using scalar_t = decltype(zero);
    const scalar_t* src = partial[0].const_data_ptr<scalar_t>();
    scalar_t* dst = grad_weight.mutable_data_ptr<scalar_t>();
    for_each_weight_element(g, [&](int64_t i, int64_t t, int64_t c, int64_t o) {
      dst[i] = src[(t * g.channels + c) * g.out_channels + o];
    });
  });
  return {grad_weight, grad_bias};
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CPU, m) {
  m.impl("leaky_relu_conv2d", TORCH_BOX(&leaky_relu_conv2d_cpu));
  m.impl("leaky_relu_conv2d_backward_input", TORCH_BOX(&leaky_relu_conv2d_backward_input_cpu));
  m.impl("leaky_relu_conv2d_backward_weight", TORCH_BOX(&leaky_relu_conv2d_backward_weight_cpu));
}

}  // namespace pygan

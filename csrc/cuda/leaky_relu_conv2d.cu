// CUDA kernels of pygan::leaky_relu_conv2d and its backward ops.
//
// Each op is an implicit GEMM: the patch matrix is never built in memory; the
// GEMM's tile loaders read the NHWC tensors directly, applying the activation
// (or skipping padding) as they read. One tiled SIMT GEMM kernel,
// implicit_gemm, serves all three ops; each op is a small "problem" struct
// that says how to read element (m, k) of A, element (k, n) of B, and where
// result (m, n) goes.
//
//   forward          A = leaky_relu patches [N*OH*OW, KH*KW*C], B = weight^T [KH*KW*C, O]
//   backward_input   A = grad_output patches of the transposed convolution, B = weight,
//                    one GEMM per stride phase (below); the epilogue multiplies by leaky_relu'(x)
//   backward_weight  A = grad_output^T [O, N*OH*OW], B = [leaky_relu patches | ones] [N*OH*OW, KH*KW*C + 1]:
//                    the weight gradient and, in its last column, the bias gradient; the long
//                    reduction split over blocks, then summed by sum_splits
//
// Loads go through registers: the next K-tile is fetched from global memory
// while the current one is multiplied out of shared memory.
#include "leaky_relu_conv2d.cuh"

#include "launch.cuh"
#include "numeric.cuh"

#include <algorithm>

namespace pygan {
namespace cuda {
namespace {

// A 256-thread block computes a 64x64 tile of the result, 4x4 per thread,
// stepping through K 16 at a time.
constexpr int kTileM = 64, kTileN = 64, kTileK = 16, kThreads = 256, kPerThread = 4;
// One padding column keeps the transposing shared-memory stores (loads
// contiguous along K) from all landing in one bank.
constexpr int kPad = 1;
// Each weight-gradient slice reduces at least this many K-tiles, so that the
// partial sums stay few compared with the work.
constexpr int kMinTilesPerSplit = 4;

static_assert(kThreads == (kTileM / kPerThread) * (kTileN / kPerThread), "one thread per 4x4 of the tile");

__host__ __device__ constexpr int ceil_div(int a, int b) { return (a + b - 1) / b; }

// As torch: leaky_relu(v) = v * slope for v <= 0 (-0.0 stays -0.0), and
// leaky_relu'(0) = slope.
template <typename A>
__device__ __forceinline__ A leaky_relu(A v, A slope) {
  return v > A(0) ? v : v * slope;
}

// Loads one operand's [kTileK x kTile] tile into registers, kPerThread
// elements per thread, and stores them to shared memory as [k][m or n].
// Adjacent threads read adjacent elements of whichever index is contiguous in
// memory (kAlongK: K, else M or N), so that each warp reads whole sectors.
// A thread's M/N index is fixed for the whole K loop (kAlongK: kPerThread of
// them), so the problem decodes it once, into a Ctx, not once per element.
template <int kTile, bool kAlongK, typename Ctx>
class TileLoader {
 public:
  template <typename MakeCtx>
  __device__ TileLoader(int first, int extent, const MakeCtx& make_ctx)
      : lane_k_(kAlongK ? threadIdx.x % kTileK : threadIdx.x / kTile),
        lane_mn_(kAlongK ? threadIdx.x / kTileK : threadIdx.x % kTile) {
#pragma unroll
    for (int j = 0; j < kContexts; ++j) {
      const int index = first + lane_mn_ + j * kStep;
      valid_[j] = index < extent;
      ctx_[j] = make_ctx(valid_[j] ? index : first);
    }
  }

  // regs = the tile's elements of K-tile k0; zero past k_end.
  template <typename A, typename Get>
  __device__ void load(int k0, int k_end, const Get& get, A (&regs)[kPerThread]) const {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int c = kAlongK ? j : 0;
      const int k = k0 + lane_k_ + (kAlongK ? 0 : j * kStep);
      regs[j] = valid_[c] && k < k_end ? get(ctx_[c], k) : A(0);
    }
  }

  template <typename A>
  __device__ void store(const A (&regs)[kPerThread], A (*tile)[kTile + kPad]) const {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      if (kAlongK) {
        tile[lane_k_][lane_mn_ + j * kStep] = regs[j];
      } else {
        tile[lane_k_ + j * kStep][lane_mn_] = regs[j];
      }
    }
  }

 private:
  // Distance between a thread's loads: along M/N when loading along K, and
  // along K otherwise.
  static constexpr int kStep = kAlongK ? kThreads / kTileK : kThreads / kTile;
  static constexpr int kContexts = kAlongK ? kPerThread : 1;
  static_assert(kStep * kPerThread == (kAlongK ? kTile : kTileK), "the threads cover the tile exactly");

  int lane_k_, lane_mn_;
  Ctx ctx_[kContexts];
  bool valid_[kContexts];
};

// result[m, n] = sum over k in [k_begin, k_end) of A[m, k] * B[k, n], for the
// GEMM problem.slice(blockIdx.z); see the problem structs below for the
// interface.
template <typename Problem>
__global__ void __launch_bounds__(kThreads) implicit_gemm(const Problem problem) {
  using A = typename Problem::acc_t;
  __shared__ A a_tile[kTileK][kTileM + kPad];
  __shared__ A b_tile[kTileK][kTileN + kPad];

  const Problem gemm = problem.slice(blockIdx.z);
  const int m0 = blockIdx.x * kTileM, n0 = blockIdx.y * kTileN;
  // The grid is sized for the largest slice; the whole block leaves together.
  if (m0 >= gemm.rows) return;

  using RowCtx = decltype(gemm.a_row(0));
  using ColCtx = decltype(gemm.b_col(0));
  const TileLoader<kTileM, Problem::kAAlongK, RowCtx> a_loader(m0, gemm.rows,
                                                              [&](int m) { return gemm.a_row(m); });
  const TileLoader<kTileN, Problem::kBAlongK, ColCtx> b_loader(n0, gemm.cols,
                                                              [&](int n) { return gemm.b_col(n); });
  const auto get_a = [&](const RowCtx& row, int k) { return gemm.a(row, k); };
  const auto get_b = [&](const ColCtx& col, int k) { return gemm.b(col, k); };

  A a_regs[kPerThread], b_regs[kPerThread];
  A acc[kPerThread][kPerThread] = {};
  // Thread (ty, tx) owns rows m0 + ty + 16 i and columns n0 + tx + 16 j:
  // a warp's shared-memory reads are then broadcasts (A) or consecutive (B),
  // and its global stores along N are consecutive.
  const int ty = threadIdx.x / (kTileN / kPerThread), tx = threadIdx.x % (kTileN / kPerThread);
  constexpr int kRowStep = kTileM / kPerThread, kColStep = kTileN / kPerThread;

  if (gemm.k_begin < gemm.k_end) {
    a_loader.load(gemm.k_begin, gemm.k_end, get_a, a_regs);
    b_loader.load(gemm.k_begin, gemm.k_end, get_b, b_regs);
  }
  for (int k0 = gemm.k_begin; k0 < gemm.k_end; k0 += kTileK) {
    a_loader.store(a_regs, a_tile);
    b_loader.store(b_regs, b_tile);
    __syncthreads();
    if (k0 + kTileK < gemm.k_end) {
      a_loader.load(k0 + kTileK, gemm.k_end, get_a, a_regs);
      b_loader.load(k0 + kTileK, gemm.k_end, get_b, b_regs);
    }
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      A a[kPerThread], b[kPerThread];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) a[i] = a_tile[kk][ty + i * kRowStep];
#pragma unroll
      for (int j = 0; j < kPerThread; ++j) b[j] = b_tile[kk][tx + j * kColStep];
#pragma unroll
      for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
        for (int j = 0; j < kPerThread; ++j) acc[i][j] += a[i] * b[j];
      }
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < kPerThread; ++i) {
#pragma unroll
    for (int j = 0; j < kPerThread; ++j) {
      const int m = m0 + ty + i * kRowStep, n = n0 + tx + j * kColStep;
      if (m < gemm.rows && n < gemm.cols) gemm.store(m, n, acc[i][j]);
    }
  }
}

// The problem structs. Each is passed to the kernel by value and provides:
//   acc_t, kAAlongK, kBAlongK      accumulation type; which loads run along K
//   slice(z)                        the GEMM of blockIdx.z, with its
//   rows, cols, k_begin, k_end      extents
//   a_row(m) / a(row_ctx, k)        element (m, k) of A
//   b_col(n) / b(col_ctx, k)        element (k, n) of B
//   store(m, n, value)              the epilogue

// Output pixel m = (n, oh, ow) of an NHWC output of out_h x out_w pixels.
struct Pixel {
  int n, h, w;
};
__device__ __forceinline__ Pixel split_pixel(int m, int height, int width) {
  const int per_sample = height * width;
  const int n = m / per_sample, rest = m - n * per_sample, h = rest / width;
  return {n, h, rest - h * width};
}

template <typename T>
struct Forward {
  using acc_t = typename Accum<T>::type;
  // A: the patch's taps (kh, kw, c) are C-contiguous runs; B: weight rows.
  static constexpr bool kAAlongK = true, kBAlongK = true;

  ConvShape s;
  const T* x;
  const T* weight;  // [O, KH, KW, C]
  const T* bias;    // [O] or null
  T* out;           // [N, OH, OW, O]
  acc_t slope;
  int rows, cols, k_begin, k_end;

  __device__ Forward slice(int) const { return *this; }

  // The NHWC offset of the patch's sample, and the input pixel of tap (0, 0).
  struct Row {
    int sample, ih, iw;
  };
  __device__ Row a_row(int m) const {
    const Pixel p = split_pixel(m, s.out_h, s.out_w);
    return {p.n * s.height * s.width * s.channels, p.h * s.stride_h - s.pad_top, p.w * s.stride_w - s.pad_left};
  }
  __device__ acc_t a(const Row& row, int k) const {
    const int tap_row = s.kernel_w * s.channels;
    const int kh = k / tap_row, rest = k - kh * tap_row, kw = rest / s.channels, c = rest - kw * s.channels;
    const int ih = row.ih + kh, iw = row.iw + kw;
    if (ih < 0 || ih >= s.height || iw < 0 || iw >= s.width) return acc_t(0);  // zero padding
    return leaky_relu(to_acc(x[row.sample + (ih * s.width + iw) * s.channels + c]), slope);
  }
  __device__ int b_col(int o) const { return o * k_end; }
  __device__ acc_t b(int weight_row, int k) const { return to_acc(weight[weight_row + k]); }
  __device__ void store(int m, int o, acc_t v) const {
    if (bias != nullptr) v += to_acc(bias[o]);
    assign(out[m * s.out_channels + o], v);
  }
};

// The transposed convolution as stride_h * stride_w GEMMs, one per stride
// phase (ih % stride_h, iw % stride_w): within a phase every input pixel is
// reached by the same kernel taps (kh = tap_h, tap_h + stride_h, ...), so no
// multiply-add is spent on the taps that fall between output pixels.
template <typename T>
struct BackwardInput {
  using acc_t = typename Accum<T>::type;
  // A: grad_output is O-contiguous along K = (jh, jw, o); B: the weight is
  // C-contiguous along N = c.
  static constexpr bool kAAlongK = true, kBAlongK = false;

  ConvShape s;
  const T* grad_output;  // [N, OH, OW, O]
  const T* x;            // [N, H, W, C]
  const T* weight;       // [O, KH, KW, C]
  T* grad_x;             // [N, H, W, C]
  acc_t slope;
  int rows, cols, k_begin, k_end;
  // Phases along the width: min(stride_w, width), since a phase at or past
  // the image's edge has no pixel (and a stride can exceed the grid's limit).
  int phases_w;
  // Set by slice: the phase, its pixels per sample along each axis, its first
  // tap and number of taps along each axis.
  int phase_h, phase_w, size_h, size_w, tap_h, tap_w, taps_h, taps_w;

  __device__ BackwardInput slice(int z) const {
    BackwardInput g = *this;
    g.phase_h = z / phases_w;
    g.phase_w = z % phases_w;
    g.size_h = ceil_div(s.height - g.phase_h, s.stride_h);  // 0 when the phase lies outside the image
    g.size_w = ceil_div(s.width - g.phase_w, s.stride_w);
    g.tap_h = (g.phase_h + s.pad_top) % s.stride_h;
    g.tap_w = (g.phase_w + s.pad_left) % s.stride_w;
    g.taps_h = g.tap_h < s.kernel_h ? ceil_div(s.kernel_h - g.tap_h, s.stride_h) : 0;
    g.taps_w = g.tap_w < s.kernel_w ? ceil_div(s.kernel_w - g.tap_w, s.stride_w) : 0;
    g.rows = s.batch * g.size_h * g.size_w;
    g.k_end = g.taps_h * g.taps_w * s.out_channels;  // 0: the phase sees no tap, its gradient is 0
    return g;
  }

  __device__ int input_offset(int m, int c) const {
    const Pixel p = split_pixel(m, size_h, size_w);
    const int ih = phase_h + p.h * s.stride_h, iw = phase_w + p.w * s.stride_w;
    return ((p.n * s.height + ih) * s.width + iw) * s.channels + c;
  }

  // The NHWC offset of grad_output's sample, and the output pixel that tap
  // (tap_h, tap_w) reads: tap (jh, jw) reads (oh - jh, ow - jw).
  struct Row {
    int sample, oh, ow;
  };
  __device__ Row a_row(int m) const {
    const Pixel p = split_pixel(m, size_h, size_w);
    const int ih = phase_h + p.h * s.stride_h, iw = phase_w + p.w * s.stride_w;
    // Exact divisions of non-negative numbers: tap_h is ih + pad_top modulo stride_h.
    return {p.n * s.out_h * s.out_w * s.out_channels, (ih + s.pad_top - tap_h) / s.stride_h,
            (iw + s.pad_left - tap_w) / s.stride_w};
  }
  __device__ acc_t a(const Row& row, int k) const {
    const int tap_row = taps_w * s.out_channels;
    const int jh = k / tap_row, rest = k - jh * tap_row, jw = rest / s.out_channels;
    const int o = rest - jw * s.out_channels, oh = row.oh - jh, ow = row.ow - jw;
    if (oh < 0 || oh >= s.out_h || ow < 0 || ow >= s.out_w) return acc_t(0);
    return to_acc(grad_output[row.sample + (oh * s.out_w + ow) * s.out_channels + o]);
  }
  __device__ int b_col(int c) const { return c; }
  __device__ acc_t b(int c, int k) const {
    const int tap_row = taps_w * s.out_channels;
    const int jh = k / tap_row, rest = k - jh * tap_row, jw = rest / s.out_channels;
    const int o = rest - jw * s.out_channels;
    const int kh = tap_h + jh * s.stride_h, kw = tap_w + jw * s.stride_w;
    return to_acc(weight[((o * s.kernel_h + kh) * s.kernel_w + kw) * s.channels + c]);
  }
  __device__ void store(int m, int c, acc_t v) const {
    const int offset = input_offset(m, c);
    assign(grad_x[offset], to_acc(x[offset]) > acc_t(0) ? v : v * slope);
  }
};

// grad_weight as the [O, KH*KW*C] matrix grad_output^T * patches, and
// grad_bias as one more column, against a column of ones; the reduction over
// the batch's output pixels cut into slices (blockIdx.z), each written to its
// own [O, KH*KW*C + 1] part of the workspace.
template <typename T>
struct BackwardWeight {
  using acc_t = typename Accum<T>::type;
  // A: grad_output is O-contiguous along M = o; B: patches are C-contiguous
  // along N = (kh, kw, c).
  static constexpr bool kAAlongK = false, kBAlongK = false;

  ConvShape s;
  const T* grad_output;  // [N, OH, OW, O]
  const T* x;            // [N, H, W, C]
  acc_t* workspace;      // [splits, O, KH*KW*C + 1]
  acc_t slope;
  int rows, cols, k_begin, k_end;
  int split_size, split;

  __device__ BackwardWeight slice(int z) const {
    BackwardWeight g = *this;
    g.split = z;
    g.k_begin = z * split_size;
    g.k_end = min(k_end, g.k_begin + split_size);
    return g;
  }

  __device__ int a_row(int o) const { return o; }
  __device__ acc_t a(int o, int pixel) const { return to_acc(grad_output[pixel * s.out_channels + o]); }

  // Tap (kh, kw, c) as its offset from an output pixel's window origin, and
  // its channel; channel -1 is the bias column.
  struct Col {
    int dh, dw, c;
  };
  __device__ Col b_col(int n) const {
    if (n == cols - 1) return {0, 0, -1};
    const int tap_row = s.kernel_w * s.channels;
    const int kh = n / tap_row, rest = n - kh * tap_row, kw = rest / s.channels;
    return {kh - s.pad_top, kw - s.pad_left, rest - kw * s.channels};
  }
  __device__ acc_t b(const Col& col, int pixel) const {
    if (col.c < 0) return acc_t(1);
    const Pixel p = split_pixel(pixel, s.out_h, s.out_w);
    const int ih = p.h * s.stride_h + col.dh, iw = p.w * s.stride_w + col.dw;
    if (ih < 0 || ih >= s.height || iw < 0 || iw >= s.width) return acc_t(0);
    return leaky_relu(to_acc(x[((p.n * s.height + ih) * s.width + iw) * s.channels + col.c]), slope);
  }
  __device__ void store(int o, int n, acc_t v) const { workspace[(split * rows + o) * cols + n] = v; }
};

// grad_weight[o, c, kh, kw] = the sum over slices of workspace[slice, o, (kh, kw, c)],
// and grad_bias[o] of workspace[slice, o, KH*KW*C], in slice order.
template <typename T>
__global__ void sum_splits(const typename Accum<T>::type* workspace, int splits, ConvShape s, T* grad_weight,
                           T* grad_bias) {
  using A = typename Accum<T>::type;
  const int taps = s.kernel_h * s.kernel_w, patch = taps * s.channels, cols = patch + 1;
  const int weights = s.out_channels * patch;
  // One thread per element, the weights' then the biases': the grid covers
  // them all (a grid-stride step could overflow int).
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= weights + s.out_channels) return;
  const A* partial;
  T* result;
  if (i < weights) {
    const int tap = i % taps, c = (i / taps) % s.channels, o = i / patch;
    partial = workspace + o * cols + tap * s.channels + c;
    result = grad_weight + i;
  } else {
    partial = workspace + (i - weights) * cols + patch;
    result = grad_bias + (i - weights);
  }
  A sum = 0;
  for (int z = 0; z < splits; ++z) sum += partial[z * s.out_channels * cols];
  assign(*result, sum);
}

template <typename Problem>
cudaError_t launch_gemm(const Problem& problem, int max_rows, int slices, cudaStream_t stream) {
  if (max_rows > 0 && problem.cols > 0 && slices > 0) {
    const dim3 grid(ceil_div(max_rows, kTileM), ceil_div(problem.cols, kTileN), slices);
    PYGAN_LAUNCH(implicit_gemm, grid, kThreads, stream, problem);
  }
  return cudaGetLastError();
}

int patch_size(const ConvShape& s) { return s.kernel_h * s.kernel_w * s.channels; }

}  // namespace

cudaError_t leaky_relu_conv2d_forward(DType dtype, const ConvShape& shape, const void* x, const void* weight,
                                      const void* bias, double negative_slope, void* out, cudaStream_t stream) {
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    Forward<T> problem{shape, static_cast<const T*>(x), static_cast<const T*>(weight), static_cast<const T*>(bias),
                       static_cast<T*>(out), static_cast<A>(negative_slope)};
    problem.rows = shape.batch * shape.out_h * shape.out_w;
    problem.cols = shape.out_channels;
    problem.k_begin = 0;
    problem.k_end = patch_size(shape);
    return launch_gemm(problem, problem.rows, 1, stream);
  });
}

cudaError_t leaky_relu_conv2d_backward_input(DType dtype, const ConvShape& shape, const void* grad_output,
                                             const void* x, const void* weight, double negative_slope,
                                             void* grad_x, cudaStream_t stream) {
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    BackwardInput<T> problem{shape, static_cast<const T*>(grad_output), static_cast<const T*>(x),
                             static_cast<const T*>(weight), static_cast<T*>(grad_x), static_cast<A>(negative_slope)};
    problem.cols = shape.channels;
    problem.k_begin = 0;
    problem.phases_w = std::min(shape.stride_w, shape.width);
    // Phase (0, 0) has the most pixels; slice() sets each phase's own extents.
    const int max_rows = shape.batch * ceil_div(shape.height, shape.stride_h) * ceil_div(shape.width, shape.stride_w);
    return launch_gemm(problem, max_rows, std::min(shape.stride_h, shape.height) * problem.phases_w, stream);
  });
}

int leaky_relu_conv2d_backward_weight_splits(const ConvShape& shape, int multiprocessors) {
  const int tiles = ceil_div(shape.out_channels, kTileM) * ceil_div(patch_size(shape) + 1, kTileN);
  const int k_tiles = ceil_div(shape.batch * shape.out_h * shape.out_w, kTileK);
  // About two blocks per multiprocessor, each reducing kMinTilesPerSplit K-tiles or more.
  const int wanted = ceil_div(2 * multiprocessors, std::max(tiles, 1));
  const int most = std::max(1, std::min(k_tiles / kMinTilesPerSplit, 65535));
  return std::clamp(wanted, 1, most);
}

size_t leaky_relu_conv2d_backward_weight_workspace(const ConvShape& shape, int splits) {
  return static_cast<size_t>(splits) * shape.out_channels * (patch_size(shape) + 1);
}

cudaError_t leaky_relu_conv2d_backward_weight(DType dtype, const ConvShape& shape, const void* grad_output,
                                              const void* x, double negative_slope, int splits, void* workspace,
                                              void* grad_weight, void* grad_bias, cudaStream_t stream) {
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using A = typename Accum<T>::type;
    BackwardWeight<T> problem{shape, static_cast<const T*>(grad_output), static_cast<const T*>(x),
                              static_cast<A*>(workspace), static_cast<A>(negative_slope)};
    problem.rows = shape.out_channels;
    problem.cols = patch_size(shape) + 1;
    problem.k_begin = 0;
    problem.k_end = shape.batch * shape.out_h * shape.out_w;
    // Every slice is launched, empty ones too: they write the zeros that sum_splits reads.
    problem.split_size = ceil_div(ceil_div(problem.k_end, kTileK), splits) * kTileK;
    problem.split = 0;
    const cudaError_t error = launch_gemm(problem, problem.rows, splits, stream);
    const int total = problem.rows * problem.cols;
    if (error != cudaSuccess || total == 0) return error;
    PYGAN_LAUNCH(sum_splits<T>, ceil_div(total, kThreads), kThreads, stream, static_cast<const A*>(workspace), splits,
                 shape, static_cast<T*>(grad_weight), static_cast<T*>(grad_bias));
    return cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace pygan

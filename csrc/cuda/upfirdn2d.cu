// CUDA kernel of pygan::upfirdn2d: one thread per output element (a
// grid-stride loop), in the output's memory order. Each thread sums only the
// taps that land on an input pixel: along each axis the first such tap
// follows from the output's position, and the next ones are `up` taps
// apart, so inserted zeros are never multiplied. 16-bit inputs are summed in
// float32.
#include "upfirdn2d.cuh"

#include "launch.cuh"
#include "numeric.cuh"

#include <algorithm>
#include <cstdint>

namespace pygan {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 4096;

// Along one axis, output o's first tap k0 on an input pixel and that
// pixel's index i0 (the next taps: k0 + up, reading i0 + 1, ...).
struct FirstTap {
  int64_t k, i;
};

__device__ __forceinline__ FirstTap first_tap(const ResampleAxisArgs& a, int64_t o) {
  // Tap k reads upsampled position u = o * down + k - pad0, an input pixel when u is a
  // multiple of up; the smallest such k >= 0 (C++'s % keeps the dividend's sign).
  const int64_t u0 = o * a.down - a.pad0;
  const int64_t k = ((-u0) % a.up + a.up) % a.up;
  return {k, (u0 + k) / a.up};
}

template <typename T>
__global__ void __launch_bounds__(kThreads) upfirdn2d_kernel(const Upfirdn2dArgs a) {
  using Acc = typename Accum<T>::type;
  const T* x = static_cast<const T*>(a.input);
  const T* filter = static_cast<const T*>(a.filter);
  T* out = static_cast<T*>(a.out);
  const int64_t total = a.batch * a.channels * a.y.out * a.x.out;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const Acc gain = static_cast<Acc>(a.gain);
  for (int64_t index = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; index < total;
       index += stride) {
    // The output's memory order: NCHW, or NHWC with the channel fastest.
    int64_t rest = index, n, c, oy, ox;
    if (a.out_channels_last) {
      c = rest % a.channels, rest /= a.channels;
      ox = rest % a.x.out, rest /= a.x.out;
      oy = rest % a.y.out, n = rest / a.y.out;
    } else {
      ox = rest % a.x.out, rest /= a.x.out;
      oy = rest % a.y.out, rest /= a.y.out;
      c = rest % a.channels, n = rest / a.channels;
    }
    const FirstTap ty = first_tap(a.y, oy), tx = first_tap(a.x, ox);
    const T* plane = x + n * a.x_strides[0] + c * a.x_strides[1];
    Acc sum = Acc(0);
    for (int64_t ky = ty.k, iy = ty.i; ky < a.y.taps; ky += a.y.up, ++iy) {
      if (iy < 0 || iy >= a.y.size) continue;
      // The filter flipped (a convolution) unless flip_filter (a correlation).
      const int64_t fy = a.flip_filter ? ky : a.y.taps - 1 - ky;
      for (int64_t kx = tx.k, ix = tx.i; kx < a.x.taps; kx += a.x.up, ++ix) {
        if (ix < 0 || ix >= a.x.size) continue;
        const int64_t fx = a.flip_filter ? kx : a.x.taps - 1 - kx;
        sum += to_acc(filter[fy * a.x.taps + fx]) * to_acc(plane[iy * a.x_strides[2] + ix * a.x_strides[3]]);
      }
    }
    assign(out[n * a.out_strides[0] + c * a.out_strides[1] + oy * a.out_strides[2] + ox * a.out_strides[3]],
           gain * sum);
  }
}

}  // namespace

cudaError_t upfirdn2d(DType dtype, const Upfirdn2dArgs& args, cudaStream_t stream) {
  const int64_t total = args.batch * args.channels * args.y.out * args.x.out;
  if (total == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((total + kThreads - 1) / kThreads, kMaxBlocks));
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    PYGAN_LAUNCH(upfirdn2d_kernel<T>, blocks, kThreads, stream, args);
    return cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace pygan

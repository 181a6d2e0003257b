// CUDA kernel of pygan::bias_act and pygan::bias_act_grad: one thread per
// element (a grid-stride loop), the element function of activations.h. The
// kernels are instantiated per activation and dtype only; the order and
// the clamp, the same for every thread, are chosen inside (fewer kernels to
// compile, at the price of a uniform branch). 16-bit inputs are computed in
// float32.
#include "bias_act.cuh"

#include "launch.cuh"
#include "numeric.cuh"

#include <algorithm>
#include <cstdint>

namespace pygan {
namespace cuda {
namespace {

constexpr int kThreads = 256;
// Blocks of a launch; the grid-stride loop covers the rest.
constexpr int64_t kMaxBlocks = 4096;

template <typename T>
struct Elements {
  const T* x;
  const T* grad;
  const T* bias;
  T* out;
  int64_t numel, run, count;
  int order;
  bool clamped;
  typename Accum<T>::type alpha, gain, clamp;
};

template <Activation A, int kOrder, typename Acc>
__device__ __forceinline__ Acc element(bool clamped, Acc v, Acc g, Acc alpha, Acc gain, Acc clamp) {
  return clamped ? bias_act_element<A, kOrder, true>(v, g, alpha, gain, clamp)
                 : bias_act_element<A, kOrder, false>(v, g, alpha, gain, clamp);
}

template <Activation A, typename T>
__global__ void __launch_bounds__(kThreads) bias_act_kernel(const Elements<T> e) {
  using Acc = typename Accum<T>::type;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < e.numel; i += stride) {
    Acc v = to_acc(e.x[i]);
    if (e.bias != nullptr) v += to_acc(e.bias[e.run == 1 ? i % e.count : i / e.run % e.count]);
    Acc y;
    if (e.order == 0) {
      y = element<A, 0>(e.clamped, v, Acc(0), e.alpha, e.gain, e.clamp);
    } else {
      const Acc g = to_acc(e.grad[i]);
      y = e.order == 1 ? element<A, 1>(e.clamped, v, g, e.alpha, e.gain, e.clamp)
                       : element<A, 2>(e.clamped, v, g, e.alpha, e.gain, e.clamp);
    }
    assign(e.out[i], y);
  }
}

}  // namespace

cudaError_t bias_act(DType dtype, const BiasActArgs& a, cudaStream_t stream) {
  if (a.numel == 0) return cudaSuccess;
  const auto blocks = static_cast<unsigned>(std::min<int64_t>((a.numel + kThreads - 1) / kThreads, kMaxBlocks));
  return dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    using Acc = typename Accum<T>::type;
    const Elements<T> e{static_cast<const T*>(a.x), static_cast<const T*>(a.grad), static_cast<const T*>(a.bias),
                        static_cast<T*>(a.out),           a.numel,
                        a.run,                            a.count,
                        a.order,                          a.clamped,
                        static_cast<Acc>(a.alpha),        static_cast<Acc>(a.gain),
                        static_cast<Acc>(a.clamp)};
    dispatch_activation(a.act, [&](auto act) {
      PYGAN_LAUNCH(bias_act_kernel<decltype(act)::value>, blocks, kThreads, stream, e);
    });
    return cudaGetLastError();
  });
}

}  // namespace cuda
}  // namespace pygan

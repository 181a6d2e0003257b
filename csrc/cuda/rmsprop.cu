// CUDA kernels of pygan::rmsprop_step_: every parameter of a network in a few
// launches (a batch of tensors per launch, one grid row per tensor), then one
// thread that counts the update.
#include <algorithm>

#include "rmsprop.cuh"

#include "launch.cuh"

namespace pygan {
namespace cuda {
namespace {

// Tensors per launch: their pointers travel in the kernel's arguments, which
// must stay under 4 KiB.
constexpr int kTensorsPerLaunch = 48;
constexpr int kThreads = 256;
constexpr int kMaxBlocksPerTensor = 1024;

struct TensorBatch {
  float* param[kTensorsPerLaunch];
  const float* grad[kTensorsPerLaunch];
  float* square_avg[kTensorsPerLaunch];
  int64_t numel[kTensorsPerLaunch];
};

__global__ void rmsprop_step_kernel(TensorBatch batch, const bool* skip, const int64_t* updates,
                                    RmspropSettings settings) {
  if (*skip) {
    return;
  }
  // The same float32 arithmetic, in the same order, as torch.optim.RMSprop.
  const auto lr_t = static_cast<float>(settings.lr / (1.0 + settings.decay * static_cast<double>(*updates)));
  const auto rho = static_cast<float>(settings.alpha), one_minus_rho = static_cast<float>(1.0 - settings.alpha);
  const auto epsilon = static_cast<float>(settings.eps);
  const int t = blockIdx.y;
  float* param = batch.param[t];
  const float* grad = batch.grad[t];
  float* square_avg = batch.square_avg[t];
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < batch.numel[t]; j += stride) {
    const float g = grad[j];
    const float v = __fadd_rn(__fmul_rn(square_avg[j], rho), __fmul_rn(__fmul_rn(one_minus_rho, g), g));
    square_avg[j] = v;
    param[j] = __fsub_rn(param[j], __fmul_rn(lr_t, __fdiv_rn(g, __fadd_rn(sqrtf(v), epsilon))));
  }
}

// Runs after every batch of the update (same stream), which read *updates.
__global__ void count_update_kernel(const bool* skip, int64_t* updates) {
  if (!*skip) {
    ++*updates;
  }
}

}  // namespace

cudaError_t rmsprop_step(int count, float* const* params, const float* const* grads, float* const* square_avgs,
                         const int64_t* numels, const bool* skip, int64_t* updates, const RmspropSettings& settings,
                         cudaStream_t stream) {
  for (int first = 0; first < count; first += kTensorsPerLaunch) {
    const int size = std::min(kTensorsPerLaunch, count - first);
    TensorBatch batch{};
    int64_t largest = 1;
    for (int t = 0; t < size; ++t) {
      batch.param[t] = params[first + t];
      batch.grad[t] = grads[first + t];
      batch.square_avg[t] = square_avgs[first + t];
      batch.numel[t] = numels[first + t];
      largest = std::max(largest, numels[first + t]);
    }
    const auto blocks = static_cast<unsigned>(std::min<int64_t>((largest + kThreads - 1) / kThreads, kMaxBlocksPerTensor));
    PYGAN_LAUNCH(rmsprop_step_kernel, dim3(blocks, size), kThreads, stream, batch, skip, updates, settings);
  }
  PYGAN_LAUNCH(count_update_kernel, 1, 1, stream, skip, updates);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace pygan

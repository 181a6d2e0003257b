// CUDA registration of pygan::rmsprop_step_: checks, then the launcher of
// rmsprop.cu on the current stream.
#include <ATen/ATen.h>
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include <vector>

#include "rmsprop.cuh"
#include "rmsprop.h"

namespace pygan {
namespace {

void rmsprop_step_cuda(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
                       const at::Tensor& updates, const at::Tensor& skip, double lr, double decay, double alpha,
                       double eps) {
  check_rmsprop_step(params, grads, square_avgs, updates, skip, c10::DeviceType::CUDA);
  const c10::cuda::CUDAGuard guard(updates.device());
  std::vector<float*> param_ptrs, square_avg_ptrs;
  std::vector<const float*> grad_ptrs;
  std::vector<int64_t> numels;
  for (size_t i = 0; i < params.size(); ++i) {
    param_ptrs.push_back(params[i].mutable_data_ptr<float>());
    grad_ptrs.push_back(grads[i].const_data_ptr<float>());
    square_avg_ptrs.push_back(square_avgs[i].mutable_data_ptr<float>());
    numels.push_back(params[i].numel());
  }
  C10_CUDA_CHECK(cuda::rmsprop_step(static_cast<int>(params.size()), param_ptrs.data(), grad_ptrs.data(),
                                    square_avg_ptrs.data(), numels.data(), skip.const_data_ptr<bool>(),
                                    updates.mutable_data_ptr<int64_t>(), cuda::RmspropSettings{lr, decay, alpha, eps},
                                    at::cuda::getCurrentCUDAStream()));
}

}  // namespace

TORCH_LIBRARY_IMPL(pygan, CUDA, m) { m.impl("rmsprop_step_", &rmsprop_step_cuda); }

}  // namespace pygan

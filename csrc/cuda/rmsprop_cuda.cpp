// CUDA registration of pygan::rmsprop_step_: checks, then the launcher of
// rmsprop.cu on the current stream. Only torch's stable ABI is used.
#include <torch/csrc/stable/accelerator.h>
#include <torch/csrc/stable/library.h>

#include <vector>

#include "cuda_stable.h"
#include "rmsprop.cuh"
#include "rmsprop.h"

namespace pygan {
namespace {

void rmsprop_step_cuda(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                       const std::vector<Tensor>& square_avgs, const Tensor& updates, const Tensor& skip, double lr,
                       double decay, double alpha, double eps) {
  check_rmsprop_step(params, grads, square_avgs, updates, skip, torch::headeronly::DeviceType::CUDA);
  const torch::stable::accelerator::DeviceGuard guard(updates.get_device_index());
  std::vector<float*> param_ptrs, square_avg_ptrs;
  std::vector<const float*> grad_ptrs;
  std::vector<int64_t> numels;
  for (size_t i = 0; i < params.size(); ++i) {
    param_ptrs.push_back(params[i].mutable_data_ptr<float>());
    grad_ptrs.push_back(grads[i].const_data_ptr<float>());
    square_avg_ptrs.push_back(square_avgs[i].mutable_data_ptr<float>());
    numels.push_back(params[i].numel());
  }
  STD_CUDA_CHECK(cuda::rmsprop_step(static_cast<int>(params.size()), param_ptrs.data(), grad_ptrs.data(),
                                    square_avg_ptrs.data(), numels.data(), skip.const_data_ptr<bool>(),
                                    updates.mutable_data_ptr<int64_t>(), cuda::RmspropSettings{lr, decay, alpha, eps},
                                    current_stream(updates)));
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CUDA, m) { m.impl("rmsprop_step_", TORCH_BOX(&rmsprop_step_cuda)); }

}  // namespace pygan

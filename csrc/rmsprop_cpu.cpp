// CPU kernel of pygan::rmsprop_step_: one pass over each parameter, reading
// the skip flag and the update count from tensors (see ops.cpp).
#include <torch/csrc/stable/library.h>

#include <cmath>
#include <vector>

#include "rmsprop.h"
#include "stable_utils.h"

namespace pygan {
namespace {

constexpr int64_t kGrain = 1 << 14;

// One parameter's elements [begin, end). The pointers are declared not to
// alias and -fno-math-errno (CMakeLists.txt) lets sqrt be an instruction, so
// the loop is vectorised; IEEE sqrt and division are exact to the rounding,
// so the results are bit for bit the scalar loop's.
void update_range(float* __restrict param, const float* __restrict grad, float* __restrict square_avg,
                  int64_t begin, int64_t end, float lr_t, float rho, float one_minus_rho, float epsilon) {
  for (int64_t j = begin; j < end; ++j) {
    const float g = grad[j];
    const float v = square_avg[j] * rho + one_minus_rho * g * g;
    square_avg[j] = v;
    param[j] -= lr_t * (g / (std::sqrt(v) + epsilon));
  }
}

void rmsprop_step_cpu(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                      const std::vector<Tensor>& square_avgs, const Tensor& updates, const Tensor& skip, double lr,
                      double decay, double alpha, double eps) {
  check_rmsprop_step(params, grads, square_avgs, updates, skip, torch::headeronly::DeviceType::CPU);
  if (*skip.const_data_ptr<bool>()) {
    return;
  }
  int64_t& count = *updates.mutable_data_ptr<int64_t>();
  // The same float32 arithmetic, in the same order, as torch.optim.RMSprop.
  const auto lr_t = static_cast<float>(lr / (1.0 + decay * static_cast<double>(count)));
  const auto rho = static_cast<float>(alpha), one_minus_rho = static_cast<float>(1.0 - alpha);
  const auto epsilon = static_cast<float>(eps);
  for (size_t i = 0; i < params.size(); ++i) {
    float* param = params[i].mutable_data_ptr<float>();
    const float* grad = grads[i].const_data_ptr<float>();
    float* square_avg = square_avgs[i].mutable_data_ptr<float>();
    // Captured by value: the loop reads local pointers, not references the
    // compiler must assume any store could change.
    torch::stable::parallel_for(0, params[i].numel(), kGrain, [=](int64_t begin, int64_t end) {
      update_range(param, grad, square_avg, begin, end, lr_t, rho, one_minus_rho, epsilon);
    });
  }
  ++count;
}

}  // namespace

STABLE_TORCH_LIBRARY_IMPL(pygan, CPU, m) { m.impl("rmsprop_step_", TORCH_BOX(&rmsprop_step_cpu)); }

}  // namespace pygan

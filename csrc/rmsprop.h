// Argument checks of pygan::rmsprop_step_, shared by its CPU and CUDA kernels.
#pragma once

#include <ATen/ATen.h>

namespace pygan {

inline void check_rmsprop_step(at::TensorList params, at::TensorList grads, at::TensorList square_avgs,
                               const at::Tensor& updates, const at::Tensor& skip, c10::DeviceType device) {
  constexpr const char* kOp = "pygan::rmsprop_step_";
  TORCH_CHECK(grads.size() == params.size() && square_avgs.size() == params.size(), kOp, ": got ", params.size(),
              " parameters, ", grads.size(), " gradients and ", square_avgs.size(),
              " square averages; expected as many of each");
  TORCH_CHECK(updates.device().type() == device && updates.scalar_type() == at::kLong && updates.numel() == 1, kOp,
              ": updates must be a one-element int64 tensor on ", device, ", got ", updates.scalar_type(), " ",
              updates.sizes(), " on ", updates.device());
  TORCH_CHECK(skip.device() == updates.device() && skip.scalar_type() == at::kBool && skip.numel() == 1, kOp,
              ": skip must be a one-element bool tensor on ", updates.device(), ", got ", skip.scalar_type(), " ",
              skip.sizes(), " on ", skip.device());
  for (size_t i = 0; i < params.size(); ++i) {
    const at::Tensor& p = params[i];
    TORCH_CHECK(p.device() == updates.device() && p.scalar_type() == at::kFloat, kOp, ": parameter ", i,
                " is ", p.scalar_type(), " on ", p.device(), "; expected float32 on ", updates.device());
    TORCH_CHECK(p.is_non_overlapping_and_dense(), kOp, ": parameter ", i, " is not dense in memory");
    // Elementwise over memory: a gradient or average laid out differently
    // from its parameter would pair the wrong elements.
    for (const auto& [name, t] : {std::pair<const char*, const at::Tensor&>{"gradient", grads[i]},
                                  std::pair<const char*, const at::Tensor&>{"square average", square_avgs[i]}}) {
      TORCH_CHECK(t.device() == p.device() && t.scalar_type() == at::kFloat && t.sizes() == p.sizes() &&
                      t.strides() == p.strides(),
                  kOp, ": the ", name, " of parameter ", i, " (", t.scalar_type(), " ", t.sizes(), ", strides ",
                  t.strides(), ", on ", t.device(), ") does not match the parameter (float32 ", p.sizes(),
                  ", strides ", p.strides(), ", on ", p.device(), ")");
    }
  }
}

}  // namespace pygan

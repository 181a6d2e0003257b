// Argument checks of pygan::rmsprop_step_, shared by its CPU and CUDA kernels.
#pragma once

#include <utility>
#include <vector>

#include "stable_utils.h"

namespace pygan {

inline void check_rmsprop_step(const std::vector<Tensor>& params, const std::vector<Tensor>& grads,
                               const std::vector<Tensor>& square_avgs, const Tensor& updates, const Tensor& skip,
                               torch::headeronly::DeviceType device) {
  constexpr const char* kOp = "pygan::rmsprop_step_";
  PYGAN_CHECK(grads.size() == params.size() && square_avgs.size() == params.size(), kOp, ": got ", params.size(),
              " parameters, ", grads.size(), " gradients and ", square_avgs.size(),
              " square averages; expected as many of each");
  PYGAN_CHECK(updates.device().type() == device && updates.scalar_type() == ScalarType::Long && updates.numel() == 1,
              kOp, ": updates must be a one-element int64 tensor on ", DeviceName{Device(device)}, ", got ",
              updates.scalar_type(), " ", Sizes{updates.sizes()}, " on ", DeviceName{updates.device()});
  PYGAN_CHECK(skip.device() == updates.device() && skip.scalar_type() == ScalarType::Bool && skip.numel() == 1, kOp,
              ": skip must be a one-element bool tensor on ", DeviceName{updates.device()}, ", got ",
              skip.scalar_type(), " ", Sizes{skip.sizes()}, " on ", DeviceName{skip.device()});
  for (size_t i = 0; i < params.size(); ++i) {
    const Tensor& p = params[i];
    PYGAN_CHECK(p.device() == updates.device() && p.scalar_type() == ScalarType::Float, kOp, ": parameter ", i,
                " is ", p.scalar_type(), " on ", DeviceName{p.device()}, "; expected float32 on ",
                DeviceName{updates.device()});
    PYGAN_CHECK(is_non_overlapping_and_dense(p), kOp, ": parameter ", i, " is not dense in memory");
    // Elementwise over memory: a gradient or average laid out differently
    // from its parameter would pair the wrong elements.
    for (const auto& [name, t] : {std::pair<const char*, const Tensor&>{"gradient", grads[i]},
                                  std::pair<const char*, const Tensor&>{"square average", square_avgs[i]}}) {
      PYGAN_CHECK(t.device() == p.device() && t.scalar_type() == ScalarType::Float && t.sizes().equals(p.sizes()) &&
                      t.strides().equals(p.strides()),
                  kOp, ": the ", name, " of parameter ", i, " (", t.scalar_type(), " ", Sizes{t.sizes()},
                  ", strides ", Sizes{t.strides()}, ", on ", DeviceName{t.device()},
                  ") does not match the parameter (float32 ", Sizes{p.sizes()}, ", strides ", Sizes{p.strides()},
                  ", on ", DeviceName{p.device()}, ")");
    }
  }
}

}  // namespace pygan

// The element types of pygan's CUDA launchers: an argument of every launcher
// (the glue maps torch's dtype to it, cuda_stable.h), and the types the
// kernels are instantiated for (numeric.cuh). No torch header.
#pragma once

namespace pygan {
namespace cuda {

enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16 };

}  // namespace cuda
}  // namespace pygan

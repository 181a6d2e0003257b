// pygan._C: what the compiled kernels were built with, for pygan info and
// for pygan/ops/_extension.py to decide whether they can load into the running
// torch. The kernels themselves are the separate libraries libpygan_ops.so
// and libpygan_ops_cuda.so (CMakeLists.txt), registered through torch's
// stable ABI; this module uses no torch header and links no torch library,
// so it imports under any torch, even one the kernels cannot load into, and
// can say why.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <sstream>
#include <string>
#include <vector>

namespace py = pybind11;

namespace {

// The instruction-set extensions the compiler was allowed to use (this file
// is compiled with the kernels' flags, -march=native unless PYGAN_PORTABLE):
// a CPU without one of them cannot run the kernels.
std::vector<std::string> cpu_features() {
  std::vector<std::string> features;
#ifdef __SSE4_2__
  features.push_back("sse4.2");
#endif
#ifdef __AVX__
  features.push_back("avx");
#endif
#ifdef __AVX2__
  features.push_back("avx2");
#endif
#ifdef __FMA__
  features.push_back("fma");
#endif
#ifdef __AVX512F__
  features.push_back("avx512f");
#endif
#ifdef __AVX512BW__
  features.push_back("avx512bw");
#endif
#ifdef __AVX512VL__
  features.push_back("avx512vl");
#endif
#ifdef __ARM_NEON
  features.push_back("neon");
#endif
#ifdef __ARM_FEATURE_SVE
  features.push_back("sve");
#endif
  return features;
}

std::vector<std::string> words(const std::string& text) {
  std::istringstream stream(text);
  std::vector<std::string> result;
  for (std::string word; stream >> word;) result.push_back(word);
  return result;
}

}  // namespace

PYBIND11_MODULE(_C, module) {
  module.doc() = "Build record of pygan's compiled operators (libpygan_ops.so and libpygan_ops_cuda.so, under torch.ops.pygan)";
  module.attr("torch_version") = PYGAN_TORCH_VERSION;      // the torch whose headers the kernels were built with
  module.attr("min_torch_version") = PYGAN_MIN_TORCH;      // the stable ABI release they target
  module.attr("ops_library") = PYGAN_OPS_LIBRARY;          // the schemas and CPU kernels' file name, beside this module
  module.attr("cpu_features") = cpu_features();
  // The CUDA kernels: a second library beside the first, built wherever nvcc
  // was found (CMakeLists.txt), whatever the build's torch.
  module.attr("with_cuda") = std::string(PYGAN_CUDA_LIBRARY).size() > 0;
  module.attr("cuda_library") = PYGAN_CUDA_LIBRARY;        // its file name; "" when not built
  module.attr("cuda_version") = PYGAN_CUDA_VERSION;        // the nvcc that compiled it
  module.attr("cuda_architectures") = words(PYGAN_CUDA_ARCHITECTURES);  // sm_N: a cubin; compute_N: PTX
  module.attr("cuda_skipped") = PYGAN_CUDA_SKIPPED;        // why it was not built
}

// Just enough of the CUDA runtime for pygan's kernels to compile with a host
// C++ compiler and run on the CPU (see csrc/cuda/launch.cuh): the blocks of
// a launch run in turn, each CUDA thread a std::thread, with __syncthreads a
// barrier among them and __shared__ memory a static they share. Used only by
// tests/test_cuda_emulation.py.
#pragma once

#include <algorithm>
#include <barrier>
#include <cmath>
#include <cstdint>
#include <thread>
#include <vector>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static

using cudaStream_t = void*;
enum cudaError_t { cudaSuccess = 0, cudaErrorInvalidValue = 1, cudaErrorInvalidConfiguration = 9 };

struct uint3 {
  unsigned x, y, z;
};
struct dim3 {
  unsigned x, y, z;
  dim3(unsigned x = 1, unsigned y = 1, unsigned z = 1) : x(x), y(y), z(z) {}
};

inline dim3 gridDim, blockDim;
inline thread_local uint3 blockIdx, threadIdx;

namespace pygan::emulation {
inline std::barrier<>* block_barrier = nullptr;
inline cudaError_t last_error = cudaSuccess;

// Refuses what CUDA would refuse to launch, then runs the blocks in turn on
// one team of threads, which waits for all of its members between blocks
// (the next block reuses the same __shared__ memory).
template <typename Body>
void launch(dim3 grid, dim3 block, Body body) {
  const unsigned threads = block.x * block.y * block.z;
  if (grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.y > 65535 || grid.z > 65535 || threads == 0 ||
      threads > 1024) {
    last_error = cudaErrorInvalidConfiguration;
    return;
  }
  gridDim = grid;
  blockDim = block;
  std::barrier<> barrier(threads);
  block_barrier = &barrier;
  std::vector<std::thread> team;
  for (unsigned t = 0; t < threads; ++t) {
    team.emplace_back([&, t] {
      threadIdx = {t % block.x, t / block.x % block.y, t / (block.x * block.y)};
      for (unsigned z = 0; z < grid.z; ++z) {
        for (unsigned y = 0; y < grid.y; ++y) {
          for (unsigned x = 0; x < grid.x; ++x) {
            blockIdx = {x, y, z};
            body();
            barrier.arrive_and_wait();
          }
        }
      }
    });
  }
  for (auto& member : team) member.join();
}
}  // namespace pygan::emulation

inline void __syncthreads() { pygan::emulation::block_barrier->arrive_and_wait(); }

inline cudaError_t cudaGetLastError() {
  const cudaError_t error = pygan::emulation::last_error;
  pygan::emulation::last_error = cudaSuccess;
  return error;
}

// Correctly rounded float arithmetic: what the host does without contraction.
inline float __fadd_rn(float a, float b) { return a + b; }
inline float __fsub_rn(float a, float b) { return a - b; }
inline float __fmul_rn(float a, float b) { return a * b; }
inline float __fdiv_rn(float a, float b) { return a / b; }
inline float sqrtf(float x) { return std::sqrt(x); }
// CUDA's integer min and max for device code.
using std::max;
using std::min;

// PYGAN_LAUNCH(kernel, grid, block, stream, args...): kernel<<<grid, block, 0,
// stream>>>(args...) under nvcc. Under PYGAN_CUDA_EMULATION (a host compiler
// with tests/cuda_emulation/ on the include path) the same kernel code runs on
// the CPU, one thread per CUDA thread, so CPU-only CI tests its index
// arithmetic against the reference (tests/test_cuda_emulation.py).
#pragma once

#ifdef PYGAN_CUDA_EMULATION
#define PYGAN_LAUNCH(kernel, grid, block, stream, ...) \
  ::pygan::emulation::launch((grid), (block), [&] { kernel(__VA_ARGS__); })
#else
#define PYGAN_LAUNCH(kernel, grid, block, stream, ...) kernel<<<(grid), (block), 0, (stream)>>>(__VA_ARGS__)
#endif

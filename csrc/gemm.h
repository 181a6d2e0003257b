// A small single-threaded GEMM for the fused kernels.
//
// torch's CPU BLAS (MKL) takes a 256-bit code path on AMD processors: on the
// AVX-512 machine pygan is benchmarked on, single-threaded at::mm reaches
// about 100 GFLOP/s on the discriminator's shapes and this kernel about twice
// that. It is written with GCC vector extensions, so -march=native picks the
// machine's vector width on any vendor's CPU, and is the textbook GotoBLAS
// loop nest: K in cache-sized slices, a register tile of MR rows by two
// vectors of columns, edge rows in a shorter tile, edge columns computed in
// zero-padded copies.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace pygan {

#ifdef __AVX512F__
constexpr int64_t kVectorBytes = 64;
#else
constexpr int64_t kVectorBytes = 32;
#endif

template <typename T>
struct Simd {
  typedef T vec __attribute__((vector_size(kVectorBytes)));
  static constexpr int64_t lanes = kVectorBytes / sizeof(T);
};

// Strided view of a matrix operand: element (i, k) is at data[i * row + k * col].
template <typename T>
struct Operand {
  const T* data;
  int64_t row, col;

  T at(int64_t i, int64_t k) const { return data[i * row + k * col]; }
  Operand block(int64_t i, int64_t k) const { return {data + i * row + k * col, row, col}; }
};

// Operand read through two offset tables: element (i, k) is at
// data[rows[i] + cols[k]]. A convolution's patch matrix is one, read in place
// from a padded image: rows[i] is output pixel i's first tap, cols[k] the
// offset of tap k from it.
template <typename T>
struct Gather {
  const T* data;
  const int64_t* rows;
  const int64_t* cols;

  T at(int64_t i, int64_t k) const { return data[rows[i] + cols[k]]; }
  Gather block(int64_t i, int64_t k) const { return {data, rows + i, cols + k}; }
};

namespace detail {

// MR: the 2 * MR accumulators, two B vectors and a broadcast fit the vector
// registers (32 with AVX-512, 16 otherwise).
constexpr int64_t kTileRows = kVectorBytes == 64 ? 12 : 6;
constexpr int64_t kSliceDepth = 256;  // K slice: a B panel of 256 x NR stays in L1.

// c[MR x NR] (+)= a[MR x depth] * b[depth x NR], b rows contiguous with stride ldb.
template <int64_t MR, typename T, typename A>
inline void tile(int64_t depth, A a, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  using V = typename Simd<T>::vec;
  constexpr int64_t L = Simd<T>::lanes;
  V acc[MR][2];
#pragma GCC unroll 12
  for (int64_t i = 0; i < MR; ++i) {
    if (accumulate) {
      std::memcpy(&acc[i][0], c + i * ldc, sizeof(V));
      std::memcpy(&acc[i][1], c + i * ldc + L, sizeof(V));
    } else {
      acc[i][0] = V{};
      acc[i][1] = V{};
    }
  }
  for (int64_t k = 0; k < depth; ++k) {
    V b0, b1;
    std::memcpy(&b0, b + k * ldb, sizeof(V));
    std::memcpy(&b1, b + k * ldb + L, sizeof(V));
#pragma GCC unroll 12
    for (int64_t i = 0; i < MR; ++i) {
      const T ai = a.at(i, k);
      acc[i][0] += ai * b0;
      acc[i][1] += ai * b1;
    }
  }
#pragma GCC unroll 12
  for (int64_t i = 0; i < MR; ++i) {
    std::memcpy(c + i * ldc, &acc[i][0], sizeof(V));
    std::memcpy(c + i * ldc + L, &acc[i][1], sizeof(V));
  }
}

// The tile of `rows` (1 to MR) rows: edge rows are computed by a tile of just
// their height, which reads and writes no row outside the operands and wastes
// no products on padding rows (a GEMM of 25 rows, a 5x5 kernel's taps, would
// otherwise compute 36).
template <int64_t MR, typename T, typename A>
inline void tile_rows(int64_t rows, int64_t depth, A a, const T* b, int64_t ldb, T* c, int64_t ldc,
                      bool accumulate) {
  if constexpr (MR > 1) {
    if (rows < MR) return tile_rows<MR - 1>(rows, depth, a, b, ldb, c, ldc, accumulate);
  }
  tile<MR>(depth, a, b, ldb, c, ldc, accumulate);
}

}  // namespace detail

// c[m x n] = a[m x k] * b[k x n] (+ c when accumulate). b's rows (stride ldb)
// and c's rows (stride ldc) are contiguous; a is an Operand or a Gather.
template <typename T, typename A>
void gemm(int64_t m, int64_t n, int64_t k, A a, const T* b, int64_t ldb, T* c, int64_t ldc, bool accumulate) {
  using detail::kSliceDepth;
  using detail::kTileRows;
  constexpr int64_t NR = 2 * Simd<T>::lanes;
  if (k == 0 && !accumulate) {
    for (int64_t i = 0; i < m; ++i) std::fill_n(c + i * ldc, n, T(0));
  }
  // Zero-padded copies for the edge columns, so the register tile never
  // reads or writes outside the operands.
  T b_edge[kSliceDepth * NR];
  T c_edge[kTileRows * NR];
  for (int64_t k0 = 0; k0 < k; k0 += kSliceDepth) {
    const int64_t depth = std::min(kSliceDepth, k - k0);
    const bool add = accumulate || k0 > 0;
    for (int64_t j0 = 0; j0 < n; j0 += NR) {
      const int64_t cols = std::min(NR, n - j0);
      const T* b_panel = b + k0 * ldb + j0;
      int64_t b_stride = ldb;
      if (cols < NR) {
        for (int64_t kk = 0; kk < depth; ++kk) {
          std::fill(std::copy_n(b_panel + kk * ldb, cols, b_edge + kk * NR), b_edge + (kk + 1) * NR, T(0));
        }
        b_panel = b_edge;
        b_stride = NR;
      }
      for (int64_t i0 = 0; i0 < m; i0 += kTileRows) {
        const int64_t rows = std::min(kTileRows, m - i0);
        const A a_tile = a.block(i0, k0);
        if (cols == NR) {
          detail::tile_rows<kTileRows>(rows, depth, a_tile, b_panel, b_stride, c + i0 * ldc + j0, ldc, add);
          continue;
        }
        std::fill_n(c_edge, kTileRows * NR, T(0));
        if (add) {
          for (int64_t i = 0; i < rows; ++i) std::copy_n(c + (i0 + i) * ldc + j0, cols, c_edge + i * NR);
        }
        detail::tile_rows<kTileRows>(rows, depth, a_tile, b_panel, b_stride, c_edge, NR, add);
        for (int64_t i = 0; i < rows; ++i) std::copy_n(c_edge + i * NR, cols, c + (i0 + i) * ldc + j0);
      }
    }
  }
}

}  // namespace pygan

// Winograd's minimal filtering F(4x4, 5x5) and F(4x4, 3x3): the arithmetic
// of the CPU leaky_relu_conv2d kernels' path for 5x5 layers of stride 1 and 2
// (leaky_relu_conv2d_cpu.cpp says when they take it, and how a stride-2
// layer becomes a stride-1 3x3 one). No torch header: the matrices and
// transforms are plain C++.
//
// Direct convolution spends K * K products per output pixel and pair of
// input and output channels. F(4x4, KxK) computes a 4x4 tile of output from
// the T x T tile of input under it (T = 4 + K - 1) with T * T products per
// channel pair: 64 for 16 pixels where a 5x5 kernel takes 400, 36 where a
// 3x3 takes 144. In one dimension, with d the T inputs, g the K taps and
// y[i] = sum_k d[i + k] g[k] the 4 outputs,
//
//     y = AT [(G g) * (BT d)]          (* elementwise)
//
// and in two, each matrix applied along both axes,
//
//     Y = AT [(G g G^T) * (BT d B)] A.
//
// Summed over input channels, the elementwise products are T * T matrix
// products, one per element of the transformed tile: transformed input tiles
// [tiles, C] times transformed weights [C, O].
//
// The matrices are Toom-Cook's, transposed: the correlation above is the
// transpose of the linear convolution that Toom-Cook computes by evaluating
// both polynomials at T points (V_K g, V_4 h), multiplying, and interpolating
// (V_T^-1). So AT = V_4^T, G = V_K and BT = V_T^-T, where V_n[j][c] =
// point_j^c and the row of the point at infinity picks the leading
// coefficient. Each row of G is then scaled and the same row of BT divided
// by the same factor, which leaves the product unchanged and BT with small
// entries exact in binary. In float32 the error is several times direct
// convolution's, F(4x4, 5x5)'s most: its rows for 2 and 1/2 subtract large
// terms (tests/test_ops_winograd.py measures it).
//
// The gradients are the same algorithm transposed: with dM = A dY AT the
// output gradient's transform, the input gradient is B [dM U^T] BT (U the
// transformed weights) and the weight gradient G^T [V^T dM] G (V the
// transformed inputs), each again T * T matrix products.
#pragma once

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace pygan::winograd {

constexpr int64_t kOutputTile = 4;  // output pixels per tile side

template <int Rows, int Cols>
struct Matrix {
  double at[Rows][Cols];
};

template <int Rows, int Cols>
constexpr Matrix<Cols, Rows> transposed(const Matrix<Rows, Cols>& m) {
  Matrix<Cols, Rows> t{};
  for (int i = 0; i < Rows; ++i) {
    for (int j = 0; j < Cols; ++j) t.at[j][i] = m.at[i][j];
  }
  return t;
}

// F(4x4, Kernel x Kernel): the matrices, and the input tile's side.
template <int Kernel>
struct Algorithm;

// Points 0, 1, -1, 2, -2, 1/2, -1/2 and infinity.
template <>
struct Algorithm<5> {
  static constexpr int64_t kernel = 5, input_tile = kOutputTile + kernel - 1;
  static constexpr Matrix<4, 8> AT{{
      {1, 1, 1, 1, 1, 1, 1, 0},
      {0, 1, -1, 2, -2, 1.0 / 2, -1.0 / 2, 0},
      {0, 1, 1, 4, 4, 1.0 / 4, 1.0 / 4, 0},
      {0, 1, -1, 8, -8, 1.0 / 8, -1.0 / 8, 1},
  }};
  static constexpr Matrix<8, 5> G{{
      {1, 0, 0, 0, 0},
      {2.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9, 2.0 / 9},
      {2.0 / 9, -2.0 / 9, 2.0 / 9, -2.0 / 9, 2.0 / 9},
      {1.0 / 360, 2.0 / 360, 4.0 / 360, 8.0 / 360, 16.0 / 360},
      {1.0 / 360, -2.0 / 360, 4.0 / 360, -8.0 / 360, 16.0 / 360},
      {16.0 / 45, 8.0 / 45, 4.0 / 45, 2.0 / 45, 1.0 / 45},
      {16.0 / 45, -8.0 / 45, 4.0 / 45, -2.0 / 45, 1.0 / 45},
      {0, 0, 0, 0, 1},
  }};
  static constexpr Matrix<8, 8> BT{{
      {1, 0, -21.0 / 4, 0, 21.0 / 4, 0, -1, 0},
      {0, -1, -1, 17.0 / 4, 17.0 / 4, -1, -1, 0},
      {0, 1, -1, -17.0 / 4, 17.0 / 4, 1, -1, 0},
      {0, 2, 1, -10, -5, 8, 4, 0},
      {0, -2, 1, 10, -5, -8, 4, 0},
      {0, 4, 8, -5, -10, 1, 2, 0},
      {0, -4, 8, 5, -10, -1, 2, 0},
      {0, -1, 0, 21.0 / 4, 0, -21.0 / 4, 0, 1},
  }};
  static constexpr auto A = transposed(AT), GT = transposed(G);
  static constexpr auto B = transposed(BT);
};

// Points 0, 1, -1, 2, -2 and infinity.
template <>
struct Algorithm<3> {
  static constexpr int64_t kernel = 3, input_tile = kOutputTile + kernel - 1;
  static constexpr Matrix<4, 6> AT{{
      {1, 1, 1, 1, 1, 0},
      {0, 1, -1, 2, -2, 0},
      {0, 1, 1, 4, 4, 0},
      {0, 1, -1, 8, -8, 1},
  }};
  static constexpr Matrix<6, 3> G{{
      {1.0 / 4, 0, 0},
      {-1.0 / 6, -1.0 / 6, -1.0 / 6},
      {-1.0 / 6, 1.0 / 6, -1.0 / 6},
      {1.0 / 24, 1.0 / 12, 1.0 / 6},
      {1.0 / 24, -1.0 / 12, 1.0 / 6},
      {0, 0, 1},
  }};
  static constexpr Matrix<6, 6> BT{{
      {4, 0, -5, 0, 1, 0},
      {0, -4, -4, 1, 1, 0},
      {0, 4, -4, -1, 1, 0},
      {0, -2, -1, 2, 1, 0},
      {0, 2, -1, -2, 1, 0},
      {0, 4, 0, -5, 0, 1},
  }};
  static constexpr auto A = transposed(AT), GT = transposed(G);
  static constexpr auto B = transposed(BT);
};

// The points come in pairs p and -p, and so do the columns of AT, G^T and
// B: column l mirrors column k when m[r][l] = (-1)^r m[r][k] for every row
// r. Then the sum v[k] + v[l] serves m's even rows and the difference
// v[k] - v[l] its odd ones, one product each where two were needed: 20 to
// 25% faster (the rows of BT, G and A mirror alike, but summing their even
// and odd parts apart measured 10 to 15% slower than plain rows).
template <int Rows, int Cols>
struct Mirrors {
  int col[Cols];             // the column mirroring column k, after it; -1 if none
  bool col_is_mirror[Cols];  // column k mirrors an earlier one
  bool any;
};

template <int Rows, int Cols>
constexpr Mirrors<Rows, Cols> mirrors(const Matrix<Rows, Cols>& m) {
  Mirrors<Rows, Cols> found{};
  auto mirror = [&](int k, int l) {
    bool odd = false;  // a column with odd rows (one without is its own mirror)
    for (int r = 0; r < Rows; ++r) {
      if (m.at[r][l] != (r % 2 ? -m.at[r][k] : m.at[r][k])) return false;
      odd = odd || (r % 2 && m.at[r][k] != 0);
    }
    return odd;
  };
  for (int k = 0; k < Cols; ++k) found.col[k] = -1;
  for (int k = 0; k < Cols; ++k) {
    for (int l = k + 1; l < Cols && !found.col_is_mirror[k] && found.col[k] < 0; ++l) {
      if (!found.col_is_mirror[l] && mirror(k, l)) {
        found.col[k] = l;
        found.col_is_mirror[l] = found.any = true;
      }
    }
  }
  return found;
}

// out[r] = sum over k of m[r][k] in[k], for vectors of len elements at
// in + k * in_step and out + r * out_step. m is a template argument so that,
// the loops over its entries unrolled, its zeros and mirrors are resolved at
// compile time; each element is summed in registers, the loop over elements
// vectorized.
template <const auto& m, typename T>
inline void apply(const T* __restrict in, int64_t in_step, T* __restrict out, int64_t out_step, int64_t len) {
  constexpr int Rows = std::size(m.at), Cols = std::size(m.at[0]);
  constexpr auto mirror = mirrors(m);
  if constexpr (!mirror.any) {
    // Row by row, reading the inputs each needs (faster than reading all once, measured).
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      for (int64_t c = 0; c < len; ++c) {
        T sum = 0;
#pragma GCC unroll 8
        for (int k = 0; k < Cols; ++k) {
          if (m.at[r][k] != 0) sum += static_cast<T>(m.at[r][k]) * in[k * in_step + c];
        }
        out[r * out_step + c] = sum;
      }
    }
  } else {
#pragma GCC ivdep
    for (int64_t c = 0; c < len; ++c) {
      T v[Cols];
#pragma GCC unroll 8
      for (int k = 0; k < Cols; ++k) v[k] = in[k * in_step + c];
#pragma GCC unroll 8
      for (int k = 0; k < Cols; ++k) {
        if (mirror.col[k] >= 0) {
          const T sum = v[k] + v[mirror.col[k]], difference = v[k] - v[mirror.col[k]];
          v[k] = sum;
          v[mirror.col[k]] = difference;
        }
      }
#pragma GCC unroll 8
      for (int r = 0; r < Rows; ++r) {
        T sum = 0;
#pragma GCC unroll 8
        for (int k = 0; k < Cols; ++k) {
          if (m.at[r][k] == 0 || mirror.col_is_mirror[k]) continue;
          // A mirrored pair's sum (at k) serves the even rows, its difference (at the mirror) the odd ones.
          sum += static_cast<T>(m.at[r][k]) * (mirror.col[k] >= 0 && r % 2 ? v[mirror.col[k]] : v[k]);
        }
        out[r * out_step + c] = sum;
      }
    }
  }
}

// out[a][b] = sum over y, x of m[a][y] m[b][x] in[y][x], where in[y][x] is
// the vector of n elements at in + y * in_y + x * in_x and out[a][b] the one
// at out + a * out_a + b * out_b: a Rows x Rows grid of vectors from a
// Cols x Cols one, m applied along y, then along x. The vectors are channels
// (or channel pairs). Done in blocks of vector elements, copied into L1
// first: the pass along y reads each input once per output row.
template <const auto& m, typename T>
void transform(const T* in, int64_t in_y, int64_t in_x, T* out, int64_t out_a, int64_t out_b, int64_t n) {
  constexpr int Rows = std::size(m.at), Cols = std::size(m.at[0]);
  constexpr int64_t kBlock = 64;
  // grid[y][x] and along_y[a][x] (= sum over y of m[a][y] grid[y][x]) are
  // vectors of len elements, packed: a row of either is one vector of Cols * len.
  T grid[Cols * Cols * kBlock];
  T along_y[Rows * Cols * kBlock];
  for (int64_t c0 = 0; c0 < n; c0 += kBlock) {
    const int64_t len = std::min(kBlock, n - c0), row = Cols * len;
    for (int y = 0; y < Cols; ++y) {
      for (int x = 0; x < Cols; ++x) std::copy_n(in + y * in_y + x * in_x + c0, len, grid + y * row + x * len);
    }
    apply<m>(grid, row, along_y, row, row);
    for (int a = 0; a < Rows; ++a) apply<m>(along_y + a * row, len, out + a * out_a + c0, out_b, len);
  }
}

}  // namespace pygan::winograd

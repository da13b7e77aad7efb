// Small-M GEMM on a right-hand side packed once into SIMD panels.
//
// The recurrent GEMM of an RNN step multiplies the same weights at every step; Eigen (like
// any BLAS without a pack API) would repack them at every call. Here they are packed once
// per layer call into panels of NR columns ([K][NR] contiguous) and reused for all T steps.
// Each output element is accumulated by one sequential fused multiply-add chain over k,
// whatever tile it falls in, so results do not depend on how work is split across threads.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace seqcore::cpu {

template <typename T>
using AlignedVector = std::vector<T, Eigen::aligned_allocator<T>>;

template <typename T>
struct PanelGemm {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int P = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int NP = 2;        // packets per panel row
  static constexpr int NR = NP * P;   // panel width (columns)
  // Rows per micro-tile: MR*NP accumulators must fit the register file (32 zmm / 16 ymm).
  static constexpr int MR = sizeof(Packet) >= 64 ? 8 : 6;

  static int64_t padded(int64_t cols) { return (cols + NR - 1) / NR * NR; }

  // dst <- panels of B[k][c] = column(c)[k * ld] for k < K, c < cols; column(c) returns a
  // pointer, so a column of B may be a row of W (ld = 1, i.e. B = W^T) or a column of W;
  // nullptr is a zero column. Padding columns are zero.
  template <typename ColumnPtr>
  static void pack(int64_t K, int64_t cols, int64_t ld, ColumnPtr column, AlignedVector<T>& dst) {
    const int64_t np = padded(cols) / NR;
    dst.resize(static_cast<size_t>(np * K * NR));
    const T* src[NR];
    for (int64_t q = 0; q < np; ++q) {
      const int64_t width = std::min<int64_t>(NR, cols - q * NR);
      for (int c = 0; c < width; ++c) src[c] = column(q * NR + c);
      T* panel = dst.data() + q * K * NR;
      for (int64_t k = 0; k < K; ++k) {  // contiguous writes; reads walk `width` streams
        T* out = panel + k * NR;
        for (int c = 0; c < width; ++c) out[c] = src[c] ? src[c][k * ld] : T(0);
        for (int c = static_cast<int>(width); c < NR; ++c) out[c] = T(0);
      }
    }
  }

  // C[M, padded cols] = A[M, K] (row stride lda) * panels (npanels of [K][NR]).
  static void run(int64_t M, int64_t K, const T* A, int64_t lda, const T* panels,
                  int64_t npanels, T* C, int64_t ldc) {
    for (int64_t q = 0; q < npanels; ++q) {
      const T* B = panels + q * K * NR;
      T* Cq = C + q * NR;
      int64_t i = 0;
      for (; i + MR <= M; i += MR) tile<MR>(K, A + i * lda, lda, B, Cq + i * ldc, ldc);
      switch (M - i) {  // row tail, one specialisation per count
        case 7: tile<7>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 6: tile<6>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 5: tile<5>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 4: tile<4>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 3: tile<3>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 2: tile<2>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        case 1: tile<1>(K, A + i * lda, lda, B, Cq + i * ldc, ldc); break;
        default: break;
      }
    }
  }

 private:
  template <int R>
  static inline void tile(int64_t K, const T* A, int64_t lda, const T* B, T* C, int64_t ldc) {
    using namespace Eigen::internal;
    if constexpr (R > MR) {
      return;  // never instantiated for use: tails are < MR
    } else {
      Packet acc[R][NP];
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < NP; ++p) acc[r][p] = pset1<Packet>(T(0));
      for (int64_t k = 0; k < K; ++k) {
        Packet b[NP];
        for (int p = 0; p < NP; ++p) b[p] = pload<Packet>(B + k * NR + p * P);
        for (int r = 0; r < R; ++r) {
          const Packet a = pset1<Packet>(A[r * lda + k]);
          for (int p = 0; p < NP; ++p) acc[r][p] = pmadd(a, b[p], acc[r][p]);
        }
      }
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < NP; ++p) pstoreu(C + r * ldc + p * P, acc[r][p]);
    }
  }
};

}  // namespace seqcore::cpu

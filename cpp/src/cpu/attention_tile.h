// Register-blocked tile products of the flash-attention kernels (attention_cpu.cc).
//
// Every product of the SDPA forward and backward is C[M, W] (=, +=, or alpha_r *=, +=)
// sum_k A(r, k) B[k, c] with
//  * A read through two strides, A(r, k) = A[r * ars + k * aks], so that a tile is used
//    as stored or transposed without a copy (P^T V and dS K read S^T column-wise);
//  * B row-major with row stride ldb, in chunks of NR columns that are either SIMD panels
//    packed here (Q^T, dO^T: [K][NR] each) or rows of the input itself (K, V, Q, dO when
//    their width is a multiple of the packet size: no packing of K or V at all).
// W (the columns computed) is a multiple of the packet size P; callers pad buffers to it.
// Each output element is one sequential chain of fused multiply-adds over k, whatever
// tile it falls in, so results never depend on the thread count.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>
#include <limits>

namespace seqcore::cpu {

enum class TileOp { kSet, kAdd, kScaleAdd };  // C = AB, C += AB, C = alpha_r C + AB

template <typename T>
struct AttnTile {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int P = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int NP = 2;       // packets per column chunk
  static constexpr int NR = NP * P;  // columns per chunk
  // Rows per micro-tile: MR*NP accumulators + NP operands + 1 broadcast within the
  // register file (32 zmm with AVX-512, 16 ymm otherwise), and MR row pointers of A within
  // the general-purpose registers.
  static constexpr int MR = sizeof(Packet) >= 64 ? 8 : 6;

  static int64_t pad_p(int64_t n) { return (n + P - 1) / P * P; }
  static int64_t pad_nr(int64_t n) { return (n + NR - 1) / NR * NR; }

  // dst <- panels [ceil(cols/NR)][K][NR] of B[k][c] = s * src[c * ld + k] (the transpose of
  // the rows src[0..cols)), zero in the padding columns.
  static void pack_t(const T* src, int64_t ld, int64_t cols, int64_t K, T s, T* dst) {
    for (int64_t c0 = 0; c0 < cols; c0 += NR) {
      T* panel = dst + c0 * K;
      const int64_t width = std::min<int64_t>(NR, cols - c0);
      for (int64_t c = 0; c < width; ++c) {
        const T* row = src + (c0 + c) * ld;
        for (int64_t k = 0; k < K; ++k) panel[k * NR + c] = s * row[k];
      }
      for (int64_t k = 0; width < NR && k < K; ++k)
        std::fill(panel + k * NR + width, panel + (k + 1) * NR, T(0));
    }
  }

  // dst <- one panel [K][NR] of B[k][c] = src[k * ld + c] (c < cols <= NR), zero-padded.
  static void pack_n(const T* src, int64_t ld, int64_t K, int64_t cols, T* dst) {
    for (int64_t k = 0; k < K; ++k) {
      std::copy(src + k * ld, src + k * ld + cols, dst + k * NR);
      std::fill(dst + k * NR + cols, dst + (k + 1) * NR, T(0));
    }
  }

  // dst [rows][W] <- src rows of `cols` elements (row stride ld), zero-padded to W.
  static void copy_pad(const T* src, int64_t ld, int64_t rows, int64_t cols, int64_t W, T* dst) {
    for (int64_t r = 0; r < rows; ++r) {
      std::copy(src + r * ld, src + r * ld + cols, dst + r * W);
      std::fill(dst + r * W + cols, dst + (r + 1) * W, T(0));
    }
  }

  // C[M, W] op= A(M x K) B(K x W); chunk q of B starts at B + q * bcs (packed: K * NR;
  // rows of a matrix: NR). alpha [M] for kScaleAdd.
  template <TileOp op>
  static void gemm(int64_t M, int64_t W, int64_t K, const T* A, int64_t ars, int64_t aks,
                   const T* B, int64_t bcs, int64_t ldb, T* C, int64_t ldc,
                   const T* alpha = nullptr) {
    static_assert(NP == 2, "column tails below assume two packets per chunk");
    for (int64_t c0 = 0, q = 0; c0 < W; c0 += NR, ++q) {
      if (W - c0 >= NR)
        rows<NP, op>(M, K, A, ars, aks, B + q * bcs, ldb, C + c0, ldc, alpha);
      else
        rows<1, op>(M, K, A, ars, aks, B + q * bcs, ldb, C + c0, ldc, alpha);
    }
  }

 private:
  template <int NPc, TileOp op>
  static void rows(int64_t M, int64_t K, const T* A, int64_t ars, int64_t aks, const T* B,
                   int64_t ldb, T* C, int64_t ldc, const T* alpha) {
    int64_t i = 0;
    for (; i + MR <= M; i += MR)
      tile<MR, NPc, op>(K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc, alpha ? alpha + i : nullptr);
    const int64_t rest = M - i;
    if (rest == 0) return;
    A += i * ars;
    C += i * ldc;
    if (alpha) alpha += i;
    switch (rest) {  // row tail, one specialisation per count
      case 1: tile<1, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      case 2: tile<2, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      case 3: tile<3, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      case 4: tile<4, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      case 5: tile<5, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      case 6: tile<6, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
      default: tile<7, NPc, op>(K, A, ars, aks, B, ldb, C, ldc, alpha); break;
    }
  }

  template <int R, int NPc, TileOp op>
  static inline void tile(int64_t K, const T* A, int64_t ars, int64_t aks, const T* B,
                          int64_t ldb, T* C, int64_t ldc, const T* alpha) {
    using namespace Eigen::internal;
    if constexpr (R > MR) {
      return;  // tails are < MR
    } else {
      Packet acc[R][NPc];
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < NPc; ++p) {
          if constexpr (op == TileOp::kSet)
            acc[r][p] = pset1<Packet>(T(0));
          else if constexpr (op == TileOp::kAdd)
            acc[r][p] = ploadu<Packet>(C + r * ldc + p * P);
          else
            acc[r][p] = pmul(pset1<Packet>(alpha[r]), ploadu<Packet>(C + r * ldc + p * P));
        }
      const T* a[R];
      for (int r = 0; r < R; ++r) a[r] = A + r * ars;
      for (int64_t k = 0, ka = 0; k < K; ++k, ka += aks, B += ldb) {
        Packet b[NPc];
        for (int p = 0; p < NPc; ++p) b[p] = ploadu<Packet>(B + p * P);
        for (int r = 0; r < R; ++r) {
          const Packet x = pset1<Packet>(a[r][ka]);
          for (int p = 0; p < NPc; ++p) acc[r][p] = pmadd(x, b[p], acc[r][p]);
        }
      }
      for (int r = 0; r < R; ++r)
        for (int p = 0; p < NPc; ++p) pstoreu(C + r * ldc + p * P, acc[r][p]);
    }
  }
};

// exp(x), and exactly 0 where x == -inf (Eigen's pexp returns a tiny positive number
// there, which must not leak into masked probabilities).
template <typename Packet>
inline Packet exp_or_zero(const Packet& x) {
  using namespace Eigen::internal;
  using T = typename unpacket_traits<Packet>::type;
  const Packet ninf = pset1<Packet>(-std::numeric_limits<T>::infinity());
  return pselect(pcmp_eq(x, ninf), pzero(x), pexp(x));
}

}  // namespace seqcore::cpu

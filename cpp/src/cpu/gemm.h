// The one GEMM micro-kernel family of seqcore (DESIGN.md, "Shared machinery").
//
// Every matrix product of the CPU kernels is C[M, W] (=, +=, or alpha_r *=, +=)
// sum_k A(r, k) B[k, c], computed by one register-blocked tile kernel:
//  * A read through two strides, A(r, k) = A[r * ars + k * aks], so that a matrix is used
//    as stored or transposed without a copy (dW = dY^T X reads dY column-wise, P^T V reads
//    S^T);
//  * B row-major with row stride ldb, in chunks of NR columns that are either SIMD panels
//    packed here ([K][NR] each, zero-padded) or rows of the input itself when their width
//    is a multiple of the packet size (attention's K and V are never packed).
// Users: the recurrent step (weights packed once per layer call, reused for all T steps),
// the decoder's PackedLinear, the flash-attention tiles, and blocked_gemm, the cache-blocked
// product of the big projections (RNN input projection, weight gradients, dx; multi-head
// attention's linear layers).
//
// Each output element is accumulated by one sequential chain of fused multiply-adds over
// the k of a call, whatever tile or thread it falls in; kAdd adds that chain's sum to C
// at the end (blocked_gemm's k blocks of Kc: C + block sum, as BLAS kernels do, so the
// rounding error of a long reduction such as dW over T*N rows grows with Kc + K/Kc, not
// K). Block boundaries are fixed, so results never depend on how work is split.
#pragma once

#include <Eigen/Core>

#include <algorithm>
#include <cstdint>

#include "seqcore/common.h"

namespace seqcore::cpu {

enum class TileOp { kSet, kAdd, kScaleAdd };  // C = AB, C += AB, C = alpha_r C + AB

template <typename T>
struct Gemm {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int P = Eigen::internal::unpacket_traits<Packet>::size;
  static constexpr int NP = 2;       // packets per column chunk
  static constexpr int NR = NP * P;  // columns per chunk (panel width)
  // Rows per micro-tile: MR*NP accumulators + NP operands + 1 broadcast within the
  // register file (32 zmm with AVX-512, 16 ymm otherwise), and MR row pointers of A within
  // the general-purpose registers. Measured on AMD EPYC (Zen 3, AVX2): 99-100% of one
  // core's FMA peak on L1/L2-resident operands (K >= 128).
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

  // pack_n for any cols: panels [ceil(cols/NR)][K][NR] of B[k][c] = src[k * ld + c].
  static void pack_n_panels(const T* src, int64_t ld, int64_t K, int64_t cols, T* dst) {
    for (int64_t c0 = 0; c0 < cols; c0 += NR)
      pack_n(src + c0, ld, K, std::min<int64_t>(NR, cols - c0), dst + c0 * K);
  }

  // dst [rows][W] <- src rows of `cols` elements (row stride ld), zero-padded to W.
  static void copy_pad(const T* src, int64_t ld, int64_t rows, int64_t cols, int64_t W, T* dst) {
    for (int64_t r = 0; r < rows; ++r) {
      std::copy(src + r * ld, src + r * ld + cols, dst + r * W);
      std::fill(dst + r * W + cols, dst + (r + 1) * W, T(0));
    }
  }

  // C[M, W] op= A(M x K) B(K x W); chunk q of B starts at B + q * bcs (packed: K * NR;
  // rows of a matrix: NR). alpha [M] for kScaleAdd. Any W >= 0: a last chunk narrower
  // than a packet goes through a scratch tile, so B must then be a zero-padded panel
  // (its reads cover whole packets); with B read in place, W must be a multiple of P.
  template <TileOp op>
  static void tiles(int64_t M, int64_t W, int64_t K, const T* A, int64_t ars, int64_t aks,
                    const T* B, int64_t bcs, int64_t ldb, T* C, int64_t ldc,
                    const T* alpha = nullptr) {
    static_assert(NP == 2, "column tails below assume two packets per chunk");
    int64_t c0 = 0, q = 0;
    if (M <= 3) {  // few rows: 2-4 chunks per tile (8-12 accumulators), or FMA latency binds
      for (; c0 + 4 * NR <= W; c0 += 4 * NR, q += 4) {
        if (M == 1) {
          tile<1, NP, op, 4>(K, A, ars, aks, B + q * bcs, bcs, ldb, C + c0, ldc, alpha);
        } else if (M == 3 && MR >= 8) {  // 12 accumulators + 4 operands: 32 registers only
          for (int h = 0; h < 4; h += 2)
            tile<3, NP, op, 2>(K, A, ars, aks, B + (q + h) * bcs, bcs, ldb, C + c0 + h * NR,
                               ldc, alpha);
        } else {  // rows 0-1 two chunks at a time (and row 2 alone, four chunks: no spills)
          for (int h = 0; h < 4; h += 2)
            tile<2, NP, op, 2>(K, A, ars, aks, B + (q + h) * bcs, bcs, ldb, C + c0 + h * NR,
                               ldc, alpha);
          if (M == 3)
            tile<1, NP, op, 4>(K, A + 2 * ars, ars, aks, B + q * bcs, bcs, ldb, C + 2 * ldc + c0,
                               ldc, alpha ? alpha + 2 : nullptr);
        }
      }
    }
    for (; c0 < W; c0 += NR, ++q) {
      const int64_t w = std::min<int64_t>(NR, W - c0);
      const T* Bq = B + q * bcs;
      if (w == NR) {
        rows<NP, op>(M, K, A, ars, aks, Bq, ldb, C + c0, ldc, alpha);
      } else if (w % P == 0) {
        rows<1, op>(M, K, A, ars, aks, Bq, ldb, C + c0, ldc, alpha);
      } else {  // ragged last chunk: through a [MR][NR] scratch tile, MR rows at a time
        alignas(64) T tmp[MR * NR];
        for (int64_t i = 0; i < M; i += MR) {
          const int64_t r = std::min<int64_t>(MR, M - i);
          for (int64_t rr = 0; rr < r && op != TileOp::kSet; ++rr)
            std::copy_n(C + (i + rr) * ldc + c0, w, tmp + rr * NR);
          rows<NP, op>(r, K, A + i * ars, ars, aks, Bq, ldb, tmp, NR,
                       alpha ? alpha + i : nullptr);
          for (int64_t rr = 0; rr < r; ++rr)
            std::copy_n(tmp + rr * NR, w, C + (i + rr) * ldc + c0);
        }
      }
    }
  }

  // Cache blocking of run(): a chunk's Kc x NR block of B (16 KiB in float) stays in L1
  // while an Mc x Kc block of A (120 KiB) streams from L2 through it. Mc is a multiple of
  // every MR.
  static constexpr int64_t Kc = 256, Mc = 120;

  // C[M, W] (+= when accumulate, else =) A(M x K) B, A(r, k) = A[r * ars + k * aks] and B
  // packed for all of K (chunk q of NR columns at B + q * bcs, [K][NR], zero-padded: from
  // pack_t(), pack_n() or pack_n_panels()). Any W.
  // K is taken in blocks of Kc and M in blocks of Mc, each A block first copied to a
  // thread-local buffer, row-major with rows Kc + one cache line apart. The copy costs
  // 1 / (2 W) of the flops and makes the tile's row streams independent of the caller's
  // strides: read in place, rows 2-8 KiB apart (an RNN's states or gates), or a transposed
  // A's columns, fall into the same L1 sets and evict each other (dW = dY^T X ran at
  // 124 GFLOP/s in place, 165 packed, on Zen 3); the extra line spreads the rows (and the
  // transposing copy's stores) over the sets.
  static void run(int64_t M, int64_t W, int64_t K, const T* A, int64_t ars, int64_t aks,
                  const T* B, int64_t bcs, T* C, int64_t ldc, bool accumulate = false) {
    if (M <= MR) {  // one tile per chunk: no reuse of a B block to gain from blocking
      if (accumulate)
        tiles<TileOp::kAdd>(M, W, K, A, ars, aks, B, bcs, NR, C, ldc);
      else
        tiles<TileOp::kSet>(M, W, K, A, ars, aks, B, bcs, NR, C, ldc);
      return;
    }
    static thread_local Buffer<T> abuf;  // 64-byte aligned, not zero-filled
    const int64_t lda = Kc + 64 / static_cast<int64_t>(sizeof(T));
    if (abuf.size() < static_cast<size_t>(Mc * lda)) abuf.resize(static_cast<size_t>(Mc * lda));
    T* Ap = abuf.data();
    for (int64_t k0 = 0; k0 < K; k0 += Kc) {
      const int64_t kc = std::min(Kc, K - k0);
      for (int64_t m0 = 0; m0 < M; m0 += Mc) {
        const int64_t mc = std::min(Mc, M - m0);
        const T* Ab = A + m0 * ars + k0 * aks;
        if (aks == 1) {
          for (int64_t r = 0; r < mc; ++r) std::copy_n(Ab + r * ars, kc, Ap + r * lda);
        } else {  // walk the source's contiguous direction
          for (int64_t k = 0; k < kc; ++k)
            for (int64_t r = 0; r < mc; ++r) Ap[r * lda + k] = Ab[r * ars + k * aks];
        }
        if (accumulate || k0 > 0)
          tiles<TileOp::kAdd>(mc, W, kc, Ap, lda, 1, B + k0 * NR, bcs, NR, C + m0 * ldc, ldc);
        else
          tiles<TileOp::kSet>(mc, W, kc, Ap, lda, 1, B + k0 * NR, bcs, NR, C + m0 * ldc, ldc);
      }
    }
    if (K == 0 && !accumulate)
      for (int64_t r = 0; r < M; ++r) std::fill(C + r * ldc, C + r * ldc + W, T(0));
  }

 private:
  template <int NPc, TileOp op>
  static void rows(int64_t M, int64_t K, const T* A, int64_t ars, int64_t aks, const T* B,
                   int64_t ldb, T* C, int64_t ldc, const T* alpha) {
    // A tail of 1-2 rows keeps only 2-4 FMA chains busy (the latency binds): when a full
    // tile precedes it, the two share their rows (6 + 2 -> 4 + 4, 6 + 1 -> 4 + 3 on AVX2).
    const int64_t full = M / MR, tail = M % MR;
    const bool rebalance = NPc == NP && full > 0 && tail > 0 && tail * 3 <= MR;
    const int64_t body = rebalance ? (full - 1) * MR : full * MR;
    int64_t i = 0;
    for (; i < body; i += MR)
      tile<MR, NPc, op>(K, A + i * ars, ars, aks, B, 0, ldb, C + i * ldc, ldc,
                        alpha ? alpha + i : nullptr);
    if (rebalance) {
      const int64_t half = (MR + tail + 1) / 2;
      rest_tile<NPc, op>(half, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc,
                         alpha ? alpha + i : nullptr);
      i += half;
    }
    rest_tile<NPc, op>(M - i, K, A + i * ars, ars, aks, B, ldb, C + i * ldc, ldc,
                       alpha ? alpha + i : nullptr);
  }

  // One tile of 0 <= rest <= MR rows.
  template <int NPc, TileOp op>
  static void rest_tile(int64_t rest, int64_t K, const T* A, int64_t ars, int64_t aks,
                        const T* B, int64_t ldb, T* C, int64_t ldc, const T* alpha) {
    if (rest == 0) return;
    switch (rest) {  // row tail, one specialisation per count
      case 1: tile<1, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 2: tile<2, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 3: tile<3, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 4: tile<4, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 5: tile<5, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 6: tile<6, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      case 7: tile<7, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
      default: tile<8, NPc, op>(K, A, ars, aks, B, 0, ldb, C, ldc, alpha); break;
    }
  }

  // R rows x NC chunks (chunk c's B at B + c * bcs) x NPc packets per chunk.
  template <int R, int NPc, TileOp op, int NC = 1>
  static inline void tile(int64_t K, const T* A, int64_t ars, int64_t aks, const T* B,
                          int64_t bcs, int64_t ldb, T* C, int64_t ldc, const T* alpha) {
    using namespace Eigen::internal;
    if constexpr (R > MR) {
      return;  // tails are < MR
    } else {
      constexpr int NQ = NC * NPc;  // packets per row; packet j: chunk j / NPc, part j % NPc
      Packet acc[R][NQ];
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < NQ; ++j) {
          if constexpr (op != TileOp::kScaleAdd)
            acc[r][j] = pset1<Packet>(T(0));
          else
            acc[r][j] = pmul(pset1<Packet>(alpha[r]), ploadu<Packet>(C + r * ldc + j * P));
        }
      if constexpr (op == TileOp::kAdd)  // C is read after the loop: fetch it meanwhile
        for (int r = 0; r < R; ++r)
          for (int c = 0; c < NC; ++c) {
            __builtin_prefetch(C + r * ldc + c * NR, 1);
            __builtin_prefetch(C + r * ldc + c * NR + NPc * P - 1, 1);
          }
      const T* a[R];
      for (int r = 0; r < R; ++r) a[r] = A + r * ars;
      for (int64_t k = 0, ka = 0; k < K; ++k, ka += aks, B += ldb) {
        Packet b[NQ];
        for (int j = 0; j < NQ; ++j) b[j] = ploadu<Packet>(B + (j / NPc) * bcs + (j % NPc) * P);
        for (int r = 0; r < R; ++r) {
          const Packet x = pset1<Packet>(a[r][ka]);
          for (int j = 0; j < NQ; ++j) acc[r][j] = pmadd(x, b[j], acc[r][j]);
        }
      }
      for (int r = 0; r < R; ++r)
        for (int j = 0; j < NQ; ++j) {
          if constexpr (op == TileOp::kAdd)  // the block's own sum, then C + it: see above
            acc[r][j] = padd(ploadu<Packet>(C + r * ldc + j * P), acc[r][j]);
          pstoreu(C + r * ldc + j * P, acc[r][j]);
        }
    }
  }
};

// C[M, N] (+)= A(M x K) B(K x N) (+ bias[c]), cache-blocked: A(r, k) = A[r * ars + k * aks]
// read in place (rows or columns), B[k][c] = b_t ? B[c * ldb + k] : B[k * ldb + c] packed in
// blocks of Kc rows into panels, C computed in blocks of Mc rows (A block in L2, B panel in
// L1). Any N. Threads own disjoint column panels (or, when M > N, row ranges) and pack their
// B themselves: no barrier, so a thread delayed by another process never stalls the team.
//
// blocked_gemm opens its own OpenMP region of up to nt threads; blocked_gemm_part is thread
// tid's share of it, for callers already inside a region of nthr threads (it neither
// synchronises nor reads what other threads write).
//
// Epilogue: C = act(C + bias) (bias nullable), applied to each Mc-row block right after its
// last k block, while it is in cache; pre (nullable, leading dimension ldc) receives C + bias
// (what the activation's derivative needs; activation.h).
template <typename T>
void blocked_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                       const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                       const T* bias, int tid, int nthr, Activation act = Activation::kNone,
                       T* pre = nullptr);
template <typename T>
void blocked_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                  const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                  const T* bias, int nt, Activation act = Activation::kNone, T* pre = nullptr);

// blocked_gemm_part with B packed once for all of K, for weights applied to many inputs
// (Conv1dPacked, RnnPacked): Bp holds panels [ceil(N / NR)][K][NR] as pack_t() makes them.
// The same k blocks of Kc and chains, and the epilogue after the last, so C equals
// blocked_gemm's with the unpacked B bit for bit. Thread tid of nthr takes whole panels.
template <typename T>
void packed_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                      const T* Bp, T* C, int64_t ldc, bool accumulate, const T* bias, int tid,
                      int nthr, Activation act = Activation::kNone);

// GFLOP/s of `threads` threads each running independent float32 FMA chains in registers
// for about `seconds` (gemm.h's fma_peak_gflops).
double fma_peak_cpu(int threads, double seconds);

}  // namespace seqcore::cpu

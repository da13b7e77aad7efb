// The cache-blocked product of gemm.h (big projections and weight gradients).
#include "cpu/gemm.h"

#include <omp.h>

#include <chrono>

#include "seqcore/common.h"

namespace seqcore::cpu {

template <typename T>
void blocked_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                       const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                       const T* bias, int tid, int nthr) {
  using G = Gemm<T>;
  // Kc * NR of B (16 KiB in float) stays in L1 while an Mc x Kc block of A (120 KiB), packed
  // row-major with rows Kc + one cache line apart, streams from L2 through it. Packing A costs a copy per
  // block (1 / (2 * this thread's columns) of the flops) and makes the tile's row streams
  // independent of the caller's strides: read in place, rows 2-8 KiB apart (or a transposed
  // A's columns, 4 bytes used per cache line) fall into the same L1 sets and evict each other
  // (measured on Zen 3: dW = dY^T X at 127-145 GFLOP/s in place). The extra cache line per
  // packed row spreads the rows (and the transposing copy's stores) over the L1 sets, which
  // a power-of-two row stride would not. Mc is a multiple of every MR.
  constexpr int64_t NR = G::NR, Kc = 256, Mc = 120;
  const int64_t npan = (N + NR - 1) / NR;
  const int64_t per = (npan + nthr - 1) / nthr;
  const int64_t p0 = std::min(npan, tid * per), p1 = std::min(npan, p0 + per);
  const int64_t c0 = p0 * NR, c1 = std::min(N, p1 * NR);  // this thread's columns
  if (c1 <= c0) return;
  if (K == 0 && !accumulate)
    for (int64_t r = 0; r < M; ++r) std::fill(C + r * ldc + c0, C + r * ldc + c1, T(0));
  const int64_t kmax = std::min(Kc, std::max<int64_t>(K, 1));
  Buffer<T> Bp(static_cast<size_t>((p1 - p0) * kmax * NR));
  const int64_t lda = kmax + 64 / static_cast<int64_t>(sizeof(T));
  Buffer<T> Ap(static_cast<size_t>(std::min(Mc, std::max<int64_t>(M, 1)) * lda));
  for (int64_t k0 = 0; k0 < K; k0 += Kc) {
    const int64_t kc = std::min(Kc, K - k0);
    for (int64_t p = p0; p < p1; ++p) {
      T* dst = Bp.data() + (p - p0) * kc * NR;
      const int64_t cp = p * NR, w = std::min(NR, N - cp);
      if (b_t)
        G::pack_t(B + cp * ldb + k0, ldb, w, kc, T(1), dst);
      else
        G::pack_n(B + k0 * ldb + cp, ldb, kc, w, dst);
    }
    for (int64_t m0 = 0; m0 < M; m0 += Mc) {
      const int64_t mc = std::min(Mc, M - m0);
      const T* Ab = A + m0 * ars + k0 * aks;
      if (aks == 1) {
        for (int64_t r = 0; r < mc; ++r) std::copy_n(Ab + r * ars, kc, Ap.data() + r * lda);
      } else {  // walk the source's contiguous direction
        for (int64_t k = 0; k < kc; ++k)
          for (int64_t r = 0; r < mc; ++r) Ap[r * lda + k] = Ab[r * ars + k * aks];
      }
      if (accumulate || k0 > 0)
        G::template tiles<TileOp::kAdd>(mc, c1 - c0, kc, Ap.data(), lda, 1, Bp.data(), kc * NR,
                                        NR, C + m0 * ldc + c0, ldc);
      else
        G::template tiles<TileOp::kSet>(mc, c1 - c0, kc, Ap.data(), lda, 1, Bp.data(), kc * NR,
                                        NR, C + m0 * ldc + c0, ldc);
    }
  }
  if (bias)
    for (int64_t r = 0; r < M; ++r)
      for (int64_t c = c0; c < c1; ++c) C[r * ldc + c] += bias[c];
}

template <typename T>
void blocked_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                  const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                  const T* bias, int nt) {
  const int64_t npan = (N + Gemm<T>::NR - 1) / Gemm<T>::NR;
  nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, npan)));
  if (omp_in_parallel()) nt = 1;  // one owner of the threads: never nest teams
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    blocked_gemm_part(M, N, K, A, ars, aks, B, ldb, b_t, C, ldc, accumulate, bias,
                      omp_get_thread_num(), omp_get_num_threads());
  }
}

double fma_peak_cpu(int threads, double seconds) {
  using namespace Eigen::internal;
  using Packet = packet_traits<float>::type;
  constexpr int kChains = 12;  // > FMA latency (4) x ports (2): every port busy every cycle
  constexpr int64_t kInner = 1 << 14;
  using Clock = std::chrono::steady_clock;
  int64_t total = 0;  // FMA instructions issued by all threads
  const auto t0 = Clock::now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
  {
    DenormalsFlushed ftz;
    // Named variables, not an array: GCC keeps an array of packets in memory across the
    // asm barrier below, which adds a store-to-load round trip to every chain.
    Packet a0 = pset1<Packet>(1.0f), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
           a7 = a0, a8 = a0, a9 = a0, a10 = a0, a11 = a0;
    const Packet m = pset1<Packet>(0.999f), c = pset1<Packet>(1e-3f);
    int64_t n = 0;
    do {
      for (int64_t it = 0; it < kInner; ++it) {
        a0 = pmadd(a0, m, c), a1 = pmadd(a1, m, c), a2 = pmadd(a2, m, c), a3 = pmadd(a3, m, c);
        a4 = pmadd(a4, m, c), a5 = pmadd(a5, m, c), a6 = pmadd(a6, m, c), a7 = pmadd(a7, m, c);
        a8 = pmadd(a8, m, c), a9 = pmadd(a9, m, c), a10 = pmadd(a10, m, c), a11 = pmadd(a11, m, c);
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
        // Opaque to the optimiser: the chains can be neither folded nor hoisted.
        __asm__ volatile("" : "+v"(a0), "+v"(a1), "+v"(a2), "+v"(a3), "+v"(a4), "+v"(a5),
                         "+v"(a6), "+v"(a7), "+v"(a8), "+v"(a9), "+v"(a10), "+v"(a11));
#endif
      }
      n += kInner * kChains;
    } while (std::chrono::duration<double>(Clock::now() - t0).count() < seconds);
    const Packet s = padd(padd(padd(padd(a0, a1), padd(a2, a3)), padd(padd(a4, a5), padd(a6, a7))),
                          padd(padd(a8, a9), padd(a10, a11)));
    volatile float sink = predux(s);  // keep the result alive
    (void)sink;
    total += n;
  }
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  constexpr int lanes = unpacket_traits<Packet>::size;
  return 2.0 * lanes * static_cast<double>(total) / elapsed / 1e9;
}

#define SEQCORE_INSTANTIATE(T)                                                               \
  template void blocked_gemm_part<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, \
                                     const T*, int64_t, bool, T*, int64_t, bool, const T*,  \
                                     int, int);                                             \
  template void blocked_gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t,      \
                                const T*, int64_t, bool, T*, int64_t, bool, const T*, int);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu

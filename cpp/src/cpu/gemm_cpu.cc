// The cache-blocked product of gemm.h (big projections and weight gradients).
#include "cpu/gemm.h"
#include "cpu/activation.h"
#include "cpu/parallel.h"

#include <omp.h>

#include <algorithm>
#include <chrono>

#include "seqcore/common.h"

namespace seqcore::cpu {

template <typename T>
void blocked_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                       const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                       const T* bias, int tid, int nthr, Activation act, T* pre) {
  using G = Gemm<T>;
  constexpr int64_t NR = G::NR, Kc = G::Kc;
  const int64_t npan = (N + NR - 1) / NR;
  // Threads split the longer side: columns in whole panels (each thread packs only its own
  // panels of B), or, when M > N, rows in whole micro-tiles (each thread packs all of B but
  // reads only its rows of A). Splitting N = 200 in 16-column panels would be 7 : 6 (54%
  // for one thread); splitting M there also halves each thread's reads of a big A (dW =
  // dlogits^T h reads a [T*N, V] A).
  int64_t r0 = 0, r1 = M, p0 = 0, p1 = npan;
  if (M > N && nthr > 1) {
    const int64_t per = (M + nthr * G::MR - 1) / (nthr * G::MR) * G::MR;
    r0 = std::min(M, tid * per), r1 = std::min(M, r0 + per);
    if (r1 <= r0) return;
  } else {
    const int64_t per = (npan + nthr - 1) / nthr;
    p0 = std::min(npan, tid * per), p1 = std::min(npan, p0 + per);
  }
  const int64_t c0 = p0 * NR, c1 = std::min(N, p1 * NR);  // this thread's columns
  if (c1 <= c0) return;
  A += r0 * ars, C += r0 * ldc;
  if (pre) pre += r0 * ldc;
  const int64_t m = r1 - r0;
  const bool epilogue = bias || act != Activation::kNone || pre;
  auto finish = [&](int64_t m0, int64_t mc) {  // rows [m0, m0 + mc) of this thread's share
    for (int64_t r = m0; r < m0 + mc; ++r)
      bias_activation(C + r * ldc + c0, bias ? bias + c0 : nullptr, c1 - c0, act,
                      pre ? pre + r * ldc + c0 : nullptr);
  };
  if (K == 0) {
    G::run(m, c1 - c0, 0, A, ars, aks, nullptr, 0, C + c0, ldc, accumulate);
    if (epilogue) finish(0, m);
    return;
  }
  // B is packed one Kc block at a time (this thread's panels of it: L2-resident).
  Buffer<T> Bp(static_cast<size_t>((p1 - p0) * std::min(Kc, K) * NR));
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
    // The last k block goes one row block of run() at a time (the same blocks run() makes),
    // each finished while it is in cache.
    const bool last = epilogue && k0 + kc >= K;
    const int64_t step = last ? G::Mc : m;
    for (int64_t m0 = 0; m0 < m; m0 += step) {
      const int64_t mc = std::min(step, m - m0);
      G::run(mc, c1 - c0, kc, A + m0 * ars + k0 * aks, ars, aks, Bp.data(), kc * NR,
             C + m0 * ldc + c0, ldc, accumulate || k0 > 0);
      if (last) finish(m0, mc);
    }
  }
}

template <typename T>
void blocked_gemm(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                  const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                  const T* bias, int nt, Activation act, T* pre) {
  using G = Gemm<T>;
  const int64_t units = M > N ? (M + G::MR - 1) / G::MR : (N + G::NR - 1) / G::NR;  // see _part
  nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(nt, units)));
  if (omp_in_parallel()) nt = 1;  // one owner of the threads: never nest teams
  RegionErrors errors;  // each thread packs its panels of B into a buffer of its own
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    errors.run([&] {
      blocked_gemm_part(M, N, K, A, ars, aks, B, ldb, b_t, C, ldc, accumulate, bias,
                        omp_get_thread_num(), omp_get_num_threads(), act, pre);
    });
  }
  errors.rethrow();
}

template <typename T>
void packed_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                      const T* Bp, T* C, int64_t ldc, bool accumulate, const T* bias, int tid,
                      int nthr, Activation act) {
  using G = Gemm<T>;
  const int64_t npan = (N + G::NR - 1) / G::NR;
  const int64_t p0 = npan * tid / nthr, p1 = npan * (tid + 1) / nthr;
  const int64_t c0 = p0 * G::NR, c1 = std::min(N, p1 * G::NR);
  if (c1 <= c0) return;
  const T* B = Bp + p0 * K * G::NR;  // this thread's panels
  if (K == 0) G::run(M, c1 - c0, 0, A, ars, aks, B, 0, C + c0, ldc, accumulate);
  // One run() per k block, also for M <= MR (run() takes such an M in one chain over K).
  for (int64_t k0 = 0; k0 < K; k0 += G::Kc)
    G::run(M, c1 - c0, std::min(G::Kc, K - k0), A + k0 * aks, ars, aks, B + k0 * G::NR,
           K * G::NR, C + c0, ldc, accumulate || k0 > 0);
  if (bias || act != Activation::kNone)
    for (int64_t r = 0; r < M; ++r)
      bias_activation(C + r * ldc + c0, bias ? bias + c0 : nullptr, c1 - c0, act,
                      static_cast<T*>(nullptr));
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
  template void packed_gemm_part<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t,  \
                                    const T*, T*, int64_t, bool, const T*, int, int,        \
                                    Activation);                                            \
  template void blocked_gemm_part<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t, \
                                     const T*, int64_t, bool, T*, int64_t, bool, const T*,  \
                                     int, int, Activation, T*);                             \
  template void blocked_gemm<T>(int64_t, int64_t, int64_t, const T*, int64_t, int64_t,      \
                                const T*, int64_t, bool, T*, int64_t, bool, const T*, int,  \
                                Activation, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu

// The cache-blocked product of gemm.h (big projections and weight gradients).
#include "cpu/gemm.h"

#include <omp.h>

#include "seqcore/common.h"

namespace seqcore::cpu {

template <typename T>
void blocked_gemm_part(int64_t M, int64_t N, int64_t K, const T* A, int64_t ars, int64_t aks,
                       const T* B, int64_t ldb, bool b_t, T* C, int64_t ldc, bool accumulate,
                       const T* bias, int tid, int nthr) {
  using G = Gemm<T>;
  // Kc * NR of B (16 KiB in float) stays in L1 while an Mc x Kc block of A (128 KiB) is
  // streamed from L2 through it.
  constexpr int64_t NR = G::NR, Kc = 256, Mc = 128;
  const int64_t npan = (N + NR - 1) / NR;
  const int64_t per = (npan + nthr - 1) / nthr;
  const int64_t p0 = std::min(npan, tid * per), p1 = std::min(npan, p0 + per);
  const int64_t c0 = p0 * NR, c1 = std::min(N, p1 * NR);  // this thread's columns
  if (c1 <= c0) return;
  if (K == 0 && !accumulate)
    for (int64_t r = 0; r < M; ++r) std::fill(C + r * ldc + c0, C + r * ldc + c1, T(0));
  Buffer<T> Bp(static_cast<size_t>((p1 - p0) * std::min(Kc, std::max<int64_t>(K, 1)) * NR));
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
      if (accumulate || k0 > 0)
        G::template tiles<TileOp::kAdd>(mc, c1 - c0, kc, Ab, ars, aks, Bp.data(), kc * NR, NR,
                                        C + m0 * ldc + c0, ldc);
      else
        G::template tiles<TileOp::kSet>(mc, c1 - c0, kc, Ab, ars, aks, Bp.data(), kc * NR, NR,
                                        C + m0 * ldc + c0, ldc);
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

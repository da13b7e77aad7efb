// Transformer building blocks on the CPU: layer norm (fused residual add) and the linear
// layer with its fused bias + activation epilogue (transformer.h).
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "cpu/activation.h"
#include "cpu/attention_cpu.h"
#include "cpu/parallel.h"
#include "cpu/vec.h"
#include "seqcore/common.h"

namespace seqcore::cpu {

namespace {

// Threads for `work` element operations: one when nested or when a team costs more than it
// saves. Rows are independent, so results never depend on it.
int row_threads(double work) {
  if (omp_in_parallel()) return 1;
  return std::max(1, std::min<int>(get_num_threads(), static_cast<int>(work / 3e4) + 1));
}

}  // namespace

template <typename T>
void layer_norm_forward_cpu(int64_t M, int64_t D, const T* x, const T* r, const T* gamma,
                            const T* beta, T eps, T* y, T* s_out, T* mean, T* rstd) {
  const int nt = row_threads(8.0 * M * D);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
#pragma omp for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
      // s goes to y first (or to s_out), then y is rewritten in place: no scratch.
      T* s = s_out ? s_out + m * D : y + m * D;
      const CArr<T> xr(x + m * D, D);
      if (r)
        Arr<T>(s, D) = xr + CArr<T>(r + m * D, D);
      else
        Arr<T>(s, D) = xr;
      const T mu = sum(s, D) / T(D);
      T* yr = y + m * D;
      Arr<T>(yr, D) = CArr<T>(s, D) - mu;  // centred (two-pass variance: no cancellation)
      const T var = dot(yr, yr, D) / T(D);
      const T rs = T(1) / std::sqrt(var + eps);
      mean[m] = mu, rstd[m] = rs;
      Arr<T> yo(yr, D);
      yo *= rs;
      if (gamma) yo *= CArr<T>(gamma, D);
      if (beta) yo += CArr<T>(beta, D);
    }
  }
}

template <typename T>
void layer_norm_backward_cpu(int64_t M, int64_t D, const T* s, const T* gamma, const T* mean,
                             const T* rstd, const T* dy, T* ds, T* dgamma, T* dbeta) {
  const int nt = row_threads(12.0 * M * D);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    // ds = rstd * (g - mean(g) - xhat * mean(g * xhat)), g = dy * gamma, per row; xhat is
    // built in ds itself, then overwritten.
#pragma omp for schedule(static)
    for (int64_t m = 0; m < M; ++m) {
      T* d = ds + m * D;
      Arr<T> xh(d, D);
      xh = (CArr<T>(s + m * D, D) - mean[m]) * rstd[m];
      const CArr<T> g0(dy + m * D, D);
      T c1, c2;  // mean(g), mean(g * xhat)
      if (gamma) {
        const CArr<T> ga(gamma, D);
        c1 = dot(dy + m * D, gamma, D) / T(D);
        c2 = T(0);
        for (int64_t j = 0; j < D; ++j) c2 += dy[m * D + j] * gamma[j] * d[j];
        c2 /= T(D);
        xh = rstd[m] * (g0 * ga - c1 - xh * c2);
      } else {
        c1 = sum(dy + m * D, D) / T(D);
        c2 = dot(dy + m * D, d, D) / T(D);
        xh = rstd[m] * (g0 - c1 - xh * c2);
      }
    }
    // dgamma = sum_m dy * xhat, dbeta = sum_m dy: columns split between threads, rows in
    // order (the same sums for every thread count).
    if (dgamma || dbeta) {
      constexpr int64_t kCols = 64;
#pragma omp for schedule(static)
      for (int64_t c0 = 0; c0 < D; c0 += kCols) {
        const int64_t w = std::min(kCols, D - c0);
        Eigen::Array<T, kCols, 1> ag = Eigen::Array<T, kCols, 1>::Zero(), ab = ag;
        for (int64_t m = 0; m < M; ++m) {
          const CArr<T> g(dy + m * D + c0, w);
          if (dgamma) ag.head(w) += g * (CArr<T>(s + m * D + c0, w) - mean[m]) * rstd[m];
          if (dbeta) ab.head(w) += g;
        }
        if (dgamma) Arr<T>(dgamma + c0, w) = ag.head(w);
        if (dbeta) Arr<T>(dbeta + c0, w) = ab.head(w);
      }
    }
  }
}

template <typename T>
void linear_act_forward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                            const T* b, Activation act, T* y, T* pre) {
  linear_forward_cpu<T>(M, I, O, x, w, b, y, 2e5, act, pre);
}

template <typename T>
void linear_act_backward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                             Activation act, const T* z, const T* dy, T* dx, T* dw, T* db) {
  const T* dz = dy;
  Buffer<T> buf;
  if (act != Activation::kNone) {  // dz = dy * act'(z), then the plain linear backward
    buf.resize(static_cast<size_t>(M * O));
    const int nt = row_threads(20.0 * M * O);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
    for (int64_t m = 0; m < M; ++m) {
      DenormalsFlushed ftz;
      std::copy_n(dy + m * O, O, buf.data() + m * O);
      activation_backward(buf.data() + m * O, z + m * O, O, act);
    }
    dz = buf.data();
  }
  if (I == 0) {  // nothing to multiply: dw is [O, 0]
    if (db) std::fill(db, db + O, T(0));
    if (db)
      for (int64_t m = 0; m < M; ++m) Arr<T>(db, O) += CArr<T>(dz + m * O, O);
    return;
  }
  linear_backward_cpu<T>(M, I, O, x, w, dz, dx, dw, db, false);
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void layer_norm_forward_cpu<T>(int64_t, int64_t, const T*, const T*, const T*,    \
                                          const T*, T, T*, T*, T*, T*);                      \
  template void layer_norm_backward_cpu<T>(int64_t, int64_t, const T*, const T*, const T*,   \
                                           const T*, const T*, T*, T*, T*);                  \
  template void linear_act_forward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*,     \
                                          const T*, Activation, T*, T*);                     \
  template void linear_act_backward_cpu<T>(int64_t, int64_t, int64_t, const T*, const T*,    \
                                           Activation, const T*, const T*, T*, T*, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu

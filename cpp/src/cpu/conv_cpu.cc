// Convolution and batch normalisation over time on the CPU (conv.h): conv1d as products on
// the shared blocked GEMM (gemm.h) with no im2col matrix, batch norm with fixed-order sums.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/activation.h"
#include "cpu/gemm.h"
#include "cpu/parallel.h"
#include "cpu/vec.h"
#include "seqcore/conv.h"

namespace seqcore::cpu {

namespace {

int threads_for_work(double work, double per_thread) {
  if (omp_in_parallel()) return 1;
  return std::max(1, std::min<int>(get_num_threads(), static_cast<int>(work / per_thread) + 1));
}

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols, in square tiles so that both
// sides are walked a cache line at a time.
template <typename T>
void transpose(const T* src, int64_t rows, int64_t cols, int64_t lds, T* dst, int64_t ldd) {
  constexpr int64_t kTile = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kTile)
    for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
      const int64_t r1 = std::min(rows, r0 + kTile), c1 = std::min(cols, c0 + kTile);
      for (int64_t r = r0; r < r1; ++r)
        for (int64_t c = c0; c < c1; ++c) dst[c * ldd + r] = src[r * lds + c];
    }
}

// The GEMM form of a layer (conv.h): `taps` products of depth `depth`, tap j reading the
// time-major input from row j * dilation and the permuted weight [Co, Kw, Ci] from column
// j * Ci.
struct ConvPlan {
  int64_t Lo, Lp, KC, taps, depth;
  explicit ConvPlan(const Conv1dShape& s)
      : Lo(s.out_len()), Lp(s.L + 2 * s.padding), KC(s.Kw * s.Ci),
        taps(s.dilation == 1 ? 1 : s.Kw), depth(s.dilation == 1 ? s.Kw * s.Ci : s.Ci) {}
};

// xp [Lp, Ci] <- x[n] time-major with `padding` zero rows at both ends.
template <typename T>
void pad_time_major(const Conv1dShape& s, const T* xn, T* xp) {
  const int64_t p = s.padding, L = s.L, Ci = s.Ci;
  std::fill(xp, xp + p * Ci, T(0));
  std::fill(xp + (p + L) * Ci, xp + (L + 2 * p) * Ci, T(0));
  if (s.channels_last)
    std::copy_n(xn, L * Ci, xp + p * Ci);
  else
    transpose(xn, Ci, L, L, xp + p * Ci, Ci);
}

// wp [Co, Kw, Ci] <- w [Co, Ci, Kw] (and back for the gradient when to_torch): per output
// channel a [Ci, Kw] <-> [Kw, Ci] transpose of 4-8 KiB (L1), walked along the [Kw, Ci] side.
template <typename T>
void permute_weight(const Conv1dShape& s, const T* src, T* dst, bool to_torch) {
  const int64_t Ci = s.Ci, Kw = s.Kw;
  for (int64_t o = 0; o < s.Co; ++o) {
    const T* in = src + o * Ci * Kw;
    T* out = dst + o * Ci * Kw;
    for (int64_t j = 0; j < Kw; ++j)
      for (int64_t c = 0; c < Ci; ++c) {
        if (to_torch)
          out[c * Kw + j] = in[j * Ci + c];
        else
          out[j * Ci + c] = in[c * Kw + j];
      }
  }
}

}  // namespace

template <typename T>
void conv1d_forward_cpu(const Conv1dShape& s, const T* x, const T* w, const T* b,
                        Activation act, T* y) {
  if (s.N == 0) return;
  const ConvPlan pl(s);
  const int64_t Ci = s.Ci, Co = s.Co, Lo = pl.Lo, d = s.dilation, lda = s.stride * Ci;
  Buffer<T> wp(static_cast<size_t>(Co * pl.KC));
  permute_weight(s, w, wp.data(), false);
  const bool direct = s.channels_last && s.padding == 0;  // x[n] is already xp
  Buffer<T> xp(direct ? 0 : static_cast<size_t>(pl.Lp * Ci));
  // The product's rows are the longer side (time steps, or output channels for a streamed
  // chunk of a few steps): packing B costs 1/rows of the flops. Both orders accumulate each
  // output in the same chain of products and add the bias after the last tap, so the
  // results are identical whichever is taken (a stream equals the offline pass).
  const bool time_rows = Lo >= Co;
  const bool transposed = time_rows != s.channels_last;  // C is y[n] transposed
  Buffer<T> ct(transposed ? static_cast<size_t>(Lo * Co) : 0);
  const int nt = threads_for_work(2.0 * Lo * Co * pl.KC, 2e5);
  for (int64_t n = 0; n < s.N; ++n) {
    const T* xn = x + n * Ci * s.L;
    if (!direct) pad_time_major(s, xn, xp.data());
    const T* a = direct ? xn : xp.data();
    T* yn = y + n * Co * Lo;
    T* c = transposed ? ct.data() : yn;
    for (int64_t j = 0; j < pl.taps; ++j) {
      const bool last = j + 1 == pl.taps;
      if (time_rows)  // C [Lo, Co] = Xcol [Lo, KC] Wp^T, bias + activation in the epilogue
        blocked_gemm<T>(Lo, Co, pl.depth, a + j * d * Ci, lda, 1, wp.data() + j * Ci, pl.KC,
                        true, c, Co, j > 0, last ? b : nullptr, nt,
                        last ? act : Activation::kNone);
      else  // C [Co, Lo] = Wp Xcol^T
        blocked_gemm<T>(Co, Lo, pl.depth, wp.data() + j * Ci, pl.KC, 1, a + j * d * Ci, lda,
                        true, c, Lo, j > 0, nullptr, nt);
    }
    if (time_rows) {
      if (transposed) transpose(c, Lo, Co, Co, yn, Lo);
    } else if (transposed) {  // [Co, Lo] -> y[n] [Lo, Co], then the epilogue by rows
      transpose(c, Co, Lo, Lo, yn, Co);
      for (int64_t t = 0; t < Lo; ++t)
        bias_activation(yn + t * Co, b, Co, act, static_cast<T*>(nullptr));
    } else {  // y[n] [Co, Lo]: channel o's bias is a scalar of its row
      for (int64_t o = 0; o < Co; ++o) {
        if (b) Arr<T>(yn + o * Lo, Lo) += b[o];
        bias_activation(yn + o * Lo, static_cast<const T*>(nullptr), Lo, act,
                        static_cast<T*>(nullptr));
      }
    }
  }
}

// Conv1dPacked's panels, tap by tap: tap j's [ceil(Co / NR)][depth][NR] hold
// B[k][o] = wp[o, j * Ci + k], the panels blocked_gemm packs per call in the forward above.
template <typename T>
void conv1d_pack_cpu(const Conv1dShape& s, const T* w, Buffer<T>& panels) {
  using G = Gemm<T>;
  const ConvPlan pl(s);
  Buffer<T> wp(static_cast<size_t>(s.Co * pl.KC));
  permute_weight(s, w, wp.data(), false);
  const int64_t tap = G::pad_nr(s.Co) * pl.depth;
  panels.resize(static_cast<size_t>(pl.taps * tap));
  for (int64_t j = 0; j < pl.taps; ++j)
    G::pack_t(wp.data() + j * s.Ci, pl.KC, s.Co, pl.depth, T(1), panels.data() + j * tap);
}

// The forward's time-rows product on the prepacked panels (packed_gemm_part: blocked_gemm's
// k blocks, chains and epilogue). Threads own disjoint column panels.
template <typename T>
void conv1d_packed_forward_cpu(const Conv1dShape& s, const T* panels, const T* b,
                               Activation act, const T* x, T* y) {
  using G = Gemm<T>;
  if (s.N == 0) return;
  const ConvPlan pl(s);
  const int64_t Ci = s.Ci, Co = s.Co, Lo = pl.Lo, d = s.dilation, lda = s.stride * Ci;
  const int64_t tap = G::pad_nr(Co) * pl.depth;
  const bool direct = s.channels_last && s.padding == 0;
  Buffer<T> xp(direct ? 0 : static_cast<size_t>(pl.Lp * Ci));
  Buffer<T> ct(s.channels_last ? 0 : static_cast<size_t>(Lo * Co));
  const int nt = static_cast<int>(std::min<int64_t>(
      threads_for_work(2.0 * Lo * Co * pl.KC, 2e5), G::pad_nr(Co) / G::NR));
  RegionErrors errors;
  for (int64_t n = 0; n < s.N && !errors.failed(); ++n) {
    const T* xn = x + n * Ci * s.L;
    if (!direct) pad_time_major(s, xn, xp.data());
    const T* a = direct ? xn : xp.data();
    T* c = s.channels_last ? y + n * Lo * Co : ct.data();
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      DenormalsFlushed ftz;
      errors.run([&] {
        for (int64_t j = 0; j < pl.taps; ++j) {
          const bool last = j + 1 == pl.taps;
          packed_gemm_part<T>(Lo, Co, pl.depth, a + j * d * Ci, lda, 1, panels + j * tap, c, Co,
                              j > 0, last ? b : nullptr, omp_get_thread_num(),
                              omp_get_num_threads(), last ? act : Activation::kNone);
        }
      });
    }
    if (!s.channels_last) transpose(c, Lo, Co, Co, y + n * Co * Lo, Lo);
  }
  errors.rethrow();
}

template <typename T>
void conv1d_backward_cpu(const Conv1dShape& s, const T* x, const T* w, const T* dy, T* dx,
                         T* dw, T* db) {
  const ConvPlan pl(s);
  const int64_t Ci = s.Ci, Co = s.Co, Lo = pl.Lo, d = s.dilation, lda = s.stride * Ci;
  Buffer<T> wp(static_cast<size_t>(Co * pl.KC)), dwp(static_cast<size_t>(Co * pl.KC), T(0));
  permute_weight(s, w, wp.data(), false);
  const bool direct = s.channels_last && s.padding == 0;
  Buffer<T> xp(direct ? 0 : static_cast<size_t>(pl.Lp * Ci));
  Buffer<T> dxp(direct || !dx ? 0 : static_cast<size_t>(pl.Lp * Ci));
  if (db) std::fill(db, db + Co, T(0));
  const int nt = threads_for_work(2.0 * Lo * Co * pl.KC, 2e5);
  // dy[n] as A(t, o) (dx's product) and as A(o, t) (dw's): strides of each layout.
  const int64_t t_step = s.channels_last ? Co : 1, o_step = s.channels_last ? 1 : Lo;
  for (int64_t n = 0; n < s.N; ++n) {
    const T* xn = x + n * Ci * s.L;
    const T* dyn = dy + n * Co * Lo;
    if (!direct) pad_time_major(s, xn, xp.data());
    const T* a = direct ? xn : xp.data();
    // dWp [Co, KC] (+)= dY^T Xcol, batch after batch (a fixed order)
    for (int64_t j = 0; j < pl.taps; ++j)
      blocked_gemm<T>(Co, pl.depth, Lo, dyn, o_step, t_step, a + j * d * Ci, lda, false,
                      dwp.data() + j * Ci, pl.KC, n > 0, nullptr, nt);
    if (db)
      for (int64_t o = 0; o < Co; ++o) {
        T acc = T(0);
        for (int64_t t = 0; t < Lo; ++t) acc += dyn[t * t_step + o * o_step];
        db[o] += acc;
      }
    if (dx) {  // dXp rows t * stride + j * dilation += dY [Lo, Co] Wp_j [Co, Ci]
      T* dxn = dx + n * Ci * s.L;
      T* dst = direct ? dxn : dxp.data();
      std::fill(dst, dst + (direct ? s.L : pl.Lp) * Ci, T(0));
      for (int64_t j = 0; j < s.Kw; ++j)
        blocked_gemm<T>(Lo, Ci, Co, dyn, t_step, o_step, wp.data() + j * Ci, pl.KC, false,
                        dst + j * d * Ci, lda, true, nullptr, nt);
      if (!direct) {
        const T* rows = dxp.data() + s.padding * Ci;
        if (s.channels_last)
          std::copy_n(rows, s.L * Ci, dxn);
        else
          transpose(rows, s.L, Ci, Ci, dxn, s.L);
      }
    }
  }
  permute_weight(s, dwp.data(), dw, true);
}

namespace {

// Rows per block of the batch-norm sums: each block is summed in order, then the blocks in
// order, so the sums do not depend on how many threads share the blocks.
constexpr int64_t kBnRows = 128;

// The per-channel affine map of batch_norm_forward, y = (x - mean) * scale + shift with
// scale = rstd * gamma and shift = beta (a constant channel gives beta exactly); shared
// with the backward so that its ReLU mask is the forward's own decision.
template <typename T>
struct BnAffine {
  Buffer<T> scale, shift;
  const T* mean;
  BnAffine(int64_t C, const T* gamma, const T* beta, const T* mean_, const T* rstd)
      : scale(static_cast<size_t>(C)), shift(static_cast<size_t>(C)), mean(mean_) {
    for (int64_t c = 0; c < C; ++c) {
      scale[c] = rstd[c] * (gamma ? gamma[c] : T(1));
      shift[c] = beta ? beta[c] : T(0);
    }
  }
  T operator()(T x, int64_t c) const { return std::fma(x - mean[c], scale[c], shift[c]); }
};

// out[c] = sum over rows of f(r, c) in float64 (or T's own type if wider), blocks of
// kBnRows rows in order; f writes a row's C terms into its argument.
template <typename T, typename RowTerms>
void column_sums(int64_t M, int64_t C, int nt, RowTerms f, double* out) {
  const int64_t nb = (M + kBnRows - 1) / kBnRows;
  std::vector<double> part(static_cast<size_t>(nb * C));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    Buffer<T> row(static_cast<size_t>(C));
#pragma omp for schedule(static)
    for (int64_t bi = 0; bi < nb; ++bi) {
      Eigen::Map<Eigen::ArrayXd> acc(part.data() + bi * C, C);
      acc.setZero();
      for (int64_t r = bi * kBnRows; r < std::min(M, (bi + 1) * kBnRows); ++r) {
        f(r, row.data());
        acc += CArr<T>(row.data(), C).template cast<double>();
      }
    }
  }
  Eigen::Map<Eigen::ArrayXd> total(out, C);
  total.setZero();
  for (int64_t bi = 0; bi < nb; ++bi) total += Eigen::Map<Eigen::ArrayXd>(part.data() + bi * C, C);
}

}  // namespace

template <typename T>
void batch_norm_forward_cpu(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                            T eps, bool relu, T* y, T* mean, T* var, T* rstd) {
  const int nt = threads_for_work(6.0 * M * C, 3e4);
  std::vector<double> acc(static_cast<size_t>(C));
  column_sums<T>(M, C, nt, [&](int64_t r, T* out) { std::copy_n(x + r * C, C, out); },
                 acc.data());
  for (int64_t c = 0; c < C; ++c) mean[c] = static_cast<T>(acc[c] / double(M));
  // Two passes (centred squares): no cancellation when |mean| >> std.
  column_sums<T>(M, C, nt,
                 [&](int64_t r, T* out) {
                   Arr<T>(out, C) = (CArr<T>(x + r * C, C) - CArr<T>(mean, C)).square();
                 },
                 acc.data());
  for (int64_t c = 0; c < C; ++c) {
    var[c] = static_cast<T>(acc[c] / double(M));
    rstd[c] = T(1) / std::sqrt(var[c] + eps);
  }
  const BnAffine<T> affine(C, gamma, beta, mean, rstd);
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * C;
    T* yr = y + r * C;
    for (int64_t c = 0; c < C; ++c) {
      const T v = affine(xr[c], c);
      yr[c] = relu ? std::max(v, T(0)) : v;
    }
  }
}

template <typename T>
void batch_norm_backward_cpu(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                             const T* mean, const T* rstd, bool relu, const T* dy, T* dx,
                             T* dgamma, T* dbeta) {
  const int nt = threads_for_work(10.0 * M * C, 3e4);
  const BnAffine<T> affine(C, gamma, beta, mean, rstd);
  // g = dL/d(pre): dy where the ReLU passed it; dx = rstd * gamma * (g - mean(g) - xhat *
  // mean(g * xhat)), xhat = (x - mean) * rstd.
  auto g_of = [&](int64_t r, int64_t c) {
    return !relu || affine(x[r * C + c], c) > T(0) ? dy[r * C + c] : T(0);
  };
  std::vector<double> sg(static_cast<size_t>(C)), sgx(static_cast<size_t>(C));
  column_sums<T>(M, C, nt,
                 [&](int64_t r, T* out) {
                   for (int64_t c = 0; c < C; ++c) out[c] = g_of(r, c);
                 },
                 sg.data());
  column_sums<T>(M, C, nt,
                 [&](int64_t r, T* out) {
                   for (int64_t c = 0; c < C; ++c)
                     out[c] = g_of(r, c) * (x[r * C + c] - mean[c]) * rstd[c];
                 },
                 sgx.data());
  Buffer<T> mg(static_cast<size_t>(C)), mgx(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    if (dbeta) dbeta[c] = static_cast<T>(sg[c]);
    if (dgamma) dgamma[c] = static_cast<T>(sgx[c]);
    mg[c] = static_cast<T>(sg[c] / double(M));
    mgx[c] = static_cast<T>(sgx[c] / double(M));
  }
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t r = 0; r < M; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const T xhat = (x[r * C + c] - mean[c]) * rstd[c];
      dx[r * C + c] = affine.scale[c] * (g_of(r, c) - mg[c] - xhat * mgx[c]);
    }
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void conv1d_forward_cpu<T>(const Conv1dShape&, const T*, const T*, const T*,      \
                                      Activation, T*);                                       \
  template void conv1d_backward_cpu<T>(const Conv1dShape&, const T*, const T*, const T*, T*, \
                                       T*, T*);                                              \
  template void conv1d_pack_cpu<T>(const Conv1dShape&, const T*, Buffer<T>&);                \
  template void conv1d_packed_forward_cpu<T>(const Conv1dShape&, const T*, const T*,         \
                                             Activation, const T*, T*);                      \
  template void batch_norm_forward_cpu<T>(int64_t, int64_t, const T*, const T*, const T*, T, \
                                          bool, T*, T*, T*, T*);                             \
  template void batch_norm_backward_cpu<T>(int64_t, int64_t, const T*, const T*, const T*,   \
                                           const T*, const T*, bool, const T*, T*, T*, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu

// CPU kernels of the output layers (Eigen packets + OpenMP). See output_layers.h.
//
// Why the work is laid out this way:
//  * Softmax cross-entropy is memory-bound: one pass for the row max (and the row sum for
//    label smoothing), one that writes exp(x - max) into dlogits while summing it, one that
//    rescales dlogits in place (the row is then in L2). torch makes ~6 passes over N*V.
//  * Reductions use explicit SIMD packets with loads at fixed offsets from the row start,
//    so the summation order never depends on the address or on the thread count.
//  * The sampled losses never touch more than the rows they use: per-row paths are dot /
//    axpy on gathered rows; shared negatives (and sampled softmax, whose samples are shared
//    by the batch as in TensorFlow) gather the K rows once and run three GEMMs, split into
//    fixed row/column blocks so every element's sum is the same for any thread count.
//  * Sparse row gradients: every contribution (row id, coefficient, source vector) is
//    listed, sorted by (id, occurrence), and each unique row sums its contributions in that
//    order: deterministic, no atomics, parallel over unique rows.
#include "cpu/output_layers_cpu.h"
#include "cpu/parallel.h"
#include "cpu/sparse_rows.h"
#include "cpu/vec.h"

#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

namespace seqcore::cpu {
namespace {


// Fixed GEMM blocks (rows of a result, or columns of D): the split of the work never
// depends on the thread count, so neither does any result.
constexpr int64_t kGemmBlock = 64;

// max of x[0..n), n >= 1; *sum (when given) gets the sum of x.
template <typename T>
inline T row_max(const T* x, int64_t n, T* sum) {
  using namespace Eigen::internal;
  using Packet = typename Simd<T>::Packet;
  constexpr int64_t P = Simd<T>::P;
  T m = x[0], s = T(0);
  int64_t i = 0;
  if (n >= 2 * P) {
    Packet m0 = ploadu<Packet>(x), m1 = ploadu<Packet>(x + P);
    Packet s0 = pset1<Packet>(T(0)), s1 = s0;
    for (; i + 2 * P <= n; i += 2 * P) {
      const Packet a = ploadu<Packet>(x + i), b = ploadu<Packet>(x + i + P);
      m0 = pmax(m0, a);
      m1 = pmax(m1, b);
      if (sum) {
        s0 = padd(s0, a);
        s1 = padd(s1, b);
      }
    }
    m = predux_max(pmax(m0, m1));
    if (sum) s = predux(padd(s0, s1));
  }
  for (; i < n; ++i) {
    m = std::max(m, x[i]);
    s += x[i];
  }
  if (sum) *sum = s;
  return m;
}

// sum_i exp(x[i] - m); out[i] = exp(x[i] - m) when out is given (may alias nothing).
template <typename T>
inline T exp_sum(const T* x, T m, T* out, int64_t n) {
  using namespace Eigen::internal;
  using Packet = typename Simd<T>::Packet;
  constexpr int64_t P = Simd<T>::P;
  const Packet pm = pset1<Packet>(m);
  Packet s0 = pset1<Packet>(T(0)), s1 = s0;
  int64_t i = 0;
  for (; i + 2 * P <= n; i += 2 * P) {
    const Packet a = pexp(psub(ploadu<Packet>(x + i), pm));
    const Packet b = pexp(psub(ploadu<Packet>(x + i + P), pm));
    if (out) {
      pstoreu(out + i, a);
      pstoreu(out + i + P, b);
    }
    s0 = padd(s0, a);
    s1 = padd(s1, b);
  }
  T s = predux(padd(s0, s1));
  for (; i < n; ++i) {
    const T e = std::exp(x[i] - m);
    if (out) out[i] = e;
    s += e;
  }
  return s;
}

// y[i] = y[i] * a + b
template <typename T>
inline void scale_shift(T* y, T a, T b, int64_t n) {
  using namespace Eigen::internal;
  using Packet = typename Simd<T>::Packet;
  constexpr int64_t P = Simd<T>::P;
  const Packet pa = pset1<Packet>(a), pb = pset1<Packet>(b);
  int64_t i = 0;
  for (; i + P <= n; i += P) pstoreu(y + i, pmadd(ploadu<Packet>(y + i), pa, pb));
  for (; i < n; ++i) y[i] = y[i] * a + b;
}

// Row max and sum of exp(x - max) in one read of x: fixed blocks that stay in L1, the
// running sum rescaled when a block raises the max (online softmax, Milakov & Gimelshein
// 2018). *sumx gets the sum of x when given. Blocks are fixed offsets of the row, so the
// result depends on the row only.
template <typename T>
inline T online_max_expsum(const T* x, int64_t n, T* max_out, T* sumx) {
  constexpr int64_t kBlock = 2048;
  T m = -std::numeric_limits<T>::infinity(), s = T(0), sx = T(0);
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t len = std::min(kBlock, n - b0);
    T bsx = T(0);
    const T bm = row_max(x + b0, len, sumx ? &bsx : nullptr);
    sx += bsx;
    if (bm > m) {
      s = s == T(0) ? T(0) : s * std::exp(m - bm);
      m = bm;
    }
    s += exp_sum(x + b0, m, static_cast<T*>(nullptr), len);
  }
  *max_out = m;
  if (sumx) *sumx = sx;
  return s;
}

// y[i] = exp(x[i] - m) * a + b for i < n, every element through the packet exp (the tails
// through a padded packet), so a value never depends on where y is aligned. Streaming
// stores when `nt` (64-byte aligned body; the caller fences).
template <typename T>
inline void exp_affine(const T* x, T m, T a, T b, T* y, int64_t n, bool nt) {
  using namespace Eigen::internal;
  using Packet = typename Simd<T>::Packet;
  constexpr int64_t P = Simd<T>::P;
  const Packet pm = pset1<Packet>(m), pa = pset1<Packet>(a), pb = pset1<Packet>(b);
  auto partial = [&](int64_t i0, int64_t i1) {  // i1 - i0 < P elements
    alignas(64) T buf[P];
    for (int64_t k = 0; k < P; ++k) buf[k] = i0 + k < i1 ? x[i0 + k] : m;
    pstore(buf, pmadd(pexp(psub(pload<Packet>(buf), pm)), pa, pb));
    for (int64_t k = 0; k < i1 - i0; ++k) y[i0 + k] = buf[k];
  };
  int64_t i = 0;
  if (nt) {
    const int64_t mis = static_cast<int64_t>(reinterpret_cast<uintptr_t>(y) % 64);
    if (mis % sizeof(T) != 0) {
      nt = false;  // not even element-aligned: plain stores
    } else {
      const int64_t head = std::min<int64_t>(n, mis ? (64 - mis) / static_cast<int64_t>(sizeof(T)) : 0);
      for (int64_t k = 0; k < head; k += P) partial(k, std::min(head, k + P));
      i = head;
      for (; i + P <= n; i += P)
        stream(y + i, pmadd(pexp(psub(ploadu<Packet>(x + i), pm)), pa, pb));
    }
  }
  for (; i + P <= n; i += P) pstoreu(y + i, pmadd(pexp(psub(ploadu<Packet>(x + i), pm)), pa, pb));
  if (i < n) partial(i, n);
}

// log(1 + exp(x)) without overflow.
template <typename T>
inline T softplus(T x) {
  return std::max(x, T(0)) + std::log1p(std::exp(-std::abs(x)));
}
template <typename T>
inline T sigmoid(T x) {
  if (x >= 0) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}
// One binary logistic output of score s (negative sampling, hierarchical softmax): adds
// -log sigma(s) (positive, label 1) or -log sigma(-s) (negative) to `loss`; returns
// scale * d/ds, i.e. scale * (sigma(s) - label).
template <typename T>
inline T logistic_term(T s, bool positive, T scale, T& loss) {
  loss += softplus(positive ? -s : s);
  return scale * (sigmoid(s) - (positive ? T(1) : T(0)));
}

// Row hn's `count` binary outputs (negative sampling: target + negatives; hierarchical
// softmax: the Huffman path): output i has weight row row(i) and label positive(i). dhn is
// set to sum_i g_i row(i); (g_i, hn) go to slot o0 + i of c for the weight-gradient pass.
// Returns the row's loss.
template <typename T, typename Contribs, typename RowFn, typename PositiveFn>
T binary_outputs_row(const T* hn, T* dhn, int64_t D, int64_t count, int64_t o0, T scale,
                     Contribs& c, RowFn row, PositiveFn positive) {
  std::fill(dhn, dhn + D, T(0));
  T l = T(0);
  for (int64_t i = 0; i < count; ++i) {
    const T* w = row(i);
    const T g = logistic_term(dot(w, hn, D), positive(i), scale, l);
    axpy(g, w, dhn, D);
    c.coef[o0 + i] = g;
    c.src[o0 + i] = hn;
  }
  return l;
}

// ---------------------------------------------------------------- reductions

double reduction_scale(Reduction r, int64_t count) {
  return r == Reduction::kMean ? 1.0 / static_cast<double>(count) : 1.0;
}

// Writes the reduced loss: the per-row values (kNone) or their sum / mean in a fixed order.
template <typename T>
void reduce_loss(const T* per_row, int64_t N, Reduction r, int64_t count, T* loss) {
  if (r == Reduction::kNone) {
    if (N > 0) std::memmove(loss, per_row, static_cast<size_t>(N) * sizeof(T));  // may be null
    return;
  }
  double s = 0;
  for (int64_t n = 0; n < N; ++n) s += per_row[n];
  loss[0] = static_cast<T>(r == Reduction::kMean
                               ? (count > 0 ? s / static_cast<double>(count)
                                            : std::numeric_limits<double>::quiet_NaN())
                               : s);
}

// Threads for a call of `items` independent items costing about `flops` in all: at least
// ~5e6 flops (~0.1 ms) per thread, so a fork pays for itself on a machine whose cores are
// free (shared NS K=25, N=1024, D=256: 3.9 ms on one thread). On an oversubscribed machine a
// barrier whose partner thread is descheduled costs a scheduler tick (with a load of ~6 on 2
// cores, 2 threads lost below ~40 ms of work): set_num_threads(1) there.
int threads_for(int64_t items, double flops) {
  if (omp_in_parallel()) return 1;
  const int64_t by_work = static_cast<int64_t>(flops / 5e6);
  return static_cast<int>(std::max<int64_t>(
      1, std::min<int64_t>({int64_t(get_num_threads()), items, by_work})));
}

// Prefetches the first `bytes` of a row into the caches (the sampled rows are random
// gathers from a matrix much larger than the caches: latency, not bandwidth, bounds them).
inline void prefetch_row(const void* p, int64_t bytes) {
  const char* c = static_cast<const char*>(p);
  for (int64_t o = 0; o < bytes; o += 64) __builtin_prefetch(c + o, 0, 3);
}

// Row block b (fixed size kGemmBlock) of M rows: [r0, r0 + count).
inline void gemm_block(int64_t b, int64_t M, int64_t& r0, int64_t& count) {
  r0 = b * kGemmBlock;
  count = std::min(kGemmBlock, M - r0);
}
inline int64_t gemm_blocks(int64_t M) { return (M + kGemmBlock - 1) / kGemmBlock; }

// C[K, D] = G[N, K]^T * H[N, D]: an orphaned `omp for` over fixed blocks of D columns (the
// sum over N stays inside one GEMM per block).
template <typename T>
void gemm_atb(const T* G, const T* H, T* C, int64_t N, int64_t K, int64_t D) {
#pragma omp for schedule(static)
  for (int64_t b = 0; b < gemm_blocks(D); ++b) {
    int64_t c0, c;
    gemm_block(b, D, c0, c);
    mat(C + c0, K, c, D).noalias() = cmat(G, N, K, K).transpose() * cmat(H + c0, N, c, D);
  }
}

// Rows ids[0..K) of w [., D] copied into a contiguous [K, D] block.
template <typename T>
void gather(const T* w, const int64_t* ids, int64_t K, int64_t D, T* out) {
  for (int64_t k = 0; k < K; ++k) std::memcpy(out + k * D, w + ids[k] * D, sizeof(T) * D);
}

}  // namespace

// ---------------------------------------------------------------- sigmoid cross-entropy

template <typename T>
void binary_cross_entropy_with_logits_cpu(const T* logits, const T* targets, const T* weight,
                                          int64_t n, T pos_weight, Reduction reduction, T* loss,
                                          T* dlogits) {
  // Blocks of a fixed size, each summed in order (in float64), then the blocks in order: the
  // same total for every thread count.
  constexpr int64_t kBlock = 4096;
  const int64_t nb = (n + kBlock - 1) / kBlock;
  const bool reduce = reduction != Reduction::kNone;
  std::vector<double> part(static_cast<size_t>(reduce ? nb : 0));
  const T gscale = reduction == Reduction::kMean ? T(1) / static_cast<T>(n) : T(1);
  const int nt = threads_for(nb, 30.0 * static_cast<double>(n));
#pragma omp parallel for num_threads(nt) schedule(static) if (nt > 1)
  for (int64_t b = 0; b < nb; ++b) {
    DenormalsFlushed ftz;
    double acc = 0;
    for (int64_t i = b * kBlock; i < std::min(n, (b + 1) * kBlock); ++i) {
      const T z = logits[i], y = targets[i], w = weight ? weight[i] : T(1);
      // softplus(-z) = log1p(exp(-|z|)) + max(-z, 0); softplus(z) = softplus(-z) + z
      const T e = std::exp(-std::abs(z));
      const T sp_neg = std::log1p(e) + std::max(-z, T(0));
      const T l = w * (pos_weight * y * sp_neg + (T(1) - y) * (sp_neg + z));
      if (reduce)
        acc += static_cast<double>(l);
      else
        loss[i] = l;
      if (dlogits) {
        const T sig = z >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
        dlogits[i] = gscale * w * ((T(1) - y) * sig - pos_weight * y * (T(1) - sig));
      }
    }
    if (reduce) part[static_cast<size_t>(b)] = acc;
  }
  if (reduce) {
    double total = 0;
    for (double p : part) total += p;
    loss[0] = static_cast<T>(reduction == Reduction::kMean ? total / static_cast<double>(n)
                                                           : total);
  }
}

// ---------------------------------------------------------------- softmax cross-entropy

template <typename T>
void softmax_cross_entropy_cpu(const T* logits, const int64_t* targets, int64_t N, int64_t V,
                               Reduction reduction, bool has_ignore, int64_t ignore_index,
                               double label_smoothing, T* loss, T* dlogits) {
  int64_t count = 0;
  for (int64_t n = 0; n < N; ++n) count += !(has_ignore && targets[n] == ignore_index);
  const double eps = label_smoothing;
  const double scale = reduction == Reduction::kMean ? (count ? 1.0 / count : 0.0) : 1.0;
  Buffer<T> per_row(static_cast<size_t>(N));
  const int nt = threads_for(N, 10.0 * N * V);
  // dlogits larger than the caches is written once with streaming stores.
  const bool nt_store = static_cast<double>(N) * V * sizeof(T) > 16e6;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      const T* x = logits + n * V;
      T* g = dlogits ? dlogits + n * V : nullptr;
      const int64_t t = targets[n];
      if (has_ignore && t == ignore_index) {
        per_row[n] = T(0);
        if (g) std::fill(g, g + V, T(0));
        continue;
      }
      T m, sumx = T(0);
      const T s = online_max_expsum(x, V, &m, eps > 0 ? &sumx : nullptr);
      const double lse = static_cast<double>(m) + std::log(static_cast<double>(s));
      double l = (1.0 - eps) * (lse - static_cast<double>(x[t]));
      if (eps > 0) l += eps * (lse - static_cast<double>(sumx) / static_cast<double>(V));
      per_row[n] = static_cast<T>(l);
      if (g) {  // softmax * scale - target distribution * scale, in one write of the row
        exp_affine(x, m, static_cast<T>(scale / s), static_cast<T>(-scale * eps / V), g, V,
                   nt_store);
        stream_fence();
        g[t] -= static_cast<T>(scale * (1.0 - eps));
      }
    }
  }
  reduce_loss(per_row.data(), N, reduction, count, loss);
}

template <typename T>
void log_softmax_cpu(const T* x, int64_t M, int64_t V, T* out) {
  const int nt = threads_for(M, 10.0 * M * V);
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
  for (int64_t r = 0; r < M; ++r) {
    DenormalsFlushed ftz;
    const T* xr = x + r * V;
    const T m = row_max(xr, V, static_cast<T*>(nullptr));
    const T s = exp_sum(xr, m, static_cast<T*>(nullptr), V);
    const T lse = static_cast<T>(static_cast<double>(m) + std::log(static_cast<double>(s)));
    T* o = out + r * V;
    for (int64_t i = 0; i < V; ++i) o[i] = xr[i] - lse;
  }
}

// ---------------------------------------------------------------- negative sampling

template <typename T>
void negative_sampling_loss_cpu(const T* h, const T* w_out, const int64_t* targets,
                                const int64_t* negatives, int64_t N, int64_t D, int64_t K,
                                bool shared_negatives, Reduction reduction, T* loss, T* dh,
                                SparseRows<T>& drows) {
  const T scale = static_cast<T>(reduction_scale(reduction, N));
  // Per-row gathers are latency-bound: count them as 4x their flops.
  const int nt = threads_for(N, (shared_negatives ? 6.0 : 24.0) * N * (K + 1) * D);
  Buffer<T> per_row(static_cast<size_t>(N));
  Contributions<T> c;
  const int64_t K1 = K + 1;
  if (!shared_negatives) {
    // Per row: K+1 dots and axpys on gathered rows of w_out; contribution n*(K+1)+j.
    c.resize(static_cast<size_t>(N * K1), false);
    for (int64_t n = 0; n < N; ++n) {
      c.ids[n * K1] = targets[n];
      for (int64_t k = 0; k < K; ++k) c.ids[n * K1 + 1 + k] = negatives[n * K + k];
    }
    const ScatterPlan plan = plan_scatter(c.ids, D, drows, static_cast<std::vector<T>*>(nullptr));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      DenormalsFlushed ftz;
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        if (n + 1 < N)  // the next row's K+1 output rows
          for (int64_t j = 0; j < K1; ++j)
            prefetch_row(w_out + c.ids[(n + 1) * K1 + j] * D, D * static_cast<int64_t>(sizeof(T)));
        per_row[n] = binary_outputs_row(
            h + n * D, dh + n * D, D, K1, n * K1, scale, c,
            [&](int64_t j) { return w_out + c.ids[n * K1 + j] * D; },
            [](int64_t j) { return j == 0; });  // j == 0: the target
      }
      accumulate_rows(c, plan, D, drows, static_cast<std::vector<T>*>(nullptr));
    }
    reduce_loss(per_row.data(), N, reduction, N, loss);
    return;
  }
  // Shared negatives (HogBatch, Ji et al. 2016): per block of rows S = H Wk^T, the loss and
  // G = dloss/dS, dH = G Wk (+ the target term); then dWk = G^T H. Contributions: the N
  // targets (coefficient g0[n], vector h[n]), then the K negatives (1, dWk[k]).
  Buffer<T> wk(static_cast<size_t>(K * D)), G(static_cast<size_t>(N * K)),
      dwk(static_cast<size_t>(K * D));
  gather(w_out, negatives, K, D, wk.data());
  c.resize(static_cast<size_t>(N + K), false);
  std::copy(targets, targets + N, c.ids.begin());
  std::copy(negatives, negatives + K, c.ids.begin() + N);
  for (int64_t k = 0; k < K; ++k) {
    c.coef[N + k] = T(1);
    c.src[N + k] = dwk.data() + k * D;
  }
  const ScatterPlan plan = plan_scatter(c.ids, D, drows, static_cast<std::vector<T>*>(nullptr));
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
#pragma omp for schedule(static)
    for (int64_t b = 0; b < gemm_blocks(N); ++b) {
      int64_t r0, r;
      gemm_block(b, N, r0, r);
      mat(G.data() + r0 * K, r, K, K).noalias() = cmat(h + r0 * D, r, D, D) * cmat(wk.data(), K, D, D).transpose();
      for (int64_t n = r0; n < r0 + r; ++n) {
        const T* wt = w_out + targets[n] * D;
        const T s0 = dot(wt, h + n * D, D);
        T l = 0;
        c.coef[n] = logistic_term(s0, /*positive=*/true, scale, l);
        c.src[n] = h + n * D;
        T* Gn = G.data() + n * K;
        for (int64_t k = 0; k < K; ++k) Gn[k] = logistic_term(Gn[k], /*positive=*/false, scale, l);
        per_row[n] = l;
      }
      mat(dh + r0 * D, r, D, D).noalias() = cmat(G.data() + r0 * K, r, K, K) * cmat(wk.data(), K, D, D);
      for (int64_t n = r0; n < r0 + r; ++n) axpy(c.coef[n], w_out + targets[n] * D, dh + n * D, D);
    }
    gemm_atb(G.data(), h, dwk.data(), N, K, D);
    accumulate_rows(c, plan, D, drows, static_cast<std::vector<T>*>(nullptr));
  }
  reduce_loss(per_row.data(), N, reduction, N, loss);
}

// ---------------------------------------------------------------- sampled softmax

template <typename T>
void sampled_softmax_loss_cpu(const T* h, const T* w_out, const T* b_out,
                              const int64_t* targets, const int64_t* sampled,
                              const T* log_q_true, const T* log_q_sampled, int64_t N,
                              int64_t D, int64_t S, bool remove_accidental_hits,
                              Reduction reduction, T* loss, T* dh, SparseRows<T>& drows,
                              std::vector<T>& dbias) {
  const T scale = static_cast<T>(reduction_scale(reduction, N));
  const int nt = threads_for(N, 6.0 * N * (S + 1) * D);
  Buffer<T> ws(static_cast<size_t>(S * D)), Z(static_cast<size_t>(N * S)),
      dws(static_cast<size_t>(S * D)), per_row(static_cast<size_t>(N));
  gather(w_out, sampled, S, D, ws.data());
  // Contributions: the N targets (coefficient dloss/dz_true, vector h[n]), then the S
  // sampled classes (1, dWs[s]); bias gradients alongside.
  Contributions<T> c;
  c.resize(static_cast<size_t>(N + S), b_out != nullptr);
  std::copy(targets, targets + N, c.ids.begin());
  std::copy(sampled, sampled + S, c.ids.begin() + N);
  for (int64_t s = 0; s < S; ++s) {
    c.coef[N + s] = T(1);
    c.src[N + s] = dws.data() + s * D;
  }
  const ScatterPlan plan = plan_scatter(c.ids, D, drows, &dbias);
  const T neg_inf = -std::numeric_limits<T>::infinity();
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    // Per block of rows: Z = H Ws^T, the row softmax over [true, sampled], dH = dZ Ws.
#pragma omp for schedule(static)
    for (int64_t b = 0; b < gemm_blocks(N); ++b) {
      int64_t r0, r;
      gemm_block(b, N, r0, r);
      mat(Z.data() + r0 * S, r, S, S).noalias() = cmat(h + r0 * D, r, D, D) * cmat(ws.data(), S, D, D).transpose();
      for (int64_t n = r0; n < r0 + r; ++n) {
        const int64_t t = targets[n];
        T zt = dot(w_out + t * D, h + n * D, D);
        if (b_out) zt += b_out[t];
        if (log_q_true) zt -= log_q_true[n];
        T* z = Z.data() + n * S;
        bool hit = false;
        for (int64_t s = 0; s < S; ++s) {
          if (b_out) z[s] += b_out[sampled[s]];
          if (log_q_sampled) z[s] -= log_q_sampled[s];
          if (remove_accidental_hits && sampled[s] == t) {
            z[s] = neg_inf;
            hit = true;
          }
        }
        const T m = std::max(zt, row_max(z, S, static_cast<T*>(nullptr)));
        const T et = std::exp(zt - m);
        T sum = exp_sum(z, m, z, S);  // z <- exp(z - m)
        if (hit) {  // a removed hit contributes exactly nothing
          for (int64_t s = 0; s < S; ++s)
            if (sampled[s] == t) {
              sum -= z[s];
              z[s] = T(0);
            }
        }
        sum += et;
        per_row[n] = m + std::log(sum) - zt;
        const T a = scale / sum;
        const T g0 = et * a - scale;
        scale_shift(z, a, T(0), S);  // Z now holds dloss/dz
        c.coef[n] = g0;
        c.src[n] = h + n * D;
        if (b_out) c.bias[n] = g0;
      }
      mat(dh + r0 * D, r, D, D).noalias() = cmat(Z.data() + r0 * S, r, S, S) * cmat(ws.data(), S, D, D);
      for (int64_t n = r0; n < r0 + r; ++n) axpy(c.coef[n], w_out + targets[n] * D, dh + n * D, D);
    }
    gemm_atb(Z.data(), h, dws.data(), N, S, D);
    if (b_out) {  // column sums of dloss/dz over fixed column blocks, each in row order
#pragma omp for schedule(static)
      for (int64_t b = 0; b < gemm_blocks(S); ++b) {
        int64_t s0, cnt;
        gemm_block(b, S, s0, cnt);
        T* colsum = c.bias.data() + N + s0;
        std::fill(colsum, colsum + cnt, T(0));
        for (int64_t n = 0; n < N; ++n) axpy(T(1), Z.data() + n * S + s0, colsum, cnt);
      }
    }
    accumulate_rows(c, plan, D, drows, &dbias);
  }
  reduce_loss(per_row.data(), N, reduction, N, loss);
}

// ---------------------------------------------------------------- hierarchical softmax

template <typename T>
void hierarchical_softmax_loss_cpu(const T* h, const T* w_inner, const HuffmanTree& tree,
                                   const int64_t* targets, int64_t N, int64_t D,
                                   Reduction reduction, T* loss, T* dh, SparseRows<T>& drows) {
  const T scale = static_cast<T>(reduction_scale(reduction, N));
  const int64_t* off = tree.offsets().data();
  const int64_t* points = tree.points().data();
  const uint8_t* codes = tree.codes().data();
  std::vector<int64_t> first(static_cast<size_t>(N + 1), 0);  // contributions of row n
  for (int64_t n = 0; n < N; ++n) first[n + 1] = first[n] + tree.depth(targets[n]);
  Contributions<T> c;
  c.resize(static_cast<size_t>(first[N]), false);
  for (int64_t n = 0; n < N; ++n)
    std::copy(points + off[targets[n]], points + off[targets[n] + 1], c.ids.begin() + first[n]);
  const ScatterPlan plan = plan_scatter(c.ids, D, drows, static_cast<std::vector<T>*>(nullptr));
  Buffer<T> per_row(static_cast<size_t>(N));
  const int nt = threads_for(N, 6.0 * static_cast<double>(first[N]) * D);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
#pragma omp for schedule(static)
    for (int64_t n = 0; n < N; ++n) {
      if (n + 1 < N)  // the next row's path
        for (int64_t o = first[n + 1]; o < first[n + 2]; ++o)
          prefetch_row(w_inner + c.ids[o] * D, D * static_cast<int64_t>(sizeof(T)));
      const int64_t j0 = off[targets[n]];
      per_row[n] = binary_outputs_row(
          h + n * D, dh + n * D, D, off[targets[n] + 1] - j0, first[n], scale, c,
          [&](int64_t i) { return w_inner + points[j0 + i] * D; },
          [&](int64_t i) { return codes[j0 + i] == 0; });  // code bit 0: label 1
    }
    accumulate_rows(c, plan, D, drows, static_cast<std::vector<T>*>(nullptr));
  }
  reduce_loss(per_row.data(), N, reduction, N, loss);
}

template <typename T>
void hierarchical_softmax_log_probs_cpu(const T* h, const T* w_inner, const HuffmanTree& tree,
                                        const int64_t* ids, int64_t N, int64_t D, int64_t M,
                                        T* out) {
  const int64_t V = tree.size(), I = V - 1;
  const int nt = threads_for(N, 40.0 * N * M * D);
  auto log_sigmoid = [](T x) { return -softplus(-x); };
  if (ids) {
    const int64_t* off = tree.offsets().data();
    const int64_t* points = tree.points().data();
    const uint8_t* codes = tree.codes().data();
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1)
    for (int64_t n = 0; n < N; ++n) {
      DenormalsFlushed ftz;
      for (int64_t m = 0; m < M; ++m) {
        const int64_t w = ids[n * M + m];
        T lp = T(0);
        for (int64_t j = off[w]; j < off[w + 1]; ++j) {
          const T s = dot(w_inner + points[j] * D, h + n * D, D);
          lp += log_sigmoid(codes[j] ? -s : s);
        }
        out[n * M + m] = lp;
      }
    }
    return;
  }
  if (I == 0) {  // one word: probability 1
    std::fill(out, out + N, T(0));
    return;
  }
  // Every word: scores of all inner nodes for a block of rows (a GEMM), then one top-down
  // pass per row; inner nodes are created after their children, so a descending index
  // visits every parent before its children.
  const int64_t blocks = (N + kGemmBlock - 1) / kGemmBlock;
  const int ntb = threads_for(blocks, 2.0 * N * V * D);
  RegionErrors errors;
#pragma omp parallel num_threads(ntb) if (ntb > 1)
  {
    DenormalsFlushed ftz;
    Buffer<T> S, lp;
    errors.run([&] {
      S.resize(static_cast<size_t>(kGemmBlock * I));
      lp.resize(static_cast<size_t>(I));
    });
#pragma omp for schedule(static)
    for (int64_t b = 0; b < blocks; ++b) {
      if (errors.failed()) continue;
      const int64_t r0 = b * kGemmBlock, r = std::min(kGemmBlock, N - r0);
      mat(S.data(), r, I, I).noalias() = cmat(h + r0 * D, r, D, D) * cmat(w_inner, I, D, D).transpose();
      for (int64_t i = 0; i < r; ++i) {
        const T* s = S.data() + i * I;
        T* o = out + (r0 + i) * V;
        lp[I - 1] = T(0);
        for (int64_t a = I - 1; a >= 0; --a) {
          const T base = lp[a];
          for (int bit = 0; bit < 2; ++bit) {
            const T v = base + log_sigmoid(bit ? -s[a] : s[a]);
            const int64_t child = tree.child(a, bit);
            if (child < V)
              o[child] = v;
            else
              lp[child - V] = v;
          }
        }
      }
    }
  }
  errors.rethrow();
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void softmax_cross_entropy_cpu<T>(const T*, const int64_t*, int64_t, int64_t,     \
                                             Reduction, bool, int64_t, double, T*, T*);       \
  template void log_softmax_cpu<T>(const T*, int64_t, int64_t, T*);                           \
  template void binary_cross_entropy_with_logits_cpu<T>(const T*, const T*, const T*, int64_t, \
                                                        T, Reduction, T*, T*);               \
  template void negative_sampling_loss_cpu<T>(const T*, const T*, const int64_t*,            \
                                              const int64_t*, int64_t, int64_t, int64_t,      \
                                              bool, Reduction, T*, T*, SparseRows<T>&);       \
  template void sampled_softmax_loss_cpu<T>(const T*, const T*, const T*, const int64_t*,    \
                                            const int64_t*, const T*, const T*, int64_t,      \
                                            int64_t, int64_t, bool, Reduction, T*, T*,        \
                                            SparseRows<T>&, std::vector<T>&);                 \
  template void hierarchical_softmax_loss_cpu<T>(const T*, const T*, const HuffmanTree&,     \
                                                 const int64_t*, int64_t, int64_t, Reduction, \
                                                 T*, T*, SparseRows<T>&);                     \
  template void hierarchical_softmax_log_probs_cpu<T>(const T*, const T*, const HuffmanTree&, \
                                                      const int64_t*, int64_t, int64_t,       \
                                                      int64_t, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore::cpu

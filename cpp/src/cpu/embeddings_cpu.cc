// Word-embedding kernels: the embedding lookup (row gather, bags, and their sparse-row
// gradient through sparse_rows.h), blocked top-k of dot products (nearest neighbours), GloVe
// co-occurrence counting (sort-reduce of integer counts per distance) and the AdaGrad epoch.
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "seqcore/common.h"
#include "seqcore/embeddings.h"
#include "cpu/parallel.h"
#include "cpu/sparse_rows.h"
#include "cpu/vec.h"

namespace seqcore::cpu {

namespace {


template <typename T>
struct Candidate {
  T score;
  int64_t index;
};
// Total order: score descending, then index ascending; so any split of the rows into chunks
// and threads selects the same k.
template <typename T>
inline bool ranks_before(const Candidate<T>& a, const Candidate<T>& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

}  // namespace

// ---- embedding lookup -------------------------------------------------------------------

template <typename T>
void embedding_forward(const T* weight, int64_t D, const int64_t* ids, int64_t n, T* out) {
#pragma omp parallel for schedule(static) num_threads(get_num_threads()) if (n * D > (1 << 16))
  for (int64_t i = 0; i < n; ++i)
    std::copy(weight + ids[i] * D, weight + (ids[i] + 1) * D, out + i * D);
}

template <typename T>
void embedding_bag_forward(const T* weight, int64_t D, const int64_t* ids,
                           const int64_t* offsets, int64_t B, bool mean, int64_t padding_idx,
                           T* out) {
#pragma omp parallel for schedule(static) num_threads(get_num_threads()) \
    if (offsets[B] * D > (1 << 16))
  for (int64_t b = 0; b < B; ++b) {
    T* o = out + b * D;
    std::fill(o, o + D, T(0));
    int64_t count = 0;
    for (int64_t i = offsets[b]; i < offsets[b + 1]; ++i) {  // in order: deterministic
      if (ids[i] == padding_idx) continue;
      axpy(T(1), weight + ids[i] * D, o, D);
      ++count;
    }
    if (mean && count > 1) {
      const T inv = T(1) / static_cast<T>(count);
      for (int64_t d = 0; d < D; ++d) o[d] *= inv;
    }
  }
}

// Both gradients as contributions: entry i (not padding) adds coef * dout[row] to weight row
// ids[i], where row = i (lookup, offsets == nullptr) or its bag b (coef 1/count for mean).
template <typename T>
void embedding_grad(const T* dout, const int64_t* ids, const int64_t* offsets, int64_t B,
                    int64_t D, bool mean, int64_t padding_idx, SparseRows<T>& dweight) {
  Contributions<T> c;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t i0 = offsets ? offsets[b] : b, i1 = offsets ? offsets[b + 1] : b + 1;
    int64_t count = 0;
    for (int64_t i = i0; i < i1; ++i) count += ids[i] != padding_idx;
    const T coef = mean && count > 0 ? T(1) / static_cast<T>(count) : T(1);
    for (int64_t i = i0; i < i1; ++i) {
      if (ids[i] == padding_idx) continue;
      c.ids.push_back(ids[i]);
      c.coef.push_back(coef);
      c.src.push_back(dout + b * D);
    }
  }
  const ScatterPlan plan = plan_scatter(c.ids, D, dweight, static_cast<std::vector<T>*>(nullptr));
  const int64_t R = static_cast<int64_t>(dweight.rows.size());
#pragma omp parallel num_threads(get_num_threads()) if (R * D > (1 << 16))
  accumulate_rows(c, plan, D, dweight, static_cast<std::vector<T>*>(nullptr));
}

#define SEQCORE_EMBEDDING_CPU_INST(T)                                                        \
  template void embedding_forward<T>(const T*, int64_t, const int64_t*, int64_t, T*);        \
  template void embedding_bag_forward<T>(const T*, int64_t, const int64_t*, const int64_t*, \
                                         int64_t, bool, int64_t, T*);                        \
  template void embedding_grad<T>(const T*, const int64_t*, const int64_t*, int64_t, int64_t, \
                                  bool, int64_t, SparseRows<T>&);
SEQCORE_EMBEDDING_CPU_INST(float)
SEQCORE_EMBEDDING_CPU_INST(double)
#undef SEQCORE_EMBEDDING_CPU_INST

// ---- nearest neighbours -----------------------------------------------------------------

template <typename T>
void top_k_dot(const T* vectors, int64_t V, int64_t D, const T* queries, int64_t Q, int64_t K,
               int64_t* indices, T* scores) {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  // Fixed chunk of rows: each chunk's GEMM has the same shape whatever the thread count,
  // so the scores (and the selection) are bit-identical for any number of threads.
  constexpr int64_t kChunk = 2048;
  const int64_t nchunks = (V + kChunk - 1) / kChunk;
  const T neg_inf = -std::numeric_limits<T>::infinity();
  std::vector<Candidate<T>> cand(static_cast<size_t>(nchunks * Q * K));
  // Threads only when there is work to share: waking a team costs more than a small search.
  const bool small = static_cast<double>(V) * D * Q < double(1 << 20);
  const int nt = small ? 1
                       : static_cast<int>(std::max<int64_t>(
                             1, std::min<int64_t>(get_num_threads(), std::max(nchunks, Q))));
  const Eigen::Map<const Mat> qm(queries, Q, D);
  RegionErrors errors;  // s and tmp grow inside the loops
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    Mat s;
    std::vector<Candidate<T>> tmp;
    // Dynamic: a chunk's result does not depend on which thread computes it, and a busy
    // core then does not hold up the others.
#pragma omp for schedule(dynamic, 1)
    for (int64_t c = 0; c < nchunks; ++c) errors.run([&] {
      const int64_t r0 = c * kChunk, rows = std::min(kChunk, V - r0);
      s.resize(Q, rows);
      if (Q == 1) {  // GEMV: memory-bound; a fixed-order dot keeps it alignment-independent
        for (int64_t r = 0; r < rows; ++r) s(0, r) = dot(vectors + (r0 + r) * D, queries, D);
      } else {  // GEMM (packed operands: the order of the sums does not depend on addresses)
        const Eigen::Map<const Mat> vm(vectors + r0 * D, rows, D);
        s.noalias() = qm * vm.transpose();
      }
      const int64_t keep = std::min(K, rows);
      for (int64_t q = 0; q < Q; ++q) {
        tmp.resize(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) {
          const T v = s(q, r);
          tmp[r] = {std::isnan(v) ? neg_inf : v, r0 + r};
        }
        std::partial_sort(tmp.begin(), tmp.begin() + keep, tmp.end(), ranks_before<T>);
        Candidate<T>* out = cand.data() + (c * Q + q) * K;
        std::copy(tmp.begin(), tmp.begin() + keep, out);
        for (int64_t i = keep; i < K; ++i) out[i] = {neg_inf, std::numeric_limits<int64_t>::max()};
      }
    });
#pragma omp for schedule(dynamic, 16)
    for (int64_t q = 0; q < Q; ++q) errors.run([&] {
      tmp.resize(static_cast<size_t>(nchunks * K));
      for (int64_t c = 0; c < nchunks; ++c)
        std::copy_n(cand.data() + (c * Q + q) * K, K, tmp.data() + c * K);
      std::partial_sort(tmp.begin(), tmp.begin() + K, tmp.end(), ranks_before<T>);
      for (int64_t i = 0; i < K; ++i) {
        indices[q * K + i] = tmp[i].index;
        scores[q * K + i] = tmp[i].score;
      }
    });
  }
  errors.rethrow();
}
template void top_k_dot<float>(const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                               int64_t*, float*);
template void top_k_dot<double>(const double*, int64_t, int64_t, const double*, int64_t,
                                int64_t, int64_t*, double*);

// ---- GloVe co-occurrences ------------------------------------------------------------------

namespace {

using KeyCount = std::pair<uint64_t, uint64_t>;  // key ((i * V + j) * window + d - 1), count

// a <- a + b for two key-sorted lists (counts of equal keys added).
void merge_add(std::vector<KeyCount>* a, const std::vector<KeyCount>& b) {
  std::vector<KeyCount> out;
  out.reserve(a->size() + b.size());
  size_t i = 0, j = 0;
  while (i < a->size() || j < b.size()) {
    if (j == b.size() || (i < a->size() && (*a)[i].first < b[j].first)) {
      out.push_back((*a)[i++]);
    } else if (i == a->size() || b[j].first < (*a)[i].first) {
      out.push_back(b[j++]);
    } else {
      out.emplace_back((*a)[i].first, (*a)[i].second + b[j].second);
      ++i, ++j;
    }
  }
  a->swap(out);
}

// Sorts the raw keys, run-length encodes them and adds them into *reduced.
void flush(std::vector<uint64_t>* raw, std::vector<KeyCount>* reduced) {
  if (raw->empty()) return;
  std::sort(raw->begin(), raw->end());
  std::vector<KeyCount> runs;
  for (size_t i = 0; i < raw->size();) {
    size_t j = i;
    while (j < raw->size() && (*raw)[j] == (*raw)[i]) ++j;
    runs.emplace_back((*raw)[i], j - i);
    i = j;
  }
  raw->clear();
  merge_add(reduced, runs);
}

}  // namespace

Cooccurrence glove_cooccur(const int32_t* tokens, const int64_t* offsets, int64_t n_sentences,
                           int64_t V, int64_t window) {
  // Raw keys are buffered (64 MB per worker) and reduced, like the overflow files that
  // Stanford's cooccur sorts and merges. Chunks are fixed by the token count, not the
  // thread count; integer counts make the merge order irrelevant anyway.
  constexpr size_t kFlush = size_t(1) << 23;
  const int64_t n_tokens = offsets[n_sentences];
  const int nt = std::max(1, get_num_threads());
  const int64_t nchunks = std::max<int64_t>(1, std::min<int64_t>(nt, n_sentences));
  std::vector<int64_t> bounds(nchunks + 1);
  for (int64_t c = 0; c <= nchunks; ++c)
    bounds[c] = std::lower_bound(offsets, offsets + n_sentences + 1, n_tokens * c / nchunks) -
                offsets;
  bounds[nchunks] = n_sentences;
  std::vector<std::vector<KeyCount>> reduced(nchunks);
  const uint64_t Vu = V, W = window;
  RegionErrors errors;  // the pair lists grow with the corpus
#pragma omp parallel for num_threads(nt) schedule(static, 1) if (nt > 1)
  for (int64_t c = 0; c < nchunks; ++c) errors.run([&] {
    std::vector<uint64_t> raw;
    for (int64_t s = bounds[c]; s < bounds[c + 1]; ++s) {
      const int64_t begin = offsets[s], end = offsets[s + 1];
      for (int64_t p = begin; p < end; ++p) {
        const uint64_t wp = static_cast<uint64_t>(tokens[p]);
        for (int64_t d = 1; d <= window && p - d >= begin; ++d) {
          const uint64_t wq = static_cast<uint64_t>(tokens[p - d]);
          raw.push_back((wp * Vu + wq) * W + (d - 1));
          raw.push_back((wq * Vu + wp) * W + (d - 1));
        }
        if (raw.size() >= kFlush) flush(&raw, &reduced[c]);
      }
    }
    flush(&raw, &reduced[c]);
  });
  errors.rethrow();
  std::vector<KeyCount> all = std::move(reduced[0]);
  for (int64_t c = 1; c < nchunks; ++c) merge_add(&all, reduced[c]);

  Cooccurrence x;
  for (size_t e = 0; e < all.size();) {
    const uint64_t ij = all[e].first / W;
    double v = 0.0;  // sum over d ascending of count_d / d: a fixed order
    for (; e < all.size() && all[e].first / W == ij; ++e)
      v += static_cast<double>(all[e].second) / static_cast<double>(all[e].first % W + 1);
    x.row.push_back(static_cast<int32_t>(ij / Vu));
    x.col.push_back(static_cast<int32_t>(ij % Vu));
    x.value.push_back(v);
  }
  return x;
}

// ---- GloVe AdaGrad epoch --------------------------------------------------------------------

namespace {

inline uint64_t splitmix64(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

template <typename T>
double glove_epoch(const int32_t* row, const int32_t* col, const double* log_x,
                   const double* weight, int64_t nnz, T* params, T* gradsq, int64_t V, int64_t D,
                   double learning_rate, uint64_t seed, int64_t epoch, int workers,
                   StopToken* stop) {
  // Fisher-Yates with our own generator: the order is the same on every platform.
  std::vector<int64_t> order(static_cast<size_t>(nnz));
  std::iota(order.begin(), order.end(), int64_t(0));
  uint64_t state = seed * 0x2545F4914F6CDD1Dull + static_cast<uint64_t>(epoch) + 1;
  for (int64_t i = nnz - 1; i > 0; --i) {
    if ((i & 0xFFFF) == 0 && stop_requested(stop)) return 0.0;  // 10^7 entries: ~0.1 s
    const int64_t j = static_cast<int64_t>(splitmix64(&state) % static_cast<uint64_t>(i + 1));
    std::swap(order[i], order[j]);
  }
  const int64_t L = D + 1;
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(workers, nnz)));
  std::vector<double> partial(nt, 0.0);
  // Blocks of entries taken dynamically: thread 0, which polls `stop`, works to the end
  // (with halves fixed in advance it could finish first and leave the rest unpolled).
  constexpr int64_t kBlock = 1024;
  const int64_t nblocks = (nnz + kBlock - 1) / kBlock;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    DenormalsFlushed ftz;
    double cost = 0.0;
#pragma omp for schedule(dynamic, 1)
    for (int64_t blk = 0; blk < nblocks; ++blk) {
    if (stop_requested(stop)) continue;
    for (int64_t e = blk * kBlock; e < std::min(nnz, (blk + 1) * kBlock); ++e) {
      const int64_t k = order[e];
      T* w = params + row[k] * L;
      T* c = params + (V + col[k]) * L;
      T* gw = gradsq + row[k] * L;
      T* gc = gradsq + (V + col[k]) * L;
      const double diff = static_cast<double>(dot(w, c, D)) + w[D] + c[D] - log_x[k];
      double fdiff = weight[k] * diff;
      cost += fdiff * diff;
      fdiff *= learning_rate;
      // AdaGrad step on both vectors from the gradients at the old values (glove.c).
      const T f = static_cast<T>(fdiff);
      for (int64_t d = 0; d < D; ++d) {
        const T t1 = f * c[d], t2 = f * w[d];
        w[d] -= t1 / std::sqrt(gw[d]);
        c[d] -= t2 / std::sqrt(gc[d]);
        gw[d] += t1 * t1;
        gc[d] += t2 * t2;
      }
      w[D] -= static_cast<T>(fdiff / std::sqrt(static_cast<double>(gw[D])));
      c[D] -= static_cast<T>(fdiff / std::sqrt(static_cast<double>(gc[D])));
      gw[D] += static_cast<T>(fdiff * fdiff);
      gc[D] += static_cast<T>(fdiff * fdiff);
    }
    }
    partial[omp_get_thread_num()] = cost;
  }
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}
template double glove_epoch<float>(const int32_t*, const int32_t*, const double*, const double*,
                                   int64_t, float*, float*, int64_t, int64_t, double, uint64_t,
                                   int64_t, int, StopToken*);
template double glove_epoch<double>(const int32_t*, const int32_t*, const double*,
                                    const double*, int64_t, double*, double*, int64_t, int64_t,
                                    double, uint64_t, int64_t, int, StopToken*);

}  // namespace seqcore::cpu

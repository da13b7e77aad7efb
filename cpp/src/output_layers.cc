// Unigram sampler and Huffman tree construction; validation and dispatch of the output-layer
// kernels (output_layers.h).
#include "seqcore/output_layers.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "cpu/output_layers_cpu.h"

namespace seqcore {

namespace {

void check_counts(const double* counts, int64_t V, const char* who) {
  check(V >= 1, std::string(who) + ": counts must have at least one entry (V >= 1), got V = " +
                    std::to_string(V));
  double total = 0;
  for (int64_t i = 0; i < V; ++i) {
    check(std::isfinite(counts[i]) && counts[i] >= 0,
          std::string(who) + ": counts must be finite and >= 0, got counts[" +
              std::to_string(i) + "] = " + std::to_string(counts[i]));
    total += counts[i];
  }
  check(total > 0, std::string(who) + ": counts must have a positive sum, got 0");
}

// Every id in [0, V) (or == ignore when allowed).
void check_ids(const int64_t* ids, int64_t n, int64_t V, const char* name,
               bool has_ignore = false, int64_t ignore = 0) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t v = ids[i];
    if ((v < 0 || v >= V) && !(has_ignore && v == ignore))
      throw std::invalid_argument(std::string(name) + ": ids must be in [0, V=" +
                                  std::to_string(V) + "), got " + name + "[" +
                                  std::to_string(i) + "] = " + std::to_string(v));
  }
}

}  // namespace

// ------------------------------------------------------------------ UnigramSampler

UnigramSampler::UnigramSampler(const double* counts, int64_t V, double power)
    : V_(V), power_(power) {
  check_counts(counts, V, "UnigramSampler");
  check(std::isfinite(power), "UnigramSampler: power must be finite, got " + std::to_string(power));
  const size_t n = static_cast<size_t>(V);
  prob_.resize(n);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    prob_[i] = counts[i] > 0 ? std::pow(counts[i], power) : 0.0;  // a zero count is never drawn
    total += prob_[i];
  }
  check(std::isfinite(total) && total > 0,
        "UnigramSampler: counts^power overflows or sums to 0 (power " + std::to_string(power) +
            ")");
  for (double& p : prob_) p /= total;

  // Vose's alias construction: every bucket holds mass 1/V split between itself
  // (threshold) and one alias. Worklists in index order keep it deterministic.
  threshold_.assign(n, 1.0);
  alias_.resize(n);
  std::iota(alias_.begin(), alias_.end(), int64_t(0));
  std::vector<double> scaled(n);
  std::vector<int64_t> small, large;
  int64_t heaviest = 0;
  for (size_t i = 0; i < n; ++i) {
    scaled[i] = prob_[i] * static_cast<double>(V);
    (scaled[i] < 1.0 ? small : large).push_back(static_cast<int64_t>(i));
    if (prob_[i] > prob_[heaviest]) heaviest = static_cast<int64_t>(i);
  }
  while (!small.empty() && !large.empty()) {
    const int64_t s = small.back(), l = large.back();
    small.pop_back();
    threshold_[s] = scaled[s];
    alias_[s] = l;
    scaled[l] = (scaled[l] + scaled[s]) - 1.0;
    if (scaled[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are 1 up to rounding: they keep their bucket, except a zero-probability id
  // (only possible through rounding), which always yields the heaviest id.
  for (int64_t i : small) {
    threshold_[i] = prob_[i] > 0 ? 1.0 : 0.0;
    alias_[i] = prob_[i] > 0 ? i : heaviest;
  }
  for (int64_t i : large) threshold_[i] = 1.0;
}

double UnigramSampler::log_prob(int64_t id) const {
  const double p = prob_[static_cast<size_t>(id)];
  return p > 0 ? std::log(p) : -std::numeric_limits<double>::infinity();
}

void UnigramSampler::sample_many(uint64_t seed, uint64_t stream, uint64_t first, int64_t n,
                                 int64_t* out) const {
  // ~5 ns a sample: threads only from ~1 ms of work (see threads_for in the kernels).
  const int nt = get_num_threads();
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && n >= (1 << 18) && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) out[i] = sample(seed, stream, first + static_cast<uint64_t>(i));
}

// ------------------------------------------------------------------ HuffmanTree

HuffmanTree::HuffmanTree(const double* counts, int64_t V) : V_(V) {
  check_counts(counts, V, "HuffmanTree");
  const int64_t nodes = 2 * V - 1;
  // gensim 4's _build_heap: node ids (words 0..V-1, then inner node a as V + a) in a binary
  // heap ordered by count alone, with the sift order of Python's heapq (CPython's
  // _heapqmodule.c: siftup moves the smaller child up to a leaf — the right one unless
  // left < right — then siftdown), so ties resolve exactly as in gensim and the tree is
  // gensim's for the same vocabulary. Pop two, merge (first popped: bit 0), push, V-1 times.
  std::vector<double> cnt(counts, counts + V);
  cnt.resize(static_cast<size_t>(nodes));
  std::vector<int64_t> heap(static_cast<size_t>(V));
  std::iota(heap.begin(), heap.end(), int64_t(0));
  const auto less = [&](int64_t a, int64_t b) { return cnt[a] < cnt[b]; };
  const auto siftdown = [&](int64_t start, int64_t pos) {
    const int64_t item = heap[pos];
    while (pos > start) {
      const int64_t up = (pos - 1) >> 1;
      if (!less(item, heap[up])) break;
      heap[pos] = heap[up];
      pos = up;
    }
    heap[pos] = item;
  };
  const auto siftup = [&](int64_t pos) {
    const int64_t end = static_cast<int64_t>(heap.size()), start = pos, item = heap[pos];
    for (int64_t child = 2 * pos + 1; child < end; child = 2 * pos + 1) {
      if (child + 1 < end && !less(heap[child], heap[child + 1])) ++child;
      heap[pos] = heap[child];
      pos = child;
    }
    heap[pos] = item;
    siftdown(start, pos);
  };
  const auto pop = [&]() {
    const int64_t last = heap.back();
    heap.pop_back();
    if (heap.empty()) return last;
    const int64_t top = heap[0];
    heap[0] = last;
    siftup(0);
    return top;
  };
  for (int64_t i = V / 2 - 1; i >= 0; --i) siftup(i);  // heapify
  std::vector<int64_t> parent(static_cast<size_t>(nodes), -1);
  std::vector<uint8_t> bit(static_cast<size_t>(nodes), 0);
  children_.assign(static_cast<size_t>(2 * std::max<int64_t>(V - 1, 0)), 0);
  for (int64_t a = 0; a < V - 1; ++a) {
    const int64_t node = V + a, m1 = pop(), m2 = pop();
    cnt[node] = cnt[m1] + cnt[m2];
    parent[m1] = parent[m2] = node;
    bit[m2] = 1;
    children_[2 * a] = m1;
    children_[2 * a + 1] = m2;
    heap.push_back(node);
    siftdown(0, static_cast<int64_t>(heap.size()) - 1);
  }
  // Paths, root first: the depth of every word, then each path written from its leaf up.
  offsets_.assign(static_cast<size_t>(V + 1), 0);
  for (int64_t w = 0; w < V; ++w) {
    int64_t d = 0;
    for (int64_t b = w; parent[b] >= 0; b = parent[b]) ++d;
    offsets_[w + 1] = offsets_[w] + d;
    max_depth_ = std::max(max_depth_, d);
  }
  points_.resize(static_cast<size_t>(offsets_[V]));
  codes_.resize(static_cast<size_t>(offsets_[V]));
  for (int64_t w = 0; w < V; ++w) {
    int64_t j = offsets_[w + 1];
    for (int64_t b = w; parent[b] >= 0; b = parent[b]) {
      --j;
      codes_[j] = bit[b];
      points_[j] = parent[b] - V;
    }
  }
}

// ------------------------------------------------------------------ kernels

template <typename T>
void softmax_cross_entropy(const T* logits, const int64_t* targets, int64_t N, int64_t V,
                           Reduction reduction, bool has_ignore, int64_t ignore_index,
                           double label_smoothing, T* loss, T* dlogits) {
  check(N >= 0 && V >= 1, "softmax_cross_entropy: logits must be [N, V] with V >= 1");
  check(label_smoothing >= 0 && label_smoothing <= 1,
        "label_smoothing: expected a value in [0, 1], got " + std::to_string(label_smoothing));
  check_ids(targets, N, V, "targets", has_ignore, ignore_index);
  cpu::softmax_cross_entropy_cpu(logits, targets, N, V, reduction, has_ignore, ignore_index,
                                 label_smoothing, loss, dlogits);
}

template <typename T>
void binary_cross_entropy_with_logits(const T* logits, const T* targets, const T* weight,
                                      int64_t n, double pos_weight, Reduction reduction,
                                      T* loss, T* dlogits) {
  check(n >= 0, "logits: bad size");
  check(std::isfinite(pos_weight) && pos_weight >= 0,
        "pos_weight: expected a finite value >= 0, got " + std::to_string(pos_weight));
  cpu::binary_cross_entropy_with_logits_cpu(logits, targets, weight, n, static_cast<T>(pos_weight),
                                            reduction, loss, dlogits);
}

template <typename T>
void log_softmax(const T* x, int64_t M, int64_t V, T* out) {
  check(M >= 0 && V >= 0, "log_softmax: bad sizes");
  if (M == 0 || V == 0) return;
  cpu::log_softmax_cpu(x, M, V, out);
}

template <typename T>
void negative_sampling_loss(const T* h, const T* w_out, const int64_t* targets,
                            const int64_t* negatives, int64_t N, int64_t D, int64_t V,
                            int64_t K, bool shared_negatives, Reduction reduction, T* loss,
                            T* dh, SparseRows<T>& drows) {
  check(K >= 1, "negatives: K (the number of negatives) must be >= 1, got " + std::to_string(K));
  check(N >= 0 && D >= 1 && V >= 1, "negative_sampling_loss: bad sizes");
  check_ids(targets, N, V, "targets");
  check_ids(negatives, shared_negatives ? K : N * K, V, "negatives");
  cpu::negative_sampling_loss_cpu(h, w_out, targets, negatives, N, D, K, shared_negatives,
                                  reduction, loss, dh, drows);
}

template <typename T>
void sampled_softmax_loss(const T* h, const T* w_out, const T* b_out, const int64_t* targets,
                          const int64_t* sampled, const T* log_q_true, const T* log_q_sampled,
                          int64_t N, int64_t D, int64_t V, int64_t S,
                          bool remove_accidental_hits, Reduction reduction, T* loss, T* dh,
                          SparseRows<T>& drows, std::vector<T>& dbias) {
  check(S >= 1, "num_sampled: must be >= 1, got " + std::to_string(S));
  check(N >= 0 && D >= 1 && V >= 1, "sampled_softmax_loss: bad sizes");
  check((log_q_true == nullptr) == (log_q_sampled == nullptr),
        "sampled_softmax_loss: log_q_true and log_q_sampled go together");
  check_ids(targets, N, V, "targets");
  check_ids(sampled, S, V, "sampled");
  cpu::sampled_softmax_loss_cpu(h, w_out, b_out, targets, sampled, log_q_true, log_q_sampled,
                                N, D, S, remove_accidental_hits, reduction, loss, dh, drows,
                                dbias);
}

template <typename T>
void hierarchical_softmax_loss(const T* h, const T* w_inner, const HuffmanTree& tree,
                               const int64_t* targets, int64_t N, int64_t D,
                               Reduction reduction, T* loss, T* dh, SparseRows<T>& drows) {
  check(N >= 0 && D >= 1, "hierarchical_softmax_loss: bad sizes");
  check_ids(targets, N, tree.size(), "targets");
  cpu::hierarchical_softmax_loss_cpu(h, w_inner, tree, targets, N, D, reduction, loss, dh,
                                     drows);
}

template <typename T>
void hierarchical_softmax_log_probs(const T* h, const T* w_inner, const HuffmanTree& tree,
                                    const int64_t* ids, int64_t N, int64_t D, int64_t M,
                                    T* out) {
  check(N >= 0 && D >= 1 && M >= 0, "hierarchical_softmax_log_probs: bad sizes");
  if (ids) check_ids(ids, N * M, tree.size(), "ids");
  cpu::hierarchical_softmax_log_probs_cpu(h, w_inner, tree, ids, N, D, M, out);
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void softmax_cross_entropy<T>(const T*, const int64_t*, int64_t, int64_t,         \
                                         Reduction, bool, int64_t, double, T*, T*);           \
  template void log_softmax<T>(const T*, int64_t, int64_t, T*);                               \
  template void binary_cross_entropy_with_logits<T>(const T*, const T*, const T*, int64_t,    \
                                                    double, Reduction, T*, T*);               \
  template void negative_sampling_loss<T>(const T*, const T*, const int64_t*, const int64_t*, \
                                          int64_t, int64_t, int64_t, int64_t, bool,           \
                                          Reduction, T*, T*, SparseRows<T>&);                 \
  template void sampled_softmax_loss<T>(const T*, const T*, const T*, const int64_t*,        \
                                        const int64_t*, const T*, const T*, int64_t, int64_t, \
                                        int64_t, int64_t, bool, Reduction, T*, T*,            \
                                        SparseRows<T>&, std::vector<T>&);                     \
  template void hierarchical_softmax_loss<T>(const T*, const T*, const HuffmanTree&,         \
                                             const int64_t*, int64_t, int64_t, Reduction, T*, \
                                             T*, SparseRows<T>&);                             \
  template void hierarchical_softmax_log_probs<T>(const T*, const T*, const HuffmanTree&,    \
                                                  const int64_t*, int64_t, int64_t, int64_t,  \
                                                  T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

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
  check(std::isfinite(power) && power >= 0,
        "UnigramSampler: power must be finite and >= 0, got " + std::to_string(power));
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
  const int nt = get_num_threads();
#pragma omp parallel for schedule(static) num_threads(nt) if (nt > 1 && n > 4096 && !omp_in_parallel())
  for (int64_t i = 0; i < n; ++i) out[i] = sample(seed, stream, first + static_cast<uint64_t>(i));
}

// ------------------------------------------------------------------ HuffmanTree

HuffmanTree::HuffmanTree(const double* counts, int64_t V) : V_(V) {
  check_counts(counts, V, "HuffmanTree");
  const int64_t nodes = 2 * V - 1;
  // Leaves in decreasing count order (ties: smaller id first), as word2vec.c's sorted vocab.
  std::vector<int64_t> order(static_cast<size_t>(V));
  std::iota(order.begin(), order.end(), int64_t(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return counts[a] > counts[b]; });
  std::vector<double> cnt(static_cast<size_t>(nodes));
  std::vector<int64_t> parent(static_cast<size_t>(nodes), -1);
  std::vector<uint8_t> bit(static_cast<size_t>(nodes), 0);
  for (int64_t i = 0; i < V; ++i) cnt[i] = counts[order[i]];
  children_.assign(static_cast<size_t>(2 * std::max<int64_t>(V - 1, 0)), 0);
  // Two queues: leaves from the light end of `order` (pos1 going down) and inner nodes in
  // creation order (pos2 going up), whose counts never decrease.
  int64_t pos1 = V - 1, pos2 = V;
  auto take = [&](int64_t created) {
    if (pos1 >= 0 && (pos2 >= created || cnt[pos1] < cnt[pos2])) return pos1--;
    return pos2++;
  };
  for (int64_t a = 0; a < V - 1; ++a) {
    const int64_t node = V + a;
    const int64_t m1 = take(node), m2 = take(node);
    cnt[node] = cnt[m1] + cnt[m2];
    parent[m1] = parent[m2] = node;
    bit[m2] = 1;
    children_[2 * a] = m1 < V ? order[m1] : m1;
    children_[2 * a + 1] = m2 < V ? order[m2] : m2;
  }
  // Paths, root first: walk up from each leaf, then write reversed into the CSR arrays.
  std::vector<int64_t> depth_of(static_cast<size_t>(V), 0);
  for (int64_t i = 0; i < V; ++i) {
    int64_t d = 0;
    for (int64_t b = i; parent[b] >= 0; b = parent[b]) ++d;
    depth_of[order[i]] = d;
  }
  offsets_.assign(static_cast<size_t>(V + 1), 0);
  for (int64_t w = 0; w < V; ++w) {
    offsets_[w + 1] = offsets_[w] + depth_of[w];
    max_depth_ = std::max(max_depth_, depth_of[w]);
  }
  points_.resize(static_cast<size_t>(offsets_[V]));
  codes_.resize(static_cast<size_t>(offsets_[V]));
  for (int64_t i = 0; i < V; ++i) {
    const int64_t w = order[i];
    int64_t j = offsets_[w + 1];
    for (int64_t b = i; parent[b] >= 0; b = parent[b]) {
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

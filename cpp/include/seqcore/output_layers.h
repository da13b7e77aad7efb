// Output layers for large vocabularies: fused softmax cross-entropy, log-softmax, the
// unigram^power sampler, negative sampling, sampled softmax, Huffman tree and hierarchical
// softmax.
//
// Shapes (legend of common.h): N batch, V vocabulary, D embedding dim, K negatives,
// S sampled classes, M columns of a row-wise op. Every pointer is C-contiguous.
//
// Reused by the word2vec trainer: UnigramSampler (alias method, counter-based random
// streams) and HuffmanTree (gensim 4's heap construction) are plain C++
// classes; the losses take raw pointers and return sparse output-weight gradients.
//
// Determinism: every kernel gives bit-identical results for any thread count. Rows of a
// batch are independent; sparse row gradients are summed per unique row id in a fixed
// (occurrence) order; GEMMs are split into fixed blocks; random numbers are a pure
// function of (seed, stream, index).
#pragma once

#include <cstdint>
#include <vector>

#include "seqcore/common.h"

namespace seqcore {

// How a per-row loss is reduced. Gradients are those of the reduced loss; for kNone they
// are the gradients of the sum of the per-row losses.
enum class Reduction { kNone, kMean, kSum };

// ------------------------------------------------------------------ random streams

// splitmix64 finaliser (Steele et al. 2014): a bijective 64-bit mixer.
inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Counter-based random stream: the 64 random bits number `index` of stream `stream` under
// `seed`. A pure function, so any thread may draw any index: the samples never depend on
// how work is split.
inline uint64_t counter_random(uint64_t seed, uint64_t stream, uint64_t index) {
  return splitmix64(splitmix64(seed ^ splitmix64(stream + 0x632BE59BD9B4E019ull)) + index);
}

// ------------------------------------------------------------------ unigram sampler

// Samples ids with probability q(i) = counts[i]^power / sum_j counts[j]^power in O(1) by
// Walker's alias method (Vose's stable construction), as word2vec's negative sampling
// (power 0.75, Mikolov et al. 2013) without its 1e8-entry table.
class UnigramSampler {
 public:
  // counts: [V], finite, >= 0, with a positive sum; power >= 0 and finite.
  // Throws std::invalid_argument otherwise.
  UnigramSampler(const double* counts, int64_t V, double power);

  int64_t size() const { return V_; }
  double power() const { return power_; }
  double prob(int64_t id) const { return prob_[static_cast<size_t>(id)]; }
  double log_prob(int64_t id) const;  // -inf for a zero count

  // One sample from 64 random bits: the high bits pick a bucket, the low 53 the coin.
  int64_t sample_bits(uint64_t bits) const {
    const uint64_t bucket =
        static_cast<uint64_t>((static_cast<unsigned __int128>(bits) * V_) >> 64);
    const double u = static_cast<double>(splitmix64(bits) >> 11) * 0x1.0p-53;
    return u < threshold_[bucket] ? static_cast<int64_t>(bucket) : alias_[bucket];
  }
  // The sample number `index` of stream `stream`.
  int64_t sample(uint64_t seed, uint64_t stream, uint64_t index) const {
    return sample_bits(counter_random(seed, stream, index));
  }
  // out[i] = sample(seed, stream, first + i) for i < n (OpenMP over i).
  void sample_many(uint64_t seed, uint64_t stream, uint64_t first, int64_t n,
                   int64_t* out) const;

 private:
  int64_t V_ = 0;
  double power_ = 0.75;
  std::vector<double> prob_;       // [V] q(i)
  std::vector<double> threshold_;  // [V] keep-probability of each bucket
  std::vector<int64_t> alias_;     // [V] the other id of each bucket
};

// ------------------------------------------------------------------ Huffman tree

// Binary Huffman code over V words, built as gensim 4's _build_heap: inner node a
// (0 <= a < V-1) is created a-th by merging the two lightest nodes; the root is V-2. The
// nodes sit in a binary heap ordered by count alone, sifted exactly as Python's heapq, so
// equal counts are resolved as gensim resolves them: the same codes and points as gensim
// for the same vocabulary order, O(V log V). The second node popped at a merge gets bit 1
// (word2vec.c and gensim). Deterministic: the tree depends on the counts (and their order)
// only. (word2vec.c's two queues pair equal-count words in vocabulary order instead; the
// resolution of ties alone moved a head500 CBOW-hs WS353 Spearman by +-0.02.)
//
// Word w's path is points[offsets[w] .. offsets[w+1]) (inner nodes, root first) and its
// code codes[...] (the bit taken at each of them). P(w | h) = prod_j sigma((1 - 2 c_j) *
// w_inner[p_j] . h): bit 0 is the sigmoid's positive side, as word2vec.c's (1 - code - f).
class HuffmanTree {
 public:
  // counts: [V], finite, >= 0, with a positive sum; V >= 1. Throws std::invalid_argument.
  HuffmanTree(const double* counts, int64_t V);

  int64_t size() const { return V_; }
  int64_t num_inner() const { return V_ - 1; }
  int64_t depth(int64_t w) const { return offsets_[w + 1] - offsets_[w]; }
  int64_t max_depth() const { return max_depth_; }
  const std::vector<int64_t>& offsets() const { return offsets_; }  // [V+1]
  const std::vector<int64_t>& points() const { return points_; }    // [offsets[V]]
  const std::vector<uint8_t>& codes() const { return codes_; }      // [offsets[V]]
  // Children of inner node a: child(a, bit) < V is a word, >= V the inner node - V.
  int64_t child(int64_t a, int bit) const { return children_[2 * a + bit]; }

 private:
  int64_t V_ = 0, max_depth_ = 0;
  std::vector<int64_t> offsets_, points_, children_;
  std::vector<uint8_t> codes_;
};

// ------------------------------------------------------------------ sparse gradients

// Gradient of an output-weight matrix touched at a few rows: rows [R] (sorted, unique),
// grads [R, D] (each the sum of its contributions, summed in occurrence order).
template <typename T>
struct SparseRows {
  std::vector<int64_t> rows;
  Buffer<T> grads;
};

// ------------------------------------------------------------------ kernels

// Softmax cross-entropy over the last axis, fused with its gradient (matches
// torch.nn.functional.cross_entropy with class-index targets).
//   logits: [N, V]; targets: [N] in [0, V) or == ignore_index when has_ignore.
//   loss: [N] (kNone) or [1]; dlogits: [N, V] or nullptr (loss only).
//   label_smoothing in [0, 1]: the target distribution is (1-eps) onehot + eps/V.
// Ignored rows have loss 0 and zero gradient; kMean divides by the number of others.
template <typename T>
void softmax_cross_entropy(const T* logits, const int64_t* targets, int64_t N, int64_t V,
                           Reduction reduction, bool has_ignore, int64_t ignore_index,
                           double label_smoothing, T* loss, T* dlogits);

// Binary cross-entropy of sigmoid(logits) against targets in [0, 1], fused with its gradient
// (torch.nn.functional.binary_cross_entropy_with_logits with a scalar pos_weight): per
// element w * (pos_weight * y * softplus(-z) + (1 - y) * softplus(z)), softplus evaluated
// stably (log1p(exp(-|z|)) + max(z, 0)). logits, targets, weight (nullable: 1): [n] (any
// shape, flattened); loss: [n] (kNone) or [1] (kMean divides by n); dlogits [n] nullable.
template <typename T>
void binary_cross_entropy_with_logits(const T* logits, const T* targets, const T* weight,
                                      int64_t n, double pos_weight, Reduction reduction,
                                      T* loss, T* dlogits);

// out[m, :] = x[m, :] - logsumexp(x[m, :]). x, out: [M, V] (out may alias x).
template <typename T>
void log_softmax(const T* x, int64_t M, int64_t V, T* out);

// word2vec's negative sampling: loss_n = -log sigma(w_t . h_n) - sum_k log sigma(-w_k . h_n)
// (Mikolov et al. 2013).
//   h: [N, D]; w_out: [V, D]; targets: [N]; negatives: [N, K] (per row) or [K] (shared:
//   one set for the whole batch, the work becomes GEMMs as in Ji et al. 2016's HogBatch).
//   loss: [N] or [1]; dh: [N, D]; drows: the sparse gradient of w_out.
template <typename T>
void negative_sampling_loss(const T* h, const T* w_out, const int64_t* targets,
                            const int64_t* negatives, int64_t N, int64_t D, int64_t V,
                            int64_t K, bool shared_negatives, Reduction reduction, T* loss,
                            T* dh, SparseRows<T>& drows);

// Sampled softmax (Jean et al. 2015; TensorFlow's tf.nn.sampled_softmax_loss with one
// true class): softmax cross-entropy over [target, sampled_0 .. sampled_{S-1}] with logits
// w_j . h_n + b_j (- log q(j) when log_q is given), the true class at index 0.
//   h: [N, D]; w_out: [V, D]; b_out: [V] or nullptr; targets: [N]; sampled: [S] (shared by
//   the batch); log_q_true: [N] or nullptr, log_q_sampled: [S] or nullptr (both or none).
//   remove_accidental_hits: a sampled id equal to the row's target is left out.
//   dbias: [R] aligned with drows.rows (left empty without b_out).
template <typename T>
void sampled_softmax_loss(const T* h, const T* w_out, const T* b_out, const int64_t* targets,
                          const int64_t* sampled, const T* log_q_true, const T* log_q_sampled,
                          int64_t N, int64_t D, int64_t V, int64_t S,
                          bool remove_accidental_hits, Reduction reduction, T* loss, T* dh,
                          SparseRows<T>& drows, std::vector<T>& dbias);

// Hierarchical softmax (Morin & Bengio 2005; word2vec.c): loss_n = -log P(targets[n] | h_n)
// over tree's path. h: [N, D]; w_inner: [V-1, D]; targets: [N].
template <typename T>
void hierarchical_softmax_loss(const T* h, const T* w_inner, const HuffmanTree& tree,
                               const int64_t* targets, int64_t N, int64_t D,
                               Reduction reduction, T* loss, T* dh, SparseRows<T>& drows);

// log P(w | h_n). ids: [N, M] (out [N, M]) or nullptr for every word (out [N, V], each row
// normalised: it sums to 1 after exp).
template <typename T>
void hierarchical_softmax_log_probs(const T* h, const T* w_inner, const HuffmanTree& tree,
                                    const int64_t* ids, int64_t N, int64_t D, int64_t M,
                                    T* out);

}  // namespace seqcore

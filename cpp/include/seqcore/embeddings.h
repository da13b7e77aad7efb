// Word embeddings: the embedding lookup (gather, bags) with its sparse-row gradient,
// nearest-neighbour search over word vectors, the corpus/vocabulary layer shared by GloVe and
// Word2Vec, and GloVe (co-occurrence counting + AdaGrad).
//
// Shapes (legend of common.h): V vocabulary, D embedding dim, Q queries, K neighbours.
// A corpus is an int32 token array [n_tokens] (ids in [0, V)) with int64 sentence offsets
// [S + 1] (sentence s is tokens[offsets[s] : offsets[s+1]]), out-of-vocabulary words dropped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "seqcore/common.h"
#include "seqcore/output_layers.h"  // SparseRows

namespace seqcore {

// ---- nearest neighbours ---------------------------------------------------------------
// Top-k rows of `vectors` by dot product with each query (with unit-normalised rows and
// queries: by cosine similarity). Ranking is by score descending, ties by lower row index,
// NaN scores rank as -inf; results are bit-identical for every thread count.
//   vectors: [V, D], queries: [Q, D]; indices: [Q, K] (int64), scores: [Q, K]; 1 <= K <= V.
template <typename T>
void top_k_dot(const T* vectors, int64_t V, int64_t D, const T* queries, int64_t Q, int64_t K,
               int64_t* indices, T* scores);

// ---- vocabulary -----------------------------------------------------------------------
// Word counts of a corpus, with gensim's max_vocab_size pruning: after each sentence, if
// more than max_vocab_size word types are held, types with count < min_reduce are dropped
// and min_reduce (starting at 1) grows by one (gensim.utils.prune_vocab).
class VocabCounter {
 public:
  // gensim's trim_rule, asked about each word when the counts are pruned: returns 1 to
  // discard it, 2 to keep it, 0 for the default (keep if count >= min_count).
  using TrimRule = std::function<int(const std::string& word, int64_t count, int64_t min_count)>;
  explicit VocabCounter(int64_t max_vocab_size = 0, TrimRule trim_rule = nullptr);  // 0: no limit
  void add_word(std::string_view word);
  void end_sentence();
  // Reads one sentence per line ('\n'), tokens separated by ASCII whitespace (" \t\r\v\f"),
  // as word2vec.c; lines of any length. Throws std::invalid_argument if it cannot be read.
  void add_file(const std::string& path);
  // Words with count >= min_count in order of first occurrence (gensim's raw_vocab order: a
  // word pruned and seen again counts from its new first occurrence).
  std::vector<std::pair<std::string, int64_t>> items(int64_t min_count) const;
  // The counts of all words held, in no particular order.
  std::vector<int64_t> counts() const;
  int64_t total_words() const { return total_words_; }
  int64_t sentences() const { return sentences_; }

 private:
  struct Entry {
    int64_t count;
    int64_t first;  // order of first occurrence (tie-break of the sort)
  };
  std::unordered_map<std::string, Entry> counts_;
  TrimRule trim_rule_;
  int64_t max_vocab_size_, min_reduce_ = 1, next_first_ = 0, total_words_ = 0, sentences_ = 0;
};

// word -> id, and corpus encoding (unknown words dropped, every sentence kept, possibly empty).
class VocabIndex {
 public:
  explicit VocabIndex(const std::vector<std::string>& words);  // throws on a duplicate word
  int32_t find(std::string_view word) const;                    // -1 if absent
  int64_t size() const { return static_cast<int64_t>(index_.size()); }
  // Appends a sentence's ids to tokens and its end offset to offsets (offsets starts as {0}).
  void encode_file(const std::string& path, std::vector<int32_t>* tokens,
                   std::vector<int64_t>* offsets) const;

 private:
  std::unordered_map<std::string, int32_t> index_;
};

// ---- GloVe ------------------------------------------------------------------------------
// Sparse co-occurrence matrix X in coordinate form, sorted by (row, col).
struct Cooccurrence {
  std::vector<int32_t> row, col;
  std::vector<double> value;
};

// Stanford GloVe's cooccur with symmetric=1, distance weighting: for each token at position
// p and each context token at p - d (1 <= d <= window, same sentence), X[w_p, w_{p-d}] and
// X[w_{p-d}, w_p] both grow by 1/d. Counts are kept as integers per distance and summed in
// a fixed order, so X is bit-identical for every thread count.
Cooccurrence glove_cooccur(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                           int64_t n_sentences, int64_t V, int64_t window);

// One epoch of AdaGrad on J = sum_e weight_e (w_i.w~_j + b_i + b~_j - log_x_e)^2 over the
// nnz entries e = (i = row[e], j = col[e]) in an order shuffled from (seed, epoch), as
// Stanford glove.c (gradient scaled by learning_rate, AdaGrad accumulators start at 1).
// The caller passes log_x = log X_ij and weight = f(X_ij) = min(1, (X_ij / x_max)^alpha),
// computed once for all epochs. params and gradsq: [2V, D + 1], rows 0..V-1 word vectors
// w_i with bias b_i in the last column, rows V..2V-1 context vectors w~_j and biases b~_j.
// `stop` (optional) is polled every 1024 entries: the epoch ends early when it asks to.
// workers == 1: sequential and deterministic; workers > 1: Hogwild (lock-free, results
// depend on thread timing). Returns J over the epoch, each term taken just before its
// update (float64).
template <typename T>
double glove_epoch(const int32_t* row, const int32_t* col, const double* log_x,
                   const double* weight, int64_t nnz, T* params, T* gradsq, int64_t V, int64_t D,
                   double learning_rate, uint64_t seed, int64_t epoch, int workers,
                   StopToken* stop = nullptr);

// ---- embedding lookup -------------------------------------------------------------------
// weight [V, D]; ids [n] in [0, V); padding_idx in [0, V), or -1 for none (the id whose rows
// get no gradient and, in bags, are skipped, as torch.nn.Embedding / EmbeddingBag).

// out [n, D]: out[i] = weight[ids[i]].
template <typename T>
void embedding_forward(const T* weight, int64_t V, int64_t D, const int64_t* ids, int64_t n,
                       T* out);

// The gradient of weight from dout [n, D] as sorted unique rows: rows = the distinct ids
// (padding_idx excluded), grads[r] = sum of dout[i] over ids[i] == rows[r], summed in
// occurrence order (bit-identical at any thread count).
template <typename T>
void embedding_backward(const T* dout, const int64_t* ids, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx, SparseRows<T>& dweight);

// Bags: offsets [B + 1] (offsets[0] = 0, non-decreasing, offsets[B] = n; torch's offsets
// with include_last_offset=True), bag b = ids[offsets[b] : offsets[b+1]].
// out [B, D] = the sum (mean: divided by the number of non-padding ids) of the bag's rows;
// an empty bag gives zeros.
template <typename T>
void embedding_bag_forward(const T* weight, int64_t V, int64_t D, const int64_t* ids,
                           int64_t n, const int64_t* offsets, int64_t B, bool mean,
                           int64_t padding_idx, T* out);

// Its gradient from dout [B, D], in the sorted-unique-rows form of embedding_backward.
template <typename T>
void embedding_bag_backward(const T* dout, const int64_t* ids, int64_t n,
                            const int64_t* offsets, int64_t B, int64_t V, int64_t D, bool mean,
                            int64_t padding_idx, SparseRows<T>& dweight);

}  // namespace seqcore

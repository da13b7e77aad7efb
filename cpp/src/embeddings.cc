// Word embeddings: argument checks and dispatch (kernels in cpu/embeddings_cpu.cc), and the
// vocabulary layer (counting, pruning, sorting, corpus encoding from a file).
#include "seqcore/embeddings.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "seqcore/common.h"

namespace seqcore {

namespace cpu {
template <typename T>
void embedding_forward(const T* weight, int64_t D, const int64_t* ids, int64_t n, T* out);
template <typename T>
void embedding_bag_forward(const T* weight, int64_t D, const int64_t* ids,
                           const int64_t* offsets, int64_t B, bool mean, int64_t padding_idx,
                           T* out);
template <typename T>
void embedding_grad(const T* dout, const int64_t* ids, const int64_t* offsets, int64_t B,
                    int64_t D, bool mean, int64_t padding_idx, SparseRows<T>& dweight);
template <typename T>
void top_k_dot(const T* vectors, int64_t V, int64_t D, const T* queries, int64_t Q, int64_t K,
               int64_t* indices, T* scores);
Cooccurrence glove_cooccur(const int32_t* tokens, const int64_t* offsets, int64_t n_sentences,
                           int64_t V, int64_t window);
template <typename T>
double glove_epoch(const int32_t* row, const int32_t* col, const double* log_x,
                   const double* weight, int64_t nnz, T* params, T* gradsq, int64_t V, int64_t D,
                   double learning_rate, uint64_t seed, int64_t epoch, int workers,
                   StopToken* stop);
}  // namespace cpu

// ---- embedding lookup -------------------------------------------------------------------

namespace {

void check_lookup(int64_t V, int64_t D, const int64_t* ids, int64_t n, int64_t padding_idx) {
  check(V >= 1 && D >= 1, "weight: expected shape [V, D] with V, D >= 1, got " +
                              shape_str({V, D}));
  check(n >= 0, "ids: expected a non-negative count");
  check(padding_idx >= -1 && padding_idx < V,
        "padding_idx: expected None or an id in [-V, V), got " + std::to_string(padding_idx));
  for (int64_t i = 0; i < n; ++i)
    if (ids[i] < 0 || ids[i] >= V)
      check(false, "ids: expected ids in [0, V=" + std::to_string(V) + "), got " +
                       std::to_string(ids[i]) + " at position " + std::to_string(i));
}

void check_offsets(const int64_t* offsets, int64_t B, int64_t n) {
  check(B >= 0 && offsets[0] == 0 && offsets[B] == n,
        "offsets: expected [B + 1] boundaries from 0 to len(ids) = " + std::to_string(n));
  for (int64_t b = 0; b < B; ++b)
    if (offsets[b + 1] < offsets[b]) check(false, "offsets: expected non-decreasing values");
}

}  // namespace

template <typename T>
void embedding_forward(const T* weight, int64_t V, int64_t D, const int64_t* ids, int64_t n,
                       T* out) {
  check_lookup(V, D, ids, n, -1);
  cpu::embedding_forward(weight, D, ids, n, out);
}

template <typename T>
void embedding_backward(const T* dout, const int64_t* ids, int64_t n, int64_t V, int64_t D,
                        int64_t padding_idx, SparseRows<T>& dweight) {
  check_lookup(V, D, ids, n, padding_idx);
  cpu::embedding_grad(dout, ids, static_cast<const int64_t*>(nullptr), n, D, false,
                      padding_idx, dweight);
}

template <typename T>
void embedding_bag_forward(const T* weight, int64_t V, int64_t D, const int64_t* ids,
                           int64_t n, const int64_t* offsets, int64_t B, bool mean,
                           int64_t padding_idx, T* out) {
  check_lookup(V, D, ids, n, padding_idx);
  check_offsets(offsets, B, n);
  cpu::embedding_bag_forward(weight, D, ids, offsets, B, mean, padding_idx, out);
}

template <typename T>
void embedding_bag_backward(const T* dout, const int64_t* ids, int64_t n,
                            const int64_t* offsets, int64_t B, int64_t V, int64_t D, bool mean,
                            int64_t padding_idx, SparseRows<T>& dweight) {
  check_lookup(V, D, ids, n, padding_idx);
  check_offsets(offsets, B, n);
  cpu::embedding_grad(dout, ids, offsets, B, D, mean, padding_idx, dweight);
}

#define SEQCORE_EMBEDDING_INST(T)                                                            \
  template void embedding_forward<T>(const T*, int64_t, int64_t, const int64_t*, int64_t,   \
                                     T*);                                                    \
  template void embedding_backward<T>(const T*, const int64_t*, int64_t, int64_t, int64_t,  \
                                      int64_t, SparseRows<T>&);                              \
  template void embedding_bag_forward<T>(const T*, int64_t, int64_t, const int64_t*,        \
                                         int64_t, const int64_t*, int64_t, bool, int64_t,   \
                                         T*);                                                \
  template void embedding_bag_backward<T>(const T*, const int64_t*, int64_t, const int64_t*, \
                                          int64_t, int64_t, int64_t, bool, int64_t,          \
                                          SparseRows<T>&);
SEQCORE_EMBEDDING_INST(float)
SEQCORE_EMBEDDING_INST(double)
#undef SEQCORE_EMBEDDING_INST

// ---- nearest neighbours -----------------------------------------------------------------

template <typename T>
void top_k_dot(const T* vectors, int64_t V, int64_t D, const T* queries, int64_t Q, int64_t K,
               int64_t* indices, T* scores) {
  check(V >= 1 && D >= 1, "vectors: expected shape [V, D] with V, D >= 1, got " +
                              shape_str({V, D}));
  check(Q >= 0, "queries: expected shape [Q, D]");
  check(K >= 1 && K <= V, "topn: expected 1 <= topn <= V (" + std::to_string(V) + "), got " +
                              std::to_string(K));
  if (Q == 0) return;
  cpu::top_k_dot(vectors, V, D, queries, Q, K, indices, scores);
}
template void top_k_dot<float>(const float*, int64_t, int64_t, const float*, int64_t, int64_t,
                               int64_t*, float*);
template void top_k_dot<double>(const double*, int64_t, int64_t, const double*, int64_t,
                                int64_t, int64_t*, double*);

// ---- vocabulary -------------------------------------------------------------------------

namespace {

inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

// Calls word(token) for each whitespace-separated token of each line and line_end() after
// each line (a last line without '\n' included; an empty file has no line). The file is read
// in fixed blocks, so memory stays one block plus the longest word whatever the line length
// (a one-line corpus such as text8 is never held whole); a word cut by a block boundary is
// carried over.
template <typename WordFn, typename LineFn>
void for_each_line(const std::string& path, WordFn word, LineFn line_end) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), "corpus_file: cannot open '" + path + "'");
  constexpr size_t kBlock = size_t(1) << 16;
  std::vector<char> buf(kBlock);
  std::string carry;       // the start of a word cut by the previous block boundary
  bool in_word = false;    // inside a word at the current position
  bool open_line = false;  // characters seen since the last '\n'
  for (;;) {
    in.read(buf.data(), static_cast<std::streamsize>(kBlock));
    const size_t n = static_cast<size_t>(in.gcount());
    if (n == 0) break;
    size_t start = 0;  // of the current word in this block
    for (size_t i = 0; i < n; ++i) {
      const char c = buf[i];
      if (!is_space(c)) {
        if (!in_word) in_word = true, start = i;
        open_line = true;
        continue;
      }
      if (in_word) {
        in_word = false;
        if (carry.empty()) {
          word(std::string_view(buf.data() + start, i - start));
        } else {
          carry.append(buf.data() + start, i - start);
          word(std::string_view(carry));
          carry.clear();
        }
      }
      if (c == '\n') {
        line_end();
        open_line = false;
      } else {
        open_line = true;
      }
    }
    if (in_word) carry.append(buf.data() + start, n - start);
  }
  check(!in.bad(), "corpus_file: read error in '" + path + "'");
  if (in_word) word(std::string_view(carry));
  if (open_line) line_end();
}

}  // namespace

VocabCounter::VocabCounter(int64_t max_vocab_size, TrimRule trim_rule)
    : trim_rule_(std::move(trim_rule)), max_vocab_size_(max_vocab_size) {
  check(max_vocab_size >= 0, "max_vocab_size: expected None or >= 1, got " +
                                 std::to_string(max_vocab_size));
}

void VocabCounter::add_word(std::string_view word) {
  auto it = counts_.find(std::string(word));
  if (it == counts_.end())
    counts_.emplace(std::string(word), Entry{1, next_first_++});
  else
    ++it->second.count;
  ++total_words_;
}

void VocabCounter::end_sentence() {
  ++sentences_;
  if (max_vocab_size_ > 0 && static_cast<int64_t>(counts_.size()) > max_vocab_size_) {
    // gensim's utils.prune_vocab with keep_vocab_item(word, count, min_reduce, trim_rule)
    for (auto it = counts_.begin(); it != counts_.end();) {
      const int rule = trim_rule_ ? trim_rule_(it->first, it->second.count, min_reduce_) : 0;
      const bool keep = rule == 2 || (rule != 1 && it->second.count >= min_reduce_);
      it = keep ? std::next(it) : counts_.erase(it);
    }
    ++min_reduce_;
  }
}

void VocabCounter::add_file(const std::string& path) {
  for_each_line(
      path, [this](std::string_view w) { add_word(w); }, [this]() { end_sentence(); });
}

std::vector<std::pair<std::string, int64_t>> VocabCounter::items(int64_t min_count) const {
  std::vector<std::pair<const std::string*, Entry>> kept;
  for (const auto& kv : counts_)
    if (kv.second.count >= min_count) kept.emplace_back(&kv.first, kv.second);
  std::sort(kept.begin(), kept.end(),
            [](const auto& a, const auto& b) { return a.second.first < b.second.first; });
  std::vector<std::pair<std::string, int64_t>> out;
  out.reserve(kept.size());
  for (const auto& k : kept) out.emplace_back(*k.first, k.second.count);
  return out;
}

std::vector<int64_t> VocabCounter::counts() const {
  std::vector<int64_t> out;
  out.reserve(counts_.size());
  for (const auto& kv : counts_) out.push_back(kv.second.count);
  return out;
}

VocabIndex::VocabIndex(const std::vector<std::string>& words) {
  check(words.size() < static_cast<size_t>(INT32_MAX), "vocabulary: too many words for int32 ids");
  index_.reserve(words.size());
  for (size_t i = 0; i < words.size(); ++i)
    check(index_.emplace(words[i], static_cast<int32_t>(i)).second,
          "vocabulary: duplicate word '" + words[i] + "'");
}

int32_t VocabIndex::find(std::string_view word) const {
  auto it = index_.find(std::string(word));
  return it == index_.end() ? -1 : it->second;
}

void VocabIndex::encode_file(const std::string& path, std::vector<int32_t>* tokens,
                             std::vector<int64_t>* offsets) const {
  for_each_line(
      path,
      [&](std::string_view w) {
        const int32_t id = find(w);
        if (id >= 0) tokens->push_back(id);
      },
      [&]() { offsets->push_back(static_cast<int64_t>(tokens->size())); });
}

// ---- GloVe ------------------------------------------------------------------------------

Cooccurrence glove_cooccur(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                           int64_t n_sentences, int64_t V, int64_t window) {
  check(window >= 1, "window: expected >= 1, got " + std::to_string(window));
  check(V >= 1 && V < (int64_t(1) << 31), "V: expected 1 <= V < 2^31, got " + std::to_string(V));
  check(static_cast<double>(V) * V * window < 9.0e18,
        "window: V * V * window too large for the 64-bit co-occurrence keys");
  check(n_sentences >= 0 && offsets[0] == 0 && offsets[n_sentences] == n_tokens,
        "offsets: expected offsets[0] == 0 and offsets[-1] == len(tokens)");
  for (int64_t s = 0; s < n_sentences; ++s)
    check(offsets[s] <= offsets[s + 1], "offsets: expected non-decreasing offsets");
  for (int64_t i = 0; i < n_tokens; ++i)
    check(tokens[i] >= 0 && tokens[i] < V, "tokens: id " + std::to_string(tokens[i]) +
                                               " out of range [0, " + std::to_string(V) + ")");
  return cpu::glove_cooccur(tokens, offsets, n_sentences, V, window);
}

template <typename T>
double glove_epoch(const int32_t* row, const int32_t* col, const double* log_x,
                   const double* weight, int64_t nnz, T* params, T* gradsq, int64_t V, int64_t D,
                   double learning_rate, uint64_t seed, int64_t epoch, int workers,
                   StopToken* stop) {
  check(V >= 1 && D >= 1, "params: expected shape [2V, D + 1] with V, D >= 1");
  check(learning_rate > 0 && std::isfinite(learning_rate),
        "learning_rate: expected a finite number > 0");
  check(workers >= 1, "workers: expected >= 1, got " + std::to_string(workers));
  for (int64_t e = 0; e < nnz; ++e)
    check(row[e] >= 0 && row[e] < V && col[e] >= 0 && col[e] < V && std::isfinite(log_x[e]) &&
              weight[e] >= 0 && std::isfinite(weight[e]),
          "cooccurrence: entries need 0 <= row, col < V, finite log_x and weight >= 0");
  return cpu::glove_epoch(row, col, log_x, weight, nnz, params, gradsq, V, D, learning_rate,
                          seed, epoch, workers, stop);
}
template double glove_epoch<float>(const int32_t*, const int32_t*, const double*, const double*,
                                   int64_t, float*, float*, int64_t, int64_t, double, uint64_t,
                                   int64_t, int, StopToken*);
template double glove_epoch<double>(const int32_t*, const int32_t*, const double*,
                                    const double*, int64_t, double*, double*, int64_t, int64_t,
                                    double, uint64_t, int64_t, int, StopToken*);

}  // namespace seqcore

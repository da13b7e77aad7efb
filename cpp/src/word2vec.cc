// Word2Vec: argument checks, chunking, subsampling probabilities, learning-rate schedule and
// dispatch (kernels in cpu/word2vec_cpu.cc).
#include "seqcore/word2vec.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "seqcore/common.h"

namespace seqcore {

namespace cpu {
template <typename T>
void word2vec_train(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                    int64_t n_sentences, const int64_t* chunks, int64_t chunk_begin,
                    int64_t chunk_end,
                    const double* keep, int64_t V, T* syn0, T* syn1, T* syn1neg,
                    const T* lockf, const UnigramSampler* sampler, const HuffmanTree* tree,
                    const Word2VecConfig& cfg, int64_t epoch, int64_t epochs,
                    Word2VecStats* stats);
template <typename T>
void word2vec_score(const int32_t* tokens, const int64_t* offsets, int64_t n_sentences,
                    const T* syn0, const T* syn1, int64_t D, const HuffmanTree& tree,
                    int64_t window, bool sg, bool cbow_mean, int workers, double* scores);
}  // namespace cpu

namespace {

// An encoded corpus: offsets [S + 1] from 0 to n_tokens, non-decreasing; tokens in [0, V).
// O(n) scans that build a message only on failure (they run on every call).
void check_corpus(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                  int64_t n_sentences, int64_t V) {
  check(n_tokens >= 0 && n_sentences >= 0 && offsets[0] == 0 &&
            offsets[n_sentences] == n_tokens,
        "offsets: expected offsets[0] == 0 and offsets[S] == n_tokens");
  for (int64_t s = 0; s < n_sentences; ++s)
    if (offsets[s + 1] < offsets[s]) check(false, "offsets: expected non-decreasing values");
  for (int64_t i = 0; i < n_tokens; ++i)
    if (tokens[i] < 0 || tokens[i] >= V)
      check(false, "tokens: ids must be in [0, V=" + std::to_string(V) + "), got " +
                       std::to_string(tokens[i]));
}

}  // namespace

std::vector<int64_t> word2vec_chunks(const int64_t* offsets, int64_t n_sentences,
                                     int64_t batch_words) {
  check(batch_words >= 1, "batch_words: expected >= 1, got " + std::to_string(batch_words));
  check(n_sentences >= 0, "offsets: expected shape [S + 1]");
  std::vector<int64_t> chunks{0};
  int64_t words = 0;
  for (int64_t s = 0; s < n_sentences; ++s) {
    words += offsets[s + 1] - offsets[s];
    if (words >= batch_words) {
      chunks.push_back(s + 1);
      words = 0;
    }
  }
  if (chunks.back() != n_sentences) chunks.push_back(n_sentences);
  return chunks;
}

std::vector<double> word2vec_keep_probabilities(const int64_t* counts, int64_t V,
                                                double sample) {
  check(std::isfinite(sample) && sample >= 0,
        "sample: expected a finite number >= 0, got " + std::to_string(sample));
  std::vector<double> keep(static_cast<size_t>(V), 1.0);
  if (sample == 0) return keep;
  double total = 0;
  for (int64_t w = 0; w < V; ++w) {
    if (counts[w] < 1) check(false, "counts: expected every count >= 1");
    total += static_cast<double>(counts[w]);
  }
  // gensim 4 (Word2Vec.prepare_vocab): a fraction of the retained words, or (>= 1) a count
  const double t = sample < 1.0 ? sample * total : std::floor(sample * (3 + std::sqrt(5.0)) / 2);
  for (int64_t w = 0; w < V; ++w) {
    const double c = static_cast<double>(counts[w]);
    keep[w] = std::min(1.0, (std::sqrt(c / t) + 1) * t / c);
  }
  return keep;
}

double word2vec_alpha(double alpha, double min_alpha, int64_t epoch, int64_t epochs,
                      int64_t position, int64_t length) {
  const double total = static_cast<double>(epochs) * static_cast<double>(length);
  const double done = static_cast<double>(epoch) * static_cast<double>(length) +
                      static_cast<double>(position);
  if (total <= 0) return alpha;
  return std::max(min_alpha, alpha - (alpha - min_alpha) * (done / total));
}

template <typename T>
Word2VecStats word2vec_train(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                             int64_t n_sentences, const int64_t* chunks, int64_t n_chunks,
                             int64_t chunk_begin, int64_t chunk_end, const double* keep,
                             int64_t V, T* syn0, T* syn1, T* syn1neg, const T* lockf,
                             const UnigramSampler* sampler, const HuffmanTree* tree,
                             const Word2VecConfig& cfg, int64_t epoch, int64_t epochs) {
  check(V >= 1 && cfg.D >= 1, "syn0: expected shape [V, D] with V, D >= 1, got " +
                                  shape_str({V, cfg.D}));
  check(cfg.window >= 1, "window: expected >= 1, got " + std::to_string(cfg.window));
  check(cfg.negative >= 0, "negative: expected >= 0, got " + std::to_string(cfg.negative));
  check(cfg.hs || cfg.negative > 0,
        "negative: expected > 0 when hs=0 (no output layer would be trained)");
  check(std::isfinite(cfg.alpha) && cfg.alpha > 0,
        "alpha: expected a finite number > 0, got " + std::to_string(cfg.alpha));
  check(std::isfinite(cfg.min_alpha) && cfg.min_alpha >= 0,
        "min_alpha: expected a finite number >= 0, got " + std::to_string(cfg.min_alpha));
  check(!cfg.shared_negatives || (cfg.sg && cfg.negative > 0),
        "shared_negatives: needs sg=1 and negative > 0");
  check(cfg.workers >= 1, "workers: expected >= 1, got " + std::to_string(cfg.workers));
  check(epochs >= 1 && epoch >= 0 && epoch < epochs,
        "epoch: expected 0 <= epoch < epochs, got " + std::to_string(epoch) + " of " +
            std::to_string(epochs));
  check_corpus(tokens, n_tokens, offsets, n_sentences, V);
  check(n_chunks >= 0 && chunks[0] == 0 && chunks[n_chunks] == n_sentences,
        "chunks: expected sentence boundaries from 0 to S");
  for (int64_t c = 0; c < n_chunks; ++c)
    if (chunks[c + 1] < chunks[c]) check(false, "chunks: expected non-decreasing values");
  check(0 <= chunk_begin && chunk_begin <= chunk_end && chunk_end <= n_chunks,
        "chunk range: expected 0 <= begin <= end <= n_chunks=" + std::to_string(n_chunks));
  for (int64_t w = 0; w < V; ++w)
    if (!(keep[w] >= 0 && keep[w] <= 1)) check(false, "keep: expected probabilities in [0, 1]");
  check(syn0 != nullptr, "syn0: required");
  if (lockf != nullptr)
    for (int64_t w = 0; w < V; ++w)
      if (!std::isfinite(lockf[w])) check(false, "vectors_lockf: expected finite values");
  if (cfg.hs) {
    check(tree != nullptr && syn1 != nullptr, "hs: needs a HuffmanTree and syn1 [V, D]");
    check(tree->size() == V, "tree: built over V=" + std::to_string(tree->size()) +
                                 " words, expected " + std::to_string(V));
  }
  if (cfg.negative > 0) {
    check(sampler != nullptr && syn1neg != nullptr,
          "negative: needs a UnigramSampler and syn1neg [V, D]");
    check(sampler->size() == V, "sampler: draws from V=" + std::to_string(sampler->size()) +
                                    " ids, expected " + std::to_string(V));
  }
  Word2VecStats stats;
  if (chunk_begin < chunk_end) {
    cpu::word2vec_train(tokens, n_tokens, offsets, n_sentences, chunks, chunk_begin, chunk_end,
                        keep, V, syn0, syn1, syn1neg, lockf, sampler, tree, cfg, epoch, epochs,
                        &stats);
    stats.last_alpha =
        cfg.decay_by_sentences
            ? word2vec_alpha(cfg.alpha, cfg.min_alpha, epoch, epochs, chunks[chunk_end - 1],
                             n_sentences)
            : word2vec_alpha(cfg.alpha, cfg.min_alpha, epoch, epochs,
                             std::max<int64_t>(offsets[chunks[chunk_end]] - 1, 0), n_tokens);
  }
  return stats;
}

template <typename T>
std::vector<double> word2vec_score(const int32_t* tokens, int64_t n_tokens,
                                   const int64_t* offsets, int64_t n_sentences, const T* syn0,
                                   const T* syn1, int64_t V, int64_t D, const HuffmanTree& tree,
                                   int64_t window, bool sg, bool cbow_mean, int workers) {
  check(V >= 1 && D >= 1, "syn0: expected shape [V, D] with V, D >= 1, got " +
                              shape_str({V, D}));
  check(window >= 1, "window: expected >= 1, got " + std::to_string(window));
  check(workers >= 1, "workers: expected >= 1, got " + std::to_string(workers));
  check(tree.size() == V, "tree: built over V=" + std::to_string(tree.size()) +
                              " words, expected " + std::to_string(V));
  check_corpus(tokens, n_tokens, offsets, n_sentences, V);
  std::vector<double> scores(static_cast<size_t>(n_sentences), 0.0);
  cpu::word2vec_score(tokens, offsets, n_sentences, syn0, syn1, D, tree, window, sg, cbow_mean,
                      workers, scores.data());
  return scores;
}
template std::vector<double> word2vec_score<float>(const int32_t*, int64_t, const int64_t*,
                                                   int64_t, const float*, const float*, int64_t,
                                                   int64_t, const HuffmanTree&, int64_t, bool,
                                                   bool, int);
template std::vector<double> word2vec_score<double>(const int32_t*, int64_t, const int64_t*,
                                                    int64_t, const double*, const double*,
                                                    int64_t, int64_t, const HuffmanTree&,
                                                    int64_t, bool, bool, int);

#define SEQCORE_W2V_INST(T)                                                                  \
  template Word2VecStats word2vec_train<T>(                                                  \
      const int32_t*, int64_t, const int64_t*, int64_t, const int64_t*, int64_t, int64_t,    \
      int64_t, const double*, int64_t, T*, T*, T*, const T*, const UnigramSampler*,          \
      const HuffmanTree*, const Word2VecConfig&, int64_t, int64_t);
SEQCORE_W2V_INST(float)
SEQCORE_W2V_INST(double)
#undef SEQCORE_W2V_INST

}  // namespace seqcore

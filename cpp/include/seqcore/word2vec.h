// Word2Vec training (Mikolov et al. 2013; word2vec.c and gensim 4 semantics): skip-gram and
// CBOW, each with negative sampling and/or hierarchical softmax, on an encoded corpus.
//
// Shapes (legend of common.h): V vocabulary, D embedding dim, K negatives. A corpus is an
// int32 token array [n_tokens] (ids in [0, V)) with int64 sentence offsets [S + 1]
// (embeddings.h). The corpus is cut into chunks of whole sentences of about batch_words
// tokens (word2vec_chunks); a chunk is the unit of work of a thread and owns one random
// stream, a pure function of (seed, epoch, chunk index).
//
// Reuses output_layers.h: UnigramSampler (noise distribution counts^ns_exponent, alias
// method) and HuffmanTree (word2vec.c's codes/points).
#pragma once

#include <cstdint>
#include <vector>

#include "seqcore/output_layers.h"

namespace seqcore {

struct Word2VecConfig {
  int64_t D = 100;          // vector_size
  int64_t window = 5;       // maximal distance of a context word, >= 1
  bool sg = false;          // skip-gram (true) or CBOW (false)
  bool hs = false;          // hierarchical softmax (needs a tree)
  int64_t negative = 5;     // K negatives per positive pair (0: none; needs a sampler)
  bool cbow_mean = true;    // CBOW input: mean (true) or sum (false) of the context vectors
  double alpha = 0.025;     // learning rate at the start of training
  double min_alpha = 1e-4;  // learning rate at the end of training (linear decay)
  bool shrink_windows = true;  // window drawn uniformly in [1, window] per centre word
  // Learning-rate progress: false, per word by token position (word2vec.c); true, per chunk
  // by the fraction of the epoch's sentences before it, one rate for the chunk (gensim's
  // job schedule when train() is given total_examples, as its constructor does).
  bool decay_by_sentences = false;
  bool compute_loss = true;
  bool deterministic = false;  // one thread, chunks in order: bit-identical for any count
  // Skip-gram negative sampling with one set of K negatives per centre word shared by all
  // its contexts: logits [B, D] x [D, K + 1] and both updates as small GEMMs on the gathered
  // rows (HogBatch, Ji et al. 2016; needs sg).
  bool shared_negatives = false;
  int workers = 1;              // threads (Hogwild over chunks when > 1)
  uint64_t seed = 1;
  // Polled between sentences; once it asks to stop, the call returns early with the
  // sentences trained so far (the weights stay usable).
  StopToken* stop = nullptr;
};

// Result of a training call.
struct Word2VecStats {
  double loss = 0.0;            // sum over trained pairs of the negative log-likelihood
  int64_t raw_words = 0;        // tokens of the trained chunks (before subsampling)
  int64_t effective_words = 0;  // tokens kept by subsampling
  double last_alpha = 0.0;      // learning rate of the last trained word
};

// Chunk boundaries as sentence indices [n_chunks + 1]: whole sentences are added to a chunk
// until it holds >= batch_words tokens (gensim's job batching, without splitting).
std::vector<int64_t> word2vec_chunks(const int64_t* offsets, int64_t n_sentences,
                                     int64_t batch_words);

// Keep probability of each word under subsampling (word2vec.c / gensim 4):
//   t = sample * sum(counts) (sample < 1), or sample * (3 + sqrt 5) / 2 (sample >= 1),
//   p(w) = min(1, (sqrt(c_w / t) + 1) * t / c_w); sample == 0: p = 1.
// counts: [V] > 0. Returns [V] float64.
std::vector<double> word2vec_keep_probabilities(const int64_t* counts, int64_t V,
                                                double sample);

// Learning rate at `position` of an epoch of `length` units (tokens before subsampling, or
// sentences with decay_by_sentences) in epoch `epoch` of `epochs`: alpha - (alpha -
// min_alpha) * progress, progress = (epoch * length + position) / (epochs * length), never
// below min_alpha (gensim's _get_next_alpha).
double word2vec_alpha(double alpha, double min_alpha, int64_t epoch, int64_t epochs,
                      int64_t position, int64_t length);

// Trains chunks [chunk_begin, chunk_end) of epoch `epoch` (of `epochs`) in place.
//   tokens: [n_tokens]; offsets: [S + 1]; chunks: [n_chunks + 1] from word2vec_chunks;
//   keep: [V] subsampling keep probabilities (word2vec_keep_probabilities);
//   syn0: [V, D] input vectors; syn1: [V, D] inner-node vectors (hs, else nullptr; rows
//   0..V-2 are the V-1 inner nodes, the last row is unused, gensim's shape);
//   syn1neg: [V, D] output vectors (negative > 0, else nullptr);
//   lockf: [V] factor applied to every update of word w's input vector (gensim's
//   vectors_lockf: 0 freezes a word, 1 trains it), or nullptr for all 1;
//   sampler (negative > 0) and tree (hs): built from the vocabulary counts.
// Per centre word (after subsampling, which drops words before windows are taken as
// word2vec.c): skip-gram trains each context word's input vector to predict the centre
// word; CBOW trains the mean (cbow_mean) or sum of the context input vectors to predict it,
// and adds the hidden-layer error to every context vector (divided by the context count
// for the sum, as gensim). Sigmoid from word2vec.c's table (1000 entries over +-6, read
// at index floor((x + 6) * 83) as word2vec.c and gensim, whose integer division makes it
// sigmoid(0.996 x - 0.024)): hs skips a node outside the range, negative sampling saturates the gradient. A negative
// equal to the target is skipped (gensim).
// Memory: besides the weights, a fixed per-thread scratch: O(D (window + K)) and a buffer of
// at most 10000 + 2 window kept words of the current sentence (a longer one is trained in
// pieces that keep `window` words of context on each side: the same updates).
// Threads: cfg.workers > 1 and !cfg.deterministic: Hogwild (lock-free) over chunks;
// otherwise one thread in chunk order, bit-identical whatever the thread count.
template <typename T>
Word2VecStats word2vec_train(const int32_t* tokens, int64_t n_tokens, const int64_t* offsets,
                             int64_t n_sentences, const int64_t* chunks, int64_t n_chunks,
                             int64_t chunk_begin, int64_t chunk_end, const double* keep,
                             int64_t V, T* syn0, T* syn1, T* syn1neg, const T* lockf,
                             const UnigramSampler* sampler, const HuffmanTree* tree,
                             const Word2VecConfig& cfg, int64_t epoch, int64_t epochs);

// Log-probability of each sentence under a hierarchical-softmax model (Taddy 2015; gensim's
// score_sentence_sg / _cbow): for each centre word w_i and, with sg, each context word w_j
// within `window` (no shrinking, no subsampling), log p(w_i | h) = sum over w_i's Huffman
// path of log sigma(+-h . node) with h = syn0[w_j] (sg) or the sum (cbow_mean: mean) of the
// context vectors (CBOW); nodes with |h . node| >= 6 are skipped and log sigma is read from
// word2vec.c's table, as gensim. tokens [n_tokens] in [0, V), offsets [S + 1]; syn0, syn1
// [V, D]; tree over V words. Returns [S] float64. OpenMP over sentences (workers threads).
template <typename T>
std::vector<double> word2vec_score(const int32_t* tokens, int64_t n_tokens,
                                   const int64_t* offsets, int64_t n_sentences, const T* syn0,
                                   const T* syn1, int64_t V, int64_t D, const HuffmanTree& tree,
                                   int64_t window, bool sg, bool cbow_mean, int workers);

}  // namespace seqcore

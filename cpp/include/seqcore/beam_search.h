// Beam search over a step function that is called once per step for all live hypotheses.
//
// The caller runs the loop: ask next_tokens()/beam_origin() for the rows of the next call of
// its model (row m extends row beam_origin[m] of the previous call), compute the
// log-probabilities of the next token for those rows, and pass them to advance(). This
// class does everything else: penalties, top-k over B x V per batch item, the 2B-candidate
// rule for finished hypotheses (CTranslate2 / Hugging Face), length normalisation, stopping,
// and n-best bookkeeping. The Python `seqcore.beam_search` drives it with a Python step;
// a native decoder (seq2seq) drives it from C++.
//
// Conventions (also in the Python docstring):
//   - a hypothesis' length `len` counts its generated tokens including EOS (BOS excluded);
//     `max_length` bounds the same count, and a hypothesis reaching it without EOS is
//     finished as it is; EOS is forbidden while len < min_length (EOS excluded).
//   - score = log_prob / lp(len): "avg" lp = len^alpha, "gnmt" lp = ((5 + len) / 6)^alpha,
//     "none" lp = 1 (alpha = length_penalty).
//   - returned tokens exclude BOS and EOS; log_prob is the sum of the model's log-probs of
//     the generated tokens (EOS included), before repetition penalties.
//
// Shapes: N batch items, K beam width, M live rows of a step (<= N*K), V vocabulary.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seqcore {

enum class LengthPenalty { kAvg, kGnmt, kNone };
enum class Stopping { kEarly, kPatience, kExhaustive };

struct BeamSearchOptions {
  int64_t bos_id = 0;
  int64_t eos_id = 1;
  int64_t beam_width = 4;
  int64_t max_length = 100;
  int64_t min_length = 0;
  int64_t n_best = 1;
  double length_penalty = 0.0;  // alpha
  LengthPenalty length_penalty_mode = LengthPenalty::kAvg;
  Stopping stopping = Stopping::kEarly;
  double patience = 1.0;            // kPatience: stop once ceil(patience * K) hypotheses ended
  double repetition_penalty = 1.0;  // log-prob of an already generated token is multiplied by it
  int64_t no_repeat_ngram_size = 0;
};

struct Hypothesis {
  std::vector<int64_t> tokens;
  double score = 0.0;
  double log_prob = 0.0;
};

class BeamSearch {
 public:
  // prefixes: empty, or one forced token prefix per batch item (may be empty vectors).
  // Throws std::invalid_argument for invalid options.
  BeamSearch(int64_t batch_size, const BeamSearchOptions& options,
             std::vector<std::vector<int64_t>> prefixes = {});

  bool done() const { return rows_.empty(); }
  int64_t num_rows() const { return static_cast<int64_t>(rows_.size()); }
  // Inputs of the next step call: token of each live row [M] and the row of the previous
  // call it extends [M] (the first call: one row per batch item, origin = item index).
  std::vector<int64_t> next_tokens() const;
  std::vector<int64_t> beam_origin() const;
  // Batch item of each live row [M].
  std::vector<int64_t> row_batch() const;
  int64_t step() const { return step_; }

  // log_probs: [M, V] of the current rows (float or double). V is fixed by the first call.
  // Throws std::invalid_argument for a wrong M or V, NaN, or an eos/bos id >= V.
  template <typename T>
  void advance(const T* log_probs, int64_t rows, int64_t vocab);

  // n-best of each batch item, best first (sorted by score, ties by finishing order).
  std::vector<std::vector<Hypothesis>> results() const;

 private:
  struct Live {
    std::vector<int64_t> tokens;  // generated so far (no BOS)
    double ranked = 0.0;          // sum of penalised log-probs (what the beam ranks)
    double log_prob = 0.0;        // sum of the model's log-probs
    int64_t origin = 0;           // row of the previous call it extends
  };
  struct Finished {
    Hypothesis hyp;
    int64_t order;
  };
  double lp(int64_t len) const;
  double best_possible(const Live& h) const;
  // Whether item b stops, given its live hypotheses after this step.
  bool item_done(int64_t b, const std::vector<Live>& live) const;
  // One item's step: top 2K candidates of its rows [row0, row1) of log_probs, then the
  // next live hypotheses and the ones that ended. Returns false if a log-prob is NaN.
  template <typename T>
  bool expand_item(int64_t b, const T* log_probs, int64_t row0, int64_t row1,
                   std::vector<Live>* next, std::vector<Hypothesis>* ended) const;

  BeamSearchOptions opt_;
  int64_t batch_;
  int64_t vocab_ = -1;
  int64_t step_ = 0;
  int64_t order_ = 0;
  std::vector<std::vector<int64_t>> prefixes_;
  std::vector<Live> rows_;                   // live rows, grouped by batch item in order
  std::vector<int64_t> row_item_;            // batch item of each live row
  std::vector<std::vector<Finished>> finished_;
  std::vector<char> closed_;                 // item left the batch
};

LengthPenalty parse_length_penalty(const std::string& mode);
Stopping parse_stopping(const std::string& mode);

}  // namespace seqcore

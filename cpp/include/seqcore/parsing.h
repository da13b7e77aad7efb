// Transition-based dependency parsing with the arc-standard system (Nivre 2004), Chen &
// Manning's (2014) feature templates, and beam search with the globally normalised training
// of SyntaxNet (Andor et al. 2016): the state machine of a batch of sentences. The scorer (a
// feed-forward network over the features) lives in Python on the shared kernels; the caller
// runs the loop as with BeamSearch: features() of the live rows -> scores -> advance().
//
// Words of a sentence are 1..n and 0 is ROOT; a tree is head [n] (0 = attached to ROOT) and
// label [n] in 0..L-1. Transitions (A = 1 + 2L of them):
//   0        SHIFT         move the first buffer word onto the stack;
//   1 + l    LEFT-ARC(l)   s1 -> s2 with label l, pop s2 (s2 is not ROOT);
//   1 + L + l RIGHT-ARC(l) s2 -> s1 with label l, pop s1 (s2 = ROOT only once the buffer is
//                          empty, so a parse has exactly one word attached to ROOT).
// A parse of n words is exactly 2n transitions, so every beam row of a sentence ends at the
// same step and no finished-hypothesis bookkeeping is needed.
//
// Features (Chen & Manning 2014): each of C word attributes (form, tag, ...; C = 2 gives
// their 48 features) of the 18 positions s1 s2 s3 b1 b2 b3 lc1(s1) rc1(s1) lc2(s1) rc2(s1)
// lc1(s2) rc1(s2) lc2(s2) rc2(s2) lc1(lc1(s1)) rc1(rc1(s1)) lc1(lc1(s2)) rc1(rc1(s2)), attribute
// by attribute, then the labels of the last 12 (lcK/rcK: K-th leftmost/rightmost child).
// Ids: an attribute of an absent position is 0 (NULL) and of ROOT 1; a word's own ids come
// from the caller's attrs [C, W] (expected >= 2); a label feature is 1 + l, or 0 when absent.
//
// Shapes (legend of common.h, plus): W words of the batch (all sentences concatenated), M live
// rows (<= N*K; grouped by sentence, in sentence order), A transitions, C word attributes,
// F = 18 C + 12 features.
#pragma once

#include <cstdint>
#include <vector>

#include "seqcore/common.h"

namespace seqcore {

constexpr int64_t kParserPositions = 18, kParserLabelFeatures = 12;
inline int64_t parser_features(int64_t C) { return kParserPositions * C + kParserLabelFeatures; }

struct Parse {
  std::vector<int64_t> head, label;  // [n]
  double score = 0.0;                // sum of the transition scores
};

// One configuration (stack, buffer, arcs so far) of one sentence of n words, in one buffer so
// that a beam copies it with one allocation: head, label, lc1, lc2, rc1, rc2, stack, each
// n + 1 entries (index = word; 0 means "none" in the child arrays: ROOT is nobody's child).
struct ParserConfig {
  std::vector<int32_t> v;
  int32_t n = 0, depth = 0, next = 1;  // stack size; first buffer word (n + 1: empty)
  double score = 0.0;

  explicit ParserConfig(int32_t words);
  int32_t* field(int k) { return v.data() + k * (n + 1); }
  const int32_t* field(int k) const { return v.data() + k * (n + 1); }
  int32_t s(int i) const { return depth > i ? field(6)[depth - 1 - i] : -1; }  // s1 = s(0)
  bool terminal() const { return depth == 1 && next > n; }
  bool legal(int64_t transition, int64_t L) const;
  void apply(int64_t transition, int64_t L);  // a legal transition
};

class ArcStandardBeam {
 public:
  // lengths [N] (>= 1 word each); L >= 1 labels; K >= 1 (1: greedy). gold: empty, or the
  // oracle transitions of every sentence [2W] (arc_standard_oracle): then each sentence stops
  // at the step where its gold sequence falls out of the beam (early update) and
  // global_loss() can be asked at the end. Throws std::invalid_argument.
  ArcStandardBeam(std::vector<int64_t> lengths, int64_t num_labels, int64_t beam_width,
                  std::vector<int64_t> gold = {});

  int64_t num_transitions() const { return 1 + 2 * L_; }
  bool done() const { return rows_.empty(); }
  int64_t num_rows() const { return static_cast<int64_t>(rows_.size()); }
  int64_t step() const { return step_; }
  std::vector<int64_t> row_sentence() const { return row_sent_; }
  // legal: [M, A] 1 where the transition is legal in that row.
  void legal(uint8_t* out) const;
  // attrs: [C, W]; out: [M, F].
  void features(const int64_t* attrs, int64_t C, int64_t W, int64_t* out) const;
  // scores: [M, A] transition scores of the live rows (log-probabilities of a locally
  // normalised model, raw scores of a globally normalised one; -inf allowed, NaN and +inf
  // in a legal entry are an error); illegal entries are ignored.
  // Each sentence keeps its K best (summed score, ties: lower row, then transition).
  template <typename T>
  void advance(const T* scores, int64_t rows, int64_t A);
  // Final beam of each sentence, best first (<= K parses; training: the beam at its stop).
  std::vector<std::vector<Parse>> results() const;

  // Globally normalised loss (Andor et al. 2016, eq. 5, with early update) of each sentence:
  // logsumexp over the final beam plus the gold prefix, minus the gold prefix's score; and
  // its gradient w.r.t. every step's scores, one [M_j, A] array per advance() call.
  struct GlobalLoss {
    std::vector<double> loss;                // [N]
    std::vector<int64_t> stop_step;          // [N] transitions taken (2n: no early update)
    std::vector<std::vector<double>> dscores;  // per step, [M_j * A]
  };
  GlobalLoss global_loss() const;

 private:
  struct Row {
    ParserConfig config;
    int64_t parent;      // row of the previous step (-1 at step 0)
    int64_t transition;  // transition taken from the parent
  };
  // A sentence's final candidate set for the global loss: (row of step j, transition) pairs
  // and scores; gold is index `gold` in it.
  struct Final {
    int64_t step = -1;
    std::vector<std::pair<int64_t, int64_t>> cands;
    std::vector<double> scores;
    int64_t gold = -1;
  };

  int64_t L_, K_, step_ = 0;
  std::vector<int64_t> lengths_, offsets_, gold_;
  std::vector<Row> rows_;
  std::vector<int64_t> row_sent_, gold_row_;  // gold_row_: row of each sentence on its gold path
  std::vector<std::vector<Parse>> results_;
  // Training only: the (parent, transition) of every row of every step, the rows' count.
  std::vector<std::vector<std::pair<int64_t, int64_t>>> history_;
  std::vector<int64_t> step_rows_;
  std::vector<Final> finals_;
};

// The static arc-standard oracle: transitions [2W] (sentence s at 2 * its word offset) that
// build each gold tree, and when features_out is non-null the features [2W, F] of the
// configuration before each transition. heads/labels: [W]; attrs [C, W]. Throws
// std::invalid_argument naming the sentence when a tree is not projective (or not a tree with
// one word attached to ROOT), a head or label is out of range.
void arc_standard_oracle(const std::vector<int64_t>& lengths, const int64_t* heads,
                         const int64_t* labels, int64_t num_labels, const int64_t* attrs,
                         int64_t C, int64_t* transitions_out, int64_t* features_out);

}  // namespace seqcore

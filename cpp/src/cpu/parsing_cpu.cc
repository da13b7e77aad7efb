// Arc-standard configurations, Chen & Manning's features, the beam step (top K of each
// sentence's rows x transitions, OpenMP over sentences) and the static oracle.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <tuple>

#include "cpu/parallel.h"
#include "cpu/top_k.h"
#include "seqcore/parsing.h"

namespace seqcore {

namespace {

enum Field { kHead, kLabel, kLc1, kLc2, kRc1, kRc2, kStack };

// Sentences of a step worth a parallel region (each does a few copies of n-word arrays).
constexpr int64_t kParallelRows = 64;

// Word position -> feature id of one of its attributes: 0 NULL (absent), 1 ROOT, else
// ids[p - 1].
inline int64_t word_id(int32_t p, const int64_t* ids) {
  return p < 0 ? 0 : (p == 0 ? 1 : ids[p - 1]);
}

// The 18 positions of the feature templates (-1: absent).
void positions(const ParserConfig& c, int32_t* pos) {
  auto child = [&](int f, int32_t p) { return p < 0 || c.field(f)[p] == 0 ? -1 : c.field(f)[p]; };
  for (int i = 0; i < 3; ++i) pos[i] = c.s(i);
  for (int i = 0; i < 3; ++i) pos[3 + i] = c.next + i <= c.n ? c.next + i : -1;
  for (int k = 0; k < 2; ++k) {
    const int32_t s = pos[k];
    int32_t* o = pos + 6 + 4 * k;
    o[0] = child(kLc1, s);
    o[1] = child(kRc1, s);
    o[2] = child(kLc2, s);
    o[3] = child(kRc2, s);
  }
  pos[14] = child(kLc1, pos[6]);
  pos[15] = child(kRc1, pos[7]);
  pos[16] = child(kLc1, pos[10]);
  pos[17] = child(kRc1, pos[11]);
}

// attrs: the sentence's first word in attribute 0 of [C, W] (attribute k at + k W).
void config_features(const ParserConfig& c, const int64_t* attrs, int64_t C, int64_t W,
                     int64_t* out) {
  int32_t pos[kParserPositions];
  positions(c, pos);
  for (int64_t k = 0; k < C; ++k)
    for (int i = 0; i < kParserPositions; ++i) *out++ = word_id(pos[i], attrs + k * W);
  for (int i = 0; i < kParserLabelFeatures; ++i) {
    const int32_t p = pos[6 + i];
    *out++ = p <= 0 ? 0 : 1 + c.field(kLabel)[p];
  }
}

// Legal transitions of a configuration: SHIFT, any LEFT-ARC, any RIGHT-ARC.
struct Moves {
  bool shift, left, right;
};
inline Moves moves(const ParserConfig& c) {
  const bool two = c.depth >= 2;
  const int32_t s2 = two ? c.s(1) : -1;
  return {c.next <= c.n, two && s2 != 0, two && (s2 != 0 || c.next > c.n)};
}
inline bool allowed(const Moves& m, int64_t a, int64_t L) {
  return a == 0 ? m.shift : (a <= L ? m.left : m.right);
}

}  // namespace

ParserConfig::ParserConfig(int32_t words) : v(7 * static_cast<size_t>(words + 1), 0), n(words) {
  std::fill(field(kHead), field(kHead) + n + 1, -1);
  std::fill(field(kLabel), field(kLabel) + n + 1, -1);
  field(kStack)[0] = 0;
  depth = 1;
}

bool ParserConfig::legal(int64_t transition, int64_t L) const {
  return transition >= 0 && transition <= 2 * L && allowed(moves(*this), transition, L);
}

void ParserConfig::apply(int64_t t, int64_t L) {
  int32_t* stack = field(kStack);
  if (t == 0) {
    stack[depth++] = next++;
    return;
  }
  const int32_t s1 = stack[depth - 1], s2 = stack[depth - 2];
  const bool left = t <= L;
  const int32_t h = left ? s1 : s2, d = left ? s2 : s1;
  field(kHead)[d] = h;
  field(kLabel)[d] = static_cast<int32_t>(left ? t - 1 : t - 1 - L);
  // Children are kept by position, so any order of attachment gives the right lc/rc.
  int32_t *c1 = field(left ? kLc1 : kRc1) + h, *c2 = field(left ? kLc2 : kRc2) + h;
  auto outer = [&](int32_t a, int32_t b) { return b == 0 || (left ? a < b : a > b); };
  if (outer(d, *c1)) {
    *c2 = *c1;
    *c1 = d;
  } else if (outer(d, *c2)) {
    *c2 = d;
  }
  if (left) stack[depth - 2] = s1;
  --depth;
}

void ArcStandardBeam::legal(uint8_t* out) const {
  const int64_t A = num_transitions();
  for (size_t r = 0; r < rows_.size(); ++r) {
    const Moves m = moves(rows_[r].config);
    for (int64_t a = 0; a < A; ++a) out[r * A + a] = allowed(m, a, L_);
  }
}

void ArcStandardBeam::features(const int64_t* attrs, int64_t C, int64_t W, int64_t* out) const {
  check(W == offsets_.back(), "attrs: expected " + std::to_string(offsets_.back()) +
                                  " columns (the words of every sentence), got " +
                                  std::to_string(W));
  check(C >= 1, "attrs: expected at least one word attribute");
  const int64_t M = num_rows(), F = parser_features(C);
#pragma omp parallel for num_threads(get_num_threads()) if (M >= 4 * kParallelRows)
  for (int64_t r = 0; r < M; ++r)
    config_features(rows_[r].config, attrs + offsets_[row_sent_[r]], C, W, out + r * F);
}

template <typename T>
void ArcStandardBeam::advance(const T* scores, int64_t rows, int64_t A) {
  check(!done(), "parser beam: advance() called after every sentence finished");
  check(rows == num_rows(), "scores: expected " + std::to_string(num_rows()) +
                                " rows (one per live parser state), got " + std::to_string(rows));
  check(A == num_transitions(), "scores: expected " + std::to_string(num_transitions()) +
                                    " columns (1 + 2 * labels transitions), got " +
                                    std::to_string(A));
  const bool training = !gold_.empty();
  std::vector<int64_t> sents, starts;
  for (int64_t m = 0; m < rows; ++m)
    if (m == 0 || row_sent_[m] != row_sent_[m - 1]) {
      sents.push_back(row_sent_[m]);
      starts.push_back(m);
    }
  starts.push_back(rows);
  const int64_t n_sents = static_cast<int64_t>(sents.size());
  std::vector<std::vector<Row>> next(n_sents);
  std::vector<int64_t> gold_next(n_sents, -1);  // index in next[i] of the gold row, or -1
  std::vector<Final> finals(training ? n_sents : 0);
  std::vector<char> nan(n_sents, 0);
  cpu::RegionErrors errors;
#pragma omp parallel for schedule(dynamic, 4) num_threads(get_num_threads()) \
    if (rows >= kParallelRows && n_sents > 1)
  for (int64_t i = 0; i < n_sents; ++i) errors.run([&] {
    const int64_t r0 = starts[i], r1 = starts[i + 1];
    cpu::TopK top(static_cast<size_t>(K_));
    for (int64_t r = r0; r < r1; ++r) {
      const Moves m = moves(rows_[r].config);
      const T* x = scores + r * A;
      for (int64_t a = 0; a < A; ++a) {
        if (!allowed(m, a, L_)) continue;
        if (!(x[a] < std::numeric_limits<T>::infinity())) nan[i] = 1;  // NaN or +inf
        top.offer(rows_[r].config.score + double(x[a]), (r - r0) * A + a);
      }
    }
    const std::vector<cpu::Candidate> kept = top.take_sorted();
    int64_t gold_index = -1;
    if (training) {
      const int64_t s = sents[i], g = gold_row_[s];
      gold_index = (g - r0) * A + gold_[2 * offsets_[s] + step_];
    }
    for (const auto& c : kept) {
      const int64_t r = r0 + c.index / A, a = c.index % A;
      if (c.index == gold_index) gold_next[i] = static_cast<int64_t>(next[i].size());
      next[i].push_back(Row{rows_[r].config, r, a});
      next[i].back().config.apply(a, L_);
      next[i].back().config.score = c.score;
    }
    const bool finished = next[i].front().config.terminal();
    if (training && (finished || gold_next[i] < 0)) {
      Final& f = finals[i];
      f.step = step_;
      for (const auto& c : kept) {
        f.cands.emplace_back(r0 + c.index / A, c.index % A);
        f.scores.push_back(c.score);
      }
      f.gold = gold_next[i];
      if (f.gold < 0) {  // early update: the gold prefix joins the beam it fell out of
        const int64_t g = gold_row_[sents[i]], a = gold_index % A;
        f.cands.emplace_back(g, a);
        f.scores.push_back(rows_[g].config.score + double(scores[g * A + a]));
        f.gold = static_cast<int64_t>(f.cands.size()) - 1;
      }
    }
  });
  errors.rethrow();
  for (int64_t i = 0; i < n_sents; ++i)
    check(!nan[i], "scores: NaN or +inf in a legal transition of sentence " +
                       std::to_string(sents[i]));

  if (training) {
    step_rows_.push_back(rows);
    history_.emplace_back();
  }
  std::vector<Row> rows_next;
  std::vector<int64_t> sent_next;
  for (int64_t i = 0; i < n_sents; ++i) {
    const int64_t s = sents[i];
    const bool finished = next[i].front().config.terminal();
    if (training && finals[i].step >= 0) finals_[s] = std::move(finals[i]);
    if (finished || (training && gold_next[i] < 0)) {
      for (const Row& row : next[i]) {
        Parse p;
        const ParserConfig& c = row.config;
        p.head.assign(c.field(kHead) + 1, c.field(kHead) + c.n + 1);
        p.label.assign(c.field(kLabel) + 1, c.field(kLabel) + c.n + 1);
        p.score = c.score;
        results_[s].push_back(std::move(p));
      }
      continue;
    }
    if (training) gold_row_[s] = static_cast<int64_t>(rows_next.size()) + gold_next[i];
    for (Row& row : next[i]) {
      if (training) history_.back().emplace_back(row.parent, row.transition);
      rows_next.push_back(std::move(row));
      sent_next.push_back(s);
    }
  }
  rows_ = std::move(rows_next);
  row_sent_ = std::move(sent_next);
  ++step_;
}

template void ArcStandardBeam::advance<float>(const float*, int64_t, int64_t);
template void ArcStandardBeam::advance<double>(const double*, int64_t, int64_t);

ArcStandardBeam::GlobalLoss ArcStandardBeam::global_loss() const {
  check(!gold_.empty(), "global_loss: the beam was built without gold transitions");
  check(done(), "global_loss: the search has not finished (advance until done())");
  const int64_t N = static_cast<int64_t>(lengths_.size()), A = num_transitions();
  GlobalLoss out;
  out.loss.assign(N, 0.0);
  out.stop_step.assign(N, 0);
  out.dscores.resize(step_rows_.size());
  for (size_t j = 0; j < step_rows_.size(); ++j) out.dscores[j].assign(step_rows_[j] * A, 0.0);
  for (int64_t s = 0; s < N; ++s) {
    const Final& f = finals_[s];
    double mx = -INFINITY;
    for (double x : f.scores) mx = std::max(mx, x);
    double z = 0.0;
    for (double x : f.scores) z += std::exp(x - mx);
    const double lse = mx + std::log(z);
    out.loss[s] = lse - f.scores[f.gold];
    out.stop_step[s] = f.step + 1;
    for (size_t c = 0; c < f.cands.size(); ++c) {
      // d loss / d (a score on this candidate's path) = p(candidate) - [candidate is gold].
      const double g = std::exp(f.scores[c] - lse) - (static_cast<int64_t>(c) == f.gold);
      int64_t r = f.cands[c].first, a = f.cands[c].second;
      for (int64_t j = f.step; j >= 0; --j) {
        out.dscores[j][r * A + a] += g;
        if (j > 0) std::tie(r, a) = history_[j - 1][r];
      }
    }
  }
  return out;
}

void arc_standard_oracle(const std::vector<int64_t>& lengths, const int64_t* heads,
                         const int64_t* labels, int64_t L, const int64_t* attrs, int64_t C,
                         int64_t* transitions_out, int64_t* features_out) {
  check(L >= 1 && L < (int64_t(1) << 30),
        "num_labels: expected 1..2^30-1, got " + std::to_string(L));
  const int64_t N = static_cast<int64_t>(lengths.size());
  std::vector<int64_t> offsets(N + 1, 0);
  for (int64_t s = 0; s < N; ++s) {
    check(lengths[s] >= 1 && lengths[s] < (int64_t(1) << 30),
          "lengths: sentence " + std::to_string(s) + " has " + std::to_string(lengths[s]) +
              " words (expected at least 1)");
    offsets[s + 1] = offsets[s] + lengths[s];
  }
  for (int64_t s = 0; s < N; ++s)
    for (int64_t i = offsets[s]; i < offsets[s + 1]; ++i) {
      check(heads[i] >= 0 && heads[i] <= lengths[s] && heads[i] != i - offsets[s] + 1,
            "heads: word " + std::to_string(i - offsets[s] + 1) + " of sentence " +
                std::to_string(s) + " has head " + std::to_string(heads[i]) +
                " (expected 0..n, not itself)");
      check(labels[i] >= 0 && labels[i] < L,
            "labels: word " + std::to_string(i - offsets[s] + 1) + " of sentence " +
                std::to_string(s) + " has label " + std::to_string(labels[i]) +
                " (expected 0.." + std::to_string(L - 1) + ")");
    }
  const int64_t F = parser_features(C);
  std::vector<char> failed(N, 0);
  cpu::RegionErrors errors;
#pragma omp parallel for schedule(dynamic, 8) num_threads(get_num_threads()) if (N >= 16)
  for (int64_t s = 0; s < N; ++s) errors.run([&] {
    const int32_t n = static_cast<int32_t>(lengths[s]);
    const int64_t off = offsets[s];
    const int64_t* head = heads + off;  // head[w - 1] of word w
    std::vector<int32_t> pending(n + 1, 0);  // gold children not attached yet
    for (int32_t w = 1; w <= n; ++w) ++pending[head[w - 1]];
    ParserConfig c(n);
    for (int64_t t = 0; t < 2 * int64_t(n); ++t) {
      const int32_t s1 = c.s(0), s2 = c.s(1);
      int64_t a = -1;
      if (s2 > 0 && head[s2 - 1] == s1 && pending[s2] == 0) {
        a = 1 + labels[off + s2 - 1];
      } else if (s2 >= 0 && s1 > 0 && head[s1 - 1] == s2 && pending[s1] == 0 &&
                 (s2 != 0 || c.next > n)) {
        a = 1 + L + labels[off + s1 - 1];
      } else if (c.next <= n) {
        a = 0;
      }
      if (a < 0) {
        failed[s] = 1;
        break;
      }
      if (a > 0) --pending[a <= L ? s1 : s2];
      if (features_out)
        config_features(c, attrs + off, C, offsets[N], features_out + (2 * off + t) * F);
      transitions_out[2 * off + t] = a;
      c.apply(a, L);
    }
  });
  errors.rethrow();
  for (int64_t s = 0; s < N; ++s)
    check(!failed[s], "heads: sentence " + std::to_string(s) +
                          " is not a projective tree with one word attached to ROOT "
                          "(projectivize it first)");
}

}  // namespace seqcore

// Beam search: option validation, results, and the per-step bookkeeping around the top-k
// kernel of cpu/beam_search_cpu.cc.
#include "seqcore/beam_search.h"

#include <algorithm>
#include <cmath>

#include "seqcore/common.h"

namespace seqcore {

LengthPenalty parse_length_penalty(const std::string& mode) {
  if (mode == "avg") return LengthPenalty::kAvg;
  if (mode == "gnmt") return LengthPenalty::kGnmt;
  if (mode == "none") return LengthPenalty::kNone;
  throw std::invalid_argument("length_penalty_mode: expected 'avg', 'gnmt' or 'none', got '" +
                              mode + "'");
}

Stopping parse_stopping(const std::string& mode) {
  if (mode == "early") return Stopping::kEarly;
  if (mode == "patience") return Stopping::kPatience;
  if (mode == "exhaustive") return Stopping::kExhaustive;
  throw std::invalid_argument("stopping: expected 'early', 'patience' or 'exhaustive', got '" +
                              mode + "'");
}

BeamSearch::BeamSearch(int64_t batch_size, const BeamSearchOptions& options,
                       std::vector<std::vector<int64_t>> prefixes)
    : opt_(options), batch_(batch_size), prefixes_(std::move(prefixes)) {
  check(batch_ >= 1, "batch_size: expected >= 1, got " + std::to_string(batch_));
  check(opt_.bos_id >= 0, "bos_id: expected >= 0, got " + std::to_string(opt_.bos_id));
  check(opt_.eos_id >= 0, "eos_id: expected >= 0, got " + std::to_string(opt_.eos_id));
  check(opt_.beam_width >= 1, "beam_width: expected >= 1, got " +
                                  std::to_string(opt_.beam_width));
  check(opt_.max_length >= 1, "max_length: expected >= 1, got " +
                                  std::to_string(opt_.max_length));
  check(opt_.min_length >= 0 && opt_.min_length < opt_.max_length,
        "min_length: expected 0 <= min_length < max_length (" +
            std::to_string(opt_.max_length) + "), got " + std::to_string(opt_.min_length));
  check(opt_.n_best >= 1 && opt_.n_best <= opt_.beam_width,
        "n_best: expected 1 <= n_best <= beam_width (" + std::to_string(opt_.beam_width) +
            "), got " + std::to_string(opt_.n_best));
  check(std::isfinite(opt_.length_penalty), "length_penalty: expected a finite number");
  check(opt_.patience > 0 && std::isfinite(opt_.patience),
        "patience: expected a finite number > 0");
  check(opt_.repetition_penalty > 0 && std::isfinite(opt_.repetition_penalty),
        "repetition_penalty: expected a finite number > 0");
  check(opt_.no_repeat_ngram_size >= 0, "no_repeat_ngram_size: expected >= 0");
  if (!prefixes_.empty()) {
    check(static_cast<int64_t>(prefixes_.size()) == batch_,
          "prefix: expected one prefix per batch item (" + std::to_string(batch_) + "), got " +
              std::to_string(prefixes_.size()));
    for (const auto& p : prefixes_) {
      check(static_cast<int64_t>(p.size()) < opt_.max_length,
            "prefix: a prefix must be shorter than max_length");
      for (int64_t t : p)
        check(t >= 0 && t != opt_.eos_id, "prefix: token ids must be >= 0 and not eos_id");
    }
  }
  finished_.resize(batch_);
  closed_.assign(batch_, 0);
  rows_.resize(batch_);
  row_item_.resize(batch_);
  for (int64_t b = 0; b < batch_; ++b) {
    rows_[b].origin = b;
    row_item_[b] = b;
  }
}

std::vector<int64_t> BeamSearch::next_tokens() const {
  std::vector<int64_t> out(rows_.size());
  for (size_t m = 0; m < rows_.size(); ++m)
    out[m] = rows_[m].tokens.empty() ? opt_.bos_id : rows_[m].tokens.back();
  return out;
}

std::vector<int64_t> BeamSearch::beam_origin() const {
  std::vector<int64_t> out(rows_.size());
  for (size_t m = 0; m < rows_.size(); ++m) out[m] = rows_[m].origin;
  return out;
}

std::vector<int64_t> BeamSearch::row_batch() const { return row_item_; }

double BeamSearch::lp(int64_t len) const {
  const double a = opt_.length_penalty;
  if (opt_.length_penalty_mode == LengthPenalty::kNone || a == 0.0 || len <= 0) return 1.0;
  if (opt_.length_penalty_mode == LengthPenalty::kAvg) return std::pow(double(len), a);
  return std::pow((5.0 + double(len)) / 6.0, a);
}

// Upper bound of the final score of a live hypothesis (log-probs are <= 0, so its summed
// log-prob can only fall; lp() is monotone in the length, so an extreme length is best).
double BeamSearch::best_possible(const Live& h) const {
  const int64_t len = static_cast<int64_t>(h.tokens.size());
  if (len >= opt_.max_length) return h.ranked / lp(len);
  return std::max(h.ranked / lp(len + 1), h.ranked / lp(opt_.max_length));
}

bool BeamSearch::item_done(int64_t b, const std::vector<Live>& live) const {
  const auto& f = finished_[b];
  const int64_t k = opt_.beam_width;
  switch (opt_.stopping) {
    case Stopping::kEarly:
      return static_cast<int64_t>(f.size()) >= k;
    case Stopping::kPatience:
      return static_cast<double>(f.size()) >= std::ceil(opt_.patience * double(k));
    case Stopping::kExhaustive:
      break;
  }
  if (static_cast<int64_t>(f.size()) < opt_.n_best) return false;
  std::vector<double> scores;
  scores.reserve(f.size());
  for (const auto& x : f) scores.push_back(x.hyp.score);
  std::nth_element(scores.begin(), scores.begin() + (opt_.n_best - 1), scores.end(),
                   std::greater<double>());
  const double kth = scores[opt_.n_best - 1];
  for (const auto& h : live)
    if (best_possible(h) > kth) return false;
  return true;
}

std::vector<std::vector<Hypothesis>> BeamSearch::results() const {
  std::vector<std::vector<Hypothesis>> out(batch_);
  for (int64_t b = 0; b < batch_; ++b) {
    std::vector<const Finished*> f;
    for (const auto& x : finished_[b]) f.push_back(&x);
    std::stable_sort(f.begin(), f.end(), [](const Finished* a, const Finished* c) {
      return a->hyp.score > c->hyp.score || (a->hyp.score == c->hyp.score && a->order < c->order);
    });
    for (size_t i = 0; i < f.size() && static_cast<int64_t>(i) < opt_.n_best; ++i)
      out[b].push_back(f[i]->hyp);
  }
  return out;
}

}  // namespace seqcore

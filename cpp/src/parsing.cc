// Arc-standard beam: validation of the batch (the steps are in cpu/parsing_cpu.cc).
#include <string>
#include <utility>

#include "seqcore/parsing.h"

namespace seqcore {

ArcStandardBeam::ArcStandardBeam(std::vector<int64_t> lengths, int64_t num_labels,
                                 int64_t beam_width, std::vector<int64_t> gold)
    : L_(num_labels), K_(beam_width), lengths_(std::move(lengths)), gold_(std::move(gold)) {
  check(L_ >= 1 && L_ < (int64_t(1) << 30),
        "num_labels: expected 1..2^30-1, got " + std::to_string(L_));
  check(K_ >= 1 && K_ <= (int64_t(1) << 20),
        "beam_width: expected 1..2^20, got " + std::to_string(K_));
  const int64_t N = static_cast<int64_t>(lengths_.size());
  offsets_.assign(N + 1, 0);
  for (int64_t s = 0; s < N; ++s) {
    check(lengths_[s] >= 1 && lengths_[s] < (int64_t(1) << 30),
          "lengths: sentence " + std::to_string(s) + " has " + std::to_string(lengths_[s]) +
              " words (expected at least 1)");
    offsets_[s + 1] = offsets_[s] + lengths_[s];
  }
  if (!gold_.empty()) {
    check(static_cast<int64_t>(gold_.size()) == 2 * offsets_[N],
          "gold: expected " + std::to_string(2 * offsets_[N]) +
              " transitions (2 per word), got " + std::to_string(gold_.size()));
    // The gold sequence must be legal for the search to follow it.
    for (int64_t s = 0; s < N; ++s) {
      ParserConfig c(static_cast<int32_t>(lengths_[s]));
      for (int64_t t = 0; t < 2 * lengths_[s]; ++t) {
        const int64_t a = gold_[2 * offsets_[s] + t];
        check(c.legal(a, L_), "gold: transition " + std::to_string(t) + " of sentence " +
                                  std::to_string(s) + " is not legal there");
        c.apply(a, L_);
      }
    }
    gold_row_.assign(N, 0);
    finals_.resize(N);
  }
  results_.resize(N);
  rows_.reserve(N);
  for (int64_t s = 0; s < N; ++s) {
    rows_.push_back(Row{ParserConfig(static_cast<int32_t>(lengths_[s])), -1, -1});
    row_sent_.push_back(s);
    if (!gold_.empty()) gold_row_[s] = s;
  }
}

std::vector<std::vector<Parse>> ArcStandardBeam::results() const {
  check(done(), "results: the search has not finished (advance until done())");
  return results_;
}

}  // namespace seqcore

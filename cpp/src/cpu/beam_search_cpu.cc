// Beam search step: penalties and top-2K selection over an item's K x V candidates, then
// the bookkeeping of BeamSearch::advance. OpenMP over batch items when a step is large.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "cpu/parallel.h"
#include "cpu/top_k.h"
#include "cpu/vec.h"
#include "seqcore/beam_search.h"
#include "seqcore/common.h"

namespace seqcore {

namespace {

// A vectorised sum is NaN whenever some x is (and for +inf with -inf): only then look closer.
template <typename T>
bool has_nan(const T* x, int64_t n) {
  if (!std::isnan(cpu::CArr<T>(x, n).sum())) return false;
  return std::any_of(x, x + n, [](T v) { return std::isnan(v); });
}

}  // namespace

template <typename T>
bool BeamSearch::expand_item(int64_t b, const T* log_probs, int64_t row0, int64_t row1,
                             std::vector<Live>* next, std::vector<Hypothesis>* ended) const {
  const int64_t V = vocab_, K = opt_.beam_width, len = step_ + 1;
  const double neg_inf = -std::numeric_limits<double>::infinity();
  const bool forced = !prefixes_.empty() && step_ < static_cast<int64_t>(prefixes_[b].size());
  const int64_t forced_token = forced ? prefixes_[b][step_] : -1;
  const size_t cap = static_cast<size_t>(std::min<int64_t>(2 * K, (row1 - row0) * V));

  cpu::TopK top(cap);
  auto offer = [&](double score, int64_t index) {
    if (score > neg_inf) top.offer(score, index);
  };

  std::vector<std::pair<int64_t, double>> special;  // (token, adjusted log-prob)
  for (int64_t r = row0; r < row1; ++r) {
    const Live& h = rows_[r];
    const T* lp = log_probs + r * V;
    const int64_t local = (r - row0) * V;
    if (has_nan(lp, V)) return false;
    if (forced) {
      offer(h.ranked + double(lp[forced_token]), local + forced_token);
      continue;
    }
    // Tokens whose log-prob is changed: EOS before min_length, repeats, banned n-grams.
    special.clear();
    if (step_ < opt_.min_length) special.emplace_back(opt_.eos_id, neg_inf);
    if (opt_.repetition_penalty != 1.0) {
      std::vector<int64_t> seen(h.tokens);
      std::sort(seen.begin(), seen.end());
      seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      for (int64_t t : seen) {
        if (t >= V) continue;
        const double x = lp[t];
        special.emplace_back(t, x < 0 ? x * opt_.repetition_penalty : x / opt_.repetition_penalty);
      }
    }
    const int64_t n = opt_.no_repeat_ngram_size, L = static_cast<int64_t>(h.tokens.size());
    if (n > 0) {  // ban the token after each earlier occurrence of the last n-1 tokens
      for (int64_t i = 0; i + n <= L; ++i) {
        if (std::equal(h.tokens.begin() + i, h.tokens.begin() + i + n - 1,
                       h.tokens.end() - (n - 1)))
          special.emplace_back(h.tokens[i + n - 1], neg_inf);
      }
    }
    // Later entries for a token win (a ban overrides a penalty).
    std::stable_sort(special.begin(), special.end(),
                     [](const auto& a, const auto& c) { return a.first < c.first; });
    // Candidates arrive in increasing index, so once the heap is full only a strictly
    // better score enters: a block of tokens is skipped when its best one cannot.
    constexpr int64_t kBlock = 64;
    size_t s = 0;
    for (int64_t v0 = 0; v0 < V; v0 += kBlock) {
      const int64_t v1 = std::min(V, v0 + kBlock);
      if (top.full() && !(s < special.size() && special[s].first < v1)) {
        const T best = cpu::CArr<T>(lp + v0, v1 - v0).maxCoeff();  // no NaN here (checked)
        if (!(h.ranked + double(best) > top.worst())) continue;
      }
      for (int64_t v = v0; v < v1; ++v) {
        double x = lp[v];
        if (s < special.size() && special[s].first == v) {
          while (s < special.size() && special[s].first == v) x = special[s++].second;
        }
        offer(h.ranked + x, local + v);
      }
    }
  }
  const std::vector<cpu::Candidate> heap = top.take_sorted();  // best first

  next->clear();
  ended->clear();
  for (size_t rank = 0; rank < heap.size(); ++rank) {
    const int64_t r = row0 + heap[rank].index / V, v = heap[rank].index % V;
    const Live& parent = rows_[r];
    const double log_prob = parent.log_prob + double(log_probs[r * V + v]);
    if (v == opt_.eos_id) {
      // An ending beyond the first K candidates would displace a better live hypothesis.
      if (static_cast<int64_t>(rank) < K)
        ended->push_back(Hypothesis{parent.tokens, heap[rank].score / lp(len), log_prob});
      continue;
    }
    Live h{parent.tokens, heap[rank].score, log_prob, r};
    h.tokens.push_back(v);
    next->push_back(std::move(h));
    if (static_cast<int64_t>(next->size()) == K) break;
  }
  if (heap.empty()) {  // every continuation banned: the hypotheses end as they are
    for (int64_t r = row0; r < row1; ++r)
      ended->push_back(Hypothesis{rows_[r].tokens,
                                  rows_[r].ranked / lp(static_cast<int64_t>(rows_[r].tokens.size())),
                                  rows_[r].log_prob});
  }
  return true;
}

template <typename T>
void BeamSearch::advance(const T* log_probs, int64_t rows, int64_t vocab) {
  check(!done(), "beam search: advance() called after the search finished");
  check(rows == num_rows(), "log_probs: expected " + std::to_string(num_rows()) +
                                " rows (one per live hypothesis), got " + std::to_string(rows));
  if (vocab_ < 0) {
    check(vocab >= 1, "log_probs: expected a vocabulary of at least 1 token");
    check(opt_.eos_id < vocab, "eos_id: " + std::to_string(opt_.eos_id) +
                                   " out of range for a vocabulary of " + std::to_string(vocab));
    check(opt_.bos_id < vocab, "bos_id: " + std::to_string(opt_.bos_id) +
                                   " out of range for a vocabulary of " + std::to_string(vocab));
    for (const auto& p : prefixes_)
      for (int64_t t : p)
        check(t < vocab, "prefix: token " + std::to_string(t) + " out of range for a "
                             "vocabulary of " + std::to_string(vocab));
    vocab_ = vocab;
  }
  check(vocab == vocab_, "log_probs: expected " + std::to_string(vocab_) +
                             " columns (the vocabulary of the first step), got " +
                             std::to_string(vocab));

  // Row range of each open item (rows are grouped by item, in item order).
  std::vector<int64_t> items, starts;
  for (int64_t m = 0; m < rows; ++m)
    if (m == 0 || row_item_[m] != row_item_[m - 1]) {
      items.push_back(row_item_[m]);
      starts.push_back(m);
    }
  starts.push_back(rows);
  const int64_t n_items = static_cast<int64_t>(items.size());
  std::vector<std::vector<Live>> next(n_items);
  std::vector<std::vector<Hypothesis>> ended(n_items);
  std::vector<char> ok(n_items, 1);
  const bool parallel = rows * vocab >= (int64_t(1) << 16) && n_items > 1;
  cpu::RegionErrors errors;  // expand_item grows the item's candidate lists
#pragma omp parallel for schedule(dynamic, 1) num_threads(get_num_threads()) if (parallel)
  for (int64_t i = 0; i < n_items; ++i) errors.run([&] {
    ok[i] = expand_item(items[i], log_probs, starts[i], starts[i + 1], &next[i], &ended[i]);
  });
  errors.rethrow();
  for (int64_t i = 0; i < n_items; ++i)
    check(ok[i], "log_probs: NaN in the rows of batch item " + std::to_string(items[i]));

  ++step_;
  std::vector<Live> rows_next;
  std::vector<int64_t> item_next;
  for (int64_t i = 0; i < n_items; ++i) {
    const int64_t b = items[i];
    for (auto& h : ended[i]) finished_[b].push_back(Finished{std::move(h), order_++});
    if (step_ >= opt_.max_length) {  // max_length reached: the live ones end as they are
      for (auto& h : next[i])
        finished_[b].push_back(
            Finished{Hypothesis{h.tokens, h.ranked / lp(step_), h.log_prob}, order_++});
      next[i].clear();
    }
    if (next[i].empty() || item_done(b, next[i])) {
      closed_[b] = 1;
      continue;
    }
    for (auto& h : next[i]) {
      rows_next.push_back(std::move(h));
      item_next.push_back(b);
    }
  }
  rows_ = std::move(rows_next);
  row_item_ = std::move(item_next);
}

template void BeamSearch::advance<float>(const float*, int64_t, int64_t);
template void BeamSearch::advance<double>(const double*, int64_t, int64_t);

}  // namespace seqcore

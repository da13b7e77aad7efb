// Top-k selection shared by the beam searches (seq2seq's BeamSearch, the parser's beam):
// candidates ranked by score, ties by the lower index, so that every run and every thread
// count keeps the same ones. A min-heap of k: its front is the worst candidate kept.
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

namespace seqcore::cpu {

struct Candidate {
  double score;
  int64_t index;  // the caller's encoding (row * width + column): the tie-break, lower first
};

// "a ranks before c".
inline bool ranks_before(const Candidate& a, const Candidate& c) {
  return a.score > c.score || (a.score == c.score && a.index < c.index);
}

class TopK {
 public:
  explicit TopK(size_t k) : cap_(k) { heap_.reserve(k + 1); }
  size_t size() const { return heap_.size(); }
  bool full() const { return heap_.size() == cap_; }
  // Score of the worst candidate kept (only when size() > 0).
  double worst() const { return heap_.front().score; }
  void offer(double score, int64_t index) {
    const Candidate c{score, index};
    if (heap_.size() < cap_) {
      heap_.push_back(c);
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    } else if (cap_ > 0 && ranks_before(c, heap_.front())) {
      std::pop_heap(heap_.begin(), heap_.end(), ranks_before);
      heap_.back() = c;
      std::push_heap(heap_.begin(), heap_.end(), ranks_before);
    }
  }
  // The kept candidates, best first; empties the selection.
  std::vector<Candidate> take_sorted() {
    std::sort_heap(heap_.begin(), heap_.end(), ranks_before);
    return std::move(heap_);
  }

 private:
  size_t cap_;
  std::vector<Candidate> heap_;
};

}  // namespace seqcore::cpu

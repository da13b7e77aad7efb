// Validation, reduction and dispatch for CTC (ctc.h).
#include "seqcore/ctc.h"

#include <cmath>
#include <limits>

#include "cpu/ctc_cpu.h"

namespace seqcore {

CtcReduction parse_ctc_reduction(const std::string& reduction) {
  if (reduction == "mean") return CtcReduction::kMean;
  if (reduction == "sum") return CtcReduction::kSum;
  if (reduction == "none") return CtcReduction::kNone;
  throw std::invalid_argument("reduction: expected 'mean', 'sum' or 'none', got '" +
                              reduction + "'");
}

CtcDesc make_ctc_desc(int64_t T, int64_t N, int64_t C, int64_t blank, const int64_t* targets,
                      int64_t targets_size, int64_t padded_S, const int64_t* input_lengths,
                      const int64_t* target_lengths, bool from_logits) {
  check(T >= 0 && N >= 0, "log_probs: bad shape");
  check(C >= 1, "log_probs: expected C >= 1 classes, got C = " + std::to_string(C));
  check(blank >= 0 && blank < C, "blank: expected an index in [0, C=" + std::to_string(C) +
                                     "), got " + std::to_string(blank));
  CtcDesc d;
  d.T = T;
  d.N = N;
  d.C = C;
  d.blank = blank;
  d.targets = targets;
  d.input_lengths = input_lengths;
  d.target_lengths = target_lengths;
  d.from_logits = from_logits;
  d.target_offsets.resize(static_cast<size_t>(N));
  int64_t offset = 0;
  // messages are built only on failure: this loop runs over every label of every call
  auto fail = [](const std::string& m) { throw std::invalid_argument(m); };
  for (int64_t n = 0; n < N; ++n) {
    if (input_lengths[n] < 0 || input_lengths[n] > T)
      fail("input_lengths: every length must be in [0, T=" + std::to_string(T) +
           "], got input_lengths[" + std::to_string(n) + "] = " +
           std::to_string(input_lengths[n]));
    const int64_t L = target_lengths[n];
    if (L < 0)
      fail("target_lengths: lengths must be >= 0, got target_lengths[" + std::to_string(n) +
           "] = " + std::to_string(L));
    if (padded_S >= 0) {
      if (L > padded_S)
        fail("target_lengths: every length must be <= S=" + std::to_string(padded_S) +
             " (padded targets [N, S]), got target_lengths[" + std::to_string(n) + "] = " +
             std::to_string(L));
      d.target_offsets[n] = n * padded_S;
    } else {
      if (L > targets_size - offset)
        fail("target_lengths: sum(target_lengths) exceeds the " +
             std::to_string(targets_size) + " concatenated targets");
      d.target_offsets[n] = offset;
      offset += L;
    }
    const int64_t* lab = targets + d.target_offsets[n];
    for (int64_t i = 0; i < L; ++i)
      if (lab[i] < 0 || lab[i] >= C || lab[i] == blank)
        fail("targets: labels must be in [0, C=" + std::to_string(C) +
             ") and differ from blank=" + std::to_string(blank) + ", got " +
             std::to_string(lab[i]) + " (utterance " + std::to_string(n) + ", position " +
             std::to_string(i) + ")");
  }
  if (padded_S < 0)
    check(offset == targets_size, "targets: concatenated targets have " +
                                      std::to_string(targets_size) +
                                      " labels but sum(target_lengths) = " +
                                      std::to_string(offset));
  return d;
}

int64_t ctc_workspace_bytes(const CtcDesc& d, int64_t elem_size, int threads) {
  return cpu::ctc_workspace_bytes_cpu(d.T, d.N, d.C, d.input_lengths, d.target_lengths,
                                      d.from_logits, elem_size, threads);
}

template <typename T>
void ctc_loss(const CtcDesc& d, const T* x, CtcReduction reduction, bool zero_infinity,
              T* losses, T* loss, T* grad) {
  // Gradient scale of each utterance's loss in the returned one (PyTorch's reductions).
  check(grad || !d.from_logits, "ctc_loss: from logits needs the gradient buffer");
  std::vector<T> scale(static_cast<size_t>(d.N), T(1));
  if (reduction == CtcReduction::kMean)
    for (int64_t n = 0; n < d.N; ++n)
      scale[n] = T(1.0 / (double(std::max<int64_t>(d.target_lengths[n], 1)) * double(d.N)));
  cpu::ctc_loss_cpu(d, x, scale.data(), losses, grad);
  if (zero_infinity)
    for (int64_t n = 0; n < d.N; ++n)
      if (std::isinf(losses[n])) losses[n] = T(0);  // its gradient is already zero
  if (reduction == CtcReduction::kNone) return;
  double total = 0;  // fixed order: thread-count independent
  for (int64_t n = 0; n < d.N; ++n)
    total += reduction == CtcReduction::kMean
                 ? double(losses[n]) / double(std::max<int64_t>(d.target_lengths[n], 1))
                 : double(losses[n]);
  if (reduction == CtcReduction::kMean)
    total = d.N > 0 ? total / double(d.N) : std::numeric_limits<double>::quiet_NaN();
  *loss = T(total);
}

template <typename T>
void ctc_greedy_decode(const T* log_probs, int64_t T_, int64_t N, int64_t C, int64_t blank,
                       const int64_t* input_lengths, std::vector<std::vector<int64_t>>& tokens,
                       std::vector<std::vector<int64_t>>& frames) {
  check(C >= 1, "log_probs: expected C >= 1 classes");
  check(blank >= 0 && blank < C, "blank: expected an index in [0, C=" + std::to_string(C) +
                                     "), got " + std::to_string(blank));
  for (int64_t n = 0; n < N; ++n)
    check(input_lengths[n] >= 0 && input_lengths[n] <= T_,
          "input_lengths: every length must be in [0, T=" + std::to_string(T_) +
              "], got input_lengths[" + std::to_string(n) + "] = " +
              std::to_string(input_lengths[n]));
  cpu::ctc_greedy_cpu(log_probs, T_, N, C, blank, input_lengths, tokens, frames);
}

template <typename T>
void ctc_beam_search(const T* log_probs, int64_t T_, int64_t N, int64_t C,
                     const int64_t* input_lengths, const CtcBeamOptions& o,
                     CtcLanguageModel* lm, bool lm_thread_safe,
                     std::vector<std::vector<CtcHypothesis>>& out) {
  check(C >= 1, "log_probs: expected C >= 1 classes");
  check(o.blank >= 0 && o.blank < C, "blank: expected an index in [0, C=" + std::to_string(C) +
                                         "), got " + std::to_string(o.blank));
  check(o.beam_width >= 1, "beam_width: expected >= 1, got " + std::to_string(o.beam_width));
  check(o.n_best >= 1 && o.n_best <= o.beam_width,
        "n_best: expected in [1, beam_width=" + std::to_string(o.beam_width) + "], got " +
            std::to_string(o.n_best));
  check(o.token_top_k >= 0, "token_top_k: expected >= 1");
  check(!(o.beam_threshold < 0), "beam_threshold: expected > 0");
  check(o.word_delimiter == -1 || (o.word_delimiter >= 0 && o.word_delimiter < C &&
                                   o.word_delimiter != o.blank),
        "word_delimiter: expected a class in [0, C=" + std::to_string(C) +
            ") other than blank, got " + std::to_string(o.word_delimiter));
  for (int64_t n = 0; n < N; ++n)
    check(input_lengths[n] >= 0 && input_lengths[n] <= T_,
          "input_lengths: every length must be in [0, T=" + std::to_string(T_) +
              "], got input_lengths[" + std::to_string(n) + "] = " +
              std::to_string(input_lengths[n]));
  cpu::ctc_beam_search_cpu(log_probs, T_, N, C, input_lengths, o, lm, lm_thread_safe, out);
}

#define SEQCORE_INSTANTIATE(T)                                                              \
  template void ctc_loss<T>(const CtcDesc&, const T*, CtcReduction, bool, T*, T*, T*);     \
  template void ctc_greedy_decode<T>(const T*, int64_t, int64_t, int64_t, int64_t,         \
                                     const int64_t*, std::vector<std::vector<int64_t>>&,   \
                                     std::vector<std::vector<int64_t>>&);         \
  template void ctc_beam_search<T>(const T*, int64_t, int64_t, int64_t, const int64_t*,    \
                                   const CtcBeamOptions&, CtcLanguageModel*, bool,         \
                                   std::vector<std::vector<CtcHypothesis>>&);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

// Connectionist Temporal Classification: loss + gradient, greedy and prefix beam decoding.
//
// Shapes (legend of common.h): log_probs / logits: [T, N, C]; targets padded [N, S] or
// concatenated [sum(target_lengths)]; input_lengths, target_lengths: [N].
// Source: Graves et al. 2006 (forward-backward in log space, extended label sequence l' of
// 2L+1 states with blanks between labels); PyTorch F.ctc_loss for argument semantics and
// reductions; warp-ctc for the "from logits" entry and the workspace query; Hannun et al.
// 2014 for the prefix beam search.
//
// How the loss is computed:
//  * OpenMP across utterances, largest T*S first with dynamic scheduling (load balance);
//    every utterance is computed by one thread, so results do not depend on the thread count.
//  * First in linear space (Rabiner's scaling; Graves et al. 2006 sec. 4.1): probabilities
//    in double, each frame's emissions exp(score - the frame's largest in-band score), each
//    alpha and beta row divided by its predecessor's maximum; no exp or log per state. An
//    utterance whose values would leave double's normal range (~708 nats below a frame's
//    maximum: long utterances, confident scores), whose band spread is heading there, or
//    with non-finite scores runs in log space instead, so every input keeps log space's
//    accuracy.
//  * Log space: per frame, log_probs[t, l'_s] is gathered once into a row of 2L+1 values;
//    the three-way log-sum-exp of the recursion runs over that row with Eigen packets (SIMD
//    exp and log), restricted to the band of states that can still reach / be reached.
//  * alpha is kept for all T*(2L+1) states of the utterance (rows padded to whole packets;
//    per thread, sized for the largest utterance); beta lives in two rows, and the
//    gradient of frame t is written while beta_t is at hand:
//    d loss / d log_probs[t, c] = -sum_{s: l'_s = c} exp(alpha_t(s) + beta_t(s) - log p(l|x))
//    with beta excluding frame t's emission. This
//    is the gradient w.r.t. the given scores, valid for non-normalised log_probs too.
//  * From logits, one pass per frame computes log-sum-exp and writes exp(x - max) into the
//    gradient buffer (no other [T,N,C] temporary); both paths read the scores as
//    x - log-sum-exp and the backward pass only scales that row: dz = p * sum(occ) - occ.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "seqcore/common.h"

namespace seqcore {

enum class CtcReduction { kNone, kMean, kSum };

CtcReduction parse_ctc_reduction(const std::string& reduction);

// Validated description of one call.
struct CtcDesc {
  int64_t T = 0, N = 0, C = 0;
  int64_t blank = 0;
  const int64_t* targets = nullptr;     // labels, see target_offsets
  std::vector<int64_t> target_offsets;  // [N] first label of utterance n in targets
  const int64_t* input_lengths = nullptr;   // [N]
  const int64_t* target_lengths = nullptr;  // [N]
  bool from_logits = false;
};

// Checks sizes, lengths (0 <= input_lengths <= T, 0 <= target_lengths <= S for padded) and
// label range ([0, C), != blank) and fills target_offsets. padded_S < 0: concatenated
// targets of targets_size labels (== sum(target_lengths)); else padded [N, padded_S].
CtcDesc make_ctc_desc(int64_t T, int64_t N, int64_t C, int64_t blank, const int64_t* targets,
                      int64_t targets_size, int64_t padded_S, const int64_t* input_lengths,
                      const int64_t* target_lengths, bool from_logits);

// Bytes of scratch ctc_loss allocates (once per call) for this call with `threads` threads
// wanted (it uses at most N, and one per ~2e4 state-frames of work)
// (elem_size: 4 float32, 8 float64). Per thread, in doubles: the linear-space path's two
// tables of T_n * (2 L_n + 35, rounded up to 16) states (alpha before emission and the
// emissions) of the largest utterance and five rows, or the log-space path's (alpha and six
// rows in the element type) where larger; for logits also two values per frame and a row
// of C classes.
int64_t ctc_workspace_bytes(const CtcDesc& d, int64_t elem_size, int threads);

// Loss and gradient.
//   x: [T, N, C] log_probs (from_logits=false) or logits (from_logits=true).
//   losses: [N] per-utterance negative log-likelihood (+inf when no alignment exists);
//   loss: the reduced loss (PyTorch's reduction; zero_infinity replaces inf by 0 first);
//     reduction "none": loss is not written (losses is the result).
//   grad: [T, N, C] or nullptr: gradient of the returned loss (of sum(losses) for "none")
//     w.r.t. x, zero past each input length and for utterances with infinite loss.
template <typename T>
void ctc_loss(const CtcDesc& d, const T* x, CtcReduction reduction, bool zero_infinity,
              T* losses, T* loss, T* grad);

// Best path: per utterance, tokens (repeats collapsed, blanks removed) and the frame at
// which each token starts.
template <typename T>
void ctc_greedy_decode(const T* log_probs, int64_t T_, int64_t N, int64_t C, int64_t blank,
                       const int64_t* input_lengths, std::vector<std::vector<int64_t>>& tokens,
                       std::vector<std::vector<int64_t>>& frames);

// Language model used by the beam search (Hannun et al. 2014): states are handles the
// model hands out; score() returns log p(token | state) and the successor state's handle.
struct CtcLanguageModel {
  virtual ~CtcLanguageModel() = default;
  virtual int64_t start() = 0;
  virtual double score(int64_t state, int64_t token, int64_t* next_state) = 0;
  virtual double finish(int64_t state) = 0;  // log p(end of sequence | state)
};

struct CtcBeamOptions {
  int64_t beam_width = 16;
  int64_t blank = 0;
  int64_t n_best = 1;
  double beam_threshold = 0;   // > 0: drop prefixes scoring below best - threshold
  int64_t token_top_k = 0;     // > 0: extend only by the k best tokens of a frame
  double token_min_logp = -std::numeric_limits<double>::infinity();  // ... or those >= this
  double lm_weight = 0, word_score = 0;
  int64_t word_delimiter = -1;  // -1: every token is a word (word_score per token)
};

struct CtcHypothesis {
  std::vector<int64_t> tokens;
  double score = 0;  // log p_ctc + lm_weight * log p_lm + word_score * words
};

// Prefix beam search over log_probs [T, N, C] (blank / non-blank prefix scores merged by
// log-add). Parallel over utterances unless lm is given and not thread-safe (then serial,
// on the calling thread: a Python model needs the GIL). out: [N] lists of <= n_best.
template <typename T>
void ctc_beam_search(const T* log_probs, int64_t T_, int64_t N, int64_t C,
                     const int64_t* input_lengths, const CtcBeamOptions& options,
                     CtcLanguageModel* lm, bool lm_thread_safe,
                     std::vector<std::vector<CtcHypothesis>>& out);

}  // namespace seqcore

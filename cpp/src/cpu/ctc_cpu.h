// CPU implementations behind ctc.h (called after validation by cpp/src/ctc.cc).
#pragma once

#include <vector>

#include "seqcore/ctc.h"

namespace seqcore::cpu {

// Bytes of ctc_loss_cpu's workspace (allocated once per call).
int64_t ctc_workspace_bytes_cpu(int64_t T, int64_t N, int64_t C, const int64_t* input_lengths,
                                const int64_t* target_lengths, bool from_logits,
                                int64_t elem_size, int threads);

// losses: [N] negative log-likelihoods; grad ([T, N, C] or nullptr) of sum_n scale[n]*loss_n.
template <typename T>
void ctc_loss_cpu(const CtcDesc& d, const T* x, const T* scale, T* losses, T* grad);

template <typename T>
void ctc_greedy_cpu(const T* log_probs, int64_t T_, int64_t N, int64_t C, int64_t blank,
                    const int64_t* input_lengths, std::vector<std::vector<int64_t>>& tokens,
                    std::vector<std::vector<int64_t>>& frames);

template <typename T>
void ctc_beam_search_cpu(const T* log_probs, int64_t T_, int64_t N, int64_t C,
                         const int64_t* input_lengths, const CtcBeamOptions& options,
                         CtcLanguageModel* lm, bool lm_thread_safe,
                         std::vector<std::vector<CtcHypothesis>>& out);

}  // namespace seqcore::cpu

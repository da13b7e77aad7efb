// CPU implementation behind seq2seq.h (called after validation by cpp/src/seq2seq.cc).
#pragma once

#include "seqcore/seq2seq.h"

namespace seqcore::cpu {

template <typename T>
std::vector<std::vector<Hypothesis>> seq2seq_beam_search_cpu(
    const Seq2SeqDesc& d, const Seq2SeqWeights<T>& w, const int64_t* src, int64_t Ts,
    int64_t N, const int64_t* src_lengths, BeamSearch& search);

}  // namespace seqcore::cpu

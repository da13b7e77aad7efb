// Native seq2seq translation: validates the call and dispatches to cpu/seq2seq_cpu.cc.
#include "seqcore/seq2seq.h"

#include <string>

#include "cpu/seq2seq_cpu.h"
#include "seqcore/common.h"

namespace seqcore {

template <typename T>
std::vector<std::vector<Hypothesis>> seq2seq_beam_search(
    const Seq2SeqDesc& d, const Seq2SeqWeights<T>& w, const int64_t* src, int64_t Ts,
    int64_t N, const int64_t* src_lengths, const BeamSearchOptions& options,
    std::vector<std::vector<int64_t>> prefixes) {
  check(d.cell == RnnCell::kLSTM || d.cell == RnnCell::kGRU, "cell: expected lstm or gru");
  check(Ts >= 1 && N >= 1, "src: expected Ts >= 1 and N >= 1");
  for (int64_t n = 0; n < N; ++n)
    check(src_lengths[n] >= 1 && src_lengths[n] <= Ts,
          "src_lengths: every length must be in [1, Ts=" + std::to_string(Ts) + "]");
  for (int64_t i = 0; i < Ts * N; ++i)
    check(src[i] >= 0 && src[i] < d.Vs, "src: ids must be in [0, src_vocab)");
  BeamSearch search(N, options, std::move(prefixes));  // validates the options
  return cpu::seq2seq_beam_search_cpu<T>(d, w, src, Ts, N, src_lengths, search);
}

template std::vector<std::vector<Hypothesis>> seq2seq_beam_search<float>(
    const Seq2SeqDesc&, const Seq2SeqWeights<float>&, const int64_t*, int64_t, int64_t,
    const int64_t*, const BeamSearchOptions&, std::vector<std::vector<int64_t>>);
template std::vector<std::vector<Hypothesis>> seq2seq_beam_search<double>(
    const Seq2SeqDesc&, const Seq2SeqWeights<double>&, const int64_t*, int64_t, int64_t,
    const int64_t*, const BeamSearchOptions&, std::vector<std::vector<int64_t>>);

}  // namespace seqcore

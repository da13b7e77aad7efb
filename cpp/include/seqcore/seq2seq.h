// Native beam-search translation of the seq2seq model of python/seqcore/seq2seq.py: the
// encoder, every decoder step (cell, attention, combine, output softmax) and the search run
// in C++ with no call back into Python.
//
// Shapes: Ts source steps, N batch, E embedding, H hidden, De encoder annotation size
// (2H bidirectional, else H), A attention size, Vs/Vt vocabularies, G gates.
#pragma once

#include <cstdint>
#include <vector>

#include "seqcore/beam_search.h"
#include "seqcore/rnn.h"

namespace seqcore {

struct Seq2SeqDesc {
  RnnCell cell = RnnCell::kLSTM;  // kLSTM or kGRU (encoder and decoder)
  bool bidirectional = true;
  bool additive = true;            // additive (Bahdanau) or Luong general attention
  int64_t Vs = 0, Vt = 0, E = 0, H = 0, A = 0;
};

// Pointers to the parameters (PyTorch layouts), named as Seq2Seq.named_parameters().
template <typename T>
struct Seq2SeqWeights {
  const T* src_embedding;            // [Vs, E]
  const T* tgt_embedding;            // [Vt, E]
  const T* enc_w_ih[2];              // [G*H, E] per direction
  const T* enc_w_hh[2];              // [G*H, H]
  const T* enc_b_ih[2];              // [G*H]
  const T* enc_b_hh[2];              // [G*H]
  const T* bridge_w;                 // [H, De]
  const T* bridge_b;                 // [H]
  const T* dec_w_ih;                 // [G*H, E+H]
  const T* dec_w_hh;                 // [G*H, H]
  const T* dec_b_ih;                 // [G*H]
  const T* dec_b_hh;                 // [G*H]
  const T* attn_w_q;                 // [A, H]   (additive)
  const T* attn_w_k;                 // [A, De]  (additive)
  const T* attn_v_a;                 // [A]      (additive)
  const T* attn_w;                   // [De, H]  (general)
  const T* combine_w;                // [H, De+H]
  const T* combine_b;                // [H]
  const T* out_w;                    // [Vt, H]
  const T* out_b;                    // [Vt]
};

// src: [Ts, N] ids in [0, Vs); src_lengths: [N] in [1, Ts]. Returns each sentence's n-best.
template <typename T>
std::vector<std::vector<Hypothesis>> seq2seq_beam_search(
    const Seq2SeqDesc& d, const Seq2SeqWeights<T>& w, const int64_t* src, int64_t Ts,
    int64_t N, const int64_t* src_lengths, const BeamSearchOptions& options,
    std::vector<std::vector<int64_t>> prefixes = {});

}  // namespace seqcore

// Native seq2seq translation: encoder once, then per beam-search step one decoder step for
// all live hypotheses, built from the rnn, attention and output-layer kernels.
#include "seqcore/seq2seq.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "seqcore/attention.h"
#include "seqcore/common.h"
#include "seqcore/output_layers.h"

namespace seqcore {

namespace {

// out[m, :] = in[rows[m], :] for rows of width W.
template <typename T>
void gather_rows(const Buffer<T>& in, const std::vector<int64_t>& rows, int64_t W,
                 Buffer<T>* out) {
  out->resize(rows.size() * W);
  for (size_t m = 0; m < rows.size(); ++m)
    std::copy_n(in.data() + rows[m] * W, W, out->data() + m * W);
}

template <typename T>
void tanh_inplace(T* x, int64_t n) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
}

}  // namespace

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

  const bool lstm = d.cell == RnnCell::kLSTM;
  const int64_t E = d.E, H = d.H, D = d.bidirectional ? 2 : 1, De = D * H, A = d.A;
  const int64_t Vt = d.Vt;

  // Encoder: annotations keys [N, Ts, De] and the final state of each direction.
  Buffer<T> x(Ts * N * E), enc_y(Ts * N * H), keys(N * Ts * De), h_cat(N * De), h_n(N * H),
      c_n(N * H);
  for (int64_t i = 0; i < Ts * N; ++i)
    std::copy_n(w.src_embedding + src[i] * E, E, x.data() + i * E);
  std::fill(keys.begin(), keys.end(), T(0));
  for (int64_t dir = 0; dir < D; ++dir) {
    RnnDesc rd;
    rd.cell = d.cell;
    rd.reverse = dir == 1;
    rd.T = Ts, rd.N = N, rd.I = E, rd.H = H;
    rd.has_b_ih = w.enc_b_ih[dir] != nullptr;
    rd.has_b_hh = w.enc_b_hh[dir] != nullptr;
    const RnnLayout layout = make_rnn_layout(Ts, N, src_lengths, rd.reverse);
    rnn_forward<T>(rd, layout, x.data(), w.enc_w_ih[dir], w.enc_w_hh[dir], w.enc_b_ih[dir],
                   w.enc_b_hh[dir], nullptr, nullptr, enc_y.data(), h_n.data(),
                   lstm ? c_n.data() : nullptr, nullptr);
    for (int64_t t = 0; t < Ts; ++t)
      for (int64_t n = 0; n < N; ++n)
        std::copy_n(enc_y.data() + (t * N + n) * H, H, keys.data() + (n * Ts + t) * De + dir * H);
    for (int64_t n = 0; n < N; ++n)
      std::copy_n(h_n.data() + n * H, H, h_cat.data() + n * De + dir * H);
  }
  // Bridge: s0 = tanh(W_b h_cat + b_b); c0 = 0; h~_{-1} = 0.
  Buffer<T> s(N * H), c(N * H), h_tilde(N * H);
  linear_forward<T>(N, De, H, h_cat.data(), w.bridge_w, w.bridge_b, s.data());
  tanh_inplace(s.data(), N * H);
  std::fill(c.begin(), c.end(), T(0));
  std::fill(h_tilde.begin(), h_tilde.end(), T(0));
  Buffer<T> proj_keys;
  StepAttnDesc ad;
  ad.T = Ts, ad.A = A, ad.Dq = H, ad.Dk = De, ad.Dv = De;
  if (d.additive) {
    ad.N = N;
    proj_keys.resize(N * Ts * A);
    additive_precompute_keys<T>(ad, keys.data(), w.attn_w_k, proj_keys.data());
  }

  // Decoder rows: gathered by beam origin every step.
  Buffer<T> s_r, c_r, ht_r, keys_r, pk_r, xin, s_new, c_new, y1, context, weights, query,
      cat, logits;
  std::vector<int64_t> len_r;
  RnnDesc cd;
  cd.cell = d.cell;
  cd.T = 1, cd.I = E + H, cd.H = H;
  cd.has_b_ih = w.dec_b_ih != nullptr;
  cd.has_b_hh = w.dec_b_hh != nullptr;
  while (!search.done()) {
    const std::vector<int64_t> origin = search.beam_origin(), tokens = search.next_tokens(),
                               items = search.row_batch();
    const int64_t M = static_cast<int64_t>(tokens.size());
    gather_rows(s, origin, H, &s_r);
    gather_rows(h_tilde, origin, H, &ht_r);
    if (lstm) gather_rows(c, origin, H, &c_r);
    gather_rows(keys, items, Ts * De, &keys_r);
    if (d.additive) gather_rows(proj_keys, items, Ts * A, &pk_r);
    len_r.resize(M);
    for (int64_t m = 0; m < M; ++m) len_r[m] = src_lengths[items[m]];

    xin.resize(M * (E + H));
    for (int64_t m = 0; m < M; ++m) {
      check(tokens[m] >= 0 && tokens[m] < Vt, "bos_id: out of range for the target vocabulary");
      std::copy_n(w.tgt_embedding + tokens[m] * E, E, xin.data() + m * (E + H));
      std::copy_n(ht_r.data() + m * H, H, xin.data() + m * (E + H) + E);
    }
    cd.N = M;
    const RnnLayout layout = make_rnn_layout(1, M, nullptr, false);
    s_new.resize(M * H), c_new.resize(M * H), y1.resize(M * H);
    rnn_forward<T>(cd, layout, xin.data(), w.dec_w_ih, w.dec_w_hh, w.dec_b_ih, w.dec_b_hh,
                   s_r.data(), lstm ? c_r.data() : nullptr, y1.data(), s_new.data(),
                   lstm ? c_new.data() : nullptr, nullptr);
    ad.N = M;
    context.resize(M * De), weights.resize(M * Ts);
    if (d.additive) {
      query.resize(M * A);
      additive_attention_forward<T>(ad, s_new.data(), w.attn_w_q, pk_r.data(), keys_r.data(),
                                    w.attn_v_a, len_r.data(), query.data(), context.data(),
                                    weights.data());
    } else {  // Luong general: e = keys . (W s) is dot attention with the query W s
      query.resize(M * De);
      linear_forward<T>(M, H, De, s_new.data(), w.attn_w, nullptr, query.data());
      StepAttnDesc dd = ad;
      dd.Dq = De;
      dot_attention_forward<T>(dd, query.data(), keys_r.data(), keys_r.data(), len_r.data(),
                               context.data(), weights.data());
    }
    cat.resize(M * (De + H));
    for (int64_t m = 0; m < M; ++m) {
      std::copy_n(context.data() + m * De, De, cat.data() + m * (De + H));
      std::copy_n(s_new.data() + m * H, H, cat.data() + m * (De + H) + De);
    }
    h_tilde.resize(M * H);
    linear_forward<T>(M, De + H, H, cat.data(), w.combine_w, w.combine_b, h_tilde.data());
    tanh_inplace(h_tilde.data(), M * H);
    logits.resize(M * Vt);
    linear_forward<T>(M, H, Vt, h_tilde.data(), w.out_w, w.out_b, logits.data());
    log_softmax<T>(logits.data(), M, Vt, logits.data());
    search.advance(logits.data(), M, Vt);
    std::swap(s, s_new);
    if (lstm) std::swap(c, c_new);
  }
  return search.results();
}

template std::vector<std::vector<Hypothesis>> seq2seq_beam_search<float>(
    const Seq2SeqDesc&, const Seq2SeqWeights<float>&, const int64_t*, int64_t, int64_t,
    const int64_t*, const BeamSearchOptions&, std::vector<std::vector<int64_t>>);
template std::vector<std::vector<Hypothesis>> seq2seq_beam_search<double>(
    const Seq2SeqDesc&, const Seq2SeqWeights<double>&, const int64_t*, int64_t, int64_t,
    const int64_t*, const BeamSearchOptions&, std::vector<std::vector<int64_t>>);

}  // namespace seqcore

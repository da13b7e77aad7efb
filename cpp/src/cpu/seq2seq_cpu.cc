// Native seq2seq translation: the encoder once, then per beam-search step one decoder step
// for all live hypotheses. The decoder's weights are packed once per call (PackedLinear)
// and reused at every step; the encoder and the attention are the rnn / attention kernels.
#include "cpu/seq2seq_cpu.h"

#include <algorithm>
#include <cmath>

#include "cpu/packed_linear.h"
#include "cpu/rnn_pointwise.h"
#include "cpu/vec.h"
#include "seqcore/attention.h"
#include "seqcore/common.h"
#include "seqcore/output_layers.h"

namespace seqcore::cpu {

namespace {

// out[m, :] = in[rows[m], :] for rows of width W.
template <typename T>
void gather_rows(const Buffer<T>& in, const std::vector<int64_t>& rows, int64_t W,
                 Buffer<T>* out) {
  out->resize(rows.size() * W);
  for (size_t m = 0; m < rows.size(); ++m)
    std::copy_n(in.data() + rows[m] * W, W, out->data() + m * W);
}

// Threads for a product of `flops`: at a beam's few rows a product streams its weights
// from memory, and a second core adds bandwidth once the product takes some 40 us; below
// that, waking a team costs more than it saves.
int product_threads(double flops) {
  return std::max(1, std::min<int>(get_num_threads(), static_cast<int>(flops / 4e6) + 1));
}

}  // namespace

template <typename T>
std::vector<std::vector<Hypothesis>> seq2seq_beam_search_cpu(
    const Seq2SeqDesc& d, const Seq2SeqWeights<T>& w, const int64_t* src, int64_t Ts,
    int64_t N, const int64_t* src_lengths, BeamSearch& search) {
  const bool lstm = d.cell == RnnCell::kLSTM;
  const int64_t E = d.E, H = d.H, D = d.bidirectional ? 2 : 1, De = D * H, A = d.A;
  const int64_t Vt = d.Vt, G = rnn_gates(d.cell);

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
  Arr<T>(s.data(), N * H) = Arr<T>(s.data(), N * H).tanh();
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

  // Decoder weights, packed once for every step.
  PackedLinear<T> cell_x, cell_h, query_l, combine, output;
  cell_x.pack(w.dec_w_ih, G * H, E + H, E + H, w.dec_b_ih);
  cell_h.pack(w.dec_w_hh, G * H, H, H, w.dec_b_hh);
  if (d.additive) query_l.pack(w.attn_w_q, A, H, H, nullptr);
  else query_l.pack(w.attn_w, De, H, H, nullptr);
  combine.pack(w.combine_w, H, De + H, De + H, w.combine_b);
  output.pack(w.out_w, Vt, H, H, w.out_b);
  auto apply = [](const PackedLinear<T>& l, int64_t M, int64_t K, const T* in, int64_t ldin,
                  T* out, int64_t ldout) {
    l.apply(M, in, ldin, out, ldout, product_threads(2.0 * M * K * l.out_features()));
  };

  // Per-row state, gathered by beam origin every step; the source rows (keys, projected
  // keys, lengths) only when the rows' batch items change.
  Buffer<T> s_r, c_r, ht_r, keys_r, pk_r, xin, gx, gh, gates, s_new, c_new, context, weights,
      query, cat, logits;
  std::vector<int64_t> len_r, rows_items;
  while (!search.done()) {
    const std::vector<int64_t> origin = search.beam_origin(), tokens = search.next_tokens(),
                               items = search.row_batch();
    const int64_t M = static_cast<int64_t>(tokens.size());
    gather_rows(s, origin, H, &s_r);
    gather_rows(h_tilde, origin, H, &ht_r);
    if (lstm) gather_rows(c, origin, H, &c_r);
    if (items != rows_items) {
      gather_rows(keys, items, Ts * De, &keys_r);
      if (d.additive) gather_rows(proj_keys, items, Ts * A, &pk_r);
      len_r.resize(M);
      for (int64_t m = 0; m < M; ++m) len_r[m] = src_lengths[items[m]];
      rows_items = items;
    }

    // Cell: input [embedding | h~ of the previous step] (input feeding), state s.
    xin.resize(M * (E + H));
    for (int64_t m = 0; m < M; ++m) {
      check(tokens[m] >= 0 && tokens[m] < Vt, "bos_id: out of range for the target vocabulary");
      std::copy_n(w.tgt_embedding + tokens[m] * E, E, xin.data() + m * (E + H));
      std::copy_n(ht_r.data() + m * H, H, xin.data() + m * (E + H) + E);
    }
    gx.resize(M * G * H), gh.resize(M * G * H), gates.resize(G * H);
    s_new.resize(M * H), c_new.resize(M * H);
    apply(cell_x, M, E + H, xin.data(), E + H, gx.data(), G * H);
    apply(cell_h, M, H, s_r.data(), H, gh.data(), G * H);
    for (int64_t m = 0; m < M; ++m) {
      const T* a = gx.data() + m * G * H;
      const T* b = gh.data() + m * G * H;
      auto pre = [&](int64_t q) { return CArr<T>(a + q * H, H) + CArr<T>(b + q * H, H); };
      T* g = gates.data();
      if (lstm)
        lstm_pointwise<T>(pre, g, g + H, g + 2 * H, g + 3 * H, c_r.data() + m * H,
                          c_new.data() + m * H, s_new.data() + m * H, H);
      else
        gru_pointwise<T>(pre, a + 2 * H, b + 2 * H, s_r.data() + m * H, g, g + H, g + 2 * H,
                         s_new.data() + m * H, H);
    }

    // Attention over the source annotations.
    ad.N = M;
    context.resize(M * De), weights.resize(M * Ts);
    query.resize(M * query_l.out_features());
    apply(query_l, M, H, s_new.data(), H, query.data(), query_l.out_features());
    if (d.additive) {
      additive_attention_step<T>(ad, query.data(), pk_r.data(), keys_r.data(), w.attn_v_a,
                                 len_r.data(), context.data(), weights.data());
    } else {  // Luong general: e = keys . (W s) is dot attention with the query W s
      StepAttnDesc dd = ad;
      dd.Dq = De;
      dot_attention_forward<T>(dd, query.data(), keys_r.data(), keys_r.data(), len_r.data(),
                               context.data(), weights.data());
    }

    // h~ = tanh(W_c [context | s] + b_c); log-probs = log_softmax(W_o h~ + b_o).
    cat.resize(M * (De + H));
    for (int64_t m = 0; m < M; ++m) {
      std::copy_n(context.data() + m * De, De, cat.data() + m * (De + H));
      std::copy_n(s_new.data() + m * H, H, cat.data() + m * (De + H) + De);
    }
    h_tilde.resize(M * H);
    apply(combine, M, De + H, cat.data(), De + H, h_tilde.data(), H);
    Arr<T>(h_tilde.data(), M * H) = Arr<T>(h_tilde.data(), M * H).tanh();
    logits.resize(M * Vt);
    apply(output, M, H, h_tilde.data(), H, logits.data(), Vt);
    log_softmax<T>(logits.data(), M, Vt, logits.data());
    search.advance(logits.data(), M, Vt);
    std::swap(s, s_new);
    if (lstm) std::swap(c, c_new);
  }
  return search.results();
}

template std::vector<std::vector<Hypothesis>> seq2seq_beam_search_cpu<float>(
    const Seq2SeqDesc&, const Seq2SeqWeights<float>&, const int64_t*, int64_t, int64_t,
    const int64_t*, BeamSearch&);
template std::vector<std::vector<Hypothesis>> seq2seq_beam_search_cpu<double>(
    const Seq2SeqDesc&, const Seq2SeqWeights<double>&, const int64_t*, int64_t, int64_t,
    const int64_t*, BeamSearch&);

}  // namespace seqcore::cpu

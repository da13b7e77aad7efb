// Bindings for seq2seq.h: the native beam-search translation behind Seq2Seq.translate.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <map>
#include <string>
#include <vector>

#include "beam_search_glue.h"
#include "numpy_glue.h"
#include "seqcore/seq2seq.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

template <typename T>
py::list translate_typed(const Seq2SeqDesc& d, const py::dict& params,
                         const py::array_t<int64_t>& src, const py::array_t<int64_t>& lengths,
                         const BeamSearchOptions& o, std::vector<std::vector<int64_t>> prefix) {
  const int64_t G = rnn_gates(d.cell), E = d.E, H = d.H, De = (d.bidirectional ? 2 : 1) * H;
  std::vector<py::array_t<T>> keep;  // owns the converted arrays while the kernel runs
  auto get = [&](const std::string& name, std::vector<int64_t> shape) -> const T* {
    if (!params.contains(name.c_str())) return nullptr;
    keep.push_back(floats<T>(params[name.c_str()], name.c_str(), shape, "(see Seq2Seq)",
                             "the model dtype"));
    return keep.back().data();
  };
  Seq2SeqWeights<T> w{};
  w.src_embedding = get("src_embedding", {d.Vs, E});
  w.tgt_embedding = get("tgt_embedding", {d.Vt, E});
  for (int dir = 0; dir < (d.bidirectional ? 2 : 1); ++dir) {
    const std::string sfx = dir ? "_l0_reverse" : "_l0";
    w.enc_w_ih[dir] = get("encoder.weight_ih" + sfx, {G * H, E});
    w.enc_w_hh[dir] = get("encoder.weight_hh" + sfx, {G * H, H});
    w.enc_b_ih[dir] = get("encoder.bias_ih" + sfx, {G * H});
    w.enc_b_hh[dir] = get("encoder.bias_hh" + sfx, {G * H});
  }
  w.bridge_w = get("bridge.weight", {H, De});
  w.bridge_b = get("bridge.bias", {H});
  w.dec_w_ih = get("decoder.weight_ih", {G * H, E + H});
  w.dec_w_hh = get("decoder.weight_hh", {G * H, H});
  w.dec_b_ih = get("decoder.bias_ih", {G * H});
  w.dec_b_hh = get("decoder.bias_hh", {G * H});
  if (d.additive) {
    w.attn_w_q = get("attention.w_q", {d.A, H});
    w.attn_w_k = get("attention.w_k", {d.A, De});
    w.attn_v_a = get("attention.v_a", {d.A});
  } else {
    w.attn_w = get("attention.w", {De, H});
  }
  w.combine_w = get("combine.weight", {H, De + H});
  w.combine_b = get("combine.bias", {H});
  w.out_w = get("output.weight", {d.Vt, H});
  w.out_b = get("output.bias", {d.Vt});
  for (const T* p : {w.src_embedding, w.tgt_embedding, w.bridge_w, w.dec_w_ih, w.dec_w_hh,
                     w.combine_w, w.out_w})
    check(p != nullptr, "params: a required parameter is missing");
  std::vector<std::vector<Hypothesis>> res;
  {
    py::gil_scoped_release release;
    res = seq2seq_beam_search<T>(d, w, src.data(), src.shape(0), src.shape(1), lengths.data(),
                                 o, std::move(prefix));
  }
  return hypotheses_to_python(res);
}

}  // namespace

void register_seq2seq(py::module_& m) {
  m.def(
      "seq2seq_beam_search",
      [](const std::string& cell, bool bidirectional, bool additive, int64_t Vs, int64_t Vt,
         int64_t E, int64_t H, int64_t A, const py::dict& params, py::handle src_o,
         py::handle lengths_o, int64_t bos_id, int64_t eos_id, int64_t beam_width,
         int64_t max_length, int64_t min_length, int64_t n_best, double length_penalty,
         const std::string& length_penalty_mode, const std::string& stopping, double patience,
         double repetition_penalty, int64_t no_repeat_ngram_size,
         std::vector<std::vector<int64_t>> prefix, bool float64) {
        Seq2SeqDesc d;
        check(cell == "lstm" || cell == "gru", "cell: expected 'lstm' or 'gru'");
        d.cell = cell == "lstm" ? RnnCell::kLSTM : RnnCell::kGRU;
        d.bidirectional = bidirectional;
        d.additive = additive;
        d.Vs = Vs, d.Vt = Vt, d.E = E, d.H = H, d.A = A;
        py::array src_a = as_array(src_o, "src");
        check(src_a.ndim() == 2, "src: expected shape [Ts, N]");
        auto src = indices(src_o, "src", shape_of(src_a), "[Ts, N]");
        auto lengths = indices(lengths_o, "src_lengths", {src_a.shape(1)}, "[N]");
        BeamSearchOptions o;
        o.bos_id = bos_id, o.eos_id = eos_id, o.beam_width = beam_width;
        o.max_length = max_length, o.min_length = min_length, o.n_best = n_best;
        o.length_penalty = length_penalty;
        o.length_penalty_mode = parse_length_penalty(length_penalty_mode);
        o.stopping = parse_stopping(stopping);
        o.patience = patience, o.repetition_penalty = repetition_penalty;
        o.no_repeat_ngram_size = no_repeat_ngram_size;
        return float64 ? translate_typed<double>(d, params, src, lengths, o, std::move(prefix))
                       : translate_typed<float>(d, params, src, lengths, o, std::move(prefix));
      },
      "Native beam-search translation (see seqcore.Seq2Seq.translate).");
}

}  // namespace seqcore

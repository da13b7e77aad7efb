// Bindings for ctc.h: ctc_loss (log_probs or logits), workspace query, decoders.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "numpy_glue.h"
#include "seqcore/ctc.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

py::array as_scores(py::handle obj, const char* name) {
  py::array x = as_array(obj, name);
  float_kind(x, name);
  if (x.ndim() != 3)
    throw std::invalid_argument(std::string(name) + ": expected shape [T, N, C], got " +
                                shape_str(shape_of(x)));
  return x;
}

// Index arrays kept alive for the kernel call.
struct CtcInputs {
  py::array_t<int64_t> targets, input_lengths, target_lengths;
  CtcDesc desc;
};

CtcInputs ctc_inputs(int64_t T, int64_t N, int64_t C, py::handle targets_o,
                     py::handle input_lengths_o, py::handle target_lengths_o, int64_t blank,
                     bool from_logits) {
  CtcInputs in;
  in.input_lengths = indices(input_lengths_o, "input_lengths", {N}, "[N]");
  in.target_lengths = indices(target_lengths_o, "target_lengths", {N}, "[N]");
  py::array tg = as_array(targets_o, "targets");
  const char kind = tg.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error("targets: expected an integer array (int32 or int64), got " +
                         dtype_name(tg));
  int64_t padded_S = -1;
  if (tg.ndim() == 2) {
    if (tg.shape(0) != N)
      throw std::invalid_argument("targets: expected padded shape [N, S] with N=" +
                                  std::to_string(N) + ", got " + shape_str(shape_of(tg)));
    padded_S = tg.shape(1);
  } else if (tg.ndim() != 1) {
    throw std::invalid_argument(
        "targets: expected padded [N, S] or concatenated [sum(target_lengths)], got shape " +
        shape_str(shape_of(tg)));
  }
  in.targets = carray<int64_t, py::array::forcecast>::ensure(tg);
  in.desc = make_ctc_desc(T, N, C, blank, in.targets.data(), in.targets.size(), padded_S,
                          in.input_lengths.data(), in.target_lengths.data(), from_logits);
  return in;
}

template <typename T>
py::tuple loss_typed(const py::array& x_any, py::handle targets, py::handle input_lengths,
                     py::handle target_lengths, int64_t blank, CtcReduction reduction,
                     bool zero_infinity, bool from_logits) {
  auto x = carray<T>::ensure(x_any);
  const int64_t T_ = x.shape(0), N = x.shape(1), C = x.shape(2);
  CtcInputs in = ctc_inputs(T_, N, C, targets, input_lengths, target_lengths, blank,
                            from_logits);
  py::array_t<T> losses(N), grad({T_, N, C}), loss(std::vector<py::ssize_t>{});
  {
    py::gil_scoped_release nogil;
    ctc_loss<T>(in.desc, x.data(), reduction, zero_infinity, losses.mutable_data(),
                loss.mutable_data(), grad.mutable_data());
  }
  return py::make_tuple(reduction == CtcReduction::kNone ? py::object(losses) : py::object(loss),
                        grad);
}

py::tuple ctc_loss_py(py::handle x_o, py::handle targets, py::handle input_lengths,
                      py::handle target_lengths, int64_t blank, const std::string& reduction,
                      bool zero_infinity, bool from_logits) {
  const CtcReduction r = parse_ctc_reduction(reduction);
  const char* name = from_logits ? "logits" : "log_probs";
  py::array x = as_scores(x_o, name);
  if (float_kind(x, name) == 's')
    return loss_typed<float>(x, targets, input_lengths, target_lengths, blank, r, zero_infinity,
                             from_logits);
  return loss_typed<double>(x, targets, input_lengths, target_lengths, blank, r, zero_infinity,
                            from_logits);
}

int64_t workspace_py(py::handle x_o, py::handle targets, py::handle input_lengths,
                     py::handle target_lengths, int64_t blank, bool from_logits, int threads) {
  const char* name = from_logits ? "logits" : "log_probs";
  py::array x = as_scores(x_o, name);
  CtcInputs in = ctc_inputs(x.shape(0), x.shape(1), x.shape(2), targets, input_lengths,
                            target_lengths, blank, from_logits);
  check(threads >= 1, "threads: expected >= 1, got " + std::to_string(threads));
  return ctc_workspace_bytes(in.desc, x.itemsize(), threads);
}

template <typename T>
py::list greedy_typed(const py::array& x_any, py::handle input_lengths_o, int64_t blank) {
  auto x = carray<T>::ensure(x_any);
  const int64_t T_ = x.shape(0), N = x.shape(1), C = x.shape(2);
  auto lengths = indices(input_lengths_o, "input_lengths", {N}, "[N]");
  std::vector<std::vector<int64_t>> tokens, frames;
  {
    py::gil_scoped_release nogil;
    ctc_greedy_decode<T>(x.data(), T_, N, C, blank, lengths.data(), tokens, frames);
  }
  py::list out;
  for (int64_t n = 0; n < N; ++n)
    out.append(py::make_tuple(py::array_t<int64_t>(tokens[n].size(), tokens[n].data()),
                              py::array_t<int64_t>(frames[n].size(), frames[n].data())));
  return out;
}

py::list greedy_py(py::handle x_o, py::handle input_lengths, int64_t blank) {
  py::array x = as_scores(x_o, "log_probs");
  if (float_kind(x, "log_probs") == 's') return greedy_typed<float>(x, input_lengths, blank);
  return greedy_typed<double>(x, input_lengths, blank);
}

// A Python language model (start / score / finish); its states stay Python objects, the
// search sees their indices. Called with the GIL held: the search then runs serially.
struct PyLanguageModel : CtcLanguageModel {
  py::object lm;
  std::vector<py::object> states;
  explicit PyLanguageModel(py::object m) : lm(std::move(m)) {}
  int64_t keep(py::object s) {
    states.push_back(std::move(s));
    return int64_t(states.size()) - 1;
  }
  int64_t start() override { return keep(lm.attr("start")()); }
  double score(int64_t state, int64_t token, int64_t* next) override {
    py::object r = lm.attr("score")(states[state], token);
    py::tuple tup = r.cast<py::tuple>();
    if (tup.size() != 2)
      throw py::type_error("lm.score(state, token) must return (new_state, logp)");
    *next = keep(tup[0]);
    return tup[1].cast<double>();
  }
  double finish(int64_t state) override { return lm.attr("finish")(states[state]).cast<double>(); }
};

template <typename T>
py::list beam_typed(const py::array& x_any, py::handle input_lengths_o,
                    const CtcBeamOptions& o, py::object lm_o) {
  auto x = carray<T>::ensure(x_any);
  const int64_t T_ = x.shape(0), N = x.shape(1), C = x.shape(2);
  auto lengths = indices(input_lengths_o, "input_lengths", {N}, "[N]");
  std::vector<std::vector<CtcHypothesis>> out;
  if (lm_o.is_none()) {
    py::gil_scoped_release nogil;
    ctc_beam_search<T>(x.data(), T_, N, C, lengths.data(), o, nullptr, true, out);
  } else {
    for (const char* name : {"start", "score", "finish"})
      if (!py::hasattr(lm_o, name))
        throw py::type_error(std::string("lm: expected an object with start(), score(state, "
                                         "token) and finish(state); it has no ") + name + "()");
    PyLanguageModel lm(lm_o);
    ctc_beam_search<T>(x.data(), T_, N, C, lengths.data(), o, &lm, false, out);
  }
  py::list result;
  for (const auto& hyps : out) {
    py::list l;
    for (const auto& h : hyps)
      l.append(py::make_tuple(py::array_t<int64_t>(h.tokens.size(), h.tokens.data()), h.score));
    result.append(l);
  }
  return result;
}

py::list beam_py(py::handle x_o, py::handle input_lengths, int64_t beam_width, int64_t blank,
                 int64_t n_best, double beam_threshold, int64_t token_top_k,
                 double token_min_logp, py::object lm, double lm_weight, double word_score,
                 int64_t word_delimiter) {
  py::array x = as_scores(x_o, "log_probs");
  CtcBeamOptions o;
  o.beam_width = beam_width;
  o.blank = blank;
  o.n_best = n_best;
  o.beam_threshold = beam_threshold;
  o.token_top_k = token_top_k;
  o.token_min_logp = token_min_logp;
  o.lm_weight = lm_weight;
  o.word_score = word_score;
  o.word_delimiter = word_delimiter;
  if (float_kind(x, "log_probs") == 's') return beam_typed<float>(x, input_lengths, o, lm);
  return beam_typed<double>(x, input_lengths, o, lm);
}

}  // namespace

void register_ctc(py::module_& m) {
  m.def("ctc_loss", &ctc_loss_py, py::arg("x"), py::arg("targets"), py::arg("input_lengths"),
        py::arg("target_lengths"), py::arg("blank"), py::arg("reduction"),
        py::arg("zero_infinity"), py::arg("from_logits"),
        "CTC loss and its gradient w.r.t. x [T, N, C] (log_probs, or logits when "
        "from_logits). Returns (loss: 0-d or [N] for reduction 'none', grad [T, N, C]). "
        "Use seqcore.ctc_loss.");
  m.def("ctc_workspace_bytes", &workspace_py, py::arg("x"), py::arg("targets"),
        py::arg("input_lengths"), py::arg("target_lengths"), py::arg("blank"),
        py::arg("from_logits"), py::arg("threads"),
        "Scratch bytes ctc_loss allocates for these inputs with `threads` threads.");
  m.def("ctc_greedy_decode", &greedy_py, py::arg("log_probs"), py::arg("input_lengths"),
        py::arg("blank"),
        "Best-path CTC decoding: list of (tokens, frames) int64 arrays per utterance.");
  m.def("ctc_beam_search", &beam_py, py::arg("log_probs"), py::arg("input_lengths"),
        py::arg("beam_width"), py::arg("blank"), py::arg("n_best"), py::arg("beam_threshold"),
        py::arg("token_top_k"), py::arg("token_min_logp"), py::arg("lm"),
        py::arg("lm_weight"), py::arg("word_score"), py::arg("word_delimiter"),
        "Prefix beam search: per utterance a list of (tokens, score). Use "
        "seqcore.ctc_beam_search.");
}

}  // namespace seqcore

// Bindings for beam_search.h: the BeamSearch state machine driven by seqcore.beam_search.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>
#include <vector>

#include "beam_search_glue.h"
#include "numpy_glue.h"
#include "seqcore/beam_search.h"

namespace py = pybind11;

namespace seqcore {

using py_glue::advance_floats;
using py_glue::to_numpy;

void register_beam_search(py::module_& m) {
  py::class_<BeamSearch>(m, "BeamSearch",
                         "Beam-search state (see seqcore.decoding.beam_search, which drives it).")
      .def(py::init([](int64_t batch_size, int64_t bos_id, int64_t eos_id, int64_t beam_width,
                       int64_t max_length, int64_t min_length, int64_t n_best,
                       double length_penalty, const std::string& length_penalty_mode,
                       const std::string& stopping, double patience,
                       double repetition_penalty, int64_t no_repeat_ngram_size,
                       std::vector<std::vector<int64_t>> prefix) {
             BeamSearchOptions o;
             o.bos_id = bos_id;
             o.eos_id = eos_id;
             o.beam_width = beam_width;
             o.max_length = max_length;
             o.min_length = min_length;
             o.n_best = n_best;
             o.length_penalty = length_penalty;
             o.length_penalty_mode = parse_length_penalty(length_penalty_mode);
             o.stopping = parse_stopping(stopping);
             o.patience = patience;
             o.repetition_penalty = repetition_penalty;
             o.no_repeat_ngram_size = no_repeat_ngram_size;
             return BeamSearch(batch_size, o, std::move(prefix));
           }),
           py::arg("batch_size"), py::arg("bos_id"), py::arg("eos_id"), py::arg("beam_width"),
           py::arg("max_length"), py::arg("min_length"), py::arg("n_best"),
           py::arg("length_penalty"), py::arg("length_penalty_mode"), py::arg("stopping"),
           py::arg("patience"), py::arg("repetition_penalty"), py::arg("no_repeat_ngram_size"),
           py::arg("prefix"))
      .def("done", &BeamSearch::done)
      .def("num_rows", &BeamSearch::num_rows)
      .def("step", &BeamSearch::step)
      .def("next_tokens", [](const BeamSearch& s) { return to_numpy(s.next_tokens()); },
           "Token of each live row [M] (int64): the input of the next step call.")
      .def("beam_origin", [](const BeamSearch& s) { return to_numpy(s.beam_origin()); },
           "Row of the previous step call that each live row extends [M] (int64).")
      .def("row_batch", [](const BeamSearch& s) { return to_numpy(s.row_batch()); },
           "Batch item of each live row [M] (int64).")
      .def(
          "advance",
          [](BeamSearch& s, py::handle obj) {
            advance_floats(s, obj, "log_probs", "[M, V]");
          },
          py::arg("log_probs"), "Consume the log-probs [M, V] of the live rows.")
      .def("results", [](const BeamSearch& s) { return hypotheses_to_python(s.results()); });
}

py::list hypotheses_to_python(const std::vector<std::vector<Hypothesis>>& results) {
  py::list out;
  for (const auto& item : results) {
    py::list hyps;
    for (const auto& h : item)
      hyps.append(py::make_tuple(py_glue::to_numpy(h.tokens), h.score, h.log_prob));
    out.append(hyps);
  }
  return out;
}

}  // namespace seqcore

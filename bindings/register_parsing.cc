// Bindings for parsing.h: the arc-standard beam and oracle (driven by seqcore.parsing).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstring>
#include <string>
#include <vector>

#include "numpy_glue.h"
#include "seqcore/parsing.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// A 1-D integer array as a std::vector<int64_t> (ValueError/TypeError naming it).
std::vector<int64_t> int_vector(py::handle obj, const char* name, const char* legend) {
  py::array a = as_array(obj, name);
  if (a.ndim() != 1)
    throw std::invalid_argument(std::string(name) + ": expected a 1-D array " + legend +
                                ", got shape " + shape_str(shape_of(a)));
  auto v = indices(a, name, {a.shape(0)}, legend);
  return std::vector<int64_t>(v.data(), v.data() + v.size());
}

// attrs [C, W] as int64 (W given, or taken from the array when W < 0).
py::array_t<int64_t> attr_array(py::handle obj, int64_t W) {
  py::array a = as_array(obj, "attrs");
  if (a.ndim() != 2 || a.shape(0) < 1)
    throw std::invalid_argument("attrs: expected a 2-D array [C, W] (C >= 1 word attributes), "
                                "got shape " + shape_str(shape_of(a)));
  return indices(a, "attrs", {a.shape(0), W < 0 ? a.shape(1) : W}, "[C, W]");
}

py::list parses_to_python(const std::vector<std::vector<Parse>>& results) {
  py::list out;
  for (const auto& sentence : results) {
    py::list parses;
    for (const auto& p : sentence)
      parses.append(py::make_tuple(to_numpy(p.head), to_numpy(p.label), p.score));
    out.append(parses);
  }
  return out;
}

}  // namespace

void register_parsing(py::module_& m) {
  py::class_<ArcStandardBeam>(m, "ArcStandardBeam",
                              "Arc-standard parser states of a batch of sentences, searched "
                              "with a beam (see seqcore.parsing, which drives it).")
      .def(py::init([](py::handle lengths, int64_t num_labels, int64_t beam_width,
                       py::handle gold) {
             auto len = int_vector(lengths, "lengths", "[N]");
             std::vector<int64_t> g;
             if (!gold.is_none()) g = int_vector(gold, "gold", "[2W]");
             return ArcStandardBeam(std::move(len), num_labels, beam_width, std::move(g));
           }),
           py::arg("lengths"), py::arg("num_labels"), py::arg("beam_width"),
           py::arg("gold") = py::none())
      .def("done", &ArcStandardBeam::done)
      .def("num_rows", &ArcStandardBeam::num_rows)
      .def("num_transitions", &ArcStandardBeam::num_transitions)
      .def("step", &ArcStandardBeam::step)
      .def("row_sentence", [](const ArcStandardBeam& b) { return to_numpy(b.row_sentence()); },
           "Sentence of each live row [M] (int64).")
      .def(
          "legal",
          [](const ArcStandardBeam& b) {
            py::array_t<bool> out({b.num_rows(), b.num_transitions()});
            static_assert(sizeof(bool) == sizeof(uint8_t), "bool is one byte");
            b.legal(reinterpret_cast<uint8_t*>(out.mutable_data()));
            return out;
          },
          "Legal transitions of the live rows [M, A] (bool).")
      .def(
          "features",
          [](const ArcStandardBeam& b, py::handle attrs) {
            auto a = attr_array(attrs, -1);
            const int64_t C = a.shape(0), W = a.shape(1);
            py::array_t<int64_t> out({b.num_rows(), parser_features(C)});
            int64_t* o = out.mutable_data();
            {
              py::gil_scoped_release release;
              b.features(a.data(), C, W, o);
            }
            return out;
          },
          py::arg("attrs"),
          "Chen & Manning's feature ids of the live rows [M, 18 C + 12] (int64) from the word "
          "attributes attrs [C, W].")
      .def(
          "advance",
          [](ArcStandardBeam& b, py::handle obj) { advance_floats(b, obj, "scores", "[M, A]"); },
          py::arg("scores"), "Consume the transition scores [M, A] of the live rows.")
      .def("results", [](const ArcStandardBeam& b) { return parses_to_python(b.results()); },
           "Per sentence, a list of (head [n], label [n], score), best first.")
      .def(
          "global_loss",
          [](const ArcStandardBeam& b) {
            ArcStandardBeam::GlobalLoss g = b.global_loss();
            const int64_t A = b.num_transitions();
            py::list d;
            for (const auto& step : g.dscores) {
              py::array_t<double> a({static_cast<int64_t>(step.size()) / A, A});
              if (!step.empty())
                std::memcpy(a.mutable_data(), step.data(), step.size() * sizeof(double));
              d.append(a);
            }
            return py::make_tuple(to_numpy(g.loss), to_numpy(g.stop_step), d);
          },
          "(loss [N], stop_step [N], dscores: one [M_j, A] float64 array per step).");

  m.def(
      "arc_standard_oracle",
      [](py::handle lengths, py::handle heads, py::handle labels, int64_t num_labels,
         py::handle attrs) {
        auto len = int_vector(lengths, "lengths", "[N]");
        int64_t W = 0;
        for (size_t i = 0; i < len.size(); ++i) {
          if (len[i] < 1 || len[i] >= (int64_t(1) << 30))
            throw std::invalid_argument("lengths: sentence " + std::to_string(i) + " has " +
                                        std::to_string(len[i]) +
                                        " words (expected at least 1)");
          W += len[i];
        }
        auto h = indices(heads, "heads", {W}, "[W]");
        auto l = indices(labels, "labels", {W}, "[W]");
        const bool feats = !attrs.is_none();
        py::array_t<int64_t> a;
        if (feats) a = attr_array(attrs, W);
        const int64_t C = feats ? a.shape(0) : 0;
        py::array_t<int64_t> trans(2 * W);
        py::array_t<int64_t> f(std::vector<py::ssize_t>{feats ? 2 * W : 0, parser_features(C)});
        int64_t* to = trans.mutable_data();
        int64_t* fo = feats ? f.mutable_data() : nullptr;
        {
          py::gil_scoped_release release;
          arc_standard_oracle(len, h.data(), l.data(), num_labels, feats ? a.data() : nullptr,
                              C, to, fo);
        }
        return py::make_tuple(trans, feats ? py::object(f) : py::object(py::none()));
      },
      py::arg("lengths"), py::arg("heads"), py::arg("labels"), py::arg("num_labels"),
      py::arg("attrs") = py::none(),
      "Static arc-standard oracle: (transitions [2W], features [2W, 18 C + 12] or None).");
}

}  // namespace seqcore

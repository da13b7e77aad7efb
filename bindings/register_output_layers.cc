// Bindings for output_layers.h: the sampler and Huffman tree classes and the loss kernels.
// The Python module seqcore.output_layers wraps them (defaults, sampling, named results).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstring>
#include <memory>
#include <string>
#include <utility>

#include "numpy_glue.h"
#include "seqcore/output_layers.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

Reduction parse_reduction(const std::string& r) {
  if (r == "mean") return Reduction::kMean;
  if (r == "sum") return Reduction::kSum;
  if (r == "none") return Reduction::kNone;
  throw std::invalid_argument("reduction: expected 'mean', 'sum' or 'none', got '" + r + "'");
}

// A floating array with at least one dimension; ValueError naming `legend` otherwise.
py::array matrix(py::handle obj, const char* name, const char* legend) {
  py::array a = as_array(obj, name);
  float_kind(a, name);
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected shape " + legend + ", got " +
                                shape_str(shape_of(a)));
  return a;
}

py::array_t<double> counts_array(py::handle obj) {
  py::array a = as_array(obj, "counts");
  const char k = a.dtype().kind();
  if (k != 'i' && k != 'u' && k != 'f')
    throw py::type_error("counts: expected an integer or floating array, got " + dtype_name(a));
  if (a.ndim() != 1)
    throw std::invalid_argument("counts: expected shape [V], got " + shape_str(shape_of(a)));
  return carray<double, py::array::forcecast>::ensure(a);
}

template <typename T>
py::array_t<T> loss_array(Reduction r, int64_t N) {
  return py::array_t<T>({r == Reduction::kNone ? N : int64_t(1)});
}

// ---------------------------------------------------------------- cross-entropy

template <typename T>
py::tuple ce_typed(const py::array& logits_a, py::handle targets_o, Reduction r,
                   py::object ignore_index, double label_smoothing, bool grad) {
  const int64_t N = logits_a.shape(0), V = logits_a.shape(1);
  check(V >= 1, "logits: expected shape [N, V] with V >= 1, got " + shape_str(shape_of(logits_a)));
  auto logits = carray<T>::ensure(logits_a);
  auto targets = indices(targets_o, "targets", {N}, "[N]");
  const bool has_ignore = !ignore_index.is_none();
  const int64_t ignore = has_ignore ? ignore_index.cast<int64_t>() : 0;
  auto loss = loss_array<T>(r, N);
  Opt<T> dlogits;
  if (grad) dlogits = py::array_t<T>({N, V});
  {
    py::gil_scoped_release nogil;
    softmax_cross_entropy<T>(logits.data(), targets.data(), N, V, r, has_ignore, ignore,
                             label_smoothing, loss.mutable_data(), mutable_or_null(dlogits));
  }
  return py::make_tuple(loss, object_or_none(dlogits));
}

template <typename T>
py::tuple bce_typed(const py::array& z_a, py::handle targets_o, py::handle weight_o,
                    double pos_weight, Reduction r, bool grad) {
  const std::vector<int64_t> shape = shape_of(z_a);
  const int64_t n = static_cast<int64_t>(z_a.size());
  auto z = carray<T>::ensure(z_a);
  auto y = floats<T>(targets_o, "targets", shape, "(the shape of logits)", "logits");
  auto w = optional_floats<T>(weight_o, "weight", shape, "(the shape of logits)", "logits");
  auto loss = loss_array<T>(r, n);
  Opt<T> dz;
  if (grad) dz = py::array_t<T>(shape);
  {
    py::gil_scoped_release nogil;
    binary_cross_entropy_with_logits<T>(z.data(), y.data(), data_or_null(w), n, pos_weight, r,
                                        loss.mutable_data(), mutable_or_null(dz));
  }
  if (r == Reduction::kNone) loss = loss.reshape(shape);
  return py::make_tuple(loss, object_or_none(dz));
}

py::tuple bce_py(py::handle logits_o, py::handle targets, py::handle weight, double pos_weight,
                 const std::string& reduction, bool grad) {
  const Reduction r = parse_reduction(reduction);
  py::array a = as_array(logits_o, "logits");
  if (float_kind(a, "logits") == 's')
    return bce_typed<float>(a, targets, weight, pos_weight, r, grad);
  return bce_typed<double>(a, targets, weight, pos_weight, r, grad);
}

py::tuple ce_py(py::handle logits_o, py::handle targets, const std::string& reduction,
                py::object ignore_index, double label_smoothing, bool grad) {
  const Reduction r = parse_reduction(reduction);
  py::array a = matrix(logits_o, "logits", "[N, V]");
  if (float_kind(a, "logits") == 's')
    return ce_typed<float>(a, targets, r, ignore_index, label_smoothing, grad);
  return ce_typed<double>(a, targets, r, ignore_index, label_smoothing, grad);
}

template <typename T>
py::array log_softmax_typed(const py::array& x_a) {
  const int64_t M = x_a.shape(0), V = x_a.shape(1);
  auto x = carray<T>::ensure(x_a);
  py::array_t<T> out({M, V});
  {
    py::gil_scoped_release nogil;
    log_softmax<T>(x.data(), M, V, out.mutable_data());
  }
  return out;
}

py::array log_softmax_py(py::handle x_o) {
  py::array a = matrix(x_o, "x", "[M, V]");
  return float_kind(a, "x") == 's' ? log_softmax_typed<float>(a) : log_softmax_typed<double>(a);
}

// ---------------------------------------------------------------- negative sampling

// The inputs every sampled loss takes: hidden rows h [N, D] (D >= 1), the output matrix
// w_out [V, D] in h's dtype and the target ids [N], validated in that order.
template <typename T>
struct SampledLossInputs {
  int64_t N, D, V;
  carray<T> h;
  py::array_t<T> w_out;
  py::array_t<int64_t> targets;

  SampledLossInputs(const py::array& h_a, py::handle w_out_o, py::handle targets_o)
      : N(h_a.shape(0)), D(h_a.shape(1)) {
    check(D >= 1, "h: expected shape [N, D] with D >= 1, got " + shape_str(shape_of(h_a)));
    h = carray<T>::ensure(h_a);
    py::array w_a = matrix(w_out_o, "w_out", "[V, D]");
    w_out = floats<T>(w_a, "w_out", {w_a.shape(0), D}, "[V, D]", "h");
    V = w_out.shape(0);
    targets = indices(targets_o, "targets", {N}, "[N]");
  }
};

template <typename T>
py::tuple ns_typed(const py::array& h_a, py::handle w_out_o, py::handle targets_o,
                   py::handle negatives_o, bool shared, Reduction r) {
  SampledLossInputs<T> in(h_a, w_out_o, targets_o);
  const int64_t N = in.N, D = in.D, V = in.V;
  const auto &h = in.h, &w_out = in.w_out;
  const auto& targets = in.targets;
  py::array neg_a = as_array(negatives_o, "negatives");
  int64_t K;
  if (shared) {
    if (neg_a.ndim() != 1)
      throw std::invalid_argument("negatives: expected shape [K] with shared_negatives, got " +
                                  shape_str(shape_of(neg_a)));
    K = neg_a.shape(0);
  } else {
    if (neg_a.ndim() != 2 || neg_a.shape(0) != N)
      throw std::invalid_argument("negatives: expected shape [N, K] with N=" +
                                  std::to_string(N) + ", got " + shape_str(shape_of(neg_a)));
    K = neg_a.shape(1);
  }
  auto negatives = indices(neg_a, "negatives", shape_of(neg_a), shared ? "[K]" : "[N, K]");
  auto loss = loss_array<T>(r, N);
  py::array_t<T> dh({N, D});
  SparseRows<T> drows;
  {
    py::gil_scoped_release nogil;
    negative_sampling_loss<T>(h.data(), w_out.data(), targets.data(), negatives.data(), N, D,
                              V, K, shared, r, loss.mutable_data(), dh.mutable_data(), drows);
  }
  py::tuple sp = sparse_result(drows, D);
  return py::make_tuple(loss, dh, sp[0], sp[1]);
}

py::tuple ns_py(py::handle h_o, py::handle w_out, py::handle targets, py::handle negatives,
                bool shared, const std::string& reduction) {
  const Reduction r = parse_reduction(reduction);
  py::array h = matrix(h_o, "h", "[N, D]");
  if (float_kind(h, "h") == 's') return ns_typed<float>(h, w_out, targets, negatives, shared, r);
  return ns_typed<double>(h, w_out, targets, negatives, shared, r);
}

// ---------------------------------------------------------------- sampled softmax

template <typename T>
py::tuple ss_typed(const py::array& h_a, py::handle w_out_o, py::handle b_out_o,
                   py::handle targets_o, py::handle sampled_o, py::handle lq_true_o,
                   py::handle lq_sampled_o, bool remove_hits, Reduction r) {
  SampledLossInputs<T> in(h_a, w_out_o, targets_o);
  const int64_t N = in.N, D = in.D, V = in.V;
  const auto &h = in.h, &w_out = in.w_out;
  const auto& targets = in.targets;
  Opt<T> b_out, lq_true, lq_sampled;
  if (!b_out_o.is_none()) b_out = floats<T>(b_out_o, "b_out", {V}, "[V]", "h");
  py::array s_a = as_array(sampled_o, "sampled");
  if (s_a.ndim() != 1)
    throw std::invalid_argument("sampled: expected shape [S], got " + shape_str(shape_of(s_a)));
  const int64_t S = s_a.shape(0);
  auto sampled = indices(s_a, "sampled", {S}, "[S]");
  if (!lq_true_o.is_none()) lq_true = floats<T>(lq_true_o, "log_q_true", {N}, "[N]", "h");
  if (!lq_sampled_o.is_none())
    lq_sampled = floats<T>(lq_sampled_o, "log_q_sampled", {S}, "[S]", "h");
  auto loss = loss_array<T>(r, N);
  py::array_t<T> dh({N, D});
  SparseRows<T> drows;
  std::vector<T> dbias;
  {
    py::gil_scoped_release nogil;
    sampled_softmax_loss<T>(h.data(), w_out.data(), data_or_null(b_out), targets.data(),
                            sampled.data(), data_or_null(lq_true), data_or_null(lq_sampled), N,
                            D, V, S, remove_hits, r, loss.mutable_data(), dh.mutable_data(),
                            drows, dbias);
  }
  py::tuple sp = sparse_result(drows, D);
  py::object db = py::none();
  if (b_out) {
    py::array_t<T> d({static_cast<int64_t>(dbias.size())});
    if (!dbias.empty()) std::memcpy(d.mutable_data(), dbias.data(), sizeof(T) * dbias.size());
    db = d;
  }
  return py::make_tuple(loss, dh, sp[0], sp[1], db);
}

py::tuple ss_py(py::handle h_o, py::handle w_out, py::handle b_out, py::handle targets,
                py::handle sampled, py::handle lq_true, py::handle lq_sampled, bool remove_hits,
                const std::string& reduction) {
  const Reduction r = parse_reduction(reduction);
  py::array h = matrix(h_o, "h", "[N, D]");
  if (float_kind(h, "h") == 's')
    return ss_typed<float>(h, w_out, b_out, targets, sampled, lq_true, lq_sampled, remove_hits, r);
  return ss_typed<double>(h, w_out, b_out, targets, sampled, lq_true, lq_sampled, remove_hits, r);
}

// ---------------------------------------------------------------- hierarchical softmax

template <typename T>
py::tuple hs_typed(const py::array& h_a, py::handle w_inner_o, const HuffmanTree& tree,
                   py::handle targets_o, Reduction r) {
  const int64_t N = h_a.shape(0), D = h_a.shape(1), I = tree.num_inner();
  check(D >= 1, "h: expected shape [N, D] with D >= 1, got " + shape_str(shape_of(h_a)));
  auto h = carray<T>::ensure(h_a);
  auto w_inner = floats<T>(w_inner_o, "w_inner", {I, D}, "[V-1, D]", "h");
  auto targets = indices(targets_o, "targets", {N}, "[N]");
  auto loss = loss_array<T>(r, N);
  py::array_t<T> dh({N, D});
  SparseRows<T> drows;
  {
    py::gil_scoped_release nogil;
    hierarchical_softmax_loss<T>(h.data(), w_inner.data(), tree, targets.data(), N, D, r,
                                 loss.mutable_data(), dh.mutable_data(), drows);
  }
  py::tuple sp = sparse_result(drows, D);
  return py::make_tuple(loss, dh, sp[0], sp[1]);
}

py::tuple hs_py(py::handle h_o, py::handle w_inner, const HuffmanTree& tree, py::handle targets,
                const std::string& reduction) {
  const Reduction r = parse_reduction(reduction);
  py::array h = matrix(h_o, "h", "[N, D]");
  if (float_kind(h, "h") == 's') return hs_typed<float>(h, w_inner, tree, targets, r);
  return hs_typed<double>(h, w_inner, tree, targets, r);
}

template <typename T>
py::array hs_logp_typed(const py::array& h_a, py::handle w_inner_o, const HuffmanTree& tree,
                        py::handle ids_o) {
  const int64_t N = h_a.shape(0), D = h_a.shape(1), I = tree.num_inner(), V = tree.size();
  check(D >= 1, "h: expected shape [N, D] with D >= 1, got " + shape_str(shape_of(h_a)));
  auto h = carray<T>::ensure(h_a);
  auto w_inner = floats<T>(w_inner_o, "w_inner", {I, D}, "[V-1, D]", "h");
  Opt<int64_t> ids;
  int64_t M = V;
  if (!ids_o.is_none()) {
    py::array a = as_array(ids_o, "ids");
    if (a.ndim() != 2 || a.shape(0) != N)
      throw std::invalid_argument("ids: expected shape [N, M] with N=" + std::to_string(N) +
                                  ", got " + shape_str(shape_of(a)));
    M = a.shape(1);
    ids = indices(a, "ids", {N, M}, "[N, M]");
  }
  py::array_t<T> out({N, M});
  {
    py::gil_scoped_release nogil;
    hierarchical_softmax_log_probs<T>(h.data(), w_inner.data(), tree, data_or_null(ids), N, D,
                                      M, out.mutable_data());
  }
  return out;
}

py::array hs_logp_py(py::handle h_o, py::handle w_inner, const HuffmanTree& tree,
                     py::handle ids) {
  py::array h = matrix(h_o, "h", "[N, D]");
  if (float_kind(h, "h") == 's') return hs_logp_typed<float>(h, w_inner, tree, ids);
  return hs_logp_typed<double>(h, w_inner, tree, ids);
}

template <typename V>
py::array_t<V> copy_vector(const std::vector<V>& v) {
  py::array_t<V> a({static_cast<int64_t>(v.size())});
  if (!v.empty()) std::memcpy(a.mutable_data(), v.data(), sizeof(V) * v.size());
  return a;
}

}  // namespace

void register_output_layers(py::module_& m) {
  py::class_<UnigramSampler, std::shared_ptr<UnigramSampler>>(
      m, "_UnigramSampler", "Alias-method sampler of counts^power (see seqcore.UnigramSampler).")
      .def(py::init([](py::handle counts, double power) {
             auto c = counts_array(counts);
             return std::make_shared<UnigramSampler>(c.data(), c.shape(0), power);
           }),
           py::arg("counts"), py::arg("power"))
      .def_property_readonly("size", &UnigramSampler::size)
      .def_property_readonly("power", &UnigramSampler::power)
      .def_property_readonly("probs",
                             [](const UnigramSampler& s) {
                               py::array_t<double> p({s.size()});
                               for (int64_t i = 0; i < s.size(); ++i) p.mutable_data()[i] = s.prob(i);
                               return p;
                             })
      .def("sample",
           [](const UnigramSampler& s, uint64_t seed, uint64_t stream, uint64_t first,
              int64_t n) {
             check(n >= 0, "sample: the number of samples must be >= 0");
             py::array_t<int64_t> out({n});
             {
               py::gil_scoped_release nogil;
               s.sample_many(seed, stream, first, n, out.mutable_data());
             }
             return out;
           },
           py::arg("seed"), py::arg("stream"), py::arg("first"), py::arg("n"))
      .def("log_q", [](const UnigramSampler& s, py::handle ids_o, const std::string& name) {
        py::array a = as_array(ids_o, name.c_str());
        auto ids = indices(a, name.c_str(), shape_of(a), "[...]");
        py::array_t<double> out(shape_of(a));
        const int64_t n = static_cast<int64_t>(a.size());
        for (int64_t i = 0; i < n; ++i) {
          const int64_t v = ids.data()[i];
          check(v >= 0 && v < s.size(), name + ": ids must be in [0, V=" +
                                            std::to_string(s.size()) + "), got " +
                                            std::to_string(v));
          out.mutable_data()[i] = s.log_prob(v);
        }
        return out;
      }, py::arg("ids"), py::arg("name") = "ids");

  py::class_<HuffmanTree, std::shared_ptr<HuffmanTree>>(
      m, "_HuffmanTree", "Huffman tree of word2vec.c (see seqcore.HuffmanTree).")
      .def(py::init([](py::handle counts) {
             auto c = counts_array(counts);
             py::gil_scoped_release nogil;
             return std::make_shared<HuffmanTree>(c.data(), c.shape(0));
           }),
           py::arg("counts"))
      .def_property_readonly("size", &HuffmanTree::size)
      .def_property_readonly("num_inner", &HuffmanTree::num_inner)
      .def_property_readonly("max_depth", &HuffmanTree::max_depth)
      .def_property_readonly("offsets", [](const HuffmanTree& t) { return copy_vector(t.offsets()); })
      .def_property_readonly("points", [](const HuffmanTree& t) { return copy_vector(t.points()); })
      .def_property_readonly("codes", [](const HuffmanTree& t) { return copy_vector(t.codes()); })
      .def_property_readonly("depth",
                             [](const HuffmanTree& t) {
                               py::array_t<int64_t> d({t.size()});
                               for (int64_t w = 0; w < t.size(); ++w) d.mutable_data()[w] = t.depth(w);
                               return d;
                             })
      .def_property_readonly("children", [](const HuffmanTree& t) {
        py::array_t<int64_t> c({t.num_inner(), int64_t(2)});
        for (int64_t a = 0; a < t.num_inner(); ++a)
          for (int b = 0; b < 2; ++b) c.mutable_data()[2 * a + b] = t.child(a, b);
        return c;
      });

  m.def("softmax_cross_entropy", &ce_py, py::arg("logits"), py::arg("targets"),
        py::arg("reduction"), py::arg("ignore_index"), py::arg("label_smoothing"),
        py::arg("grad"), "See seqcore.softmax_cross_entropy. Returns (loss [N] or [1], dlogits or None).");
  m.def("binary_cross_entropy_with_logits", &bce_py, py::arg("logits"), py::arg("targets"),
        py::arg("weight"), py::arg("pos_weight"), py::arg("reduction"), py::arg("grad"),
        "See seqcore.binary_cross_entropy_with_logits. Returns (loss (shape of logits) or [1],\n"
        "dlogits or None).");
  m.def("log_softmax", &log_softmax_py, py::arg("x"), "Row-wise log-softmax of x [M, V].");
  m.def("negative_sampling_loss", &ns_py, py::arg("h"), py::arg("w_out"), py::arg("targets"),
        py::arg("negatives"), py::arg("shared_negatives"), py::arg("reduction"),
        "See seqcore.negative_sampling_loss. Returns (loss, dh, rows, drows).");
  m.def("sampled_softmax_loss", &ss_py, py::arg("h"), py::arg("w_out"), py::arg("b_out"),
        py::arg("targets"), py::arg("sampled"), py::arg("log_q_true"), py::arg("log_q_sampled"),
        py::arg("remove_accidental_hits"), py::arg("reduction"),
        "See seqcore.sampled_softmax_loss. Returns (loss, dh, rows, drows, dbias or None).");
  m.def("hierarchical_softmax_loss", &hs_py, py::arg("h"), py::arg("w_inner"), py::arg("tree"),
        py::arg("targets"), py::arg("reduction"),
        "See seqcore.hierarchical_softmax_loss. Returns (loss, dh, rows, drows).");
  m.def("hierarchical_softmax_log_probs", &hs_logp_py, py::arg("h"), py::arg("w_inner"),
        py::arg("tree"), py::arg("ids"),
        "See seqcore.hierarchical_softmax_log_probs. Returns log-probabilities [N, M] or [N, V].");
}

}  // namespace seqcore

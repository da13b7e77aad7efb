// Bindings for rnn.h: rnn_forward / rnn_backward shared by LSTM, GRU and RNN, and the cache.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "numpy_glue.h"
#include "seqcore/rnn.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// What rnn_backward needs from the forward: the saved activations plus references to x and
// the weights (not copies, as PyTorch's autograd keeps them).
struct RnnCacheBase {
  virtual ~RnnCacheBase() = default;
  virtual size_t nbytes() const = 0;
  std::string mode;
  RnnDesc desc;
  RnnLayout layout;
  py::array x, w_ih, w_hh;
  bool consumed = false;
};

template <typename T>
struct RnnCacheT : RnnCacheBase {
  RnnSaved<T> saved;
  size_t nbytes() const override {
    return (saved.gates.size() + saved.h.size() + saved.c.size()) * sizeof(T);
  }
};

RnnCell parse_mode(const std::string& mode) {
  if (mode == "lstm") return RnnCell::kLSTM;
  if (mode == "gru") return RnnCell::kGRU;
  if (mode == "rnn_tanh") return RnnCell::kRNNTanh;
  if (mode == "rnn_relu") return RnnCell::kRNNReLU;
  throw std::invalid_argument("mode: expected 'lstm', 'gru', 'rnn_tanh' or 'rnn_relu', got '" +
                              mode + "'");
}

template <typename T>
py::tuple forward_typed(const std::string& mode, const py::array& x_any, py::handle w_ih_o,
                        py::handle w_hh_o, py::handle b_ih_o, py::handle b_hh_o,
                        py::handle h0_o, py::handle c0_o, py::handle lengths_o, bool training,
                        bool reverse, bool linear_before_reset,
                        const RnnPacked<T>* packed = nullptr) {
  RnnDesc d;
  d.cell = parse_mode(mode);
  d.linear_before_reset = linear_before_reset;
  d.reverse = reverse;
  if (x_any.ndim() != 3)
    throw std::invalid_argument("x: expected shape [T, N, I], got " + shape_str(shape_of(x_any)));
  d.T = x_any.shape(0);
  d.N = x_any.shape(1);
  d.I = x_any.shape(2);
  check(d.I >= 1, "x: input size I must be >= 1, got shape " + shape_str(shape_of(x_any)));
  auto x = carray<T>::ensure(x_any);
  const int64_t G = rnn_gates(d.cell);
  py::array w_hh_a = as_array(w_hh_o, "w_hh");
  if (w_hh_a.ndim() != 2 || w_hh_a.shape(0) % G != 0 || w_hh_a.shape(0) == 0 ||
      w_hh_a.shape(1) * G != w_hh_a.shape(0))
    throw std::invalid_argument("w_hh: expected shape [G*H, H] with G=" + std::to_string(G) +
                                ", got " + shape_str(shape_of(w_hh_a)));
  d.H = w_hh_a.shape(1);
  const int64_t T_ = d.T, N = d.N, I = d.I, H = d.H;
  auto w_hh = floats<T>(w_hh_a, "w_hh", {G * H, H}, "[G*H, H]");
  auto w_ih = floats<T>(w_ih_o, "w_ih", {G * H, I}, "[G*H, I]");
  Opt<T> b_ih, b_hh, h0, c0;
  if (!b_ih_o.is_none()) b_ih = floats<T>(b_ih_o, "b_ih", {G * H}, "[G*H]");
  if (!b_hh_o.is_none()) b_hh = floats<T>(b_hh_o, "b_hh", {G * H}, "[G*H]");
  if (!h0_o.is_none()) h0 = floats<T>(h0_o, "h0", {N, H}, "[N, H]");
  const bool lstm = d.cell == RnnCell::kLSTM;
  if (lstm && !c0_o.is_none()) c0 = floats<T>(c0_o, "c0", {N, H}, "[N, H]");
  Opt<int64_t> lengths;
  if (!lengths_o.is_none()) lengths = indices(lengths_o, "lengths", {N}, "[N]");
  d.has_b_ih = bool(b_ih);
  d.has_b_hh = bool(b_hh);

  RnnLayout layout = make_rnn_layout(T_, N, data_or_null(lengths), reverse);
  py::array_t<T> y({T_, N, H}), h_n({N, H});
  Opt<T> c_n;
  if (lstm) c_n = py::array_t<T>({N, H});
  std::shared_ptr<RnnCacheT<T>> cache;
  if (training) cache = std::make_shared<RnnCacheT<T>>();
  {
    py::gil_scoped_release nogil;
    rnn_forward<T>(d, layout, x.data(), w_ih.data(), w_hh.data(), data_or_null(b_ih),
                   data_or_null(b_hh), data_or_null(h0), data_or_null(c0), y.mutable_data(),
                   h_n.mutable_data(), mutable_or_null(c_n),
                   cache ? &cache->saved : nullptr, packed);
  }
  py::object cache_obj = py::none();
  if (cache) {
    cache->mode = mode;
    cache->desc = d;
    cache->layout = std::move(layout);
    cache->x = x;
    cache->w_ih = w_ih;
    cache->w_hh = w_hh;
    cache_obj = py::cast(std::shared_ptr<RnnCacheBase>(cache));
  }
  return py::make_tuple(y, h_n, object_or_none(c_n), cache_obj);
}

py::tuple rnn_forward_py(const std::string& mode, py::handle x_o, py::handle w_ih,
                         py::handle w_hh, py::handle b_ih, py::handle b_hh, py::handle h0,
                         py::handle c0, py::handle lengths, bool training, bool reverse,
                         bool linear_before_reset) {
  parse_mode(mode);
  py::array x = as_array(x_o, "x");
  if (float_kind(x, "x") == 's')
    return forward_typed<float>(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, training,
                                reverse, linear_before_reset);
  return forward_typed<double>(mode, x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths, training,
                               reverse, linear_before_reset);
}

// A layer's weights (copied) with their rnn_pack panels, for seqcore.rnn.PackedRNN.
class PackedRnnPy {
 public:
  PackedRnnPy(const std::string& mode, py::handle w_ih, py::handle w_hh, py::handle b_ih,
              py::handle b_hh, bool linear_before_reset)
      : mode_(mode), lbr_(linear_before_reset) {
    RnnDesc d;
    d.cell = parse_mode(mode);
    d.linear_before_reset = linear_before_reset;
    py::array w_hh_a = as_array(w_hh, "w_hh"), w_ih_a = as_array(w_ih, "w_ih");
    const int64_t G = rnn_gates(d.cell);
    if (w_hh_a.ndim() != 2 || w_hh_a.shape(0) == 0 || w_hh_a.shape(1) * G != w_hh_a.shape(0))
      throw std::invalid_argument("w_hh: expected shape [G*H, H] with G=" + std::to_string(G) +
                                  ", got " + shape_str(shape_of(w_hh_a)));
    if (w_ih_a.ndim() != 2 || w_ih_a.shape(1) < 1)
      throw std::invalid_argument("w_ih: expected shape [G*H, I] with I >= 1, got " +
                                  shape_str(shape_of(w_ih_a)));
    d.H = w_hh_a.shape(1), d.I = w_ih_a.shape(1);
    kind_ = float_kind(w_hh_a, "w_hh");
    if (kind_ == 's')
      pack<float>(d, w_ih_a, w_hh_a, b_ih, b_hh, f32_);
    else
      pack<double>(d, w_ih_a, w_hh_a, b_ih, b_hh, f64_);
  }

  py::tuple forward(py::handle x_o, py::handle h0, py::handle c0) const {
    py::array x = as_array(x_o, "x");
    if (x.ndim() != 3 || x.shape(2) != w_ih_.shape(1))
      throw std::invalid_argument("x: expected shape [T, N, I] with I=" +
                                  std::to_string(w_ih_.shape(1)) +
                                  " (the layer's input size), got " + shape_str(shape_of(x)));
    const char kind = float_kind(x, "x");
    if (kind != kind_)
      throw py::type_error(std::string("x: dtype ") + dtype_name(x) + " does not match the " +
                           "packed weights (" + (kind_ == 's' ? "float32" : "float64") + ")");
    if (kind == 's')
      return forward_typed<float>(mode_, x, w_ih_, w_hh_, b_ih_, b_hh_, h0, c0, py::none(),
                                  false, false, lbr_, f32_.get());
    return forward_typed<double>(mode_, x, w_ih_, w_hh_, b_ih_, b_hh_, h0, c0, py::none(),
                                 false, false, lbr_, f64_.get());
  }

  std::string repr() const {
    return "<RnnPacked " + mode_ + " I=" + std::to_string(w_ih_.shape(1)) + " H=" +
           std::to_string(w_hh_.shape(1)) + (kind_ == 's' ? " float32>" : " float64>");
  }

 private:
  template <typename T>
  void pack(const RnnDesc& d, const py::array& w_ih, const py::array& w_hh, py::handle b_ih,
            py::handle b_hh, std::unique_ptr<RnnPacked<T>>& out) {
    const int64_t GH = rnn_gates(d.cell) * d.H;
    auto copy = [](const py::array& a) { return py::array(a.attr("copy")()); };
    w_hh_ = copy(floats<T>(w_hh, "w_hh", {GH, d.H}, "[G*H, H]", "w_hh"));
    w_ih_ = copy(floats<T>(w_ih, "w_ih", {GH, d.I}, "[G*H, I]", "w_hh"));
    if (!b_ih.is_none()) b_ih_ = copy(floats<T>(b_ih, "b_ih", {GH}, "[G*H]", "w_hh"));
    if (!b_hh.is_none()) b_hh_ = copy(floats<T>(b_hh, "b_hh", {GH}, "[G*H]", "w_hh"));
    out = std::make_unique<RnnPacked<T>>();
    auto wi = carray<T>::ensure(w_ih_), wh = carray<T>::ensure(w_hh_);
    py::gil_scoped_release nogil;
    rnn_pack<T>(d, wi.data(), wh.data(), *out);
  }

  std::string mode_;
  bool lbr_;
  char kind_ = 's';
  py::array w_ih_, w_hh_;
  py::object b_ih_ = py::none(), b_hh_ = py::none();
  std::unique_ptr<RnnPacked<float>> f32_;
  std::unique_ptr<RnnPacked<double>> f64_;
};

template <typename T>
py::tuple backward_typed(RnnCacheT<T>& cache, py::handle dy_o, py::handle dh_n_o,
                         py::handle dc_n_o, bool retain_cache) {
  const RnnDesc& d = cache.desc;
  const int64_t T_ = d.T, N = d.N, I = d.I, H = d.H, G = rnn_gates(d.cell);
  const bool lstm = d.cell == RnnCell::kLSTM;
  Opt<T> dy, dh_n, dc_n;
  if (!dy_o.is_none()) dy = floats<T>(dy_o, "dy", {T_, N, H}, "[T, N, H]", "the forward's x");
  if (!dh_n_o.is_none()) dh_n = floats<T>(dh_n_o, "dh_n", {N, H}, "[N, H]", "the forward's x");
  if (lstm && !dc_n_o.is_none())
    dc_n = floats<T>(dc_n_o, "dc_n", {N, H}, "[N, H]", "the forward's x");

  py::array_t<T> dx({T_, N, I}), dh0({N, H}), dw_ih({G * H, I}), dw_hh({G * H, H});
  Opt<T> dc0, db_ih, db_hh;
  if (lstm) dc0 = py::array_t<T>({N, H});
  if (d.has_b_ih) db_ih = py::array_t<T>({G * H});
  if (d.has_b_hh) db_hh = py::array_t<T>({G * H});
  auto x = carray<T>::ensure(cache.x);
  auto w_ih = carray<T>::ensure(cache.w_ih);
  auto w_hh = carray<T>::ensure(cache.w_hh);
  {
    py::gil_scoped_release nogil;
    Buffer<T> kept;
    if (retain_cache) kept = cache.saved.gates;
    rnn_backward<T>(d, cache.layout, x.data(), w_ih.data(), w_hh.data(), cache.saved,
                    data_or_null(dy), data_or_null(dh_n), data_or_null(dc_n),
                    dx.mutable_data(), dh0.mutable_data(), mutable_or_null(dc0),
                    dw_ih.mutable_data(), dw_hh.mutable_data(), mutable_or_null(db_ih),
                    mutable_or_null(db_hh));
    if (retain_cache) cache.saved.gates.swap(kept);
  }
  if (!retain_cache) {  // the gates now hold their gradients: release everything
    cache.consumed = true;
    cache.saved = RnnSaved<T>();
    cache.x = py::array();
    cache.w_ih = py::array();
    cache.w_hh = py::array();
  }
  return py::make_tuple(dx, dh0, object_or_none(dc0), dw_ih, dw_hh, object_or_none(db_ih),
                        object_or_none(db_hh));
}

py::tuple rnn_backward_py(const std::shared_ptr<RnnCacheBase>& cache, const std::string& family,
                          py::handle dy, py::handle dh_n, py::handle dc_n, bool retain_cache) {
  if (!cache) throw std::invalid_argument("cache: expected the cache of a training forward, got None");
  const std::string& m = cache->mode;
  const std::string cache_family = m.rfind("rnn", 0) == 0 ? "rnn" : m;
  if (cache_family != family)
    throw std::invalid_argument("cache: it comes from a '" + m + "' forward, not '" + family + "'");
  if (cache->consumed)
    throw std::invalid_argument(
        "cache: already consumed by a backward pass (pass retain_cache=True to the first "
        "backward to run it more than once)");
  if (auto* c = dynamic_cast<RnnCacheT<float>*>(cache.get()))
    return backward_typed<float>(*c, dy, dh_n, dc_n, retain_cache);
  return backward_typed<double>(*dynamic_cast<RnnCacheT<double>*>(cache.get()), dy, dh_n, dc_n,
                                retain_cache);
}

}  // namespace

void register_rnn(py::module_& m) {
  py::class_<RnnCacheBase, std::shared_ptr<RnnCacheBase>>(
      m, "RnnCache",
      "Saved activations of a recurrent forward (post-activation gates and states of every "
      "valid step), consumed by the matching backward.")
      .def_property_readonly("mode", [](const RnnCacheBase& c) { return c.mode; })
      .def_property_readonly("consumed", [](const RnnCacheBase& c) { return c.consumed; })
      .def_property_readonly("nbytes", &RnnCacheBase::nbytes,
                             "Bytes held by the saved activations.")
      .def_property_readonly("shape",
                             [](const RnnCacheBase& c) {
                               return py::make_tuple(c.desc.T, c.desc.N, c.desc.I, c.desc.H);
                             },
                             "(T, N, I, H) of the forward.")
      .def("__repr__", [](const RnnCacheBase& c) {
        return "<RnnCache " + c.mode + " T=" + std::to_string(c.desc.T) + " N=" +
               std::to_string(c.desc.N) + " I=" + std::to_string(c.desc.I) + " H=" +
               std::to_string(c.desc.H) + (c.consumed ? " consumed>" : ">");
      });

  py::class_<PackedRnnPy>(m, "RnnPacked",
                          "See seqcore.rnn.PackedRNN: a layer's weights packed once.")
      .def(py::init<const std::string&, py::handle, py::handle, py::handle, py::handle, bool>(),
           py::arg("mode"), py::arg("w_ih"), py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"),
           py::arg("linear_before_reset"))
      .def("forward", &PackedRnnPy::forward, py::arg("x"), py::arg("h0"), py::arg("c0"),
           "Inference forward: (y, h_n, c_n or None, None).")
      .def("__repr__", &PackedRnnPy::repr);
  m.def("rnn_forward", &rnn_forward_py, py::arg("mode"), py::arg("x"), py::arg("w_ih"),
        py::arg("w_hh"), py::arg("b_ih"), py::arg("b_hh"), py::arg("h0"), py::arg("c0"),
        py::arg("lengths"), py::arg("training"), py::arg("reverse"),
        py::arg("linear_before_reset"),
        "Recurrent layer forward; see seqcore.rnn. Returns (y, h_n, c_n or None, cache or None).");
  m.def("rnn_backward", &rnn_backward_py, py::arg("cache"), py::arg("family"), py::arg("dy"),
        py::arg("dh_n"), py::arg("dc_n"), py::arg("retain_cache"),
        "Recurrent layer BPTT; see seqcore.rnn. Returns (dx, dh0, dc0 or None, dw_ih, dw_hh, "
        "db_ih or None, db_hh or None).");
}

}  // namespace seqcore

// Bindings for conv.h: conv1d and batch normalisation over time (driven by seqcore.conv).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "numpy_glue.h"
#include "seqcore/conv.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// The geometry of x [N, Ci, L] (or [N, L, Ci]) and weight [Co, Ci, Kw].
Conv1dShape conv_shape(const py::array& x, const py::array& w, int64_t stride, int64_t padding,
                       int64_t dilation, bool channels_last) {
  const char* x_legend = channels_last ? "[N, L, Ci]" : "[N, Ci, L]";
  if (x.ndim() != 3)
    throw std::invalid_argument(std::string("x: expected a 3-D array ") + x_legend +
                                ", got shape " + shape_str(shape_of(x)));
  if (w.ndim() != 3)
    throw std::invalid_argument("weight: expected a 3-D array [Co, Ci, Kw], got shape " +
                                shape_str(shape_of(w)));
  Conv1dShape s;
  s.N = x.shape(0);
  s.Ci = channels_last ? x.shape(2) : x.shape(1);
  s.L = channels_last ? x.shape(1) : x.shape(2);
  s.Co = w.shape(0), s.Kw = w.shape(2);
  if (w.shape(1) != s.Ci)
    throw std::invalid_argument("weight: expected shape [Co, Ci, Kw] with Ci = " +
                                std::to_string(s.Ci) + " (the channels of x), got " +
                                shape_str(shape_of(w)));
  s.stride = stride, s.padding = padding, s.dilation = dilation;
  s.channels_last = channels_last;
  return s;
}

std::vector<int64_t> out_shape(const Conv1dShape& s) {
  return s.channels_last ? std::vector<int64_t>{s.N, s.out_len(), s.Co}
                         : std::vector<int64_t>{s.N, s.Co, s.out_len()};
}

template <typename T>
py::array_t<T> conv_forward_typed(const py::array& x_a, const py::array& w_a, py::handle bias,
                                  const Conv1dShape& s, Activation act) {
  conv1d_check(s);
  auto x = floats<T>(x_a, "x", shape_of(x_a), "");
  auto w = floats<T>(w_a, "weight", shape_of(w_a), "[Co, Ci, Kw]", "x");
  auto b = optional_floats<T>(bias, "bias", {s.Co}, "[Co]", "x");
  py::array_t<T> y(out_shape(s));
  {
    py::gil_scoped_release release;
    conv1d_forward<T>(s, x.data(), w.data(), data_or_null(b), act, y.mutable_data());
  }
  return y;
}

template <typename T>
py::tuple conv_backward_typed(const py::array& x_a, const py::array& w_a, py::handle dy_o,
                              const Conv1dShape& s, bool need_dx, bool need_dbias) {
  conv1d_check(s);
  auto x = floats<T>(x_a, "x", shape_of(x_a), "");
  auto w = floats<T>(w_a, "weight", shape_of(w_a), "[Co, Ci, Kw]", "x");
  auto dy = floats<T>(dy_o, "dy", out_shape(s), s.channels_last ? "[N, Lo, Co]" : "[N, Co, Lo]");
  Opt<T> dx, db;
  if (need_dx) dx = py::array_t<T>(shape_of(x_a));
  if (need_dbias) db = py::array_t<T>({s.Co});
  py::array_t<T> dw(shape_of(w_a));
  {
    py::gil_scoped_release release;
    conv1d_backward<T>(s, x.data(), w.data(), dy.data(), mutable_or_null(dx), dw.mutable_data(),
                       mutable_or_null(db));
  }
  return py::make_tuple(object_or_none(dx), dw, object_or_none(db));
}

template <typename T>
py::tuple bn_forward_typed(const py::array& x_a, py::handle weight, py::handle bias, double eps,
                           bool relu) {
  const auto [M, C] = rows_cols(x_a, "x", "[M, C]");
  auto x = floats<T>(x_a, "x", {M, C}, "[M, C]");
  auto g = optional_floats<T>(weight, "weight", {C}, "[C]", "x");
  auto b = optional_floats<T>(bias, "bias", {C}, "[C]", "x");
  py::array_t<T> y({M, C}), mean({C}), var({C}), rstd({C});
  {
    py::gil_scoped_release release;
    batch_norm_forward<T>(M, C, x.data(), data_or_null(g), data_or_null(b), eps, relu,
                          y.mutable_data(), mean.mutable_data(), var.mutable_data(),
                          rstd.mutable_data());
  }
  return py::make_tuple(y, mean, var, rstd);
}

template <typename T>
py::tuple bn_backward_typed(const py::array& x_a, py::handle weight, py::handle bias,
                            py::handle mean_o, py::handle rstd_o, bool relu, py::handle dy_o,
                            bool need_dweight, bool need_dbias) {
  const auto [M, C] = rows_cols(x_a, "x", "[M, C]");
  auto x = floats<T>(x_a, "x", {M, C}, "[M, C]");
  auto g = optional_floats<T>(weight, "weight", {C}, "[C]", "x");
  auto b = optional_floats<T>(bias, "bias", {C}, "[C]", "x");
  auto mean = floats<T>(mean_o, "mean", {C}, "[C]", "x");
  auto rstd = floats<T>(rstd_o, "rstd", {C}, "[C]", "x");
  auto dy = floats<T>(dy_o, "dy", {M, C}, "[M, C]", "x");
  py::array_t<T> dx({M, C});
  Opt<T> dg, db;
  if (need_dweight) dg = py::array_t<T>({C});
  if (need_dbias) db = py::array_t<T>({C});
  {
    py::gil_scoped_release release;
    batch_norm_backward<T>(M, C, x.data(), data_or_null(g), data_or_null(b), mean.data(),
                           rstd.data(), relu, dy.data(), dx.mutable_data(), mutable_or_null(dg),
                           mutable_or_null(db));
  }
  return py::make_tuple(dx, object_or_none(dg), object_or_none(db));
}

// Conv1dPacked of either dtype behind one Python class; the layout is fixed at construction.
class PackedConv {
 public:
  PackedConv(py::handle w_o, py::handle bias, int64_t stride, int64_t padding, int64_t dilation,
             bool channels_last, const std::string& activation)
      : channels_last_(channels_last) {
    py::array w = as_array(w_o, "weight");
    if (w.ndim() != 3)
      throw std::invalid_argument("weight: expected a 3-D array [Co, Ci, Kw], got shape " +
                                  shape_str(shape_of(w)));
    const Activation act = activation_of(activation);
    Conv1dShape s;
    s.Co = w.shape(0), s.Ci = w.shape(1), s.Kw = w.shape(2);
    s.stride = stride, s.padding = padding, s.dilation = dilation;
    s.channels_last = channels_last;
    if (float_kind(w, "weight") == 's')
      impl_.emplace<1>(make<float>(w, bias, s, act));
    else
      impl_.emplace<2>(make<double>(w, bias, s, act));
  }

  py::array forward(py::handle x_o) const {
    py::array x = as_array(x_o, "x");
    if (impl_.index() == 1) return apply(std::get<1>(impl_), x);
    return apply(std::get<2>(impl_), x);
  }

  std::string repr() const {
    const Conv1dShape& g = impl_.index() == 1 ? std::get<1>(impl_)->geometry()
                                              : std::get<2>(impl_)->geometry();
    return "<Conv1dPacked Co=" + std::to_string(g.Co) + " Ci=" + std::to_string(g.Ci) +
           " Kw=" + std::to_string(g.Kw) + (impl_.index() == 1 ? " float32>" : " float64>");
  }

 private:
  template <typename T>
  static std::unique_ptr<Conv1dPacked<T>> make(const py::array& w_a, py::handle bias,
                                               const Conv1dShape& s, Activation act) {
    check(s.Co >= 1 && s.Ci >= 1 && s.Kw >= 1,
          "weight: expected shape [Co, Ci, Kw] with Co, Ci, Kw >= 1, got " +
              shape_str(shape_of(w_a)));
    auto w = floats<T>(w_a, "weight", shape_of(w_a), "[Co, Ci, Kw]");
    auto b = optional_floats<T>(bias, "bias", {s.Co}, "[Co]", "weight");
    return std::make_unique<Conv1dPacked<T>>(s, w.data(), data_or_null(b), act);
  }

  template <typename T>
  py::array apply(const std::unique_ptr<Conv1dPacked<T>>& layer, const py::array& x_a) const {
    const Conv1dShape& g = layer->geometry();
    const char* legend = channels_last_ ? "[N, L, Ci]" : "[N, Ci, L]";
    if (x_a.ndim() != 3)
      throw std::invalid_argument(std::string("x: expected a 3-D array ") + legend +
                                  ", got shape " + shape_str(shape_of(x_a)));
    Conv1dShape s = g;
    s.N = x_a.shape(0);
    s.Ci = channels_last_ ? x_a.shape(2) : x_a.shape(1);
    s.L = channels_last_ ? x_a.shape(1) : x_a.shape(2);
    auto x = floats<T>(x_a, "x", shape_of(x_a), legend, "weight");
    conv1d_check(s);
    py::array_t<T> y(out_shape(s));
    {
      py::gil_scoped_release release;
      layer->forward(s, x.data(), y.mutable_data());
    }
    return y;
  }

  bool channels_last_;
  std::variant<std::monostate, std::unique_ptr<Conv1dPacked<float>>,
               std::unique_ptr<Conv1dPacked<double>>>
      impl_;
};

}  // namespace

void register_conv(py::module_& m) {
  py::class_<PackedConv>(m, "Conv1dPacked",
                         "See seqcore.PackedConv1d: conv1d_forward with the weight packed once.")
      .def(py::init<py::handle, py::handle, int64_t, int64_t, int64_t, bool, const std::string&>(),
           py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
           py::arg("dilation"), py::arg("channels_last"), py::arg("activation"))
      .def("__call__", &PackedConv::forward, py::arg("x"))
      .def("__repr__", &PackedConv::repr);
  m.def(
      "conv1d_forward",
      [](py::handle x_o, py::handle w_o, py::handle bias, int64_t stride, int64_t padding,
         int64_t dilation, bool channels_last, const std::string& activation) {
        py::array x = as_array(x_o, "x");
        py::array w = as_array(w_o, "weight");
        const Activation act = activation_of(activation);
        const Conv1dShape s = conv_shape(x, w, stride, padding, dilation, channels_last);
        if (float_kind(x, "x") == 's') return py::object(conv_forward_typed<float>(x, w, bias, s, act));
        return py::object(conv_forward_typed<double>(x, w, bias, s, act));
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("channels_last"), py::arg("activation"),
      "See seqcore.conv1d_forward. x: [N, Ci, L] ([N, L, Ci] channels_last), weight:\n"
      "[Co, Ci, Kw], bias: [Co] or None. Returns y [N, Co, Lo] ([N, Lo, Co]).");
  m.def(
      "conv1d_backward",
      [](py::handle x_o, py::handle w_o, py::handle dy, int64_t stride, int64_t padding,
         int64_t dilation, bool channels_last, bool need_dx, bool need_dbias) {
        py::array x = as_array(x_o, "x");
        py::array w = as_array(w_o, "weight");
        const Conv1dShape s = conv_shape(x, w, stride, padding, dilation, channels_last);
        if (float_kind(x, "x") == 's')
          return conv_backward_typed<float>(x, w, dy, s, need_dx, need_dbias);
        return conv_backward_typed<double>(x, w, dy, s, need_dx, need_dbias);
      },
      py::arg("x"), py::arg("weight"), py::arg("dy"), py::arg("stride"), py::arg("padding"),
      py::arg("dilation"), py::arg("channels_last"), py::arg("need_dx"), py::arg("need_dbias"),
      "See seqcore.conv1d_backward. dy: the gradient of the pre-activation output.\n"
      "Returns (dx or None, dweight [Co, Ci, Kw], dbias [Co] or None).");
  m.def(
      "batch_norm_forward",
      [](py::handle x_o, py::handle weight, py::handle bias, double eps, bool relu) {
        py::array x = as_array(x_o, "x");
        if (float_kind(x, "x") == 's') return bn_forward_typed<float>(x, weight, bias, eps, relu);
        return bn_forward_typed<double>(x, weight, bias, eps, relu);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("eps"), py::arg("relu"),
      "See seqcore.batch_norm_forward. x: [M, C]; weight, bias: [C] or None.\n"
      "Returns (y [M, C], mean [C], var [C] (biased), rstd [C]).");
  m.def(
      "batch_norm_backward",
      [](py::handle x_o, py::handle weight, py::handle bias, py::handle mean, py::handle rstd,
         bool relu, py::handle dy, bool need_dweight, bool need_dbias) {
        py::array x = as_array(x_o, "x");
        if (float_kind(x, "x") == 's')
          return bn_backward_typed<float>(x, weight, bias, mean, rstd, relu, dy, need_dweight,
                                          need_dbias);
        return bn_backward_typed<double>(x, weight, bias, mean, rstd, relu, dy, need_dweight,
                                         need_dbias);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("mean"), py::arg("rstd"),
      py::arg("relu"), py::arg("dy"), py::arg("need_dweight"), py::arg("need_dbias"),
      "See seqcore.batch_norm_backward. Returns (dx [M, C], dweight [C] or None,\n"
      "dbias [C] or None).");
}

}  // namespace seqcore

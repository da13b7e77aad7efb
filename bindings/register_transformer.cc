// Bindings for transformer.h: layer norm with the fused residual add, and the linear layer
// with its fused bias + activation (driven by seqcore.transformer).
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>
#include <utility>

#include "numpy_glue.h"
#include "seqcore/transformer.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

// A linear layer's weight [O, I] (O >= 1) for inputs of I features, and O.
template <typename T>
std::pair<py::array_t<T>, int64_t> linear_weight(py::handle weight_o, int64_t I) {
  py::array w_a = as_array(weight_o, "weight");
  const auto [O, I2] = rows_cols(w_a, "weight", "[O, I]");
  if (I2 != I || O < 1)
    throw std::invalid_argument("weight: expected shape [O, I] with I = " + std::to_string(I) +
                                " and O >= 1, got " + shape_str(shape_of(w_a)));
  return {floats<T>(w_a, "weight", {O, I}, "[O, I]"), O};
}

template <typename T>
py::tuple ln_forward_typed(const py::array& x_a, py::handle residual, py::handle weight,
                           py::handle bias, double eps, bool save_input) {
  const auto [M, D] = rows_cols(x_a, "x", "[M, D]");
  auto x = floats<T>(x_a, "x", {M, D}, "[M, D]");
  auto r = optional_floats<T>(residual, "residual", {M, D}, "[M, D]", "x");
  auto g = optional_floats<T>(weight, "weight", {D}, "[D]", "x");
  auto b = optional_floats<T>(bias, "bias", {D}, "[D]", "x");
  py::array_t<T> y({M, D}), mean({M}), rstd({M});
  Opt<T> s;
  if (save_input) s = py::array_t<T>({M, D});
  {
    py::gil_scoped_release release;
    layer_norm_forward<T>(M, D, x.data(), data_or_null(r), data_or_null(g), data_or_null(b),
                          eps, y.mutable_data(), mutable_or_null(s), mean.mutable_data(),
                          rstd.mutable_data());
  }
  return py::make_tuple(y, object_or_none(s), mean, rstd);
}

template <typename T>
py::tuple ln_backward_typed(const py::array& s_a, py::handle weight, py::handle mean_o,
                            py::handle rstd_o, py::handle dy_o, bool need_dweight,
                            bool need_dbias) {
  const auto [M, D] = rows_cols(s_a, "input", "[M, D]");
  auto s = floats<T>(s_a, "input", {M, D}, "[M, D]", "input");
  auto g = optional_floats<T>(weight, "weight", {D}, "[D]", "input");
  auto mean = floats<T>(mean_o, "mean", {M}, "[M]", "input");
  auto rstd = floats<T>(rstd_o, "rstd", {M}, "[M]", "input");
  auto dy = floats<T>(dy_o, "dy", {M, D}, "[M, D]", "input");
  py::array_t<T> ds({M, D});
  Opt<T> dg, db;
  if (need_dweight) dg = py::array_t<T>({D});
  if (need_dbias) db = py::array_t<T>({D});
  {
    py::gil_scoped_release release;
    layer_norm_backward<T>(M, D, s.data(), data_or_null(g), mean.data(), rstd.data(),
                           dy.data(), ds.mutable_data(), mutable_or_null(dg),
                           mutable_or_null(db));
  }
  return py::make_tuple(ds, object_or_none(dg), object_or_none(db));
}

template <typename T>
py::tuple linear_forward_typed(const py::array& x_a, py::handle weight_o, py::handle bias,
                               const std::string& activation, bool save_pre) {
  const Activation act = activation_of(activation);
  const auto [M, I] = rows_cols(x_a, "x", "[M, I]");
  auto x = floats<T>(x_a, "x", {M, I}, "[M, I]");
  const auto [w, O] = linear_weight<T>(weight_o, I);
  auto b = optional_floats<T>(bias, "bias", {O}, "[O]", "x");
  py::array_t<T> y({M, O});
  Opt<T> pre;
  if (save_pre) pre = py::array_t<T>({M, O});
  {
    py::gil_scoped_release release;
    linear_act_forward<T>(M, I, O, x.data(), w.data(), data_or_null(b), act, y.mutable_data(),
                          mutable_or_null(pre));
  }
  return py::make_tuple(y, object_or_none(pre));
}

template <typename T>
py::tuple linear_backward_typed(const py::array& x_a, py::handle weight_o,
                                const std::string& activation, py::handle z_o, py::handle dy_o,
                                bool need_dx, bool need_dbias) {
  const Activation act = activation_of(activation);
  const auto [M, I] = rows_cols(x_a, "x", "[M, I]");
  auto x = floats<T>(x_a, "x", {M, I}, "[M, I]");
  const auto [w, O] = linear_weight<T>(weight_o, I);
  auto dy = floats<T>(dy_o, "dy", {M, O}, "[M, O]");
  Opt<T> z;
  if (act != Activation::kNone) z = floats<T>(z_o, "z", {M, O}, "[M, O]");
  Opt<T> dx, db;
  if (need_dx) dx = py::array_t<T>({M, I});
  if (need_dbias) db = py::array_t<T>({O});
  py::array_t<T> dw({O, I});
  {
    py::gil_scoped_release release;
    linear_act_backward<T>(M, I, O, x.data(), w.data(), act, data_or_null(z), dy.data(),
                           mutable_or_null(dx), dw.mutable_data(), mutable_or_null(db));
  }
  return py::make_tuple(object_or_none(dx), dw, object_or_none(db));
}

}  // namespace

void register_transformer(py::module_& m) {
  m.def(
      "layer_norm_forward",
      [](py::handle x_o, py::handle residual, py::handle weight, py::handle bias, double eps,
         bool save_input) {
        py::array x = as_array(x_o, "x");
        if (float_kind(x, "x") == 's')
          return ln_forward_typed<float>(x, residual, weight, bias, eps, save_input);
        return ln_forward_typed<double>(x, residual, weight, bias, eps, save_input);
      },
      py::arg("x"), py::arg("residual"), py::arg("weight"), py::arg("bias"), py::arg("eps"),
      py::arg("save_input"),
      "See seqcore.layer_norm_forward. x, residual: [M, D]; weight, bias: [D] or None.\n"
      "Returns (y [M, D], x + residual [M, D] or None, mean [M], rstd [M]).");
  m.def(
      "layer_norm_backward",
      [](py::handle s_o, py::handle weight, py::handle mean, py::handle rstd, py::handle dy,
         bool need_dweight, bool need_dbias) {
        py::array s = as_array(s_o, "input");
        if (float_kind(s, "input") == 's')
          return ln_backward_typed<float>(s, weight, mean, rstd, dy, need_dweight, need_dbias);
        return ln_backward_typed<double>(s, weight, mean, rstd, dy, need_dweight, need_dbias);
      },
      py::arg("input"), py::arg("weight"), py::arg("mean"), py::arg("rstd"), py::arg("dy"),
      py::arg("need_dweight"), py::arg("need_dbias"),
      "See seqcore.layer_norm_backward. Returns (dinput [M, D], dweight [D] or None,\n"
      "dbias [D] or None).");
  m.def(
      "linear_forward",
      [](py::handle x_o, py::handle weight, py::handle bias, const std::string& activation,
         bool save_pre) {
        py::array x = as_array(x_o, "x");
        if (float_kind(x, "x") == 's')
          return linear_forward_typed<float>(x, weight, bias, activation, save_pre);
        return linear_forward_typed<double>(x, weight, bias, activation, save_pre);
      },
      py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("activation"),
      py::arg("save_pre"),
      "See seqcore.linear_forward. x: [M, I], weight: [O, I], bias: [O] or None.\n"
      "Returns (y [M, O], x W^T + b [M, O] or None).");
  m.def(
      "linear_backward",
      [](py::handle x_o, py::handle weight, const std::string& activation, py::handle z,
         py::handle dy, bool need_dx, bool need_dbias) {
        py::array x = as_array(x_o, "x");
        if (float_kind(x, "x") == 's')
          return linear_backward_typed<float>(x, weight, activation, z, dy, need_dx, need_dbias);
        return linear_backward_typed<double>(x, weight, activation, z, dy, need_dx, need_dbias);
      },
      py::arg("x"), py::arg("weight"), py::arg("activation"), py::arg("z"), py::arg("dy"),
      py::arg("need_dx"), py::arg("need_dbias"),
      "See seqcore.linear_backward. z: the pre-activation (or the output for relu) [M, O].\n"
      "Returns (dx [M, I] or None, dweight [O, I], dbias [O] or None).");
}

}  // namespace seqcore

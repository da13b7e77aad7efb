// NumPy boundary helpers: inputs are checked and converted once (C-contiguous, exact dtype);
// kernels then see raw pointers. Wrong dtype -> TypeError, wrong shape -> ValueError, both
// naming the argument.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "seqcore/common.h"
#include "seqcore/output_layers.h"  // SparseRows

namespace seqcore::py_glue {

namespace py = pybind11;

// NPY_ARRAY_ALIGNED: with it, ensure() copies an array whose data is not aligned to its
// element size (a legal byte-offset view), so no kernel ever loads a misaligned T.
constexpr int kAligned = 0x0100;

// The array form every kernel input is converted to: C-contiguous, aligned, dtype T.
template <typename T, int Extra = 0>
using carray = py::array_t<T, py::array::c_style | kAligned | Extra>;

// In-place arguments (updated by the kernel, so never copied): C-contiguous, aligned,
// writeable, exactly dtype T.
template <typename T>
bool is_inplace(const py::array& a) {
  return py::isinstance<py::array_t<T>>(a) && (a.flags() & py::array::c_style) &&
         (a.flags() & kAligned) && a.writeable();
}

inline std::vector<int64_t> shape_of(const py::array& a) {
  return std::vector<int64_t>(a.shape(), a.shape() + a.ndim());
}

inline std::string dtype_name(const py::array& a) {
  return py::str(a.dtype()).cast<std::string>();
}

// np.asarray(obj) without a dtype change; TypeError naming the argument if impossible.
inline py::array as_array(py::handle obj, const char* name) {
  py::array a = py::array::ensure(obj);
  if (!a) {
    PyErr_Clear();
    throw py::type_error(std::string(name) + ": expected a numpy array");
  }
  return a;
}

// The floating dtype of the primary input ("x"): float32 or float64.
inline char float_kind(const py::array& a, const char* name) {
  if (a.dtype().kind() == 'f' && (a.itemsize() == 4 || a.itemsize() == 8))
    return a.itemsize() == 4 ? 's' : 'd';
  throw py::type_error(std::string(name) + ": expected dtype float32 or float64, got " +
                       dtype_name(a));
}

inline void check_shape(const py::array& a, const char* name,
                        const std::vector<int64_t>& expected, const char* legend) {
  if (shape_of(a) != expected)
    throw std::invalid_argument(std::string(name) + ": expected shape " + legend + " = " +
                                shape_str(expected) + ", got " + shape_str(shape_of(a)));
}

// A floating array of exactly dtype T (TypeError otherwise), C-contiguous, of the given
// shape (ValueError otherwise). None -> empty array when optional.
template <typename T>
py::array_t<T> floats(py::handle obj, const char* name, const std::vector<int64_t>& shape,
                      const char* legend, const char* x_name = "x") {
  py::array a = as_array(obj, name);
  if (!py::isinstance<py::array_t<T>>(a) || a.dtype().kind() != 'f')
    throw py::type_error(std::string(name) + ": dtype " + dtype_name(a) + " does not match " +
                         x_name + " (" + py::str(py::dtype::of<T>()).cast<std::string>() + ")");
  check_shape(a, name, shape, legend);
  return carray<T>::ensure(a);
}

// Optional arguments: std::nullopt stands for None.
template <typename T>
using Opt = std::optional<py::array_t<T>>;

template <typename T>
const T* data_or_null(const Opt<T>& a) {
  return a ? a->data() : nullptr;
}
template <typename T>
T* mutable_or_null(Opt<T>& a) {
  return a ? a->mutable_data() : nullptr;
}
template <typename T>
py::object object_or_none(const Opt<T>& a) {
  return a ? py::object(*a) : py::object(py::none());
}

// floats(), or std::nullopt for None.
template <typename T>
Opt<T> optional_floats(py::handle obj, const char* name, const std::vector<int64_t>& shape,
                       const char* legend, const char* x_name) {
  if (obj.is_none()) return std::nullopt;
  return floats<T>(obj, name, shape, legend, x_name);
}

// The two sizes of a 2-D array (ValueError naming it otherwise).
inline std::pair<int64_t, int64_t> rows_cols(const py::array& a, const char* name, const char* legend) {
  if (a.ndim() != 2)
    throw std::invalid_argument(std::string(name) + ": expected a 2-D array " + legend +
                                ", got shape " + shape_str(shape_of(a)));
  return {a.shape(0), a.shape(1)};
}

// Integer index array (any integer dtype) of the given shape, as int64.
inline py::array_t<int64_t> indices(py::handle obj, const char* name,
                                    const std::vector<int64_t>& shape, const char* legend) {
  py::array a = as_array(obj, name);
  const char kind = a.dtype().kind();
  if (kind != 'i' && kind != 'u')
    throw py::type_error(std::string(name) + ": expected an integer array (int32 or int64), got " +
                         dtype_name(a));
  check_shape(a, name, shape, legend);
  return carray<int64_t, py::array::forcecast>::ensure(a);
}

// Ctrl-C during a long kernel: token's poll re-takes the GIL and runs Python's signal
// handlers, so the kernel stops with KeyboardInterrupt pending; after the kernel returns
// (GIL held again), raise_if_stopped() raises it.
class PythonStop {
 public:
  StopToken token{&poll, nullptr};
  void raise_if_stopped() const {
    if (token.stopped()) throw py::error_already_set();
  }

 private:
  static bool poll(void*) {
    py::gil_scoped_acquire gil;
    return PyErr_CheckSignals() != 0;
  }
};

// rows [R] and grads [R, D] as NumPy arrays; the gradient buffer is handed over, not copied
// (R*D values: up to N*(K+1)*D for negative sampling, n*D for an embedding).
template <typename T>
py::tuple sparse_result(SparseRows<T>& s, int64_t D) {
  const int64_t R = static_cast<int64_t>(s.rows.size());
  py::array_t<int64_t> rows({R});
  if (R) std::memcpy(rows.mutable_data(), s.rows.data(), sizeof(int64_t) * R);
  if (R == 0) return py::make_tuple(rows, py::array_t<T>({R, D}));
  auto* buf = new Buffer<T>(std::move(s.grads));
  py::capsule owner(buf, [](void* p) { delete static_cast<Buffer<T>*>(p); });
  return py::make_tuple(rows, py::array_t<T>({R, D}, buf->data(), owner));
}

// The activation named by a kernel's `activation` argument.
inline Activation activation_of(const std::string& name) {
  if (name == "none") return Activation::kNone;
  if (name == "relu") return Activation::kReLU;
  if (name == "gelu") return Activation::kGELU;
  if (name == "gelu_tanh") return Activation::kGELUTanh;
  throw std::invalid_argument("activation: expected one of none, relu, gelu, gelu_tanh, got '" +
                              name + "'");
}

// state.advance(scores, rows, cols) with scores [rows, cols] as float32 or float64 (the
// array's own kind; a beam state machine's step), the GIL released.
template <typename State>
void advance_floats(State& state, py::handle obj, const char* name, const char* legend) {
  py::array a = as_array(obj, name);
  rows_cols(a, name, legend);
  auto run = [&](auto typed) {
    const int64_t rows = a.shape(0), cols = a.shape(1);
    py::gil_scoped_release release;
    state.advance(typed.data(), rows, cols);
  };
  if (float_kind(a, name) == 's')
    run(carray<float>::ensure(a));
  else
    run(carray<double>::ensure(a));
}

// A new 1-D array holding a copy of v (results of kernels that return std::vectors).
template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v) {
  py::array_t<T> a(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), a.mutable_data());
  return a;
}

}  // namespace seqcore::py_glue

// Bindings for gemm.h: the shared blocked GEMM (tests, `seqcore bench`'s roofline) and the
// FMA peak.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <optional>
#include <string>

#include "numpy_glue.h"
#include "seqcore/gemm.h"

namespace py = pybind11;

namespace seqcore {
namespace {

using namespace py_glue;

template <typename T>
py::array_t<T> gemm_typed(const py::array& a_in, py::handle b_obj, bool transpose_a,
                          bool transpose_b, py::handle out_obj) {
  if (a_in.ndim() != 2)
    throw std::invalid_argument("a: expected a 2-D array, got shape " + shape_str(shape_of(a_in)));
  auto a = floats<T>(a_in, "a", shape_of(a_in), "[M, K]", "a");
  const int64_t M = transpose_a ? a_in.shape(1) : a_in.shape(0);
  const int64_t K = transpose_a ? a_in.shape(0) : a_in.shape(1);
  py::array b_arr = as_array(b_obj, "b");
  if (b_arr.ndim() != 2)
    throw std::invalid_argument("b: expected a 2-D array, got shape " + shape_str(shape_of(b_arr)));
  const int64_t N = transpose_b ? b_arr.shape(0) : b_arr.shape(1);
  auto b = floats<T>(b_arr, "b", transpose_b ? std::vector<int64_t>{N, K}
                                             : std::vector<int64_t>{K, N},
                     transpose_b ? "[N, K]" : "[K, N]", "a");
  py::array_t<T> c;
  const bool accumulate = !out_obj.is_none();
  if (accumulate) {
    py::array o = as_array(out_obj, "out");
    if (!py::isinstance<py::array_t<T>>(o) || o.dtype().kind() != 'f')
      throw py::type_error("out: dtype " + dtype_name(o) + " does not match a");
    check_shape(o, "out", {M, N}, "[M, N]");
    if (!is_inplace<T>(o))
      throw std::invalid_argument("out: expected a writeable, aligned, C-contiguous array");
    c = py::reinterpret_borrow<py::array_t<T>>(o);
  } else {
    c = py::array_t<T>({M, N});
  }
  const T* ap = a.data();
  const T* bp = b.data();
  T* cp = c.mutable_data();
  {
    py::gil_scoped_release release;
    gemm<T>(M, N, K, ap, transpose_a, bp, transpose_b, cp, accumulate);
  }
  return c;
}

}  // namespace

void register_gemm(py::module_& m) {
  m.def(
      "gemm",
      [](py::handle a_obj, py::handle b, bool transpose_a, bool transpose_b, py::handle out) {
        py::array a = as_array(a_obj, "a");
        if (float_kind(a, "a") == 's')
          return py::object(gemm_typed<float>(a, b, transpose_a, transpose_b, out));
        return py::object(gemm_typed<double>(a, b, transpose_a, transpose_b, out));
      },
      py::arg("a"), py::arg("b"), py::arg("transpose_a") = false, py::arg("transpose_b") = false,
      py::arg("out") = py::none(),
      "op(a) @ op(b) with seqcore's blocked GEMM (the micro-kernel family every recurrent and\n"
      "attention kernel uses). a: [M, K] ([K, M] if transpose_a), b: [K, N] ([N, K] if\n"
      "transpose_b), float32 or float64 (b of a's dtype). With out ([M, N], C-contiguous)\n"
      "the product is added to out in place and out is returned; else a new [M, N] array.\n"
      "Bit-identical for every thread count. Raises TypeError (dtype) and ValueError (shape).");
  m.def(
      "fma_peak_gflops",
      [](int threads, double seconds) {
        py::gil_scoped_release release;
        return fma_peak_gflops(threads, seconds);
      },
      py::arg("threads"), py::arg("seconds") = 0.2,
      "float32 FMA roof of this machine in GFLOP/s: `threads` threads each running\n"
      "independent FMA chains in registers (widest vectors of this build) for about\n"
      "`seconds`. Raises ValueError unless threads >= 1 and 0 < seconds <= 10.");
}

}  // namespace seqcore

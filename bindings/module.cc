// The _core extension: one register_<family>() per header.
#include <omp.h>
#include <Eigen/Core>
#include <pybind11/pybind11.h>

#include "seqcore/common.h"

namespace py = pybind11;

namespace seqcore {
void register_rnn(py::module_& m);
void register_beam_search(py::module_& m);
void register_embeddings(py::module_& m);
void register_ctc(py::module_& m);
void register_seq2seq(py::module_& m);
void register_attention(py::module_& m);
void register_output_layers(py::module_& m);
void register_word2vec(py::module_& m);
void register_gemm(py::module_& m);
void register_transformer(py::module_& m);
void register_conv(py::module_& m);
void register_parsing(py::module_& m);
}

// The portable x86-64 build compiles this module twice (_core: x86-64-v3, _core_avx512:
// x86-64-v4); CMake names each (seqcore/_isa.py imports one).
#ifndef SEQCORE_MODULE_NAME
#define SEQCORE_MODULE_NAME _core
#endif

PYBIND11_MODULE(SEQCORE_MODULE_NAME, m) {
  m.doc() = "seqcore C++ kernels (Eigen + OpenMP). Use the seqcore package, not this module.";

  m.def("set_num_threads", &seqcore::set_num_threads, py::arg("n"),
        "Set the number of OpenMP threads used by every seqcore kernel (n >= 1).\n\n"
        "Raises ValueError if n < 1. Results are bit-identical for every thread count.");
  m.def("_set_thread_share", &seqcore::set_thread_share, py::arg("n"),
        "Thread count of the kernels called from the calling Python thread (0: back to\n"
        "set_num_threads's). For seqcore's own side-by-side runs (seqcore._parallel).");
  m.def("get_num_threads", &seqcore::get_num_threads,
        "Number of threads seqcore kernels use (default: OpenMP's, i.e. OMP_NUM_THREADS or "
        "the number of cores).");
  m.def(
      "build_info",
      []() {
        py::dict info;
        info["compiler"] = SEQCORE_COMPILER;
        info["simd"] = seqcore::simd_level();
        info["native"] = bool(SEQCORE_NATIVE_BUILD);
        info["openmp"] = py::str(std::to_string(_OPENMP));
        info["max_threads"] = omp_get_max_threads();
        info["eigen"] = std::to_string(EIGEN_WORLD_VERSION) + "." +
                        std::to_string(EIGEN_MAJOR_VERSION) + "." +
                        std::to_string(EIGEN_MINOR_VERSION);
        info["cuda"] = seqcore::cuda_enabled();
        info["cuda_devices"] = seqcore::cuda_device_count();
        return info;
      },
      "Facts about this build: compiler, SIMD level, whether it was tuned for the build "
      "machine (native), OpenMP version, Eigen version, CUDA on/off and visible devices.");

  seqcore::register_rnn(m);
  seqcore::register_beam_search(m);
  seqcore::register_embeddings(m);
  seqcore::register_ctc(m);
  seqcore::register_seq2seq(m);
  seqcore::register_attention(m);
  seqcore::register_output_layers(m);
  seqcore::register_word2vec(m);
  seqcore::register_gemm(m);
  seqcore::register_transformer(m);
  seqcore::register_conv(m);
  seqcore::register_parsing(m);
}

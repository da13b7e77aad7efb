// Validation and dispatch for gemm.h.
#include "seqcore/gemm.h"

#include <stdexcept>
#include <string>

#include "cpu/gemm.h"
#include "seqcore/common.h"

namespace seqcore {

template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, bool a_transposed, const T* b,
          bool b_transposed, T* c, bool accumulate) {
  if (M < 0 || N < 0 || K < 0)
    throw std::invalid_argument("gemm: sizes must be >= 0, got M=" + std::to_string(M) +
                                " N=" + std::to_string(N) + " K=" + std::to_string(K));
  if (M == 0 || N == 0) return;
  const int64_t ars = a_transposed ? 1 : K, aks = a_transposed ? M : 1;
  cpu::blocked_gemm<T>(M, N, K, a, ars, aks, b, b_transposed ? K : N, b_transposed, c, N,
                       accumulate, nullptr, get_num_threads());
}

double fma_peak_gflops(int threads, double seconds) {
  if (threads < 1) throw std::invalid_argument("threads: expected >= 1, got " + std::to_string(threads));
  if (!(seconds > 0 && seconds <= 10))
    throw std::invalid_argument("seconds: expected 0 < seconds <= 10, got " + std::to_string(seconds));
  return cpu::fma_peak_cpu(threads, seconds);
}

template void gemm<float>(int64_t, int64_t, int64_t, const float*, bool, const float*, bool,
                          float*, bool);
template void gemm<double>(int64_t, int64_t, int64_t, const double*, bool, const double*, bool,
                           double*, bool);

}  // namespace seqcore

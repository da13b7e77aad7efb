// y = x W^T + b with W packed once into SIMD panels and applied many times.
//
// A decoder step multiplies a handful of rows (the live hypotheses) by the same weights at
// every step. Packed once per search, the panels turn each product into gemm.h's
// register-blocked tile (one broadcast of x per k, no horizontal reductions), where a dot
// product per output would reload x and reduce every accumulator.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "gemm.h"
#include "seqcore/common.h"

namespace seqcore::cpu {

template <typename T>
class PackedLinear {
  using PG = Gemm<T>;

 public:
  // w: [O, K] row-major (PyTorch's Linear layout), rows `ld` apart; b: [O] or nullptr.
  void pack(const T* w, int64_t O, int64_t K, int64_t ld, const T* b) {
    O_ = O, K_ = K, b_ = b;
    panels_.resize(static_cast<size_t>(PG::pad_nr(O) * K));
    PG::pack_t(w, ld, O, K, T(1), panels_.data());
  }
  int64_t out_features() const { return O_; }

  // y[m, :O] = x[m, :K] . W^T (+ b) for m < M (x rows ldx apart, y rows ldy apart). The
  // panels are split over up to `threads` threads (one OpenMP region); each output is
  // summed in the same order for any split, so results do not depend on the thread count.
  void apply(int64_t M, const T* x, int64_t ldx, T* y, int64_t ldy, int threads) const {
    const int64_t np = PG::pad_nr(O_) / PG::NR;
    const int nt = omp_in_parallel() ? 1 : std::max(1, std::min<int>(threads, int(np)));
#pragma omp parallel num_threads(nt) if (nt > 1)
    {
      DenormalsFlushed ftz;
      const int tid = omp_get_thread_num(), nthr = omp_get_num_threads();
      const int64_t q0 = np * tid / nthr, q1 = np * (tid + 1) / nthr;
      const int64_t c0 = q0 * PG::NR, c1 = std::min(O_, q1 * PG::NR);
      if (c1 > c0)
        PG::run(M, c1 - c0, K_, x, ldx, 1, panels_.data() + q0 * K_ * PG::NR, K_ * PG::NR,
                y + c0, ldy);
      if (b_) {
        for (int64_t m = 0; m < M && c1 > c0; ++m)
          for (int64_t c = c0; c < c1; ++c) y[m * ldy + c] += b_[c];
      }
    }
  }

 private:
  Buffer<T> panels_;
  int64_t O_ = 0, K_ = 0;
  const T* b_ = nullptr;
};

}  // namespace seqcore::cpu

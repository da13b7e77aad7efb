// seqcore: the shared GEMM and the machine's roof.
//
// gemm exposes the cache-blocked product built on the one micro-kernel family
// (cpu/gemm.h) that every recurrent, attention and decoder kernel uses, so that it can be
// checked against a float64 reference at edge sizes and timed by `seqcore bench` as the
// best GEMM rate seqcore reaches. fma_peak_gflops measures the machine's float32 FMA roof.
#pragma once

#include <cstdint>

namespace seqcore {

// c[M, N] (+)= op(a) op(b) on the library's threads.
//   a: [M, K] row-major, or [K, M] when a_transposed (op(a) = a^T, read in place);
//   b: [K, N] row-major, or [N, K] when b_transposed;
//   accumulate: c += product (else c = product).
// Each element is one fixed-order reduction: bit-identical for every thread count.
// Throws std::invalid_argument on negative sizes.
template <typename T>
void gemm(int64_t M, int64_t N, int64_t K, const T* a, bool a_transposed, const T* b,
          bool b_transposed, T* c, bool accumulate);

// float32 FMA throughput of `threads` threads running a register-only loop of independent
// fused multiply-adds (widest vectors of this build) for about `seconds`: the roof no
// float32 kernel can pass. Returns GFLOP/s (2 flops per FMA lane). Throws
// std::invalid_argument unless threads >= 1 and 0 < seconds <= 10.
double fma_peak_gflops(int threads, double seconds);

}  // namespace seqcore

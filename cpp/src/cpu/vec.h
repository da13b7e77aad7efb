// Eigen views and vector primitives shared by the CPU kernels.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <type_traits>

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace seqcore::cpu {

// Row-major matrix views with a leading dimension, and flat array views: the kernels take
// raw pointers (DESIGN.md) and look at them through these.
template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatMap = Eigen::Map<RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using CMatMap = Eigen::Map<const RowMat<T>, 0, Eigen::OuterStride<>>;
template <typename T>
using Arr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using CArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

template <typename T>
CMatMap<T> cmat(const T* p, int64_t rows, int64_t cols, int64_t ld) {
  return CMatMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}
template <typename T>
MatMap<T> mat(T* p, int64_t rows, int64_t cols, int64_t ld) {
  return MatMap<T>(p, rows, cols, Eigen::OuterStride<>(ld));
}


// s + a b with one rounding where the target has FMA (every seqcore build: x86-64-v3 and
// up), written out so that a scalar tail rounds the same in every caller: left to the
// compiler, `s += a * b` is contracted in one inlined copy and vectorised as products then
// sums in another.
template <typename T>
inline T madd(T a, T b, T s) {
#ifdef __FMA__
  return std::fma(a, b, s);
#else
  return a * b + s;
#endif
}

// out[r] = a . b[r] for K rows b[r] of n elements, each with four packet accumulators
// combined in a fixed order, then the scalar tail. A row's result depends only on n, never
// on K, the arrays' alignment (Eigen's own reductions peel to an aligned start at run time,
// so their rounding would vary with where numpy placed the buffers) nor on the thread that
// computes it. K > 1 loads each packet of a once for all rows (word2vec's Huffman path:
// K rows of syn1 against one hidden vector); K <= 3 keeps the 4K accumulators, a's packet
// and the rows' operands within AVX2's 16 registers.
template <int K, typename T>
EIGEN_ALWAYS_INLINE void dots(const T* a, const T* const* b, int64_t n, T* out) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  constexpr int64_t P = unpacket_traits<Packet>::size;
  Packet c[K][4];
  for (int r = 0; r < K; ++r)
    for (int q = 0; q < 4; ++q) c[r][q] = pset1<Packet>(T(0));
  int64_t i = 0;
  for (; i + 4 * P <= n; i += 4 * P)
    for (int q = 0; q < 4; ++q) {
      const Packet x = ploadu<Packet>(a + i + q * P);
      for (int r = 0; r < K; ++r) c[r][q] = pmadd(x, ploadu<Packet>(b[r] + i + q * P), c[r][q]);
    }
  for (; i + P <= n; i += P) {
    const Packet x = ploadu<Packet>(a + i);
    for (int r = 0; r < K; ++r) c[r][0] = pmadd(x, ploadu<Packet>(b[r] + i), c[r][0]);
  }
  for (int r = 0; r < K; ++r) out[r] = predux(padd(padd(c[r][0], c[r][1]), padd(c[r][2], c[r][3])));
  for (; i < n; ++i)
    for (int r = 0; r < K; ++r) out[r] = madd(a[i], b[r][i], out[r]);
}

// a . b over n elements: dots for one row.
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  T s;
  dots<1>(a, &b, n, &s);
  return s;
}

// Sum of a[0, n), with dot's fixed, alignment-independent order.
template <typename T>
inline T sum(const T* a, int64_t n) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  constexpr int64_t P = unpacket_traits<Packet>::size;
  Packet c0 = pset1<Packet>(T(0)), c1 = c0;
  int64_t i = 0;
  for (; i + 2 * P <= n; i += 2 * P) {
    c0 = padd(ploadu<Packet>(a + i), c0);
    c1 = padd(ploadu<Packet>(a + i + P), c1);
  }
  for (; i + P <= n; i += P) c0 = padd(ploadu<Packet>(a + i), c0);
  T s = predux(padd(c0, c1));
  for (; i < n; ++i) s += a[i];
  return s;
}

// c_0 x^n + c_1 x^(n-1) + ... + c_n by Horner's rule, one fused multiply-add a step (the
// polynomials of exp_bounded and log_positive).
template <typename P, typename... C>
inline P horner(const P& x, double c0, C... cs) {
  namespace ei = Eigen::internal;
  using Scalar = typename ei::unpacket_traits<P>::type;
  P y = ei::pset1<P>(static_cast<Scalar>(c0));
  ((y = ei::pmadd(y, x, ei::pset1<P>(static_cast<Scalar>(cs)))), ...);
  return y;
}

// True for packets of float (the kernels below have their own float versions).
template <typename P>
constexpr bool kFloatPacket =
    std::is_same_v<typename Eigen::internal::unpacket_traits<P>::type, float>;

// exp of a packet: float packets by Cephes' expf polynomial with exact 2^m scaling, within
// 2 ulp of exp for x in [-87.33, 88], exactly 0 below -87.33 (-inf included; where expf
// would be subnormal), clamped above 88 (no +inf or NaN results: callers pass scores
// already shifted by a maximum, x <= ~0). ~2.6x the rate of Eigen's pexp on AVX2, which
// also covers the subnormal and overflow ranges. Double packets: Eigen's pexp.
template <typename P>
inline P exp_bounded(const P& x) {
  namespace ei = Eigen::internal;
  if constexpr (!kFloatPacket<P>) {
    return ei::pexp(x);
  } else {
    using PI = typename ei::unpacket_traits<P>::integer_packet;
    const P lo = ei::pset1<P>(-87.33654f);
    const P xc = ei::pmin(ei::pmax(x, lo), ei::pset1<P>(88.0f));
    const P m = ei::pfloor(ei::pmadd(xc, ei::pset1<P>(1.44269504088896341f), ei::pset1<P>(0.5f)));
    P r = ei::pmadd(m, ei::pset1<P>(-0.693359375f), xc);  // x - m ln 2 in two steps
    r = ei::pmadd(m, ei::pset1<P>(2.12194440e-4f), r);
    P y = horner(r, 1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f, 4.1665795894e-2f,
                 1.6666665459e-1f, 5.0000001201e-1f);
    y = ei::pmadd(ei::pmul(y, r), r, ei::padd(r, ei::pset1<P>(1.0f)));
    const PI e = ei::plogical_shift_left<23>(ei::padd(ei::pcast<P, PI>(m), ei::pset1<PI>(127)));
    return ei::pselect(ei::pcmp_lt(x, lo), ei::pzero(x), ei::pmul(y, ei::preinterpret<P, PI>(e)));
  }
}

// log of a packet of positive, normal, finite values: float packets by Eigen's plog_float
// (Cephes' logf polynomial), the same values, without its handling of zero, negative,
// subnormal and non-finite inputs (5 compares and 5 selects: on AVX-512 each of Eigen's
// vector masks also costs conversions); double packets: Eigen's plog.
template <typename P>
inline P log_positive(const P& x) {
  namespace ei = Eigen::internal;
  if constexpr (!kFloatPacket<P>) return ei::plog(x);
  else {
    // frexp: x = m 2^e with m in [0.5, 1)
    using PI = typename ei::unpacket_traits<P>::integer_packet;
    const PI bits = ei::preinterpret<PI, P>(x);
    const P one = ei::pset1<P>(1.0f);
    P e = ei::psub(ei::pcast<PI, P>(ei::plogical_shift_right<23>(bits)), ei::pset1<P>(126.0f));
    P m = ei::por(ei::pand(x, ei::pset1frombits<P>(0x007fffffu)), ei::pset1<P>(0.5f));
    // m in [sqrt(1/2), sqrt(2)), shifted by -1
    const P small = ei::pcmp_lt(m, ei::pset1<P>(0.707106781186547524f));
    const P tmp = ei::pand(m, small);
    m = ei::psub(m, one);
    e = ei::psub(e, ei::pand(one, small));
    m = ei::padd(m, tmp);
    const P m2 = ei::pmul(m, m), m3 = ei::pmul(m2, m);
    // the degree-8 polynomial in three parts of three terms (Eigen's order of operations)
    P y = horner(m, 7.0376836292E-2f, -1.1514610310E-1f, 1.1676998740E-1f);
    const P y1 = horner(m, -1.2420140846E-1f, 1.4249322787E-1f, -1.6668057665E-1f);
    const P y2 = horner(m, 2.0000714765E-1f, -2.4999993993E-1f, 3.3333331174E-1f);
    y = ei::pmadd(y, m3, y1);
    y = ei::pmadd(y, m3, y2);
    y = ei::pmul(y, m3);
    y = ei::pmadd(ei::pset1<P>(-0.5f), m2, y);
    return ei::pmadd(e, ei::pset1<P>(0.693147180559945309f), ei::padd(m, y));
  }
}

// Non-temporal (streaming) store of a packet to a 64-byte aligned address: a write-once
// output much larger than the caches skips the read-for-ownership of every line.
// stream_fence() orders such stores before later ones (before another thread reads them).
#if defined(__AVX512F__)
inline void stream(float* p, __m512 v) { _mm512_stream_ps(p, v); }
inline void stream(double* p, __m512d v) { _mm512_stream_pd(p, v); }
#endif
#if defined(__AVX__)
inline void stream(float* p, __m256 v) { _mm256_stream_ps(p, v); }
inline void stream(double* p, __m256d v) { _mm256_stream_pd(p, v); }
#endif
#if defined(__SSE2__)
inline void stream(float* p, __m128 v) { _mm_stream_ps(p, v); }
inline void stream(double* p, __m128d v) { _mm_stream_pd(p, v); }
inline void stream_fence() { _mm_sfence(); }
#else
inline void stream_fence() {}
#endif
template <typename T, typename Packet>
inline void stream(T* p, const Packet& v) {
  Eigen::internal::pstore(p, v);
}

// dst[0, n) = src[0, n): the whole 64-byte lines of dst by streaming stores, the partial
// lines at either end (which may hold a neighbour's data) by plain ones.
template <typename T>
inline void stream_copy(const T* src, T* dst, int64_t n) {
  namespace ei = Eigen::internal;
  using Packet = typename ei::packet_traits<T>::type;
  constexpr int64_t P = ei::unpacket_traits<Packet>::size;
  constexpr int64_t kLine = 64 / static_cast<int64_t>(sizeof(T));
  static_assert(kLine % P == 0, "packets must tile a cache line");
  const int64_t mis = static_cast<int64_t>(reinterpret_cast<uintptr_t>(dst) % 64);
  int64_t i = 0;
  if (mis % static_cast<int64_t>(sizeof(T)) == 0) {  // else plain stores throughout
    i = std::min<int64_t>(n, mis ? (64 - mis) / static_cast<int64_t>(sizeof(T)) : 0);
    std::copy(src, src + i, dst);
    for (; i + kLine <= n; i += kLine)
      for (int64_t k = 0; k < kLine; k += P) stream(dst + i + k, ei::ploadu<Packet>(src + i + k));
  }
  std::copy(src + i, src + n, dst + i);
}

}  // namespace seqcore::cpu

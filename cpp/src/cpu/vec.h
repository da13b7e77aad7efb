// Eigen views and vector primitives shared by the CPU kernels.
#pragma once

#include <Eigen/Core>
#include <cstdint>

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


// a . b over n elements with four packet accumulators combined in a fixed order. The
// result depends only on n, never on the arrays' alignment (Eigen's own reductions peel to
// an aligned start at run time, so their rounding would vary with where numpy placed the
// buffers) nor on the thread that computes it.
template <typename T>
inline T dot(const T* a, const T* b, int64_t n) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<T>::type;
  constexpr int64_t P = unpacket_traits<Packet>::size;
  Packet c0 = pset1<Packet>(T(0)), c1 = c0, c2 = c0, c3 = c0;
  int64_t i = 0;
  for (; i + 4 * P <= n; i += 4 * P) {
    c0 = pmadd(ploadu<Packet>(a + i), ploadu<Packet>(b + i), c0);
    c1 = pmadd(ploadu<Packet>(a + i + P), ploadu<Packet>(b + i + P), c1);
    c2 = pmadd(ploadu<Packet>(a + i + 2 * P), ploadu<Packet>(b + i + 2 * P), c2);
    c3 = pmadd(ploadu<Packet>(a + i + 3 * P), ploadu<Packet>(b + i + 3 * P), c3);
  }
  for (; i + P <= n; i += P) c0 = pmadd(ploadu<Packet>(a + i), ploadu<Packet>(b + i), c0);
  T s = predux(padd(padd(c0, c1), padd(c2, c3)));
  for (; i < n; ++i) s += a[i] * b[i];
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

}  // namespace seqcore::cpu

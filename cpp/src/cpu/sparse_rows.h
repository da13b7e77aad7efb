// Shared by the kernels whose weight gradients touch a few rows of a [V, D] matrix (the
// output layers, the embeddings): the SIMD axpy, and the deterministic scatter of row
// contributions into sorted unique rows (SparseRows of output_layers.h).
//
// Every contribution (row id, coefficient, source vector) is listed, sorted by (id,
// occurrence), and each unique row sums its contributions in that order: deterministic, no
// atomics, parallel over unique rows.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "seqcore/output_layers.h"

namespace seqcore::cpu {

template <typename T>
struct Simd {
  using Packet = typename Eigen::internal::packet_traits<T>::type;
  static constexpr int64_t P = Eigen::internal::unpacket_traits<Packet>::size;
};

// y += alpha * x
template <typename T>
inline void axpy(T alpha, const T* x, T* y, int64_t n) {
  using namespace Eigen::internal;
  using Packet = typename Simd<T>::Packet;
  constexpr int64_t P = Simd<T>::P;
  const Packet a = pset1<Packet>(alpha);
  int64_t i = 0;
  for (; i + P <= n; i += P) pstoreu(y + i, pmadd(a, ploadu<Packet>(x + i), ploadu<Packet>(y + i)));
  for (; i < n; ++i) y[i] += alpha * x[i];
}

// Contributions to rows of a [V, D] matrix: row ids[i] gets coef[i] * src[i][0..D) (and its
// bias bias[i] when given). Sums them per unique id in occurrence order.
template <typename T>
struct Contributions {
  std::vector<int64_t> ids;
  std::vector<T> coef;
  std::vector<const T*> src;
  std::vector<T> bias;  // empty when there is no bias gradient
  void resize(size_t n, bool with_bias) {
    ids.resize(n);
    coef.resize(n);
    src.resize(n);
    if (with_bias) bias.resize(n);
  }
};

// Which contributions go to which unique row: `order` lists the contributions sorted by
// (id, occurrence), `start[r]` is where unique row r begins in it. Depends on the ids only,
// so it is built before the coefficients exist.
struct ScatterPlan {
  std::vector<int64_t> order, start;
};

template <typename T>
ScatterPlan plan_scatter(const std::vector<int64_t>& ids, int64_t D, SparseRows<T>& out,
                         std::vector<T>* dbias) {
  const int64_t n = static_cast<int64_t>(ids.size());
  ScatterPlan plan;
  plan.order.resize(static_cast<size_t>(n));
  // Sort keys (id << bits) | occurrence when they fit in 64 bits (ids < V, checked).
  int bits = 1;
  while ((int64_t(1) << bits) < n) ++bits;
  int64_t max_id = 0;
  for (int64_t i = 0; i < n; ++i) max_id = std::max(max_id, ids[i]);
  if (bits < 62 && (static_cast<uint64_t>(max_id) >> (63 - bits)) == 0) {
    std::vector<uint64_t> key(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i)
      key[i] = (static_cast<uint64_t>(ids[i]) << bits) | static_cast<uint64_t>(i);
    std::sort(key.begin(), key.end());
    const uint64_t mask = (uint64_t(1) << bits) - 1;
    for (int64_t i = 0; i < n; ++i) plan.order[i] = static_cast<int64_t>(key[i] & mask);
  } else {
    for (int64_t i = 0; i < n; ++i) plan.order[i] = i;
    std::stable_sort(plan.order.begin(), plan.order.end(),
                     [&](int64_t a, int64_t b) { return ids[a] < ids[b]; });
  }
  out.rows.clear();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[plan.order[i]];
    if (i == 0 || id != out.rows.back()) {
      out.rows.push_back(id);
      plan.start.push_back(i);
    }
  }
  plan.start.push_back(n);
  const size_t R = out.rows.size();
  out.grads.resize(R * static_cast<size_t>(D));
  if (dbias) dbias->assign(R, T(0));
  return plan;
}

// Sums the contributions of every unique row in occurrence order: an orphaned `omp for`
// over rows (call it from every thread of a region, or outside one).
template <typename T>
void accumulate_rows(const Contributions<T>& c, const ScatterPlan& plan, int64_t D,
                     SparseRows<T>& out, std::vector<T>* dbias) {
  const int64_t R = static_cast<int64_t>(out.rows.size());
  const bool with_bias = dbias && !c.bias.empty();
#pragma omp for schedule(static)
  for (int64_t r = 0; r < R; ++r) {
    T* g = out.grads.data() + r * D;
    const int64_t first = plan.order[plan.start[r]];
    const T a = c.coef[first];
    const T* x = c.src[first];
    for (int64_t d = 0; d < D; ++d) g[d] = a * x[d];  // the first contribution, then the rest
    T b = with_bias ? c.bias[first] : T(0);
    for (int64_t i = plan.start[r] + 1; i < plan.start[r + 1]; ++i) {
      const int64_t o = plan.order[i];
      axpy(c.coef[o], c.src[o], g, D);
      if (with_bias) b += c.bias[o];
    }
    if (with_bias) (*dbias)[r] = b;
  }
}

}  // namespace seqcore::cpu

// Pointwise activations of the linear layers (the feed-forward block's epilogue) and their
// derivatives, computed a row segment at a time through an aligned scratch of whole packets,
// so every element takes Eigen's packet path whatever the caller's alignment: results never
// depend on where numpy placed a buffer (see vec.h's dot) nor on how rows are split.
#pragma once

#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>

#include <algorithm>
#include <cstdint>

#include "seqcore/common.h"

namespace seqcore::cpu {

namespace act_detail {
constexpr int64_t kChunk = 256;  // scratch elements (a multiple of every packet size)
template <typename T>
using AMap = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>, Eigen::Aligned64>;

// f(j0, w) for the chunks [j0, j0 + w) of [0, n), w <= kChunk.
template <typename T, typename F>
inline void chunks(int64_t n, F&& f) {
  for (int64_t j0 = 0; j0 < n; j0 += kChunk) f(j0, std::min(kChunk, n - j0));
}
template <typename T>
inline int64_t padded(int64_t w) {
  constexpr int64_t P = Eigen::internal::unpacket_traits<
      typename Eigen::internal::packet_traits<T>::type>::size;
  return (w + P - 1) / P * P;
}
}  // namespace act_detail

// y[j] = act(y[j] + bias[j]) for j < n (bias nullable); pre (nullable) receives y + bias.
template <typename T>
inline void bias_activation(T* y, const T* bias, int64_t n, Activation act, T* pre) {
  using namespace act_detail;
  alignas(64) T buf[kChunk];
  chunks<T>(n, [&](int64_t j0, int64_t w) {
    const int64_t wp = padded<T>(w);
    std::copy_n(y + j0, w, buf);
    std::fill(buf + w, buf + wp, T(0));
    AMap<T> a(buf, wp);
    if (bias) a.head(w) += Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>(bias + j0, w);
    if (pre) std::copy_n(buf, w, pre + j0);
    switch (act) {
      case Activation::kNone: break;
      case Activation::kReLU: a = a.max(T(0)); break;
      case Activation::kGELU: a = T(0.5) * a * (T(1) + (a * T(M_SQRT1_2)).erf()); break;
      case Activation::kGELUTanh: {
        const T k0 = T(0.7978845608028654), k1 = T(0.044715);  // sqrt(2 / pi)
        a = T(0.5) * a * (T(1) + (k0 * (a + k1 * a * a * a)).tanh());
        break;
      }
    }
    std::copy_n(buf, w, y + j0);
  });
}

// d[j] *= act'(z[j]) for j < n: z the pre-activation (the output y also serves for ReLU:
// y > 0 exactly where z > 0). kNone leaves d unchanged.
template <typename T>
inline void activation_backward(T* d, const T* z, int64_t n, Activation act) {
  using namespace act_detail;
  if (act == Activation::kNone) return;
  alignas(64) T zb[kChunk];
  alignas(64) T db[kChunk];
  alignas(64) T tb[kChunk];
  chunks<T>(n, [&](int64_t j0, int64_t w) {
    const int64_t wp = padded<T>(w);
    std::copy_n(z + j0, w, zb);
    std::fill(zb + w, zb + wp, T(0));
    std::copy_n(d + j0, w, db);
    std::fill(db + w, db + wp, T(0));
    AMap<T> a(zb, wp), g(db, wp), t(tb, wp);
    switch (act) {
      case Activation::kNone: break;
      case Activation::kReLU: g = (a > T(0)).select(g, T(0)); break;
      case Activation::kGELU: {  // Phi(z) + z phi(z)
        const T inv_sqrt_2pi = T(0.3989422804014327);
        g *= T(0.5) * (T(1) + (a * T(M_SQRT1_2)).erf()) + a * inv_sqrt_2pi * (T(-0.5) * a * a).exp();
        break;
      }
      case Activation::kGELUTanh: {
        const T k0 = T(0.7978845608028654), k1 = T(0.044715);
        t = (k0 * (a + k1 * a * a * a)).tanh();
        g *= T(0.5) * (T(1) + t) + T(0.5) * a * (T(1) - t * t) * k0 * (T(1) + T(3) * k1 * a * a);
        break;
      }
    }
    std::copy_n(db, w, d + j0);
  });
}

}  // namespace seqcore::cpu

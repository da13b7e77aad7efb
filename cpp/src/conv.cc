// Convolution and batch normalisation over time: argument checks and dispatch (kernels in
// cpu/conv_cpu.cc).
#include "seqcore/conv.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "seqcore/common.h"

namespace seqcore {

namespace cpu {
template <typename T>
void conv1d_forward_cpu(const Conv1dShape& s, const T* x, const T* w, const T* b,
                        Activation act, T* y);
template <typename T>
void conv1d_backward_cpu(const Conv1dShape& s, const T* x, const T* w, const T* dy, T* dx,
                         T* dw, T* db);
template <typename T>
void conv1d_pack_cpu(const Conv1dShape& s, const T* w, Buffer<T>& panels);
template <typename T>
void conv1d_packed_forward_cpu(const Conv1dShape& s, const T* panels, const T* b,
                               Activation act, const T* x, T* y);
template <typename T>
void batch_norm_forward_cpu(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                            T eps, bool relu, T* y, T* mean, T* var, T* rstd);
template <typename T>
void batch_norm_backward_cpu(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                             const T* mean, const T* rstd, bool relu, const T* dy, T* dx,
                             T* dgamma, T* dbeta);
}  // namespace cpu

void conv1d_check(const Conv1dShape& s) {
  check(s.N >= 0 && s.Ci >= 1 && s.L >= 0,
        "x: expected N >= 0, Ci >= 1 channels and L >= 0 steps, got " +
            shape_str({s.N, s.Ci, s.L}));
  check(s.Co >= 1 && s.Kw >= 1,
        "weight: expected shape [Co, Ci, Kw] with Co, Kw >= 1, got " +
            shape_str({s.Co, s.Ci, s.Kw}));
  check(s.stride >= 1, "stride: expected >= 1, got " + std::to_string(s.stride));
  check(s.dilation >= 1, "dilation: expected >= 1, got " + std::to_string(s.dilation));
  check(s.padding >= 0, "padding: expected >= 0, got " + std::to_string(s.padding));
  // Bounds that keep every size below in int64 (and any real buffer far below them).
  check(s.L <= (int64_t(1) << 40) && s.padding <= (int64_t(1) << 40) &&
            s.stride <= (int64_t(1) << 40) && s.dilation <= (int64_t(1) << 20) &&
            s.Kw <= (int64_t(1) << 20),
        "x: length, padding, stride, dilation or kernel width out of range");
  check(s.out_len() >= 1,
        "x: the input (length " + std::to_string(s.L) + " + 2 x padding " +
            std::to_string(s.padding) + ") is shorter than the kernel's span dilation x (Kw - 1)"
            " + 1 = " + std::to_string(s.dilation * (s.Kw - 1) + 1));
}

template <typename T>
void conv1d_forward(const Conv1dShape& s, const T* x, const T* w, const T* b, Activation act,
                    T* y) {
  conv1d_check(s);
  cpu::conv1d_forward_cpu<T>(s, x, w, b, act, y);
}

template <typename T>
void conv1d_backward(const Conv1dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db) {
  conv1d_check(s);
  cpu::conv1d_backward_cpu<T>(s, x, w, dy, dx, dw, db);
}

template <typename T>
Conv1dPacked<T>::Conv1dPacked(const Conv1dShape& s, const T* w, const T* b, Activation act)
    : geom_(s), act_(act) {
  geom_.N = 1, geom_.L = s.dilation * (s.Kw - 1) + 1 - 2 * s.padding;  // the shortest input
  geom_.L = std::max<int64_t>(geom_.L, 0);
  conv1d_check(geom_);
  cpu::conv1d_pack_cpu<T>(geom_, w, panels_);
  if (b) bias_.assign(b, b + s.Co);
}

template <typename T>
void Conv1dPacked<T>::forward(const Conv1dShape& s, const T* x, T* y) const {
  const Conv1dShape& g = geom_;
  check(s.Ci == g.Ci, "x: expected " + std::to_string(g.Ci) + " channels (the layer's Ci), got " +
                          std::to_string(s.Ci));
  check(s.Co == g.Co && s.Kw == g.Kw && s.stride == g.stride && s.padding == g.padding &&
            s.dilation == g.dilation,
        "Conv1dPacked: the geometry of a call must be the layer's");
  conv1d_check(s);
  cpu::conv1d_packed_forward_cpu<T>(s, panels_.data(), bias_.empty() ? nullptr : bias_.data(),
                                    act_, x, y);
}

template <typename T>
void batch_norm_forward(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                        double eps, bool relu, T* y, T* mean, T* var, T* rstd) {
  check(M >= 1 && C >= 1, "x: expected shape [M, C] with M, C >= 1, got " + shape_str({M, C}));
  check(std::isfinite(eps) && eps >= 0,
        "eps: expected a finite value >= 0, got " + std::to_string(eps));
  cpu::batch_norm_forward_cpu<T>(M, C, x, gamma, beta, static_cast<T>(eps), relu, y, mean, var,
                                 rstd);
}

template <typename T>
void batch_norm_backward(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                         const T* mean, const T* rstd, bool relu, const T* dy, T* dx, T* dgamma,
                         T* dbeta) {
  check(M >= 1 && C >= 1, "x: expected shape [M, C] with M, C >= 1, got " + shape_str({M, C}));
  cpu::batch_norm_backward_cpu<T>(M, C, x, gamma, beta, mean, rstd, relu, dy, dx, dgamma,
                                  dbeta);
}

#define SEQCORE_INSTANTIATE(T)                                                                 \
  template class Conv1dPacked<T>;                                                             \
  template void conv1d_forward<T>(const Conv1dShape&, const T*, const T*, const T*,           \
                                  Activation, T*);                                            \
  template void conv1d_backward<T>(const Conv1dShape&, const T*, const T*, const T*, T*, T*,  \
                                   T*);                                                       \
  template void batch_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, double, \
                                      bool, T*, T*, T*, T*);                                  \
  template void batch_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, bool, const T*, T*, T*, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

// Transformer building blocks: argument checks and dispatch (kernels in
// cpu/transformer_cpu.cc).
#include "seqcore/transformer.h"

#include <cmath>
#include <string>

#include "seqcore/common.h"

namespace seqcore {

namespace cpu {
template <typename T>
void layer_norm_forward_cpu(int64_t M, int64_t D, const T* x, const T* r, const T* gamma,
                            const T* beta, T eps, T* y, T* s_out, T* mean, T* rstd);
template <typename T>
void layer_norm_backward_cpu(int64_t M, int64_t D, const T* s, const T* gamma, const T* mean,
                             const T* rstd, const T* dy, T* ds, T* dgamma, T* dbeta);
template <typename T>
void linear_act_forward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                            const T* b, Activation act, T* y, T* pre);
template <typename T>
void linear_act_backward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                             Activation act, const T* z, const T* dy, T* dx, T* dw, T* db);
}  // namespace cpu

template <typename T>
void layer_norm_forward(int64_t M, int64_t D, const T* x, const T* r, const T* gamma,
                        const T* beta, double eps, T* y, T* s_out, T* mean, T* rstd) {
  check(M >= 0 && D >= 1, "x: expected shape [M, D] with D >= 1, got " + shape_str({M, D}));
  check(std::isfinite(eps) && eps >= 0, "eps: expected a finite value >= 0, got " +
                                            std::to_string(eps));
  cpu::layer_norm_forward_cpu<T>(M, D, x, r, gamma, beta, static_cast<T>(eps), y, s_out, mean,
                                 rstd);
}

template <typename T>
void layer_norm_backward(int64_t M, int64_t D, const T* s, const T* gamma, const T* mean,
                         const T* rstd, const T* dy, T* ds, T* dgamma, T* dbeta) {
  check(M >= 0 && D >= 1, "dy: expected shape [M, D] with D >= 1, got " + shape_str({M, D}));
  cpu::layer_norm_backward_cpu<T>(M, D, s, gamma, mean, rstd, dy, ds, dgamma, dbeta);
}

template <typename T>
void linear_act_forward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                        Activation act, T* y, T* pre) {
  check(M >= 0 && I >= 0 && O >= 1,
        "weight: expected shape [O, I] with O >= 1, got " + shape_str({O, I}));
  cpu::linear_act_forward_cpu<T>(M, I, O, x, w, b, act, y, pre);
}

template <typename T>
void linear_act_backward(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                         Activation act, const T* z, const T* dy, T* dx, T* dw, T* db) {
  check(M >= 0 && I >= 0 && O >= 1,
        "weight: expected shape [O, I] with O >= 1, got " + shape_str({O, I}));
  cpu::linear_act_backward_cpu<T>(M, I, O, x, w, act, z, dy, dx, dw, db);
}

#define SEQCORE_INSTANTIATE(T)                                                                 \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*,         \
                                      const T*, double, T*, T*, T*, T*);                      \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*,        \
                                       const T*, const T*, T*, T*, T*);                       \
  template void linear_act_forward<T>(int64_t, int64_t, int64_t, const T*, const T*,         \
                                      const T*, Activation, T*, T*);                          \
  template void linear_act_backward<T>(int64_t, int64_t, int64_t, const T*, const T*,        \
                                       Activation, const T*, const T*, T*, T*, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

// Transformer building blocks (Vaswani et al. 2017): layer normalisation fused with the
// residual add, and the linear layer fused with its bias and activation (the feed-forward
// block). Multi-head attention is in attention.h.
//
// Shapes (legend of common.h): M rows (tokens, T·N), D features (d_model), I/O input/output
// features of a linear layer. Row-major; every pointer argument is dense.
#pragma once

#include <cstdint>

#include "seqcore/common.h"

namespace seqcore {

// y [M, D] = (s - mean) * rstd * gamma + beta with s = x + r, per row: mean, and
// rstd = 1 / sqrt(var + eps) with the biased variance (torch.nn.LayerNorm; Ba et al. 2016).
// r (the residual), gamma and beta are nullable (no residual, gamma = 1, beta = 0);
// s_out [M, D] (nullable) receives s, which the backward reads; mean, rstd: [M].
template <typename T>
void layer_norm_forward(int64_t M, int64_t D, const T* x, const T* r, const T* gamma,
                        const T* beta, double eps, T* y, T* s_out, T* mean, T* rstd);

// From s = x + r and the saved statistics: ds [M, D] = dL/ds (the gradient of x and of r);
// dgamma, dbeta [D] (nullable: skipped) summed over rows in a fixed order.
template <typename T>
void layer_norm_backward(int64_t M, int64_t D, const T* s, const T* gamma, const T* mean,
                         const T* rstd, const T* dy, T* ds, T* dgamma, T* dbeta);

// y [M, O] = act(x [M, I] W^T + b) through the shared GEMM with the bias and activation as
// its epilogue; W [O, I] (torch.nn.Linear's layout), b [O] nullable; pre [M, O] (nullable)
// receives x W^T + b (the GELU backward needs it).
template <typename T>
void linear_act_forward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                        Activation act, T* y, T* pre);

// Backward of linear_act_forward: z [M, O] is pre (or y for ReLU and none); dx [M, I]
// (nullable), dw [O, I], db [O] (nullable).
template <typename T>
void linear_act_backward(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                         Activation act, const T* z, const T* dy, T* dx, T* dw, T* db);

}  // namespace seqcore

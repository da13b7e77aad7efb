// Convolution and batch normalisation over time, for acoustic front ends (the trigger-word
// model of the Sequence Models course: Conv1D -> BatchNorm -> ReLU -> GRUs).
//
// conv1d is computed as a sum of products on the shared GEMM family, with no im2col matrix:
// with the input in time-major rows xp [Lp, Ci] (Lp = L + 2 * padding, zeros at both ends),
// output step t reads rows t*stride + j*dilation, j < Kw. For dilation 1 those Kw rows are
// one contiguous run of Kw * Ci values, so the whole layer is ONE product whose A rows
// overlap (row stride stride * Ci, length Kw * Ci); for dilation > 1 it is Kw products of
// depth Ci accumulated into the output.
//
// Shapes (legend of common.h, plus): L input length (time), Lo output length, Ci/Co input/
// output channels, Kw kernel width; M rows (all leading axes), C channels of batch_norm.
// Layout of x/y: [N, Ci, L] / [N, Co, Lo] (torch.nn.Conv1d) or, with channels_last,
// [N, L, Ci] / [N, Lo, Co] (Keras Conv1D). The weight is torch's [Co, Ci, Kw] in both.
#pragma once

#include <cstdint>

#include "seqcore/common.h"

namespace seqcore {

struct Conv1dShape {
  int64_t N = 0, Ci = 0, L = 0, Co = 0, Kw = 0;
  int64_t stride = 1, padding = 0, dilation = 1;
  bool channels_last = false;
  // floor((L + 2 padding - dilation (Kw - 1) - 1) / stride) + 1, as torch.nn.Conv1d.
  int64_t out_len() const { return (L + 2 * padding - dilation * (Kw - 1) - 1) / stride + 1; }
};

// std::invalid_argument naming the argument unless the geometry is valid (Lo >= 1).
void conv1d_check(const Conv1dShape& s);

// y = act(conv(x, w) + b); b [Co] nullable. Checks the geometry (conv1d_check).
template <typename T>
void conv1d_forward(const Conv1dShape& s, const T* x, const T* w, const T* b, Activation act,
                    T* y);

// Gradients of the pre-activation output dy (shape of y): dx (shape of x, nullable),
// dw [Co, Ci, Kw], db [Co] (nullable). Sums over the batch and time run in a fixed order.
template <typename T>
void conv1d_backward(const Conv1dShape& s, const T* x, const T* w, const T* dy, T* dx, T* dw,
                     T* db);

// conv1d_forward for inference that applies one layer to many inputs (a stream's chunks):
// the weight is permuted and packed into the GEMM's panels once, at construction, so a call
// costs its products only (per call, conv1d_forward permutes and packs all Co * Ci * Kw
// weights: most of the time of a chunk of a few steps). Outputs equal conv1d_forward's bit
// for bit (the same k blocks, chains and epilogue).
template <typename T>
class Conv1dPacked {
 public:
  // w [Co, Ci, Kw], b [Co] (nullable) and the geometry of `s` (its N and L are ignored).
  Conv1dPacked(const Conv1dShape& s, const T* w, const T* b, Activation act);
  // y = act(conv(x, w) + b) for x of s.N and s.L; the other fields of s must be this
  // layer's (checked).
  void forward(const Conv1dShape& s, const T* x, T* y) const;
  const Conv1dShape& geometry() const { return geom_; }

 private:
  Conv1dShape geom_;
  Activation act_;
  Buffer<T> panels_, bias_;
};

// Batch normalisation with the batch's statistics (training mode; Ioffe & Szegedy 2015) of
// x [M, C] over its M rows, per channel: y = (x - mean) * rstd * gamma + beta, rstd =
// 1 / sqrt(var + eps), var biased (torch.nn.BatchNorm1d, Keras BatchNormalization); then
// y = max(y, 0) when relu. gamma, beta nullable (1, 0). Outputs mean, var, rstd [C] (var
// feeds the running average). Sums run in fixed blocks of rows: bit-identical for every
// thread count.
template <typename T>
void batch_norm_forward(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                        double eps, bool relu, T* y, T* mean, T* var, T* rstd);

// Backward of batch_norm_forward from x and its saved mean and rstd (the ReLU's mask is
// recomputed from them): dx [M, C], dgamma, dbeta [C] (nullable).
template <typename T>
void batch_norm_backward(int64_t M, int64_t C, const T* x, const T* gamma, const T* beta,
                         const T* mean, const T* rstd, bool relu, const T* dy, T* dx, T* dgamma,
                         T* dbeta);

}  // namespace seqcore

// The pointwise part of an LSTM / GRU step over `len` hidden units, shared by the sequence
// kernels (rnn_cpu.cc) and the native decoder step (seq2seq_cpu.cc). `pre(q)` is the
// pre-activation of gate q (an Eigen array expression); gate values are written where the
// caller keeps them (the backward's cache in the sequence kernels).
#pragma once

#include <cstdint>

#include "vec.h"

namespace seqcore::cpu {

// LSTM, gates i f g o: c = f*c_prev + i*g, h = o*tanh(c).
template <typename T, typename Pre>
inline void lstm_pointwise(const Pre& pre, T* gi, T* gf, T* gg, T* go, const T* c_prev, T* c,
                           T* h, int64_t len) {
  Arr<T> i(gi, len), f(gf, len), g(gg, len), o(go, len), cc(c, len);
  i = pre(0).logistic();
  f = pre(1).logistic();
  g = pre(2).tanh();
  o = pre(3).logistic();
  cc = f * CArr<T>(c_prev, len) + i * g;
  Arr<T>(h, len) = o * cc.tanh();
}

// GRU, PyTorch form (reset applied after the recurrent product), gates r z n:
// n = tanh(xn + r*hn) with xn = W_in x + b_in and hn = W_hn h + b_hn; h = (1-z)*n + z*h_prev.
template <typename T, typename Pre>
inline void gru_pointwise(const Pre& pre, const T* xn, const T* hn, const T* h_prev, T* gr,
                          T* gz, T* gn, T* h, int64_t len) {
  Arr<T> r(gr, len), z(gz, len), n(gn, len);
  r = pre(0).logistic();
  z = pre(1).logistic();
  n = (CArr<T>(xn, len) + r * CArr<T>(hn, len)).tanh();
  Arr<T>(h, len) = (T(1) - z) * n + z * CArr<T>(h_prev, len);
}

}  // namespace seqcore::cpu

// Fused recurrent layers (LSTM, GRU, Elman RNN): forward and backpropagation through time.
//
// Weights use PyTorch's layout and gate order (DESIGN.md): w_ih: [G*H, I], w_hh: [G*H, H],
// b_ih, b_hh: [G*H]; LSTM gates i, f, g, o; GRU gates r, z, n; RNN tanh or relu.
//
// How the work is laid out (haste / oneDNN style):
//  * Ragged batches are packed like PackedSequence: sequences sorted by decreasing length
//    (stable), step t holds the first batch_sizes[t] slots, so every loop below costs
//    sum(lengths), not N*T. The reverse direction packs each sequence from its own last
//    valid step backwards.
//  * Forward: one big GEMM for the input projection of every packed row; inside the time
//    loop only the recurrent GEMM (on weights packed once per call into SIMD panels) and a
//    fused pointwise step that saves the post-activation gates. One OpenMP region per call,
//    each thread owning a slice of hidden units across all gates, one barrier per step.
//  * Backward: per step only the pointwise gradient (written over the saved gates) and
//    dh = dgates * w_hh; after the loop dW_ih, dW_hh, dx and the biases as big GEMMs/sums.
#pragma once

#include <cstdint>
#include <vector>

#include "seqcore/common.h"

namespace seqcore {

enum class RnnCell { kLSTM, kGRU, kRNNTanh, kRNNReLU };

// Gates G of the cell's weight matrices.
int rnn_gates(RnnCell cell);

struct RnnDesc {
  RnnCell cell = RnnCell::kLSTM;
  bool linear_before_reset = true;  // GRU only: PyTorch/cuDNN form (true) or Cho et al. (false)
  bool reverse = false;             // process each sequence from its last valid step
  int64_t T = 0, N = 0, I = 0, H = 0;
  bool has_b_ih = false, has_b_hh = false;
};

// Gate blocks stored per packed row in the cache: LSTM [i f g o], GRU-PyTorch [r z hn n]
// (hn = W_hn h + b_hn), GRU-Cho [r z n rh] (rh = r * h_prev), RNN [a].
int rnn_cache_blocks(const RnnDesc& d);

// Packed (sorted) layout of a possibly ragged batch.
struct RnnLayout {
  std::vector<int64_t> perm;         // [N] slot k -> batch index, decreasing length
  std::vector<int64_t> length;       // [N] length of slot k
  std::vector<int64_t> batch_sizes;  // [T] active slots at step t
  std::vector<int64_t> offsets;      // [T+1] first packed row of step t
  bool dense = true;  // packed row t*N+n is x row t*N+n (no padding, no reorder, forward)
  bool reverse = false;
  int64_t N = 0;

  int64_t rows() const { return offsets.back(); }
  // Row of x ([T*N, I] view) read at step t by slot k.
  int64_t src_row(int64_t t, int64_t k) const {
    return (reverse ? length[k] - 1 - t : t) * N + perm[k];
  }
};

// lengths: [N] or nullptr (all T). Validates 0 <= lengths[n] <= T.
RnnLayout make_rnn_layout(int64_t T, int64_t N, const int64_t* lengths, bool reverse);

// Saved activations of a training forward (the cache), in packed order.
template <typename T>
struct RnnSaved {
  Buffer<T> gates;  // [rows, rnn_cache_blocks*H]; backward overwrites with dgates
  Buffer<T> h;      // [N + rows, H]: h0 of every slot, then h of every packed row
  Buffer<T> c;      // LSTM only, same layout as h
};

// One layer's weights packed once into the GEMM's panels, for inference that calls
// rnn_forward many times on short inputs (a stream's chunks): the per-call packing of w_ih
// and w_hh (G*H*(I+H) values: on a ten-step call, about as long as its products) is skipped.
// Outputs are bit-identical to calls without it. The recurrent panels serve a time loop on
// one thread (the case of a short input); a call whose loop runs on more packs its own.
template <typename T>
struct RnnPacked {
  RnnDesc desc;    // cell, linear_before_reset, I, H of the weights packed
  Buffer<T> w_ih;  // w_ih^T for all of I: [ceil(G*H / NR)][I][NR]
  Buffer<T> w_hh;  // the time loop's panels of w_hh^T (GRU-Cho: the r and z gates)
  Buffer<T> w_hn;  // GRU-Cho: W_hn's panels
};
// Packs w_ih [G*H, I] and w_hh [G*H, H] of the layer described by d.
template <typename T>
void rnn_pack(const RnnDesc& d, const T* w_ih, const T* w_hh, RnnPacked<T>& packed);

// Forward over the whole sequence.
//   x: [T, N, I]; h0, c0: [N, H] or nullptr (zeros); b_ih, b_hh: [G*H] or nullptr.
//   y: [T, N, H] (zero past each length); h_n, c_n: [N, H] (c_n LSTM only).
//   saved: nullptr for inference (nothing kept), else filled for rnn_backward.
//   packed: nullptr, or rnn_pack of these w_ih and w_hh (checked against d's sizes only).
template <typename T>
void rnn_forward(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, const T* c0, T* y,
                 T* h_n, T* c_n, RnnSaved<T>* saved, const RnnPacked<T>* packed = nullptr);

// Backpropagation through time; consumes saved.gates (overwritten with gate gradients).
//   dy: [T, N, H] or nullptr; dh_n, dc_n: [N, H] or nullptr.
//   dx: [T, N, I]; dh0, dc0: [N, H] (dc0 LSTM only); dw_ih: [G*H, I]; dw_hh: [G*H, H];
//   db_ih, db_hh: [G*H] or nullptr when the forward had no such bias.
template <typename T>
void rnn_backward(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                  const T* w_hh, RnnSaved<T>& saved, const T* dy, const T* dh_n,
                  const T* dc_n, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh);

}  // namespace seqcore

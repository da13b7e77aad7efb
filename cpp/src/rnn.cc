// Validation and dispatch for the recurrent kernels (rnn.h).
#include "seqcore/rnn.h"

#include <algorithm>
#include <numeric>

#include "cpu/rnn_cpu.h"

namespace seqcore {

int rnn_gates(RnnCell cell) {
  switch (cell) {
    case RnnCell::kLSTM: return 4;
    case RnnCell::kGRU: return 3;
    default: return 1;
  }
}

int rnn_cache_blocks(const RnnDesc& d) {
  switch (d.cell) {
    case RnnCell::kLSTM: return 4;
    case RnnCell::kGRU: return 4;  // r z + (hn n) or (n rh)
    default: return 1;
  }
}

RnnLayout make_rnn_layout(int64_t T, int64_t N, const int64_t* lengths, bool reverse) {
  RnnLayout L;
  L.N = N;
  L.reverse = reverse;
  L.length.assign(static_cast<size_t>(N), T);
  L.perm.resize(static_cast<size_t>(N));
  std::iota(L.perm.begin(), L.perm.end(), int64_t(0));
  if (lengths) {
    for (int64_t n = 0; n < N; ++n)
      check(lengths[n] >= 0 && lengths[n] <= T,
            "lengths: every length must be in [0, T=" + std::to_string(T) + "], got lengths[" +
                std::to_string(n) + "] = " + std::to_string(lengths[n]));
    std::stable_sort(L.perm.begin(), L.perm.end(),
                     [&](int64_t a, int64_t b) { return lengths[a] > lengths[b]; });
    for (int64_t k = 0; k < N; ++k) L.length[k] = lengths[L.perm[k]];
  }
  L.batch_sizes.assign(static_cast<size_t>(T), 0);
  L.offsets.assign(static_cast<size_t>(T + 1), 0);
  for (int64_t t = 0; t < T; ++t) {
    int64_t n = 0;
    while (n < N && L.length[n] > t) ++n;
    L.batch_sizes[t] = n;
    L.offsets[t + 1] = L.offsets[t] + n;
  }
  const bool full = N == 0 || L.length[N - 1] == T;  // sorted: the last slot is the shortest
  bool identity = true;
  for (int64_t k = 0; k < N && identity; ++k) identity = L.perm[k] == k;
  L.dense = full && identity && (!reverse || T <= 1);
  return L;
}

template <typename T>
void rnn_forward(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                 const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, const T* c0, T* y,
                 T* h_n, T* c_n, RnnSaved<T>* saved, const RnnPacked<T>* packed) {
  check(d.T >= 0 && d.N >= 0 && d.I >= 1 && d.H >= 1, "rnn_forward: bad sizes");
  if (packed)
    check(packed->desc.cell == d.cell && packed->desc.I == d.I && packed->desc.H == d.H &&
              packed->desc.linear_before_reset == d.linear_before_reset,
          "rnn_forward: the packed weights are of another layer");
  cpu::rnn_forward_cpu(d, layout, x, w_ih, w_hh, b_ih, b_hh, h0, c0, y, h_n, c_n, saved,
                       packed);
}

template <typename T>
void rnn_pack(const RnnDesc& d, const T* w_ih, const T* w_hh, RnnPacked<T>& packed) {
  check(d.I >= 1 && d.H >= 1, "rnn_pack: bad sizes");
  cpu::rnn_pack_cpu(d, w_ih, w_hh, packed);
}

template <typename T>
void rnn_backward(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                  const T* w_hh, RnnSaved<T>& saved, const T* dy, const T* dh_n,
                  const T* dc_n, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih,
                  T* db_hh) {
  const size_t rows = static_cast<size_t>(layout.rows());
  check(saved.gates.size() == rows * rnn_cache_blocks(d) * d.H,
        "rnn_backward: the cache does not match this layer (or was already consumed)");
  cpu::rnn_backward_cpu(d, layout, x, w_ih, w_hh, saved, dy, dh_n, dc_n, dx, dh0, dc0, dw_ih,
                        dw_hh, db_ih, db_hh);
}

#define SEQCORE_INSTANTIATE(T)                                                               \
  template void rnn_forward<T>(const RnnDesc&, const RnnLayout&, const T*, const T*,        \
                               const T*, const T*, const T*, const T*, const T*, T*, T*, T*, \
                               RnnSaved<T>*, const RnnPacked<T>*);                          \
  template void rnn_pack<T>(const RnnDesc&, const T*, const T*, RnnPacked<T>&);              \
  template void rnn_backward<T>(const RnnDesc&, const RnnLayout&, const T*, const T*,       \
                                const T*, RnnSaved<T>&, const T*, const T*, const T*, T*,   \
                                T*, T*, T*, T*, T*, T*);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

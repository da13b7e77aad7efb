// CPU implementations behind rnn.h (called after validation by cpp/src/rnn.cc).
#pragma once

#include "seqcore/rnn.h"

namespace seqcore::cpu {

template <typename T>
void rnn_forward_cpu(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                     const T* w_hh, const T* b_ih, const T* b_hh, const T* h0, const T* c0,
                     T* y, T* h_n, T* c_n, RnnSaved<T>* saved, const RnnPacked<T>* packed);

template <typename T>
void rnn_pack_cpu(const RnnDesc& d, const T* w_ih, const T* w_hh, RnnPacked<T>& packed);

template <typename T>
void rnn_backward_cpu(const RnnDesc& d, const RnnLayout& layout, const T* x, const T* w_ih,
                      const T* w_hh, RnnSaved<T>& saved, const T* dy, const T* dh_n,
                      const T* dc_n, T* dx, T* dh0, T* dc0, T* dw_ih, T* dw_hh, T* db_ih,
                      T* db_hh);

}  // namespace seqcore::cpu

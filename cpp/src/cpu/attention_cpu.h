// CPU implementations behind attention.h (called after validation by cpp/src/attention.cc).
#pragma once

#include "seqcore/attention.h"

namespace seqcore::cpu {

template <typename T>
void sdpa_forward_cpu(const SdpaDesc& d, const T* q, const T* k, const T* v,
                      const uint8_t* bool_mask, const T* float_mask,
                      const int64_t* key_lengths, T* out, T* lse);

template <typename T>
void sdpa_backward_cpu(const SdpaDesc& d, const T* q, const T* k, const T* v,
                       const uint8_t* bool_mask, const T* float_mask,
                       const int64_t* key_lengths, const T* out, const T* lse, const T* dout,
                       T* dq, T* dk, T* dv);

template <typename T>
void additive_precompute_keys_cpu(const StepAttnDesc& d, const T* keys, const T* w_k,
                                  T* proj_keys);
template <typename T>
void additive_step_cpu(const StepAttnDesc& d, const T* query_proj, const T* proj_keys,
                       const T* values, const T* v_a, const int64_t* key_lengths, T* context,
                       T* weights);
template <typename T>
void additive_backward_cpu(const StepAttnDesc& d, const T* query, const T* keys,
                           const T* values, const T* w_q, const T* w_k, const T* v_a,
                           const int64_t* key_lengths, const T* query_proj,
                           const T* proj_keys, const T* weights, const T* dcontext,
                           const T* dweights, T* dquery, T* dkeys, T* dvalues, T* dw_q,
                           T* dw_k, T* dv_a);
template <typename T>
void dot_forward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                     const int64_t* key_lengths, T* context, T* weights);
template <typename T>
void dot_backward_cpu(const StepAttnDesc& d, const T* query, const T* keys, const T* values,
                      const int64_t* key_lengths, const T* weights, const T* dcontext,
                      const T* dweights, T* dquery, T* dkeys, T* dvalues);
// min_work_per_thread: flops below which one thread does it all (see threads_for).
// act, pre: the epilogue y = act(x W^T + b), pre (nullable) = x W^T + b (gemm.h).
template <typename T>
void linear_forward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                        T* y, double min_work_per_thread = 2e5,
                        Activation act = Activation::kNone, T* pre = nullptr);
// For the once-per-decoder-step kernels (additive attention's query projection).
constexpr double kStepWorkPerThread = 5e7;
template <typename T>
void linear_backward_cpu(int64_t M, int64_t I, int64_t O, const T* x, const T* w,
                         const T* dy, T* dx, T* dw, T* db, bool accumulate);

}  // namespace seqcore::cpu

// Validation and dispatch for the attention kernels (attention.h).
#include "seqcore/attention.h"

#include <algorithm>
#include <string>

#include <omp.h>

#include "cpu/attention_cpu.h"

namespace seqcore {

Strides4 contiguous_strides(int64_t H, int64_t L, int64_t X) {
  Strides4 s;
  s.d = 1;
  s.l = X;
  s.h = L * X;
  s.b = H * L * X;
  return s;
}

void sdpa_check(const SdpaDesc& d) {
  check(d.B >= 0 && d.H >= 1 && d.Hkv >= 1 && d.Lq >= 0 && d.Lk >= 0 && d.D >= 1 && d.Dv >= 1,
        "sdpa: bad sizes (need B, Lq, Lk >= 0 and H, Hkv, D, Dv >= 1)");
  check(d.H % d.Hkv == 0, "sdpa: the heads of q (H=" + std::to_string(d.H) +
                              ") must be a multiple of the heads of k/v (Hkv=" +
                              std::to_string(d.Hkv) + ")");
  check(d.block_q >= 1 && d.block_k >= 1 && d.block_q <= 4096 && d.block_k <= 4096,
        "sdpa: block sizes must be in [1, 4096], got block_q=" + std::to_string(d.block_q) +
            ", block_k=" + std::to_string(d.block_k));
  check(d.q.d == 1 && d.k.d == 1 && d.v.d == 1 && d.o.d == 1,
        "sdpa: rows of q, k, v and out must be contiguous");
}

// d with causal_offset clamped to [-Lq, Lk]: a larger offset shows every key to every query
// and a smaller one none, exactly as the clamped value does, and the kernels' index
// arithmetic (i + causal_offset + 1, ...) can then not overflow.
static SdpaDesc with_clamped_offset(SdpaDesc d) {
  d.causal_offset = std::clamp<int64_t>(d.causal_offset, -d.Lq, d.Lk);
  return d;
}

// key_lengths[i] in [0, max] for i < n (nullptr: nothing to check); `max_name` names the bound.
static void check_key_lengths(const int64_t* key_lengths, int64_t n, int64_t max,
                              const char* max_name) {
  if (!key_lengths) return;
  for (int64_t i = 0; i < n; ++i)
    check(key_lengths[i] >= 0 && key_lengths[i] <= max,
          "key_lengths: every length must be in [0, " + std::string(max_name) + "=" +
              std::to_string(max) + "], got key_lengths[" + std::to_string(i) + "] = " +
              std::to_string(key_lengths[i]));
}

template <typename T>
void sdpa_forward(const SdpaDesc& d, const T* q, const T* k, const T* v,
                  const uint8_t* bool_mask, const T* float_mask, const int64_t* key_lengths,
                  T* out, T* lse) {
  sdpa_check(d);
  check(!(bool_mask && float_mask), "sdpa: give a bool mask or a float mask, not both");
  check_key_lengths(key_lengths, d.B, d.Lk, "Lk");
  cpu::sdpa_forward_cpu(with_clamped_offset(d), q, k, v, bool_mask, float_mask, key_lengths,
                        out, lse);
}

template <typename T>
void sdpa_backward(const SdpaDesc& d, const T* q, const T* k, const T* v,
                   const uint8_t* bool_mask, const T* float_mask, const int64_t* key_lengths,
                   const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv) {
  sdpa_check(d);
  check(!(bool_mask && float_mask), "sdpa: give a bool mask or a float mask, not both");
  check_key_lengths(key_lengths, d.B, d.Lk, "Lk");
  cpu::sdpa_backward_cpu(with_clamped_offset(d), q, k, v, bool_mask, float_mask, key_lengths,
                         out, lse, dout, dq, dk, dv);
}

static void step_check(const StepAttnDesc& d, const int64_t* key_lengths) {
  check(d.N >= 0 && d.T >= 0 && d.Dv >= 1, "attention: bad sizes");
  check_key_lengths(key_lengths, d.N, d.T, "T");
}

template <typename T>
void additive_precompute_keys(const StepAttnDesc& d, const T* keys, const T* w_k,
                              T* proj_keys) {
  check(d.A >= 1 && d.Dk >= 1, "precompute_keys: A and Dk must be >= 1");
  cpu::additive_precompute_keys_cpu(d, keys, w_k, proj_keys);
}

template <typename T>
void additive_attention_step(const StepAttnDesc& d, const T* query_proj, const T* proj_keys,
                             const T* values, const T* v_a, const int64_t* key_lengths,
                             T* context, T* weights) {
  step_check(d, key_lengths);
  cpu::additive_step_cpu(d, query_proj, proj_keys, values, v_a, key_lengths, context, weights);
}

template <typename T>
void additive_attention_forward(const StepAttnDesc& d, const T* query, const T* w_q,
                                const T* proj_keys, const T* values, const T* v_a,
                                const int64_t* key_lengths, T* query_proj, T* context,
                                T* weights) {
  step_check(d, key_lengths);
  cpu::linear_forward_cpu<T>(d.N, d.Dq, d.A, query, w_q, nullptr, query_proj,
                             cpu::kStepWorkPerThread);
  cpu::additive_step_cpu(d, query_proj, proj_keys, values, v_a, key_lengths, context, weights);
}

template <typename T>
void additive_attention_backward(const StepAttnDesc& d, const T* query, const T* keys,
                                 const T* values, const T* w_q, const T* w_k, const T* v_a,
                                 const int64_t* key_lengths, const T* query_proj,
                                 const T* proj_keys, const T* weights, const T* dcontext,
                                 const T* dweights, T* dquery, T* dkeys, T* dvalues, T* dw_q,
                                 T* dw_k, T* dv_a) {
  step_check(d, key_lengths);
  cpu::additive_backward_cpu(d, query, keys, values, w_q, w_k, v_a, key_lengths, query_proj,
                             proj_keys, weights, dcontext, dweights, dquery, dkeys, dvalues,
                             dw_q, dw_k, dv_a);
}

template <typename T>
void dot_attention_forward(const StepAttnDesc& d, const T* query, const T* keys,
                           const T* values, const int64_t* key_lengths, T* context,
                           T* weights) {
  step_check(d, key_lengths);
  check(d.Dk >= 1, "dot_attention: Dk must be >= 1");
  cpu::dot_forward_cpu(d, query, keys, values, key_lengths, context, weights);
}

template <typename T>
void dot_attention_backward(const StepAttnDesc& d, const T* query, const T* keys,
                            const T* values, const int64_t* key_lengths, const T* weights,
                            const T* dcontext, const T* dweights, T* dquery, T* dkeys,
                            T* dvalues) {
  step_check(d, key_lengths);
  cpu::dot_backward_cpu(d, query, keys, values, key_lengths, weights, dcontext, dweights,
                        dquery, dkeys, dvalues);
}

template <typename T>
void linear_forward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                    T* y) {
  check(M >= 0 && I >= 1 && O >= 1, "linear: bad sizes");
  cpu::linear_forward_cpu(M, I, O, x, w, b, y);
}

template <typename T>
void linear_backward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* dy,
                     T* dx, T* dw, T* db, bool accumulate) {
  check(M >= 0 && I >= 1 && O >= 1, "linear: bad sizes");
  cpu::linear_backward_cpu(M, I, O, x, w, dy, dx, dw, db, accumulate);
}

#define SEQCORE_INSTANTIATE(T)                                                                \
  template void sdpa_forward<T>(const SdpaDesc&, const T*, const T*, const T*, const uint8_t*, \
                                const T*, const int64_t*, T*, T*);                           \
  template void sdpa_backward<T>(const SdpaDesc&, const T*, const T*, const T*,              \
                                 const uint8_t*, const T*, const int64_t*, const T*,         \
                                 const T*, const T*, T*, T*, T*);                            \
  template void additive_precompute_keys<T>(const StepAttnDesc&, const T*, const T*, T*);    \
  template void additive_attention_step<T>(const StepAttnDesc&, const T*, const T*,          \
                                           const T*, const T*, const int64_t*, T*, T*);      \
  template void additive_attention_forward<T>(const StepAttnDesc&, const T*, const T*,       \
                                              const T*, const T*, const T*, const int64_t*,  \
                                              T*, T*, T*);                                   \
  template void additive_attention_backward<T>(                                               \
      const StepAttnDesc&, const T*, const T*, const T*, const T*, const T*, const T*,       \
      const int64_t*, const T*, const T*, const T*, const T*, const T*, T*, T*, T*, T*, T*,  \
      T*);                                                                                   \
  template void dot_attention_forward<T>(const StepAttnDesc&, const T*, const T*, const T*,  \
                                         const int64_t*, T*, T*);                            \
  template void dot_attention_backward<T>(const StepAttnDesc&, const T*, const T*, const T*, \
                                          const int64_t*, const T*, const T*, const T*, T*,  \
                                          T*, T*);                                           \
  template void linear_forward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,   \
                                  T*);                                                       \
  template void linear_backward<T>(int64_t, int64_t, int64_t, const T*, const T*, const T*,  \
                                   T*, T*, T*, bool);
SEQCORE_INSTANTIATE(float)
SEQCORE_INSTANTIATE(double)
#undef SEQCORE_INSTANTIATE

}  // namespace seqcore

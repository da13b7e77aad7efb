// Attention kernels: scaled dot-product attention (FlashAttention-2 style), additive
// (Bahdanau) attention, Luong dot/general attention, and multi-head attention in PyTorch's
// nn.MultiheadAttention layout.
//
// Shape legend (common.h): B batch of attention, H heads (of q), Hkv heads of k/v (grouped-
// query attention when Hkv < H, H % Hkv == 0), Lq/Lk query/key lengths, D head dim of q/k,
// Dv head dim of v; N batch, T source (key) steps, A attention size of additive attention,
// E model size of multi-head attention.
//
// Scaled dot-product attention (Dao 2023, "FlashAttention-2"), on transposed score tiles
// St [keys, queries] = K_j (scale Q_i)^T (cpu/gemm.h): K, V, Q and dO are read in
// place as row operands of register-blocked tile products; only Q_i^T (and dO_i^T) is
// packed into SIMD panels, once per tile; softmax statistics are one SIMD lane per query.
//  * Forward: work items are (b, h, block of Bq queries) in (b, h) order, so that K and V
//    of a head stay in L2 across items; with is_causal an item is the pair of q blocks
//    (p, last - p), so that items cost the same (balanced threads). Per item the kv range
//    is walked in blocks of Bk keys: St = K_j Q_i^T, the mask is applied on the tile, the
//    running max / sum are updated (online softmax) and O = alpha O + P V in one tile
//    product. Blocks past a key length or entirely above the causal diagonal are never
//    touched; tiles whose bool mask is all False skip both products. Only out and the
//    logsumexp [B, H, Lq] are saved.
//  * Backward: D = rowsum(dO * O) first; then work items are (b, hkv, chunk of kv blocks):
//    for every kv block and every q block that reaches it (tiles cut at the causal
//    diagonal), P^T = exp(St - lse) is recomputed, dV += P^T dO, dP^T = V_j dO^T,
//    dS^T = P^T * (dP^T - D), dK += dS^T Q, dQ += dS K_j (all tiles cache-resident). dK/dV
//    have one owner; each chunk accumulates dQ in its own buffer, summed in chunk order
//    after, so results are bit-identical for any thread count (the chunking depends on the
//    shape only). No [Lq, Lk] matrix is ever stored.
//  * Masks: allowed(i, j) = j < key_length[b] && (!causal || j <= i + causal_offset) &&
//    bool_mask(b,h,i,j); scores get + float_mask(b,h,i,j). Masks are read through strides
//    (0 on a broadcast dimension), never expanded. A row with no allowed key gives out = 0,
//    lse = -inf and zero gradients.
#pragma once

#include <cstdint>

#include "seqcore/common.h"

namespace seqcore {

// Element strides of a 4-d array [B, H, L, D-or-Lk] (any may be 0 for broadcasting).
struct Strides4 {
  int64_t b = 0, h = 0, l = 0, d = 1;
};

struct SdpaDesc {
  int64_t B = 0, H = 0, Hkv = 0, Lq = 0, Lk = 0, D = 0, Dv = 0;
  double scale = 1.0;
  bool is_causal = false;
  int64_t causal_offset = 0;  // query i may see key j <= i + causal_offset (Lk - Lq: bottom-right)
  // Layouts of q, k, v, out (and of dq, dk, dv, dout in the backward: same as q, k, v, out).
  // d must be 1 (rows contiguous).
  Strides4 q, k, v, o;
  // Mask strides (elements); used when a mask pointer is given.
  Strides4 mask;
  int64_t block_q = 64, block_k = 64;  // tile sizes (tunable; >= 1)
};

// Contiguous [B, H, L, X] strides.
Strides4 contiguous_strides(int64_t H, int64_t L, int64_t X);

// Validates sizes, strides and block sizes (std::invalid_argument).
void sdpa_check(const SdpaDesc& d);

// q: [B,H,Lq,D]; k: [B,Hkv,Lk,D]; v: [B,Hkv,Lk,Dv] (layouts from d).
// bool_mask: uint8 (nonzero = may attend) or nullptr; float_mask: T or nullptr (at most one).
// key_lengths: [B] in [0, Lk] or nullptr.
// out: [B,H,Lq,Dv]; lse: [B,H,Lq] contiguous (natural log; -inf for fully masked rows).
template <typename T>
void sdpa_forward(const SdpaDesc& d, const T* q, const T* k, const T* v,
                  const uint8_t* bool_mask, const T* float_mask, const int64_t* key_lengths,
                  T* out, T* lse);

// dout: layout of out; dq, dk, dv: layouts of q, k, v (fully written).
template <typename T>
void sdpa_backward(const SdpaDesc& d, const T* q, const T* k, const T* v,
                   const uint8_t* bool_mask, const T* float_mask, const int64_t* key_lengths,
                   const T* out, const T* lse, const T* dout, T* dq, T* dk, T* dv);

// ---------------------------------------------------------------------------------------
// Single-query attention over a source sequence (one decoder step): additive (Bahdanau
// et al. 2015, e = v_a^T tanh(W_q s + W_k h)) and Luong et al. 2015 dot / general.
// A row n attends keys t < key_lengths[n]; key_lengths[n] == 0 gives zero weights/context.

struct StepAttnDesc {
  int64_t N = 0, T = 0, A = 0, Dq = 0, Dk = 0, Dv = 0;
};

// proj_keys [N,T,A] = keys [N,T,Dk] W_k^T (once per source sequence).
template <typename T>
void additive_precompute_keys(const StepAttnDesc& d, const T* keys, const T* w_k,
                              T* proj_keys);

// One decoder step given precomputed keys: query_proj [N,A] = W_q s (see
// additive_attention_forward for the whole thing). Fused add, tanh, v_a score, masked
// softmax and context. weights [N,T], context [N,Dv]. Callable from C++ (beam search):
// it opens its own OpenMP region over n unless already inside one.
template <typename T>
void additive_attention_step(const StepAttnDesc& d, const T* query_proj, const T* proj_keys,
                             const T* values, const T* v_a, const int64_t* key_lengths,
                             T* context, T* weights);

// query [N,Dq], w_q [A,Dq]; proj_keys as above. query_proj [N,A] is written (workspace the
// caller keeps for the backward).
template <typename T>
void additive_attention_forward(const StepAttnDesc& d, const T* query, const T* w_q,
                                const T* proj_keys, const T* values, const T* v_a,
                                const int64_t* key_lengths, T* query_proj, T* context,
                                T* weights);

// dcontext [N,Dv]; dweights [N,T] or nullptr. Outputs: dquery [N,Dq], dkeys [N,T,Dk],
// dvalues [N,T,Dv], dw_q [A,Dq], dw_k [A,Dk], dv_a [A].
template <typename T>
void additive_attention_backward(const StepAttnDesc& d, const T* query, const T* keys,
                                 const T* values, const T* w_q, const T* w_k, const T* v_a,
                                 const int64_t* key_lengths, const T* query_proj,
                                 const T* proj_keys, const T* weights, const T* dcontext,
                                 const T* dweights, T* dquery, T* dkeys, T* dvalues, T* dw_q,
                                 T* dw_k, T* dv_a);

// Luong dot score e = keys[n,t] . query[n] (Dq == Dk). weights [N,T], context [N,Dv].
template <typename T>
void dot_attention_forward(const StepAttnDesc& d, const T* query, const T* keys,
                           const T* values, const int64_t* key_lengths, T* context,
                           T* weights);

// dquery [N,Dk], dkeys [N,T,Dk], dvalues [N,T,Dv].
template <typename T>
void dot_attention_backward(const StepAttnDesc& d, const T* query, const T* keys,
                            const T* values, const int64_t* key_lengths, const T* weights,
                            const T* dcontext, const T* dweights, T* dquery, T* dkeys,
                            T* dvalues);

// ---------------------------------------------------------------------------------------
// Dense helpers shared by general attention and multi-head attention (deterministic row
// splits, one OpenMP region).

// y [M,O] = x [M,I] W^T (+ b), W: [O,I].
template <typename T>
void linear_forward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* b,
                    T* y);
// dx [M,I] = dy W (nullptr: skipped); dw [O,I] (+)= dy^T x; db [O] (+)= colsum(dy) (nullptr:
// skipped). accumulate: add into dw/db instead of overwriting.
template <typename T>
void linear_backward(int64_t M, int64_t I, int64_t O, const T* x, const T* w, const T* dy,
                     T* dx, T* dw, T* db, bool accumulate);

}  // namespace seqcore

// CPU implementations behind output_layers.h (called after validation by
// cpp/src/output_layers.cc, with the same arguments).
#pragma once

#include "seqcore/output_layers.h"

namespace seqcore::cpu {

template <typename T>
void binary_cross_entropy_with_logits_cpu(const T* logits, const T* targets, const T* weight,
                                          int64_t n, T pos_weight, Reduction reduction, T* loss,
                                          T* dlogits);

template <typename T>
void softmax_cross_entropy_cpu(const T* logits, const int64_t* targets, int64_t N, int64_t V,
                               Reduction reduction, bool has_ignore, int64_t ignore_index,
                               double label_smoothing, T* loss, T* dlogits);

template <typename T>
void log_softmax_cpu(const T* x, int64_t M, int64_t V, T* out);

template <typename T>
void negative_sampling_loss_cpu(const T* h, const T* w_out, const int64_t* targets,
                                const int64_t* negatives, int64_t N, int64_t D, int64_t K,
                                bool shared_negatives, Reduction reduction, T* loss, T* dh,
                                SparseRows<T>& drows);

template <typename T>
void sampled_softmax_loss_cpu(const T* h, const T* w_out, const T* b_out,
                              const int64_t* targets, const int64_t* sampled,
                              const T* log_q_true, const T* log_q_sampled, int64_t N,
                              int64_t D, int64_t S, bool remove_accidental_hits,
                              Reduction reduction, T* loss, T* dh, SparseRows<T>& drows,
                              std::vector<T>& dbias);

template <typename T>
void hierarchical_softmax_loss_cpu(const T* h, const T* w_inner, const HuffmanTree& tree,
                                   const int64_t* targets, int64_t N, int64_t D,
                                   Reduction reduction, T* loss, T* dh, SparseRows<T>& drows);

template <typename T>
void hierarchical_softmax_log_probs_cpu(const T* h, const T* w_inner, const HuffmanTree& tree,
                                        const int64_t* ids, int64_t N, int64_t D, int64_t M,
                                        T* out);

}  // namespace seqcore::cpu

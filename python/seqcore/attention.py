"""Attention kernels: scaled dot-product (flash-style), additive, Luong dot/general,
multi-head attention, and the sinusoidal positional encoding.

Shape legend (see DESIGN.md): ``B`` batch of attention, ``H`` heads of q, ``Hkv`` heads of
k/v, ``Lq``/``Lk`` query/key lengths, ``D`` head dim of q/k, ``Dv`` head dim of v; ``N``
batch, ``T`` source (key) steps, ``A`` attention size, ``E`` model size, ``L``/``S``
target/source lengths of multi-head attention.

Dtypes: float32 (fast path) or float64; every array must have the dtype of the first input
(``TypeError`` otherwise). ``key_lengths`` is int32 or int64; masks are bool or float.

Scaled dot-product attention follows FlashAttention-2 (Dao 2023): tiles of queries and keys
stay in cache, the softmax is computed online, the forward saves only ``out`` and the row
logsumexp (``O(B·H·Lq·(Dv+1))``), and the backward recomputes the probabilities from it —
no ``[Lq, Lk]`` matrix is stored at any time. Semantics are those of
``torch.nn.functional.scaled_dot_product_attention``.
"""
from __future__ import annotations

import math
from collections import namedtuple
from typing import Any, Optional, Tuple

import numpy as np

from . import _core
from ._typing import Array, ArrayLike, OptArray
from ._validate import INT64_MAX, INT64_MIN, float_arg, instance_arg, int_arg

__all__ = [
    "SdpaGrads", "AdditiveAttentionGrads", "LuongAttentionGrads", "MultiHeadAttentionGrads",
    "sdpa_forward", "sdpa_backward", "scaled_dot_product_attention",
    "precompute_keys", "additive_attention_forward", "additive_attention_backward",
    "dot_attention", "general_attention", "luong_attention_backward",
    "multi_head_attention_forward", "multi_head_attention_backward",
    "sinusoidal_positional_encoding",
]

SdpaGrads = namedtuple("SdpaGrads", "dq dk dv")
SdpaGrads.__doc__ = "Gradients of scaled dot-product attention: dq [B,H,Lq,D], dk [B,Hkv,Lk,D], dv [B,Hkv,Lk,Dv]."
AdditiveAttentionGrads = namedtuple("AdditiveAttentionGrads", "dquery dkeys dvalues dw_q dw_k dv_a")
AdditiveAttentionGrads.__doc__ = """Gradients of additive attention: dquery [N,Dq],
dkeys [N,T,Dk], dvalues [N,T,Dv], dw_q [A,Dq], dw_k [A,Dk], dv_a [A]."""
LuongAttentionGrads = namedtuple("LuongAttentionGrads", "dquery dkeys dvalues dw")
LuongAttentionGrads.__doc__ = """Gradients of Luong attention: dquery [N,Dq], dkeys [N,T,Dk],
dvalues [N,T,Dv], dw [Dk,Dq] (None for dot attention)."""
MultiHeadAttentionGrads = namedtuple(
    "MultiHeadAttentionGrads",
    "dquery dkey dvalue d_in_proj_weight d_in_proj_bias d_out_proj_weight d_out_proj_bias")
MultiHeadAttentionGrads.__doc__ = """Gradients of multi-head attention: dquery [L,N,E],
dkey/dvalue [S,N,E], d_in_proj_weight [3E,E], d_in_proj_bias [3E], d_out_proj_weight [E,E],
d_out_proj_bias [E] (bias gradients None where the forward had no bias)."""


def sdpa_forward(q: ArrayLike, k: ArrayLike, v: ArrayLike, attn_mask: OptArray = None,
                 is_causal: bool = False, scale: Optional[float] = None, *,
                 causal_offset: int = 0, key_lengths: OptArray = None,
                 block_q: Optional[int] = None, block_k: int = 64) -> Tuple[Array, Any]:
    """Scaled dot-product attention forward: ``softmax(q kᵀ · scale + mask) v``.

    Parameters
    ----------
    q : ndarray [B, H, Lq, D], float32 or float64
    k : ndarray [B, Hkv, Lk, D]
        Hkv may be smaller than H (grouped-query attention, H % Hkv == 0): query head h
        uses key/value head ``h // (H // Hkv)``.
    v : ndarray [B, Hkv, Lk, Dv]
    attn_mask : ndarray or None
        Broadcastable to [B, H, Lq, Lk] (read in place through strides, never expanded).
        bool: True = may attend; float (dtype of q): added to the scaled scores.
    is_causal : bool
        Query i sees keys ``j <= i + causal_offset``; with ``causal_offset=0`` this is
        PyTorch's top-left alignment, ``causal_offset = Lk - Lq`` aligns bottom-right
        (decoding with a key/value cache). Combined with attn_mask when both are given.
    scale : float or None
        Default ``1/sqrt(D)``.
    key_lengths : ndarray [B] of int, or None
        Keys ``j >= key_lengths[b]`` are masked (padded batches); ``0 <= key_lengths[b] <= Lk``.
    block_q, block_k : int
        Tile sizes (queries, keys) of the kernel; results depend on them only by rounding.
        block_q None: 64 with is_causal (less work wasted on the diagonal), else 128;
        block_k 64 keeps a score tile, its V rows and the output tile in L1/L2.

    Returns
    -------
    out : ndarray [B, H, Lq, Dv]
        A row with no allowed key gives zeros (never NaN).
    cache : SdpaCache
        For :func:`sdpa_backward`: references to the inputs, ``out`` and the logsumexp
        ``[B, H, Lq]`` (dtype of q; -inf on fully masked rows).

    Raises
    ------
    TypeError
        q not float32/float64, k/v/float mask of another dtype, mask neither bool nor float,
        key_lengths not integer.
    ValueError
        Mismatched shapes (message names the argument, expected and actual shape), H not a
        multiple of Hkv, a mask not broadcastable, key_lengths outside [0, Lk], bad block
        sizes.

    Source: Vaswani et al. 2017 (eq. 1); Dao 2023 (FlashAttention-2);
    ``torch.nn.functional.scaled_dot_product_attention`` (semantics).
    """
    if block_q is None:
        block_q = 64 if is_causal else 128
    if scale is not None:
        scale = float_arg("scale", scale)
    return _core.sdpa_forward(q, k, v, attn_mask, bool(is_causal), scale,
                              int_arg("causal_offset", causal_offset, INT64_MIN, INT64_MAX),
                              key_lengths, int_arg("block_q", block_q, 1, INT64_MAX),
                              int_arg("block_k", block_k, 1, INT64_MAX))


def sdpa_backward(cache, dout):
    """Backward of :func:`sdpa_forward`.

    Parameters
    ----------
    cache : SdpaCache
        From :func:`sdpa_forward` (may be used more than once).
    dout : ndarray [B, H, Lq, Dv]
        Gradient of the loss w.r.t. ``out``.

    Returns
    -------
    SdpaGrads(dq [B,H,Lq,D], dk [B,Hkv,Lk,D], dv [B,Hkv,Lk,Dv]). Fully masked rows and
    masked keys get zero gradients. Bit-identical for every thread count.

    Raises
    ------
    TypeError / ValueError
        dout of another dtype / shape.
    """
    instance_arg("cache", cache, _core.SdpaCache, "the SdpaCache of sdpa_forward")
    return SdpaGrads(*_core.sdpa_backward(cache, dout))


def scaled_dot_product_attention(q, k, v, attn_mask=None, is_causal=False, scale=None, *,
                                 causal_offset=0, key_lengths=None):
    """``out [B, H, Lq, Dv]`` of :func:`sdpa_forward` (same arguments), without the cache
    being kept by the caller. Matches ``torch.nn.functional.scaled_dot_product_attention``."""
    return sdpa_forward(q, k, v, attn_mask, is_causal, scale, causal_offset=causal_offset,
                        key_lengths=key_lengths)[0]


# ------------------------------------------------------------------ single-query attention

def precompute_keys(keys, w_k):
    """``proj_keys [N, T, A] = keys [N, T, Dk] · w_kᵀ`` (w_k [A, Dk]).

    The key half of Bahdanau's score ``W_k h_t`` does not depend on the decoder state:
    compute it once per source sequence and pass it to every
    :func:`additive_attention_forward` call of that sequence. Raises TypeError / ValueError
    on dtype / shape mismatch.
    """
    return _core.precompute_keys(keys, w_k)


def additive_attention_forward(query, keys, values, w_q, w_k, v_a, key_lengths=None, *,
                               proj_keys=None):
    """Additive (Bahdanau) attention for one decoder step.

    ``e[n, t] = v_aᵀ tanh(W_q query[n] + W_k keys[n, t])``, ``weights = softmax_t(e)`` over
    ``t < key_lengths[n]``, ``context[n] = Σ_t weights[n, t] values[n, t]``. The add, tanh,
    score, masked softmax and context are fused in one pass per row.

    Parameters
    ----------
    query : ndarray [N, Dq], float32 or float64 (the decoder state s)
    keys : ndarray [N, T, Dk] (the encoder annotations h)
    values : ndarray [N, T, Dv] (often the same array as keys)
    w_q : ndarray [A, Dq];  w_k : ndarray [A, Dk];  v_a : ndarray [A]
    key_lengths : ndarray [N] of int, or None
        Valid source length of each row (0 gives zero weights and context).
    proj_keys : ndarray [N, T, A] or None
        :func:`precompute_keys` ``(keys, w_k)``, reused across decoder steps; computed here
        when None.

    Returns
    -------
    context : ndarray [N, Dv];  weights : ndarray [N, T] (zero past each length);
    cache : StepAttentionCache for :func:`additive_attention_backward`.

    Raises
    ------
    TypeError / ValueError on dtype / shape mismatch, key_lengths outside [0, T].

    Source: Bahdanau, Cho & Bengio 2015, eq. (6) and appendix A.1.2.
    """
    return _core.additive_attention_forward(query, keys, values, w_q, w_k, v_a, key_lengths,
                                            proj_keys)


def additive_attention_backward(cache, dcontext, dweights=None):
    """Backward of :func:`additive_attention_forward`.

    dcontext : [N, Dv]; dweights : [N, T] or None (gradient w.r.t. the returned weights).
    Returns AdditiveAttentionGrads(dquery [N,Dq], dkeys [N,T,Dk], dvalues [N,T,Dv],
    dw_q [A,Dq], dw_k [A,Dk], dv_a [A]); dkeys and dw_k include the path through proj_keys.
    """
    instance_arg("cache", cache, _core.StepAttentionCache,
                 "the cache of additive_attention_forward")
    return AdditiveAttentionGrads(*_core.step_attention_backward(cache, "additive", dcontext,
                                                                 dweights))


def dot_attention(query, keys, values, key_lengths=None):
    """Luong dot attention: ``e[n, t] = keys[n, t] · query[n]``, masked softmax, context.

    query [N, D], keys [N, T, D], values [N, T, Dv], key_lengths [N] or None.
    Returns (context [N, Dv], weights [N, T], cache) — the cache feeds
    :func:`luong_attention_backward`. Raises TypeError / ValueError on dtype / shape
    mismatch. Source: Luong, Pham & Manning 2015, eq. (8) "dot".
    """
    return _core.luong_attention_forward(query, keys, values, key_lengths, None)


def general_attention(query, keys, values, w, key_lengths=None):
    """Luong general attention: ``e[n, t] = keys[n, t] · (w query[n])``.

    query [N, Dq], keys [N, T, Dk], values [N, T, Dv], w [Dk, Dq] (``nn.Linear(Dq, Dk,
    bias=False).weight``, as OpenNMT's GlobalAttention), key_lengths [N] or None.
    Returns (context [N, Dv], weights [N, T], cache). Source: Luong et al. 2015, eq. (8)
    "general".
    """
    return _core.luong_attention_forward(query, keys, values, key_lengths, w)


def luong_attention_backward(cache, dcontext, dweights=None):
    """Backward of :func:`dot_attention` / :func:`general_attention`.

    Returns LuongAttentionGrads(dquery [N,Dq], dkeys [N,T,Dk], dvalues [N,T,Dv], dw [Dk,Dq]
    or None for dot attention).
    """
    instance_arg("cache", cache, _core.StepAttentionCache,
                 "the cache of dot_attention or general_attention")
    return LuongAttentionGrads(*_core.step_attention_backward(cache, "luong", dcontext,
                                                              dweights))


# ---------------------------------------------------------------------- multi-head attention

def multi_head_attention_forward(query, key, value, in_proj_weight, in_proj_bias,
                                 out_proj_weight, out_proj_bias, num_heads, attn_mask=None,
                                 is_causal=False, key_lengths=None):
    """Multi-head attention with ``torch.nn.MultiheadAttention``'s parameters.

    Parameters
    ----------
    query : ndarray [L, N, E];  key, value : ndarray [S, N, E]  (time-major, as torch's
        default ``batch_first=False``)
    in_proj_weight : [3E, E] (q, k, v rows stacked);  in_proj_bias : [3E] or None
    out_proj_weight : [E, E];  out_proj_bias : [E] or None
    num_heads : int, dividing E
    attn_mask : [L, S] or [N·num_heads, L, S], or None. torch's MHA convention: bool True =
        NOT allowed; float is added to the scores.
    is_causal : bool  (query i sees keys j <= i)
    key_lengths : [N] or None  (instead of torch's key_padding_mask)

    Returns
    -------
    out : ndarray [L, N, E];  cache for :func:`multi_head_attention_backward` (holds the
    projections, the attention output and its logsumexp).

    Raises TypeError / ValueError on dtype / shape mismatch or E % num_heads != 0.
    Source: Vaswani et al. 2017, section 3.2.2; ``torch.nn.MultiheadAttention``.
    """
    return _core.mha_forward(query, key, value, in_proj_weight, in_proj_bias, out_proj_weight,
                             out_proj_bias, int_arg("num_heads", num_heads, 1, INT64_MAX),
                             attn_mask, bool(is_causal),
                             key_lengths)


def multi_head_attention_backward(cache, dout):
    """Backward of :func:`multi_head_attention_forward`; dout [L, N, E].

    Returns MultiHeadAttentionGrads (dquery, dkey, dvalue are separate even when the same
    array was passed: sum them for self-attention).
    """
    instance_arg("cache", cache, _core.MultiHeadAttentionCache,
                 "the cache of multi_head_attention_forward")
    return MultiHeadAttentionGrads(*_core.mha_backward(cache, dout))


def sinusoidal_positional_encoding(length, d_model, dtype=np.float32):
    """``pe [length, d_model]``: ``pe[p, 2i] = sin(p / 10000^(2i/d_model))``,
    ``pe[p, 2i+1] = cos(p / 10000^(2i/d_model))``.

    Raises TypeError for a length or d_model that is not an int, ValueError for length
    outside [0, 2**31) or d_model outside [1, 2**24] (no model is wider; a wider request
    would be minutes of work before running out of memory). Source: Vaswani et al. 2017,
    section 3.5.
    """
    length = int_arg("length", length, 0, 2**31 - 1)
    d_model = int_arg("d_model", d_model, 1, 2**24)
    pos = np.arange(length, dtype=np.float64)[:, None]
    inv = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2, dtype=np.float64) / d_model)
    pe = np.zeros((length, d_model), np.float64)
    pe[:, 0::2] = np.sin(pos * inv)
    pe[:, 1::2] = np.cos(pos * inv[: d_model // 2])
    return pe.astype(dtype)

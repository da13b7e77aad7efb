"""torch.autograd wrappers of seqcore's attention, CTC and output-layer kernels.

Each function has the signature of its ``torch.nn.functional`` counterpart; each module
subclasses (or mirrors) its ``torch.nn`` counterpart. Unsupported arguments (dropout inside
attention, class weights, ...) raise ``ValueError`` naming the case: nothing falls back to a
slower path silently.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import attention as _attn
from .. import output_layers as _out
from ._util import from_numpy, to_numpy

__all__ = ["scaled_dot_product_attention", "MultiheadAttention", "cross_entropy",
           "NegativeSamplingLoss", "HierarchicalSoftmax", "ctc_loss", "ctc_loss_from_logits",
           "CTCLoss"]


def _check_tensors(where, **tensors):
    for name, t in tensors.items():
        if t is None:
            continue
        if t.device.type != "cpu":
            raise ValueError(f"seqcore.torch.{where}: {name} is on {t.device}; seqcore was "
                             f"built for the CPU only")
        if t.is_floating_point() and t.dtype not in (torch.float32, torch.float64):
            raise TypeError(f"seqcore.torch.{where}: {name} has dtype {t.dtype}; expected "
                            f"torch.float32 or torch.float64")


# ------------------------------------------------------------------------------ attention

class _Sdpa(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale):
        out, cache = _attn.sdpa_forward(to_numpy(q), to_numpy(k), to_numpy(v),
                                        None if mask is None else to_numpy(mask),
                                        is_causal, scale)
        ctx.cache = cache
        return from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        g = _attn.sdpa_backward(ctx.cache, to_numpy(dout))
        return from_numpy(g.dq), from_numpy(g.dk), from_numpy(g.dv), None, None, None


def _compiling():
    return torch.compiler.is_compiling()


def _needs_grad(*tensors):
    return torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in tensors)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0,
                                 is_causal=False, scale=None, enable_gqa=False):
    """``torch.nn.functional.scaled_dot_product_attention`` on seqcore's flash-style kernel.

    Shapes ``[..., L, E]`` as torch (any leading batch dims; query [..., Hq, L, E] and
    key/value [..., Hkv, S, E] with ``enable_gqa=True`` when Hkv < Hq). Masks: bool (True =
    may attend) or float (added), broadcastable to [..., L, S]. Raises ValueError for
    ``dropout_p > 0`` (no dropout inside the kernel) and for mismatched heads without
    ``enable_gqa``.
    """
    _check_tensors("scaled_dot_product_attention", query=query, key=key, value=value,
                   attn_mask=attn_mask)
    if dropout_p:
        raise ValueError("seqcore.torch.scaled_dot_product_attention: dropout_p > 0 is not "
                         "supported (apply dropout outside, or use torch's)")
    if query.dim() < 2 or key.dim() != query.dim() or value.dim() != query.dim():
        raise ValueError("scaled_dot_product_attention: query, key and value must have the "
                         "same rank >= 2")
    if query.dim() >= 3 and key.shape[-3] != query.shape[-3] and not enable_gqa:
        raise ValueError("scaled_dot_product_attention: key/value have fewer heads than "
                         "query; pass enable_gqa=True (as torch)")
    lead = query.shape[:-2]
    if query.dim() == 2:
        q4, k4, v4 = (t[None, None] for t in (query, key, value))
    elif query.dim() == 3:
        q4, k4, v4 = (t[:, None] for t in (query, key, value))
    else:
        b = math.prod(query.shape[:-3])
        q4, k4, v4 = (t.reshape(b, *t.shape[-3:]) for t in (query, key, value))
    mask = attn_mask
    if mask is not None:
        mask = mask.to(query.dtype) if mask.dtype not in (torch.bool, query.dtype) else mask
        while mask.dim() < 4:
            mask = mask[None]
        if mask.dim() > 4:
            mask = mask.reshape(-1, *mask.shape[-3:])
        if mask.dtype != torch.bool and mask.requires_grad:
            raise ValueError("scaled_dot_product_attention: gradients w.r.t. attn_mask are "
                             "not supported")
    args = (q4.contiguous(), k4.contiguous(), v4.contiguous(),
            None if mask is None else mask.detach(), bool(is_causal),
            None if scale is None else float(scale))
    if _compiling():   # the seqcore::sdpa operator: traceable (seqcore.torch._ops)
        from . import _ops
        out = _ops.sdpa(*args, _needs_grad(*args[:3]))[0]
    else:
        out = _Sdpa.apply(*args)
    return out.reshape(*lead, *out.shape[-2:])


class _Mha(torch.autograd.Function):
    @staticmethod
    def forward(ctx, q, k, v, w_in, b_in, w_out, b_out, num_heads, mask, is_causal, lengths):
        out, cache = _attn.multi_head_attention_forward(
            to_numpy(q), to_numpy(k), to_numpy(v), to_numpy(w_in), to_numpy(b_in),
            to_numpy(w_out), to_numpy(b_out), num_heads,
            None if mask is None else to_numpy(mask), is_causal, lengths)
        ctx.cache = cache
        ctx.same = (q is k, k is v)
        return from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        g = _attn.multi_head_attention_backward(ctx.cache, to_numpy(dout))
        return (from_numpy(g.dquery), from_numpy(g.dkey), from_numpy(g.dvalue),
                from_numpy(g.d_in_proj_weight), from_numpy(g.d_in_proj_bias),
                from_numpy(g.d_out_proj_weight), from_numpy(g.d_out_proj_bias),
                None, None, None, None)


def _suffix_lengths(key_padding_mask, S):
    """[N] key lengths from a right-padding mask (True = padded), or ValueError."""
    m = key_padding_mask
    if m.dtype != torch.bool:
        raise ValueError("key_padding_mask: only bool masks are supported (True = padding)")
    lengths = (~m).sum(1)
    expect = torch.arange(S)[None, :] >= lengths[:, None]
    if not torch.equal(expect, m):
        raise ValueError("key_padding_mask: must mark a suffix of each row (right padding); "
                         "other patterns go through attn_mask")
    return lengths.numpy().astype(np.int64)


class MultiheadAttention(torch.nn.MultiheadAttention):
    """``torch.nn.MultiheadAttention`` on seqcore's multi-head attention kernels.

    Same constructor, parameters (packed ``in_proj_weight [3E, E]``, ``out_proj``) and state
    dict. ``need_weights=True`` (torch's default) returns the attention weights computed in an
    extra pass over [N, L, S] (the kernel never stores them): pass ``need_weights=False`` for
    speed. ``key_padding_mask`` must be right padding (bool, True = pad). Unsupported (a
    ValueError names it): dropout > 0 in training, separate q/k/v projection weights
    (kdim/vdim != embed_dim), ``add_bias_kv``, ``add_zero_attn``.
    """

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
        name = "MultiheadAttention"
        if self.dropout and self.training:
            raise ValueError(f"seqcore.torch.{name}: dropout > 0 is not supported")
        if not self._qkv_same_embed_dim or self.bias_k is not None or self.add_zero_attn:
            raise ValueError(f"seqcore.torch.{name}: kdim/vdim != embed_dim, add_bias_kv and "
                             f"add_zero_attn are not supported")
        _check_tensors(name, query=query, key=key, value=value, attn_mask=attn_mask)
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = (t.unsqueeze(1) for t in (query, key, value))
        elif self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        S = key.shape[0]
        lengths = None
        if key_padding_mask is not None:
            kpm = key_padding_mask.unsqueeze(0) if unbatched else key_padding_mask
            lengths = _suffix_lengths(kpm, S)
        mask = attn_mask.detach() if attn_mask is not None else None
        if is_causal and mask is not None:
            mask = None   # torch: attn_mask is a hint of the causal mask when is_causal
        tensors = (query.contiguous(), key.contiguous(), value.contiguous(),
                   self.in_proj_weight, self.in_proj_bias, self.out_proj.weight,
                   self.out_proj.bias)
        if _compiling():   # the seqcore::mha operator (seqcore.torch._ops)
            from . import _ops
            out = _ops.mha(*tensors, self.num_heads, mask, bool(is_causal),
                           None if lengths is None else torch.from_numpy(lengths),
                           _needs_grad(*tensors))[0]
        else:
            out = _Mha.apply(*tensors, self.num_heads, mask, bool(is_causal), lengths)
        weights = None
        if need_weights:
            weights = self._weights(query, key, mask, is_causal, lengths, average_attn_weights)
        if unbatched:
            out = out.squeeze(1)
            weights = weights.squeeze(0) if weights is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    @torch.no_grad()
    def _weights(self, query, key, mask, is_causal, lengths, average):
        L, N, E = query.shape
        S, h = key.shape[0], self.num_heads
        w_q, w_k, _ = self.in_proj_weight.chunk(3)
        b_q, b_k, _ = (self.in_proj_bias.chunk(3) if self.in_proj_bias is not None
                       else (None, None, None))
        q = torch.nn.functional.linear(query, w_q, b_q).reshape(L, N * h, -1).transpose(0, 1)
        k = torch.nn.functional.linear(key, w_k, b_k).reshape(S, N * h, -1).transpose(0, 1)
        scores = q @ k.transpose(1, 2) / math.sqrt(E // h)          # [N*h, L, S]
        if mask is not None:
            scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool \
                else scores + mask
        if is_causal:
            scores = scores.masked_fill(torch.ones(L, S, dtype=torch.bool).triu(1),
                                        float("-inf"))
        if lengths is not None:
            pad = torch.arange(S)[None, :] >= torch.from_numpy(lengths)[:, None]
            scores = scores.reshape(N, h, L, S).masked_fill(pad[:, None, None, :],
                                                            float("-inf")).reshape(N * h, L, S)
        w = torch.softmax(scores, -1).nan_to_num(0.0).reshape(N, h, L, S)
        return w.mean(1) if average else w


# ------------------------------------------------------------------------------ losses

class _CrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, reduction, ignore_index, label_smoothing):
        res = _out.softmax_cross_entropy(to_numpy(logits), to_numpy(target), reduction,
                                         ignore_index, label_smoothing)
        ctx.dlogits = from_numpy(res.dlogits)
        ctx.reduction = reduction
        return torch.as_tensor(np.asarray(res.loss), dtype=logits.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dloss):
        if ctx.reduction == "none":
            return ctx.dlogits * dloss[:, None], None, None, None, None
        return ctx.dlogits * dloss, None, None, None, None


def cross_entropy(input, target, weight=None, size_average=None, ignore_index=-100,
                  reduce=None, reduction="mean", label_smoothing=0.0):
    """``torch.nn.functional.cross_entropy`` for ``input [N, C]`` and class-index
    ``target [N]`` on seqcore's fused kernel. Raises ValueError for class ``weight``,
    the deprecated ``size_average``/``reduce``, probability targets or other ranks."""
    _check_tensors("cross_entropy", input=input)
    if weight is not None or size_average is not None or reduce is not None:
        raise ValueError("seqcore.torch.cross_entropy: weight, size_average and reduce are "
                         "not supported")
    if input.dim() != 2 or target.dim() != 1 or target.is_floating_point():
        raise ValueError("seqcore.torch.cross_entropy: expected input [N, C] and class-index "
                         "target [N]")
    args = (input.contiguous(), target.contiguous(), reduction, int(ignore_index),
            float(label_smoothing))
    if _compiling():   # the seqcore::cross_entropy operator (seqcore.torch._ops)
        from . import _ops
        return _ops.cross_entropy(*args)[0]
    return _CrossEntropy.apply(*args)


class _SparseLoss(torch.autograd.Function):
    """(h, weight) -> loss of a sparse-gradient output layer (negative sampling, HS)."""

    @staticmethod
    def forward(ctx, h, weight, fn, reduction):
        res = fn(to_numpy(h), to_numpy(weight))
        ctx.dh = from_numpy(res.dh)
        ctx.rows = torch.from_numpy(np.asarray(res.rows, np.int64))
        ctx.drows = from_numpy(res.drows)
        ctx.shape, ctx.reduction = weight.shape, reduction
        return torch.as_tensor(np.asarray(res.loss), dtype=h.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dloss):
        if ctx.reduction == "none":
            raise RuntimeError("seqcore.torch: backward of an unreduced (reduction='none') "
                               "sparse loss is not supported; use 'mean' or 'sum'")
        dw = torch.zeros(ctx.shape, dtype=ctx.drows.dtype)
        dw.index_put_((ctx.rows,), ctx.drows * dloss, accumulate=True)
        return ctx.dh * dloss, dw, None, None


def _negative_sampling_fn(sampler, stream, num_negatives, shared_negatives, reduction,
                         targets):
    """(h, weight) -> the kernel's result, negatives drawn from ``stream`` of ``sampler``."""
    t = to_numpy(targets)
    shape = (num_negatives,) if shared_negatives else (len(t), num_negatives)
    negatives = sampler.sample(shape, stream=stream)

    def fn(hn, w):
        return _out.negative_sampling_loss(hn, w, t, negatives,
                                           shared_negatives=shared_negatives,
                                           reduction=reduction)
    return fn


def _hierarchical_softmax_fn(tree, reduction, targets):
    t = to_numpy(targets)

    def fn(hn, w):
        return _out.hierarchical_softmax_loss(hn, w, t, tree, reduction)
    return fn


class NegativeSamplingLoss(torch.nn.Module):
    """word2vec's negative-sampling output layer (Mikolov et al. 2013) as a module.

    Owns ``weight [V, D]`` (syn1neg, zero-initialised as word2vec.c) and a unigram sampler
    (counts^power, alias method). ``forward(h [N, D], targets [N]) -> loss`` draws ``K``
    negatives per row (or one shared set with ``shared_negatives=True``). The weight's
    gradient is dense in torch (rows not drawn are zero).
    """

    def __init__(self, counts, embedding_dim, num_negatives=5, power=0.75,
                 shared_negatives=False, reduction="mean", seed=0, dtype=torch.float32):
        super().__init__()
        self.sampler = _out.UnigramSampler(np.asarray(counts), power=power, seed=seed)
        self.weight = torch.nn.Parameter(torch.zeros(self.sampler.size, embedding_dim,
                                                     dtype=dtype))
        self.num_negatives, self.shared_negatives = int(num_negatives), bool(shared_negatives)
        self.reduction = reduction
        # the sampler's stream of the next call (a tensor, so torch.compile traces the
        # increment; not in the state dict)
        self.register_buffer("_stream", torch.zeros((), dtype=torch.int64), persistent=False)

    def forward(self, h, targets):
        _check_tensors("NegativeSamplingLoss", h=h)
        if _compiling():   # the seqcore::negative_sampling operator (seqcore.torch._ops)
            from . import _ops
            out = _ops.negative_sampling(h.contiguous(), self.weight, targets,
                                         _ops.register_object(self.sampler), self._stream,
                                         self.num_negatives, self.shared_negatives,
                                         self.reduction)[0]
        else:
            fn = _negative_sampling_fn(self.sampler, int(self._stream), self.num_negatives,
                                       self.shared_negatives, self.reduction, targets)
            out = _SparseLoss.apply(h.contiguous(), self.weight, fn, self.reduction)
        self._stream += 1
        return out


class HierarchicalSoftmax(torch.nn.Module):
    """Hierarchical softmax over a Huffman tree (Morin & Bengio 2005; word2vec.c).

    Owns the tree built from ``counts`` and the inner-node weights ``weight [V-1, D]``
    (zero-initialised as word2vec.c). ``forward(h [N, D], targets [N]) -> loss``;
    ``log_probs(h, ids=None)`` gives the normalised distribution.
    """

    def __init__(self, counts, embedding_dim, reduction="mean", dtype=torch.float32):
        super().__init__()
        self.tree = _out.HuffmanTree(np.asarray(counts))
        V = len(np.asarray(counts))
        self.weight = torch.nn.Parameter(torch.zeros(V - 1, embedding_dim, dtype=dtype))
        self.reduction = reduction

    def forward(self, h, targets):
        _check_tensors("HierarchicalSoftmax", h=h)
        if _compiling():   # the seqcore::hierarchical_softmax operator (seqcore.torch._ops)
            from . import _ops
            return _ops.hierarchical_softmax(h.contiguous(), self.weight, targets,
                                             _ops.register_object(self.tree),
                                             self.reduction)[0]
        fn = _hierarchical_softmax_fn(self.tree, self.reduction, targets)
        return _SparseLoss.apply(h.contiguous(), self.weight, fn, self.reduction)

    @torch.no_grad()
    def log_probs(self, h, ids=None):
        return from_numpy(_out.hierarchical_softmax_log_probs(
            to_numpy(h), to_numpy(self.weight), self.tree,
            None if ids is None else to_numpy(ids)))


# ------------------------------------------------------------------------------ CTC

class _Ctc(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, targets, input_lengths, target_lengths, blank, reduction,
                zero_infinity, from_logits):
        from .. import ctc as _ctc
        fn = _ctc.ctc_loss_from_logits if from_logits else _ctc.ctc_loss
        loss, grad = fn(to_numpy(x), to_numpy(targets), to_numpy(input_lengths),
                        to_numpy(target_lengths), blank=blank, reduction=reduction,
                        zero_infinity=zero_infinity)
        ctx.grad, ctx.reduction = from_numpy(grad), reduction
        return torch.as_tensor(np.asarray(loss), dtype=x.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, dloss):
        g = ctx.grad * (dloss[None, :, None] if ctx.reduction == "none" else dloss)
        return g, None, None, None, None, None, None, None


def _ctc(*args):
    if _compiling():   # the seqcore::ctc_loss operator (seqcore.torch._ops)
        from . import _ops
        return _ops.ctc_loss(*args)[0]
    return _Ctc.apply(*args)


def _lengths(t, name):
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().to(torch.int64)
    return torch.as_tensor(t, dtype=torch.int64)


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    """``torch.nn.functional.ctc_loss`` on seqcore's CTC: log_probs [T, N, C] (or [T, C]
    unbatched), targets padded [N, S] or concatenated; same reductions. The gradient is the
    exact one w.r.t. ``log_probs`` (also for scores that are not normalised, pytorch#52241)."""
    _check_tensors("ctc_loss", log_probs=log_probs)
    unbatched = log_probs.dim() == 2
    if unbatched:
        log_probs = log_probs.unsqueeze(1)
        targets = targets.unsqueeze(0) if targets.dim() == 1 else targets
    out = _ctc(log_probs.contiguous(), _lengths(targets, "targets"),
               _lengths(input_lengths, "input_lengths").reshape(-1),
               _lengths(target_lengths, "target_lengths").reshape(-1), int(blank),
               reduction, bool(zero_infinity), False)
    return out.squeeze(0) if unbatched and reduction == "none" else out


def ctc_loss_from_logits(logits, targets, input_lengths, target_lengths, blank=0,
                         reduction="mean", zero_infinity=False):
    """CTC of ``log_softmax(logits)`` with the gradient w.r.t. ``logits`` (as warp-ctc)."""
    _check_tensors("ctc_loss_from_logits", logits=logits)
    return _ctc(logits.contiguous(), _lengths(targets, "targets"),
                _lengths(input_lengths, "input_lengths").reshape(-1),
                _lengths(target_lengths, "target_lengths").reshape(-1), int(blank),
                reduction, bool(zero_infinity), True)


class CTCLoss(torch.nn.CTCLoss):
    """``torch.nn.CTCLoss`` on seqcore's CTC (same constructor and forward)."""

    def forward(self, log_probs, targets, input_lengths, target_lengths):
        return ctc_loss(log_probs, targets, input_lengths, target_lengths, self.blank,
                        self.reduction, self.zero_infinity)

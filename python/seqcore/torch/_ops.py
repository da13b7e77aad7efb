"""seqcore's torch-facing kernels as ``torch.library`` custom operators, for ``torch.compile``.

Eager calls go through the ``torch.autograd.Function``\\ s of :mod:`.rnn` and
:mod:`.functional`; under ``torch.compile`` (``torch.compiler.is_compiling()``) the modules
and functions call these operators instead, so Dynamo traces a model without a graph break
(``fullgraph=True``). Each operator runs the same Function's ``forward`` / ``backward`` on a
stand-in ctx (:class:`_Ctx`): one implementation, two entry points, the same results.

Every operator has a fake (meta) implementation giving its output shapes and an autograd
registration (``register_autograd``) whose backward is a second operator (or plain torch
ops), so AOTAutograd traces forward and backward.

Saved activations that are not tensors (the RNN and attention caches) stay in Python: the
forward returns a 0-d int64 *handle* tensor (always 0, so outputs are deterministic) whose
identity keys the ctx in ``_CTXS``; the backward takes the ctx back by the same handle
object. Should the handle not be the forward's own object (a copy made somewhere), the
backward recomputes the activations from the saved inputs, as a second backward in eager
mode does: correct either way. An entry leaves ``_CTXS`` at its backward or when its handle
is freed (no backward ever ran).
"""
from __future__ import annotations

import weakref
from typing import Any, Dict, List, Optional, Tuple

import torch
from torch import Tensor

from . import functional as _fn
from . import rnn as _rnn

_CTXS: Dict[int, tuple] = {}
#: (backwards that found their forward's ctx, backwards that recomputed it): for tests
STATS = {"cached": 0, "recomputed": 0}


class _Ctx:
    """Stands in for an autograd ctx, so a Function's forward/backward run unchanged."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = tuple(needs_input_grad)
        self.saved_tensors: tuple = ()

    def save_for_backward(self, *tensors):
        self.saved_tensors = tensors

    def __getattr__(self, name: str) -> Any:  # what a Function's forward stores (for mypy)
        raise AttributeError(name)


def _stash(ctx) -> Tensor:
    handle = torch.zeros((), dtype=torch.int64)
    key = handle.data_ptr()
    _CTXS[key] = (weakref.ref(handle), ctx)
    weakref.finalize(handle, _CTXS.pop, key, None)
    return handle


def _take(handle: Tensor):
    entry = _CTXS.get(handle.data_ptr())
    if entry is not None and entry[0]() is handle:
        del _CTXS[handle.data_ptr()]
        STATS["cached"] += 1
        return entry[1]
    STATS["recomputed"] += 1
    return None


def _no_handle() -> Tensor:
    return torch.zeros((), dtype=torch.int64)


def _fake_handle(like: Tensor) -> Tensor:
    return like.new_empty((), dtype=torch.int64)


def _or_zeros(grad: Optional[Tensor], like: Tensor) -> Tensor:
    return torch.zeros_like(like) if grad is None else grad


# ---------------------------------------------------------------------------- RNN layer

def _rnn_options(cell: str, reverse: bool, linear_before_reset: bool, nonlinearity: str):
    options: Dict[str, Any] = {"reverse": reverse}
    if cell == "gru":
        options["linear_before_reset"] = linear_before_reset
    elif cell == "rnn":
        options["nonlinearity"] = nonlinearity
    return options


def _lengths_np(lengths: Optional[Tensor]):
    return None if lengths is None else lengths.numpy()


# An absent tensor of a direction (the GRU's and RNN's c0, biases with bias=False) travels
# as a 0-element placeholder: AOTAutograd mishandles None inside a Tensor?[] argument.
def placeholders(per_dir):
    """per_dir with None replaced by 0-element tensors (the operators' form)."""
    return [torch.empty(0) if t is None else t for t in per_dir]


def _absent(t: Tensor) -> bool:
    return t.numel() == 0 and t.dim() == 1


def _rnn_forward(ctx, cell, reverse, linear_before_reset, nonlinearity, lengths, x, per_dir):
    per_dir = [None if _absent(t) else t for t in per_dir]
    return _rnn._RnnLayer.forward(ctx, cell, _rnn_options(cell, reverse, linear_before_reset,
                                                          nonlinearity),
                                  _lengths_np(lengths), x, *per_dir)


@torch.library.custom_op("seqcore::rnn_layer", mutates_args=())
def rnn_layer(cell: str, reverse: bool, linear_before_reset: bool, nonlinearity: str,
              lengths: Optional[Tensor], x: Tensor, per_dir: List[Tensor],
              training: bool) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """One layer, all directions (see ``_RnnLayer``; absent tensors as
    :func:`placeholders`): (y, h_n, c_n, handle)."""
    ctx = _Ctx([False] * 3 + [training] * (1 + len(per_dir)))
    y, h_n, c_n = _rnn_forward(ctx, cell, reverse, linear_before_reset, nonlinearity, lengths,
                               x, per_dir)
    return y, h_n, c_n, _stash(ctx) if training else _no_handle()


@rnn_layer.register_fake
def _(cell, reverse, linear_before_reset, nonlinearity, lengths, x, per_dir, training):
    D = len(per_dir) // _rnn._PER_DIRECTION
    T, N, H = x.shape[0], x.shape[1], per_dir[3].shape[1]
    return (x.new_empty(T, N, D * H), x.new_empty(D, N, H), x.new_empty(D, N, H),
            _fake_handle(x))


@torch.library.custom_op("seqcore::rnn_layer_backward", mutates_args=())
def rnn_layer_backward(handle: Tensor, dy: Tensor, dh_n: Tensor, dc_n: Tensor, cell: str,
                       reverse: bool, linear_before_reset: bool, nonlinearity: str,
                       lengths: Optional[Tensor], x: Tensor,
                       per_dir: List[Tensor]) -> List[Tensor]:
    """Gradients of the present tensors among (x, *per_dir), in that order."""
    ctx = _take(handle)
    if ctx is None:
        ctx = _Ctx([False] * 3 + [True] * (1 + len(per_dir)))
        _rnn_forward(ctx, cell, reverse, linear_before_reset, nonlinearity, lengths, x,
                     per_dir)
    grads = _rnn._RnnLayer.backward(ctx, dy, dh_n, dc_n)[3:]
    return [g for g, t in zip(grads, [x, *per_dir]) if not _absent(t)]


@rnn_layer_backward.register_fake
def _(handle, dy, dh_n, dc_n, cell, reverse, linear_before_reset, nonlinearity, lengths, x,
      per_dir):
    return [torch.empty_like(t) for t in [x, *per_dir] if not _absent(t)]


def _rnn_setup(ctx, inputs, output):
    cell, reverse, lbr, nonlinearity, lengths, x, per_dir, _ = inputs
    ctx.args = (cell, reverse, lbr, nonlinearity)
    ctx.n_dir = len(per_dir)
    ctx.save_for_backward(output[3], lengths, x, *per_dir)


def _rnn_backward(ctx, dy, dh_n, dc_n, _dhandle):
    handle, lengths, x, *per_dir = ctx.saved_tensors
    grads = iter(rnn_layer_backward(handle, _or_zeros(dy, dy), _or_zeros(dh_n, dh_n),
                                    _or_zeros(dc_n, dc_n), *ctx.args, lengths, x, per_dir))
    dx = next(grads)
    d_per_dir = [None if _absent(t) else next(grads) for t in per_dir]
    return None, None, None, None, None, dx, d_per_dir, None


rnn_layer.register_autograd(_rnn_backward, setup_context=_rnn_setup)


# ---------------------------------------------------------------------------- attention

@torch.library.custom_op("seqcore::sdpa", mutates_args=())
def sdpa(q: Tensor, k: Tensor, v: Tensor, mask: Optional[Tensor], is_causal: bool,
         scale: Optional[float], training: bool) -> Tuple[Tensor, Tensor]:
    """Scaled dot-product attention on [B, H, L, E] (see ``_Sdpa``): (out, handle)."""
    ctx = _Ctx([training] * 3 + [False] * 3)
    out = _fn._Sdpa.forward(ctx, q, k, v, mask, is_causal, scale)
    return out, _stash(ctx) if training else _no_handle()


@sdpa.register_fake
def _(q, k, v, mask, is_causal, scale, training):
    return q.new_empty(*q.shape[:-1], v.shape[-1]), _fake_handle(q)


@torch.library.custom_op("seqcore::sdpa_backward", mutates_args=())
def sdpa_backward(handle: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor,
                  mask: Optional[Tensor], is_causal: bool,
                  scale: Optional[float]) -> Tuple[Tensor, Tensor, Tensor]:
    ctx = _take(handle)
    if ctx is None:
        ctx = _Ctx([True] * 3 + [False] * 3)
        _fn._Sdpa.forward(ctx, q, k, v, mask, is_causal, scale)
    return _fn._Sdpa.backward(ctx, dout)[:3]


@sdpa_backward.register_fake
def _(handle, dout, q, k, v, mask, is_causal, scale):
    return torch.empty_like(q), torch.empty_like(k), torch.empty_like(v)


def _sdpa_setup(ctx, inputs, output):
    q, k, v, mask, is_causal, scale, _ = inputs
    ctx.args = (is_causal, scale)
    ctx.save_for_backward(output[1], q, k, v, mask)


def _sdpa_backward(ctx, dout, _dhandle):
    handle, q, k, v, mask = ctx.saved_tensors
    dq, dk, dv = sdpa_backward(handle, dout, q, k, v, mask, *ctx.args)
    return dq, dk, dv, None, None, None, None


sdpa.register_autograd(_sdpa_backward, setup_context=_sdpa_setup)


@torch.library.custom_op("seqcore::mha", mutates_args=())
def mha(q: Tensor, k: Tensor, v: Tensor, w_in: Tensor, b_in: Optional[Tensor], w_out: Tensor,
        b_out: Optional[Tensor], num_heads: int, mask: Optional[Tensor], is_causal: bool,
        lengths: Optional[Tensor], training: bool) -> Tuple[Tensor, Tensor]:
    """Multi-head attention [L, N, E] (see ``_Mha``): (out, handle)."""
    ctx = _Ctx([training] * 7 + [False] * 4)
    out = _fn._Mha.forward(ctx, q, k, v, w_in, b_in, w_out, b_out, num_heads, mask,
                           is_causal, _lengths_np(lengths))
    return out, _stash(ctx) if training else _no_handle()


@mha.register_fake
def _(q, k, v, w_in, b_in, w_out, b_out, num_heads, mask, is_causal, lengths, training):
    return q.new_empty(q.shape[0], q.shape[1], w_out.shape[0]), _fake_handle(q)


_MHA_GRADS = 7   # query, key, value, in_proj weight and bias, out_proj weight and bias


@torch.library.custom_op("seqcore::mha_backward", mutates_args=())
def mha_backward(handle: Tensor, dout: Tensor, q: Tensor, k: Tensor, v: Tensor, w_in: Tensor,
                 b_in: Optional[Tensor], w_out: Tensor, b_out: Optional[Tensor],
                 num_heads: int, mask: Optional[Tensor], is_causal: bool,
                 lengths: Optional[Tensor]) -> List[Tensor]:
    """Gradients of the present tensors among (q, k, v, w_in, b_in, w_out, b_out)."""
    ctx = _take(handle)
    inputs = [q, k, v, w_in, b_in, w_out, b_out]
    if ctx is None:
        ctx = _Ctx([True] * 7 + [False] * 4)
        _fn._Mha.forward(ctx, q, k, v, w_in, b_in, w_out, b_out, num_heads, mask, is_causal,
                         _lengths_np(lengths))
    grads = _fn._Mha.backward(ctx, dout)[:_MHA_GRADS]
    return [g for g, t in zip(grads, inputs) if t is not None]


@mha_backward.register_fake
def _(handle, dout, q, k, v, w_in, b_in, w_out, b_out, num_heads, mask, is_causal, lengths):
    return [torch.empty_like(t) for t in (q, k, v, w_in, b_in, w_out, b_out) if t is not None]


def _mha_setup(ctx, inputs, output):
    *tensors, num_heads, mask, is_causal, lengths, _ = inputs
    ctx.args = (num_heads, is_causal)
    ctx.save_for_backward(output[1], mask, lengths, *tensors)


def _mha_backward(ctx, dout, _dhandle):
    handle, mask, lengths, *tensors = ctx.saved_tensors
    num_heads, is_causal = ctx.args
    grads = iter(mha_backward(handle, dout, *tensors, num_heads, mask, is_causal, lengths))
    return (*[next(grads) if t is not None else None for t in tensors],
            None, None, None, None, None)


mha.register_autograd(_mha_backward, setup_context=_mha_setup)


# ---------------------------------------------------------------------------- losses
# These kernels return the gradient with the loss: the operator returns both, and the
# backward is plain torch arithmetic on the saved gradient.

@torch.library.custom_op("seqcore::cross_entropy", mutates_args=())
def cross_entropy(logits: Tensor, target: Tensor, reduction: str, ignore_index: int,
                  label_smoothing: float) -> Tuple[Tensor, Tensor]:
    """Softmax cross-entropy (see ``_CrossEntropy``): (loss, dloss/dlogits)."""
    ctx = _Ctx([False] * 5)
    loss = _fn._CrossEntropy.forward(ctx, logits, target, reduction, ignore_index,
                                     label_smoothing)
    return loss, ctx.dlogits


@cross_entropy.register_fake
def _(logits, target, reduction, ignore_index, label_smoothing):
    shape = (logits.shape[0],) if reduction == "none" else ()
    return logits.new_empty(shape), torch.empty_like(logits)


def _register_loss_autograd(op, n_inputs, reduction_at, per_item):
    """The backward of a (loss, gradient) operator: the saved gradient times dloss (for
    reduction='none', dloss reshaped by ``per_item`` to broadcast over each item's rows)."""
    def setup(ctx, inputs, output):
        ctx.reduction = inputs[reduction_at]
        ctx.save_for_backward(output[1])

    def backward(ctx, dloss, _dgrad):
        (grad,) = ctx.saved_tensors
        scale = per_item(dloss) if ctx.reduction == "none" else dloss
        return (grad * scale,) + (None,) * (n_inputs - 1)

    op.register_autograd(backward, setup_context=setup)


_register_loss_autograd(cross_entropy, 5, 2, lambda d: d[:, None])


@torch.library.custom_op("seqcore::ctc_loss", mutates_args=())
def ctc_loss(x: Tensor, targets: Tensor, input_lengths: Tensor, target_lengths: Tensor,
             blank: int, reduction: str, zero_infinity: bool,
             from_logits: bool) -> Tuple[Tensor, Tensor]:
    """CTC (see ``_Ctc``): (loss, dloss/dx)."""
    ctx = _Ctx([False] * 8)
    loss = _fn._Ctc.forward(ctx, x, targets, input_lengths, target_lengths, blank, reduction,
                            zero_infinity, from_logits)
    return loss, ctx.grad


@ctc_loss.register_fake
def _(x, targets, input_lengths, target_lengths, blank, reduction, zero_infinity, from_logits):
    shape = (x.shape[1],) if reduction == "none" else ()
    return x.new_empty(shape), torch.empty_like(x)


_register_loss_autograd(ctc_loss, 8, 5, lambda d: d[None, :, None])


# ---------------------------------------------------------------------------- sparse output
# The sampler / tree of a module travels as an int key (constant for the module, so Dynamo
# bakes it in); the negative-sampling stream as a 0-d int64 tensor the module increments,
# so a call's negatives are a function of its inputs (the same draws eager and compiled).

_OBJECTS: "weakref.WeakValueDictionary[int, object]" = weakref.WeakValueDictionary()


@torch.compiler.assume_constant_result   # run while tracing; the key is a graph constant
def register_object(obj) -> int:
    """An int key for ``obj`` (a UnigramSampler or HuffmanTree) that the operators accept."""
    _OBJECTS[id(obj)] = obj
    return id(obj)


def _object(key: int, what: str):
    obj = _OBJECTS.get(key)
    if obj is None:
        raise ValueError(f"{what}: no live object with key {key} (register_object)")
    return obj


def _sparse_outputs(ctx, loss):
    return loss, ctx.dh, ctx.rows, ctx.drows


def _sparse_fake(h, weight, reduction):
    n = torch.library.get_ctx().new_dynamic_size()
    shape = (h.shape[0],) if reduction == "none" else ()
    return (h.new_empty(shape), torch.empty_like(h), h.new_empty(n, dtype=torch.int64),
            weight.new_empty(n, weight.shape[1]))


@torch.library.custom_op("seqcore::negative_sampling", mutates_args=())
def negative_sampling(h: Tensor, weight: Tensor, targets: Tensor, sampler: int,
                      stream: Tensor, num_negatives: int, shared_negatives: bool,
                      reduction: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Negative-sampling loss (see ``NegativeSamplingLoss``) with negatives drawn from the
    registered sampler's stream ``stream``: (loss, dh, rows, drows)."""
    ctx = _Ctx([False] * 4)
    fn = _fn._negative_sampling_fn(_object(sampler, "sampler"), int(stream), num_negatives,
                                   shared_negatives, reduction, targets)
    return _sparse_outputs(ctx, _fn._SparseLoss.forward(ctx, h, weight, fn, reduction))


@negative_sampling.register_fake
def _(h, weight, targets, sampler, stream, num_negatives, shared_negatives, reduction):
    return _sparse_fake(h, weight, reduction)


@torch.library.custom_op("seqcore::hierarchical_softmax", mutates_args=())
def hierarchical_softmax(h: Tensor, weight: Tensor, targets: Tensor, tree: int,
                         reduction: str) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """Hierarchical-softmax loss over the registered Huffman tree: (loss, dh, rows, drows)."""
    ctx = _Ctx([False] * 4)
    fn = _fn._hierarchical_softmax_fn(_object(tree, "tree"), reduction, targets)
    return _sparse_outputs(ctx, _fn._SparseLoss.forward(ctx, h, weight, fn, reduction))


@hierarchical_softmax.register_fake
def _(h, weight, targets, tree, reduction):
    return _sparse_fake(h, weight, reduction)


def _sparse_setup(ctx, inputs, output):
    ctx.reduction = inputs[-1]
    ctx.weight_shape = inputs[1].shape
    ctx.save_for_backward(*output[1:])


def _sparse_backward(ctx, dloss, *_):
    dh, rows, drows = ctx.saved_tensors
    if ctx.reduction == "none":
        raise RuntimeError("seqcore.torch: backward of an unreduced (reduction='none') "
                           "sparse loss is not supported; use 'mean' or 'sum'")
    dw = drows.new_zeros(ctx.weight_shape).index_put((rows,), drows * dloss, accumulate=True)
    return (dh * dloss, dw) + (None,) * 6


negative_sampling.register_autograd(_sparse_backward, setup_context=_sparse_setup)
hierarchical_softmax.register_autograd(lambda ctx, *g: _sparse_backward(ctx, *g)[:5],
                                       setup_context=_sparse_setup)

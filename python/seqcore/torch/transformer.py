"""``seqcore.torch.TransformerEncoderLayer`` / ``TransformerDecoderLayer``: ``torch.nn``
subclasses whose forward and backward run seqcore's layers (:mod:`seqcore.transformer`) on the
NumPy views of the tensors."""
from __future__ import annotations

from collections import OrderedDict

import numpy as np
import torch
from torch.autograd.function import once_differentiable

from .. import transformer as _tr
from ._util import from_numpy, to_numpy
from .functional import _check_tensors

__all__ = ["TransformerEncoderLayer", "TransformerDecoderLayer"]


class _LayerFn(torch.autograd.Function):
    """(module, kwargs, n_inputs, inputs..., parameters...) -> output: the seqcore layer's
    forward; the backward returns the inputs' and every parameter's gradient."""

    @staticmethod
    def forward(ctx, module, kwargs, n_in, *tensors):
        layer = module._seqcore_layer(tensors[0].dtype)
        layer.params = OrderedDict((name, to_numpy(p)) for name, p in
                                   zip(module._names, tensors[n_in:]))
        layer.training = module.training
        if module.training and layer.dropout > 0:   # torch's RNG (and seed) drives the masks
            layer._rng = np.random.default_rng(int(torch.randint(0, 2**62, (1,))))
        out, cache = layer.forward(*(to_numpy(t) for t in tensors[:n_in]), **kwargs)
        ctx.layer, ctx.cache, ctx.n_in = layer, cache, n_in
        return from_numpy(out)

    @staticmethod
    @once_differentiable
    def backward(ctx, dout):
        if ctx.cache is None:
            raise RuntimeError("seqcore.torch: the layer's saved activations are used by the "
                               "first backward; a second backward is not supported")
        dinputs, grads = ctx.layer.backward(ctx.cache, to_numpy(dout))
        ctx.cache = None
        if ctx.n_in == 1:
            dinputs = (dinputs,)
        return (None, None, None, *(from_numpy(d) for d in dinputs),
                *(from_numpy(g) for g in grads.values()))


class _Adapter:
    """What both adapted layers share: the seqcore layer of the module's configuration (one
    per dtype, built on first use; its parameters are the tensors' views at each call)."""

    _SEQCORE: type

    def _seqcore_layer(self, dtype):
        cache = self.__dict__.setdefault("_seqcore_layers", {})
        if dtype not in cache:
            if dtype not in (torch.float32, torch.float64):
                raise TypeError(f"seqcore.torch.{type(self).__name__}: dtype {dtype}; expected "
                                f"torch.float32 or torch.float64")
            act = _activation_name(self.activation)
            if act is None:
                raise ValueError(f"seqcore.torch.{type(self).__name__}: activation must be "
                                 f"relu or gelu (exact or tanh), got {self.activation!r}")
            cache[dtype] = self._SEQCORE(
                self.self_attn.embed_dim, self.self_attn.num_heads, self.linear1.out_features,
                dropout=self.dropout.p, activation=act,
                layer_norm_eps=self.norm1.eps, batch_first=self.self_attn.batch_first,
                norm_first=self.norm_first, bias=self.linear1.bias is not None,
                dtype=np.float32 if dtype == torch.float32 else np.float64)
        return cache[dtype]

    def _run(self, inputs, kwargs):
        name = type(self).__name__
        params = [p for _, p in self.named_parameters()]
        _check_tensors(name, **{f"input{i}": t for i, t in enumerate(inputs)})
        if any(t.dim() != 3 for t in inputs):
            raise ValueError(f"seqcore.torch.{name}: batched 3-D inputs only")
        self._names = [n for n, _ in self.named_parameters()]
        return _LayerFn.apply(self, kwargs, len(inputs), *(t.contiguous() for t in inputs),
                              *params)


def _activation_name(f):
    """seqcore's name of a torch layer's activation (a function or a module), or None."""
    F = torch.nn.functional
    if f is F.relu or isinstance(f, torch.nn.ReLU):
        return "relu"
    if f is F.gelu:
        return "gelu"
    if isinstance(f, torch.nn.GELU):
        return "gelu" if f.approximate == "none" else "gelu_tanh"
    return None


def _mask(m):
    return None if m is None else to_numpy(m)


class TransformerEncoderLayer(_Adapter, torch.nn.TransformerEncoderLayer):
    """``torch.nn.TransformerEncoderLayer`` running seqcore's layer, forward and backward.

    Same constructor, parameters and state dict. Supported: float32/float64 CPU tensors,
    batched input, relu/gelu, pre-/post-LN, ``bias``, ``src_mask`` (bool or float),
    ``is_causal``, ``src_key_padding_mask`` with right padding (True = pad); dropout in
    training draws its masks from torch's RNG (``torch.manual_seed`` reproduces them), with
    the attention probabilities not dropped (seqcore's flash kernel never forms them).
    Unsupported cases raise ValueError/TypeError. Eager mode only (under ``torch.compile``
    the layer is a graph break).
    """

    _SEQCORE = _tr.TransformerEncoderLayer

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        return self._run((src,), dict(src_mask=_mask(src_mask),
                                      src_key_padding_mask=_mask(src_key_padding_mask),
                                      is_causal=bool(is_causal)))


class TransformerDecoderLayer(_Adapter, torch.nn.TransformerDecoderLayer):
    """``torch.nn.TransformerDecoderLayer`` running seqcore's layer, forward and backward;
    as :class:`TransformerEncoderLayer` (masks: ``tgt_mask``, ``memory_mask``, right-padding
    ``tgt_key_padding_mask`` / ``memory_key_padding_mask``, ``tgt_is_causal``,
    ``memory_is_causal``). Gradients flow to ``tgt``, ``memory`` and every parameter."""

    _SEQCORE = _tr.TransformerDecoderLayer

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        return self._run((tgt, memory), dict(
            tgt_mask=_mask(tgt_mask), memory_mask=_mask(memory_mask),
            tgt_key_padding_mask=_mask(tgt_key_padding_mask),
            memory_key_padding_mask=_mask(memory_key_padding_mask),
            tgt_is_causal=bool(tgt_is_causal), memory_is_causal=bool(memory_is_causal)))

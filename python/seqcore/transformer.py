"""Transformer layers (Vaswani et al. 2017, "Attention Is All You Need") on seqcore kernels:
layer normalisation fused with the residual add, the linear layer fused with its bias and
activation, multi-head self-attention (:func:`seqcore.multi_head_attention_forward`), and
the encoder layer and stack with ``torch.nn``'s constructor arguments and state-dict names.

Shape legend: ``S`` sequence length, ``N`` batch, ``E`` model size (``d_model``), ``F``
feed-forward size, ``M`` rows of a row-wise op (any leading shape flattened), ``D`` the
normalised (last) axis, ``I``/``O`` input/output features of a linear layer.

Dtypes: float32 (fast path) or float64; every array must have the dtype of the first input
(``TypeError`` otherwise).
"""
from __future__ import annotations

import copy
import math
from contextlib import contextmanager
from collections import OrderedDict, namedtuple
from types import SimpleNamespace
from typing import Any, List, Optional, Tuple

import numpy as np

from . import _core
from ._validate import float_arg, int_arg, option
from .attention import (multi_head_attention_backward, multi_head_attention_forward,
                        sinusoidal_positional_encoding)
from .decoding import Hypothesis, beam_search, greedy_search
from .embedding import embedding_backward, embedding_forward
from .layers import dropout_mask, load_params
from .output_layers import log_softmax, softmax_cross_entropy
from .seq2seq import check_targets, teacher_forcing

__all__ = ["LayerNormGrads", "LinearGrads", "layer_norm_forward", "layer_norm_backward",
           "linear_forward", "linear_backward", "TransformerEncoderLayer",
           "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder", "Transformer"]

LayerNormGrads = namedtuple("LayerNormGrads", "dx dweight dbias")
LayerNormGrads.__doc__ = """Gradients of layer norm: dx [..., D] (also the residual's gradient:
y depends on x + residual), dweight [D], dbias [D] (None where the forward had none)."""
LinearGrads = namedtuple("LinearGrads", "dx dweight dbias")
LinearGrads.__doc__ = """Gradients of a linear layer: dx [..., I], dweight [O, I], dbias [O]
(None where the forward had no bias)."""

_ACTIVATIONS = ("none", "relu", "gelu", "gelu_tanh")


def _rows(x, name, min_d=1):
    """``x [..., D]`` as ``[M, D]`` (a view when possible) and its shape."""
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] < min_d:
        raise ValueError(f"{name}: expected shape [..., D] with D >= {min_d}, got "
                         f"{list(x.shape)}")
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), x.shape


class _Cache(SimpleNamespace):
    """Saved arrays of one forward call, for its backward (opaque)."""


def layer_norm_forward(x, weight=None, bias=None, eps: float = 1e-5, residual=None):
    """Layer normalisation over the last axis, fused with a residual add:
    ``y = (s - mean(s)) / sqrt(var(s) + eps) * weight + bias`` with ``s = x + residual``.

    Parameters
    ----------
    x : ndarray [..., D], float32 or float64
    weight, bias : ndarray [D] or None
        Elementwise affine (torch.nn.LayerNorm's ``weight``/``bias``); None: 1 and 0.
    eps : float >= 0
        Added to the (biased) variance.
    residual : ndarray [..., D] (shape of x) or None
        Added to x before normalising: the post-LN Transformer's ``LN(x + sublayer(x))`` in
        one pass.

    Returns
    -------
    y : ndarray [..., D];  cache for :func:`layer_norm_backward` (holds ``s``, and the mean
    and ``1/sqrt(var + eps)`` of each row).

    Raises
    ------
    TypeError
        x not float32/float64, or another array of another dtype.
    ValueError
        Shapes (named), eps negative or not finite.

    Source: Ba, Kiros & Hinton 2016; ``torch.nn.functional.layer_norm`` (semantics).
    """
    x2, shape = _rows(x, "x")
    r2 = None
    if residual is not None:
        residual = np.asarray(residual)
        if residual.shape != shape:
            raise ValueError(f"residual: expected the shape of x {list(shape)}, got "
                             f"{list(residual.shape)}")
        r2 = residual.reshape(x2.shape)
    eps = float_arg("eps", eps, 0.0, finite=True)
    y, s, mean, rstd = _core.layer_norm_forward(x2, r2, weight, bias, eps, r2 is not None)
    cache = _Cache(input=x2 if s is None else s, weight=weight, has_bias=bias is not None,
                   mean=mean, rstd=rstd, shape=shape)
    return y.reshape(shape), cache


def layer_norm_backward(cache, dy) -> LayerNormGrads:
    """Backward of :func:`layer_norm_forward`; ``dy [..., D]`` (shape of x).

    Returns LayerNormGrads(dx [..., D], dweight [D] or None, dbias [D] or None). ``dx`` is
    also the residual's gradient. Weight and bias gradients are summed over rows in a fixed
    order (bit-identical for every thread count).
    """
    if not isinstance(cache, _Cache) or not hasattr(cache, "rstd"):
        raise TypeError("cache: expected the cache of layer_norm_forward")
    dy = np.asarray(dy)
    if dy.shape != cache.shape:
        raise ValueError(f"dy: expected shape {list(cache.shape)}, got {list(dy.shape)}")
    ds, dw, db = _core.layer_norm_backward(cache.input, cache.weight, cache.mean, cache.rstd,
                                           dy.reshape(cache.input.shape),
                                           cache.weight is not None, cache.has_bias)
    return LayerNormGrads(ds.reshape(cache.shape), dw, db)


def linear_forward(x, weight, bias=None, activation: str = "none"):
    """``y = act(x Wᵀ + b)``: one GEMM with the bias and activation applied as its epilogue,
    on each block of the output while it is in cache.

    Parameters
    ----------
    x : ndarray [..., I], float32 or float64
    weight : ndarray [O, I]  (torch.nn.Linear's layout);  bias : ndarray [O] or None
    activation : {"none", "relu", "gelu", "gelu_tanh"}
        ``gelu`` is exact (``x Φ(x)`` with erf); ``gelu_tanh`` is the tanh approximation
        (torch's ``gelu(approximate="tanh")``).

    Returns
    -------
    y : ndarray [..., O];  cache for :func:`linear_backward` (references x and the weight;
    keeps ``x Wᵀ + b`` for the GELUs).

    Raises TypeError (dtype), ValueError (shapes, unknown activation).
    Source: ``torch.nn.functional.linear`` + ``relu``/``gelu`` (semantics).
    """
    option("activation", activation, _ACTIVATIONS)
    x2, shape = _rows(x, "x", 0)
    y, pre = _core.linear_forward(x2, weight, bias, activation,
                                  activation in ("gelu", "gelu_tanh"))
    z = pre if pre is not None else (y if activation == "relu" else None)
    cache = _Cache(x=x2, weight=weight, has_bias=bias is not None, activation=activation, z=z,
                   shape=shape[:-1] + (y.shape[1],), in_shape=shape)
    return y.reshape(cache.shape), cache


def linear_backward(cache, dy, need_dx: bool = True) -> LinearGrads:
    """Backward of :func:`linear_forward`; ``dy [..., O]``. ``need_dx=False`` skips dx (a
    first layer). Returns LinearGrads(dx [..., I] or None, dweight [O, I], dbias [O] or
    None); the bias gradient is summed over rows in a fixed order."""
    if not isinstance(cache, _Cache) or not hasattr(cache, "activation"):
        raise TypeError("cache: expected the cache of linear_forward")
    dy = np.asarray(dy)
    if dy.shape != cache.shape:
        raise ValueError(f"dy: expected shape {list(cache.shape)}, got {list(dy.shape)}")
    dy2 = dy.reshape(cache.x.shape[0], cache.shape[-1])
    dx, dw, db = _core.linear_backward(cache.x, cache.weight, cache.activation, cache.z, dy2,
                                       bool(need_dx), cache.has_bias)
    return LinearGrads(None if dx is None else dx.reshape(cache.in_shape), dw, db)


def _lengths(mask, lengths, N, S, mask_name, lengths_name):
    """Key lengths ``[N]`` (or None) from a key-padding mask ``[N, S]`` (True = padding,
    torch's convention; padding must be a suffix, as the SDPA kernel's key lengths) or from
    explicit lengths."""
    if mask is not None and lengths is not None:
        raise ValueError(f"{lengths_name}: give {mask_name} or {lengths_name}, not both")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (N, S):
            raise ValueError(f"{mask_name}: expected shape [N, S] = {[N, S]}, got "
                             f"{list(mask.shape)}")
        if mask.dtype != np.bool_:
            raise TypeError(f"{mask_name}: expected a bool array, got {mask.dtype}")
        lengths = S - mask.sum(axis=1)
        if not np.array_equal(mask, np.arange(S)[None, :] >= lengths[:, None]):
            raise ValueError(f"{mask_name}: only padding at the end of each sequence is "
                             f"supported (True from some position on); pass {lengths_name} "
                             f"instead")
        return lengths.astype(np.int64)
    if lengths is not None:
        lengths = np.asarray(lengths)
        if lengths.shape != (N,) or lengths.dtype.kind not in "iu":
            raise ValueError(f"{lengths_name}: expected an integer array [N] = [{N}], got "
                             f"{lengths.dtype} with shape {list(lengths.shape)}")
    return lengths


class _Module:
    """Parameters by torch's names, state dict and train/eval, shared by layers and stacks."""

    params: "OrderedDict[str, np.ndarray]"
    training: bool = True

    def _children(self) -> list:
        return []

    def named_parameters(self):
        """Iterate over ``(name, array)``: the live parameters, in torch's order (update them
        in place, e.g. with :mod:`seqcore.optim`)."""
        return iter(self.params.items())

    def state_dict(self):
        """``OrderedDict`` name -> copy, with torch's names (it loads into the torch module)."""
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict):
        """Copy a state dict (arrays or torch tensors, e.g. the torch module's) into the
        parameters, all or nothing. Raises ValueError (missing/unexpected key, wrong shape) or
        TypeError (not numeric)."""
        load_params(self.params, state_dict)

    def train(self, mode: bool = True):
        """Dropout on (``mode=True``) or off; returns self."""
        self.training = bool(mode)
        for child in self._children():
            child.train(mode)
        return self

    def eval(self):
        return self.train(False)


_LAYER_DOC = """
    Parameters
    ----------
    d_model : int
        E.
    nhead : int
        Heads; must divide E.
    dim_feedforward : int
        F.
    dropout : float in [0, 1)
        Inverted dropout on each sublayer's output and inside the feed-forward block (seeded
        by ``seed``). Unlike torch, the attention probabilities themselves are not dropped:
        the flash-attention kernel never forms them.
    activation : {"relu", "gelu", "gelu_tanh"}
        ``gelu`` is exact, as torch's.
    layer_norm_eps : float
    batch_first : bool
        Inputs and outputs ``[N, S, E]`` instead of ``[S, N, E]``.
    norm_first : bool
        Pre-LN (Xiong et al. 2020) instead of post-LN.
    bias : bool
        Biases in the linear layers and the layer norms (torch's ``bias``).
    dtype : float32 (default) or float64
    seed : int or None
        Seeds the initial weights (torch's initialisation: Xavier-uniform ``in_proj_weight``,
        ``U(-1/sqrt(in), 1/sqrt(in))`` linear layers, zero attention biases, unit norms) and
        the dropout masks.

    Attributes
    ----------
    params : OrderedDict name -> ndarray
        torch's names, order and shapes.
    training : bool
        Dropout on (``train()``) or off (``eval()``).

    Raises
    ------
    ValueError
        ``d_model`` not divisible by ``nhead``, sizes out of range, an unknown activation,
        dropout outside [0, 1).
    TypeError
        dtype not float32/float64.
"""


class _Layer(_Module):
    """One encoder or decoder layer: attention sublayers then the feed-forward block, each
    with dropout, a residual connection and a layer norm (post- or pre-LN)."""

    _ATTENTION: Tuple[str, ...] = ()

    def __init__(self, d_model: int, nhead: int, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 dtype=np.float32, seed: Optional[int] = None) -> None:
        E = self.d_model = int_arg("d_model", d_model, 1, 1 << 16)
        self.nhead = int_arg("nhead", nhead, 1, E)
        if E % self.nhead:
            raise ValueError(f"nhead: must divide d_model = {E}, got {self.nhead}")
        F = self.dim_feedforward = int_arg("dim_feedforward", dim_feedforward, 1, 1 << 20)
        self.dropout = float_arg("dropout", dropout, 0.0, 1.0)
        if self.dropout >= 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout}")
        self.activation = option("activation", activation, ("relu", "gelu", "gelu_tanh"))
        self.layer_norm_eps = float_arg("layer_norm_eps", layer_norm_eps, 0.0, finite=True)
        self.batch_first, self.norm_first = bool(batch_first), bool(norm_first)
        self.bias = bool(bias)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.training = True
        self._rng = np.random.default_rng(seed)
        r = self._rng

        def uniform(bound, *shape):
            return r.uniform(-bound, bound, shape).astype(self.dtype)

        p: "OrderedDict[str, np.ndarray]" = OrderedDict()
        for a in self._ATTENTION:
            p[f"{a}.in_proj_weight"] = uniform(math.sqrt(6.0 / (E + 3 * E)), 3 * E, E)
            if bias:
                p[f"{a}.in_proj_bias"] = np.zeros(3 * E, self.dtype)
            p[f"{a}.out_proj.weight"] = uniform(1 / math.sqrt(E), E, E)
            if bias:
                p[f"{a}.out_proj.bias"] = np.zeros(E, self.dtype)
        for name, i, o in (("linear1", E, F), ("linear2", F, E)):
            p[f"{name}.weight"] = uniform(1 / math.sqrt(i), o, i)
            if bias:
                p[f"{name}.bias"] = uniform(1 / math.sqrt(i), o)
        for k in range(len(self._ATTENTION) + 1):
            p[f"norm{k + 1}.weight"] = np.ones(E, self.dtype)
            if bias:
                p[f"norm{k + 1}.bias"] = np.zeros(E, self.dtype)
        self.params = p

    def _get(self, name):
        return self.params.get(name)

    def _time_major(self, a, name):
        """``a`` as a contiguous time-major ``[S, N, E]`` array of the layer's dtype."""
        a = np.asarray(a)
        if a.ndim != 3 or a.shape[2] != self.d_model:
            legend = "[N, S, E]" if self.batch_first else "[S, N, E]"
            raise ValueError(f"{name}: expected shape {legend} with E = {self.d_model}, got "
                             f"{list(a.shape)}")
        if a.dtype != self.dtype:
            raise TypeError(f"{name}: expected dtype {self.dtype} (the layer's), got {a.dtype}")
        return np.ascontiguousarray(a.transpose(1, 0, 2) if self.batch_first else a)

    def _batch_major(self, a):
        return a.transpose(1, 0, 2) if self.batch_first else a

    # ---------------------------------------------------------------- forward / backward
    def _run(self, x, memory, attn) -> Tuple[np.ndarray, "_Cache"]:
        """The layer on time-major ``x`` (``memory`` for cross-attention); ``attn``: the
        keyword arguments of each attention sublayer's kernel."""
        drop = self.training and self.dropout > 0
        c: dict = {"masks": {}}
        p, eps, n_attn = self.params, self.layer_norm_eps, len(self._ATTENTION)

        def dropout(v, key):
            if not drop:
                return v
            c["masks"][key] = m = dropout_mask(self._rng, v.shape, self.dropout, self.dtype)
            return v * m

        def sublayer(i, h):
            if i < n_attn:
                a = self._ATTENTION[i]
                kv = h if a == "self_attn" else memory
                out, c[a] = multi_head_attention_forward(
                    h, kv, kv, p[f"{a}.in_proj_weight"], self._get(f"{a}.in_proj_bias"),
                    p[f"{a}.out_proj.weight"], self._get(f"{a}.out_proj.bias"), self.nhead,
                    **attn[i])
            else:
                u, c["linear1"] = linear_forward(h, p["linear1.weight"],
                                                 self._get("linear1.bias"), self.activation)
                out, c["linear2"] = linear_forward(dropout(u, "ff"), p["linear2.weight"],
                                                   self._get("linear2.bias"))
            return dropout(out, i)

        for i in range(n_attn + 1):
            w, b = p[f"norm{i + 1}.weight"], self._get(f"norm{i + 1}.bias")
            if self.norm_first:
                h, c[f"norm{i + 1}"] = layer_norm_forward(x, w, b, eps)
                x = x + sublayer(i, h)
            else:
                x, c[f"norm{i + 1}"] = layer_norm_forward(sublayer(i, x), w, b, eps, residual=x)
        return x, _Cache(layer=self, **c)

    def _back(self, cache, d):
        """Backward of :meth:`_run`: ``(dx, dmemory or None, grads)``."""
        masks, g = cache.masks, {}
        dmem = None
        n_attn = len(self._ATTENTION)

        def undrop(v, key):
            return v * masks[key] if key in masks else v

        def put(prefix, grads, names=("weight", "bias")):
            for n, v in zip(names, grads[1:]):
                if v is not None:
                    g[f"{prefix}.{n}"] = v

        def sublayer_back(i, dout):
            nonlocal dmem
            dout = undrop(dout, i)
            if i == n_attn:
                r2 = linear_backward(cache.linear2, dout)
                put("linear2", r2)
                r1 = linear_backward(cache.linear1, undrop(r2.dx, "ff"))
                put("linear1", r1)
                return r1.dx
            a = self._ATTENTION[i]
            r = multi_head_attention_backward(getattr(cache, a), dout)
            put(a, (None, r.d_in_proj_weight, r.d_in_proj_bias),
                ("in_proj_weight", "in_proj_bias"))
            put(f"{a}.out_proj", (None, r.d_out_proj_weight, r.d_out_proj_bias))
            if a == "self_attn":
                return r.dquery + r.dkey + r.dvalue
            dkv = r.dkey + r.dvalue
            dmem = dkv if dmem is None else dmem + dkv
            return r.dquery

        for i in reversed(range(n_attn + 1)):
            norm = f"norm{i + 1}"
            if self.norm_first:
                r = layer_norm_backward(getattr(cache, norm), sublayer_back(i, d))
                put(norm, r)
                d = d + r.dx
            else:
                r = layer_norm_backward(getattr(cache, norm), d)
                put(norm, r)
                d = r.dx + sublayer_back(i, r.dx)
        return d, dmem, OrderedDict((k, g[k]) for k in self.params)

    def _check_dout(self, cache, dout, shape):
        if not isinstance(cache, _Cache) or getattr(cache, "layer", None) is not self:
            raise TypeError("cache: expected the cache of this layer's forward")
        dout = np.asarray(dout)
        if dout.shape != shape:
            raise ValueError(f"dout: expected shape {list(shape)}, got {list(dout.shape)}")
        if dout.dtype != self.dtype:
            raise TypeError(f"dout: expected dtype {self.dtype}, got {dout.dtype}")
        return self._time_major(dout, "dout")

    def __repr__(self):
        return (f"{type(self).__name__}(d_model={self.d_model}, nhead={self.nhead}, "
                f"dim_feedforward={self.dim_feedforward}, dropout={self.dropout}, "
                f"activation={self.activation!r}, batch_first={self.batch_first}, "
                f"norm_first={self.norm_first}, bias={self.bias})")


class TransformerEncoderLayer(_Layer):
    """Self-attention and a feed-forward block, each with a residual connection and layer
    norm: ``torch.nn.TransformerEncoderLayer`` on seqcore kernels.

    Post-LN (``norm_first=False``, the original Transformer)::

        x = norm1(x + dropout1(self_attn(x)))
        x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))

    Pre-LN (``norm_first=True``): ``x = x + dropout1(self_attn(norm1(x)))``, then
    ``x = x + dropout2(linear2(dropout(act(linear1(norm2(x))))))``.
    """ + _LAYER_DOC + """
    Parameter names: ``self_attn.in_proj_weight [3E, E]``, ``self_attn.in_proj_bias [3E]``,
    ``self_attn.out_proj.weight [E, E]``, ``self_attn.out_proj.bias [E]``, ``linear1.weight
    [F, E]``, ``linear1.bias [F]``, ``linear2.weight [E, F]``, ``linear2.bias [E]``,
    ``norm1.weight``, ``norm1.bias``, ``norm2.weight``, ``norm2.bias [E]``.

    Source: Vaswani et al. 2017, section 3.1; ``torch.nn.TransformerEncoderLayer``.
    """

    _ATTENTION = ("self_attn",)

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False,
                *, src_lengths=None) -> Tuple[np.ndarray, Any]:
        """One layer over a batch.

        Parameters
        ----------
        src : ndarray [S, N, E] ([N, S, E] with batch_first), the layer's dtype
        src_mask : ndarray [S, S] or [N·nhead, S, S], or None
            torch's ``attn_mask`` convention: bool True = may NOT attend; float is added to
            the scores.
        src_key_padding_mask : ndarray [N, S] of bool, or None
            True at padding positions; padding must be at the end of each sequence.
        is_causal : bool
            Position i attends to positions <= i.
        src_lengths : ndarray [N] of int, or None
            Valid lengths instead of ``src_key_padding_mask``.

        Returns
        -------
        out : ndarray, the shape of src;  cache for :meth:`backward`.

        Raises TypeError / ValueError on a dtype / shape mismatch (named).
        """
        x = self._time_major(src, "src")
        S, N = x.shape[:2]
        lengths = _lengths(src_key_padding_mask, src_lengths, N, S, "src_key_padding_mask",
                           "src_lengths")
        out, cache = self._run(x, None, [dict(attn_mask=src_mask, is_causal=bool(is_causal),
                                              key_lengths=lengths)])
        cache.shape = self._batch_major(out).shape
        return self._batch_major(out), cache

    __call__ = forward

    def backward(self, cache, dout) -> Tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
        """Backward of :meth:`forward`: ``dout`` (shape of its output) -> ``(dsrc, grads)``,
        ``grads`` an OrderedDict keyed by parameter name (torch's order)."""
        d = self._check_dout(cache, dout, getattr(cache, "shape", None))
        dx, _, grads = self._back(cache, d)
        return self._batch_major(dx), grads


class TransformerDecoderLayer(_Layer):
    """Masked self-attention, cross-attention over the encoder's output (``memory``) and a
    feed-forward block, each with a residual connection and layer norm:
    ``torch.nn.TransformerDecoderLayer`` on seqcore kernels.

    Post-LN: ``x = norm1(x + sa(x))``, ``x = norm2(x + mha(x, memory))``,
    ``x = norm3(x + ff(x))``; pre-LN: ``x = x + sa(norm1(x))``, ``x = x + mha(norm2(x),
    memory)``, ``x = x + ff(norm3(x))`` (each sublayer's output through dropout).
    """ + _LAYER_DOC + """
    Parameter names: those of the encoder layer plus ``multihead_attn.*`` (after
    ``self_attn.*``) and ``norm3.*``, in torch's order.

    Source: Vaswani et al. 2017, section 3.1; ``torch.nn.TransformerDecoderLayer``.
    """

    _ATTENTION = ("self_attn", "multihead_attn")

    def _inputs(self, tgt, memory, tgt_key_padding_mask, memory_key_padding_mask,
                tgt_lengths, memory_lengths):
        x = self._time_major(tgt, "tgt")
        mem = self._time_major(memory, "memory")
        T, N = x.shape[:2]
        if mem.shape[1] != N:
            raise ValueError(f"memory: expected the batch size of tgt ({N}), got "
                             f"{mem.shape[1]}")
        tl = _lengths(tgt_key_padding_mask, tgt_lengths, N, T, "tgt_key_padding_mask",
                      "tgt_lengths")
        ml = _lengths(memory_key_padding_mask, memory_lengths, N, mem.shape[0],
                      "memory_key_padding_mask", "memory_lengths")
        return x, mem, tl, ml

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False, *, tgt_lengths=None,
                memory_lengths=None) -> Tuple[np.ndarray, Any]:
        """One layer over a batch.

        Parameters
        ----------
        tgt : ndarray [T, N, E] ([N, T, E] with batch_first);  memory : [S, N, E] ([N, S, E])
        tgt_mask : [T, T] or [N·nhead, T, T];  memory_mask : [T, S] or [N·nhead, T, S]
            torch's ``attn_mask`` convention (bool True = may NOT attend; float added).
        tgt_key_padding_mask : [N, T] bool;  memory_key_padding_mask : [N, S] bool
            True at padding (a suffix of each sequence); or ``tgt_lengths`` /
            ``memory_lengths`` [N].
        tgt_is_causal, memory_is_causal : bool
            Causal masks of the self- and cross-attention (top-left aligned, as torch).

        Returns
        -------
        out : ndarray, the shape of tgt;  cache for :meth:`backward`.
        """
        x, mem, tl, ml = self._inputs(tgt, memory, tgt_key_padding_mask,
                                      memory_key_padding_mask, tgt_lengths, memory_lengths)
        out, cache = self._run(x, mem, [
            dict(attn_mask=tgt_mask, is_causal=bool(tgt_is_causal), key_lengths=tl),
            dict(attn_mask=memory_mask, is_causal=bool(memory_is_causal), key_lengths=ml)])
        cache.shape = self._batch_major(out).shape
        cache.memory_shape = self._batch_major(mem).shape
        return self._batch_major(out), cache

    __call__ = forward

    def backward(self, cache, dout):
        """Backward of :meth:`forward`: ``((dtgt, dmemory), grads)``, grads keyed by
        parameter name."""
        d = self._check_dout(cache, dout, getattr(cache, "shape", None))
        dx, dmem, grads = self._back(cache, d)
        return (self._batch_major(dx), self._batch_major(dmem)), grads


def _decode_step(layer, x, K, V, t, mem_k, mem_v, lengths_self, lengths_mem, weights=None):
    """One decoding step of a decoder layer for ``x [M, E]`` (one new position per live
    hypothesis): its key and value rows go to ``K, V [M, H, T_max, Dh]`` at position ``t``,
    self-attention over the ``t + 1`` cached rows, cross-attention over the memory's
    ``mem_k, mem_v [M, H, S, Dh]``. Inference (no dropout). ``weights`` (a list, optional)
    receives the cross-attention probabilities ``[M, H, S]``, computed again in NumPy (the
    kernel never forms them)."""
    p, E, H = layer.params, layer.d_model, layer.nhead
    M, Dh = x.shape[0], E // H
    eps = layer.layer_norm_eps
    # the kernels directly: the wrappers' checks cost ~10% of a step at d_model 512, and
    # every argument here is built by step_function with the right dtype and shape

    def linear(h, name, activation="none"):
        return _core.linear_forward(h, p[f"{name}.weight"], layer._get(f"{name}.bias"),
                                    activation, False)[0]

    def attend(q, k, v, lengths):
        return _core.sdpa_forward(q.reshape(M, H, 1, Dh), k, v, None, False, None, 0, lengths,
                                  128, 64)[0].reshape(M, E)

    def self_attn(h):
        qkv = _core.linear_forward(h, p["self_attn.in_proj_weight"],
                                   layer._get("self_attn.in_proj_bias"), "none", False)[0]
        K[:, :, t] = qkv[:, E:2 * E].reshape(M, H, Dh)
        V[:, :, t] = qkv[:, 2 * E:].reshape(M, H, Dh)
        return linear(attend(qkv[:, :E], K, V, lengths_self), "self_attn.out_proj")

    def cross_attn(h):
        w, b = p["multihead_attn.in_proj_weight"], layer._get("multihead_attn.in_proj_bias")
        q = _core.linear_forward(h, w[:E], None if b is None else b[:E], "none", False)[0]
        a = attend(q, mem_k, mem_v, lengths_mem)
        if weights is not None:
            z = np.einsum("mhd,mhsd->mhs", q.reshape(M, H, Dh), mem_k) / math.sqrt(Dh)
            pad = np.arange(mem_k.shape[2])[None, :] >= lengths_mem[:, None]     # [M, S]
            z = np.where(pad[:, None, :], -np.inf, z)
            weights.append(np.exp(log_softmax(z)))
        return linear(a, "multihead_attn.out_proj")

    def feed_forward(h):
        return linear(linear(h, "linear1", layer.activation), "linear2")

    for i, f in enumerate((self_attn, cross_attn, feed_forward)):
        w, b = p[f"norm{i + 1}.weight"], layer._get(f"norm{i + 1}.bias")
        if layer.norm_first:
            x = x + f(_core.layer_norm_forward(x, None, w, b, eps, False)[0])
        else:
            x = _core.layer_norm_forward(f(x), x, w, b, eps, False)[0]
    return x


class _Stack(_Module):
    """``num_layers`` deep copies of a layer, then an optional final layer norm."""

    def __init__(self, layer, num_layers: int, norm=None) -> None:
        self.num_layers = int_arg("num_layers", num_layers, 1, 1 << 10)
        self.layers = [copy.deepcopy(layer) for _ in range(self.num_layers)]
        for lay in self.layers:   # dropout streams of their own (a copy shares the state)
            lay._rng = np.random.default_rng(layer._rng.integers(0, 2**63))
        E, dt = layer.d_model, layer.dtype
        self.norm: Optional[Tuple[np.ndarray, Optional[np.ndarray]]] = None
        if norm is not None:
            w, b = norm
            w, b = np.array(w, dt), None if b is None else np.array(b, dt)
            if w.shape != (E,) or (b is not None and b.shape != (E,)):
                raise ValueError(f"norm: expected (weight, bias) of shape [E] = [{E}]")
            self.norm = (w, b)
        self.eps = layer.layer_norm_eps
        self.training = True
        self.params = OrderedDict()
        for i, lay in enumerate(self.layers):
            for k, v in lay.params.items():
                self.params[f"layers.{i}.{k}"] = v
        if self.norm is not None:
            self.params["norm.weight"] = self.norm[0]
            if self.norm[1] is not None:
                self.params["norm.bias"] = self.norm[1]

    def _children(self):
        return self.layers

    def _finish(self, x, caches, **extra):
        norm_cache = None
        if self.norm is not None:
            x, norm_cache = layer_norm_forward(x, self.norm[0], self.norm[1], self.eps)
        return x, _Cache(stack=self, layers=caches, norm=norm_cache, shape=x.shape, **extra)

    def _back_norm(self, cache, dout):
        if not isinstance(cache, _Cache) or getattr(cache, "stack", None) is not self:
            raise TypeError(f"cache: expected the cache of this {type(self).__name__}'s "
                            f"forward")
        d = np.asarray(dout)
        if d.shape != cache.shape:
            raise ValueError(f"dout: expected shape {list(cache.shape)}, got {list(d.shape)}")
        grads: "OrderedDict[str, np.ndarray]" = OrderedDict()
        if cache.norm is not None:
            r = layer_norm_backward(cache.norm, d)
            d = r.dx
            grads["norm.weight"] = r.dweight
            if r.dbias is not None:
                grads["norm.bias"] = r.dbias
        return d, grads

    def _ordered(self, grads):
        return OrderedDict((k, grads[k]) for k in self.params)


class TransformerEncoder(_Stack):
    """``num_layers`` copies of ``encoder_layer`` (deep copies, as torch), then an optional
    final layer norm (``norm``: a ``(weight, bias)`` pair of [E] arrays, bias may be None;
    pre-LN stacks use one). State-dict names ``layers.{i}.<layer name>``, ``norm.weight``,
    ``norm.bias``, as ``torch.nn.TransformerEncoder``.

    Raises TypeError for a layer that is not a TransformerEncoderLayer, ValueError for
    num_layers < 1 or a norm of the wrong shape.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm=None) -> None:
        if not isinstance(encoder_layer, TransformerEncoderLayer):
            raise TypeError("encoder_layer: expected a TransformerEncoderLayer")
        super().__init__(encoder_layer, num_layers, norm)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool = False, *,
                src_lengths=None):
        """Every layer in turn (arguments as :meth:`TransformerEncoderLayer.forward`), then
        the final norm. Returns ``(out, cache)``."""
        caches, x = [], src
        for layer in self.layers:
            x, c = layer.forward(x, mask, src_key_padding_mask, is_causal,
                                 src_lengths=src_lengths)
            caches.append(c)
        return self._finish(x, caches)

    __call__ = forward

    def backward(self, cache, dout):
        """``(dsrc, grads)`` with grads keyed by the stack's parameter names."""
        d, grads = self._back_norm(cache, dout)
        for i in reversed(range(self.num_layers)):
            d, g = self.layers[i].backward(cache.layers[i], d)
            grads.update((f"layers.{i}.{k}", v) for k, v in g.items())
        return d, self._ordered(grads)


class TransformerDecoder(_Stack):
    """``num_layers`` copies of ``decoder_layer`` then an optional final norm, as
    ``torch.nn.TransformerDecoder`` (names ``layers.{i}.*``, ``norm.*``). Raises as
    :class:`TransformerEncoder`."""

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int,
                 norm=None) -> None:
        if not isinstance(decoder_layer, TransformerDecoderLayer):
            raise TypeError("decoder_layer: expected a TransformerDecoderLayer")
        super().__init__(decoder_layer, num_layers, norm)

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, tgt_is_causal: bool = False,
                memory_is_causal: bool = False, *, tgt_lengths=None, memory_lengths=None):
        """Every layer in turn over the same memory (arguments as
        :meth:`TransformerDecoderLayer.forward`), then the final norm. Returns
        ``(out, cache)``."""
        caches, x = [], tgt
        for layer in self.layers:
            x, c = layer.forward(x, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                                 memory_key_padding_mask, tgt_is_causal, memory_is_causal,
                                 tgt_lengths=tgt_lengths, memory_lengths=memory_lengths)
            caches.append(c)
        return self._finish(x, caches)

    __call__ = forward

    def backward(self, cache, dout):
        """``((dtgt, dmemory), grads)``; dmemory sums every layer's cross-attention path."""
        d, grads = self._back_norm(cache, dout)
        dmem = None
        for i in reversed(range(self.num_layers)):
            (d, dm), g = self.layers[i].backward(cache.layers[i], d)
            dmem = dm if dmem is None else dmem + dm
            grads.update((f"layers.{i}.{k}", v) for k, v in g.items())
        return (d, dmem), self._ordered(grads)


class Transformer(_Module):
    """The encoder-decoder Transformer: ``torch.nn.Transformer`` on seqcore kernels (the
    encoder and decoder stacks, each with its final layer norm; no embeddings).

    Parameters
    ----------
    d_model, nhead : int
    num_encoder_layers, num_decoder_layers : int
    dim_feedforward, dropout, activation, layer_norm_eps : as TransformerEncoderLayer
    batch_first, norm_first, bias, dtype, seed : as TransformerEncoderLayer
    src_vocab_size, tgt_vocab_size : int or None
        Both given: token-level use (:meth:`forward_backward`, :meth:`translate`,
        :meth:`greedy`) with ``src_embedding.weight [Vs, E]``, ``tgt_embedding.weight
        [Vt, E]`` (looked up x sqrt(E), plus the sinusoidal positions) and
        ``generator.weight [Vt, E]``, ``generator.bias [Vt]``.
    bos_id, eos_id : int
        Start and end symbols of the target vocabulary.

    Attributes
    ----------
    encoder : TransformerEncoder
    decoder : TransformerDecoder
    params : OrderedDict name -> ndarray
        torch's names (``encoder.layers.0.self_attn.in_proj_weight``, ...,
        ``encoder.norm.weight``, ``decoder.layers.0...``, ``decoder.norm.bias``), then the
        embeddings and generator when given vocabularies.

    Raises
    ------
    ValueError
        As the layers; one vocabulary size without the other; bos_id/eos_id outside the
        target vocabulary.

    Source: Vaswani et al. 2017; ``torch.nn.Transformer``.
    """

    def __init__(self, d_model: int = 512, nhead: int = 8, num_encoder_layers: int = 6,
                 num_decoder_layers: int = 6, dim_feedforward: int = 2048,
                 dropout: float = 0.1, activation: str = "relu", layer_norm_eps: float = 1e-5,
                 batch_first: bool = False, norm_first: bool = False, bias: bool = True, *,
                 src_vocab_size: Optional[int] = None, tgt_vocab_size: Optional[int] = None,
                 bos_id: int = 1, eos_id: int = 2, dtype=np.float32,
                 seed: Optional[int] = None) -> None:
        kw = dict(dim_feedforward=dim_feedforward, dropout=dropout, activation=activation,
                  layer_norm_eps=layer_norm_eps, batch_first=batch_first,
                  norm_first=norm_first, bias=bias, dtype=dtype)
        r = np.random.default_rng(seed)
        enc = TransformerEncoderLayer(d_model, nhead, seed=int(r.integers(2**63)), **kw)
        dec = TransformerDecoderLayer(d_model, nhead, seed=int(r.integers(2**63)), **kw)
        E, dt = enc.d_model, enc.dtype

        def norm():
            return np.ones(E, dt), (np.zeros(E, dt) if bias else None)
        self.encoder = TransformerEncoder(enc, num_encoder_layers, norm())
        self.decoder = TransformerDecoder(dec, num_decoder_layers, norm())
        self.d_model, self.nhead, self.batch_first = E, enc.nhead, enc.batch_first
        self.dtype = dt
        self.training = True
        self.params = OrderedDict(
            [(f"encoder.{k}", v) for k, v in self.encoder.params.items()]
            + [(f"decoder.{k}", v) for k, v in self.decoder.params.items()])
        for v in self.params.values():   # torch's _reset_parameters: Xavier-uniform matrices
            if v.ndim > 1:
                bound = math.sqrt(6.0 / (v.shape[0] + v.shape[1]))
                v[...] = r.uniform(-bound, bound, v.shape)
        self.src_vocab_size = self.tgt_vocab_size = 0
        if (src_vocab_size is None) != (tgt_vocab_size is None):
            raise ValueError("tgt_vocab_size: give both src_vocab_size and tgt_vocab_size, or "
                             "neither")
        if src_vocab_size is not None:
            Vs = self.src_vocab_size = int_arg("src_vocab_size", src_vocab_size, 1, 1 << 31)
            Vt = self.tgt_vocab_size = int_arg("tgt_vocab_size", tgt_vocab_size, 1, 1 << 31)
            self.bos_id = int_arg("bos_id", bos_id, 0, Vt - 1)
            self.eos_id = int_arg("eos_id", eos_id, 0, Vt - 1)
            # N(0, 1/E) embeddings, scaled by sqrt(E) on lookup (Vaswani et al. 3.4; fairseq)
            self.params["src_embedding.weight"] = (r.standard_normal((Vs, E)) / math.sqrt(E)
                                                   ).astype(dt)
            self.params["tgt_embedding.weight"] = (r.standard_normal((Vt, E)) / math.sqrt(E)
                                                   ).astype(dt)
            self.params["generator.weight"] = r.uniform(-1 / math.sqrt(E), 1 / math.sqrt(E),
                                                        (Vt, E)).astype(dt)
            self.params["generator.bias"] = np.zeros(Vt, dt)

    def _children(self):
        return [self.encoder, self.decoder]

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
                src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal: bool = False,
                tgt_is_causal: bool = False, memory_is_causal: bool = False, *,
                src_lengths=None, tgt_lengths=None, memory_lengths=None):
        """``decoder(tgt, encoder(src))`` with torch's arguments (see the layers' forward);
        returns ``(out [T, N, E] or [N, T, E], cache)``."""
        memory, ec = self.encoder(src, src_mask, src_key_padding_mask, src_is_causal,
                                  src_lengths=src_lengths)
        out, dc = self.decoder(tgt, memory, tgt_mask, memory_mask, tgt_key_padding_mask,
                               memory_key_padding_mask, tgt_is_causal, memory_is_causal,
                               tgt_lengths=tgt_lengths, memory_lengths=memory_lengths)
        return out, _Cache(model=self, encoder=ec, decoder=dc)

    __call__ = forward

    def backward(self, cache, dout):
        """``((dsrc, dtgt), grads)`` with grads keyed by parameter name."""
        if not isinstance(cache, _Cache) or getattr(cache, "model", None) is not self:
            raise TypeError("cache: expected the cache of this Transformer's forward")
        (dtgt, dmem), gd = self.decoder.backward(cache.decoder, dout)
        dsrc, ge = self.encoder.backward(cache.encoder, dmem)
        grads = OrderedDict([(f"encoder.{k}", v) for k, v in ge.items()]
                            + [(f"decoder.{k}", v) for k, v in gd.items()])
        return (dsrc, dtgt), grads

    @staticmethod
    def generate_square_subsequent_mask(sz: int, dtype=np.float32):
        """``[sz, sz]`` float mask: 0 on and below the diagonal, -inf above (torch's)."""
        sz = int_arg("sz", sz, 0, 1 << 20)
        return np.triu(np.full((sz, sz), -np.inf, dtype), 1)

    # ------------------------------------------------------------ token-level (seq2seq)
    def _need_vocab(self):
        if not self.tgt_vocab_size:
            raise ValueError("this Transformer has no embeddings: construct it with "
                             "src_vocab_size and tgt_vocab_size")

    @staticmethod
    def _ids(ids, lengths, V, name, lengths_name):
        """Token ids ``[L, N]`` (int64) in ``[0, V)`` and lengths ``[N]`` in ``[1, L]``."""
        ids = np.asarray(ids)
        if ids.ndim != 2 or ids.dtype.kind not in "iu" or min(ids.shape) < 1:
            raise ValueError(f"{name}: expected an integer array [L, N] with L, N >= 1, got "
                             f"{ids.dtype} {list(ids.shape)}")
        L, N = ids.shape
        lengths = np.asarray(lengths)
        if (lengths.shape != (N,) or lengths.dtype.kind not in "iu" or (lengths < 1).any()
                or (lengths > L).any()):
            raise ValueError(f"{lengths_name}: expected N={N} integers in [1, L={L}]")
        valid = np.arange(L)[:, None] < lengths[None, :]
        if ((ids < 0) | (ids >= V))[valid].any():
            raise ValueError(f"{name}: ids must be in [0, {V})")
        return np.where(valid, ids, 0).astype(np.int64), lengths.astype(np.int64)

    def _embed(self, ids, table, start=0):
        """``table[ids] * sqrt(E) + PE[start:start + L]``: ``[L, N, E]`` time-major."""
        L = ids.shape[0]
        if getattr(self, "_pe", None) is None or len(self._pe) < start + L:   # grown, kept
            self._pe = sinusoidal_positional_encoding(max(start + L, 128), self.d_model,
                                                      self.dtype)
        pe = self._pe[start:start + L]
        x = embedding_forward(self.params[table], ids) * self.dtype.type(math.sqrt(self.d_model))
        return x + pe[:, None, :]

    def _io(self, x):
        """Time-major ``x`` in the layers' layout (batch_first swaps the first two axes)."""
        return np.ascontiguousarray(x.transpose(1, 0, 2)) if self.batch_first else x

    @contextmanager
    def _inference(self):
        """Dropout off for a decoding call, the training flag restored after it."""
        was = self.training
        self.train(False)
        try:
            yield
        finally:
            self.train(was)

    def encode(self, src, src_lengths):
        """The encoder's output ``memory [S, N, E]`` (time-major) of token ids ``src [S, N]``
        with lengths ``src_lengths [N]`` (padding masked as keys; dropout as the training
        flag says)."""
        self._need_vocab()
        src, sl = self._ids(src, src_lengths, self.src_vocab_size, "src", "src_lengths")
        memory, _ = self.encoder(self._io(self._embed(src, "src_embedding.weight")),
                                 src_lengths=sl)
        return self._io(memory), sl

    def decoder_log_probs(self, src, src_lengths, tgt_in):
        """``log p(y_t | y_<t, x)`` of every position of the decoder inputs ``tgt_in [T, N]``
        (starting with BOS): ``[T, N, V]``, the whole prefix through the causal decoder (the
        reference of the cached decoding of :meth:`step_function`; no dropout)."""
        with self._inference():
            return self._decoder_log_probs(src, src_lengths, tgt_in)

    def _decoder_log_probs(self, src, src_lengths, tgt_in):
        memory, sl = self.encode(src, src_lengths)
        T = np.asarray(tgt_in).shape[0]
        tgt, _ = self._ids(tgt_in, np.full(np.shape(tgt_in)[1], T), self.tgt_vocab_size,
                           "tgt_in", "tgt_in")
        out, _ = self.decoder(self._io(self._embed(tgt, "tgt_embedding.weight")),
                              self._io(memory), tgt_is_causal=True, memory_lengths=sl)
        logits, _ = linear_forward(self._io(out), self.params["generator.weight"],
                                   self.params["generator.bias"])
        return log_softmax(logits)

    def forward_backward(self, src, src_lengths, tgt, tgt_lengths, grad: bool = True,
                         label_smoothing: float = 0.0):
        """Teacher-forced loss and its gradients, as :meth:`seqcore.Seq2Seq.forward_backward`.

        Args:
            src: [S, N] int source ids; src_lengths: [N] in [1, S].
            tgt: [T, N] int target ids without BOS/EOS; tgt_lengths: [N] in [0, T].
            grad: also compute the gradients (default).
            label_smoothing: as :func:`seqcore.softmax_cross_entropy` (Vaswani et al. use 0.1).

        Returns:
            (loss, grads): ``loss`` is the mean over the ``sum(tgt_lengths + 1)`` predicted
            tokens (EOS included) of the cross-entropy; ``grads`` maps every parameter name
            to its gradient (dense; None when ``grad=False``). Dropout applies in training
            mode (:meth:`train`).

        Raises ValueError for out-of-range ids or lengths and mismatched shapes.
        """
        self._need_vocab()
        src, sl = self._ids(src, src_lengths, self.src_vocab_size, "src", "src_lengths")
        N = src.shape[1]
        tgt, tl = check_targets(tgt, tgt_lengths, N, self.tgt_vocab_size, 0)
        T = tgt.shape[0]
        y_in, y_out = teacher_forcing(tgt, tl, self.bos_id, self.eos_id)          # [T+1, N]
        # padded target positions come after the valid ones: the causal mask keeps them out
        # of every valid position's view, and the loss ignores their outputs
        out, cache = self.forward(self._io(self._embed(src, "src_embedding.weight")),
                                  self._io(self._embed(y_in, "tgt_embedding.weight")),
                                  tgt_is_causal=True, src_lengths=sl, memory_lengths=sl)
        h = self._io(out)
        logits, gen_cache = linear_forward(h, self.params["generator.weight"],
                                           self.params["generator.bias"])
        res = softmax_cross_entropy(logits.reshape((T + 1) * N, -1), y_out.reshape(-1),
                                    ignore_index=-1, label_smoothing=label_smoothing,
                                    grad=grad)
        if not grad:
            return float(res.loss), None
        gen = linear_backward(gen_cache, res.dlogits.reshape(logits.shape))
        (dsrc, dtgt), grads = self.backward(cache, self._io(gen.dx))
        scale = self.dtype.type(math.sqrt(self.d_model))
        grads["src_embedding.weight"] = embedding_backward(
            self._io(dsrc) * scale, src, self.src_vocab_size).to_dense(self.src_vocab_size)
        grads["tgt_embedding.weight"] = embedding_backward(
            self._io(dtgt) * scale, y_in, self.tgt_vocab_size).to_dense(self.tgt_vocab_size)
        grads["generator.weight"], grads["generator.bias"] = gen.dweight, gen.dbias
        return float(res.loss), OrderedDict((k, grads[k]) for k in self.params)

    def step_function(self, src, src_lengths, max_length: int = 100):
        """``(step, init_state)`` for :func:`seqcore.beam_search`, ``greedy_search`` and
        ``sample``: incremental decoding with a key/value cache per decoder layer.

        Each step embeds one token per live hypothesis at its position, appends one key and
        value row per layer to the cache (reordered by ``beam_origin`` when hypotheses are
        dropped or duplicated) and attends over it; the prefix is never recomputed. The
        cross-attention keys and values of the memory are projected once per sentence.
        ``max_length`` bounds the steps (the cache's size). Inference: no dropout, whatever
        the training flag. A state is used once (the next step extends its cache in place).
        """
        self._need_vocab()
        with self._inference():
            memory, sl = self.encode(src, src_lengths)
        max_length = int_arg("max_length", max_length, 1, 1 << 20)
        S, N, E = memory.shape
        H, dt = self.nhead, self.dtype
        Dh = E // H
        layers = self.decoder.layers
        mem_kv = []
        for layer in layers:   # [N, H, S, Dh] keys and values of the memory, per layer
            w = layer.params["multihead_attn.in_proj_weight"]
            b = layer._get("multihead_attn.in_proj_bias")
            k, _ = linear_forward(memory, w[E:], None if b is None else b[E:])   # [S, N, 2E]
            kv = k.reshape(S, N, 2, H, Dh).transpose(2, 1, 3, 0, 4)
            mem_kv.append((np.ascontiguousarray(kv[0]), np.ascontiguousarray(kv[1])))
        init = {"t": 0, "rows": None, "cache": None, "mem": None}

        def step(tokens, state, origin):
            t = state["t"]
            if t >= max_length:
                raise ValueError(f"max_length: the key/value cache holds {max_length} steps")
            M = len(tokens)
            rows = origin if state["rows"] is None else state["rows"][origin]
            if state["cache"] is None:
                cache = [(np.zeros((M, H, max_length, Dh), dt),
                          np.zeros((M, H, max_length, Dh), dt)) for _ in layers]
            elif M == len(state["rows"]) and np.array_equal(origin, np.arange(M)):
                cache = state["cache"]
            else:
                cache = [(k[origin], v[origin]) for k, v in state["cache"]]
            mem = state["mem"]
            if mem is None or not np.array_equal(rows, state["rows"]):
                mem = [(k[rows], v[rows]) for k, v in mem_kv]
            tok = np.asarray(tokens, np.int64).reshape(1, M)
            x = self._embed(tok, "tgt_embedding.weight", t)[0]
            lengths_self, lengths_mem = np.full(M, t + 1, np.int64), sl[rows]
            for i, (layer, (K, V), (mK, mV)) in enumerate(zip(layers, cache, mem)):
                x = _decode_step(layer, x, K, V, t, mK, mV, lengths_self, lengths_mem,
                                 state.get("weights") if i == len(layers) - 1 else None)
            if self.decoder.norm is not None:
                x, _ = layer_norm_forward(x, *self.decoder.norm, self.decoder.eps)
            logits, _ = linear_forward(x, self.params["generator.weight"],
                                       self.params["generator.bias"])
            return log_softmax(logits), {**state, "t": t + 1, "rows": rows, "cache": cache,
                                         "mem": mem}

        return step, init

    def cross_attention_weights(self, src, src_lengths, tokens):
        """The last decoder layer's cross-attention probabilities ``[H, T + 1, S]`` for one
        sentence (``src [S, 1]``) decoding the output ``tokens`` (no BOS; the rows are the
        steps predicting each token and then EOS): what a heat map of one head shows."""
        tokens = [self.bos_id] + [int(t) for t in tokens]
        step, state = self.step_function(src, src_lengths, len(tokens))
        if np.shape(src)[1] != 1:
            raise ValueError("src: expected one sentence, [S, 1]")
        state["weights"] = rows = []
        for tok in tokens:
            _, state = step(np.array([tok]), state, np.zeros(1, np.int64))
        return np.stack([w[0] for w in rows], axis=1)

    def translate(self, src, src_lengths, beam_width: int = 4, max_length: int = 100,
                  **options) -> List[List[Hypothesis]]:
        """Beam search over the cached decoder (:meth:`step_function`) with
        :func:`seqcore.beam_search` (the C++ ``BeamSearch`` state machine: top-k, length
        normalisation, n-best, stopping rules; its options pass through). ``src [S, N]``
        ids, ``src_lengths [N]``. Returns per sentence a list of :class:`Hypothesis`."""
        step, init = self.step_function(src, src_lengths, max_length)
        return beam_search(step, np.shape(src)[1], self.bos_id, self.eos_id, init_state=init,
                           beam_width=beam_width, max_length=max_length, **options)

    def greedy(self, src, src_lengths, max_length: int = 100,
               min_length: int = 0) -> List[Hypothesis]:
        """Greedy decoding over the cached decoder (:func:`seqcore.greedy_search`)."""
        step, init = self.step_function(src, src_lengths, max_length)
        return greedy_search(step, np.shape(src)[1], self.bos_id, self.eos_id, init_state=init,
                             max_length=max_length, min_length=min_length)

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
from collections import OrderedDict, namedtuple
from types import SimpleNamespace
from typing import Any, Optional, Tuple

import numpy as np

from . import _core
from ._validate import float_arg, int_arg, option
from .attention import multi_head_attention_backward, multi_head_attention_forward
from .layers import dropout_mask, load_params

__all__ = ["LayerNormGrads", "LinearGrads", "layer_norm_forward", "layer_norm_backward",
           "linear_forward", "linear_backward", "TransformerEncoderLayer",
           "TransformerEncoder"]

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


def _key_lengths(mask, N, S):
    """``src_key_padding_mask [N, S]`` (True = padding, torch's convention) as key lengths
    ``[N]``; only suffix padding (the SDPA kernel's key lengths) is accepted."""
    mask = np.asarray(mask)
    if mask.shape != (N, S):
        raise ValueError(f"src_key_padding_mask: expected shape [N, S] = {[N, S]}, got "
                         f"{list(mask.shape)}")
    if mask.dtype != np.bool_:
        raise TypeError(f"src_key_padding_mask: expected a bool array, got {mask.dtype}")
    lengths = S - mask.sum(axis=1)
    if not np.array_equal(mask, np.arange(S)[None, :] >= lengths[:, None]):
        raise ValueError("src_key_padding_mask: only padding at the end of each sequence is "
                         "supported (True from some position on); pass src_lengths instead")
    return lengths.astype(np.int64)


class TransformerEncoderLayer:
    """Self-attention and a feed-forward block, each with a residual connection and layer
    norm: ``torch.nn.TransformerEncoderLayer`` on seqcore kernels.

    Post-LN (``norm_first=False``, the original Transformer)::

        x = norm1(x + dropout1(self_attn(x)))
        x = norm2(x + dropout2(linear2(dropout(act(linear1(x))))))

    Pre-LN (``norm_first=True``): ``x = x + dropout1(self_attn(norm1(x)))``, then
    ``x = x + dropout2(linear2(dropout(act(linear1(norm2(x))))))``.

    Parameters
    ----------
    d_model : int
        E.
    nhead : int
        Heads; must divide E.
    dim_feedforward : int
        F.
    dropout : float in [0, 1)
        Inverted dropout on the attention output, inside the feed-forward block and on its
        output (seeded by ``seed``). Unlike torch, the attention probabilities themselves
        are not dropped: the flash-attention kernel never forms them.
    activation : {"relu", "gelu"}
        ``gelu`` is exact, as torch's; ``gelu_tanh`` is also accepted.
    layer_norm_eps : float
    batch_first : bool
        Inputs and outputs ``[N, S, E]`` instead of ``[S, N, E]``.
    norm_first : bool
        Pre-LN instead of post-LN.
    bias : bool
        Biases in the linear layers and the layer norms (torch's ``bias``).
    dtype : float32 (default) or float64
    seed : int or None
        Seeds the initial weights (torch's initialisation: Xavier-uniform ``in_proj_weight``,
        ``U(-1/sqrt(in), 1/sqrt(in))`` linear layers, zero attention biases) and the
        dropout masks.

    Attributes
    ----------
    params : OrderedDict name -> ndarray
        torch's names and shapes: ``self_attn.in_proj_weight [3E, E]``,
        ``self_attn.in_proj_bias [3E]``, ``self_attn.out_proj.weight [E, E]``,
        ``self_attn.out_proj.bias [E]``, ``linear1.weight [F, E]``, ``linear1.bias [F]``,
        ``linear2.weight [E, F]``, ``linear2.bias [E]``, ``norm1.weight``, ``norm1.bias``,
        ``norm2.weight``, ``norm2.bias [E]`` (biases absent with ``bias=False``).
    training : bool
        Dropout on (``train()``) or off (``eval()``).

    Raises
    ------
    ValueError
        ``d_model`` not divisible by ``nhead``, sizes out of range, an unknown activation,
        dropout outside [0, 1).

    Source: Vaswani et al. 2017, section 3.1; Xiong et al. 2020 (pre-LN);
    ``torch.nn.TransformerEncoderLayer`` (parameters and semantics).
    """

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
        p["self_attn.in_proj_weight"] = uniform(math.sqrt(6.0 / (E + 3 * E)), 3 * E, E)
        if bias:
            p["self_attn.in_proj_bias"] = np.zeros(3 * E, self.dtype)
        p["self_attn.out_proj.weight"] = uniform(1 / math.sqrt(E), E, E)
        if bias:
            p["self_attn.out_proj.bias"] = np.zeros(E, self.dtype)
        for name, i, o in (("linear1", E, F), ("linear2", F, E)):
            p[f"{name}.weight"] = uniform(1 / math.sqrt(i), o, i)
            if bias:
                p[f"{name}.bias"] = uniform(1 / math.sqrt(i), o)
        for name in ("norm1", "norm2"):
            p[f"{name}.weight"] = np.ones(E, self.dtype)
            if bias:
                p[f"{name}.bias"] = np.zeros(E, self.dtype)
        self.params = p

    # ---------------------------------------------------------------- parameters
    def named_parameters(self):
        """Iterate over ``(name, array)``: the live parameters, in torch's order."""
        return iter(self.params.items())

    def state_dict(self):
        """``OrderedDict`` name -> copy, with torch's names (loads into the torch layer)."""
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict):
        """Copy a state dict (arrays or torch tensors, e.g. a ``torch.nn``
        ``TransformerEncoderLayer``'s) into the parameters, all or nothing. Raises
        ValueError (missing/unexpected key, wrong shape) or TypeError (not numeric)."""
        load_params(self.params, state_dict)

    def train(self, mode: bool = True):
        self.training = bool(mode)
        return self

    def eval(self):
        return self.train(False)

    def _get(self, name):
        return self.params.get(name)

    # ---------------------------------------------------------------- forward / backward
    def _inputs(self, src, src_key_padding_mask, src_lengths):
        src = np.asarray(src)
        if src.ndim != 3 or src.shape[2] != self.d_model:
            legend = "[N, S, E]" if self.batch_first else "[S, N, E]"
            raise ValueError(f"src: expected shape {legend} with E = {self.d_model}, got "
                             f"{list(src.shape)}")
        if src.dtype != self.dtype:
            raise TypeError(f"src: expected dtype {self.dtype} (the layer's), got {src.dtype}")
        x = src.transpose(1, 0, 2) if self.batch_first else src
        S, N = x.shape[:2]
        if src_key_padding_mask is not None and src_lengths is not None:
            raise ValueError("src_lengths: give src_key_padding_mask or src_lengths, not both")
        lengths = None
        if src_key_padding_mask is not None:
            lengths = _key_lengths(src_key_padding_mask, N, S)
        elif src_lengths is not None:
            lengths = np.asarray(src_lengths)
            if lengths.shape != (N,) or lengths.dtype.kind not in "iu":
                raise ValueError(f"src_lengths: expected an integer array [N] = [{N}], got "
                                 f"{lengths.dtype} with shape {list(lengths.shape)}")
        return np.ascontiguousarray(x), lengths

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
        x, lengths = self._inputs(src, src_key_padding_mask, src_lengths)
        drop = self.training and self.dropout > 0
        c: dict = {"masks": {}}
        eps, act = self.layer_norm_eps, self.activation

        def dropout(v, key):
            if not drop:
                return v
            c["masks"][key] = m = dropout_mask(self._rng, v.shape, self.dropout, self.dtype)
            return v * m

        def attention(h):
            p = self.params
            a, c["attn"] = multi_head_attention_forward(
                h, h, h, p["self_attn.in_proj_weight"], self._get("self_attn.in_proj_bias"),
                p["self_attn.out_proj.weight"], self._get("self_attn.out_proj.bias"),
                self.nhead, attn_mask=src_mask, is_causal=is_causal, key_lengths=lengths)
            return dropout(a, 1)

        def feed_forward(h):
            u, c["lin1"] = linear_forward(h, self.params["linear1.weight"],
                                          self._get("linear1.bias"), act)
            f, c["lin2"] = linear_forward(dropout(u, 0), self.params["linear2.weight"],
                                          self._get("linear2.bias"))
            return dropout(f, 2)

        if self.norm_first:
            h, c["norm1"] = layer_norm_forward(x, self.params["norm1.weight"],
                                               self._get("norm1.bias"), eps)
            x1 = x + attention(h)
            h2, c["norm2"] = layer_norm_forward(x1, self.params["norm2.weight"],
                                                self._get("norm2.bias"), eps)
            out = x1 + feed_forward(h2)
        else:
            x1, c["norm1"] = layer_norm_forward(attention(x), self.params["norm1.weight"],
                                                self._get("norm1.bias"), eps, residual=x)
            out, c["norm2"] = layer_norm_forward(feed_forward(x1), self.params["norm2.weight"],
                                                 self._get("norm2.bias"), eps, residual=x1)
        if self.batch_first:
            out = out.transpose(1, 0, 2)
        return out, _Cache(layer=self, shape=out.shape, **c)

    __call__ = forward

    def backward(self, cache, dout) -> Tuple[np.ndarray, "OrderedDict[str, np.ndarray]"]:
        """Backward of :meth:`forward`: ``dout`` (shape of its output) -> ``(dsrc, grads)``,
        ``grads`` an OrderedDict keyed by parameter name (torch's order)."""
        if not isinstance(cache, _Cache) or getattr(cache, "layer", None) is not self:
            raise TypeError("cache: expected the cache of this layer's forward")
        dout = np.asarray(dout)
        if dout.shape != cache.shape:
            raise ValueError(f"dout: expected shape {list(cache.shape)}, got {list(dout.shape)}")
        if dout.dtype != self.dtype:
            raise TypeError(f"dout: expected dtype {self.dtype}, got {dout.dtype}")
        d = np.ascontiguousarray(dout.transpose(1, 0, 2) if self.batch_first else dout)
        masks, g = cache.masks, {}

        def undrop(v, key):
            return v * masks[key] if key in masks else v

        def put(prefix, grads, names=("weight", "bias")):
            for n, v in zip(names, grads[1:]):
                if v is not None:
                    g[f"{prefix}.{n}"] = v

        def feed_forward_back(df):
            r2 = linear_backward(cache.lin2, undrop(df, 2))
            put("linear2", r2)
            r1 = linear_backward(cache.lin1, undrop(r2.dx, 0))
            put("linear1", r1)
            return r1.dx

        def attention_back(da):
            r = multi_head_attention_backward(cache.attn, undrop(da, 1))
            g["self_attn.in_proj_weight"] = r.d_in_proj_weight
            if r.d_in_proj_bias is not None:
                g["self_attn.in_proj_bias"] = r.d_in_proj_bias
            g["self_attn.out_proj.weight"] = r.d_out_proj_weight
            if r.d_out_proj_bias is not None:
                g["self_attn.out_proj.bias"] = r.d_out_proj_bias
            return r.dquery + r.dkey + r.dvalue

        if self.norm_first:
            r = layer_norm_backward(cache.norm2, feed_forward_back(d))
            put("norm2", r)
            dx1 = d + r.dx
            r = layer_norm_backward(cache.norm1, attention_back(dx1))
            put("norm1", r)
            dx = dx1 + r.dx
        else:
            r = layer_norm_backward(cache.norm2, d)
            put("norm2", r)
            dx1 = r.dx + feed_forward_back(r.dx)
            r = layer_norm_backward(cache.norm1, dx1)
            put("norm1", r)
            dx = r.dx + attention_back(r.dx)
        if self.batch_first:
            dx = dx.transpose(1, 0, 2)
        return dx, OrderedDict((k, g[k]) for k in self.params)

    def __repr__(self):
        return (f"TransformerEncoderLayer(d_model={self.d_model}, nhead={self.nhead}, "
                f"dim_feedforward={self.dim_feedforward}, dropout={self.dropout}, "
                f"activation={self.activation!r}, batch_first={self.batch_first}, "
                f"norm_first={self.norm_first}, bias={self.bias})")


class TransformerEncoder:
    """``num_layers`` copies of ``encoder_layer`` (deep copies, as torch), then an optional
    final layer norm (``norm``: a ``(weight, bias)`` pair of [E] arrays, or None; pre-LN
    stacks use one). State-dict names ``layers.{i}.<layer name>`` and ``norm.weight``,
    ``norm.bias``, as ``torch.nn.TransformerEncoder``.

    Raises ValueError for num_layers < 1 or a norm of the wrong shape.
    """

    def __init__(self, encoder_layer: TransformerEncoderLayer, num_layers: int,
                 norm=None) -> None:
        if not isinstance(encoder_layer, TransformerEncoderLayer):
            raise TypeError("encoder_layer: expected a TransformerEncoderLayer")
        self.num_layers = int_arg("num_layers", num_layers, 1, 1 << 10)
        self.layers = [copy.deepcopy(encoder_layer) for _ in range(self.num_layers)]
        for layer in self.layers:   # dropout streams of their own (a copy shares the state)
            layer._rng = np.random.default_rng(encoder_layer._rng.integers(0, 2**63))
        E, dt = encoder_layer.d_model, encoder_layer.dtype
        self.norm: Optional[Tuple[np.ndarray, Optional[np.ndarray]]] = None
        if norm is not None:
            w, b = norm
            w, b = np.array(w, dt), None if b is None else np.array(b, dt)
            if w.shape != (E,) or (b is not None and b.shape != (E,)):
                raise ValueError(f"norm: expected (weight, bias) of shape [E] = [{E}]")
            self.norm = (w, b)
        self.eps = encoder_layer.layer_norm_eps
        self.batch_first = encoder_layer.batch_first
        self.params: "OrderedDict[str, np.ndarray]" = OrderedDict()
        for i, layer in enumerate(self.layers):
            for k, v in layer.params.items():
                self.params[f"layers.{i}.{k}"] = v
        if self.norm is not None:
            self.params["norm.weight"] = self.norm[0]
            if self.norm[1] is not None:
                self.params["norm.bias"] = self.norm[1]

    def named_parameters(self):
        return iter(self.params.items())

    def state_dict(self):
        return OrderedDict((k, v.copy()) for k, v in self.params.items())

    def load_state_dict(self, state_dict):
        """As :meth:`TransformerEncoderLayer.load_state_dict`, for the whole stack."""
        load_params(self.params, state_dict)

    def train(self, mode: bool = True):
        for layer in self.layers:
            layer.train(mode)
        return self

    def eval(self):
        return self.train(False)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal: bool = False, *,
                src_lengths=None):
        """Every layer in turn (arguments as :meth:`TransformerEncoderLayer.forward`), then
        the final norm. Returns ``(out, cache)``."""
        caches, x = [], src
        for layer in self.layers:
            x, c = layer.forward(x, mask, src_key_padding_mask, is_causal,
                                 src_lengths=src_lengths)
            caches.append(c)
        norm_cache = None
        if self.norm is not None:
            x, norm_cache = layer_norm_forward(x, self.norm[0], self.norm[1], self.eps)
        return x, _Cache(stack=self, layers=caches, norm=norm_cache, shape=x.shape)

    __call__ = forward

    def backward(self, cache, dout):
        """``(dsrc, grads)`` with grads keyed by the stack's parameter names."""
        if not isinstance(cache, _Cache) or getattr(cache, "stack", None) is not self:
            raise TypeError("cache: expected the cache of this encoder's forward")
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
        for i in reversed(range(self.num_layers)):
            d, g = self.layers[i].backward(cache.layers[i], d)
            grads.update((f"layers.{i}.{k}", v) for k, v in g.items())
        return d, OrderedDict((k, grads[k]) for k in self.params)

"""Convolution and batch normalisation over time on seqcore kernels: the acoustic front end of
the trigger-word model of the Sequence Models course (Conv1D -> BatchNorm -> ReLU).

Shape legend: ``N`` batch, ``L`` input length (time steps), ``Lo`` output length, ``Ci``/``Co``
input/output channels, ``Kw`` kernel width, ``C`` channels of batch norm.

``conv1d_forward`` takes torch's layout ``x [N, Ci, L]`` or, with ``channels_last=True``,
Keras's ``[N, L, Ci]``; the weight is torch's ``[Co, Ci, Kw]`` in both, so a
``torch.nn.Conv1d`` state dict loads unchanged. ``batch_norm_forward`` normalises the last
axis (channels last, as Keras's ``BatchNormalization(axis=-1)``): torch's ``BatchNorm1d`` on
``[N, C, L]`` is this op on ``x.transpose(0, 2, 1)``.

Dtypes: float32 (fast path) or float64; every array must have the dtype of ``x``
(``TypeError`` otherwise).
"""
from __future__ import annotations

import math
from collections import namedtuple
from types import SimpleNamespace

import numpy as np

from . import _core
from ._validate import float_arg, int_arg, option

__all__ = ["Conv1dGrads", "BatchNormGrads", "conv1d_output_length", "conv1d_forward",
           "conv1d_backward", "PackedConv1d", "batch_norm_forward", "batch_norm_backward"]

Conv1dGrads = namedtuple("Conv1dGrads", "dx dweight dbias")
Conv1dGrads.__doc__ = """Gradients of conv1d: dx (shape of x; None when not asked for),
dweight [Co, Ci, Kw], dbias [Co] (None where the forward had no bias)."""
BatchNormGrads = namedtuple("BatchNormGrads", "dx dweight dbias")
BatchNormGrads.__doc__ = """Gradients of batch norm: dx [..., C], dweight [C], dbias [C] (None
where the forward had none)."""


class _Cache(SimpleNamespace):
    """Saved arrays of one forward call, for its backward (opaque)."""


def conv1d_output_length(length: int, kernel_size: int, stride: int = 1, padding: int = 0,
                         dilation: int = 1) -> int:
    """``floor((L + 2 padding - dilation (Kw - 1) - 1) / stride) + 1`` (torch.nn.Conv1d)."""
    return (length + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1


def conv1d_forward(x, weight, bias=None, stride: int = 1, padding: int = 0, dilation: int = 1,
                   *, channels_last: bool = False, activation: str = "none"):
    """1-D convolution (cross-correlation, as every deep-learning library) over time:
    ``y[n, o, t] = act(b[o] + sum_{c, j} w[o, c, j] x[n, c, t*stride + j*dilation - padding])``
    with zeros outside the input.

    Computed on seqcore's shared GEMM without an im2col matrix: with the input in time-major
    rows, output step t reads ``Kw`` consecutive rows (dilation 1), one run of ``Kw * Ci``
    values, so the layer is one product whose rows overlap.

    Parameters
    ----------
    x : ndarray [N, Ci, L] (or [N, L, Ci] with channels_last), float32 or float64
    weight : ndarray [Co, Ci, Kw]
        torch.nn.Conv1d's layout.
    bias : ndarray [Co] or None
    stride, padding, dilation : int
        stride >= 1, padding >= 0 (zeros at both ends), dilation >= 1.
    channels_last : bool
        x and y are [N, L, Ci] and [N, Lo, Co] (Keras Conv1D) instead of torch's layout.
    activation : "none" or "relu"
        Applied in the GEMM's epilogue (fused).

    Returns
    -------
    y : ndarray [N, Co, Lo] (or [N, Lo, Co]);  cache for :func:`conv1d_backward`.

    Raises
    ------
    TypeError
        x not float32/float64, weight or bias of another dtype.
    ValueError
        Shapes (named), channels of x and weight differ, stride/dilation < 1, padding < 0,
        an input shorter than the kernel's span ``dilation (Kw - 1) + 1`` (Lo < 1), unknown
        activation.

    Source: ``torch.nn.functional.conv1d`` (semantics); Ng, Sequence Models week 3 (the
    trigger-word model's Conv1D).
    """
    # the bounds of conv.h's checks (sizes stay far inside int64)
    stride = int_arg("stride", stride, 1, 2 ** 40)
    padding = int_arg("padding", padding, 0, 2 ** 40)
    dilation = int_arg("dilation", dilation, 1, 2 ** 20)
    activation = option("activation", activation, ("none", "relu"))
    channels_last = bool(channels_last)
    y = _core.conv1d_forward(x, weight, bias, stride, padding, dilation, channels_last,
                             activation)
    cache = _Cache(x=np.asarray(x), weight=np.asarray(weight), has_bias=bias is not None,
                   stride=stride, padding=padding, dilation=dilation,
                   channels_last=channels_last, y=y if activation == "relu" else None)
    return y, cache


def conv1d_backward(cache, dy, *, need_dx: bool = True) -> Conv1dGrads:
    """Backward of :func:`conv1d_forward`; ``dy`` has the shape of y.

    Returns Conv1dGrads(dx or None (``need_dx=False``: a first layer fed by data), dweight
    [Co, Ci, Kw], dbias [Co] or None). Sums over the batch and time run in a fixed order
    (bit-identical for every thread count).
    """
    if not isinstance(cache, _Cache) or not hasattr(cache, "dilation"):
        raise TypeError("cache: expected the cache of conv1d_forward")
    dy = np.asarray(dy)
    if cache.y is not None:  # the fused ReLU: pass the gradient where the output is > 0
        if dy.shape != cache.y.shape:
            raise ValueError(f"dy: expected shape {list(cache.y.shape)}, got {list(dy.shape)}")
        dy = np.where(cache.y > 0, dy, 0).astype(cache.y.dtype, copy=False)
    dx, dw, db = _core.conv1d_backward(cache.x, cache.weight, dy, cache.stride, cache.padding,
                                       cache.dilation, cache.channels_last, bool(need_dx),
                                       cache.has_bias)
    return Conv1dGrads(dx, dw, db)


class PackedConv1d:
    """:func:`conv1d_forward` for inference that applies one layer to many inputs (a
    stream's chunks, batches of clips): the weight is permuted and packed into the GEMM's
    panels once, here, so a call costs its products only. Per call, ``conv1d_forward``
    permutes and packs all ``Co * Ci * Kw`` weights, which is most of the time of a chunk
    of a few output steps.

    Calling the layer with x ``[N, Ci, L]`` (``[N, L, Ci]`` with channels_last) returns
    y ``[N, Co, Lo]`` (``[N, Lo, Co]``), and no cache (inference only). It equals
    ``conv1d_forward(x, weight, bias, ...)[0]`` bit for bit (the same k blocks and chains of
    fused multiply-adds, the same epilogue). The weights are copied: later changes to
    ``weight`` or ``bias`` are not seen.

    Parameters
    ----------
    weight : ndarray [Co, Ci, Kw]
        float32 or float64: the dtype of every call's x.
    bias : ndarray [Co] or None
    stride, padding, dilation, channels_last, activation
        As :func:`conv1d_forward`.

    Raises
    ------
    TypeError
        weight not float32/float64, bias or x of another dtype.
    ValueError
        As :func:`conv1d_forward` (shapes, channels, geometry, activation).
    """

    def __init__(self, weight, bias=None, stride: int = 1, padding: int = 0,
                 dilation: int = 1, *, channels_last: bool = False, activation: str = "none"):
        self.stride = int_arg("stride", stride, 1, 2 ** 40)
        self.padding = int_arg("padding", padding, 0, 2 ** 40)
        self.dilation = int_arg("dilation", dilation, 1, 2 ** 20)
        self.activation = option("activation", activation, ("none", "relu"))
        self.channels_last = bool(channels_last)
        self._layer = _core.Conv1dPacked(weight, bias, self.stride, self.padding,
                                         self.dilation, self.channels_last, self.activation)

    def __call__(self, x):
        return self._layer(x)

    def __repr__(self):
        return (f"PackedConv1d({self._layer!r}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, channels_last={self.channels_last}, "
                f"activation={self.activation!r})")


def _channels(x, name):
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[-1] < 1:
        raise ValueError(f"{name}: expected shape [..., C] with at least one leading axis and "
                         f"C >= 1, got {list(x.shape)}")
    if x.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected dtype float32 or float64, got {x.dtype}")
    return x.reshape(math.prod(x.shape[:-1]), x.shape[-1]), x.shape


def _vector(name, v, C, dtype):
    v = np.asarray(v)
    if v.dtype != dtype:
        raise TypeError(f"{name}: dtype {v.dtype} does not match x ({dtype})")
    if v.shape != (C,):
        raise ValueError(f"{name}: expected shape [C] = [{C}], got {list(v.shape)}")
    return v


def batch_norm_forward(x, weight=None, bias=None, running_mean=None, running_var=None, *,
                       training: bool = True, momentum: float = 0.1, eps: float = 1e-5,
                       relu: bool = False):
    """Batch normalisation of the last axis (channels) over every other axis (batch and time):
    ``y = (x - mean) / sqrt(var + eps) * weight + bias``, then ``max(y, 0)`` when ``relu``.

    Training mode uses the batch's mean and (biased) variance and, when ``running_mean`` and
    ``running_var`` are given, updates them in place as torch does:
    ``running = (1 - momentum) running + momentum batch`` with the unbiased variance.
    Evaluation mode (``training=False``) uses the running statistics.

    Parameters
    ----------
    x : ndarray [..., C] (at least 2-D), float32 or float64
    weight, bias : ndarray [C] or None
        torch.nn.BatchNorm1d's ``weight``/``bias`` (Keras's gamma/beta); None: 1 and 0.
    running_mean, running_var : ndarray [C] (dtype of x, writeable) or None
        Required when ``training=False``.
    training : bool
    momentum : float in [0, 1]
        torch's convention (Keras's momentum m is torch's 1 - m).
    eps : float >= 0
    relu : bool
        Fuse the ReLU that follows the normalisation (Conv1D -> BN -> ReLU).

    Returns
    -------
    y : ndarray [..., C];  cache for :func:`batch_norm_backward`.

    Raises
    ------
    TypeError
        x not float32/float64, another array of another dtype.
    ValueError
        Shapes (named), one value per channel in training (as torch), running statistics
        missing in evaluation mode, momentum outside [0, 1], eps negative.

    Source: Ioffe & Szegedy 2015; ``torch.nn.functional.batch_norm`` (semantics).
    """
    x2, shape = _channels(x, "x")
    M, C = x2.shape
    eps = float_arg("eps", eps, 0.0, finite=True)
    momentum = float_arg("momentum", momentum, 0.0, 1.0)
    for name, r in (("running_mean", running_mean), ("running_var", running_var)):
        if r is None:
            continue
        if not isinstance(r, np.ndarray) or not r.flags.writeable:
            raise TypeError(f"{name}: expected a writeable numpy array (updated in place)")
        _vector(name, r, C, x2.dtype)
    if (running_mean is None) != (running_var is None):
        raise ValueError("running_mean, running_var: give both or neither")
    if training:
        if M < 2:
            raise ValueError(f"x: expected more than 1 value per channel in training, got "
                             f"shape {list(shape)}")
        y, mean, var, rstd = _core.batch_norm_forward(x2, weight, bias, eps, bool(relu))
        if running_mean is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (M / (M - 1))
        cache = _Cache(x=x2, weight=weight, bias=bias, mean=mean, rstd=rstd, relu=bool(relu),
                       shape=shape, training=True)
        return y.reshape(shape), cache
    if running_mean is None:
        raise ValueError("running_mean, running_var: required when training=False")
    # Evaluation: a per-channel affine map (what a deployed model folds into the layer before)
    rstd = (1.0 / np.sqrt(running_var + eps)).astype(x2.dtype)
    scale = rstd if weight is None else rstd * _vector("weight", weight, C, x2.dtype)
    shift = -running_mean * scale
    if bias is not None:
        shift = shift + _vector("bias", bias, C, x2.dtype)
    y = x2 * scale + shift
    if relu:
        np.maximum(y, 0, out=y)
    cache = _Cache(x=x2, mean=running_mean.copy(), rstd=rstd, scale=scale,
                   y=y if relu else None, shape=shape, training=False,
                   has_weight=weight is not None, has_bias=bias is not None)
    return y.reshape(shape), cache


def batch_norm_backward(cache, dy) -> BatchNormGrads:
    """Backward of :func:`batch_norm_forward`; ``dy [..., C]`` (shape of x), the gradient of
    the output (after the fused ReLU, if any).

    Returns BatchNormGrads(dx [..., C], dweight [C] or None, dbias [C] or None). In training
    mode dx includes the statistics' dependence on x; sums over rows run in fixed blocks
    (bit-identical for every thread count).
    """
    if not isinstance(cache, _Cache) or not hasattr(cache, "training"):
        raise TypeError("cache: expected the cache of batch_norm_forward")
    dy = np.asarray(dy)
    if dy.shape != cache.shape:
        raise ValueError(f"dy: expected shape {list(cache.shape)}, got {list(dy.shape)}")
    dy2 = dy.reshape(cache.x.shape)
    if cache.training:
        dx, dw, db = _core.batch_norm_backward(cache.x, cache.weight, cache.bias, cache.mean,
                                               cache.rstd, cache.relu, dy2,
                                               cache.weight is not None, cache.bias is not None)
        return BatchNormGrads(dx.reshape(cache.shape), dw, db)
    if dy2.dtype != cache.x.dtype:
        raise TypeError(f"dy: dtype {dy2.dtype} does not match x ({cache.x.dtype})")
    g = dy2 if cache.y is None else np.where(cache.y > 0, dy2, 0).astype(dy2.dtype)
    dx = g * cache.scale
    dw = (g * ((cache.x - cache.mean) * cache.rstd)).sum(axis=0) if cache.has_weight else None
    db = g.sum(axis=0) if cache.has_bias else None
    return BatchNormGrads(dx.reshape(cache.shape), dw, db)

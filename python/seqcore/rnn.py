"""Fused recurrent kernels: LSTM, GRU and Elman RNN forward and backpropagation through time.

Shape legend (see DESIGN.md): ``T`` time steps, ``N`` batch, ``I`` input size, ``H`` hidden
size, ``G`` gates (4 LSTM, 3 GRU, 1 RNN). Sequences are time-major ``[T, N, ...]``.

Weights use PyTorch's layout and gate order, so the tensors of a ``torch.nn.LSTM`` /
``GRU`` / ``RNN`` state dict can be passed unchanged:

* LSTM: ``w_ih [4H, I]``, ``w_hh [4H, H]``, ``b_ih``, ``b_hh [4H]``, gates i, f, g, o::

      i = σ(W_ii x + b_ii + W_hi h + b_hi)     f = σ(W_if x + b_if + W_hf h + b_hf)
      g = tanh(W_ig x + b_ig + W_hg h + b_hg)  o = σ(W_io x + b_io + W_ho h + b_ho)
      c' = f * c + i * g                       h' = o * tanh(c')

* GRU: ``w_ih [3H, I]``, ``w_hh [3H, H]``, gates r, z, n::

      r = σ(W_ir x + b_ir + W_hr h + b_hr)     z = σ(W_iz x + b_iz + W_hz h + b_hz)
      n = tanh(W_in x + b_in + r * (W_hn h + b_hn))     (linear_before_reset=True, PyTorch/cuDNN)
      n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)     (linear_before_reset=False, Cho et al. 2014)
      h' = (1 - z) * n + z * h

* RNN: ``w_ih [H, I]``, ``w_hh [H, H]``: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)`` with
  act = tanh or relu.

Dtypes: float32 (fast path) or float64; every array must have the dtype of ``x`` (a mismatch
raises ``TypeError``). ``lengths`` is int32 or int64.

Forward/backward pair: ``*_forward`` returns the outputs and a cache holding, per step, the
post-activation gates and the hidden (and for the LSTM cell) states — ``T·N·(G+2)·H`` values
for LSTM and GRU, ``T·N·3·H`` at most for RNN, fewer with ``lengths`` (only valid steps are
stored). ``*_backward`` consumes that cache: it overwrites the saved gates with their
gradients (as haste does) so it needs only ``O(N·G·H)`` scratch per step; call it once per
forward, or pass ``retain_cache=True`` to keep the cache usable (costs one copy of the gates).
Like PyTorch's autograd, the cache keeps references to ``x`` and the weights: modifying them
in place between forward and backward gives wrong gradients.

Sources: Hochreiter & Schmidhuber 1997 / Gers et al. 2000 (LSTM), Cho et al. 2014 (GRU),
PyTorch ``torch.nn.LSTM``/``GRU``/``RNN`` documentation (gate order and semantics).
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _core
from ._validate import instance_arg, option

__all__ = [
    "LSTMGrads", "GRUGrads", "RNNGrads",
    "lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
    "rnn_forward", "rnn_backward", "lstm_cell", "gru_cell", "rnn_cell", "PackedRNN",
]

LSTMGrads = namedtuple("LSTMGrads", "dx dh0 dc0 dw_ih dw_hh db_ih db_hh")
LSTMGrads.__doc__ = """Gradients of an LSTM layer: dx [T,N,I], dh0/dc0 [N,H], dw_ih [4H,I],
dw_hh [4H,H], db_ih/db_hh [4H] (None where the bias was not given)."""
GRUGrads = namedtuple("GRUGrads", "dx dh0 dw_ih dw_hh db_ih db_hh")
GRUGrads.__doc__ = """Gradients of a GRU layer: dx [T,N,I], dh0 [N,H], dw_ih [3H,I],
dw_hh [3H,H], db_ih/db_hh [3H] (None where the bias was not given)."""
RNNGrads = namedtuple("RNNGrads", "dx dh0 dw_ih dw_hh db_ih db_hh")
RNNGrads.__doc__ = """Gradients of an Elman RNN layer: dx [T,N,I], dh0 [N,H], dw_ih [H,I],
dw_hh [H,H], db_ih/db_hh [H] (None where the bias was not given)."""

_COMMON_ARGS = """
    x : ndarray [T, N, I], float32 or float64
        Input sequence, time-major.
    w_ih : ndarray [G·H, I]
        Input-to-hidden weights (PyTorch ``weight_ih_l0``).
    w_hh : ndarray [G·H, H]
        Hidden-to-hidden weights (PyTorch ``weight_hh_l0``).
    b_ih, b_hh : ndarray [G·H] or None
        Biases (PyTorch ``bias_ih_l0`` / ``bias_hh_l0``); None means no bias.
    h0 : ndarray [N, H] or None
        Initial hidden state; zeros when None.
    lengths : ndarray [N] of int32/int64, or None
        Valid length of each sequence, ``0 <= lengths[n] <= T``. Outputs past a length are
        zero, the final state is the state at the sequence's own last step, and the work is
        proportional to ``sum(lengths)`` (as ``pack_padded_sequence``, no sorting required).
    training : bool
        If False no cache is kept (inference) and ``cache`` is None.
    reverse : bool
        Run each sequence backwards from its own last valid step (the reverse direction of
        a bidirectional layer); ``y[t]`` stays aligned with ``x[t]``."""

_RETURNS_Y_H_TEMPLATE = """
    Returns
    -------
    y : ndarray [T, N, H]
        Hidden state at every step (zero past each length).
    h_n : ndarray [N, H]
        Final hidden state of each sequence.
    cache : RnnCache or None
        Saved activations for the backward (None when ``training=False``).
    """

_RAISES = """
    Raises
    ------
    TypeError
        x is not float32/float64, another array's dtype differs from x, or lengths is not
        an integer array.
    ValueError
        Wrong rank or mismatched sizes (the message names the argument, expected and actual
        shape), lengths outside [0, T], an unknown option."""
_RETURNS_Y_H = _RETURNS_Y_H_TEMPLATE + _RAISES


def lstm_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, c0=None, lengths=None,
                 training=True, reverse=False):
    return _core.rnn_forward("lstm", x, w_ih, w_hh, b_ih, b_hh, h0, c0, lengths,
                             bool(training), bool(reverse), True)


lstm_forward.__doc__ = f"""LSTM layer forward over a whole sequence (one direction).

    Parameters
    ----------{_COMMON_ARGS}
    c0 : ndarray [N, H] or None
        Initial cell state; zeros when None.

    Returns
    -------
    y : ndarray [T, N, H]
        Hidden state at every step (zero past each length).
    h_n, c_n : ndarray [N, H]
        Final hidden and cell state of each sequence.
    cache : RnnCache or None
        Saved activations for :func:`lstm_backward` (None when ``training=False``).
    {_RAISES}
    """


def lstm_backward(cache, dy, dh_n=None, dc_n=None, retain_cache=False):
    """Backpropagation through time for :func:`lstm_forward`.

    Parameters
    ----------
    cache : RnnCache
        From ``lstm_forward(..., training=True)``.
    dy : ndarray [T, N, H] or None
        Gradient of the loss w.r.t. ``y`` (None: zeros). Entries past a length are ignored.
    dh_n, dc_n : ndarray [N, H] or None
        Gradients w.r.t. the final states (None: zeros).
    retain_cache : bool
        Keep the cache valid for another backward (copies the saved gates first).

    Returns
    -------
    LSTMGrads(dx [T,N,I], dh0 [N,H], dc0 [N,H], dw_ih [4H,I], dw_hh [4H,H], db_ih [4H],
    db_hh [4H]); db_* are None where the forward had no such bias.

    Raises
    ------
    TypeError, ValueError
        As for the forward; ValueError also when the cache was already consumed or comes
        from another cell type.
    """
    return LSTMGrads(*_core.rnn_backward(_cache(cache, "lstm"), "lstm", dy, dh_n, dc_n, bool(retain_cache)))


def gru_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None, training=True,
                linear_before_reset=True, reverse=False):
    y, h_n, _, cache = _core.rnn_forward("gru", x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                         bool(training), bool(reverse),
                                         bool(linear_before_reset))
    return y, h_n, cache


gru_forward.__doc__ = f"""GRU layer forward over a whole sequence (one direction).

    Parameters
    ----------{_COMMON_ARGS}
    linear_before_reset : bool
        True: ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))`` (PyTorch, cuDNN; one
        recurrent GEMM per step). False: ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``
        (Cho et al. 2014, the form of the Sequence Models course; two dependent GEMMs).
{_RETURNS_Y_H}
    """


def gru_backward(cache, dy, dh_n=None, retain_cache=False):
    """Backpropagation through time for :func:`gru_forward`.

    ``dy [T,N,H]`` or None, ``dh_n [N,H]`` or None. Returns GRUGrads(dx [T,N,I], dh0 [N,H],
    dw_ih [3H,I], dw_hh [3H,H], db_ih [3H], db_hh [3H]). Raises as :func:`lstm_backward`.
    """
    return GRUGrads(*_drop_dc(_core.rnn_backward(_cache(cache, "gru"), "gru", dy, dh_n, None,
                                                 bool(retain_cache))))


def rnn_forward(x, w_ih, w_hh, b_ih=None, b_hh=None, h0=None, lengths=None, training=True,
                nonlinearity="tanh", reverse=False):
    mode = _rnn_mode(nonlinearity)
    y, h_n, _, cache = _core.rnn_forward(mode, x, w_ih, w_hh, b_ih, b_hh, h0, None, lengths,
                                         bool(training), bool(reverse), True)
    return y, h_n, cache


rnn_forward.__doc__ = f"""Elman RNN layer forward over a whole sequence (one direction).

    Parameters
    ----------{_COMMON_ARGS}
    nonlinearity : {{'tanh', 'relu'}}
{_RETURNS_Y_H}
    """


def rnn_backward(cache, dy, dh_n=None, retain_cache=False):
    """Backpropagation through time for :func:`rnn_forward`.

    Returns RNNGrads(dx [T,N,I], dh0 [N,H], dw_ih [H,I], dw_hh [H,H], db_ih [H], db_hh [H]).
    Raises as :func:`lstm_backward`.
    """
    return RNNGrads(*_drop_dc(_core.rnn_backward(_cache(cache, "rnn"), "rnn", dy, dh_n, None,
                                                 bool(retain_cache))))


_RNN_MODES = {"tanh": "rnn_tanh", "relu": "rnn_relu"}


def _rnn_mode(nonlinearity):
    mode = _RNN_MODES.get(nonlinearity)
    if mode is None:
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    return mode


def _cache(cache, family):
    return instance_arg("cache", cache, _core.RnnCache, f"the RnnCache of {family}_forward")


def _drop_dc(grads):
    dx, dh0, _dc0, *rest = grads
    return (dx, dh0, *rest)


class PackedRNN:
    """One recurrent layer's weights packed once into the GEMM's panels, for inference that
    runs the layer many times on short inputs (a stream's chunks): each call of
    :func:`gru_forward` and the others packs ``w_ih`` and ``w_hh`` (``G*H*(I+H)`` values),
    which on a ten-step input costs as much as the products.

    Calling the layer with x ``[T, N, I]``, h0 ``[N, H]`` or None (zeros) and, for the LSTM,
    c0 ``[N, H]`` or None returns (y ``[T, N, H]``, h_n ``[N, H]``), or (y, h_n, c_n) for
    the LSTM: inference only (no cache, no lengths). ``PackedRNN("gru", w_ih, w_hh, b_ih,
    b_hh)(x, h0)`` equals ``gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0,
    training=False)[:2]`` bit for bit (the same products in the same order). The weights
    are copied: later changes to the arrays are not seen.

    Parameters
    ----------
    mode : {'lstm', 'gru', 'rnn_tanh', 'rnn_relu'}
    w_ih : ndarray [G*H, I]
        float32 or float64: the dtype of every call's x.
    w_hh : ndarray [G*H, H]
    b_ih, b_hh : ndarray [G*H] or None
    linear_before_reset : bool
        GRU only, as :func:`gru_forward`.

    Raises
    ------
    TypeError
        Weights not float32/float64, another array of another dtype.
    ValueError
        An unknown mode, wrong shapes (named).
    """

    def __init__(self, mode: str, w_ih, w_hh, b_ih=None, b_hh=None,
                 linear_before_reset: bool = True):
        self.mode = option("mode", mode, ("lstm", "gru", "rnn_tanh", "rnn_relu"))
        self._layer = _core.RnnPacked(self.mode, w_ih, w_hh, b_ih, b_hh,
                                      bool(linear_before_reset))

    def __call__(self, x, h0=None, c0=None):
        y, h_n, c_n, _ = self._layer.forward(x, h0, c0)
        return (y, h_n, c_n) if self.mode == "lstm" else (y, h_n)

    def __repr__(self):
        return f"PackedRNN({self._layer!r})"


def lstm_cell(x_t, h, c, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step for decoding loops: ``x_t [N,I]``, ``h``, ``c [N,H]`` -> ``(h', c')``.

    Same gates and weights as :func:`lstm_forward`; no cache (forward only).
    """
    _, h1, c1, _ = _core.rnn_forward("lstm", _step_input(x_t), w_ih, w_hh, b_ih, b_hh, h, c,
                                     None, False, False, True)
    return h1, c1


def gru_cell(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None, linear_before_reset=True):
    """One GRU step: ``x_t [N,I]``, ``h [N,H]`` -> ``h' [N,H]`` (see :func:`gru_forward`)."""
    return _core.rnn_forward("gru", _step_input(x_t), w_ih, w_hh, b_ih, b_hh, h, None, None,
                             False, False, bool(linear_before_reset))[1]


def rnn_cell(x_t, h, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step: ``x_t [N,I]``, ``h [N,H]`` -> ``h' [N,H]`` (see :func:`rnn_forward`)."""
    mode = _rnn_mode(nonlinearity)
    return _core.rnn_forward(mode, _step_input(x_t), w_ih, w_hh, b_ih, b_hh, h, None, None,
                             False, False, True)[1]


def _step_input(x_t):
    x_t = np.asarray(x_t)
    if x_t.ndim != 2:
        raise ValueError(f"x_t: expected shape [N, I], got {list(x_t.shape)}")
    return x_t[None]

"""Multi-layer, optionally bidirectional recurrent layers: ``LSTM``, ``GRU``, ``RNN``.

Thin NumPy-level wrappers over the per-direction kernels of :mod:`seqcore.rnn`, with the
constructor arguments, parameter names, state layout and output layout of PyTorch's
``torch.nn.LSTM`` / ``GRU`` / ``RNN``, so a torch state dict loads unchanged (and ours loads
into torch). There is no autograd: ``forward`` returns a cache and ``backward`` returns the
gradients as a dict keyed by parameter name (nothing is accumulated, no ``zero_grad``).

Shape legend (see DESIGN.md): ``T`` time steps, ``N`` batch, ``I`` input size, ``H`` hidden
size, ``G`` gates (4 LSTM, 3 GRU, 1 RNN), ``L`` layers (``num_layers``), ``D`` directions
(2 if ``bidirectional`` else 1).

Parameters, per layer ``k`` and direction (suffix ``""`` forward, ``"_reverse"`` reverse),
in PyTorch's state-dict order::

    weight_ih_l{k}{suffix}  [G·H, I] for k = 0, [G·H, D·H] for k > 0
    weight_hh_l{k}{suffix}  [G·H, H]
    bias_ih_l{k}{suffix}    [G·H]      (only with bias=True)
    bias_hh_l{k}{suffix}    [G·H]      (only with bias=True)

Source: PyTorch ``torch.nn.LSTM`` / ``torch.nn.GRU`` / ``torch.nn.RNN`` documentation
(https://pytorch.org/docs/stable/generated/torch.nn.LSTM.html): stacking, the
bidirectional concatenation ``[forward, reverse]`` along the feature axis, state layout
``[L·D, N, H]`` indexed ``layer·D + direction``, initialisation U(-1/√H, 1/√H).
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from . import rnn as _rnn
from ._typing import Array, ArrayLike, DTypeLike, OptArray
from ._parallel import side_by_side

# Bounds of the constructor's sizes: beyond them building the layer would take unbounded
# time or memory (torch has none; its allocator fails later). 2**34 parameters are 64 GiB
# in float32.
_MAX_SIZE = 2**24
_MAX_LAYERS = 1024
_MAX_PARAMS = 2**34

__all__ = ["LSTM", "GRU", "RNN"]


def load_params(params, state_dict):
    """Copy ``state_dict`` (name -> array or torch tensor) into the live arrays of ``params``
    in place, all or nothing: every key, shape and dtype is checked before anything is
    copied. Raises ValueError (missing/unexpected key, wrong shape), TypeError (not
    numeric)."""
    missing = [k for k in params if k not in state_dict]
    if missing:
        raise ValueError(f"load_state_dict: missing key(s) {missing}")
    unexpected = [k for k in state_dict if k not in params]
    if unexpected:
        raise ValueError(f"load_state_dict: unexpected key(s) {unexpected}")
    new = {}
    for name, param in params.items():
        value = state_dict[name]
        if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor
            value = value.detach().cpu().numpy()
        value = np.asarray(value)
        if value.dtype.kind not in "fiu":
            raise TypeError(f"load_state_dict: {name}: expected a numeric array, "
                            f"got dtype {value.dtype}")
        if value.shape != param.shape:
            raise ValueError(f"load_state_dict: {name}: expected shape "
                             f"{list(param.shape)}, got {list(value.shape)}")
        new[name] = value
    for name, value in new.items():
        params[name][...] = value


def dropout_mask(rng, shape, p, dtype):
    """Inverted dropout's mask: 0 with probability p, else 1 / (1 - p) (so the expected
    activation is unchanged), drawn from the NumPy Generator ``rng``."""
    return ((rng.random(shape) >= p) / (1.0 - p)).astype(dtype)


class LayerCache:
    """Saved activations of one :meth:`LSTM.forward` (or GRU/RNN) call, for its backward.

    Opaque: holds one kernel cache per layer and direction. ``backward`` consumes it (the
    kernels overwrite the saved gates with their gradients), so it serves exactly one
    backward; ``consumed`` tells whether that has happened.
    """

    __slots__ = ("_layer", "_kernel_caches", "_T", "_N")

    def __init__(self, layer, kernel_caches, T, N):
        self._layer = layer
        self._kernel_caches = kernel_caches
        self._T = T
        self._N = N

    @property
    def consumed(self):
        return self._kernel_caches is None

    def __repr__(self):
        state = "consumed" if self.consumed else f"T={self._T}, N={self._N}"
        return f"<LayerCache of {self._layer!r}: {state}>"


class _RNNBase:
    """Shared implementation of :class:`LSTM`, :class:`GRU` and :class:`RNN`.

    Subclasses set ``_gates`` (G), ``_has_cell`` (LSTM: the state is ``(h, c)``), the kernel
    pair ``_kernel_forward`` / ``_kernel_backward`` from :mod:`seqcore.rnn`, and
    ``_kernel_options()`` (extra keyword arguments of the forward kernel).
    """

    _gates = 1
    _has_cell = False
    _kernel_forward: Any = None   # set by each subclass
    _kernel_backward: Any = None

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bidirectional: bool = False, bias: bool = True, batch_first: bool = False,
                 dtype: DTypeLike = np.float32, seed: Optional[int] = None) -> None:
        for name, value, high in (("input_size", input_size, _MAX_SIZE),
                                  ("hidden_size", hidden_size, _MAX_SIZE),
                                  ("num_layers", num_layers, _MAX_LAYERS)):
            if (isinstance(value, bool) or not isinstance(value, (int, np.integer))
                    or not 1 <= value <= high):
                raise ValueError(f"{name}: expected an integer in [1, {high}], got {value!r}")
        D_, G_, H_ = 2 if bidirectional else 1, self._gates, int(hidden_size)
        n_params = D_ * G_ * H_ * (int(input_size) + H_ + 2 +
                                   (int(num_layers) - 1) * (D_ * H_ + H_ + 2))
        if n_params > _MAX_PARAMS:
            raise ValueError(f"input_size, hidden_size, num_layers: {n_params} parameters, more "
                             f"than the {_MAX_PARAMS} a layer may hold")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        self.input_size = int(input_size)
        self.hidden_size = int(hidden_size)
        self.num_layers = int(num_layers)
        self.bidirectional = bool(bidirectional)
        self.num_directions = 2 if bidirectional else 1
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dtype = dtype

        # Names of (w_ih, w_hh, b_ih, b_hh) per (layer, direction), in state-dict order.
        self._names: List[Tuple[Optional[str], ...]] = []
        shapes: Dict[str, Tuple[int, ...]] = OrderedDict()
        G, H, D = self._gates, self.hidden_size, self.num_directions
        for k in range(self.num_layers):
            in_size = self.input_size if k == 0 else D * H
            for d in range(D):
                sfx = f"l{k}" + ("_reverse" if d else "")
                names = (f"weight_ih_{sfx}", f"weight_hh_{sfx}",
                         f"bias_ih_{sfx}" if bias else None, f"bias_hh_{sfx}" if bias else None)
                self._names.append(names)
                shapes[names[0]] = (G * H, in_size)
                shapes[names[1]] = (G * H, H)
                if bias:
                    shapes[f"bias_ih_{sfx}"] = (G * H,)
                    shapes[f"bias_hh_{sfx}"] = (G * H,)
        # Same distribution (and draw order) as torch's reset_parameters().
        rng = np.random.default_rng(seed)
        bound = 1.0 / math.sqrt(H)
        self._params = OrderedDict(
            (name, rng.uniform(-bound, bound, size=shape).astype(dtype))
            for name, shape in shapes.items())

    # ------------------------------------------------------------------ parameters
    def __getattr__(self, name):
        # Torch-style attribute access to parameters: ``lstm.weight_ih_l0``.
        params = self.__dict__.get("_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def named_parameters(self):
        """Iterate over ``(name, array)`` in PyTorch's order; the arrays are the live
        parameters (update them in place, e.g. with :mod:`seqcore.optim`)."""
        return iter(self._params.items())

    def parameters(self):
        """Iterate over the live parameter arrays in PyTorch's order."""
        return iter(self._params.values())

    def state_dict(self):
        """Return an ``OrderedDict`` name -> ndarray (copies) in PyTorch's order and naming
        (``weight_ih_l0``, ``weight_hh_l0``, ``bias_ih_l0``, ``bias_hh_l0``,
        ``weight_ih_l0_reverse``, ..., ``weight_ih_l1``, ...)."""
        return OrderedDict((name, p.copy()) for name, p in self._params.items())

    def load_state_dict(self, state_dict):
        """Copy parameters from a mapping name -> array into this layer (in place).

        Values may be NumPy arrays, anything ``np.asarray`` accepts, or torch tensors (so
        ``layer.load_state_dict(torch_lstm.state_dict())`` works); they are cast to the
        layer dtype. The load is all-or-nothing: every key is checked before anything is
        copied.

        Raises
        ------
        ValueError
            A key is missing or unexpected, or a value has the wrong shape (the message
            names the key, and the expected vs actual shape).
        TypeError
            A value is not numeric.
        """
        load_params(self._params, state_dict)

    # ------------------------------------------------------------------ forward / backward
    def forward(self, x: ArrayLike, state: Any = None, lengths: OptArray = None,
                training: bool = True) -> Tuple[Array, Any, Any]:
        """Run all layers and directions over a batch of sequences.

        Parameters
        ----------
        x : ndarray [T, N, I] ([N, T, I] when ``batch_first``), float
            Input; cast to the layer dtype (float32 or float64).
        state : initial state or None
            GRU/RNN: ``h0 [L·D, N, H]``; LSTM: a tuple ``(h0, c0)`` of ``[L·D, N, H]``
            arrays (either may be None). Row ``layer·D + direction``, as PyTorch. Always
            batch-second, also with ``batch_first`` (as PyTorch). None: zeros.
        lengths : ndarray [N] of int, or None
            Valid length of each sequence, ``0 <= lengths[n] <= T`` (any order). Outputs
            past a length are zero and the final state is taken at each sequence's own
            last step (the reverse direction starts there), as PyTorch with
            ``pack_padded_sequence(..., enforce_sorted=False)``.
        training : bool
            Keep the activations for :meth:`backward`; if False the cache is None.

        Returns
        -------
        y : ndarray [T, N, D·H] ([N, T, D·H] when ``batch_first``)
            Output of the last layer; with ``bidirectional`` the forward direction is
            ``y[..., :H]`` and the reverse ``y[..., H:]``.
        state : final state, same structure as ``state``
            ``h_n [L·D, N, H]`` (GRU/RNN) or ``(h_n, c_n)`` (LSTM).
        cache : LayerCache or None
            For :meth:`backward` (None when ``training=False``).

        Raises
        ------
        TypeError
            ``x`` or a state array is not a float array, or ``lengths`` is not integer.
        ValueError
            Wrong rank or size of ``x`` or ``state`` (the message names the argument,
            expected and actual shape), or ``lengths`` of the wrong size or out of [0, T].
        """
        return self._forward(x, state, lengths, training)

    def _forward(self, x, state, lengths, training):
        x = self._as_float(x, "x")
        if x.ndim != 3 or x.shape[2] != self.input_size:
            expected = "[N, T, I]" if self.batch_first else "[T, N, I]"
            raise ValueError(f"x: expected shape {expected} with I={self.input_size}, "
                             f"got {list(x.shape)}")
        if self.batch_first:
            x = np.ascontiguousarray(x.transpose(1, 0, 2))
        T, N = x.shape[:2]
        h0, c0 = self._check_state(state, N, "state")
        if lengths is not None:
            lengths = np.asarray(lengths)
            if lengths.shape != (N,):
                raise ValueError(f"lengths: expected shape [N] = [{N}], got {list(lengths.shape)}")

        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        h_n = np.empty((L * D, N, H), self.dtype)
        c_n = np.empty((L * D, N, H), self.dtype) if self._has_cell else None
        caches = []
        inp = x
        for k in range(L):
            def direction(d, inp=inp, k=k):
                i = k * D + d
                weights = [self._params[n] if n else None for n in self._names[i]]
                kw = dict(h0=None if h0 is None else h0[i], lengths=lengths,
                          training=training, reverse=bool(d), **self._kernel_options())
                if self._has_cell:
                    y, h_n[i], c_n[i], cache = self._kernel_forward(
                        inp, *weights, c0=None if c0 is None else c0[i], **kw)
                else:
                    y, h_n[i], cache = self._kernel_forward(inp, *weights, **kw)
                return y, cache

            # The directions are independent: side by side, each on its share of the threads.
            done = side_by_side([lambda d=d: direction(d) for d in range(D)],
                                self._direction_flops(T, N, inp.shape[2]))
            outs = [y for y, _ in done]
            caches += [cache for _, cache in done]
            inp = outs[0] if D == 1 else np.concatenate(outs, axis=2)
        y = np.ascontiguousarray(inp.transpose(1, 0, 2)) if self.batch_first else inp
        state = (h_n, c_n) if self._has_cell else h_n
        return y, state, (LayerCache(self, caches, T, N) if training else None)

    def __call__(self, x: ArrayLike, state: Any = None, lengths: OptArray = None,
                 training: bool = True) -> Tuple[Array, Any, Any]:
        """Same as :meth:`forward`."""
        return self.forward(x, state, lengths, training)

    def backward(self, cache: Any, dy: ArrayLike,
                 dstate: Any = None) -> Tuple[Array, Any, Dict[str, Array]]:
        """Backpropagation through time for :meth:`forward`; consumes ``cache``.

        Layer ``k``'s output gradient is the input gradient of layer ``k+1``; with
        ``bidirectional``, ``dy`` is split along the last axis between the directions and
        their input gradients are summed. Like the kernels (``retain_cache=False``), this
        overwrites the saved activations: one backward per forward (run the forward again
        for a second one).

        Parameters
        ----------
        cache : LayerCache
            From ``forward(..., training=True)`` of this layer.
        dy : ndarray [T, N, D·H] ([N, T, D·H] when ``batch_first``), or None
            Gradient of the loss w.r.t. ``y`` (None: zeros). Entries past a length are
            ignored.
        dstate : same structure as the forward's final state, or None
            Gradient w.r.t. ``h_n`` (GRU/RNN) or ``(dh_n, dc_n)`` (LSTM), each
            ``[L·D, N, H]`` or None (zeros).

        Returns
        -------
        dx : ndarray, shaped like ``x`` ([T, N, I] or [N, T, I])
        dstate0 : gradient w.r.t. the initial state, same structure as ``state``
            ``dh0 [L·D, N, H]`` or ``(dh0, dc0)``; returned also when the forward's state
            was None (zeros).
        grads : OrderedDict name -> ndarray
            Gradient of every parameter, keyed and ordered as :meth:`state_dict`. Fresh
            arrays, not accumulated anywhere.

        Raises
        ------
        ValueError
            ``cache`` is not from this layer or was already consumed; ``dy`` or ``dstate``
            has the wrong shape.
        TypeError
            ``dy`` or ``dstate`` is not a float array.
        """
        return self._backward(cache, dy, dstate)

    def _backward(self, cache, dy, dstate):
        if not isinstance(cache, LayerCache) or cache._layer is not self:
            raise ValueError("cache: expected the LayerCache of a forward of this layer "
                             "(with training=True)")
        if cache.consumed:
            raise ValueError("cache: already consumed by a previous backward "
                             "(one backward per forward)")
        T, N = cache._T, cache._N
        L, D, H = self.num_layers, self.num_directions, self.hidden_size
        if dy is not None:
            dy = self._as_float(dy, "dy")
            shape = (N, T, D * H) if self.batch_first else (T, N, D * H)
            if dy.shape != shape:
                raise ValueError(f"dy: expected shape {list(shape)}, got {list(dy.shape)}")
            if self.batch_first:
                dy = dy.transpose(1, 0, 2)
        dh_n, dc_n = self._check_state(dstate, N, "dstate")

        caches, cache._kernel_caches = cache._kernel_caches, None
        dh0 = np.empty((L * D, N, H), self.dtype)
        dc0 = np.empty((L * D, N, H), self.dtype) if self._has_cell else None
        grads = {}
        d_out = dy
        for k in reversed(range(L)):
            def direction(d, d_out=d_out, k=k):
                i = k * D + d
                dy_d = d_out if d_out is None or D == 1 else d_out[..., d * H:(d + 1) * H]
                dh = None if dh_n is None else dh_n[i]
                if self._has_cell:
                    return self._kernel_backward(caches[i], dy_d, dh,
                                                 None if dc_n is None else dc_n[i])
                return self._kernel_backward(caches[i], dy_d, dh)

            I_k = self.input_size if k == 0 else D * H
            done = side_by_side([lambda d=d: direction(d) for d in range(D)],
                                2 * self._direction_flops(T, N, I_k))
            d_in = None
            for d, g in enumerate(done):
                i = k * D + d
                caches[i] = None  # consumed; let it go
                if self._has_cell:
                    dc0[i] = g.dc0
                dh0[i] = g.dh0
                for name, grad in zip(self._names[i], (g.dw_ih, g.dw_hh, g.db_ih, g.db_hh)):
                    if name:
                        grads[name] = grad
                if d_in is None:
                    d_in = g.dx
                else:
                    d_in += g.dx
            d_out = d_in
        dx = np.ascontiguousarray(d_out.transpose(1, 0, 2)) if self.batch_first else d_out
        grads = OrderedDict((name, grads[name]) for name in self._params)
        return dx, ((dh0, dc0) if self._has_cell else dh0), grads

    # ------------------------------------------------------------------ helpers
    def _direction_flops(self, T, N, I):
        """Nominal forward FLOPs of one direction of a layer with input size I."""
        G = self._gates
        return 2.0 * T * N * G * self.hidden_size * (I + self.hidden_size)

    def _kernel_options(self):
        return {}

    def _as_float(self, a, name):
        a = np.asarray(a)
        if a.dtype.kind != "f":
            raise TypeError(f"{name}: expected a float array, got dtype {a.dtype}")
        return a.astype(self.dtype, copy=False)

    def _check_state(self, state, N, name):
        """Validate a state (or state gradient); return ``(h, c)`` arrays or Nones."""
        if state is None:
            return None, None
        if self._has_cell:
            if not isinstance(state, (tuple, list)) or len(state) != 2:
                raise ValueError(f"{name}: expected a tuple (h, c) of [L*D, N, H] arrays "
                                 f"or None, got {type(state).__name__}")
            parts = ((state[0], f"{name}[0] (h)"), (state[1], f"{name}[1] (c)"))
        else:
            if isinstance(state, (tuple, list)):
                raise ValueError(f"{name}: expected an [L*D, N, H] array, got a "
                                 f"{type(state).__name__} (only the LSTM has a (h, c) state)")
            parts = ((state, name), (None, None))
        shape = (self.num_layers * self.num_directions, N, self.hidden_size)
        out = []
        for a, label in parts:
            if a is not None:
                a = self._as_float(a, label)
                if a.shape != shape:
                    raise ValueError(f"{label}: expected shape [L*D, N, H] = {list(shape)}, "
                                     f"got {list(a.shape)}")
            out.append(a)
        return out[0], out[1]

    def _extra_repr(self):
        return ""

    def __repr__(self):
        args = [str(self.input_size), str(self.hidden_size)]
        if self.num_layers != 1:
            args.append(f"num_layers={self.num_layers}")
        if not self.bias:
            args.append("bias=False")
        if self.batch_first:
            args.append("batch_first=True")
        if self.bidirectional:
            args.append("bidirectional=True")
        args.append(self._extra_repr())
        if self.dtype != np.float32:
            args.append(f"dtype={self.dtype.name}")
        return f"{type(self).__name__}({', '.join(a for a in args if a)})"


_ARGS_DOC = """
    Parameters
    ----------
    input_size : int
        I, features of the input.
    hidden_size : int
        H, features of the hidden state.
    num_layers : int
        L, stacked layers; layer k > 0 takes the [T, N, D·H] output of layer k-1.
    bidirectional : bool
        Add a reverse direction per layer (D = 2); outputs are concatenated
        ``[forward, reverse]`` along the feature axis.
    bias : bool
        Use ``bias_ih`` and ``bias_hh``.
    batch_first : bool
        ``x``, ``y`` (and ``dx``, ``dy``) are ``[N, T, ...]``; states stay ``[L·D, N, H]``.
    dtype : float32 or float64
        Parameter and computation dtype.
    seed : int, numpy SeedSequence/Generator, or None
        Seed of ``np.random.default_rng`` for the initialisation U(-1/√H, 1/√H).{extra}

    Raises
    ------
    ValueError
        A size is not a positive integer{extra_raises}.
    TypeError
        dtype is not float32/float64.

    Source: PyTorch ``torch.nn.{torch_name}`` (names, layout, initialisation, semantics).
    """


class LSTM(_RNNBase):
    _gates = 4
    _has_cell = True
    _kernel_forward = staticmethod(_rnn.lstm_forward)
    _kernel_backward = staticmethod(_rnn.lstm_backward)


LSTM.__doc__ = """Multi-layer LSTM, PyTorch ``nn.LSTM``-compatible (gates i, f, g, o).

    ``forward(x, (h0, c0)) -> (y, (h_n, c_n), cache)``;
    ``backward(cache, dy, (dh_n, dc_n)) -> (dx, (dh0, dc0), grads)``. G = 4.
    """ + _ARGS_DOC.format(extra="", extra_raises="", torch_name="LSTM")


class GRU(_RNNBase):
    _gates = 3
    _kernel_forward = staticmethod(_rnn.gru_forward)
    _kernel_backward = staticmethod(_rnn.gru_backward)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True,
                 batch_first=False, dtype=np.float32, seed=None, linear_before_reset=True):
        super().__init__(input_size, hidden_size, num_layers, bidirectional, bias,
                         batch_first, dtype, seed)
        self.linear_before_reset = bool(linear_before_reset)

    def _kernel_options(self):
        return {"linear_before_reset": self.linear_before_reset}

    def _extra_repr(self):
        return "" if self.linear_before_reset else "linear_before_reset=False"


GRU.__doc__ = """Multi-layer GRU, PyTorch ``nn.GRU``-compatible (gates r, z, n).

    ``forward(x, h0) -> (y, h_n, cache)``; ``backward(cache, dy, dh_n) -> (dx, dh0, grads)``.
    G = 3.
    """ + _ARGS_DOC.format(
    extra="""
    linear_before_reset : bool
        True (PyTorch, cuDNN): ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``. False
        (Cho et al. 2014): ``n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)``; torch has no
        such mode, but the parameters are the same.""",
    extra_raises="", torch_name="GRU")


class RNN(_RNNBase):
    _gates = 1
    _kernel_forward = staticmethod(_rnn.rnn_forward)
    _kernel_backward = staticmethod(_rnn.rnn_backward)

    def __init__(self, input_size, hidden_size, num_layers=1, bidirectional=False, bias=True,
                 batch_first=False, dtype=np.float32, seed=None, nonlinearity="tanh"):
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bidirectional, bias,
                         batch_first, dtype, seed)
        self.nonlinearity = nonlinearity

    def _kernel_options(self):
        return {"nonlinearity": self.nonlinearity}

    def _extra_repr(self):
        return "" if self.nonlinearity == "tanh" else f"nonlinearity={self.nonlinearity!r}"


RNN.__doc__ = """Multi-layer Elman RNN, PyTorch ``nn.RNN``-compatible: ``h' = act(W_ih x +
    b_ih + W_hh h + b_hh)``.

    ``forward(x, h0) -> (y, h_n, cache)``; ``backward(cache, dy, dh_n) -> (dx, dh0, grads)``.
    G = 1.
    """ + _ARGS_DOC.format(
    extra="""
    nonlinearity : {'tanh', 'relu'}
        The activation ``act``.""",
    extra_raises=", or nonlinearity is not 'tanh'/'relu'", torch_name="RNN")

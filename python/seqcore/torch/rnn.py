"""``seqcore.torch.LSTM`` / ``GRU`` / ``RNN``: torch.nn modules running seqcore's kernels."""
from __future__ import annotations

from typing import Any, Dict, Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

from .. import rnn as _k
from .._parallel import side_by_side
from ._util import from_numpy, to_numpy

__all__ = ["LSTM", "GRU", "RNN", "rnn_layer"]

_FORWARD = {"lstm": _k.lstm_forward, "gru": _k.gru_forward, "rnn": _k.rnn_forward}
_BACKWARD = {"lstm": _k.lstm_backward, "gru": _k.gru_backward, "rnn": _k.rnn_backward}


_PER_DIRECTION = 6   # h0, c0, w_ih, w_hh, b_ih, b_hh


class _RnnLayer(torch.autograd.Function):
    """One layer, all its directions (1 or 2): (x [T,N,I], then per direction h0, c0 [N,H],
    w_ih, w_hh, b_ih, b_hh) -> (y [T,N,D*H], h_n [D,N,H], c_n [D,N,H]); c_n is zeros except
    for the LSTM. The directions run side by side (seqcore._parallel), forward and backward,
    where torch.nn runs them one after the other."""

    @staticmethod
    def forward(ctx, cell, options, lengths, x, *per_dir):
        D = len(per_dir) // _PER_DIRECTION
        training = any(ctx.needs_input_grad[3:])
        outs = _RnnLayer._run(cell, options, lengths, training, x, per_dir)
        ctx.cell, ctx.options, ctx.lengths = cell, options, lengths
        ctx.caches, ctx.D = [o[3] for o in outs], D
        ctx.has_bias = per_dir[4] is not None
        ctx.flops = _RnnLayer._flops(x, per_dir)
        if training:   # references only: what a second backward needs to rebuild the cache
            ctx.save_for_backward(x, *per_dir)
        y = outs[0][0] if D == 1 else np.concatenate([o[0] for o in outs], axis=2)
        return (from_numpy(y), from_numpy(np.stack([o[1] for o in outs])),
                from_numpy(np.stack([o[2] for o in outs])))

    @staticmethod
    def _options(options, d, D):
        return options if D == 1 else {**options, "reverse": bool(d)}

    @staticmethod
    def _run(cell, options, lengths, training, x, per_dir):
        D = len(per_dir) // _PER_DIRECTION
        xa = to_numpy(x)

        def direction(d):
            h0, c0, w_ih, w_hh, b_ih, b_hh = per_dir[d * _PER_DIRECTION:(d + 1) * _PER_DIRECTION]
            args = [xa] + [to_numpy(t) for t in (w_ih, w_hh, b_ih, b_hh)]
            kw = dict(h0=to_numpy(h0), lengths=lengths, training=training,
                      **_RnnLayer._options(options, d, D))
            if cell == "lstm":
                return _FORWARD[cell](*args, c0=to_numpy(c0), **kw)
            y, h_n, cache = _FORWARD[cell](*args, **kw)
            return y, h_n, np.zeros_like(h_n), cache

        return side_by_side([lambda d=d: direction(d) for d in range(D)],
                            _RnnLayer._flops(x, per_dir))

    @staticmethod
    def _flops(x, per_dir):
        """Nominal forward FLOPs of one direction: 2 T N G H (I + H)."""
        w_ih, w_hh = per_dir[2], per_dir[3]
        return 2.0 * x.shape[0] * x.shape[1] * w_hh.shape[0] * (w_ih.shape[1] + w_hh.shape[1])

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_n, dc_n):
        D = ctx.D
        caches, ctx.caches = ctx.caches or [None] * D, None
        if any(c is None or c.consumed for c in caches):
            # The backward kernels consume the saved activations (haste style). Another
            # backward through the same graph (retain_graph=True, gradcheck) recomputes them.
            saved = ctx.saved_tensors
            caches = [o[3] for o in _RnnLayer._run(ctx.cell, ctx.options, ctx.lengths, True,
                                                     saved[0], saved[1:])]
        H = dh_n.shape[2]

        def direction(d):
            dy_d = to_numpy(dy if D == 1 else dy[..., d * H:(d + 1) * H])
            if ctx.cell == "lstm":
                return _BACKWARD["lstm"](caches[d], dy_d, to_numpy(dh_n[d]), to_numpy(dc_n[d]))
            return _BACKWARD[ctx.cell](caches[d], dy_d, to_numpy(dh_n[d]))

        grads = side_by_side([lambda d=d: direction(d) for d in range(D)], 2 * ctx.flops)
        dx = grads[0].dx
        for g in grads[1:]:
            dx = dx + g.dx
        out = [None, None, None, from_numpy(dx)]
        for g in grads:
            out += [from_numpy(g.dh0), from_numpy(g.dc0) if ctx.cell == "lstm" else None,
                    from_numpy(g.dw_ih), from_numpy(g.dw_hh),
                    from_numpy(g.db_ih) if ctx.has_bias else None,
                    from_numpy(g.db_hh) if ctx.has_bias else None]
        return tuple(out)


def _apply_layer(cell, options, lengths, x, per_dir):
    """_RnnLayer.apply, or under torch.compile the ``seqcore::rnn_layer`` operator (the same
    Function underneath, traceable without a graph break)."""
    if not torch.compiler.is_compiling():
        return _RnnLayer.apply(cell, options, lengths, x, *per_dir)
    from . import _ops
    training = torch.is_grad_enabled() and any(
        t is not None and t.requires_grad for t in (x, *per_dir))
    y, h_n, c_n, _ = _ops.rnn_layer(
        cell, bool(options["reverse"]), bool(options.get("linear_before_reset", True)),
        options.get("nonlinearity", "tanh"),
        None if lengths is None else torch.as_tensor(lengths, dtype=torch.int64), x,
        _ops.placeholders(per_dir), training)
    return y, h_n, c_n


def rnn_layer(cell: str, x, h0, c0, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None,
              reverse: bool = False, linear_before_reset: bool = True,
              nonlinearity: str = "tanh"):
    """One recurrent layer and direction as a differentiable torch function.

    ``cell``: ``"lstm"``, ``"gru"`` or ``"rnn"``. Shapes: x [T, N, I], h0/c0 [N, H] (c0 only
    for the LSTM; None: zeros), w_ih [G*H, I], w_hh [G*H, H], b_ih/b_hh [G*H] or None,
    lengths [N] int (CPU tensor or array) or None. Returns ``(y [T,N,H], h_n [N,H], c_n
    [N,H])`` (c_n is zeros except for the LSTM). Semantics: :mod:`seqcore.rnn`.
    """
    if cell not in _FORWARD:
        raise ValueError(f"cell: expected 'lstm', 'gru' or 'rnn', got {cell!r}")
    options: Dict[str, Any] = {"reverse": bool(reverse)}
    if cell == "gru":
        options["linear_before_reset"] = bool(linear_before_reset)
    elif cell == "rnn":
        options["nonlinearity"] = nonlinearity
    if isinstance(lengths, torch.Tensor):
        lengths = lengths.detach().cpu().numpy()
    if h0 is None:
        h0 = x.new_zeros(x.shape[1], w_hh.shape[1])
    if c0 is None and cell == "lstm":
        c0 = x.new_zeros(x.shape[1], w_hh.shape[1])
    y, h_n, c_n = _apply_layer(cell, options, lengths, x, [h0, c0, w_ih, w_hh, b_ih, b_hh])
    return y, h_n[0], c_n[0]


class _SeqcoreRNNMixin:
    """forward() shared by the three modules; ``_cell`` and ``_options()`` per subclass."""

    _cell = "rnn"

    def _options(self):
        return {}

    def _check_supported(self, tensors):
        if getattr(self, "proj_size", 0):
            raise ValueError("seqcore.torch.LSTM: proj_size > 0 is not supported")
        for name, t in tensors:
            if t is None:
                continue
            if t.device.type != "cpu":
                raise ValueError(f"seqcore.torch.{type(self).__name__}: {name} is on "
                                 f"{t.device}; seqcore was built for the CPU only")
            if t.dtype not in (torch.float32, torch.float64):
                raise TypeError(f"seqcore.torch.{type(self).__name__}: {name} has dtype "
                                f"{t.dtype}; expected torch.float32 or torch.float64")

    def forward(self, input, hx=None):
        lstm = self._cell == "lstm"
        packed = isinstance(input, PackedSequence)
        lengths = None
        if packed:
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            x, lengths_t = torch.nn.utils.rnn.pad_packed_sequence(input, batch_first=False)
            lengths = lengths_t.numpy()
            unbatched = False
        else:
            unbatched = input.dim() == 2
            if input.dim() not in (2, 3):
                raise ValueError(f"input: expected a 2-D (unbatched) or 3-D tensor, got "
                                 f"{input.dim()}-D")
            x = input.unsqueeze(1) if unbatched else (
                input.transpose(0, 1) if self.batch_first else input)
        h0 = c0 = None
        if hx is not None:
            h0, c0 = hx if lstm else (hx, None)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None
        params = [(n, p) for n, p in self.named_parameters()]
        self._check_supported([("input", x), ("h0", h0), ("c0", c0)] + params)
        if any(p.dtype != x.dtype for _, p in params):
            raise TypeError(f"seqcore.torch.{type(self).__name__}: input dtype {x.dtype} "
                            f"differs from the parameters' {params[0][1].dtype}")
        L, D = self.num_layers, 2 if self.bidirectional else 1
        N, H = x.shape[1], self.hidden_size
        if h0 is not None and tuple(h0.shape) != (L * D, N, H):
            raise ValueError(f"hx: expected h0 of shape {[L * D, N, H]}, got {list(h0.shape)}")
        if c0 is not None and tuple(c0.shape) != (L * D, N, H):
            raise ValueError(f"hx: expected c0 of shape {[L * D, N, H]}, got {list(c0.shape)}")
        x = x.contiguous()
        h_n, c_n = [], []
        options = {"reverse": False, **self._options()}
        for k in range(L):
            per_dir = []   # both directions in one autograd node: run side by side
            for d in range(D):
                i = k * D + d
                sfx = f"l{k}" + ("_reverse" if d else "")
                w = [getattr(self, f"weight_ih_{sfx}"), getattr(self, f"weight_hh_{sfx}")]
                b = [getattr(self, f"bias_ih_{sfx}"), getattr(self, f"bias_hh_{sfx}")] \
                    if self.bias else [None, None]
                h0_i = h0[i] if h0 is not None else x.new_zeros(N, H)
                c0_i = (c0[i] if c0 is not None else x.new_zeros(N, H)) if lstm else None
                per_dir += [h0_i, c0_i, *w, *b]
            x, hn, cn = _apply_layer(self._cell, options, lengths, x, per_dir)
            h_n.append(hn)
            c_n.append(cn)
            if self.dropout and self.training and k < L - 1:
                x = torch.nn.functional.dropout(x, self.dropout, training=True)
        h_n = torch.cat(h_n)
        c_n = torch.cat(c_n) if lstm else None
        if packed:
            sorted_lengths = lengths_t[sorted_indices] if sorted_indices is not None \
                else lengths_t
            xs = x if sorted_indices is None else x.index_select(1, sorted_indices)
            out = torch.nn.utils.rnn.pack_padded_sequence(xs, sorted_lengths,
                                                          enforce_sorted=True)
            output = PackedSequence(out.data, out.batch_sizes, sorted_indices,
                                    unsorted_indices)
        elif unbatched:
            output = x.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if lstm else None
        else:
            output = x.transpose(0, 1) if self.batch_first else x
        return (output, (h_n, c_n)) if lstm else (output, h_n)


# The modules subclass torch.nn.RNNBase, not torch.nn.LSTM / GRU / RNN: Dynamo refuses to
# trace any instance of those three classes ("Dynamo does not support RNN, GRU, or LSTM"),
# which would make torch.compile(fullgraph=True) fail on every model holding one. RNNBase
# gives the same constructor arguments, parameters (weight_ih_l0, ...), initialisation,
# state dict, extra_repr and flatten_parameters(); isinstance(m, torch.nn.LSTM) is False.

class LSTM(_SeqcoreRNNMixin, torch.nn.RNNBase):
    """``torch.nn.LSTM`` running seqcore's fused LSTM kernels (same arguments, parameters,
    state dict and outputs; a ``torch.nn.RNNBase``, so ``torch.compile(fullgraph=True)``
    traces it, see the module notes).

    ``proj_size > 0`` raises. Gates i, f, g, o (Hochreiter & Schmidhuber 1997).
    """
    _cell = "lstm"

    def __init__(self, *args, **kwargs):
        super().__init__("LSTM", *args, **kwargs)


class GRU(_SeqcoreRNNMixin, torch.nn.RNNBase):
    """``torch.nn.GRU`` running seqcore's fused GRU kernels (same arguments, parameters,
    state dict and outputs; a ``torch.nn.RNNBase``).

    Extra keyword ``linear_before_reset`` (default True, PyTorch's form
    ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``); False gives Cho et al. 2014's
    ``n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)``, the form of the Sequence Models course,
    with the same parameters and state dict.
    """
    _cell = "gru"

    def __init__(self, *args, linear_before_reset: bool = True, **kwargs):
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        super().__init__("GRU", *args, **kwargs)
        self.linear_before_reset = bool(linear_before_reset)

    def _options(self):
        return {"linear_before_reset": self.linear_before_reset}

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.linear_before_reset else s + ", linear_before_reset=False"


class RNN(_SeqcoreRNNMixin, torch.nn.RNNBase):
    """``torch.nn.RNN`` (Elman, tanh or relu) running seqcore's fused kernels (same
    arguments, parameters, state dict and outputs; a ``torch.nn.RNNBase``)."""
    _cell = "rnn"

    def __init__(self, *args, **kwargs):
        # torch.nn.RNN's argument handling: nonlinearity is the 4th positional argument
        if "proj_size" in kwargs:
            raise ValueError("proj_size argument is only supported for LSTM, not RNN or GRU")
        if len(args) > 3:
            self.nonlinearity = args[3]
            args = args[:3] + args[4:]
        else:
            self.nonlinearity = kwargs.pop("nonlinearity", "tanh")
        modes = {"tanh": "RNN_TANH", "relu": "RNN_RELU"}
        if self.nonlinearity not in modes:
            raise ValueError(f"Unknown nonlinearity '{self.nonlinearity}'. Select from "
                             f"'tanh' or 'relu'.")
        super().__init__(modes[self.nonlinearity], *args, **kwargs)

    def _options(self):
        return {"nonlinearity": self.nonlinearity}

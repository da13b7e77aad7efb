"""``seqcore.torch.LSTM`` / ``GRU`` / ``RNN``: torch.nn modules running seqcore's kernels."""
from __future__ import annotations

from typing import Optional

import numpy as np
import torch
from torch.autograd.function import once_differentiable
from torch.nn.utils.rnn import PackedSequence

from .. import rnn as _k
from ._util import from_numpy, to_numpy

__all__ = ["LSTM", "GRU", "RNN", "rnn_layer"]

_FORWARD = {"lstm": _k.lstm_forward, "gru": _k.gru_forward, "rnn": _k.rnn_forward}
_BACKWARD = {"lstm": _k.lstm_backward, "gru": _k.gru_backward, "rnn": _k.rnn_backward}


class _RnnLayer(torch.autograd.Function):
    """One layer and direction: (x [T,N,I], h0, c0 [N,H], w_ih, w_hh, b_ih, b_hh)
    -> (y [T,N,H], h_n, c_n [N,H]); c_n is zeros except for the LSTM."""

    @staticmethod
    def forward(ctx, cell, options, lengths, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        training = any(ctx.needs_input_grad[3:])
        y, h_n, c_n, cache = _RnnLayer._run(cell, options, lengths, training,
                                            x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        ctx.cell, ctx.options, ctx.lengths, ctx.cache = cell, options, lengths, cache
        ctx.has_bias = b_ih is not None
        if training:   # references only: what a second backward needs to rebuild the cache
            ctx.save_for_backward(x, h0, c0, w_ih, w_hh, b_ih, b_hh)
        return from_numpy(y), from_numpy(h_n), from_numpy(c_n)

    @staticmethod
    def _run(cell, options, lengths, training, x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        args = [to_numpy(t) for t in (x, w_ih, w_hh, b_ih, b_hh)]
        kw = dict(h0=to_numpy(h0), lengths=lengths, training=training, **options)
        if cell == "lstm":
            return _FORWARD[cell](*args, c0=to_numpy(c0), **kw)
        y, h_n, cache = _FORWARD[cell](*args, **kw)
        return y, h_n, np.zeros_like(h_n), cache

    @staticmethod
    @once_differentiable
    def backward(ctx, dy, dh_n, dc_n):
        cache = ctx.cache
        if cache is None or cache.consumed:
            # The backward kernels consume the saved activations (haste style). Another
            # backward through the same graph (retain_graph=True, gradcheck) recomputes them.
            cache = _RnnLayer._run(ctx.cell, ctx.options, ctx.lengths, True,
                                   *ctx.saved_tensors)[3]
        ctx.cache = None
        dy, dh_n = to_numpy(dy), to_numpy(dh_n)
        if ctx.cell == "lstm":
            g = _BACKWARD["lstm"](cache, dy, dh_n, to_numpy(dc_n))
            dc0 = from_numpy(g.dc0)
        else:
            g = _BACKWARD[ctx.cell](cache, dy, dh_n)
            dc0 = None
        db_ih = from_numpy(g.db_ih) if ctx.has_bias else None
        db_hh = from_numpy(g.db_hh) if ctx.has_bias else None
        return (None, None, None, from_numpy(g.dx), from_numpy(g.dh0), dc0,
                from_numpy(g.dw_ih), from_numpy(g.dw_hh), db_ih, db_hh)


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
    options = {"reverse": bool(reverse)}
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
    return _RnnLayer.apply(cell, options, lengths, x, h0, c0, w_ih, w_hh, b_ih, b_hh)


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
        options = self._options()
        for k in range(L):
            outs = []
            for d in range(D):
                i = k * D + d
                sfx = f"l{k}" + ("_reverse" if d else "")
                w = [getattr(self, f"weight_ih_{sfx}"), getattr(self, f"weight_hh_{sfx}")]
                b = [getattr(self, f"bias_ih_{sfx}"), getattr(self, f"bias_hh_{sfx}")] \
                    if self.bias else [None, None]
                y, hn, cn = rnn_layer(self._cell, x, None if h0 is None else h0[i],
                                      None if c0 is None else c0[i], *w, *b, lengths=lengths,
                                      reverse=bool(d), **options)
                outs.append(y)
                h_n.append(hn)
                c_n.append(cn)
            x = outs[0] if D == 1 else torch.cat(outs, dim=2)
            if self.dropout and self.training and k < L - 1:
                x = torch.nn.functional.dropout(x, self.dropout, training=True)
        h_n = torch.stack(h_n)
        c_n = torch.stack(c_n) if lstm else None
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


class LSTM(_SeqcoreRNNMixin, torch.nn.LSTM):
    """``torch.nn.LSTM`` running seqcore's fused LSTM kernels (same arguments and outputs).

    ``proj_size > 0`` raises. Gates i, f, g, o (Hochreiter & Schmidhuber 1997).
    """
    _cell = "lstm"


class GRU(_SeqcoreRNNMixin, torch.nn.GRU):
    """``torch.nn.GRU`` running seqcore's fused GRU kernels (same arguments and outputs).

    Extra keyword ``linear_before_reset`` (default True, PyTorch's form
    ``n = tanh(W_in x + b_in + r*(W_hn h + b_hn))``); False gives Cho et al. 2014's
    ``n = tanh(W_in x + b_in + W_hn (r*h) + b_hn)``, the form of the Sequence Models course,
    with the same parameters and state dict.
    """
    _cell = "gru"

    def __init__(self, *args, linear_before_reset: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.linear_before_reset = bool(linear_before_reset)

    def _options(self):
        return {"linear_before_reset": self.linear_before_reset}

    def extra_repr(self):
        s = super().extra_repr()
        return s if self.linear_before_reset else s + ", linear_before_reset=False"


class RNN(_SeqcoreRNNMixin, torch.nn.RNN):
    """``torch.nn.RNN`` (Elman, tanh or relu) running seqcore's fused kernels."""
    _cell = "rnn"

    def _options(self):
        return {"nonlinearity": self.nonlinearity}

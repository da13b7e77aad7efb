"""An encoder-decoder with attention built on seqcore's kernels (the course's translation model).

Architecture (Bahdanau et al. 2015 attention, Luong et al. 2015 input feeding):

* encoder: source embedding ``[Vs, E]`` -> (bi)LSTM/GRU ``E -> H`` per direction; the
  annotations ``a [Ts, N, De]`` (``De = 2H`` bidirectional, else ``H``);
* bridge: ``s_0 = tanh(W_b [h_fwd; h_bwd] + b_b)`` from the encoder's final states (the LSTM
  decoder's ``c_0`` is zero);
* decoder step ``t``: ``x_t = [emb(y_{t-1}); h~_{t-1}]`` (input feeding, ``h~_{-1} = 0``) ->
  LSTM/GRU cell ``E + H -> H`` -> ``s_t``; attention over ``a`` with query ``s_t``:
  additive ``e = v_a^T tanh(W_q s_t + W_k a_j)`` (``W_k a`` computed once per source) or
  Luong general ``e = a_j . (W s_t)``; context ``c_t``; ``h~_t = tanh(W_c [c_t; s_t] + b_c)``;
  ``log p(y_t) = log_softmax(W_o h~_t + b_o)``.

Targets are given without BOS/EOS: the decoder reads ``BOS, y_1 .. y_L`` and predicts
``y_1 .. y_L, EOS``. Shapes: time-major ``src [Ts, N]``, ``tgt [Tt, N]`` (int), lengths
``[N]``; legend: N batch, E embedding, H hidden, A attention size, V vocabularies.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from typing import Dict, List, Optional, Sequence

import numpy as np

from . import _core
from ._validate import INT64_MAX, float_arg, int_arg, option
from .attention import (additive_attention_backward, additive_attention_forward,
                        general_attention, luong_attention_backward, precompute_keys)
from .decoding import MAX_BEAM_WIDTH, Hypothesis, beam_search
from .layers import GRU, LSTM
from .output_layers import log_softmax, softmax_cross_entropy
from .rnn import gru_backward, gru_forward, lstm_backward, lstm_forward

__all__ = ["Seq2Seq", "error_analysis"]


def _vocab_size(v, name):
    if isinstance(v, (int, np.integer)) and not isinstance(v, bool):
        n = int(v)
    elif isinstance(v, Sequence) and not isinstance(v, str):
        n = len(v)
    else:
        raise TypeError(f"{name}: expected a vocabulary size (int) or a list of tokens")
    if n < 3:
        raise ValueError(f"{name}: expected at least 3 entries (with BOS/EOS), got {n}")
    return n


def check_targets(tgt, tgt_lengths, N, V, pad_id):
    """Target ids ``tgt [T, N]`` (no BOS/EOS) and ``tgt_lengths [N]`` in ``[0, T]``, the ids
    before each length in ``[0, V)``: returned as int64 with ``pad_id`` past each length, and
    the lengths as int64. Raises ValueError naming ``tgt`` or ``tgt_lengths``."""
    tgt = np.asarray(tgt)
    if tgt.ndim != 2 or tgt.shape[1] != N or tgt.dtype.kind not in "iu":
        raise ValueError(f"tgt: expected an integer array [Tt, N={N}], got {tgt.dtype} "
                         f"{list(tgt.shape)}")
    Tt = tgt.shape[0]
    tl = np.asarray(tgt_lengths)
    if tl.shape != (N,) or tl.dtype.kind not in "iu" or (tl < 0).any() or (tl > Tt).any():
        raise ValueError(f"tgt_lengths: expected N={N} integers in [0, Tt={Tt}]")
    mask = np.arange(Tt)[:, None] < tl[None, :]
    if ((tgt < 0) | (tgt >= V))[mask].any():
        raise ValueError(f"tgt: ids must be in [0, tgt_vocab={V})")
    # padding is never read as an id (int64 first: uint64 padding mixed with an int would
    # give float64 ids)
    return np.where(mask, np.where(mask, tgt, 0).astype(np.int64), pad_id), tl.astype(np.int64)


def teacher_forcing(tgt, tgt_lengths, bos_id, eos_id):
    """Decoder inputs ``[T+1, N]`` (BOS, then the targets) and outputs ``[T+1, N]`` (the
    targets, then EOS; -1 past it, for ``ignore_index``) of checked targets ``[T, N]``."""
    T, N = tgt.shape
    y_in = np.concatenate([np.full((1, N), bos_id), tgt], axis=0)
    y_out = np.concatenate([tgt, np.zeros((1, N), tgt.dtype)], axis=0)
    y_out[tgt_lengths, np.arange(N)] = eos_id
    valid = np.arange(T + 1)[:, None] <= tgt_lengths[None, :]
    return y_in, np.where(valid, y_out, -1).astype(np.int64)


class Seq2Seq:
    """Encoder-decoder with attention (module docstring) on seqcore kernels.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes, or token lists (their lengths).
        embed_dim: E. hidden_size: H. attention_size: A (additive; default H).
        attention: ``"additive"`` (Bahdanau) or ``"general"`` (Luong).
        cell: ``"lstm"`` or ``"gru"`` (encoder and decoder).
        bidirectional_encoder: bidirectional encoder (default True).
        bos_id, eos_id: target ids of the start and end symbols.
        dtype: float32 or float64. seed: initialisation seed (uniform ±1/sqrt(fan-in), as
            torch's nn.Linear / nn.LSTM; embeddings N(0, 1)).

    Raises ValueError / TypeError for bad sizes or options.
    """

    def __init__(self, src_vocab, tgt_vocab, embed_dim: int, hidden_size: int,
                 attention: str = "additive", cell: str = "lstm",
                 bidirectional_encoder: bool = True, attention_size: Optional[int] = None,
                 bos_id: int = 1, eos_id: int = 2, dtype=np.float32, seed: int = 0):
        self.src_vocab = _vocab_size(src_vocab, "src_vocab")
        self.tgt_vocab = _vocab_size(tgt_vocab, "tgt_vocab")
        for name, v in (("embed_dim", embed_dim), ("hidden_size", hidden_size)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected a positive int, got {v!r}")
        if attention not in ("additive", "general"):
            raise ValueError(f"attention: expected 'additive' or 'general', got {attention!r}")
        if cell not in ("lstm", "gru"):
            raise ValueError(f"cell: expected 'lstm' or 'gru', got {cell!r}")
        if attention_size is not None:
            attention_size = int_arg("attention_size", attention_size, 1, INT64_MAX,
                                     type_error=ValueError)
        for name, v in (("bos_id", bos_id), ("eos_id", eos_id)):
            v = int_arg(name, v, type_error=ValueError)
            if not 0 <= v < self.tgt_vocab:
                raise ValueError(f"{name}: expected 0 <= {name} < tgt_vocab ({self.tgt_vocab})"
                                 f", got {v}")
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        E, H = int(embed_dim), int(hidden_size)
        A = int(attention_size or H)
        self.embed_dim, self.hidden_size, self.attention_size = E, H, A
        self.attention, self.cell = attention, cell
        self.bidirectional_encoder = bool(bidirectional_encoder)
        self.bos_id, self.eos_id = int(bos_id), int(eos_id)
        G = 4 if cell == "lstm" else 3
        De = 2 * H if bidirectional_encoder else H
        self.enc_dim = De
        rng = np.random.default_rng(seed)
        enc_cls = LSTM if cell == "lstm" else GRU
        self.encoder = enc_cls(E, H, bidirectional=self.bidirectional_encoder,
                               dtype=self.dtype, seed=int(rng.integers(2 ** 31)))

        def uni(shape, fan_in):
            b = 1.0 / math.sqrt(fan_in)
            return rng.uniform(-b, b, size=shape).astype(self.dtype)

        p = OrderedDict()
        p["src_embedding"] = rng.standard_normal((self.src_vocab, E)).astype(self.dtype)
        p["tgt_embedding"] = rng.standard_normal((self.tgt_vocab, E)).astype(self.dtype)
        p["bridge.weight"] = uni((H, De), De)
        p["bridge.bias"] = uni((H,), De)
        p["decoder.weight_ih"] = uni((G * H, E + H), H)
        p["decoder.weight_hh"] = uni((G * H, H), H)
        p["decoder.bias_ih"] = uni((G * H,), H)
        p["decoder.bias_hh"] = uni((G * H,), H)
        if attention == "additive":
            p["attention.w_q"] = uni((A, H), H)
            p["attention.w_k"] = uni((A, De), De)
            p["attention.v_a"] = uni((A,), A)
        else:
            p["attention.w"] = uni((De, H), H)
        p["combine.weight"] = uni((H, De + H), De + H)
        p["combine.bias"] = uni((H,), De + H)
        p["output.weight"] = uni((self.tgt_vocab, H), H)
        p["output.bias"] = uni((self.tgt_vocab,), H)
        self._params = p

    # ------------------------------------------------------------------ parameters
    def named_parameters(self):
        """(name, array) of every parameter; the encoder's under ``encoder.``."""
        for name, value in self._params.items():
            yield name, value
        for name, value in self.encoder.named_parameters():
            yield f"encoder.{name}", value

    def state_dict(self) -> "OrderedDict[str, np.ndarray]":
        return OrderedDict((k, v.copy()) for k, v in self.named_parameters())

    def load_state_dict(self, state: Dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters (same names and shapes). Raises ValueError."""
        own = dict(self.named_parameters())
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        if missing or extra:
            raise ValueError(f"state: missing {missing}, unexpected {extra}")
        for k, v in state.items():
            v = np.asarray(v)
            if v.shape != own[k].shape:
                raise ValueError(f"state[{k!r}]: expected shape {list(own[k].shape)}, "
                                 f"got {list(v.shape)}")
            own[k][...] = v

    # ------------------------------------------------------------------ pieces
    def _check_batch(self, src, src_lengths, tgt=None, tgt_lengths=None):
        src = np.asarray(src)
        if src.ndim != 2 or src.dtype.kind not in "iu":
            raise ValueError(f"src: expected an integer array [Ts, N], got {src.dtype} "
                             f"{list(src.shape)}")
        Ts, N = src.shape
        if Ts < 1 or N < 1:
            raise ValueError(f"src: expected Ts >= 1 and N >= 1, got {list(src.shape)}")
        sl = np.asarray(src_lengths)
        if sl.shape != (N,) or sl.dtype.kind not in "iu" or (sl < 1).any() or (sl > Ts).any():
            raise ValueError(f"src_lengths: expected N={N} integers in [1, Ts={Ts}]")
        if ((src < 0) | (src >= self.src_vocab)).any():
            raise ValueError(f"src: ids must be in [0, src_vocab={self.src_vocab})")
        if tgt is None:
            return src, sl.astype(np.int64), None, None
        tgt, tl = check_targets(tgt, tgt_lengths, N, self.tgt_vocab, self.eos_id)
        return src, sl.astype(np.int64), tgt, tl

    def encode(self, src, src_lengths, training=False):
        """Encoder + bridge: (keys [N, Ts, De], s0 [N, H], cache)."""
        p = self._params
        x = p["src_embedding"][src]                                  # [Ts, N, E]
        enc, state, cache = self.encoder.forward(x, lengths=src_lengths, training=training)
        h_n = state[0] if self.cell == "lstm" else state
        h_cat = np.concatenate(list(h_n), axis=1)                    # [N, De]
        s0 = np.tanh(h_cat @ p["bridge.weight"].T + p["bridge.bias"])
        keys = np.ascontiguousarray(enc.transpose(1, 0, 2))          # [N, Ts, De]
        return keys, s0, (x, cache, h_cat, s0)

    def _cell_forward(self, x, s, c, training):
        p = self._params
        w = (p["decoder.weight_ih"], p["decoder.weight_hh"], p["decoder.bias_ih"],
             p["decoder.bias_hh"])
        if self.cell == "lstm":
            _, s1, c1, cache = lstm_forward(x[None], *w, h0=s, c0=c, training=training)
            return s1, c1, cache
        _, s1, cache = gru_forward(x[None], *w, h0=s, training=training)
        return s1, None, cache

    def _attend(self, s, keys, proj_keys, src_lengths):
        p = self._params
        if self.attention == "additive":
            return additive_attention_forward(s, keys, keys, p["attention.w_q"],
                                              p["attention.w_k"], p["attention.v_a"],
                                              src_lengths, proj_keys=proj_keys)
        return general_attention(s, keys, keys, p["attention.w"], src_lengths)

    def _proj_keys(self, keys):
        if self.attention == "additive":
            return precompute_keys(keys, self._params["attention.w_k"])
        return None

    def decoder_step(self, y_prev, s, c, h_tilde, keys, proj_keys, src_lengths,
                     training=False):
        """One decoder step for rows of the batch (any M rows).

        y_prev [M] int, s/c/h_tilde [M, H], keys [M, Ts, De], proj_keys [M, Ts, A] (additive)
        or None, src_lengths [M]. Returns (h_tilde [M, H], s [M, H], c [M, H] or None,
        attention weights [M, Ts], caches).
        """
        p = self._params
        x = np.concatenate([p["tgt_embedding"][y_prev], h_tilde], axis=1)
        s, c, cell_cache = self._cell_forward(x, s, c, training)
        context, weights, attn_cache = self._attend(s, keys, proj_keys, src_lengths)
        cat = np.concatenate([context, s], axis=1)
        h_tilde = np.tanh(cat @ p["combine.weight"].T + p["combine.bias"])
        return h_tilde, s, c, weights, (cell_cache, attn_cache, cat, h_tilde)

    def _initial(self, N):
        H = self.hidden_size
        c0 = np.zeros((N, H), self.dtype) if self.cell == "lstm" else None
        return c0, np.zeros((N, H), self.dtype)

    # ------------------------------------------------------------------ training
    def forward_backward(self, src, src_lengths, tgt, tgt_lengths, grad: bool = True):
        """Teacher-forced loss and its gradients.

        Args:
            src: [Ts, N] int source ids; src_lengths: [N] in [1, Ts].
            tgt: [Tt, N] int target ids without BOS/EOS; tgt_lengths: [N] in [0, Tt].
            grad: also compute the gradients (default).

        Returns:
            (loss, grads): ``loss`` is the mean over the ``sum(tgt_lengths + 1)`` predicted
            tokens (EOS included) of ``-log p``; ``grads`` maps every parameter name of
            :meth:`named_parameters` to its gradient (None when ``grad=False``).

        Raises ValueError for out-of-range ids or lengths, mismatched shapes.
        """
        src, sl, tgt, tl = self._check_batch(src, src_lengths, *_required_tgt(tgt, tgt_lengths))
        p = self._params
        Tt, N = tgt.shape
        steps = Tt + 1
        y_in, y_out = teacher_forcing(tgt, tl, self.bos_id, self.eos_id)

        keys, s, enc_cache = self.encode(src, sl, training=grad)
        proj_keys = self._proj_keys(keys)
        c, h_tilde = self._initial(N)
        outs, caches = [], []
        for t in range(steps):
            h_tilde, s, c, _, cache = self.decoder_step(y_in[t], s, c, h_tilde, keys,
                                                        proj_keys, sl, training=grad)
            outs.append(h_tilde)
            caches.append(cache)
        h_all = np.stack(outs).reshape(steps * N, -1)
        logits = h_all @ p["output.weight"].T + p["output.bias"]
        loss, dlogits = softmax_cross_entropy(logits, y_out.reshape(-1), reduction="mean",
                                              ignore_index=-1, grad=grad)
        if not grad:
            return float(loss), None

        g = OrderedDict((k, np.zeros_like(v)) for k, v in p.items())
        g["output.weight"] = dlogits.T @ h_all
        g["output.bias"] = dlogits.sum(axis=0)
        dh_all = (dlogits @ p["output.weight"]).reshape(steps, N, -1)
        H, E, De = self.hidden_size, self.embed_dim, self.enc_dim
        dkeys = np.zeros_like(keys)
        ds = np.zeros((N, H), self.dtype)
        dc = np.zeros((N, H), self.dtype) if self.cell == "lstm" else None
        dh_tilde_next = np.zeros((N, H), self.dtype)
        for t in reversed(range(steps)):
            cell_cache, attn_cache, cat, ht = caches[t]
            caches[t] = None
            dpre = (dh_all[t] + dh_tilde_next) * (1 - ht * ht)
            g["combine.weight"] += dpre.T @ cat
            g["combine.bias"] += dpre.sum(axis=0)
            dcat = dpre @ p["combine.weight"]
            dcontext, ds_t = dcat[:, :De], dcat[:, De:]
            if self.attention == "additive":
                ga = additive_attention_backward(attn_cache, np.ascontiguousarray(dcontext))
                g["attention.w_q"] += ga.dw_q
                g["attention.w_k"] += ga.dw_k
                g["attention.v_a"] += ga.dv_a
            else:
                ga = luong_attention_backward(attn_cache, np.ascontiguousarray(dcontext))
                g["attention.w"] += ga.dw
            dkeys += ga.dkeys + ga.dvalues
            ds = ds + ds_t + ga.dquery
            if self.cell == "lstm":
                gc = lstm_backward(cell_cache, None, ds, dc)
                dc = gc.dc0
            else:
                gc = gru_backward(cell_cache, None, ds)
            ds = gc.dh0
            for name, arr in (("decoder.weight_ih", gc.dw_ih), ("decoder.weight_hh", gc.dw_hh),
                              ("decoder.bias_ih", gc.db_ih), ("decoder.bias_hh", gc.db_hh)):
                g[name] += arr
            dx = gc.dx[0]
            np.add.at(g["tgt_embedding"], y_in[t], dx[:, :E])
            dh_tilde_next = dx[:, E:]
        # bridge and encoder
        x_src, enc_cache_k, h_cat, s0 = enc_cache
        dpre_b = ds * (1 - s0 * s0)
        g["bridge.weight"] = dpre_b.T @ h_cat
        g["bridge.bias"] = dpre_b.sum(axis=0)
        dh_cat = dpre_b @ p["bridge.weight"]
        dh_n = np.stack(np.split(dh_cat, 2 if self.bidirectional_encoder else 1, axis=1))
        dstate = (dh_n, None) if self.cell == "lstm" else dh_n
        dx_src, _, enc_grads = self.encoder.backward(
            enc_cache_k, np.ascontiguousarray(dkeys.transpose(1, 0, 2)), dstate)
        np.add.at(g["src_embedding"], src, dx_src)
        for name, arr in enc_grads.items():
            g[f"encoder.{name}"] = arr
        return float(loss), g

    def score(self, src, src_lengths, tgt, tgt_lengths) -> np.ndarray:
        """log P(y | x) of each pair [N] (float64): the sum of the log-probs of the target
        tokens and EOS under teacher forcing (for beam-search error analysis)."""
        src, sl, tgt, tl = self._check_batch(src, src_lengths, *_required_tgt(tgt, tgt_lengths))
        N = src.shape[1]
        keys, s, _ = self.encode(src, sl)
        proj_keys = self._proj_keys(keys)
        c, h_tilde = self._initial(N)
        total = np.zeros(N)
        y_prev = np.full(N, self.bos_id)
        for t in range(tgt.shape[0] + 1):
            h_tilde, s, c, _, _ = self.decoder_step(y_prev, s, c, h_tilde, keys, proj_keys, sl)
            lp = log_softmax(h_tilde @ self._params["output.weight"].T
                             + self._params["output.bias"]).astype(np.float64)
            y = tgt[t] if t < tgt.shape[0] else np.full(N, self.eos_id)
            total += np.where(t <= tl, lp[np.arange(N), y], 0.0)
            y_prev = y
        return total

    # ------------------------------------------------------------------ decoding
    def step_function(self, src, src_lengths):
        """(step, init_state) for :func:`seqcore.beam_search` / greedy / sample: the decoder
        in Python/NumPy over seqcore kernels (the reference for :meth:`translate`)."""
        src, sl, _, _ = self._check_batch(src, src_lengths)
        keys, s0, _ = self.encode(src, sl)
        proj_keys = self._proj_keys(keys)
        c0, h0 = self._initial(src.shape[1])
        init = (s0, c0, h0, keys, proj_keys, sl)

        def step(tokens, state, origin):
            s, c, h_tilde, k, pk, lens = state
            s, h_tilde, k, lens = s[origin], h_tilde[origin], k[origin], lens[origin]
            c = c[origin] if c is not None else None
            pk = pk[origin] if pk is not None else None
            h_tilde, s, c, _, _ = self.decoder_step(tokens, s, c, h_tilde, k, pk, lens)
            lp = log_softmax(h_tilde @ self._params["output.weight"].T
                             + self._params["output.bias"])
            return lp, (s, c, h_tilde, k, pk, lens)

        return step, init

    def translate(self, src, src_lengths, beam_width: int = 4, max_length: int = 100,
                  length_penalty: float = 0.0, length_penalty_mode: str = "avg",
                  n_best: int = 1, native: bool = True, **options) -> List[List[Hypothesis]]:
        """Beam search translation of a batch: per sentence, ``n_best`` :class:`Hypothesis`.

        ``native=True`` runs the whole search (encoder, decoder steps, attention, softmax,
        top-k) in C++ with no Python call per step; ``native=False`` runs
        :func:`seqcore.beam_search` with :meth:`step_function` (same results). Other options
        as :func:`seqcore.beam_search`.
        """
        src, sl, _, _ = self._check_batch(src, src_lengths)
        if native and hasattr(_core, "seq2seq_beam_search"):
            return self._translate_native(src, sl, beam_width, max_length, length_penalty,
                                          length_penalty_mode, n_best, options)
        step, init = self.step_function(src, sl)
        return beam_search(step, src.shape[1], self.bos_id, self.eos_id, init_state=init,
                           beam_width=beam_width, max_length=max_length,
                           length_penalty=length_penalty,
                           length_penalty_mode=length_penalty_mode, n_best=n_best, **options)

    def _translate_native(self, src, sl, beam_width, max_length, length_penalty,
                          length_penalty_mode, n_best, options):
        unknown = set(options) - {"min_length", "stopping", "patience", "repetition_penalty",
                                  "no_repeat_ngram_size", "prefix"}
        if unknown:
            raise TypeError(f"translate: unexpected options {sorted(unknown)}")
        prefix = options.get("prefix")
        res = _core.seq2seq_beam_search(
            self.cell, self.bidirectional_encoder, self.attention == "additive",
            self.src_vocab, self.tgt_vocab, self.embed_dim, self.hidden_size,
            self.attention_size, dict(self.named_parameters()), src, sl, self.bos_id,
            self.eos_id, _int_option("beam_width", beam_width, 1, MAX_BEAM_WIDTH),
            _int_option("max_length", max_length, 1),
            _int_option("min_length", options.get("min_length", 0), 0),
            _int_option("n_best", n_best, 1), float_arg("length_penalty", length_penalty),
            option("length_penalty_mode", length_penalty_mode, ("avg", "gnmt", "none")),
            option("stopping", options.get("stopping", "early"),
                   ("early", "patience", "exhaustive")),
            float_arg("patience", options.get("patience", 1.0)),
            float_arg("repetition_penalty", options.get("repetition_penalty", 1.0)),
            _int_option("no_repeat_ngram_size", options.get("no_repeat_ngram_size", 0), 0),
            [] if prefix is None else [[_int_option("prefix", t, 0) for t in p]
                                       for p in prefix],
            self.dtype == np.float64)
        return [[Hypothesis(*h) for h in item] for item in res]


def _required_tgt(tgt, tgt_lengths):
    for name, v in (("tgt", tgt), ("tgt_lengths", tgt_lengths)):
        if v is None:
            raise TypeError(f"{name}: expected an integer array, got None")
    return tgt, tgt_lengths


def _int_option(name, value, lo, hi=INT64_MAX):
    # as beam_search's checks: TypeError for a non-int, ValueError out of range
    return int_arg(name, value, lo, hi)


def error_analysis(model: Seq2Seq, src, reference, hypothesis) -> str:
    """The course's beam-search error analysis for one sentence pair.

    ``src`` [Ts] source ids, ``reference`` (y*) and ``hypothesis`` (ŷ, the beam's output)
    target id lists without BOS/EOS. If ``P(y*|x) > P(ŷ|x)`` the search missed a better
    sequence: returns ``"search"``; otherwise the model prefers its wrong output:
    ``"model"``.
    """
    if not isinstance(model, Seq2Seq):
        raise TypeError(f"model: expected a seqcore.Seq2Seq, got {type(model).__name__}")
    src = np.asarray(src).reshape(-1, 1)
    L = max(len(reference), len(hypothesis), 1)
    tgt = np.zeros((L, 2), np.int64)
    tgt[:len(reference), 0] = reference
    tgt[:len(hypothesis), 1] = hypothesis
    scores = model.score(np.repeat(src, 2, axis=1), np.array([len(src)] * 2), tgt,
                         np.array([len(reference), len(hypothesis)]))
    return "search" if scores[0] > scores[1] else "model"

"""Decoding with a step function: beam search, greedy search, sampling; perplexity.

Every search takes the same ``step`` callable, called once per step for all live rows::

    log_probs, state = step(tokens, state, beam_origin)

``tokens [M]`` (int64) is the last token of each live row (``bos_id`` on the first call),
``state`` is what the previous call returned (``init_state`` on the first call), and
``beam_origin [M]`` (int64) is, for each row, the row of the previous call it extends (on
the first call, the batch item: ``0..N-1``). A model gathers its recurrent state with it
(``h = h[beam_origin]``) and returns ``log_probs [M, V]`` (float32 or float64, normalised
log-probabilities of the next token) and its new state. Rows of batch items that finished
leave the batch, so ``M`` shrinks.

Length conventions (all searches): a hypothesis' length ``len`` counts its generated
tokens including EOS (BOS excluded); ``max_length`` bounds that count, and a hypothesis that
reaches it without EOS is finished as it is; ``min_length`` forbids EOS while fewer than
``min_length`` tokens (EOS excluded) were generated. Returned ``tokens`` exclude BOS and EOS;
``log_prob`` is the sum of the model's log-probs of the generated tokens (EOS included);
``score`` is what the search ranked by (``log_prob`` after penalties, divided by the length
penalty).

Shapes: N batch items, K beam width, M live rows (<= N*K), V vocabulary, T time steps.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from . import _core
from ._validate import INT64_MAX, float_arg, int_arg, option

__all__ = ["Hypothesis", "beam_search", "greedy_search", "sample", "perplexity"]

StepFn = Callable[[np.ndarray, Any, np.ndarray], Tuple[np.ndarray, Any]]


class Hypothesis(NamedTuple):
    """One decoded sequence: ``tokens`` (int64, no BOS/EOS), ``score``, ``log_prob``."""
    tokens: np.ndarray
    score: float
    log_prob: float


def _int_arg(name, value, lo, hi=None):
    # TypeError for a non-int (bool, float, str), ValueError out of [lo, hi]; the C++ core
    # takes int64, so hi defaults to its maximum
    return int_arg(name, value, lo, INT64_MAX if hi is None else hi)


#: Widest beam accepted (beam search and CTC prefix beam search): the search keeps
#: beam_width x vocabulary candidates a step; wider beams exhaust memory (2**31 used to grow
#: it until the OOM killer, or throw inside a parallel region).
MAX_BEAM_WIDTH = 4096


def _call_step(step, tokens, state, origin, rows):
    out = step(tokens, state, origin)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise TypeError("step: expected it to return (log_probs, state)")
    log_probs, state = out
    lp = np.asarray(log_probs)
    if lp.dtype not in (np.float32, np.float64):
        raise TypeError(f"step: log_probs must be float32 or float64, got {lp.dtype}")
    if lp.ndim != 2 or lp.shape[0] != rows:
        raise ValueError(f"step: log_probs must have shape [M, V] = [{rows}, V], got "
                         f"{list(lp.shape)}")
    if np.isnan(lp).any():
        raise ValueError("step: log_probs contain NaN")
    return np.ascontiguousarray(lp), state


def beam_search(step: StepFn, batch_size: int, bos_id: int, eos_id: int, init_state=None,
                beam_width: int = 4, max_length: int = 100, min_length: int = 0,
                length_penalty: float = 0.0, length_penalty_mode: str = "avg",
                n_best: int = 1, stopping: str = "early", patience: float = 1.0,
                repetition_penalty: float = 1.0, no_repeat_ngram_size: int = 0,
                prefix: Optional[Sequence[Sequence[int]]] = None
                ) -> List[List[Hypothesis]]:
    """Beam search: the n-best hypotheses of each of ``batch_size`` items.

    Per step, for each batch item, the candidates are every live hypothesis extended by
    every token (K x V, scored by the summed log-prob after penalties); the best ``2K`` are
    taken in order: a candidate ending in EOS among the first ``K`` finishes (its score
    length-normalised), the others fill the next beam up to ``K``. The C++ core does the
    top-k, the penalties and the bookkeeping; ``step`` is the only Python call per step.

    Args:
        step: the step function (module docstring).
        batch_size: N >= 1.
        bos_id, eos_id: token ids (< V) of the start and end symbols.
        init_state: passed to the first ``step`` call.
        beam_width: K in [1, 4096].
        max_length: maximum generated length, EOS included (module docstring).
        min_length: EOS is forbidden until this many tokens were generated.
        length_penalty: alpha of the length normalisation (0: none).
        length_penalty_mode: ``"avg"``: ``score = logp / len**alpha`` (Wu et al. 2016's
            simple average, as fairseq/Hugging Face); ``"gnmt"``: ``logp / ((5+len)/6)**alpha``
            (GNMT, OpenNMT-py); ``"none"``.
        n_best: hypotheses returned per item (<= beam_width), best first.
        stopping: ``"early"``: an item stops once K hypotheses finished (Hugging Face
            ``early_stopping=True``); ``"patience"``: once ``ceil(patience*K)`` finished
            (Kasai et al. 2022); ``"exhaustive"``: only when no live hypothesis can still
            beat the n-th best finished one (an upper bound that assumes log-probs <= 0).
        repetition_penalty: log-probs of tokens already generated are multiplied by it
            (divided when positive) — CTRL's penalty (Keskar et al. 2019) on log-probs.
        no_repeat_ngram_size: forbid tokens that would repeat an n-gram of the hypothesis.
        prefix: optional forced first tokens per batch item (CTranslate2's target_prefix).

    Returns:
        list (per item) of up to ``n_best`` :class:`Hypothesis`, sorted by score.

    Raises:
        ValueError: bad options, ``bos_id``/``eos_id`` out of the vocabulary, a step
            returning the wrong shape or NaN. TypeError: wrong types.
    """
    if not callable(step):
        raise TypeError("step: expected a callable step(tokens, state, beam_origin)")
    batch_size = _int_arg("batch_size", batch_size, 1)
    bos_id = _int_arg("bos_id", bos_id, 0)
    eos_id = _int_arg("eos_id", eos_id, 0)
    beam_width = _int_arg("beam_width", beam_width, 1, MAX_BEAM_WIDTH)
    max_length = _int_arg("max_length", max_length, 1)
    min_length = _int_arg("min_length", min_length, 0)
    n_best = _int_arg("n_best", n_best, 1)
    no_repeat_ngram_size = _int_arg("no_repeat_ngram_size", no_repeat_ngram_size, 0)
    prefixes = [] if prefix is None else [[_int_arg("prefix", t, 0) for t in p] for p in prefix]
    search = _core.BeamSearch(batch_size, bos_id, eos_id, beam_width, max_length, min_length,
                              n_best, float_arg("length_penalty", length_penalty),
                              option("length_penalty_mode", length_penalty_mode,
                                     ("avg", "gnmt", "none")),
                              option("stopping", stopping, ("early", "patience", "exhaustive")),
                              float_arg("patience", patience),
                              float_arg("repetition_penalty", repetition_penalty),
                              no_repeat_ngram_size, prefixes)
    state = init_state
    while not search.done():
        log_probs, state = _call_step(step, search.next_tokens(), state, search.beam_origin(),
                                      search.num_rows())
        search.advance(log_probs)
    return [[Hypothesis(*h) for h in item] for item in search.results()]


def _search_loop(step, batch_size, bos_id, eos_id, init_state, max_length, min_length,
                 choose) -> List[Hypothesis]:
    """Greedy/sampling loop: one row per unfinished item; ``choose(log_probs) -> tokens``."""
    batch_size = _int_arg("batch_size", batch_size, 1)
    bos_id = _int_arg("bos_id", bos_id, 0)
    eos_id = _int_arg("eos_id", eos_id, 0)
    max_length = _int_arg("max_length", max_length, 1)
    min_length = _int_arg("min_length", min_length, 0)
    if min_length >= max_length:
        raise ValueError(f"min_length: expected < max_length ({max_length}), got {min_length}")
    if not callable(step):
        raise TypeError("step: expected a callable step(tokens, state, beam_origin)")
    items = np.arange(batch_size)
    tokens = np.full(batch_size, bos_id, np.int64)
    origin = np.arange(batch_size, dtype=np.int64)
    generated: List[List[int]] = [[] for _ in range(batch_size)]
    log_prob = np.zeros(batch_size)
    state = init_state
    for t in range(max_length):
        lp, state = _call_step(step, tokens, state, origin, len(items))
        if t == 0 and not (eos_id < lp.shape[1] and bos_id < lp.shape[1]):
            raise ValueError(f"eos_id/bos_id: out of range for a vocabulary of {lp.shape[1]}")
        lp = lp.astype(np.float64)
        if t < min_length:
            lp[:, eos_id] = -np.inf
        chosen = choose(lp)
        log_prob[items] += lp[np.arange(len(items)), chosen]
        live = chosen != eos_id
        for i, tok in zip(items[live], chosen[live]):
            generated[i].append(int(tok))
        items, tokens = items[live], chosen[live].astype(np.int64)
        origin = np.flatnonzero(live).astype(np.int64)
        if len(items) == 0:
            break
    return [Hypothesis(np.asarray(g, np.int64), float(s), float(s))
            for g, s in zip(generated, log_prob)]


def greedy_search(step: StepFn, batch_size: int, bos_id: int, eos_id: int, init_state=None,
                  max_length: int = 100, min_length: int = 0) -> List[Hypothesis]:
    """Greedy decoding: the most likely token at each step (ties: the lowest id).

    Same step interface and length rules as :func:`beam_search`; returns one
    :class:`Hypothesis` per batch item (``score == log_prob``).
    """
    return _search_loop(step, batch_size, bos_id, eos_id, init_state, max_length, min_length,
                        lambda lp: np.argmax(lp, axis=1))


def sample(step: StepFn, batch_size: int, bos_id: int, eos_id: int, init_state=None,
           max_length: int = 100, min_length: int = 0, temperature: float = 1.0,
           top_k: int = 0, top_p: float = 1.0, seed: Optional[int] = None) -> List[Hypothesis]:
    """Ancestral sampling of novel sequences (the course's language-model sampling).

    Each step draws from ``softmax(log_probs / temperature)`` restricted to the ``top_k``
    most likely tokens (0: all) and to the smallest set whose probability reaches ``top_p``
    (nucleus sampling, Holtzman et al. 2020). ``log_prob`` is under the model's own
    (untempered) distribution. ``seed`` makes it reproducible. Same step interface and
    length rules as :func:`beam_search`; one :class:`Hypothesis` per batch item.

    Raises ValueError for temperature <= 0, top_k < 0 or top_p outside (0, 1].
    """
    if not temperature > 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    top_k = _int_arg("top_k", top_k, 0)
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p: expected 0 < top_p <= 1, got {top_p}")
    rng = np.random.default_rng(None if seed is None else int_arg("seed", seed, 0))

    def choose(lp):
        z = lp / temperature
        if top_k and top_k < z.shape[1]:
            kth = np.partition(z, -top_k, axis=1)[:, -top_k][:, None]
            z = np.where(z >= kth, z, -np.inf)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        if top_p < 1:
            order = np.argsort(-p, axis=1, kind="stable")
            sorted_p = np.take_along_axis(p, order, axis=1)
            # keep a token if the mass before it is < top_p (the first is always kept)
            keep_sorted = np.cumsum(sorted_p, axis=1) - sorted_p < top_p
            keep = np.zeros_like(keep_sorted)
            np.put_along_axis(keep, order, keep_sorted, axis=1)
            p = np.where(keep, p, 0.0)
            p /= p.sum(axis=1, keepdims=True)
        u = rng.random(len(p))[:, None]
        return np.minimum((np.cumsum(p, axis=1) < u).sum(axis=1), p.shape[1] - 1)

    return _search_loop(step, batch_size, bos_id, eos_id, init_state, max_length, min_length,
                        choose)


def perplexity(log_probs, targets, lengths=None) -> float:
    """Perplexity ``exp(-sum log p(target) / sum(lengths))`` of time-major predictions.

    Args:
        log_probs: [T, N, V] float log-probabilities.
        targets: [T, N] integer token ids in [0, V).
        lengths: [N] valid steps per sequence (default: all T).

    Raises ValueError for mismatched shapes, out-of-range ids or lengths, no tokens.
    """
    lp = np.asarray(log_probs)
    if lp.dtype.kind != "f":
        raise TypeError(f"log_probs: expected a float array, got {lp.dtype}")
    if lp.ndim != 3:
        raise ValueError(f"log_probs: expected shape [T, N, V], got {list(lp.shape)}")
    T, N, V = lp.shape
    y = np.asarray(targets)
    if y.dtype.kind not in "iu":
        raise TypeError(f"targets: expected an integer array, got {y.dtype}")
    if y.shape != (T, N):
        raise ValueError(f"targets: expected shape [T, N] = [{T}, {N}], got {list(y.shape)}")
    lengths = np.full(N, T) if lengths is None else np.asarray(lengths)
    if lengths.shape != (N,):
        raise ValueError(f"lengths: expected shape [N] = [{N}], got {list(lengths.shape)}")
    if lengths.dtype.kind not in "iu" or (lengths < 0).any() or (lengths > T).any():
        raise ValueError(f"lengths: expected integers in [0, T={T}]")
    mask = np.arange(T)[:, None] < lengths[None, :]
    if not mask.any():
        raise ValueError("lengths: no token to score (all lengths are 0)")
    if ((y < 0) | (y >= V))[mask].any():
        raise ValueError(f"targets: ids must be in [0, V={V})")
    picked = np.take_along_axis(lp, np.where(mask, y, 0)[:, :, None], axis=2)[:, :, 0]
    return float(math.exp(-picked[mask].astype(np.float64).sum() / mask.sum()))

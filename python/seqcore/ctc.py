"""Connectionist Temporal Classification: loss with its exact gradient, and decoders.

Shape legend (see DESIGN.md): ``T`` time steps (frames), ``N`` batch, ``C`` classes (the
alphabet, blank included), ``S`` target length. Scores are time-major ``[T, N, C]``.

* :func:`ctc_loss` takes ``log_probs`` (any real scores: they need not be normalised) and
  returns the loss and its gradient w.r.t. ``log_probs``. PyTorch's ``F.ctc_loss`` returns
  the gradient w.r.t. the logits before a log-softmax instead, which is wrong when the
  input is not normalised (pytorch#52241); for normalised input the two differ by
  ``exp(log_probs) * (d loss / d loss_n)``.
* :func:`ctc_loss_from_logits` applies log-softmax over ``C`` inside (as warp-ctc) and
  returns the gradient w.r.t. the logits.
* :func:`ctc_greedy_decode`: best path; :func:`ctc_beam_search`: prefix beam search with an
  optional language model (see :mod:`seqcore.ngram` for a character n-gram LM).

Sources: Graves et al. 2006, "Connectionist Temporal Classification" (forward-backward
recursions, eq. 6-16); PyTorch ``torch.nn.functional.ctc_loss`` (argument semantics and
reductions); warp-ctc (loss from logits, workspace query); Hannun et al. 2014, "First-Pass
Large Vocabulary Continuous Speech Recognition using Bi-Directional Recurrent DNNs"
(prefix beam search).
"""
from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from . import _core
from ._typing import Array, ArrayLike
from ._validate import INT64_MAX, float_arg, int_arg, option
from .decoding import MAX_BEAM_WIDTH

_REDUCTIONS = ("mean", "sum", "none")

__all__ = ["ctc_loss", "ctc_loss_from_logits", "ctc_workspace_bytes", "ctc_greedy_decode",
           "ctc_beam_search"]

_ARGS = """
    targets : ndarray of int32/int64
        Either padded ``[N, S]`` (utterance ``n`` uses ``targets[n, :target_lengths[n]]``)
        or concatenated ``[sum(target_lengths)]``, as in PyTorch. Labels lie in ``[0, C)``
        and differ from ``blank``; repeated labels are allowed.
    input_lengths : ndarray [N] of int32/int64
        Frames of each utterance, ``0 <= input_lengths[n] <= T``.
    target_lengths : ndarray [N] of int32/int64
        Labels of each utterance, ``>= 0`` (empty targets are valid).
    blank : int
        Index of the blank class, in ``[0, C)``.
    reduction : "mean" | "sum" | "none"
        As PyTorch: "none" returns the ``[N]`` per-utterance losses, "sum" their sum,
        "mean" divides each loss by its target length clamped to 1, then averages over N.
    zero_infinity : bool
        Replace infinite losses (no alignment exists: ``input_lengths[n]`` is shorter than
        the target plus its adjacent repeats) by 0. Their gradient is zero either way: the
        probability of such a target is identically 0.

    Returns
    -------
    loss : float32/float64 scalar, or ndarray [N] for ``reduction="none"``
        Negative log-likelihood (nats), reduced.
    grad : ndarray [T, N, C], dtype of the scores
        Exact gradient of ``loss`` (of ``loss.sum()`` for "none") w.r.t. the scores; zero
        past each input length and for utterances with infinite loss.

    Raises
    ------
    TypeError
        Scores not float32/float64, or integer arguments not integer arrays.
    ValueError
        Scores not 3-D, lengths not ``[N]``, lengths out of range, labels out of range or
        equal to blank, padded targets not ``[N, S]``, concatenated targets not of length
        ``sum(target_lengths)``, unknown reduction.

    Notes
    -----
    Source: Graves et al. 2006 (forward-backward recursions, sec. 4.1: in linear space
    with per-frame rescaling, computed in float64, while every value stays in float64's
    normal range; otherwise, e.g. long utterances or confident scores, in log space, so
    the result has log space's accuracy on every input); reductions and argument
    semantics of ``torch.nn.functional.ctc_loss``. The work is parallel over utterances
    (OpenMP, balanced by ``T_n * S_n``) and vectorised over the ``2 S + 1`` states inside
    each utterance; results are bit-identical for every thread count. Memory: the
    gradient, plus per thread two tables of ``T_n * (2 S_n + 1)`` float64 values for the
    largest utterance and a few rows of states (:func:`ctc_workspace_bytes`)."""


def _check_blank(blank, name="blank"):
    # class indices: C++ int64 (a value outside [0, C) is a ValueError from the kernel)
    return int_arg(name, blank, -INT64_MAX, INT64_MAX)


def _result(out):
    loss, grad = out
    return (loss[()] if loss.ndim == 0 else loss), grad   # 0-d array -> NumPy scalar


def ctc_loss(log_probs: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike,
             target_lengths: ArrayLike, blank: int = 0, reduction: str = "mean",
             zero_infinity: bool = False) -> Tuple[Any, Array]:
    return _result(_core.ctc_loss(log_probs, targets, input_lengths, target_lengths,
                                   _check_blank(blank), option("reduction", reduction, _REDUCTIONS),
                                   bool(zero_infinity), False))


ctc_loss.__doc__ = f"""CTC loss of ``log_probs`` and its exact gradient.

    ``loss_n = -log sum over alignments a of l_n: exp(sum_t log_probs[t, n, a_t])`` for
    ``t < input_lengths[n]``.

    Parameters
    ----------
    log_probs : ndarray [T, N, C], float32 or float64
        Per-frame class scores, normally ``log_softmax`` outputs; any real values are
        accepted and differentiated as given (no normalisation is assumed).{_ARGS}
    """


def ctc_loss_from_logits(logits: ArrayLike, targets: ArrayLike, input_lengths: ArrayLike,
                         target_lengths: ArrayLike, blank: int = 0, reduction: str = "mean",
                         zero_infinity: bool = False) -> Tuple[Any, Array]:
    return _result(_core.ctc_loss(logits, targets, input_lengths, target_lengths,
                                   _check_blank(blank), option("reduction", reduction, _REDUCTIONS),
                                   bool(zero_infinity), True))


ctc_loss_from_logits.__doc__ = f"""CTC loss of ``log_softmax(logits)`` (over C) and its gradient
    w.r.t. ``logits`` (warp-ctc's convention; equals PyTorch's gradient through
    ``F.log_softmax`` + ``F.ctc_loss``). One pass over each frame's logits computes the
    log-sum-exp and writes ``exp(logits - max)`` into the gradient buffer, which the
    backward pass scales in place: no other ``[T, N, C]`` array is allocated.

    Parameters
    ----------
    logits : ndarray [T, N, C], float32 or float64
        Unnormalised per-frame class scores.{_ARGS}
    """


def ctc_workspace_bytes(log_probs, targets, input_lengths, target_lengths, blank=0,
                        from_logits=False, threads=None):
    """Scratch bytes one :func:`ctc_loss` call allocates (once) for these inputs.

    Per thread: two float64 tables (alpha before each frame's emission, and the
    emissions) of the ``T_n * (2 S_n + 1)`` states of the largest utterance (rows padded to
    whole SIMD packets, ``2 S_n + 35`` rounded up to 16) and five such rows, or the
    log-space path's alpha table and six rows in the scores' dtype where that is larger; with
    ``from_logits`` also two float64 values per frame and one row of ``C``. The returned
    gradient ``[T, N, C]`` is not included. ``threads``: default
    ``seqcore.get_num_threads()``; a call uses at most N threads, and fewer when it is too
    small to be worth waking them (about one per 20 000 state-frames). Arguments and errors as
    :func:`ctc_loss`; returns an int.
    """
    threads = (_core.get_num_threads() if threads is None
               else int_arg("threads", threads, 1, 2**31 - 1))
    return int(_core.ctc_workspace_bytes(log_probs, targets, input_lengths, target_lengths,
                                         _check_blank(blank), bool(from_logits), threads))


def ctc_greedy_decode(log_probs, input_lengths, blank=0):
    """Best-path (greedy) CTC decoding.

    Takes the arg-max class of every frame (the first one on ties), collapses repeats and
    removes blanks (Graves et al. 2006, sec. 3.2).

    Parameters
    ----------
    log_probs : ndarray [T, N, C], float32 or float64
        Per-frame class scores (any monotone transform of probabilities).
    input_lengths : ndarray [N] of int32/int64
        Frames of each utterance, ``0 <= input_lengths[n] <= T``.
    blank : int
        Index of the blank class.

    Returns
    -------
    list of N tuples ``(tokens, frames)``: int64 arrays of the emitted labels and of the
    frame at which each one starts.

    Raises
    ------
    TypeError for a non-float ``log_probs`` or non-integer lengths; ValueError for a wrong
    shape, a length outside ``[0, T]`` or ``blank`` outside ``[0, C)``.
    """
    return [tuple(p) for p in _core.ctc_greedy_decode(log_probs, input_lengths,
                                                       _check_blank(blank))]


def ctc_beam_search(log_probs, input_lengths, beam_width=16, blank=0, n_best=1,
                    beam_threshold=None, token_top_k=None, token_min_logp=None, lm=None,
                    lm_weight=0.0, word_score=0.0, word_delimiter=None):
    """CTC prefix beam search (Hannun et al. 2014, algorithm 1), optionally with a language
    model.

    Each prefix keeps two log scores, ending in blank and ending in its last label; all the
    alignments of a prefix are merged by log-add (a true prefix search, not the Viterbi
    max-merge of flashlight's default). A prefix is ranked by
    ``log p_ctc(prefix) + lm_weight * log p_lm(prefix) + word_score * words(prefix)``; at
    the end ``lm_weight * lm.finish(state)`` is added.

    Parameters
    ----------
    log_probs : ndarray [T, N, C], float32 or float64
        Per-frame log-probabilities (log_softmax outputs).
    input_lengths : ndarray [N] of int32/int64
        Frames of each utterance, ``0 <= input_lengths[n] <= T``.
    beam_width : int in [1, 4096]
        Prefixes kept after each frame (K).
    blank : int
        Index of the blank class.
    n_best : int in [1, beam_width]
        Hypotheses returned per utterance, best first.
    beam_threshold : float > 0 or None
        Also drop prefixes scoring more than this below the best one.
    token_top_k : int >= 1 or None
        Extend prefixes only by the k most probable labels of each frame.
    token_min_logp : float or None
        Extend prefixes only by labels with ``log_probs >= token_min_logp`` at that frame.
    lm : object or None
        Language model over class indices: ``start() -> state``,
        ``score(state, token) -> (new_state, logp)`` and ``finish(state) -> logp`` (e.g.
        :class:`seqcore.NGramLM`). A Python model is called with the GIL held, so with
        ``lm`` the utterances are decoded one after another on the calling thread; without
        it the search runs in C++ in parallel over utterances (OpenMP) with the GIL
        released. Each distinct prefix is scored once (prefixes are trie nodes).
    lm_weight : float
        Weight of the LM log-probability (alpha in Hannun et al.).
    word_score : float
        Bonus per word (beta in Hannun et al.): per label when ``word_delimiter`` is None,
        else per run of labels other than the delimiter.
    word_delimiter : int or None
        Class index of the word separator (e.g. space), not blank.

    Returns
    -------
    list of N lists of ``(tokens, score)``: int64 label arrays and their scores (float,
    nats), best first.

    Raises
    ------
    TypeError for a non-float ``log_probs``, non-integer lengths or an ``lm`` without
    start/score/finish; ValueError for wrong shapes, lengths outside ``[0, T]``, an invalid
    ``blank``/``word_delimiter``, ``beam_width`` outside ``[1, 4096]``, ``n_best`` outside ``[1, beam_width]``,
    ``token_top_k < 1`` or ``beam_threshold <= 0``. Errors raised by ``lm`` propagate.
    """
    def opt_int(v, name, lo):
        return None if v is None else int_arg(name, v, lo, INT64_MAX)

    beam_width = opt_int(beam_width, "beam_width", 1)
    if beam_width is None:
        raise TypeError("beam_width: expected an int, got None")
    if beam_width > MAX_BEAM_WIDTH:
        raise ValueError(f"beam_width: expected <= {MAX_BEAM_WIDTH}, got {beam_width}")
    n_best = int_arg("n_best", n_best, 1, INT64_MAX)
    top_k = opt_int(token_top_k, "token_top_k", 1)
    if beam_threshold is not None:
        beam_threshold = float_arg("beam_threshold", beam_threshold, 0.0, lo_open=True)
    if token_min_logp is not None:
        token_min_logp = float_arg("token_min_logp", token_min_logp)
    lm_weight = float_arg("lm_weight", lm_weight)
    word_score = float_arg("word_score", word_score)
    delim = -1 if word_delimiter is None else _check_blank(word_delimiter, "word_delimiter")
    if delim < 0 and word_delimiter is not None:
        raise ValueError(f"word_delimiter: expected a class index, got {word_delimiter}")
    out = _core.ctc_beam_search(
        log_probs, input_lengths, beam_width, _check_blank(blank), n_best,
        0.0 if beam_threshold is None else float(beam_threshold), 0 if top_k is None else top_k,
        -np.inf if token_min_logp is None else float(token_min_logp), lm, float(lm_weight),
        float(word_score), delim)
    return [[(tokens, float(score)) for tokens, score in hyps] for hyps in out]

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

import numpy as np

from . import _core

__all__ = ["ctc_loss", "ctc_loss_from_logits", "ctc_workspace_bytes", "ctc_greedy_decode"]

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
    The work is parallel over utterances (OpenMP, balanced by ``T_n * S_n``) and vectorised
    over the ``2 S + 1`` states inside each utterance; results are bit-identical for every
    thread count. Memory: the gradient, plus per thread the alpha table of the largest
    utterance and a few rows of states (:func:`ctc_workspace_bytes`)."""


def _check_blank(blank):
    if isinstance(blank, (bool, np.bool_)) or not isinstance(blank, (int, np.integer)):
        raise TypeError(f"blank: expected an int, got {type(blank).__name__}")
    return int(blank)


def _result(loss, grad, x):
    return (loss[()] if loss.ndim == 0 else loss), grad   # 0-d array -> NumPy scalar


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction="mean",
             zero_infinity=False):
    return _result(*_core.ctc_loss(log_probs, targets, input_lengths, target_lengths,
                                   _check_blank(blank), reduction, bool(zero_infinity), False),
                   log_probs)


ctc_loss.__doc__ = f"""CTC loss of ``log_probs`` and its exact gradient.

    ``loss_n = -log sum over alignments a of l_n: exp(sum_t log_probs[t, n, a_t])`` for
    ``t < input_lengths[n]``.

    Parameters
    ----------
    log_probs : ndarray [T, N, C], float32 or float64
        Per-frame class scores, normally ``log_softmax`` outputs; any real values are
        accepted and differentiated as given (no normalisation is assumed).{_ARGS}
    """


def ctc_loss_from_logits(logits, targets, input_lengths, target_lengths, blank=0,
                         reduction="mean", zero_infinity=False):
    return _result(*_core.ctc_loss(logits, targets, input_lengths, target_lengths,
                                   _check_blank(blank), reduction, bool(zero_infinity), True),
                   logits)


ctc_loss_from_logits.__doc__ = f"""CTC loss of ``log_softmax(logits)`` (over C) and its gradient
    w.r.t. ``logits`` (warp-ctc's convention; equals PyTorch's gradient through
    ``F.log_softmax`` + ``F.ctc_loss``). The log-softmax is written into the gradient
    buffer, so no other ``[T, N, C]`` array is allocated.

    Parameters
    ----------
    logits : ndarray [T, N, C], float32 or float64
        Unnormalised per-frame class scores.{_ARGS}
    """


def ctc_workspace_bytes(log_probs, targets, input_lengths, target_lengths, blank=0,
                        from_logits=False, threads=None):
    """Scratch bytes one :func:`ctc_loss` call allocates (once) for these inputs.

    Per thread: alpha for ``T_n * (2 S_n + 3)`` states of the largest utterance, six rows of
    ``2 S + 5`` states (beta in two rows), and with ``from_logits`` one row of ``C``; the
    returned gradient ``[T, N, C]`` is not included. ``threads``: default
    ``seqcore.get_num_threads()`` (at most N are used). Arguments and errors as
    :func:`ctc_loss`; returns an int.
    """
    threads = _core.get_num_threads() if threads is None else int(threads)
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

"""Output layers for large vocabularies: softmax cross-entropy, negative sampling, sampled
softmax and hierarchical softmax, with the unigram sampler and the Huffman tree they use.

Shape legend (see DESIGN.md): ``N`` batch, ``V`` vocabulary, ``D`` embedding (hidden) size,
``K`` negatives per row, ``S`` sampled classes, ``R`` unique output rows touched by a batch.

Dtypes: float32 (fast path) or float64; every floating array must have the dtype of the
first one (``logits``, ``x`` or ``h``), a mismatch raises ``TypeError``. Index arrays are
int32 or int64.

Every loss returns its value and its gradients from one call (as warp-ctc): ``reduction``
is ``"mean"`` (default, as torch), ``"sum"`` or ``"none"`` (per-row losses ``[N]``; the
gradients are then those of their sum). A scalar loss comes back as a NumPy scalar.

The sampled losses never touch or allocate anything of size ``V·D`` or ``N·V``: their
output-weight gradient is sparse, ``rows [R]`` (sorted unique row ids) and ``drows [R, D]``
(the summed gradient of each), so an optimiser updates only those rows::

    loss, dh, rows, drows = negative_sampling_loss(h, w_out, targets, sampler=s, num_negatives=5)
    w_out[rows] -= lr * drows

All kernels are deterministic: bit-identical results for any thread count.
"""
from __future__ import annotations

from collections import namedtuple

import numpy as np

from . import _core
from ._validate import INT64_MAX, INT64_MIN, float_arg, int_arg, option

__all__ = [
    "softmax_cross_entropy", "binary_cross_entropy_with_logits", "log_softmax",
    "UnigramSampler", "HuffmanTree", "negative_sampling_loss", "sampled_softmax_loss",
    "hierarchical_softmax_loss", "hierarchical_softmax_log_probs", "CrossEntropyResult",
    "BCEResult", "SparseLossResult", "SampledSoftmaxResult",
]

CrossEntropyResult = namedtuple("CrossEntropyResult", "loss dlogits")
CrossEntropyResult.__doc__ = """Softmax cross-entropy: loss (scalar or [N]) and dlogits
[N, V] (None when ``grad=False``)."""
BCEResult = namedtuple("BCEResult", "loss dlogits")
BCEResult.__doc__ = """Sigmoid binary cross-entropy: loss (scalar, or the shape of logits) and
dlogits (the shape of logits; None when ``grad=False``)."""
SparseLossResult = namedtuple("SparseLossResult", "loss dh rows drows")
SparseLossResult.__doc__ = """A sampled loss: loss (scalar or [N]), dh [N, D], rows [R]
(sorted unique output-weight rows touched) and drows [R, D] (their summed gradients)."""
SampledSoftmaxResult = namedtuple("SampledSoftmaxResult", "loss dh rows drows dbias")
SampledSoftmaxResult.__doc__ = """Sampled softmax: as SparseLossResult plus dbias [R] (the
bias gradient of each row in ``rows``; None without ``b_out``)."""

_REDUCTION = """reduction : {"mean", "sum", "none"}
        Mean over rows (default, as torch), sum, or the per-row losses ``[N]`` (gradients
        are then those of their sum)."""


def _with_reduction_doc(fn):
    """Fills the shared ``reduction`` paragraph into ``fn``'s docstring (absent under -OO)."""
    if fn.__doc__:
        fn.__doc__ = fn.__doc__.replace("{reduction}", _REDUCTION)


_REDUCTIONS = ("mean", "sum", "none")


def _reduction(reduction):
    return option("reduction", reduction, _REDUCTIONS)


def _scalar(loss, reduction):
    return loss if reduction == "none" else loss[0]


def softmax_cross_entropy(logits, targets, reduction="mean", ignore_index=None,
                          label_smoothing=0.0, grad=True):
    """Softmax cross-entropy over the last axis, fused with its gradient.

    ``loss_n = (1 - ε)·(−log p_n[t_n]) + ε/V · Σ_j (−log p_n[j])`` with
    ``p_n = softmax(logits[n])`` and ``ε = label_smoothing``; the same value and gradient as
    ``torch.nn.functional.cross_entropy(logits, targets, reduction=..., ignore_index=...,
    label_smoothing=...)`` with class-index targets. One pass for the row maximum, one that
    writes ``exp`` into ``dlogits``, one that rescales it: no intermediate ``[N, V]`` array.

    Parameters
    ----------
    logits : ndarray [N, V], float32 or float64
        Unnormalised scores.
    targets : ndarray [N] of int
        Class of each row, in ``[0, V)`` (or equal to ``ignore_index``).
    {reduction}
        With ``"mean"`` the sum is divided by the number of rows not ignored (NaN when all
        are ignored, as torch).
    ignore_index : int or None
        Rows whose target equals it get loss 0 and zero gradient (torch's default is -100;
        here None: no row is ignored).
    label_smoothing : float in [0, 1]
        Mass spread uniformly over the V classes (Szegedy et al. 2016).
    grad : bool
        Also return ``dlogits`` (default); False computes the loss only.

    Returns
    -------
    CrossEntropyResult(loss, dlogits)
        ``loss``: scalar (or ``[N]`` for ``"none"``) of the dtype of logits; ``dlogits
        [N, V]``: gradient of the (reduced) loss, None when ``grad=False``.

    Raises
    ------
    TypeError
        logits not float32/float64, targets not integer.
    ValueError
        logits not 2-D or V = 0, targets not [N], a target outside [0, V) that is not
        ``ignore_index``, label_smoothing outside [0, 1], unknown reduction.
    """
    if ignore_index is not None:
        ignore_index = int_arg("ignore_index", ignore_index, INT64_MIN, INT64_MAX)
    loss, dlogits = _core.softmax_cross_entropy(
        logits, targets, _reduction(reduction), ignore_index,
        float_arg("label_smoothing", label_smoothing, 0.0, 1.0), bool(grad))
    return CrossEntropyResult(_scalar(loss, reduction), dlogits)


_with_reduction_doc(softmax_cross_entropy)


def binary_cross_entropy_with_logits(logits, targets, weight=None, pos_weight=1.0,
                                     reduction="mean", grad=True):
    """Binary cross-entropy of ``sigmoid(logits)`` against ``targets``, fused with its
    gradient: per element ``w · (pos_weight · y · softplus(−z) + (1 − y) · softplus(z))``,
    i.e. ``−w · (pos_weight · y · log σ(z) + (1 − y) · log(1 − σ(z)))`` evaluated without
    forming σ(z) (stable for logits of any size). The per-frame loss of a detector's sigmoid outputs
    (trigger-word detection).

    Parameters
    ----------
    logits : ndarray, any shape, float32 or float64
    targets : ndarray (shape of logits), same dtype
        Labels in [0, 1] (soft labels allowed, as torch).
    weight : ndarray (shape of logits) or None
        Per-element weights (e.g. a mask of padded frames: 0).
    pos_weight : float >= 0
        Weight of the positive term (rare positives: > 1); torch's ``pos_weight`` as a scalar.
    {reduction}
        ``"mean"`` divides by the number of elements (as torch, whatever the weights).
    grad : bool
        Also return ``dlogits`` (default).

    Returns
    -------
    BCEResult(loss, dlogits)

    Raises
    ------
    TypeError
        logits not float32/float64, targets or weight of another dtype.
    ValueError
        targets or weight not the shape of logits, pos_weight negative or not finite,
        unknown reduction.

    Source: ``torch.nn.functional.binary_cross_entropy_with_logits`` (semantics); Ng,
    Sequence Models week 3 (trigger-word detection's per-frame sigmoid).
    """
    pos_weight = float_arg("pos_weight", pos_weight, 0.0, finite=True)
    loss, dlogits = _core.binary_cross_entropy_with_logits(logits, targets, weight, pos_weight,
                                                           _reduction(reduction), bool(grad))
    return BCEResult(_scalar(loss, reduction), dlogits)


_with_reduction_doc(binary_cross_entropy_with_logits)


def log_softmax(x, axis=-1):
    """``x − logsumexp(x, axis)``, numerically stable (max-subtracted), any rank.

    Parameters
    ----------
    x : ndarray [..., V, ...], float32 or float64
    axis : int
        The axis normalised over (default the last).

    Returns
    -------
    ndarray of the shape and dtype of x; ``exp`` of it sums to 1 along ``axis``.

    Raises
    ------
    TypeError
        x not float32/float64.
    ValueError
        x is 0-d or axis out of range.
    """
    a = np.asarray(x)
    if a.dtype not in (np.float32, np.float64):
        raise TypeError(f"x: expected dtype float32 or float64, got {a.dtype}")
    if a.ndim == 0:
        raise ValueError("x: expected at least one dimension, got a 0-d array")
    axis = int_arg("axis", axis)
    if not -a.ndim <= axis < a.ndim:
        raise ValueError(f"axis: expected a value in [{-a.ndim}, {a.ndim}), got {axis}")
    if a.size == 0:
        return a.copy()
    moved = np.moveaxis(a, axis, -1)
    out = _core.log_softmax(np.ascontiguousarray(moved).reshape(-1, moved.shape[-1]))
    return np.moveaxis(out.reshape(moved.shape), -1, axis)


class UnigramSampler:
    """Draws ids with probability ``q(i) = counts[i]^power / Σ_j counts[j]^power``.

    O(1) per sample by Walker's alias method (Vose's construction), O(V) to build: the
    noise distribution of word2vec's negative sampling (power 3/4, Mikolov et al. 2013)
    without its 10⁸-entry table. Random numbers are counter-based (splitmix64 of
    ``(seed, stream, index)``): sample ``i`` of a call depends only on the seed, the call's
    stream number and ``i``, so the samples are identical for any thread count.

    Parameters
    ----------
    counts : ndarray [V], integer or floating
        Non-negative, finite, positive sum; a zero count is never drawn.
    power : float (finite)
        Exponent applied to the counts (0.75 as word2vec; 1: the unigram; 0: uniform over
        the ids with a positive count; < 0 favours rare ids, as gensim's ns_exponent).
    seed : int
        Seed of the random streams.

    Attributes
    ----------
    probs : ndarray [V] float64 — q.
    size : int — V.
    stream : int — the stream number the next :meth:`sample` call uses (each call without
        an explicit ``stream`` takes the next one).

    Raises
    ------
    TypeError
        counts not numeric.
    ValueError
        counts not 1-D or empty, a negative / non-finite count, a zero total, a non-finite
        power, or counts^power overflowing.
    """

    def __init__(self, counts, power=0.75, seed=0):
        self._impl = _core._UnigramSampler(counts, float_arg("power", power, finite=True))
        self._counts = np.array(counts)   # for pickling / copy.deepcopy (the table is C++)
        self.seed = int_arg("seed", seed) & (2**64 - 1)
        self.stream = 0

    def __reduce__(self):
        return type(self), (self._counts, self.power, self.seed), {"stream": self.stream}

    @property
    def size(self):
        return self._impl.size

    @property
    def power(self):
        return self._impl.power

    @property
    def probs(self):
        return self._impl.probs

    def sample(self, shape, stream=None):
        """Draw ids (int64) of the given shape (an int or a tuple).

        ``stream``: draw from that stream (reproducible independently of earlier calls);
        None uses ``self.stream`` and advances it.
        """
        if isinstance(shape, (int, np.integer)) or np.isscalar(shape):
            shape = (shape,)
        elif not isinstance(shape, (tuple, list, np.ndarray)):
            raise TypeError(f"shape: expected an int or a tuple of ints, got "
                            f"{type(shape).__name__}")
        shape = tuple(int_arg("shape", s, 0, INT64_MAX) for s in shape)
        n = 1
        for s in shape:
            n *= s
        if n > INT64_MAX:
            raise ValueError(f"shape: {shape} holds more than 2**63 - 1 samples")
        if stream is None:
            stream = self.stream
            self.stream += 1
        else:
            stream = int_arg("stream", stream)
        return self._impl.sample(self.seed, int(stream) & (2**64 - 1), 0, n).reshape(shape)

    def log_q(self, ids):
        """``log q(ids)`` (float64, the shape of ids; -inf for a zero count).

        Raises ValueError for an id outside [0, V), TypeError for non-integer ids."""
        return self._impl.log_q(ids)

    def __repr__(self):
        return f"UnigramSampler(V={self.size}, power={self.power}, seed={self.seed})"


class HuffmanTree:
    """Binary Huffman tree over a vocabulary, for hierarchical softmax (word2vec.c).

    Built as gensim 4's ``_build_heap``: the two lightest nodes popped from a binary heap
    ordered by count alone and merged V-1 times (the first popped takes bit 0), with Python
    heapq's sift order, so equal counts are resolved exactly as gensim's: the same codes and
    points as gensim for the same vocabulary order; O(V log V), deterministic. Inner node
    ``a`` is the ``a``-th merge; the root is ``V-2``. (word2vec.c's two-queue
    ``CreateBinaryTree`` pairs equal-count words in vocabulary order instead; how ties are
    resolved alone moves a head500 CBOW-hs WS353 Spearman by about +-0.02.) Frequent words
    get codes no longer than rare ones and ``Σ counts·depth`` is minimal (Huffman 1952).

    Word ``w``'s path is ``points[offsets[w]:offsets[w+1]]`` (inner nodes, root first) and
    its code ``codes[...]`` (0/1 bit taken below each): ``P(w | h) = Π_j σ((1 − 2c_j)·
    w_inner[p_j]·h)``, bit 0 being the sigmoid's positive side (word2vec.c's
    ``1 − code − f``).

    Parameters
    ----------
    counts : ndarray [V], integer or floating; non-negative, finite, positive sum; V >= 1.

    Attributes
    ----------
    offsets : ndarray [V+1] int64; points : [offsets[V]] int64; codes : [offsets[V]] uint8
        CSR paths and codes.
    depth : ndarray [V] int64 — code lengths. num_inner : int — V-1. max_depth : int.
    children : ndarray [V-1, 2] int64 — child of inner node a for bit 0/1: a word id if
        < V, else inner node ``child - V``.

    Raises
    ------
    TypeError, ValueError
        As :class:`UnigramSampler` for bad counts.
    """

    def __init__(self, counts):
        self._impl = _core._HuffmanTree(counts)
        self._counts = np.array(counts)   # for pickling / copy.deepcopy (the tree is C++)

    def __reduce__(self):
        return type(self), (self._counts,)

    size = property(lambda self: self._impl.size)
    num_inner = property(lambda self: self._impl.num_inner)
    max_depth = property(lambda self: self._impl.max_depth)
    offsets = property(lambda self: self._impl.offsets)
    points = property(lambda self: self._impl.points)
    codes = property(lambda self: self._impl.codes)
    depth = property(lambda self: self._impl.depth)
    children = property(lambda self: self._impl.children)

    def __repr__(self):
        return f"HuffmanTree(V={self.size}, max_depth={self.max_depth})"


def _check_sampler(sampler, w_out):
    if not isinstance(sampler, UnigramSampler):
        raise TypeError(f"sampler: expected a seqcore.UnigramSampler, got {type(sampler).__name__}")
    V = np.shape(w_out)[0] if np.ndim(w_out) >= 1 else None
    if V is not None and sampler.size != V:
        raise ValueError(f"sampler: it draws from V={sampler.size} ids but w_out has V={V} rows")


def _tree_impl(tree):
    if not isinstance(tree, HuffmanTree):
        raise TypeError(f"tree: expected a seqcore.HuffmanTree, got {type(tree).__name__}")
    return tree._impl


def negative_sampling_loss(h, w_out, targets, negatives=None, *, sampler=None,
                           num_negatives=None, shared_negatives=False, reduction="mean"):
    """word2vec's negative-sampling loss and its gradients (Mikolov et al. 2013).

    ``loss_n = −log σ(w_out[t_n]·h_n) − Σ_k log σ(−w_out[neg_nk]·h_n)``. A negative equal to
    the target is kept (the plain objective; word2vec.c skips it). Cost
    ``O(N·(K+1)·D)``; nothing of size V·D or N·V is touched.

    Parameters
    ----------
    h : ndarray [N, D], float32 or float64
        Hidden states (word2vec: the input vectors).
    w_out : ndarray [V, D]
        Output embeddings (word2vec's syn1neg).
    targets : ndarray [N] of int in [0, V)
    negatives : ndarray [N, K] (per row) or [K] (``shared_negatives=True``) of int, or None
        The negatives; None draws them from ``sampler``.
    sampler : UnigramSampler, optional
        Draws ``num_negatives`` negatives per row (or once for the batch when shared).
    num_negatives : int >= 1
        K when drawing from ``sampler``.
    shared_negatives : bool
        One set of K negatives for the whole batch: the scores and gradients become three
        GEMMs (``H·Wₖᵀ``, ``G·Wₖ``, ``Gᵀ·H``), the HogBatch idea of Ji et al. 2016.
    {reduction}

    Returns
    -------
    SparseLossResult(loss, dh [N, D], rows [R] int64, drows [R, D])
        ``rows``: sorted unique ids of the rows of ``w_out`` touched (targets and
        negatives); ``drows``: the gradient of each, contributions summed in a fixed order.

    Raises
    ------
    TypeError
        h not float32/float64, w_out of another dtype, ids not integer.
    ValueError
        Wrong shapes, an id outside [0, V), K = 0, neither negatives nor sampler given (or
        both), unknown reduction.
    """
    N = np.shape(h)[0] if np.ndim(h) >= 1 else 0
    reduction = _reduction(reduction)
    if (negatives is None) == (sampler is None):
        raise ValueError("negatives: give either negatives or sampler (with num_negatives)")
    if sampler is not None:
        if num_negatives is None:
            raise ValueError("num_negatives: expected K >= 1 with a sampler, got None")
        K = int_arg("num_negatives", num_negatives, 1, INT64_MAX)
        _check_sampler(sampler, w_out)
        negatives = sampler.sample((K,) if shared_negatives else (N, K))
    loss, dh, rows, drows = _core.negative_sampling_loss(h, w_out, targets, negatives,
                                                         bool(shared_negatives), reduction)
    return SparseLossResult(_scalar(loss, reduction), dh, rows, drows)


_with_reduction_doc(negative_sampling_loss)


def sampled_softmax_loss(h, w_out, b_out, targets, sampler, num_sampled,
                         remove_accidental_hits=True, subtract_log_q=True, reduction="mean",
                         sampled=None):
    """Sampled softmax (Jean et al. 2015), TensorFlow's ``tf.nn.sampled_softmax_loss``.

    ``num_sampled`` classes are drawn once for the batch from ``sampler`` (with replacement,
    as TF shares them across the batch); each row's loss is the softmax cross-entropy over
    ``[t_n, s_1 .. s_S]`` with logits ``w_out[j]·h_n + b_out[j] − log q(j)`` (the last term
    with ``subtract_log_q``; TF subtracts ``log(S·q(j))``, which differs by a constant and
    gives the same loss), the true class first. ``remove_accidental_hits`` drops a sampled
    class equal to the row's target (TF sets its logit to −∞). Cost ``O(N·(S+1)·D)`` as
    three GEMMs.

    Parameters
    ----------
    h : ndarray [N, D], float32 or float64
    w_out : ndarray [V, D]; b_out : ndarray [V] or None
    targets : ndarray [N] of int in [0, V)
    sampler : UnigramSampler
        Proposal q (also the source of log q).
    num_sampled : int >= 1
        S.
    remove_accidental_hits, subtract_log_q : bool
    {reduction}
    sampled : ndarray [S] of int, optional
        Use these sampled ids instead of drawing (their log q still comes from sampler).

    Returns
    -------
    SampledSoftmaxResult(loss, dh [N, D], rows [R], drows [R, D], dbias [R] or None)

    Raises
    ------
    TypeError, ValueError
        As :func:`negative_sampling_loss`; num_sampled < 1.
    """
    _check_sampler(sampler, w_out)
    reduction = _reduction(reduction)
    num_sampled = int_arg("num_sampled", num_sampled, 1, INT64_MAX)
    if sampled is None:
        sampled = sampler.sample((num_sampled,))
    lq_true = lq_sampled = None
    if subtract_log_q:
        dtype = np.asarray(h).dtype
        lq_true = sampler._impl.log_q(targets, "targets").astype(dtype, copy=False)
        lq_sampled = sampler._impl.log_q(sampled, "sampled").astype(dtype, copy=False)
    loss, dh, rows, drows, dbias = _core.sampled_softmax_loss(
        h, w_out, b_out, targets, sampled, lq_true, lq_sampled, bool(remove_accidental_hits),
        reduction)
    return SampledSoftmaxResult(_scalar(loss, reduction), dh, rows, drows, dbias)


_with_reduction_doc(sampled_softmax_loss)


def hierarchical_softmax_loss(h, w_inner, targets, tree, reduction="mean"):
    """Hierarchical softmax loss ``−log P(t_n | h_n)`` over a Huffman tree and its gradients.

    ``P(w | h) = Π_j σ((1 − 2c_j)·w_inner[p_j]·h)`` over the path ``p`` and code ``c`` of
    ``w`` (Morin & Bengio 2005; word2vec.c). Cost ``O(N·depth·D)``, about ``log₂ V`` inner
    nodes per row (fewer for frequent words).

    Parameters
    ----------
    h : ndarray [N, D], float32 or float64
    w_inner : ndarray [V-1, D]
        Inner-node vectors (word2vec's syn1).
    targets : ndarray [N] of int in [0, V)
    tree : HuffmanTree
    {reduction}

    Returns
    -------
    SparseLossResult(loss, dh [N, D], rows [R], drows [R, D]) — rows are inner nodes.

    Raises
    ------
    TypeError
        Dtypes as :func:`negative_sampling_loss`; tree not a HuffmanTree.
    ValueError
        Wrong shapes (w_inner must be [V-1, D]), a target outside [0, V), unknown reduction.
    """
    reduction = _reduction(reduction)
    loss, dh, rows, drows = _core.hierarchical_softmax_loss(h, w_inner, _tree_impl(tree),
                                                            targets, reduction)
    return SparseLossResult(_scalar(loss, reduction), dh, rows, drows)


_with_reduction_doc(hierarchical_softmax_loss)


def hierarchical_softmax_log_probs(h, w_inner, tree, ids=None):
    """``log P(w | h_n)`` under hierarchical softmax.

    Parameters
    ----------
    h : ndarray [N, D], float32 or float64
    w_inner : ndarray [V-1, D]
    tree : HuffmanTree
    ids : ndarray [N] or [N, M] of int, or None
        Words to score per row; None: every word (``[N, V]``, one top-down pass over the
        tree per row after an ``[N, V-1]`` score GEMM; each row's exp sums to 1).

    Returns
    -------
    ndarray [N], [N, M] or [N, V] of the dtype of h.

    Raises
    ------
    TypeError, ValueError
        As :func:`hierarchical_softmax_loss`; ids of the wrong shape or out of range.
    """
    impl = _tree_impl(tree)
    if ids is None:
        return _core.hierarchical_softmax_log_probs(h, w_inner, impl, None)
    a = np.asarray(ids)
    if a.ndim == 1:
        N = np.shape(h)[0] if np.ndim(h) >= 1 else 0
        if a.shape[0] != N:
            raise ValueError(f"ids: expected shape [N] = [{N}] or [N, M], got {list(a.shape)}")
        return _core.hierarchical_softmax_log_probs(h, w_inner, impl, a[:, None])[:, 0]
    return _core.hierarchical_softmax_log_probs(h, w_inner, impl, a)

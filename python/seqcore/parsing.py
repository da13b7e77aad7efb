"""Transition-based dependency parsing: the arc-standard system (Nivre 2004) scored by a
feed-forward network over Chen & Manning's (2014) features, decoded greedily or with a beam,
trained locally (cross-entropy on the static oracle's transitions) and then, as SyntaxNet
(Andor et al. 2016), globally: a beam with early update and the CRF loss over the beam.

Shape legend: ``N`` sentences, ``n`` words of one sentence, ``W`` words of a batch (all
sentences concatenated), ``M`` live parser states (beam rows), ``A = 1 + 2L`` transitions
(``L`` dependency labels), ``C`` word attributes, ``F = 18 C + 12`` features, ``K`` beam
width, ``H`` hidden size.

Words are numbered 1..n and 0 is ROOT; a tree is ``head [n]`` (0: attached to ROOT) and
``label [n]``. Transitions: 0 = SHIFT, ``1 + l`` = LEFT-ARC(l) (s1 → s2), ``1 + L + l`` =
RIGHT-ARC(l) (s2 → s1). RIGHT-ARC from ROOT is legal only once the buffer is empty, so every
parse has exactly one word attached to ROOT and 2n transitions.

The state machine (legal moves, features, the beam step, the oracle, the global loss) is C++
(``seqcore._core.ArcStandardBeam``); the scorer runs on the shared embedding and linear
kernels.
"""
from __future__ import annotations

import contextlib
import math
import os
from types import SimpleNamespace
from typing import Any, Callable, Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence

import numpy as np

from . import _core
from ._validate import MAX_EPOCHS, float_arg, int_arg, option, unicode_strings
from .embedding import embedding_backward, embedding_bag_forward, embedding_forward
from .output_layers import log_softmax, softmax_cross_entropy
from .transformer import linear_backward, linear_forward

__all__ = ["num_features", "oracle", "parse", "ParseResult", "attachment_scores",
           "AttachmentScores", "Parser", "Tagger", "ATTRIBUTES"]

_POSITIONS, _LABEL_FEATURES = 18, 12
# Reserved ids of the attribute tables: no such position, ROOT, a value not seen in training.
_NULL, _ROOT, _UNK = 0, 1, 2
_MAX_LABELS = 2**30 - 1      # the C++ state machine's bound (int32 labels)
# A table's pre-computed products are kept when they fit in this: gathering a state's rows
# from memory beats its share of the GEMM (Zen 3, one thread: 58k vs 21k words/s greedy with
# the demo's parser, whose tables then take 165 MB).
_PRECOMPUTED_BYTES = 256 << 20


def num_features(C: int) -> int:
    """F = 18 C + 12: the feature ids of a state with C word attributes (C = 2, form and tag:
    Chen & Manning's 48)."""
    return _POSITIONS * C + _LABEL_FEATURES


class Oracle(NamedTuple):
    """transitions [2W] int64; features [2W, F] int64 (None unless attrs were given)."""
    transitions: np.ndarray
    features: Optional[np.ndarray]


def oracle(lengths, heads, labels, num_labels: int, attrs=None) -> Oracle:
    """The static arc-standard oracle: the transitions that build each gold tree (LEFT-ARC as
    soon as s2's head is s1 and s2 has all its children, RIGHT-ARC once s1 has all its
    children, else SHIFT), and the features of the configuration before each one.

    Parameters
    ----------
    lengths : [N] ints >= 1;  heads, labels : [W] ints (heads in 0..n, labels in 0..L-1)
    num_labels : L
    attrs : [C, W] ids of the words' attributes (form, tag, ...; >= 3: 0, 1, 2 are NULL,
        ROOT, unknown), or None for transitions only.

    Returns
    -------
    :class:`Oracle`

    Raises
    ------
    ValueError
        Naming the sentence, when a tree is not projective (see
        :func:`seqcore.datasets.projectivize`), has a head or label out of range, or is not
        a tree with one word attached to ROOT.
    TypeError
        Non-integer arrays.

    Notes
    -----
    Source: Nivre (2004); Chen & Manning (2014) for the features.
    """
    t, f = _core.arc_standard_oracle(lengths, heads, labels, _num_labels(num_labels), attrs)
    return Oracle(t, f)


def _num_labels(value):
    return int_arg("num_labels", value, 1, _MAX_LABELS)


class ParseResult(NamedTuple):
    """One parse: head [n] int64 (0 = ROOT), label [n] int64, score (sum of its transition
    scores: a log-probability for a locally normalised model)."""
    head: np.ndarray
    label: np.ndarray
    score: float


def parse(score_fn: Callable[[np.ndarray], np.ndarray], lengths, num_labels: int, attrs,
          beam_width: int = 1, k_best: int = 1) -> List[List[ParseResult]]:
    """Parse a batch of sentences with the arc-standard system and a beam.

    Each step asks ``score_fn(features [M, F]) -> scores [M, A]`` (float32/float64) for all
    live states of all sentences at once, and keeps each sentence's ``beam_width`` best
    states by summed score (illegal transitions are never taken). ``beam_width=1`` is greedy
    decoding. For a locally normalised model pass log-probabilities.

    Parameters
    ----------
    score_fn : callable
    lengths : [N] ints >= 1;  num_labels : L;  attrs : [C, W] ids of the words' attributes
    beam_width : K >= 1;  k_best : parses returned per sentence, 1 <= k_best <= K

    Returns
    -------
    list of N lists of :class:`ParseResult`, best first: ``k_best`` each, or all the parses
    of a sentence that has fewer (one word and one label: a single parse).

    Raises ValueError for k_best outside 1..K, bad lengths, wrong score shapes or NaN scores.
    Source: Zhang & Clark (2008) beam search for transition parsing; SyntaxNet.
    """
    K = int_arg("beam_width", beam_width, 1, 1 << 20)
    k = int_arg("k_best", k_best, 1)
    if k > K:
        raise ValueError(f"k_best: expected at most beam_width={K}, got {k} (the beam holds "
                         f"only {K} parses)")
    beam = _core.ArcStandardBeam(lengths, _num_labels(num_labels), K)
    while not beam.done():
        beam.advance(score_fn(beam.features(attrs)))
    return [[ParseResult(h, l, s) for h, l, s in item[:k]] for item in beam.results()]


class AttachmentScores(NamedTuple):
    """uas, las in percent; words counted (punctuation included, as CoNLL 2018)."""
    uas: float
    las: float
    words: int


def attachment_scores(gold_heads: Iterable, gold_labels: Iterable, pred_heads: Iterable,
                      pred_labels: Iterable) -> AttachmentScores:
    """Unlabelled / labelled attachment score over all words (punctuation included): the
    percentage of words with the right head (and the right head and label).

    Each argument is a sequence of per-sentence arrays [n] (labels as ints or strings).
    Raises ValueError when the sentences or their lengths differ, or there are no words.
    """
    gh, gl, ph, pl = (list(x) for x in (gold_heads, gold_labels, pred_heads, pred_labels))
    if not len(gh) == len(gl) == len(ph) == len(pl):
        raise ValueError(f"pred_heads: expected {len(gh)} sentences (as gold_heads), got "
                         f"{len(ph)} heads and {len(pl)} label lists")
    words = head_ok = both_ok = 0
    for i, (a, b, c, d) in enumerate(zip(gh, gl, ph, pl)):
        a, c = np.asarray(a), np.asarray(c)
        b, d = np.asarray(b), np.asarray(d)
        if not a.shape == b.shape == c.shape == d.shape or a.ndim != 1:
            raise ValueError(f"pred_heads: sentence {i} has {c.shape} heads and {d.shape} "
                             f"labels, gold {a.shape}")
        ok = a == c
        words += a.size
        head_ok += int(ok.sum())
        both_ok += int((ok & (b == d)).sum())
    if words == 0:
        raise ValueError("gold_heads: no words to score")
    return AttachmentScores(100.0 * head_ok / words, 100.0 * both_ok / words, words)


#: Word attributes a Parser can read: the form, its last three characters lower-cased (the
#: inflection of an agglutinative language), and the CoNLL-U tag columns.
ATTRIBUTES = ("form", "suffix", "upos", "xpos", "feats")
_FROM_FORM = ("form", "suffix")


class _Tree(NamedTuple):
    values: dict          # attribute -> list of n strings
    head: Optional[np.ndarray]
    deprel: Optional[List[str]]


def _column(s, key, i, name):
    """A CoNLL-U column of a sentence's syntactic words (from its conllu TokenList)."""
    tokens = getattr(s, "tokens", None)
    if tokens is None:
        raise ValueError(f"{name}: sentence {i} has no CoNLL-U tokens to read {key} from "
                         f"(give it in tags=)")
    return ["_" if t.get(key) is None else str(t.get(key)) for t in tokens
            if isinstance(t.get("id"), int)]


def _trees(sentences, attributes, tags, name, gold):
    """The attribute values (and, with gold, the tree) of each sentence. ``tags``: None, a
    list of per-sentence UPOS lists, or a mapping attribute -> per-sentence lists."""
    if tags is not None and not isinstance(tags, dict):
        tags = {"upos": tags}
    tags = tags or {}
    for k, v in tags.items():
        if k in _FROM_FORM or k not in ATTRIBUTES:
            raise ValueError(f"tags: {k!r} is not a tag column ({', '.join(ATTRIBUTES[2:])})")
        if len(v) != len(sentences):
            raise ValueError(f"tags: expected {len(sentences)} {k} lists (one per sentence), "
                             f"got {len(v)}")
    out = []
    for i, s in enumerate(sentences):
        form = getattr(s, "form", None)
        if form is None or isinstance(s, (str, bytes)):
            raise TypeError(f"{name}: item {i} is not a sentence with a form list "
                            f"(seqcore.datasets.Sentence)")
        n = len(form)
        if n == 0:
            raise ValueError(f"{name}: sentence {i} is empty")
        values = {}
        for a in attributes:
            if a == "form":
                v = list(map(str, form))
            elif a == "suffix":
                v = [str(w).lower()[-3:] for w in form]
            elif a in tags:
                v = list(tags[a][i])
            elif a == "upos" and getattr(s, "upos", None) is not None:
                v = list(s.upos)
            else:
                v = _column(s, a, i, name)
            if len(v) != n:
                raise ValueError(f"{'tags' if a in tags else name}: sentence {i} has {n} words "
                                 f"but {len(v)} {a} values")
            values[a] = v
        head = deprel = None
        if gold:
            try:
                head, deprel = np.asarray(s.head, np.int64), list(s.deprel)
            except (AttributeError, TypeError, ValueError):
                raise TypeError(f"{name}: item {i} has no head and deprel (a gold tree)"
                                ) from None
            if head.shape != (n,) or len(deprel) != n:
                raise ValueError(f"{name}: sentence {i} has {n} words but {head.shape} heads "
                                 f"and {len(deprel)} labels")
        out.append(_Tree(values, head, deprel))
    if not out:
        raise ValueError(f"{name}: no sentences")
    return out


class Parser:
    """Chen & Manning's (2014) neural arc-standard parser, with SyntaxNet's beam search and
    globally normalised training (Andor et al. 2016), on seqcore kernels.

    Scorer: the feature ids (the ``attributes`` of 18 stack/buffer/child positions and the
    labels of 12) → embeddings (``dims[attribute]``, labels ``label_dim``) concatenated →
    ``Linear + ReLU`` (``hidden``) → ``Linear`` → ``A`` transition scores. Form and suffix
    values seen fewer than ``min_count`` times in training are the unknown value. float32.

    attributes : subset of :data:`ATTRIBUTES`, in order. ``upos``/``xpos``/``feats`` are read
        from the sentences (gold) unless predicted ones are passed as ``tags``.

    Non-projective training trees are projectivised by lifting (see
    :func:`seqcore.datasets.projectivize`); evaluation is against the original trees.
    """

    def __init__(self, attributes: Sequence[str] = ("form", "suffix", "upos"),
                 dims: Optional[dict] = None, label_dim: int = 32, hidden: int = 256,
                 min_count: int = 2, seed: int = 0):
        attributes = tuple(attributes)
        if not attributes or len(set(attributes)) != len(attributes):
            raise ValueError(f"attributes: expected distinct names, got {attributes}")
        for a in attributes:
            option("attributes", a, ATTRIBUTES)
        self.attributes = attributes
        default = {"form": 64}
        dims = dict(dims or {})
        self.dims = {a: int_arg(f"dims[{a!r}]", dims.pop(a, default.get(a, 32)), 1)
                     for a in attributes}
        if dims:
            raise ValueError(f"dims: {sorted(dims)} are not among attributes {attributes}")
        self.label_dim = int_arg("label_dim", label_dim, 1)
        self.hidden = int_arg("hidden", hidden, 1)
        self.min_count = int_arg("min_count", min_count, 1)
        self.seed = int_arg("seed", seed, 0)
        self.vocab: dict = {a: [] for a in attributes}
        self.labels: List[str] = []
        self.params: dict = {}
        #: (phase, epoch, dev UAS, dev LAS) of each epoch of the last fit with dev sentences.
        self.history: List[tuple] = []
        self._pre: Any = None

    # ---- vocabulary and ids ----------------------------------------------------------------

    def _build_vocab(self, trees):
        for a in self.attributes:
            counts: dict = {}
            for t in trees:
                for v in t.values[a]:
                    counts[v] = counts.get(v, 0) + 1
            keep = self.min_count if a in _FROM_FORM else 1
            self.vocab[a] = sorted(v for v, c in counts.items() if c >= keep)
        self.labels = sorted({r for t in trees for r in t.deprel})
        self._index()

    def _index(self):
        self._ids_of = {a: {v: i + 3 for i, v in enumerate(self.vocab[a])}
                        for a in self.attributes}
        self._label_id = {r: i for i, r in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def _ids(self, trees):
        """lengths [N] and attrs [C, W] of a batch."""
        lengths = np.array([len(t.values[self.attributes[0]]) for t in trees], np.int64)
        W = int(lengths.sum())
        attrs = np.empty((len(self.attributes), W), np.int64)
        for k, a in enumerate(self.attributes):
            ids = self._ids_of[a]
            attrs[k] = np.fromiter((ids.get(v, _UNK) for t in trees for v in t.values[a]),
                                   np.int64, W)
        return lengths, attrs

    def _label_ids(self, trees, name):
        out = []
        for i, t in enumerate(trees):
            try:
                out.extend(self._label_id[r] for r in t.deprel)
            except KeyError as err:
                raise ValueError(f"{name}: sentence {i} has the label {err.args[0]!r}, not "
                                 f"one of the {len(self.labels)} labels seen in training"
                                 ) from None
        return np.array(out, np.int64)

    # ---- the scorer ------------------------------------------------------------------------

    def _tables(self):
        """(parameter name, feature columns, dim) of each embedding table, in feature order."""
        out = [(f"{a}_embedding", slice(_POSITIONS * k, _POSITIONS * (k + 1)), self.dims[a])
               for k, a in enumerate(self.attributes)]
        out.append(("label_embedding", slice(_POSITIONS * len(self.attributes), None),
                    self.label_dim))
        return out

    def _shapes(self):
        """Name -> shape of every parameter (from the sizes and vocabularies alone)."""
        A = 1 + 2 * self.num_labels
        D = sum(_POSITIONS * self.dims[a] for a in self.attributes) + \
            _LABEL_FEATURES * self.label_dim
        shapes = {f"{a}_embedding": (len(self.vocab[a]) + 3, self.dims[a])
                  for a in self.attributes}
        shapes["label_embedding"] = (self.num_labels + 1, self.label_dim)
        shapes.update({"hidden.weight": (self.hidden, D), "hidden.bias": (self.hidden,),
                       "output.weight": (A, self.hidden), "output.bias": (A,)})
        return shapes

    def _init_params(self):
        self.params = _initial_weights(self._shapes(), np.random.default_rng(self.seed),
                                       np.dtype(np.float32))

    def _forward(self, feats, rng=None, dropout=0.0):
        """Transition scores [M, A] of features [M, F] and the caches of the backward."""
        p, M = self.params, len(feats)
        x = np.concatenate([embedding_forward(p[name], feats[:, cols]).reshape(M, -1)
                            for name, cols, _ in self._tables()], axis=1)
        h, c1 = linear_forward(x, p["hidden.weight"], p["hidden.bias"], "relu")
        mask = None
        if dropout > 0.0 and rng is not None:
            mask = (rng.random(h.shape, np.float32) >= dropout).astype(h.dtype)
            mask /= h.dtype.type(1.0 - dropout)
            h = h * mask
        s, c2 = linear_forward(h, p["output.weight"], p["output.bias"])
        return s, (feats, c1, c2, mask)

    def _backward(self, cache, ds):
        feats, c1, c2, mask = cache
        p, M = self.params, len(feats)
        g2 = linear_backward(c2, ds)
        g1 = linear_backward(c1, g2.dx if mask is None else g2.dx * mask)
        grads = {"hidden.weight": g1.dweight, "hidden.bias": g1.dbias,
                 "output.weight": g2.dweight, "output.bias": g2.dbias}
        col = 0
        for name, cols, dim in self._tables():
            ids = feats[:, cols]
            width = ids.shape[1] * dim
            block = np.ascontiguousarray(g1.dx[:, col:col + width]).reshape(M, ids.shape[1], dim)
            col += width
            g = embedding_backward(block, ids, p[name].shape[0])
            dense = np.zeros_like(p[name])
            dense[g.rows] = g.grads
            grads[name] = dense
        return grads

    def _precomputed(self):
        """Chen & Manning's (2014, sec. 3.2) pre-computation: the hidden layer's product split
        by feature, ``W1_j e`` for every (feature j, id), stacked as one table
        [sum_j V_j, H], so that a state's pre-activation is one embedding bag of F rows
        instead of a [D] x [D, H] product. A table whose products would exceed 256 MB (a
        vocabulary of ~14k forms at H = 256) keeps its features in one GEMM with its columns
        of W1. Rebuilt after training or loading."""
        if self._pre is None:
            W1 = self.params["hidden.weight"]
            H = W1.shape[0]
            big_cols, big_w, blocks, small_cols, starts = [], [], [], [], []
            col, row = 0, 0
            for name, cols, dim in self._tables():
                E = self.params[name]
                count = _LABEL_FEATURES if name == "label_embedding" else _POSITIONS
                feats = np.arange(cols.start, cols.start + count)
                if count * E.shape[0] * H * 4 > _PRECOMPUTED_BYTES:
                    big_cols.append(feats)
                    big_w.append(W1[:, col:col + count * dim])
                    col += count * dim
                    continue
                for j in feats:
                    blocks.append(linear_forward(E, np.ascontiguousarray(W1[:, col:col + dim])
                                                 )[0])
                    small_cols.append(j)
                    starts.append(row)
                    row += E.shape[0]
                    col += dim
            self._pre = SimpleNamespace(
                big_cols=np.concatenate(big_cols) if big_cols else np.zeros(0, np.int64),
                big_tables=[t for t in self._tables()
                            if any(c[0] == t[1].start for c in big_cols)],
                w_big=np.ascontiguousarray(np.concatenate(big_w, axis=1)) if big_w else None,
                small_cols=np.array(small_cols, np.int64), starts=np.array(starts, np.int64),
                table=np.concatenate(blocks) if blocks else None)
        return self._pre

    def _raw_scores(self, features) -> np.ndarray:
        """Transition scores [M, A] by the pre-computed hidden layer (inference)."""
        pre, p = self._precomputed(), self.params
        f = np.asarray(features, np.int64)
        M = len(f)
        if pre.w_big is not None:
            x = np.concatenate([embedding_forward(p[name], f[:, cols]).reshape(M, -1)
                                for name, cols, _ in pre.big_tables], axis=1)
            h = linear_forward(x, pre.w_big, p["hidden.bias"])[0]
        else:
            h = np.broadcast_to(p["hidden.bias"], (M, len(p["hidden.bias"]))).copy()
        if pre.table is not None:
            S = len(pre.small_cols)
            h += embedding_bag_forward(pre.table, (f[:, pre.small_cols] + pre.starts).ravel(),
                                       np.arange(0, M * S + 1, S), "sum")
        np.maximum(h, 0, out=h)
        return linear_forward(h, p["output.weight"], p["output.bias"])[0]

    def scores(self, features) -> np.ndarray:
        """Transition log-probabilities [M, A] (float32) of feature ids [M, F]."""
        return log_softmax(self._raw_scores(features))

    # ---- training --------------------------------------------------------------------------

    def fit(self, sentences: Sequence[Any], epochs: int = 10, batch_size: int = 256,
            lr: float = 1e-3, dropout: float = 0.3, global_epochs: int = 0,
            global_beam_width: int = 8, global_batch: int = 16, global_lr: float = 5e-4,
            global_averaging: float = 0.999, tag_dropout: float = 0.0,
            self_normalization: float = 0.0, dev: Optional[Sequence[Any]] = None,
            dev_tags: Any = None, progress: bool = True,
            warm_start: bool = False) -> "Parser":
        """Train on gold trees (Sentence-like items: form, head, deprel, and the tag columns
        among the attributes).

        First ``epochs`` passes of locally normalised training (cross-entropy of each oracle
        transition given its configuration, Adam, ``dropout`` on the hidden layer), then
        ``global_epochs`` passes of globally normalised training (Andor et al. 2016): a beam
        of ``global_beam_width`` per sentence with early update, the CRF loss over the beam,
        ``global_batch`` sentences per Adam step at ``global_lr``. Global training keeps an
        exponential moving average of the weights (SyntaxNet's parameter averaging: decay
        ``min(global_averaging, (1 + t) / (10 + t))`` at step t; 0 for none), and it is the
        averaged weights that are scored on dev and kept.

        ``self_normalization``: the weight alpha of Devlin et al.'s (2014) penalty
        ``alpha * log(Z)^2`` added to the local loss (Z: the softmax's normaliser of a
        configuration's scores), which drives the raw scores towards log-probabilities; a
        self-normalised local model is then a good start for the globally normalised one,
        which sums raw scores (a plain one is not: its raw scores are offset by log Z).

        ``tag_dropout``: each tag feature (upos, xpos, feats; in global training each word's
        tags) is replaced by the unknown value with this probability, so that the parser
        learns not to trust a tagger's predictions blindly (it is trained on gold tags).

        With ``dev`` sentences, each epoch ends with the dev LAS (greedy for local epochs, beam
        ``global_beam_width`` for global ones) and the weights of the best epoch of each phase
        are kept (early stopping); :attr:`history` lists the scores. ``dev_tags``: the tags
        to parse dev with (a tagger's, as :meth:`predict` takes them), else dev's own.

        Non-projective trees are projectivised by lifting for training. ``warm_start`` keeps
        the vocabularies and weights of an earlier fit (scikit-learn's option): e.g. a local
        fit, then ``fit(..., epochs=0, global_epochs=2, warm_start=True)``. Returns self.
        Raises ValueError / TypeError for bad sentences or hyper-parameters.
        """
        from .datasets.treebank import projectivize
        from .optim import Adam
        trees = _trees(sentences, self.attributes, None, "sentences", gold=True)
        epochs = int_arg("epochs", epochs, 0, MAX_EPOCHS)
        global_epochs = int_arg("global_epochs", global_epochs, 0, MAX_EPOCHS)
        batch_size = int_arg("batch_size", batch_size, 1)
        dropout = float_arg("dropout", dropout, 0.0, 1.0)
        if dropout >= 1.0:
            raise ValueError("dropout: expected a value in [0, 1)")
        tag_dropout = float_arg("tag_dropout", tag_dropout, 0.0, 1.0)
        self_normalization = float_arg("self_normalization", self_normalization, 0.0)
        global_averaging = float_arg("global_averaging", global_averaging, 0.0, 1.0)
        if global_averaging >= 1.0:
            raise ValueError("global_averaging: expected a value in [0, 1)")
        if not (warm_start and self.params):
            self._build_vocab(trees)
            self._init_params()
        self._pre = None
        trees = [t._replace(head=projectivize(t.head)) for t in trees]
        lengths, attrs = self._ids(trees)
        heads = np.concatenate([t.head for t in trees])
        labels = self._label_ids(trees, "sentences")
        gold, feats = oracle(lengths, heads, labels, self.num_labels, attrs)
        assert feats is not None
        rng = np.random.default_rng(self.seed + 1)
        opt = Adam(self.params, lr=float_arg("lr", lr, 0.0))
        bar = _progress(progress, epochs * math.ceil(len(gold) / batch_size), "parser (local)")
        self.history.clear()
        best = _Best(self, dev, dev_tags, 1, False)
        tag_cols = np.concatenate([np.arange(_POSITIONS * k, _POSITIONS * (k + 1))
                                   for k, a in enumerate(self.attributes)
                                   if a not in _FROM_FORM] or [np.zeros(0, np.int64)])
        for epoch in range(epochs):
            order = rng.permutation(len(gold))
            for b0 in range(0, len(order), batch_size):
                idx = order[b0:b0 + batch_size]
                f = feats[idx]
                if tag_dropout > 0 and len(tag_cols):
                    t = f[:, tag_cols]
                    t[(rng.random(t.shape) < tag_dropout) & (t > _UNK)] = _UNK
                    f[:, tag_cols] = t
                s, cache = self._forward(f, rng, dropout)
                res = softmax_cross_entropy(s, gold[idx])
                dlogits = (_self_normalization_grad(s, res.dlogits, self_normalization)
                           if self_normalization else res.dlogits)
                opt.step(self._backward(cache, dlogits))
                _tick(bar, float(res.loss))
            best.epoch_end("local", epoch + 1, bar)
        best.finish(bar)
        if global_epochs:
            self._fit_global(gold, lengths, attrs, global_epochs,
                             int_arg("global_beam_width", global_beam_width, 1),
                             int_arg("global_batch", global_batch, 1),
                             float_arg("global_lr", global_lr, 0.0), global_averaging, rng,
                             progress, dev, dev_tags, tag_dropout)
        return self

    def _fit_global(self, gold, lengths, attrs, epochs, K, batch, lr, averaging, rng,
                    progress, dev, dev_tags, tag_dropout):
        from .optim import Adam
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        opt = Adam(self.params, lr=lr)
        average = _ParameterAverage(self.params, averaging)
        bar = _progress(progress, epochs * math.ceil(len(lengths) / batch), "parser (global)")
        best = _Best(self, dev, dev_tags, K, True)
        best.epoch_end("global", 0, bar)     # the start: global epochs must beat it
        for epoch in range(epochs):
            order = rng.permutation(len(lengths))
            for b0 in range(0, len(order), batch):
                sel = order[b0:b0 + batch]
                a = np.concatenate([attrs[:, offsets[i]:offsets[i + 1]] for i in sel], axis=1)
                for k, name in enumerate(self.attributes):
                    if tag_dropout > 0 and name not in _FROM_FORM:
                        a[k][(rng.random(a.shape[1]) < tag_dropout) & (a[k] > _UNK)] = _UNK
                g = np.concatenate([gold[2 * offsets[i]:2 * offsets[i + 1]] for i in sel])
                beam = _core.ArcStandardBeam(lengths[sel], self.num_labels, K, g)
                feats = []
                while not beam.done():
                    feats.append(beam.features(a))
                    beam.advance(self._forward(feats[-1])[0])
                loss, _, dscores = beam.global_loss()
                # One backward over every scored state of every step (the forward again,
                # batched: cheaper than keeping each small step's activations).
                _, cache = self._forward(np.concatenate(feats))
                total = self._backward(cache, (np.concatenate(dscores) / len(sel)
                                               ).astype(np.float32))
                opt.step(total)
                average.update(self.params)
                _tick(bar, float(loss.mean()))
            with average.swapped_in(self.params):
                best.epoch_end("global", epoch + 1, bar)
        if dev is None:
            average.swap(self.params)      # no dev to choose by: the last average
        best.finish(bar)

    # ---- inference -------------------------------------------------------------------------

    def _check_fitted(self):
        if not self.params:
            raise ValueError("parser: not trained (call fit or load first)")

    def predict(self, sentences: Sequence[Any], beam_width: int = 1, k_best: int = 1,
                tags: Any = None, global_scores: bool = False) -> List[List[ParseResult]]:
        """Parse sentences (Sentence-like; the form and the tag attributes are read).
        ``beam_width`` 1 is greedy. Returns ``k_best`` :class:`ParseResult` per sentence,
        best first, whose ``label`` indexes :attr:`labels`.

        tags : None (the sentences' own columns), per-sentence UPOS lists (a tagger's), or a
            mapping attribute -> per-sentence lists.
        global_scores : rank by summed raw scores (the globally normalised model's), not by
            summed log-probabilities.

        Raises ValueError for an untrained parser, empty sentences, tags of the wrong length
        or k_best > beam_width; TypeError for items that are not sentences.
        """
        self._check_fitted()
        trees = _trees(sentences, self.attributes, tags, "sentences", gold=False)
        lengths, attrs = self._ids(trees)
        fn = self._raw_scores if global_scores else self.scores
        return parse(fn, lengths, self.num_labels, attrs, beam_width, k_best)

    def evaluate(self, sentences: Sequence[Any], beam_width: int = 1, tags: Any = None,
                 global_scores: bool = False) -> AttachmentScores:
        """UAS/LAS (punctuation included) of :meth:`predict`'s best parses against the
        sentences' own (possibly non-projective) trees. A gold label the parser never saw in
        training counts as a wrong label."""
        gold = _trees(sentences, (), None, "sentences", gold=True)
        pred = self.predict(sentences, beam_width, 1, tags, global_scores)
        names = np.array(self.labels, object)
        return attachment_scores([t.head for t in gold], [np.array(t.deprel, object)
                                                          for t in gold],
                                 [p[0].head for p in pred], [names[p[0].label] for p in pred])

    def to_conllu(self, sentences: Sequence[Any], parses: Sequence[Any]) -> str:
        """CoNLL-U text of the sentences with HEAD and DEPREL from ``parses`` (one
        :class:`ParseResult`, or a k-best list whose first is used, per sentence). Sentences
        read from CoNLL-U keep their other columns, comments and multiword tokens; others
        get ID, FORM and UPOS. Raises ValueError when the counts or lengths differ."""
        from .datasets.treebank import _conllu
        conllu = _conllu()
        if len(sentences) != len(parses):
            raise ValueError(f"parses: expected {len(sentences)} (one per sentence), got "
                             f"{len(parses)}")
        out = []
        for i, (s, p) in enumerate(zip(sentences, parses)):
            p = p[0] if isinstance(p, list) else p
            n = len(s.form)
            if len(p.head) != n:
                raise ValueError(f"parses: sentence {i} has {n} words, its parse {len(p.head)}")
            tokens = getattr(s, "tokens", None)
            if tokens is None:
                tokens = conllu.TokenList([{"id": j + 1, "form": w, "lemma": None,
                                            "upos": getattr(s, "upos", None) and s.upos[j],
                                            "xpos": None, "feats": None, "head": None,
                                            "deprel": None, "deps": None, "misc": None}
                                           for j, w in enumerate(s.form)])
            copy = conllu.TokenList([dict(t) for t in tokens], metadata=dict(tokens.metadata))
            for t in copy:
                if isinstance(t["id"], int):
                    t["head"] = int(p.head[t["id"] - 1])
                    t["deprel"] = self.labels[int(p.label[t["id"] - 1])]
            out.append(copy.serialize())
        return "".join(out)

    # ---- persistence -----------------------------------------------------------------------

    def save(self, path) -> None:
        """Write the parser (vocabularies, sizes, weights) to an ``.npz`` file."""
        self._check_fitted()
        meta = dict(attributes=self.attributes, dims=self.dims, label_dim=self.label_dim,
                    hidden=self.hidden, min_count=self.min_count, seed=self.seed)
        arrays: Dict[str, Any] = {"vocab:" + a: np.array(self.vocab[a], dtype=str)
                                  for a in self.attributes}
        arrays.update({"param:" + k: v for k, v in self.params.items()})
        np.savez(path, meta=np.array(repr(meta)), labels=np.array(self.labels, dtype=str),
                 **arrays)

    @classmethod
    def load(cls, path) -> "Parser":
        """Read a parser written by :meth:`save`.

        Raises ValueError (naming the path) for a file that is not one: not an ``.npz`` of
        plain arrays, bad metadata, or a missing or misshapen weight (checked before any
        weight is allocated); OSError when it cannot be read.
        """
        meta, arrays, where = _read_model(path, "Parser")
        try:
            p = cls(**meta)
            p.labels = _strings(arrays, "labels")
            p.vocab = {a: _strings(arrays, "vocab:" + a) for a in p.attributes}
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"{where} ({err})") from None
        p._index()
        p.params = _weights(arrays, p._shapes(), np.dtype(np.float32), where)
        return p


class Tagger:
    """A sequence tagger for the CoNLL-U tag columns (UPOS, and optionally XPOS and FEATS,
    one softmax head each), on seqcore kernels. Two models:

    * ``"bilstm"``: each word's form embedding and the sum of its affix embeddings (the
      lower-cased suffixes of 1 to 4 characters and prefixes of 1 to 3: the inflection and
      derivation of an agglutinative language) → a bidirectional :class:`seqcore.LSTM` over
      the sentence (with ``lengths``) → a linear head per column (the many-to-many RNN of the
      Sequence Models course; Plank et al. 2016 with affixes for characters).
    * ``"window"``: *Fundamentals of Deep Learning* ch. 9's feed-forward tagger: the same
      embeddings of the ``2 window + 1`` words around each word, concatenated →
      ``Linear + ReLU`` → the heads.

    Forms and affixes seen fewer than ``min_count`` times are the unknown value; during
    training a form seen ``c`` times is replaced by the unknown one with probability
    ``0.25 / (0.25 + c)`` (word dropout, Kiperwasser & Goldberg 2016), so that the model
    learns to tag from affixes, and ``dropout`` is applied to the trunk's input and output. ``dtype``: float32 (fast) or float64.
    """

    def __init__(self, kind: str = "bilstm", columns: Sequence[str] = ("upos",),
                 form_dim: int = 64, affix_dim: int = 64, hidden: int = 128,
                 window: int = 2, min_count: int = 2, dropout: float = 0.25, seed: int = 0,
                 dtype: Any = np.float32):
        self.kind = option("kind", kind, ("bilstm", "window"))
        columns = tuple(columns)
        if not columns or len(set(columns)) != len(columns):
            raise ValueError(f"columns: expected distinct names, got {columns}")
        for c in columns:
            option("columns", c, ATTRIBUTES[2:])
        self.columns = columns
        self.form_dim = int_arg("form_dim", form_dim, 1)
        self.affix_dim = int_arg("affix_dim", affix_dim, 1)
        self.dropout = float_arg("dropout", dropout, 0.0, 0.9)
        self.hidden = int_arg("hidden", hidden, 1)
        self.window = int_arg("window", window, 0, 10)
        self.min_count = int_arg("min_count", min_count, 1)
        self.seed = int_arg("seed", seed, 0)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.vocab: dict = {}
        self.params: dict = {}
        self._lstm = None

    _INPUTS = ("form",)
    _AFFIXES = 7

    @staticmethod
    def _affixes(form):
        """The 7 affix strings of a form: suffixes of 1-4 characters, prefixes of 1-3."""
        w = form.lower()
        return [f"s{k}:{w[-k:]}" for k in range(1, 5)] + [f"p{k}:{w[:k]}" for k in range(1, 4)]

    def _build_vocab(self, trees):
        counts: dict = {}
        for t in trees:
            for v in t.values["form"]:
                counts[v] = counts.get(v, 0) + 1
        self._form_counts = counts
        affix_counts: dict = {}
        for w, c in counts.items():
            for x in self._affixes(w):
                affix_counts[x] = affix_counts.get(x, 0) + c
        self.vocab["form"] = sorted(v for v, c in counts.items() if c >= self.min_count)
        self.vocab["affix"] = sorted(v for v, c in affix_counts.items() if c >= self.min_count)
        for c in self.columns:
            self.vocab[c] = sorted({v for t in trees for v in t.values[c]})
        self._index()

    def _index(self):
        self._ids_of = {a: {v: i + 3 for i, v in enumerate(self.vocab[a])}
                        for a in ("form", "affix")}
        self._tag_of = {c: {v: i for i, v in enumerate(self.vocab[c])} for c in self.columns}

    def _shapes(self):
        """Name -> shape of every parameter (from the sizes and vocabularies alone)."""
        E, H = self.form_dim + self.affix_dim, self.hidden
        shapes = {"form_embedding": (len(self.vocab["form"]) + 3, self.form_dim),
                  "affix_embedding": (len(self.vocab["affix"]) + 3, self.affix_dim)}
        if self.kind == "bilstm":
            for sfx in ("l0", "l0_reverse"):     # seqcore.LSTM's (torch's) names
                shapes.update({f"lstm.weight_ih_{sfx}": (4 * H, E),
                               f"lstm.weight_hh_{sfx}": (4 * H, H),
                               f"lstm.bias_ih_{sfx}": (4 * H,), f"lstm.bias_hh_{sfx}": (4 * H,)})
            out = 2 * H
        else:
            shapes.update({"hidden.weight": (H, (2 * self.window + 1) * E), "hidden.bias": (H,)})
            out = H
        for c in self.columns:
            shapes.update({f"{c}.weight": (len(self.vocab[c]), out),
                           f"{c}.bias": (len(self.vocab[c]),)})
        return shapes

    def _init_params(self):
        """Embeddings N(0, 0.1^2), the LSTM as torch initialises it, other weights
        U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases 0."""
        from .layers import LSTM
        rng = np.random.default_rng(self.seed)
        self.params = {}
        if self.kind == "bilstm":
            self._lstm = LSTM(self.form_dim + self.affix_dim, self.hidden, bidirectional=True,
                              dtype=self.dtype, seed=self.seed + 1)
            self.params.update({"lstm." + k: v for k, v in self._lstm.named_parameters()})
        self.params.update(_initial_weights(
            {k: v for k, v in self._shapes().items() if not k.startswith("lstm.")}, rng,
            self.dtype))

    def _batch(self, trees, rng=None):
        """Padded ids of forms [T, N] and affixes [T, N, 7] (0 past a sentence's end),
        lengths [N]; with ``rng`` (training) word dropout on the forms."""
        lengths = np.array([len(t.values["form"]) for t in trees], np.int64)
        T, N = int(lengths.max()), len(trees)
        ids = {"form": np.zeros((T, N), np.int64),
               "affix": np.zeros((T, N, self._AFFIXES), np.int64)}
        fm, am = self._ids_of["form"], self._ids_of["affix"]
        for n, t in enumerate(trees):
            forms, L = t.values["form"], lengths[n]
            col = np.fromiter((fm.get(v, _UNK) for v in forms), np.int64, L)
            if rng is not None:
                c = np.fromiter((self._form_counts.get(v, 0) for v in forms), np.float64, L)
                col[rng.random(L) < 0.25 / (0.25 + c)] = _UNK
            ids["form"][:L, n] = col
            ids["affix"][:L, n] = [[am.get(x, _UNK) for x in self._affixes(w)] for w in forms]
        return ids, lengths

    def _forward(self, ids, lengths, training):
        """Logits of each column [T, N, V_c] and the caches of the backward."""
        p = self.params
        x = np.concatenate([embedding_forward(p["form_embedding"], ids["form"]),
                            embedding_forward(p["affix_embedding"], ids["affix"]).sum(axis=2)],
                           axis=2)
        T, N, E = x.shape
        masks = [None, None]
        if training and self.dropout > 0:
            keep = 1.0 - self.dropout
            masks[0] = (self._rng.random(x.shape) < keep).astype(x.dtype) / x.dtype.type(keep)
            x = x * masks[0]
        if self.kind == "bilstm":
            h, _, lstm_cache = self._lstm.forward(x, lengths=lengths, training=training)
            trunk = (lstm_cache,)
            if masks[0] is not None:
                masks[1] = (self._rng.random(h.shape) < keep).astype(h.dtype) / h.dtype.type(keep)
                h = h * masks[1]
        else:
            w = self.window
            padded = np.zeros((T + 2 * w, N, E), x.dtype)
            padded[w:w + T] = x
            win = np.concatenate([padded[j:j + T] for j in range(2 * w + 1)], axis=2)
            h, hc = linear_forward(win, p["hidden.weight"], p["hidden.bias"], "relu")
            trunk = (hc,)
        logits, caches = {}, {}
        for c in self.columns:
            logits[c], caches[c] = linear_forward(h, p[f"{c}.weight"], p[f"{c}.bias"])
        return logits, (ids, trunk, caches, x.shape, masks)

    def _backward(self, cache, dlogits):
        ids, trunk, caches, (T, N, E), masks = cache
        grads: dict = {}
        dh = None
        for c in self.columns:
            g = linear_backward(caches[c], dlogits[c])
            grads[f"{c}.weight"], grads[f"{c}.bias"] = g.dweight, g.dbias
            dh = g.dx if dh is None else dh + g.dx
        if masks[1] is not None:
            dh = dh * masks[1]
        if self.kind == "bilstm":
            dx, _, lg = self._lstm.backward(trunk[0], dh)
            grads.update({"lstm." + k: v for k, v in lg.items()})
        else:
            g = linear_backward(trunk[0], dh)
            grads["hidden.weight"], grads["hidden.bias"] = g.dweight, g.dbias
            w = self.window
            dpad = np.zeros((T + 2 * w, N, E), g.dx.dtype)
            for j in range(2 * w + 1):
                dpad[j:j + T] += g.dx[:, :, j * E:(j + 1) * E]
            dx = dpad[w:w + T]
        if masks[0] is not None:
            dx = dx * masks[0]
        da = np.ascontiguousarray(dx[:, :, self.form_dim:])
        for a, d in (("form", np.ascontiguousarray(dx[:, :, :self.form_dim])),
                     ("affix", np.broadcast_to(da[:, :, None], ids["affix"].shape + da.shape[2:]))):
            name = f"{a}_embedding"
            sg = embedding_backward(np.ascontiguousarray(d), ids[a], self.params[name].shape[0],
                                    padding_idx=0)
            dense = np.zeros_like(self.params[name])
            dense[sg.rows] = sg.grads
            grads[name] = dense
        return grads

    def fit(self, sentences: Sequence[Any], epochs: int = 20, batch_size: int = 32,
            lr: float = 2e-3, dev: Optional[Sequence[Any]] = None,
            progress: bool = True) -> "Tagger":
        """Train on tagged sentences (Sentence-like: form and the tag columns) with Adam and
        cross-entropy summed over the columns. With ``dev`` sentences, each epoch ends with
        the dev accuracy of the first column and the best epoch's weights are kept;
        :attr:`history` lists ``(epoch, accuracy)``. Returns self."""
        from .optim import Adam
        trees = _trees(sentences, self._INPUTS + self.columns, None, "sentences", gold=False)
        epochs = int_arg("epochs", epochs, 0, MAX_EPOCHS)
        batch_size = int_arg("batch_size", batch_size, 1)
        self._build_vocab(trees)
        self._init_params()
        rng = np.random.default_rng(self.seed + 2)
        self._rng = np.random.default_rng(self.seed + 3)
        opt = Adam(self.params, lr=float_arg("lr", lr, 0.0))
        bar = _progress(progress, epochs * math.ceil(len(trees) / batch_size), "tagger")
        self.history: List[tuple] = []
        best, best_params = -1.0, None
        for epoch in range(epochs):
            order = rng.permutation(len(trees))
            for b0 in range(0, len(order), batch_size):
                batch = [trees[i] for i in order[b0:b0 + batch_size]]
                ids, lengths = self._batch(batch, rng)
                logits, cache = self._forward(ids, lengths, True)
                dlogits, total = {}, 0.0
                for c in self.columns:
                    T, N, V = logits[c].shape
                    target = np.full((T, N), -1, np.int64)
                    for n, t in enumerate(batch):
                        target[:lengths[n], n] = [self._tag_of[c][v] for v in t.values[c]]
                    r = softmax_cross_entropy(logits[c].reshape(T * N, V), target.ravel(),
                                              ignore_index=-1)
                    dlogits[c] = r.dlogits.reshape(T, N, V)
                    total += float(r.loss)
                opt.step(self._backward(cache, dlogits))
                _tick(bar, total)
            if dev is not None:
                acc = self.evaluate(dev)[self.columns[0]]
                self.history.append((epoch + 1, acc))
                if bar is not None:
                    bar.write(f"tagger epoch {epoch + 1}: dev {self.columns[0]} {acc:.2f}")
                if acc > best:
                    best, best_params = acc, {k: v.copy() for k, v in self.params.items()}
        if bar is not None:
            bar.close()
        if best_params is not None:
            for k, v in best_params.items():
                self.params[k][...] = v
        return self

    def predict(self, sentences: Sequence[Any], batch_size: int = 256) -> dict:
        """Tags of each sentence: a mapping column -> list of per-sentence tag lists (pass it
        as a Parser's ``tags``). Only the forms are read."""
        if not self.params:
            raise ValueError("tagger: not trained (call fit or load first)")
        trees = _trees(sentences, self._INPUTS, None, "sentences", gold=False)
        out: dict = {c: [] for c in self.columns}
        names = {c: np.array(self.vocab[c], object) for c in self.columns}
        for b0 in range(0, len(trees), batch_size):
            batch = trees[b0:b0 + batch_size]
            ids, lengths = self._batch(batch)
            logits, _ = self._forward(ids, lengths, False)
            for c in self.columns:
                best = logits[c].argmax(axis=2)
                out[c].extend(list(names[c][best[:n, i]]) for i, n in enumerate(lengths))
        return out

    def evaluate(self, sentences: Sequence[Any]) -> dict:
        """Accuracy (%) of each column against the sentences' own tags."""
        gold = _trees(sentences, self.columns, None, "sentences", gold=False)
        pred = self.predict(sentences)
        out = {}
        for c in self.columns:
            ok = sum(int(a == b) for t, p in zip(gold, pred[c]) for a, b in zip(t.values[c], p))
            out[c] = 100.0 * ok / sum(len(t.values[c]) for t in gold)
        return out

    def save(self, path) -> None:
        """Write the tagger (vocabularies, sizes, weights) to an ``.npz`` file."""
        if not self.params:
            raise ValueError("tagger: not trained (call fit or load first)")
        meta = dict(kind=self.kind, columns=self.columns, form_dim=self.form_dim,
                    affix_dim=self.affix_dim, hidden=self.hidden, window=self.window,
                    min_count=self.min_count, dropout=self.dropout, seed=self.seed,
                    dtype=self.dtype.name)
        arrays: Dict[str, Any] = {"vocab:" + k: np.array(v, dtype=str)
                                  for k, v in self.vocab.items()}
        arrays.update({"param:" + k: v for k, v in self.params.items()})
        np.savez(path, meta=np.array(repr(meta)), **arrays)

    @classmethod
    def load(cls, path) -> "Tagger":
        """Read a tagger written by :meth:`save`. Raises as :meth:`Parser.load`."""
        meta, arrays, where = _read_model(path, "Tagger")
        try:
            t = cls(**meta)
            t.vocab = {k: _strings(arrays, "vocab:" + k) for k in ("form", "affix") + t.columns}
        except (KeyError, ValueError, TypeError) as err:
            raise ValueError(f"{where} ({err})") from None
        t._index()
        weights = _weights(arrays, t._shapes(), t.dtype, where)
        t._init_params()
        for k, v in t.params.items():
            v[...] = weights[k]      # in place: the LSTM layer holds these arrays
        return t


def _initial_weights(shapes, rng, dtype):
    """Embeddings N(0, 0.1^2), weights U(-1/sqrt(fan_in), 1/sqrt(fan_in)), biases 0."""
    out = {}
    for name, shape in shapes.items():
        if name.endswith("_embedding"):
            w = rng.standard_normal(shape) * 0.1
        elif name.endswith(".weight"):
            b = 1.0 / math.sqrt(shape[1])
            w = rng.uniform(-b, b, shape)
        else:
            w = np.zeros(shape)
        out[name] = w.astype(dtype)
    return out


def _read_model(path, what):
    """(meta dict, arrays, message prefix) of a model file written by ``save``; ValueError
    naming the path when it is not an ``.npz`` of plain arrays with a metadata dict."""
    import ast
    where = f"path: {os.fspath(path)!r} is not a saved {what}"
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, MemoryError):
        raise
    except Exception as err:  # zipfile, zlib and .npy-header errors of a damaged file
        raise ValueError(f"{where} ({type(err).__name__}: {err})") from None
    if not all(isinstance(v, np.ndarray) for v in arrays.values()):
        raise ValueError(f"{where} (a member is not a .npy array)")
    try:
        meta = arrays.pop("meta")
        if meta.ndim != 0 or meta.dtype.kind != "U":
            raise ValueError("not a string")
        meta = ast.literal_eval(unicode_strings(meta, "meta")[0])
    except (KeyError, ValueError, SyntaxError, TypeError, RecursionError) as err:
        raise ValueError(f"{where} (metadata: {type(err).__name__})") from None
    if not isinstance(meta, dict):
        raise ValueError(f"{where} (metadata is not a dict)")
    return meta, arrays, where


def _strings(arrays, key):
    a = arrays[key]
    if a.ndim != 1 or a.dtype.kind != "U":
        raise ValueError(f"{key!r} is not a list of strings")
    return unicode_strings(a, repr(key))


def _weights(arrays, shapes, dtype, where):
    """The weights named by ``shapes``, each checked for shape and dtype (contiguous copies)."""
    out = {}
    for name, shape in shapes.items():
        a = arrays.get("param:" + name)
        if a is None or a.shape != tuple(shape) or a.dtype != dtype:
            got = "missing" if a is None else f"{a.dtype} {list(a.shape)}"
            raise ValueError(f"{where} ({name!r}: expected {dtype} {list(shape)}, got {got})")
        out[name] = np.array(a, order="C")
    return out


def _self_normalization_grad(scores, dlogits, alpha: float) -> np.ndarray:
    """``dlogits`` (the gradient of the mean cross-entropy over the rows of ``scores``
    [M, A]) plus that of Devlin et al.'s (2014) self-normalisation penalty, the mean over rows
    of ``alpha * log(Z)^2``, ``Z = sum(exp(scores))``: ``2 alpha log(Z) softmax(scores) / M``."""
    m = scores.max(axis=1, keepdims=True)
    e = np.exp(scores - m)
    z = e.sum(axis=1, keepdims=True)
    log_z = np.log(z) + m
    return (dlogits + (2.0 * alpha / len(scores)) * log_z * (e / z)).astype(dlogits.dtype)


class _ParameterAverage:
    """An exponential moving average of a dict of weight arrays, with the decay of
    TensorFlow's ``ExponentialMovingAverage(decay, num_updates)`` that SyntaxNet's parameter
    averaging uses: ``min(decay, (1 + t) / (10 + t))`` at update t (1-based), so that early
    weights are soon forgotten. ``decay`` 0 keeps the latest weights (no averaging)."""

    def __init__(self, params: Dict[str, np.ndarray], decay: float):
        self.decay, self.t = decay, 0
        self.average = {k: v.copy() for k, v in params.items()} if decay > 0 else None

    def update(self, params: Dict[str, np.ndarray]) -> None:
        if self.average is None:
            return
        self.t += 1
        d = min(self.decay, (1.0 + self.t) / (10.0 + self.t))
        for k, v in params.items():
            a = self.average[k]
            a *= d
            a += (1.0 - d) * v

    def swap(self, params: Dict[str, np.ndarray]) -> None:
        """Exchange the weights in ``params`` (in place) with the average."""
        if self.average is None:
            return
        for k, v in params.items():
            tmp = v.copy()
            v[...] = self.average[k]
            self.average[k] = tmp

    @contextlib.contextmanager
    def swapped_in(self, params: Dict[str, np.ndarray]) -> Iterator[None]:
        """A context in which ``params`` hold the average (the weights are put back after)."""
        self.swap(params)
        try:
            yield
        finally:
            self.swap(params)


class _Best:
    """Early stopping on dev LAS: scores each epoch, keeps a copy of the best weights."""

    def __init__(self, parser, dev, dev_tags, beam_width, global_scores):
        self.parser, self.dev, self.dev_tags = parser, dev, dev_tags
        self.beam_width, self.global_scores = beam_width, global_scores
        self.las, self.params = -1.0, None

    def epoch_end(self, phase, epoch, bar):
        self.parser._pre = None   # the weights changed
        if self.dev is None:
            return
        r = self.parser.evaluate(self.dev, self.beam_width, tags=self.dev_tags,
                                 global_scores=self.global_scores)
        self.parser.history.append((phase, epoch, r.uas, r.las))
        if bar is not None:
            bar.write(f"{phase} epoch {epoch}: dev UAS {r.uas:.2f} LAS {r.las:.2f}")
        if r.las > self.las:
            self.las = r.las
            self.params = {k: v.copy() for k, v in self.parser.params.items()}

    def finish(self, bar):
        """Close the phase's progress bar and put the best epoch's weights back."""
        if bar is not None:
            bar.close()
        if self.params is not None:
            for k, v in self.params.items():
                self.parser.params[k][...] = v
        self.parser._pre = None


def _tick(bar, loss):
    """One batch done: advance the progress bar and show its loss."""
    if bar is not None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}", refresh=False)


def _progress(show, total, what):
    if not show or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=what, unit="batch", leave=False)

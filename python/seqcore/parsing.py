"""Transition-based dependency parsing: the arc-standard system (Nivre 2004) scored by a
feed-forward network over Chen & Manning's (2014) features, decoded greedily or with a beam,
trained locally (cross-entropy on the static oracle's transitions) and then, as SyntaxNet
(Andor et al. 2016), globally: a beam with early update and the CRF loss over the beam.

Shape legend: ``N`` sentences, ``n`` words of one sentence, ``W`` words of a batch (all
sentences concatenated), ``M`` live parser states (beam rows), ``A = 1 + 2L`` transitions
(``L`` dependency labels), ``F = 48`` features, ``K`` beam width, ``H`` hidden size.

Words are numbered 1..n and 0 is ROOT; a tree is ``head [n]`` (0: attached to ROOT) and
``label [n]``. Transitions: 0 = SHIFT, ``1 + l`` = LEFT-ARC(l) (s1 → s2), ``1 + L + l`` =
RIGHT-ARC(l) (s2 → s1). RIGHT-ARC from ROOT is legal only once the buffer is empty, so every
parse has exactly one word attached to ROOT and 2n transitions.

The state machine (legal moves, features, the beam step, the oracle, the global loss) is C++
(``seqcore._core.ArcStandardBeam``); the scorer runs on the shared embedding and linear
kernels.
"""
from __future__ import annotations

import math
import os
import time
from typing import Any, Callable, Iterable, List, NamedTuple, Optional, Sequence

import numpy as np

from . import _core
from ._validate import float_arg, int_arg, option
from .embedding import embedding_backward, embedding_forward
from .output_layers import log_softmax, softmax_cross_entropy
from .transformer import linear_backward, linear_forward

__all__ = ["NUM_FEATURES", "oracle", "parse", "ParseResult", "attachment_scores",
           "AttachmentScores", "Parser"]

NUM_FEATURES = int(_core.PARSER_FEATURES)
_WORD_FEATURES, _LABEL_FEATURES = 18, 12
# Reserved ids of the word and tag tables: no such position, ROOT, a form/tag not in the
# training vocabulary.
_NULL, _ROOT, _UNK = 0, 1, 2


class Oracle(NamedTuple):
    """transitions [2W] int64; features [2W, 48] int64 (None unless words/tags were given)."""
    transitions: np.ndarray
    features: Optional[np.ndarray]


def oracle(lengths, heads, labels, num_labels: int, words=None, tags=None) -> Oracle:
    """The static arc-standard oracle: the transitions that build each gold tree (LEFT-ARC as
    soon as s2's head is s1 and s2 has all its children, RIGHT-ARC once s1 has all its
    children, else SHIFT), and the features of the configuration before each one.

    Parameters
    ----------
    lengths : [N] ints >= 1;  heads, labels : [W] ints (heads in 0..n, labels in 0..L-1)
    num_labels : L
    words, tags : [W] feature ids of the words (>= 3: 0, 1, 2 are NULL, ROOT, unknown), or
        None for transitions only.

    Returns :class:`Oracle`. Raises ValueError naming the sentence when a tree is not
    projective (see :func:`seqcore.datasets.projectivize`), has a head or label out of range,
    or is not a tree with one word attached to ROOT; TypeError for non-integer arrays.
    Source: Nivre (2004); Chen & Manning (2014) for the features.
    """
    if (words is None) != (tags is None):
        raise ValueError("tags: give words and tags together (or neither)")
    t, f = _core.arc_standard_oracle(lengths, heads, labels, num_labels, words, tags)
    return Oracle(t, f)


class ParseResult(NamedTuple):
    """One parse: head [n] int64 (0 = ROOT), label [n] int64, score (sum of its transition
    scores: a log-probability for a locally normalised model)."""
    head: np.ndarray
    label: np.ndarray
    score: float


def parse(score_fn: Callable[[np.ndarray], np.ndarray], lengths, num_labels: int, words,
          tags, beam_width: int = 1, k_best: int = 1) -> List[List[ParseResult]]:
    """Parse a batch of sentences with the arc-standard system and a beam.

    Each step asks ``score_fn(features [M, 48]) -> scores [M, A]`` (float32/float64) for all
    live states of all sentences at once, and keeps each sentence's ``beam_width`` best
    states by summed score (illegal transitions are never taken). ``beam_width=1`` is greedy
    decoding. For a locally normalised model pass log-probabilities.

    Parameters
    ----------
    score_fn : callable
    lengths : [N] ints >= 1;  num_labels : L;  words, tags : [W] feature ids
    beam_width : K >= 1;  k_best : parses returned per sentence, 1 <= k_best <= K

    Returns
    -------
    list of N lists of :class:`ParseResult`, best first (``k_best`` each).

    Raises ValueError for k_best outside 1..K, bad lengths, wrong score shapes or NaN scores.
    Source: Zhang & Clark (2008) beam search for transition parsing; SyntaxNet.
    """
    K = int_arg("beam_width", beam_width, 1, 1 << 20)
    k = int_arg("k_best", k_best, 1)
    if k > K:
        raise ValueError(f"k_best: expected at most beam_width={K}, got {k} (the beam holds "
                         f"only {K} parses)")
    beam = _core.ArcStandardBeam(lengths, num_labels, K)
    while not beam.done():
        beam.advance(score_fn(beam.features(words, tags)))
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


def _tree_arrays(sentences, name):
    """forms, tags, heads, labels of each sentence (Sentence-like: .form .upos .head .deprel)."""
    out = []
    for i, s in enumerate(sentences):
        try:
            form, upos, head, deprel = s.form, s.upos, np.asarray(s.head), s.deprel
        except AttributeError:
            raise TypeError(f"{name}: item {i} is not a sentence with form, upos, head and "
                            f"deprel (seqcore.datasets.Sentence)") from None
        n = len(form)
        if n == 0:
            raise ValueError(f"{name}: sentence {i} is empty")
        if len(upos) != n or head.shape != (n,) or len(deprel) != n:
            raise ValueError(f"{name}: sentence {i} has {n} forms but {len(upos)} tags, "
                             f"{head.shape} heads and {len(deprel)} labels")
        out.append((list(form), list(upos), head.astype(np.int64), list(deprel)))
    if not out:
        raise ValueError(f"{name}: no sentences")
    return out


class Parser:
    """Chen & Manning's (2014) neural arc-standard parser, with SyntaxNet's beam search and
    globally normalised training (Andor et al. 2016), on seqcore kernels.

    Scorer: the 48 feature ids → embeddings (words ``word_dim``, tags ``tag_dim``, labels
    ``label_dim``) concatenated → ``Linear + ReLU`` (``hidden``) → ``Linear`` → ``A``
    transition scores. Forms seen fewer than ``min_count`` times in training are the unknown
    word. float32 throughout.

    Non-projective training trees are projectivised by lifting (see
    :func:`seqcore.datasets.projectivize`); evaluation is against the original trees.
    """

    def __init__(self, word_dim: int = 64, tag_dim: int = 32, label_dim: int = 32,
                 hidden: int = 256, min_count: int = 2, seed: int = 0):
        self.word_dim = int_arg("word_dim", word_dim, 1)
        self.tag_dim = int_arg("tag_dim", tag_dim, 1)
        self.label_dim = int_arg("label_dim", label_dim, 1)
        self.hidden = int_arg("hidden", hidden, 1)
        self.min_count = int_arg("min_count", min_count, 1)
        self.seed = int_arg("seed", seed, 0)
        self.words: List[str] = []
        self.tags: List[str] = []
        self.labels: List[str] = []
        self.params: dict = {}

    # ---- vocabulary and ids ----------------------------------------------------------------

    def _build_vocab(self, trees):
        counts: dict = {}
        for form, _, _, _ in trees:
            for w in form:
                counts[w] = counts.get(w, 0) + 1
        self.words = sorted(w for w, c in counts.items() if c >= self.min_count)
        self.tags = sorted({t for _, upos, _, _ in trees for t in upos})
        self.labels = sorted({r for _, _, _, deprel in trees for r in deprel})
        self._index()

    def _index(self):
        self._word_id = {w: i + 3 for i, w in enumerate(self.words)}
        self._tag_id = {t: i + 3 for i, t in enumerate(self.tags)}
        self._label_id = {r: i for i, r in enumerate(self.labels)}

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def _ids(self, trees, tags=None):
        """lengths [N], words [W], tags [W] of a batch (tags: given per sentence, or gold)."""
        lengths = np.array([len(t[0]) for t in trees], np.int64)
        wid, tid = self._word_id, self._tag_id
        words = np.fromiter((wid.get(w, _UNK) for t in trees for w in t[0]), np.int64,
                            int(lengths.sum()))
        tag_lists = [t[1] for t in trees] if tags is None else tags
        flat = [x for seq in tag_lists for x in seq]
        if len(flat) != words.size:
            raise ValueError(f"tags: expected {words.size} tags (one per word), got {len(flat)}")
        tag_ids = np.fromiter((tid.get(x, _UNK) for x in flat), np.int64, words.size)
        return lengths, words, tag_ids

    def _label_ids(self, trees, name):
        out = []
        for i, t in enumerate(trees):
            try:
                out.extend(self._label_id[r] for r in t[3])
            except KeyError as err:
                raise ValueError(f"{name}: sentence {i} has the label {err.args[0]!r}, not "
                                 f"one of the {len(self.labels)} labels seen in training"
                                 ) from None
        return np.array(out, np.int64)

    # ---- the scorer ------------------------------------------------------------------------

    def _init_params(self):
        rng = np.random.default_rng(self.seed)
        A = 1 + 2 * self.num_labels
        D = (_WORD_FEATURES * (self.word_dim + self.tag_dim) + _LABEL_FEATURES * self.label_dim)

        def uniform(shape, fan_in):
            b = 1.0 / math.sqrt(fan_in)
            return rng.uniform(-b, b, shape).astype(np.float32)

        self.params = {
            "word_embedding": (rng.standard_normal((len(self.words) + 3, self.word_dim)) * 0.1
                               ).astype(np.float32),
            "tag_embedding": (rng.standard_normal((len(self.tags) + 3, self.tag_dim)) * 0.1
                              ).astype(np.float32),
            "label_embedding": (rng.standard_normal((self.num_labels + 1, self.label_dim)) * 0.1
                                ).astype(np.float32),
            "hidden.weight": uniform((self.hidden, D), D),
            "hidden.bias": np.zeros(self.hidden, np.float32),
            "output.weight": uniform((A, self.hidden), self.hidden),
            "output.bias": np.zeros(A, np.float32),
        }

    def _forward(self, feats, rng=None, dropout=0.0):
        """Transition scores [M, A] of features [M, 48] and the caches of the backward."""
        p = self.params
        nw = _WORD_FEATURES
        x = np.concatenate([
            embedding_forward(p["word_embedding"], feats[:, :nw]).reshape(len(feats), -1),
            embedding_forward(p["tag_embedding"], feats[:, nw:2 * nw]).reshape(len(feats), -1),
            embedding_forward(p["label_embedding"], feats[:, 2 * nw:]).reshape(len(feats), -1),
        ], axis=1)
        h, c1 = linear_forward(x, p["hidden.weight"], p["hidden.bias"], "relu")
        mask = None
        if dropout > 0.0 and rng is not None:
            mask = (rng.random(h.shape, np.float32) >= dropout).astype(np.float32)
            mask /= np.float32(1.0 - dropout)
            h = h * mask
        s, c2 = linear_forward(h, p["output.weight"], p["output.bias"])
        return s, (feats, c1, c2, mask)

    def _backward(self, cache, ds):
        feats, c1, c2, mask = cache
        p = self.params
        g2 = linear_backward(c2, ds)
        dh = g2.dx if mask is None else g2.dx * mask
        g1 = linear_backward(c1, dh)
        nw, M = _WORD_FEATURES, len(feats)
        dx = g1.dx
        cut = [0, nw * self.word_dim, nw * (self.word_dim + self.tag_dim), dx.shape[1]]
        grads = {"hidden.weight": g1.dweight, "hidden.bias": g1.dbias,
                 "output.weight": g2.dweight, "output.bias": g2.dbias}
        for j, (name, cols, D) in enumerate((("word_embedding", slice(0, nw), self.word_dim),
                                             ("tag_embedding", slice(nw, 2 * nw), self.tag_dim),
                                             ("label_embedding", slice(2 * nw, None),
                                              self.label_dim))):
            ids = feats[:, cols]
            block = np.ascontiguousarray(dx[:, cut[j]:cut[j + 1]]).reshape(M, ids.shape[1], D)
            g = embedding_backward(block, ids, p[name].shape[0])
            dense = np.zeros_like(p[name])
            dense[g.rows] = g.grads
            grads[name] = dense
        return grads

    def scores(self, features) -> np.ndarray:
        """Transition log-probabilities [M, A] (float32) of feature ids [M, 48]."""
        s, _ = self._forward(np.asarray(features, np.int64))
        return log_softmax(s)

    # ---- training --------------------------------------------------------------------------

    def fit(self, sentences: Sequence[Any], epochs: int = 10, batch_size: int = 256,
            lr: float = 1e-3, dropout: float = 0.3, global_epochs: int = 0,
            global_beam_width: int = 8, global_batch: int = 16, global_lr: float = 1e-4,
            progress: bool = True, warm_start: bool = False) -> "Parser":
        """Train on gold trees (Sentence-like items: form, upos, head, deprel).

        First ``epochs`` passes of locally normalised training (cross-entropy of each oracle
        transition given its configuration, Adam, ``dropout`` on the hidden layer), then
        ``global_epochs`` passes of globally normalised training (Andor et al. 2016): a beam
        of ``global_beam_width`` per sentence with early update, the CRF loss over the beam,
        ``global_batch`` sentences per Adam step at ``global_lr``.

        Non-projective trees are projectivised by lifting for training. ``warm_start`` keeps
        the vocabularies and weights of an earlier fit (scikit-learn's option): e.g. a local
        fit, then ``fit(..., epochs=0, global_epochs=2, warm_start=True)``. Returns self.
        Raises ValueError / TypeError for bad sentences or hyper-parameters.
        """
        from .datasets.treebank import projectivize
        from .optim import Adam
        trees = _tree_arrays(sentences, "sentences")
        epochs = int_arg("epochs", epochs, 0)
        global_epochs = int_arg("global_epochs", global_epochs, 0)
        batch_size = int_arg("batch_size", batch_size, 1)
        dropout = float_arg("dropout", dropout, 0.0, 1.0)
        if dropout >= 1.0:
            raise ValueError("dropout: expected a value in [0, 1)")
        if not (warm_start and self.params):
            self._build_vocab(trees)
            self._init_params()
        trees = [(f, u, projectivize(h), d) for f, u, h, d in trees]
        lengths, words, tags = self._ids(trees)
        heads = np.concatenate([t[2] for t in trees])
        labels = self._label_ids(trees, "sentences")
        gold, feats = oracle(lengths, heads, labels, self.num_labels, words, tags)
        rng = np.random.default_rng(self.seed + 1)
        opt = Adam(self.params, lr=float_arg("lr", lr, 0.0))
        bar = _progress(progress, epochs * math.ceil(len(gold) / batch_size), "local")
        for _ in range(epochs):
            order = rng.permutation(len(gold))
            for b0 in range(0, len(order), batch_size):
                idx = order[b0:b0 + batch_size]
                s, cache = self._forward(feats[idx], rng, dropout)
                res = softmax_cross_entropy(s, gold[idx])
                opt.step(self._backward(cache, res.dlogits))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(res.loss):.3f}", refresh=False)
        if bar is not None:
            bar.close()
        if global_epochs:
            self._fit_global(trees, gold, lengths, words, tags, global_epochs,
                             int_arg("global_beam_width", global_beam_width, 1),
                             int_arg("global_batch", global_batch, 1),
                             float_arg("global_lr", global_lr, 0.0), rng, progress)
        return self

    def _fit_global(self, trees, gold, lengths, words, tags, epochs, K, batch, lr, rng,
                    progress):
        from .optim import Adam
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        opt = Adam(self.params, lr=lr)
        bar = _progress(progress, epochs * math.ceil(len(trees) / batch), "global")
        for _ in range(epochs):
            order = rng.permutation(len(trees))
            for b0 in range(0, len(order), batch):
                sel = order[b0:b0 + batch]
                w = np.concatenate([words[offsets[i]:offsets[i + 1]] for i in sel])
                t = np.concatenate([tags[offsets[i]:offsets[i + 1]] for i in sel])
                g = np.concatenate([gold[2 * offsets[i]:2 * offsets[i + 1]] for i in sel])
                beam = _core.ArcStandardBeam(lengths[sel], self.num_labels, K, g)
                caches = []
                while not beam.done():
                    s, cache = self._forward(beam.features(w, t))
                    caches.append(cache)
                    beam.advance(s)
                loss, _, dscores = beam.global_loss()
                total: dict = {}
                for cache, d in zip(caches, dscores):
                    for name, v in self._backward(cache, (d / len(sel)).astype(np.float32)
                                                  ).items():
                        total[name] = v if name not in total else total[name] + v
                opt.step(total)
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{float(loss.mean()):.3f}", refresh=False)
        if bar is not None:
            bar.close()

    # ---- inference -------------------------------------------------------------------------

    def _check_fitted(self):
        if not self.params:
            raise ValueError("parser: not trained (call fit or load first)")

    def predict(self, sentences: Sequence[Any], beam_width: int = 1, k_best: int = 1,
                tags: Optional[Sequence[Sequence[str]]] = None,
                global_scores: bool = False) -> List[List[ParseResult]]:
        """Parse sentences (Sentence-like; only form and, unless ``tags`` is given, upos are
        read). ``beam_width`` 1 is greedy. Returns ``k_best`` :class:`ParseResult` per
        sentence, best first, whose ``label`` indexes :attr:`labels`. With
        ``global_scores`` the beam ranks by summed raw scores (the globally normalised
        model's), else by summed log-probabilities.

        Raises ValueError for an untrained parser, empty sentences, tags of the wrong length
        or k_best > beam_width.
        """
        self._check_fitted()
        trees = _forms_only(sentences)
        lengths, words, tag_ids = self._ids(trees, tags)
        fn = (lambda f: self._forward(f)[0]) if global_scores else self.scores
        return parse(fn, lengths, self.num_labels, words, tag_ids, beam_width, k_best)

    def evaluate(self, sentences: Sequence[Any], beam_width: int = 1,
                 tags: Optional[Sequence[Sequence[str]]] = None,
                 global_scores: bool = False) -> AttachmentScores:
        """UAS/LAS (punctuation included) of :meth:`predict`'s best parses against the
        sentences' own (possibly non-projective) trees. A gold label the parser never saw in
        training counts as a wrong label."""
        trees = _tree_arrays(sentences, "sentences")
        pred = self.predict(sentences, beam_width, 1, tags, global_scores)
        labels = [np.array(self.labels, object)[p[0].label] for p in pred]
        return attachment_scores([t[2] for t in trees], [np.array(t[3], object) for t in trees],
                                 [p[0].head for p in pred], labels)

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
        meta = dict(word_dim=self.word_dim, tag_dim=self.tag_dim, label_dim=self.label_dim,
                    hidden=self.hidden, min_count=self.min_count, seed=self.seed)
        np.savez(path, meta=np.array(repr(meta)), words=np.array(self.words, dtype=str),
                 tags=np.array(self.tags, dtype=str), labels=np.array(self.labels, dtype=str),
                 **{"param:" + k: v for k, v in self.params.items()})

    @classmethod
    def load(cls, path) -> "Parser":
        """Read a parser written by :meth:`save`. Raises ValueError for a file that is not
        one (missing arrays, wrong shapes)."""
        import ast
        with np.load(path, allow_pickle=False) as z:
            try:
                meta = ast.literal_eval(str(z["meta"]))
                p = cls(**meta)
                p.words, p.tags, p.labels = (list(map(str, z[k])) for k in
                                             ("words", "tags", "labels"))
                params = {k[6:]: z[k] for k in z.files if k.startswith("param:")}
            except (KeyError, ValueError, SyntaxError, TypeError) as err:
                raise ValueError(f"path: {os.fspath(path)!r} is not a saved Parser ({err})"
                                 ) from None
        p._index()
        p._init_params()
        for k, v in p.params.items():
            if k not in params or params[k].shape != v.shape or params[k].dtype != v.dtype:
                raise ValueError(f"path: {os.fspath(path)!r} has no matching {k!r}")
            p.params[k] = np.ascontiguousarray(params[k])
        return p


def _forms_only(sentences):
    out = []
    for i, s in enumerate(sentences):
        form = getattr(s, "form", None)
        if form is None:
            raise TypeError(f"sentences: item {i} has no form (seqcore.datasets.Sentence)")
        if len(form) == 0:
            raise ValueError(f"sentences: sentence {i} is empty")
        out.append((list(form), list(getattr(s, "upos", [])), None, None))
    if not out:
        raise ValueError("sentences: no sentences")
    return out


def _progress(show, total, what):
    if not show or total == 0:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc=f"parser ({what})", unit="batch", leave=False)

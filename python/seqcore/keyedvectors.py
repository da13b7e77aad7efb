"""Word vectors with gensim's ``KeyedVectors`` query API, and the word2vec file formats.

Shape legend: ``V`` vocabulary (keys), ``D`` vector size, ``Q`` queries, ``K`` neighbours.

The semantics follow ``gensim.models.keyedvectors.KeyedVectors`` 4.x (same argument names,
defaults, return structures and tie-handling of the evaluations); nearest-neighbour search
runs in C++ (:func:`seqcore._core.top_k_dot`: blocked GEMM of the unit-normalised vectors
with the queries, partial selection per block, OpenMP over blocks, ties broken by the lower
index so results are identical for every thread count). The file formats are those of
word2vec.c (Mikolov et al. 2013) as written and read by gensim.
"""
from __future__ import annotations

import logging
import re
from typing import Any, Optional

import numpy as np

from . import _core
from ._validate import opt_int_arg

__all__ = ["KeyedVectors"]

logger = logging.getLogger(__name__)

_KEY_TYPES = (str, int, np.integer)


def _ensure_list(value):
    """gensim's _ensure_list: a single key or vector becomes a one-element list."""
    if value is None:
        return []
    if isinstance(value, _KEY_TYPES) or (isinstance(value, np.ndarray) and value.ndim == 1):
        return [value]
    if isinstance(value, np.ndarray) and value.ndim == 2:
        return list(value)
    return list(value)


def _unitvec(vec):
    """vec / ||vec|| (unchanged when the norm is 0), as gensim.matutils.unitvec."""
    norm = np.linalg.norm(vec)
    return vec / norm if norm > 0 else vec


class KeyedVectors:
    """A set of word vectors: ``vectors [V, D]`` with keys ``index_to_key [V]``.

    Parameters
    ----------
    keys : sequence of str, length V (distinct).
    vectors : array [V, D], float32 or float64 (float32 is the fast path). Copied to a new
        C-contiguous array.
    counts : optional array-like of int [V]: word frequencies, used to order the output of
        :meth:`save_word2vec_format` (most frequent first) like gensim's ``count`` attribute.

    Attributes
    ----------
    index_to_key : list of str [V]; key_to_index : dict str -> int; vectors : [V, D];
    vector_size : D; counts : int64 [V] or None (``expandos['count']``).
    expandos : dict attribute name -> array [V] of per-key values (gensim's vecattrs; read
        and written with :meth:`get_vecattr` / :meth:`set_vecattr`).
    vectors_lockf : float array [1] or [V]: factor of each key's training updates in
        :class:`seqcore.Word2Vec` (gensim's experimental lock; 0 freezes a key, 1 trains it).

    Raises
    ------
    ValueError for a duplicate key or mismatched lengths; TypeError for a non-float dtype.

    Notes
    -----
    Unit-normalised vectors are cached on first use; after editing ``vectors`` in place call
    :meth:`fill_norms` with ``force=True`` (as gensim). Assigning ``kv.vectors = new``
    resets the cache.
    """

    def __init__(self, keys, vectors, counts=None):
        vectors = np.asarray(vectors)
        if vectors.dtype not in (np.float32, np.float64):
            raise TypeError(f"vectors: expected dtype float32 or float64, got {vectors.dtype}")
        if vectors.ndim != 2:
            raise ValueError(f"vectors: expected shape [V, D], got {list(vectors.shape)}")
        keys = list(keys)
        if len(keys) != vectors.shape[0]:
            raise ValueError(f"keys: expected {vectors.shape[0]} keys (V of vectors [V, D]), "
                             f"got {len(keys)}")
        self.index_to_key = keys
        self.key_to_index = {}
        for i, k in enumerate(keys):
            if k in self.key_to_index:
                raise ValueError(f"keys: duplicate key {k!r}")
            self.key_to_index[k] = i
        self._vectors = np.ascontiguousarray(vectors).copy()
        self.expandos = {}
        self.counts = counts
        self.vectors_lockf = np.ones(1, dtype=np.float32)
        self.norms = None
        self._normed = None

    @property
    def counts(self):
        """Key frequencies int64 [V] (``expandos['count']``), or None."""
        return self.expandos.get("count")

    @counts.setter
    def counts(self, value):
        if value is None:
            self.expandos.pop("count", None)
            return
        counts = np.asarray(value, dtype=np.int64)
        if counts.shape != (len(self.index_to_key),):
            raise ValueError(f"counts: expected shape [V] = [{len(self.index_to_key)}], got "
                             f"{list(counts.shape)}")
        self.expandos["count"] = counts

    def get_vecattr(self, key, attr):
        """Value of the per-key attribute ``attr`` (e.g. ``'count'``) for ``key`` (gensim).

        Raises KeyError for an unknown key or attribute."""
        index = self.get_index(key)
        if attr not in self.expandos:
            raise KeyError(f"attr: no per-key attribute {attr!r} (have "
                           f"{sorted(self.expandos)})")
        return self.expandos[attr][index]

    def set_vecattr(self, key, attr, val):
        """Set the per-key attribute ``attr`` of ``key`` to ``val``; a new attribute gets an
        array [V] of ``val``'s type, zero for the other keys (gensim's allocate_vecattrs).
        ``'count'`` is stored as int64. Raises KeyError for an unknown key."""
        index = self.get_index(key)
        if attr not in self.expandos:
            dtype = np.int64 if attr == "count" else np.asarray(val).dtype
            self.expandos[attr] = np.zeros(len(self.index_to_key), dtype=dtype)
        self.expandos[attr][index] = val

    # ---- basic access ------------------------------------------------------------------
    @property
    def vectors(self):
        """The vectors [V, D]."""
        return self._vectors

    @vectors.setter
    def vectors(self, value):
        value = np.ascontiguousarray(value)
        if value.ndim != 2 or value.shape[0] != len(self.index_to_key):
            raise ValueError(f"vectors: expected shape [V, D] with V = {len(self.index_to_key)},"
                             f" got {list(value.shape)}")
        self._vectors = value
        self.norms = None
        self._normed = None

    @property
    def vector_size(self):
        """D."""
        return self._vectors.shape[1]

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return self.has_index_for(key)

    def has_index_for(self, key):
        """True if ``key`` is a known key or a valid int row (gensim)."""
        return self.get_index(key, -1) >= 0

    def __repr__(self):
        return f"KeyedVectors<vector_size={self.vector_size}, {len(self)} keys>"

    def get_index(self, key, default=None):
        """Row of ``key`` (an int in ``[0, V)`` is its own row, as gensim).

        Raises KeyError naming the key if it is unknown and no ``default`` is given.
        """
        try:
            val = self.key_to_index.get(key, -1)
        except TypeError:  # unhashable
            val = -1
        if val >= 0:
            return val
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool) \
                and 0 <= key < len(self.index_to_key):
            return int(key)
        if default is not None:
            return default
        raise KeyError(f"Key '{key}' not present in vocabulary")

    def fill_norms(self, force=False):
        """Compute ``norms [V]`` and the unit-normalised vectors (zero vectors stay zero)."""
        if self.norms is None or force:
            self.norms = np.linalg.norm(self._vectors, axis=1)
            safe = np.where(self.norms > 0, self.norms, 1).astype(self._vectors.dtype)
            self._normed = np.ascontiguousarray(self._vectors / safe[:, None])

    def get_normed_vectors(self):
        """Unit-normalised vectors [V, D] (a read-only view of the cache)."""
        self.fill_norms()
        out = self._normed.view()
        out.setflags(write=False)
        return out

    def get_vector(self, key, norm=False):
        """Vector [D] of ``key`` (unit length with ``norm=True``), read-only.

        Raises KeyError naming the key if it is not in the vocabulary.
        """
        index = self.get_index(key)
        if norm:
            self.fill_norms()
            result = self._vectors[index] / self.norms[index]
        else:
            result = self._vectors[index]
        result = result.view()
        result.setflags(write=False)
        return result

    def __getitem__(self, key_or_keys):
        """Vector [D] of a key, or [n, D] for a list of keys (KeyError for an unknown key)."""
        if isinstance(key_or_keys, _KEY_TYPES):
            return self.get_vector(key_or_keys)
        return np.vstack([self.get_vector(key) for key in key_or_keys])

    def similarity(self, w1, w2):
        """Cosine similarity of two keys (float). KeyError for an unknown key."""
        return float(np.dot(_unitvec(self[w1]), _unitvec(self[w2])))

    def distance(self, w1, w2):
        """1 - similarity(w1, w2)."""
        return 1.0 - self.similarity(w1, w2)

    # ---- neighbours --------------------------------------------------------------------
    def n_similarity(self, ws1, ws2):
        """Cosine similarity of the means of two sets of keys (gensim: the plain means of the
        raw vectors, unknown keys ignored, then unit-normalised). Raises ZeroDivisionError if
        a set is empty, as gensim."""
        if not (len(ws1) and len(ws2)):
            raise ZeroDivisionError("At least one of the passed list is empty.")
        mean1 = self.get_mean_vector(ws1, pre_normalize=False)
        mean2 = self.get_mean_vector(ws2, pre_normalize=False)
        return float(np.dot(_unitvec(mean1), _unitvec(mean2)))

    def get_mean_vector(self, keys, weights=None, pre_normalize=True, post_normalize=False,
                        ignore_missing=True):
        """Weighted mean of key vectors (or raw [D] arrays), as gensim: divided by the sum of
        absolute weights of the used items, optionally unit-normalised. ValueError with no input."""
        if len(keys) == 0:
            raise ValueError("cannot compute mean with no input")
        dtype = self._vectors.dtype
        weights = (np.ones(len(keys), dtype=dtype) if weights is None
                   else np.asarray(weights, dtype=dtype))
        if weights.ndim != 1 or len(keys) != weights.shape[0]:
            raise ValueError("keys and weights array must have same number of elements")
        mean = np.zeros(self.vector_size, dtype)
        total_weight = 0
        for idx, key in enumerate(keys):
            if isinstance(key, np.ndarray):
                if key.shape != (self.vector_size,):
                    raise ValueError(f"keys: a vector must have shape [{self.vector_size}], "
                                     f"got {list(key.shape)}")
                mean += weights[idx] * key
                total_weight += abs(weights[idx])
            elif key in self:
                mean += weights[idx] * self.get_vector(key, norm=pre_normalize)
                total_weight += abs(weights[idx])
            elif not ignore_missing:
                raise KeyError(f"Key '{key}' not present in vocabulary")
        if total_weight > 0:
            mean = mean / total_weight
        if post_normalize:
            mean = _unitvec(mean).astype(np.float32)
        return mean

    def _top_k(self, queries, k, clip_end):
        """(indices [Q, k], scores [Q, k]) of the unit vectors [:clip_end] vs queries [Q, D]."""
        self.fill_norms()
        q = np.ascontiguousarray(queries, dtype=self._vectors.dtype)
        k = int(min(k, clip_end))
        if len(q) <= 512:
            return _core.top_k_dot(self._normed[:clip_end], q, k)
        # blocks of queries bound the kernel's score buffer (512 x 2048 per thread)
        parts = [_core.top_k_dot(self._normed[:clip_end], q[i:i + 512], k)
                 for i in range(0, len(q), 512)]
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def _clip_end(self, restrict_vocab):
        """Keys searched: the first ``restrict_vocab`` (None or 0: all of them)."""
        n, restrict_vocab = len(self), opt_int_arg("restrict_vocab", restrict_vocab, 0)
        return n if not restrict_vocab else min(restrict_vocab, n)

    def most_similar(self, positive: Any = None, negative: Any = None,
                     topn: Optional[int] = 10, restrict_vocab: Optional[int] = None) -> Any:
        """Top-``topn`` keys by cosine similarity to the mean of the unit vectors of
        ``positive`` minus those of ``negative`` (3CosAdd; Mikolov et al. 2013), input keys
        excluded, as gensim ``most_similar``.

        positive, negative : key, [D] array, or lists of keys / arrays / (key, weight).
        topn : int, or None for the similarities [V'] (float) of all searched keys.
        restrict_vocab : search only the first ``restrict_vocab`` keys (V' of them).

        Returns a list of (key, similarity) best first (ties by lower index), or an array
        [V'] when ``topn`` is None. Raises KeyError naming an unknown key, ValueError with
        no input.
        """
        topn = opt_int_arg("topn", topn)
        if topn is not None and topn < 1:
            return []
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        self.fill_norms()
        clip_end = self._clip_end(restrict_vocab)
        keys = []
        weight = np.concatenate((np.ones(len(positive)), -1.0 * np.ones(len(negative))))
        for idx, item in enumerate(positive + negative):
            if isinstance(item, (str, int, np.integer, np.ndarray)):
                keys.append(item)
            elif isinstance(item, (tuple, list)) and len(item) == 2:
                keys.append(item[0])
                weight[idx] = item[1]
            else:
                raise TypeError(f"positive, negative: expected keys, [D] arrays or (key, "
                                f"weight) pairs, got {type(item).__name__} {item!r}")
        mean = self.get_mean_vector(keys, weight, pre_normalize=True, post_normalize=True,
                                    ignore_missing=False)
        all_keys = [self.get_index(key) for key in keys
                    if isinstance(key, _KEY_TYPES) and self.has_index_for(key)]
        if not topn:
            return (self._normed[:clip_end] @ mean.astype(self._vectors.dtype))
        idx, sims = self._top_k(mean[None, :], topn + len(all_keys), clip_end)
        result = [(self.index_to_key[i], float(s)) for i, s in zip(idx[0], sims[0])
                  if i not in all_keys]
        return result[:topn]

    def similar_by_key(self, key, topn=10, restrict_vocab=None):
        """most_similar(positive=[key]) (gensim)."""
        return self.most_similar(positive=[key], topn=topn, restrict_vocab=restrict_vocab)

    similar_by_word = similar_by_key

    def similar_by_vector(self, vector, topn=10, restrict_vocab=None):
        """most_similar(positive=[vector]) (gensim)."""
        return self.most_similar(positive=[vector], topn=topn, restrict_vocab=restrict_vocab)

    def complete_analogy(self, word_a, word_b, word_c, restrict_vocab=None):
        """The Sequence Models course's ``complete_analogy``: the word d, other than a, b and
        c, whose offset from c is most like b's from a,
        ``argmax_w cos(e_b - e_a, e_w - e_c)`` on the raw (not normalised) vectors, e.g.
        italy:italian :: spain:spanish. (gensim's :meth:`most_similar` ranks
        ``cos(e_w, e_b - e_a + e_c)`` on unit vectors instead, 3CosAdd.)

        Returns ``(word, cosine)``; searches the first ``restrict_vocab`` keys (None: all).
        Raises KeyError naming an unknown word, ValueError when b - a is zero.
        """
        e_a, e_b, e_c = (np.asarray(self[w], np.float64) for w in (word_a, word_b, word_c))
        offset = e_b - e_a
        if not np.linalg.norm(offset) > 0:
            raise ValueError(f"word_a, word_b: {word_a!r} and {word_b!r} have the same vector")
        rows = self._vectors[:self._clip_end(restrict_vocab)].astype(np.float64)
        rows -= e_c
        norms = np.linalg.norm(rows, axis=1) * np.linalg.norm(offset)
        cos = np.divide(rows @ offset, norms, out=np.full(len(rows), -np.inf), where=norms > 0)
        for w in (word_a, word_b, word_c):
            i = self.get_index(w)
            if i < len(cos):
                cos[i] = -np.inf
        best = int(np.argmax(cos))
        return self.index_to_key[best], float(cos[best])

    def most_similar_cosmul(self, positive=None, negative=None, topn=10, restrict_vocab=None):
        """3CosMul of Levy & Goldberg 2014 (eq. 4), as gensim ``most_similar_cosmul``:
        score = prod_pos (1 + cos)/2 / (prod_neg (1 + cos)/2 + 1e-6), input keys excluded.

        Unlike gensim 4.4 (which accepts but ignores it), ``restrict_vocab`` limits the
        search to the first keys. Returns a list of (key, score) best first (ties by lower
        index), or the scores [V'] when ``topn`` is None. KeyError for an unknown key,
        ValueError without positive input.
        """
        topn = opt_int_arg("topn", topn)
        if topn is not None and topn < 1:
            return []
        positive = _ensure_list(positive)
        negative = _ensure_list(negative)
        self.fill_norms()
        clip_end = self._clip_end(restrict_vocab)
        all_words = {self.get_index(w) for w in positive + negative
                     if not isinstance(w, np.ndarray) and w in self}
        positive = [self.get_vector(w, norm=True) if not isinstance(w, np.ndarray) else w
                    for w in positive]
        negative = [self.get_vector(w, norm=True) if not isinstance(w, np.ndarray) else w
                    for w in negative]
        if not positive:
            raise ValueError("cannot compute similarity with no input")
        terms = np.vstack(positive + negative).astype(self._vectors.dtype)
        cos = (self._normed[:clip_end] @ terms.T + 1) / 2  # [V', P + N]
        dists = np.prod(cos[:, :len(positive)], axis=1) / (
            np.prod(cos[:, len(positive):], axis=1) + 0.000001)
        if not topn:
            return dists
        k = min(topn + len(all_words), clip_end)
        part = np.argpartition(-dists, k - 1)[:k] if k < clip_end else np.arange(clip_end)
        best = part[np.lexsort((part, -dists[part]))]
        result = [(self.index_to_key[i], float(dists[i])) for i in best if i not in all_words]
        return result[:topn]

    def doesnt_match(self, words):
        """The key farthest from the normalised mean of the unit vectors of ``words``
        (gensim ``doesnt_match``: unknown words are ignored with a warning).

        Raises ValueError if no word is known.
        """
        self.fill_norms()
        used = [w for w in words if w in self]
        if len(used) != len(words):
            logger.warning("vectors for words %s are not present in the model, ignoring these "
                           "words", set(words) - set(used))
        if not used:
            raise ValueError("cannot select a word from an empty list")
        vectors = np.vstack([self.get_vector(w, norm=True) for w in used]).astype(np.float32)
        mean = _unitvec(vectors.mean(axis=0)).astype(np.float32)
        dists = vectors @ mean
        return sorted(zip(dists, used), reverse=True)[-1][1]

    # ---- evaluations -------------------------------------------------------------------
    def _ok_vocab(self, restrict_vocab, case_insensitive):
        ok_keys = self.index_to_key[:opt_int_arg("restrict_vocab", restrict_vocab, 0)]
        if case_insensitive:  # the first (most frequent) case variant wins
            return {k.upper(): i for i, k in reversed(list(enumerate(ok_keys)))}
        return {k: i for i, k in reversed(list(enumerate(ok_keys)))}

    def evaluate_word_pairs(self, pairs, delimiter="\t", encoding="utf8", restrict_vocab=300000,
                            case_insensitive=True, dummy4unknown=False):
        """Correlation of the model's cosine similarities with human judgements (gensim).

        pairs : path of a file of ``word1<delimiter>word2<delimiter>score`` lines ('#' lines
            are comments, malformed lines skipped), e.g. wordsim353.tsv.

        Returns ``(pearson, spearman, oov_ratio)``: scipy's results (indexable: ``[0]`` the
        coefficient, ``[1]`` the two-sided p-value) and the percentage of pairs with unknown
        words. With ``dummy4unknown`` such pairs count with similarity 0 (and the ratio is
        over the used pairs, as gensim). Raises ValueError if no pair can be used.
        """
        from scipy import stats

        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        gold, model = [], []
        oov = 0
        with open(pairs, encoding=encoding) as fin:
            for line_no, line in enumerate(fin):
                if not line or line.startswith("#"):
                    continue
                try:
                    parts = line.split(delimiter)
                    if case_insensitive:
                        parts = [w.upper() for w in parts]
                    a, b, sim = parts
                    sim = float(sim)
                except (ValueError, TypeError):
                    logger.info("Skipping invalid line #%d in %s", line_no, pairs)
                    continue
                if a not in ok_vocab or b not in ok_vocab:
                    oov += 1
                    if dummy4unknown:
                        model.append(0.0)
                        gold.append(sim)
                    continue
                gold.append(sim)
                model.append(self.similarity(ok_vocab[a], ok_vocab[b]))
        if not gold:
            raise ValueError(f"No valid similarity judgements found in {pairs}: either invalid "
                             f"format or all are out-of-vocabulary in {self}")
        spearman = stats.spearmanr(gold, model)
        pearson = stats.pearsonr(gold, model)
        if dummy4unknown:
            oov_ratio = float(oov) / len(gold) * 100
        else:
            oov_ratio = float(oov) / (len(gold) + oov) * 100
        return pearson, spearman, oov_ratio

    def evaluate_word_analogies(self, analogies, restrict_vocab=30000, case_insensitive=True,
                                dummy4unknown=False, similarity_function="most_similar"):
        """Accuracy on an analogy file (``: section`` headers, then ``a b c d`` lines meaning
        a:b = c:d), as gensim (word2vec.c's compute-accuracy): d is predicted by 3CosAdd
        ``most_similar(positive=[b, c], negative=[a], topn=5)`` over the first
        ``restrict_vocab`` keys, skipping predictions equal to a, b or c.

        restrict_vocab defaults to 30000 as compute-accuracy (gensim's default is 300000).
        Returns ``(score, sections)``: the overall accuracy (0.0 with no prediction) and a
        list of dicts ``{'section', 'correct', 'incorrect'}`` (lists of 4-tuples), the last
        one ``'Total accuracy'``. Quadruples with a word outside the first keys are skipped
        (counted incorrect with ``dummy4unknown``). ``similarity_function``:
        ``'most_similar'`` (3CosAdd) or ``'most_similar_cosmul'`` (3CosMul, Levy & Goldberg
        2014), the method that ranks the candidates (gensim 4.4 accepts the argument but
        always uses most_similar). Raises ValueError for a question line before any section
        header or another similarity_function.
        """
        from ._validate import option
        option("similarity_function", similarity_function, ("most_similar",
                                                            "most_similar_cosmul"))
        clip_end = self._clip_end(restrict_vocab)
        ok_vocab = self._ok_vocab(restrict_vocab, case_insensitive)
        sections, section = [], None
        questions = []  # (a, b, c, expected) to predict
        events = []  # (section, quadruple, index in questions or None), in file order
        quadruplets_no = 0
        oov = 0
        with open(analogies, "rb") as fin:
            for line_no, line in enumerate(fin):
                line = line.decode("utf8")
                if line.startswith(": "):
                    if section:
                        sections.append(section)
                    section = {"section": line.lstrip(": ").strip(), "correct": [],
                               "incorrect": []}
                    continue
                if not section:
                    raise ValueError(f"Missing section header before line #{line_no} in "
                                     f"{analogies}")
                try:
                    words = [w.upper() for w in line.split()] if case_insensitive \
                        else line.split()
                    a, b, c, expected = words
                except ValueError:
                    logger.info("Skipping invalid line #%i in %s", line_no, analogies)
                    continue
                quadruplets_no += 1
                if not all(w in ok_vocab for w in (a, b, c, expected)):
                    oov += 1
                    if dummy4unknown:  # counted incorrect, in file order
                        events.append((section, (a, b, c, expected), None))
                    continue
                events.append((section, (a, b, c, expected), len(questions)))
                questions.append((a, b, c, expected))
        if section:
            sections.append(section)
        correct = np.zeros(len(questions), dtype=bool)
        if questions and similarity_function == "most_similar_cosmul":
            for row, (a, b, c, expected) in enumerate(questions):
                # rows of the (possibly upper-cased) words, as gensim's swapped key_to_index
                sims = self.most_similar_cosmul(positive=[ok_vocab[b], ok_vocab[c]],
                                                negative=[ok_vocab[a]], topn=5,
                                                restrict_vocab=restrict_vocab)
                correct[row] = self._analogy_prediction(sims, ok_vocab, (a, b, c),
                                                        case_insensitive) == expected
        elif questions:
            self.fill_norms()
            normed = self._normed.astype(np.float32, copy=False)
            ia, ib, ic = (np.array([ok_vocab[q[k]] for q in questions]) for k in range(3))
            # gensim's get_mean_vector order: b + c - a, divided by the total weight 3.
            mean = (normed[ib] + normed[ic] - normed[ia]) / np.float32(3)
            norms = np.linalg.norm(mean, axis=1, keepdims=True)
            mean = mean / np.where(norms > 0, norms, 1)
            # one batched search: top 5 + the 3 inputs, as most_similar(topn=5) per question
            idx, _ = self._top_k(mean, 8, clip_end)
            for row, (a, b, c, expected) in enumerate(questions):
                inputs = {ia[row], ib[row], ic[row]}
                sims = [(self.index_to_key[i], None) for i in idx[row] if i not in inputs][:5]
                correct[row] = self._analogy_prediction(sims, ok_vocab, (a, b, c),
                                                        case_insensitive) == expected
        for sec, quad, q in events:
            (sec["correct"] if q is not None and correct[q] else sec["incorrect"]).append(quad)
        total = {"section": "Total accuracy",
                 "correct": [q for s in sections for q in s["correct"]],
                 "incorrect": [q for s in sections for q in s["incorrect"]]}
        n = len(total["correct"]) + len(total["incorrect"])
        score = len(total["correct"]) / n if n else 0.0
        if quadruplets_no:
            logger.info("Quadruplets with out-of-vocabulary words: %.1f%%",
                        100.0 * oov / quadruplets_no)
        sections.append(total)
        return score, sections

    @staticmethod
    def _analogy_prediction(sims, ok_vocab, inputs, case_insensitive):
        """gensim's pick among the top 5 (key, score): the first in ok_vocab that is not an
        input word; else the last one looked at."""
        predicted = None
        for key, _ in sims:
            predicted = key.upper() if case_insensitive else key
            if predicted in ok_vocab and predicted not in inputs:
                break
        return predicted

    # ---- word2vec file format ----------------------------------------------------------
    def save_word2vec_format(self, fname, fvocab=None, binary=False, total_vec=None,
                             write_header=True, prefix="", append=False):
        """Write the vectors in word2vec.c's format, byte-identical to gensim's writer.

        Header ``"<V> <D>\\n"``; then per key, text: ``key v1 ... vD\\n`` with each value
        printed as ``str(numpy.float32)``; binary: ``key `` followed by D little-endian
        float32 (no newline, as gensim; word2vec.c and gensim both read it). Keys are
        written most frequent first when ``counts`` is known, else in index order.
        ``fvocab``: also write ``key count`` lines (ValueError without counts).
        """
        if total_vec is None:
            total_vec = len(self)
        if self.counts is not None:
            order = sorted(range(len(self)), key=lambda i: -self.counts[i])
        else:
            if fvocab is not None:
                raise ValueError("Cannot store vocabulary with 'count' because counts are not "
                                 "known")
            order = range(len(self))
        mode = "ab" if append else "wb"
        if fvocab is not None:
            with open(fvocab, mode) as vout:
                for i in order:
                    vout.write(f"{prefix}{self.index_to_key[i]} {self.counts[i]}\n"
                               .encode("utf8"))
        vecs = self._vectors
        with open(fname, mode) as fout:
            if write_header:
                fout.write(f"{total_vec} {self.vector_size}\n".encode("utf8"))
            for i in order:
                key = self.index_to_key[i]
                if binary:
                    fout.write(f"{prefix}{key} ".encode("utf8")
                               + vecs[i].astype(np.float32).tobytes())
                else:
                    fout.write(f"{prefix}{key} {' '.join(str(v) for v in vecs[i])}\n"
                               .encode("utf8"))

    @classmethod
    def load_word2vec_format(cls, fname, fvocab=None, binary=False, encoding="utf8",
                             unicode_errors="strict", limit=None, datatype=np.float32,
                             no_header=False):
        """Read a word2vec.c text or binary file (as gensim ``load_word2vec_format``).

        fname : path. binary : binary format. unicode_errors : ``errors`` of the decoding of
        keys ('ignore'/'replace' help with keys that word2vec.c cut inside a UTF-8
        character). limit : read at most this many vectors. datatype : dtype of
        ``vectors``. no_header : text file without the ``V D`` line. fvocab : optional
        ``key count`` file (word2vec.c ``-save-vocab``) giving ``counts``.
        A duplicate key keeps its first vector (with a warning), as gensim.

        Raises ValueError for a malformed file (bad header, wrong number of values, a value
        that is not a number, fewer or more vectors than declared, a binary header declaring
        more than the file holds), naming the file and line, and for a negative ``limit``;
        UnicodeDecodeError for undecodable keys with ``unicode_errors='strict'``. With
        ``binary=True`` the record layout is checked, where gensim would return garbage
        vectors: a text file (every line a key and D decimal numbers) is refused with a
        hint to use ``binary=False``, and so are bytes other than whitespace after the
        declared vectors (unless ``limit``) and a key holding a newline (the records do
        not line up). An ``fvocab`` line must be ``word count`` with 0 <= count < 2**63.
        """
        counts_map = None
        if fvocab is not None:
            counts_map = {}
            with open(fvocab, "rb") as fin:
                for line_no, line in enumerate(fin):
                    parts = line.decode(encoding, errors=unicode_errors).strip().split()
                    try:
                        word, count = parts
                        count = int(count)
                    except ValueError:
                        raise ValueError(f"{fvocab}: line {line_no + 1}: expected 'word count'"
                                         ) from None
                    if not 0 <= count < 2**63:
                        raise ValueError(f"{fvocab}: line {line_no + 1}: count {count} out of "
                                         f"range [0, 2**63)")
                    counts_map[word] = count
        if limit is not None and (isinstance(limit, bool)
                                  or not isinstance(limit, (int, np.integer)) or limit < 0):
            raise ValueError(f"limit: expected None or an int >= 0 (0: no limit, as gensim), "
                             f"got {limit!r}")
        with open(fname, "rb") as fin:
            data = fin.read()
        if binary:
            if no_header:
                raise NotImplementedError("no_header only available for text-format files")
            keys, vectors = _read_binary(data, fname, encoding, unicode_errors, limit)
        else:
            keys, vectors = _read_text(data, fname, encoding, unicode_errors, limit, no_header)
        # Duplicate keys: keep the first (gensim).
        seen, keep = set(), []
        for i, k in enumerate(keys):
            if k in seen:
                logger.warning("duplicate word '%s' in word2vec file, ignoring all but first", k)
                continue
            seen.add(k)
            keep.append(i)
        if len(keep) != len(keys):
            keys = [keys[i] for i in keep]
            vectors = vectors[keep]
        counts = None
        if counts_map is not None:
            counts = np.array([counts_map.get(k, 0) for k in keys], dtype=np.int64)
        kv = cls.__new__(cls)
        KeyedVectors.__init__(kv, keys, vectors.astype(datatype, copy=False), counts=counts)
        return kv


def _parse_header(line, fname):
    try:
        vocab_size, vector_size = (int(x) for x in line.split())
    except ValueError:
        raise ValueError(f"{fname}: malformed word2vec header {line[:80]!r}: expected "
                         f"'<vocab_size> <vector_size>'") from None
    if vocab_size < 0 or vector_size < 1:
        raise ValueError(f"{fname}: malformed word2vec header: vocab_size {vocab_size}, "
                         f"vector_size {vector_size}")
    return vocab_size, vector_size


def _read_binary(data, fname, encoding, unicode_errors, limit):
    nl = data.find(b"\n")
    if nl < 0:
        raise ValueError(f"{fname}: malformed word2vec file: no header line")
    vocab_size, vector_size = _parse_header(data[:nl].decode("ascii", "replace"), fname)
    if limit:
        vocab_size = min(vocab_size, limit)
    if _looks_like_text(data, nl + 1, vector_size, fname, encoding, unicode_errors, limit):
        raise ValueError(f"{fname}: this is a text word2vec file (its lines hold a key and "
                         f"{vector_size} decimal numbers), not a binary one: load it with "
                         f"binary=False")
    nbytes = 4 * vector_size
    # Each vector takes at least a space (after a key, empty in gensim's writer if the key
    # is) and its values: a header declaring more than the file can hold fails here, before
    # anything is allocated for it.
    if vocab_size * (nbytes + 1) > len(data) - (nl + 1):
        raise ValueError(f"{fname}: unexpected end of binary word2vec file: the header "
                         f"declares {vocab_size} vectors of {vector_size} values, more than "
                         f"the file's {len(data)} bytes hold")
    keys = []
    vectors = np.empty((vocab_size, vector_size), dtype=np.float32)
    pos = nl + 1
    for i in range(vocab_size):
        sp = data.find(b" ", pos)
        if sp < 0 or len(data) - (sp + 1) < nbytes:
            raise ValueError(f"{fname}: unexpected end of binary word2vec file at vector "
                             f"{i + 1} of {vocab_size}; is the header count wrong or the file "
                             f"damaged?")
        # word2vec.c writes '\n' after each vector; gensim does not: strip it either way.
        key = data[pos:sp].lstrip(b"\n")
        if b"\n" in key:
            # word2vec.c ends a word at whitespace: a '\n' inside means that the previous
            # vector did not end where this record starts (wrong vector size, or text)
            raise ValueError(f"{fname}: vector {i + 1} of {vocab_size}: the key {key[:40]!r} "
                             f"holds a newline, so the binary records do not line up; is the "
                             f"header's vector size wrong, or is this a text file "
                             f"(binary=False)?")
        keys.append(key.decode(encoding, errors=unicode_errors))
        vectors[i] = np.frombuffer(data, dtype="<f4", count=vector_size, offset=sp + 1)
        pos = sp + 1 + nbytes
    # After the declared vectors only the '\n' that word2vec.c writes may follow: anything
    # else means the record layout does not fit (a wrong count or vector size, or text).
    if not limit and data[pos:].strip(b"\n\r\t "):
        raise ValueError(f"{fname}: the header declares {vocab_size} binary vectors of "
                         f"{vector_size} values but {len(data) - pos} bytes follow the last "
                         f"one; is the header wrong, or is this a text file (binary=False)?")
    return keys, vectors


_NUMBER = re.compile(rb"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?i:nan|inf|infinity)")


def _looks_like_text(data, start, vector_size, fname, encoding, unicode_errors, limit):
    """True if the body of a file opened as binary is a text word2vec body: its first line
    is a key and ``vector_size`` decimal numbers, and the whole file parses as text. (A
    binary vector holding such text, newlines in place, is practically impossible; a text
    file read as binary gives garbage vectors, which is what this refuses.)"""
    end = data.find(b"\n", start)
    fields = data[start:end if end >= 0 else len(data)].rstrip().split(b" ")
    if len(fields) != vector_size + 1 or not all(_NUMBER.fullmatch(f) for f in fields[1:]):
        return False
    try:
        _read_text(data, fname, encoding, unicode_errors, limit, False)
    except ValueError:
        return False
    return True


def _read_text(data, fname, encoding, unicode_errors, limit, no_header):
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    start = 0
    if no_header:
        if not lines:
            raise ValueError(f"{fname}: empty word2vec file: no line to take the vector size "
                             f"from (no_header=True)")
        vocab_size = len(lines) if not limit else min(limit, len(lines))
        vector_size = None
    else:
        if not lines:
            raise ValueError(f"{fname}: malformed word2vec file: empty")
        vocab_size, vector_size = _parse_header(lines[0].decode(encoding, "replace"), fname)
        start = 1
        if limit:
            vocab_size = min(vocab_size, limit)
    if len(lines) - start < vocab_size:
        raise ValueError(f"{fname}: unexpected end of text word2vec file: {vocab_size} vectors "
                         f"declared, {len(lines) - start} lines found")
    if not no_header and not limit and any(line.strip() for line in lines[start + vocab_size:]):
        raise ValueError(f"{fname}: the header declares {vocab_size} vectors but the file has "
                         f"more lines; is the header count wrong?")
    keys = []
    rows = []
    for i in range(vocab_size):
        line_no = start + i + 1
        parts = lines[start + i].rstrip().decode(encoding, errors=unicode_errors).split(" ")
        if vector_size is None:
            vector_size = len(parts) - 1
        if len(parts) - 1 != vector_size or vector_size < 1:
            raise ValueError(f"{fname}: line {line_no}: expected a key and {vector_size} values,"
                             f" got {len(parts) - 1} values")
        try:
            rows.append(np.array(parts[1:], dtype=np.float32))
        except ValueError:
            raise ValueError(f"{fname}: line {line_no}: a value is not a number") from None
        keys.append(parts[0])
    vectors = (np.vstack(rows) if rows
               else np.empty((0, vector_size or 0), dtype=np.float32))
    return keys, vectors

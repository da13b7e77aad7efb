"""Debiasing word vectors (Bolukbasi et al. 2016, "Man is to Computer Programmer as Woman is
to Homemaker?"), with the formulas of the Sequence Models course (week 2, "Debiasing word
vectors").

Shape legend: ``D`` vector size. Functions take a :class:`seqcore.KeyedVectors` and return
a new one (the input is not modified); vectors are used as stored (not re-normalised),
as in the course.
"""
from __future__ import annotations

import numpy as np

from .keyedvectors import KeyedVectors

__all__ = ["bias_direction", "neutralize", "equalize"]


def _kv(kv):
    if not isinstance(kv, KeyedVectors):
        raise TypeError(f"kv: expected a seqcore.KeyedVectors, got {type(kv).__name__}")
    return kv


def _pairs(pairs):
    pairs = list(pairs)
    if not pairs:
        raise ValueError("pairs: expected at least one (word_a, word_b) pair")
    for p in pairs:
        if isinstance(p, str) or len(p) != 2:
            raise ValueError(f"pairs: expected (word_a, word_b) pairs, got {p!r}")
    return pairs


def _direction(kv, direction):
    g = np.asarray(direction, dtype=np.float64)
    if g.shape != (kv.vector_size,):
        raise ValueError(f"direction: expected shape [D] = [{kv.vector_size}], got "
                         f"{list(g.shape)}")
    if not np.all(np.isfinite(g)) or not np.any(g):
        raise ValueError("direction: expected a finite, non-zero vector")
    return g


def _copy(kv, vectors):
    return KeyedVectors(kv.index_to_key, vectors.astype(kv.vectors.dtype), counts=kv.counts)


def bias_direction(kv, pairs):
    """Unit bias direction g [D] (float64) from definitional pairs, e.g.
    ``[("woman", "man"), ("she", "he")]``.

    One pair: the difference e_a - e_b, normalised (the course's g = e_woman - e_man).
    Several pairs: the first principal component of the differences e_a - e_b (Bolukbasi
    et al. 2016 centre each pair and take the first principal component of the centred
    vectors, which are +-(e_a - e_b)/2: the same direction), oriented to point from the b
    words to the a words (positive dot product with the mean difference).

    Raises KeyError naming an unknown word, ValueError for no pairs or identical vectors.
    """
    kv, pairs = _kv(kv), _pairs(pairs)
    diffs = np.vstack([np.asarray(kv[a], np.float64) - np.asarray(kv[b], np.float64)
                       for a, b in pairs])
    if len(pairs) == 1:
        g = diffs[0]
    else:
        g = np.linalg.svd(diffs, full_matrices=False)[2][0]
        if g @ diffs.mean(axis=0) < 0:
            g = -g
    norm = np.linalg.norm(g)
    if not norm > 0:
        raise ValueError("pairs: the words of the pairs have identical vectors")
    return g / norm


def neutralize(kv, words, direction):
    """Remove the component along ``direction`` from each word of ``words``:
    e <- e - (e . g / ||g||^2) g (course, "neutralize"; Bolukbasi et al. 2016 step 2a).

    Returns a new KeyedVectors; KeyError naming an unknown word; ValueError for a bad
    direction [D].
    """
    g = _direction(_kv(kv), direction)
    if isinstance(words, str):
        words = [words]
    vectors = kv.vectors.astype(np.float64)
    for w in words:
        i = kv.get_index(w)
        e = vectors[i]
        vectors[i] = e - (e @ g) / (g @ g) * g
    return _copy(kv, vectors)


def equalize(kv, pairs, direction):
    """Make each pair (e.g. ("actress", "actor")) differ only along ``direction``, with
    opposite components of equal size (course, "equalize"; Bolukbasi et al. 2016 step 2b)::

        mu = (e1 + e2) / 2,  mu_B = proj_g(mu),  mu_orth = mu - mu_B
        e_iB' = sqrt(|1 - ||mu_orth||^2|) (proj_g(e_i) - mu_B) / ||e_i - mu_orth - mu_B||
        e_i <- e_iB' + mu_orth

    with proj_g(v) = (v . g / ||g||^2) g. The formula assumes unit vectors (the results
    have unit norm when ||mu_orth|| <= 1). Returns a new KeyedVectors; KeyError naming an
    unknown word; ValueError for a bad direction or pair.
    """
    g = _direction(_kv(kv), direction)
    pairs = _pairs(pairs)
    vectors = kv.vectors.astype(np.float64)

    def proj(v):
        return (v @ g) / (g @ g) * g

    for a, b in pairs:
        i1, i2 = kv.get_index(a), kv.get_index(b)
        if i1 == i2:
            raise ValueError(f"pairs: a pair needs two different words, got {(a, b)!r}")
        e1, e2 = vectors[i1].copy(), vectors[i2].copy()
        mu = (e1 + e2) / 2
        mu_b = proj(mu)
        mu_orth = mu - mu_b
        scale = np.sqrt(abs(1 - mu_orth @ mu_orth))
        out = []
        for e in (e1, e2):
            denom = np.linalg.norm(e - mu_orth - mu_b)
            if not denom > 0:
                raise ValueError(f"pairs: {a!r} and {b!r} have identical vectors")
            out.append(scale * (proj(e) - mu_b) / denom + mu_orth)
        vectors[i1], vectors[i2] = out
    return _copy(kv, vectors)

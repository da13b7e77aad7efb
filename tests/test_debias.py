"""Debiasing (Bolukbasi et al. 2016; course formulas): direction, neutralize, equalize."""
from __future__ import annotations

import numpy as np
import pytest

from seqcore import KeyedVectors, debias


@pytest.fixture
def kv(rng):
    words = ["woman", "man", "girl", "boy", "she", "he", "receptionist", "engineer",
             "actress", "actor", "grandmother", "grandfather", "computer"]
    D = 11
    v = rng.standard_normal((len(words), D))
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    return KeyedVectors(words, v.astype(np.float32))


def test_bias_direction_one_pair(kv):
    g = debias.bias_direction(kv, [("woman", "man")])
    d = kv["woman"].astype(np.float64) - kv["man"]
    np.testing.assert_allclose(g, d / np.linalg.norm(d), rtol=1e-12)


def test_bias_direction_pca(kv, rng):
    # Pairs whose differences share one direction u plus small noise: the first principal
    # component recovers u (oriented from b to a).
    u = rng.standard_normal(kv.vector_size)
    u /= np.linalg.norm(u)
    vectors = kv.vectors.astype(np.float64)
    pairs = [("woman", "man"), ("girl", "boy"), ("she", "he")]
    for k, (a, b) in enumerate(pairs):
        vectors[kv.key_to_index[a]] = vectors[kv.key_to_index[b]] + (1 + k) * u \
            + 1e-3 * rng.standard_normal(kv.vector_size)
    kv2 = KeyedVectors(kv.index_to_key, vectors)
    g = debias.bias_direction(kv2, pairs)
    assert np.linalg.norm(g) == pytest.approx(1.0)
    assert g @ u > 0.9999
    # reference: the first right singular vector of the difference matrix
    diffs = np.vstack([vectors[kv.key_to_index[a]] - vectors[kv.key_to_index[b]]
                       for a, b in pairs])
    ref = np.linalg.eigh(diffs.T @ diffs)[1][:, -1]
    assert abs(g @ ref) == pytest.approx(1.0, abs=1e-10)


def test_neutralize(kv):
    g = debias.bias_direction(kv, [("woman", "man")])
    out = debias.neutralize(kv, ["receptionist", "engineer"], g)
    for w in ("receptionist", "engineer"):
        assert abs(out[w].astype(np.float64) @ g) < 1e-6
        # the component orthogonal to g is unchanged
        e = kv[w].astype(np.float64)
        np.testing.assert_allclose(out[w], e - (e @ g) * g, atol=1e-6)
    np.testing.assert_array_equal(out["computer"], kv["computer"])  # others untouched
    assert abs(kv["receptionist"].astype(np.float64) @ g) > 1e-3  # input unchanged
    # scale of the direction does not matter
    np.testing.assert_allclose(debias.neutralize(kv, "engineer", 5 * g)["engineer"],
                               out["engineer"], atol=1e-6)


def test_equalize(kv):
    g = debias.bias_direction(kv, [("woman", "man")])
    pairs = [("actress", "actor"), ("grandmother", "grandfather")]
    out = debias.equalize(kv, pairs, g)
    neutral = debias.neutralize(kv, ["receptionist"], g)["receptionist"].astype(np.float64)
    for a, b in pairs:
        ea, eb = out[a].astype(np.float64), out[b].astype(np.float64)
        # symmetric: opposite bias components, equal orthogonal parts, unit norms
        assert ea @ g == pytest.approx(-(eb @ g), abs=1e-6)
        np.testing.assert_allclose(ea - (ea @ g) * g, eb - (eb @ g) * g, atol=1e-6)
        assert np.linalg.norm(ea) == pytest.approx(np.linalg.norm(eb), abs=1e-6)
        # a neutralised word is equally similar to both
        assert neutral @ ea / np.linalg.norm(ea) == pytest.approx(
            neutral @ eb / np.linalg.norm(eb), abs=1e-6)
        # the orthogonal part is the pair's mean orthogonal part (course formula)
        mu = (kv[a].astype(np.float64) + kv[b]) / 2
        np.testing.assert_allclose(ea - (ea @ g) * g, mu - (mu @ g) * g, atol=1e-6)


def test_bad_input(kv):
    g = debias.bias_direction(kv, [("woman", "man")])
    with pytest.raises(KeyError, match="queen"):
        debias.bias_direction(kv, [("queen", "man")])
    with pytest.raises(KeyError, match="queen"):
        debias.neutralize(kv, ["queen"], g)
    with pytest.raises(KeyError, match="queen"):
        debias.equalize(kv, [("queen", "man")], g)
    with pytest.raises(ValueError, match="pairs"):
        debias.bias_direction(kv, [])
    with pytest.raises(ValueError, match="pairs"):
        debias.bias_direction(kv, [("woman", "man", "girl")])
    with pytest.raises(ValueError, match="pairs"):
        debias.bias_direction(kv, [("woman", "woman")])
    with pytest.raises(ValueError, match="direction"):
        debias.neutralize(kv, ["engineer"], g[:3])
    with pytest.raises(ValueError, match="direction"):
        debias.neutralize(kv, ["engineer"], np.zeros_like(g))
    with pytest.raises(ValueError, match="pairs"):
        debias.equalize(kv, [("actor", "actor")], g)

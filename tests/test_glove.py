"""GloVe: co-occurrence counts vs the NumPy reference, the AdaGrad step vs finite
differences, loss decreasing, determinism, quality floor on real text, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import GloVe, _core, reference


def _id_corpus(rng, V, S, max_len):
    sentences = [list(rng.integers(0, V, size=rng.integers(0, max_len + 1))) for _ in range(S)]
    sentences[0] = list(range(V))  # every id occurs
    tokens = np.array([t for s in sentences for t in s], dtype=np.int32)
    offsets = np.cumsum([0] + [len(s) for s in sentences]).astype(np.int64)
    return sentences, tokens, offsets


def _dense(row, col, value, V):
    X = np.zeros((V, V))
    X[row, col] = value
    return X


@pytest.mark.parametrize("V,S,max_len,window", [(1, 1, 1, 1), (1, 3, 4, 2), (5, 7, 9, 1),
                                                (13, 20, 30, 3), (40, 50, 60, 15)])
def test_cooccurrence_matches_reference(rng, V, S, max_len, window):
    sentences, tokens, offsets = _id_corpus(rng, V, S, max_len)
    row, col, value = _core.glove_cooccur(tokens, offsets, V, window)
    assert row.dtype == np.int32 and col.dtype == np.int32 and value.dtype == np.float64
    key = row.astype(np.int64) * V + col
    assert np.all(np.diff(key) > 0)  # sorted by (row, col), no duplicates
    assert np.all(value > 0)
    ref = reference.glove_cooccurrence(sentences, window)
    np.testing.assert_allclose(_dense(row, col, value, V), ref, rtol=1e-13, atol=0)


def test_cooccurrence_thread_invariant(rng, restore_num_threads):
    _, tokens, offsets = _id_corpus(rng, 50, 400, 40)
    seqcore.set_num_threads(1)
    a = _core.glove_cooccur(tokens, offsets, 50, 5)
    seqcore.set_num_threads(2)
    b = _core.glove_cooccur(tokens, offsets, 50, 5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_glove_cooccurrence_on_words():
    sentences = [["a", "b", "c", "a"], ["b", "c"], ["d"], ["c", "a", "b", "b"]] * 2
    g = GloVe(sentences, min_count=1, window=2, vector_size=3, epochs=0, progress=False)
    ids = [[g.vocab.key_to_index[w] for w in s] for s in sentences]
    ref = reference.glove_cooccurrence(ids, 2)
    V = len(g.vocab)
    np.testing.assert_allclose(_dense(*g.cooccurrence, V), ref[:V, :V], rtol=1e-13)


def test_adagrad_step_vs_finite_differences(rng):
    """One entry, first step (AdaGrad accumulators = 1): the update is -lr * grad of
    0.5 * J, checked against central differences of reference.glove_loss in float64."""
    V, D, x, lr = 3, 4, 7.5, 0.05
    params = rng.standard_normal((2 * V, D + 1)) * 0.3
    row, col, value = np.array([1], np.int32), np.array([2], np.int32), np.array([x])
    X = np.zeros((V, V))
    X[1, 2] = x
    new = params.copy()
    gradsq = np.ones_like(params)
    weight = np.minimum(1.0, (value / 10.0) ** 0.75)
    loss = _core.glove_epoch(row, col, np.log(value), weight, new, gradsq, lr, 1, 0, 1)
    assert loss == pytest.approx(reference.glove_loss(params, X, 10.0, 0.75), rel=1e-12)
    eps = 1e-6
    grad = np.zeros_like(params)
    for idx in np.ndindex(params.shape):
        p, m = params.copy(), params.copy()
        p[idx] += eps
        m[idx] -= eps
        grad[idx] = (reference.glove_loss(p, X, 10.0, 0.75)
                     - reference.glove_loss(m, X, 10.0, 0.75)) / (2 * eps)
    np.testing.assert_allclose(new - params, -lr * 0.5 * grad, atol=1e-9)
    np.testing.assert_allclose(gradsq - 1, (lr * 0.5 * grad) ** 2, atol=1e-9)


def _lee():
    utils = pytest.importorskip("gensim.test.utils")
    return utils.datapath("lee_background.cor")


def test_loss_decreases_and_deterministic():
    path = _lee()
    kw = dict(corpus_file=path, vector_size=20, window=5, min_count=5, epochs=4, seed=3,
              progress=False)
    g = GloVe(**kw)
    assert len(g.loss) == 4 and all(isinstance(v, float) for v in g.loss)
    assert all(b < a for a, b in zip(g.loss, g.loss[1:]))
    # the first epoch's loss is J at (nearly) the initial parameters: the reference value
    # at the initial parameters bounds it from above within the first epoch's progress
    h = GloVe(**kw)
    np.testing.assert_array_equal(g.wv.vectors, h.wv.vectors)
    assert g.loss == h.loss
    more = g.train(2)
    assert len(more) == 2 and more[-1] < g.loss[3] and g.epochs_trained == 6
    # the same data from an iterable gives the same model
    with open(path, encoding="utf8") as f:
        sentences = [line.split() for line in f]
    i = GloVe(sentences, **{k: v for k, v in kw.items() if k != "corpus_file"})
    np.testing.assert_array_equal(i.wv.vectors, h.wv.vectors)


def test_first_epoch_loss_matches_reference_with_tiny_step():
    path = _lee()
    g = GloVe(corpus_file=path, vector_size=8, window=3, min_count=5, epochs=0, seed=5,
              progress=False, dtype=np.float64)
    V = len(g.vocab)
    X = _dense(*g.cooccurrence, V)
    expected = reference.glove_loss(g.params, X, g.x_max, g.alpha)
    g.learning_rate = 1e-12  # parameters barely move during the epoch
    g.train(1)
    assert g.loss[0] == pytest.approx(expected, rel=1e-9)


def test_model_thread_invariant(restore_num_threads):
    sentences = [["a", "b", "c", "a", "d", "e"], ["b", "d", "a", "e"], ["c", "e"]] * 30
    out = []
    for nt in (1, 2):
        seqcore.set_num_threads(nt)
        out.append(GloVe(sentences, min_count=1, window=3, vector_size=7, epochs=3,
                         progress=False).wv.vectors)
    np.testing.assert_array_equal(out[0], out[1])


def test_hogwild_workers():
    g = GloVe(corpus_file=_lee(), vector_size=16, window=5, min_count=5, epochs=3, workers=2,
              progress=False)
    assert g.loss[-1] < g.loss[0] and np.all(np.isfinite(g.wv.vectors))


def test_quality_on_lee_background():
    """Loose, documented floor: 12 epochs on the Lee background corpus (300 news articles,
    60k tokens, gensim.utils.simple_preprocess, min_count=5: 1750 words) with x_max=10
    (the corpus is tiny: with x_max=100 almost every weight is < 0.3) give topical
    neighbours. Each query needs `floor` of its expected words in its top 10 (seen with
    seeds 1, 2, 3: israeli 5/5/4, taliban 7/4/7, fire 2/3/2; "fire" is mostly "opened
    fire" / "cease fire" / "rural fire service" in this corpus)."""
    utils = pytest.importorskip("gensim.utils")
    with open(_lee(), encoding="utf8") as f:
        sentences = [utils.simple_preprocess(line) for line in f]
    g = GloVe(sentences, vector_size=50, window=10, min_count=5, epochs=12, x_max=10,
              seed=1, progress=False)
    wv = g.wv
    assert wv.vectors.dtype == np.float32 and wv.vectors.shape == (len(g.vocab), 50)
    expected = {
        "israeli": {"palestinian", "palestinians", "israel", "soldiers", "army", "military",
                    "security", "tanks", "occupation", "gaza", "arafat"},
        "taliban": {"afghanistan", "afghan", "fighters", "al", "qaeda", "forces", "troops",
                    "militia", "bin", "laden", "kandahar"},
        "fire": {"opened", "cease", "rural", "crews", "service", "firefighters", "blaze",
                 "fires", "bushfires"},
    }
    floor = {"israeli": 3, "taliban": 3, "fire": 1}
    for word, ok in expected.items():
        top = {k for k, _ in wv.most_similar(word, topn=10)}
        assert len(top & ok) >= floor[word], (word, top)


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        GloVe([[], []], min_count=1, progress=False)
    with pytest.raises(ValueError, match="min_count"):
        GloVe([["a", "b"]], min_count=5, progress=False)
    with pytest.raises(ValueError, match="window"):
        GloVe([["a", "b"]], min_count=1, window=0, progress=False)
    with pytest.raises(ValueError, match="vector_size"):
        GloVe([["a", "b"]], min_count=1, vector_size=0, progress=False)
    with pytest.raises(ValueError, match="x_max"):
        GloVe([["a", "b"]], min_count=1, x_max=0, progress=False)
    with pytest.raises(ValueError, match="learning_rate"):
        GloVe([["a", "b"]], min_count=1, learning_rate=float("nan"), progress=False)
    with pytest.raises(ValueError, match="workers"):
        GloVe([["a", "b"]], min_count=1, workers=0, progress=False)
    with pytest.raises(ValueError, match="epochs"):
        GloVe([["a", "b"]], min_count=1, epochs=-1, progress=False)
    with pytest.raises(ValueError, match="co-occurring"):
        GloVe([["a"], ["b"]], min_count=1, progress=False)
    with pytest.raises(TypeError):
        GloVe([["a", "b"]], min_count=1, dtype=np.int32, progress=False)
    with pytest.raises(FileNotFoundError):
        GloVe(corpus_file=str(tmp_path / "none.txt"), progress=False)
    with pytest.raises(FloatingPointError, match="diverged"):
        GloVe([["a", "b", "a", "b"]] * 20, min_count=1, learning_rate=1e30, epochs=3,
              progress=False)


def test_kernel_bad_input():
    t = np.array([0, 1], np.int32)
    o = np.array([0, 2], np.int64)
    with pytest.raises(ValueError, match="tokens"):
        _core.glove_cooccur(np.array([0, 5], np.int32), o, 2, 1)
    with pytest.raises(ValueError, match="offsets"):
        _core.glove_cooccur(t, np.array([0, 3], np.int64), 2, 1)
    with pytest.raises(ValueError, match="window"):
        _core.glove_cooccur(t, o, 2, 0)
    p = np.zeros((4, 3), np.float32)
    r, c, lx, w = (np.array([0], np.int32), np.array([1], np.int32), np.array([0.5]),
                   np.array([1.0]))
    with pytest.raises(ValueError, match="gradsq"):
        _core.glove_epoch(r, c, lx, w, p, np.ones((2, 3), np.float32), 0.1, 1, 0, 1)
    with pytest.raises(TypeError):
        _core.glove_epoch(r, c, lx, w, p, np.ones((4, 3), np.float64), 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match="cooccurrence"):
        _core.glove_epoch(r, np.array([9], np.int32), lx, w, p, np.ones_like(p), 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match="cooccurrence"):
        _core.glove_epoch(r, c, np.array([np.nan]), w, p, np.ones_like(p), 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match="cooccurrence"):
        _core.glove_epoch(r, c, lx, np.array([1.0, 2.0]), p, np.ones_like(p), 0.1, 1, 0, 1)
    with pytest.raises(ValueError, match="learning_rate"):
        _core.glove_epoch(r, c, lx, w, p, np.ones_like(p), 0.0, 1, 0, 1)
    with pytest.raises(ValueError, match="workers"):
        _core.glove_epoch(r, c, lx, w, p, np.ones_like(p), 0.1, 1, 0, 0)

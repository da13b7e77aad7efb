"""Output layers: softmax cross-entropy, log-softmax, unigram sampler, Huffman tree,
negative sampling, sampled softmax, hierarchical softmax.

Ground truth: seqcore.reference (NumPy float64), torch.nn.functional.cross_entropy where
installed, a textbook heapq Huffman construction, central finite differences in float64 on
the dense view of the sparse row gradients, and a chi-square bound for the sampler.
"""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=2e-6), np.float64: dict(rtol=1e-10, atol=1e-12)}


def dense(rows, drows, V):
    """The dense [V, D] view of a sparse row gradient (rows must be sorted and unique)."""
    assert np.all(np.diff(rows) > 0)
    out = np.zeros((V, drows.shape[1]))
    out[rows] = drows
    return out


def zipf_counts(rng, V):
    return np.maximum(1, (1e5 / np.arange(1, V + 1)) * rng.uniform(0.5, 1.5, V)).astype(np.int64)


# ------------------------------------------------------------------ cross-entropy


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,V", [(1, 1), (1, 7), (3, 5), (17, 33), (8, 100)])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_cross_entropy_matches_reference(rng, dtype, N, V, reduction, smoothing):
    x = (3 * rng.standard_normal((N, V))).astype(dtype)
    t = rng.integers(0, V, N)
    ignore = None
    if N >= 3:
        ignore, t[1] = -7, -7
    loss, g = seqcore.softmax_cross_entropy(x, t, reduction, ignore, smoothing)
    loss_ref, g_ref = ref.softmax_cross_entropy(x, t, reduction, ignore, smoothing)
    assert g.dtype == dtype and g.shape == (N, V)
    np.testing.assert_allclose(loss, loss_ref, **TOL[dtype])
    np.testing.assert_allclose(g, g_ref, **TOL[dtype])
    if ignore is not None:
        assert np.all(g[1] == 0)
    loss_only, none = seqcore.softmax_cross_entropy(x, t, reduction, ignore, smoothing, grad=False)
    assert none is None
    np.testing.assert_array_equal(loss_only, loss)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(rng, reduction, smoothing):
    torch = pytest.importorskip("torch")
    x = (4 * rng.standard_normal((9, 50))).astype(np.float32)
    t = rng.integers(0, 50, 9)
    t[4] = -100
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction=reduction,
                                           ignore_index=-100, label_smoothing=smoothing)
    lt.sum().backward()
    loss, g = seqcore.softmax_cross_entropy(x, t, reduction, -100, smoothing)
    np.testing.assert_allclose(loss, lt.detach().numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(g, xt.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_cross_entropy_large_rows(rng):
    """N·V above the caches: online max/sum over blocks and streaming stores of dlogits, at
    an odd V so the rows start misaligned."""
    N, V = 5, 1_000_003
    x = (4 * rng.standard_normal((N, V))).astype(np.float32)
    t = rng.integers(0, V, N)
    loss, g = seqcore.softmax_cross_entropy(x, t, "sum", label_smoothing=0.05)
    loss_ref, g_ref = ref.softmax_cross_entropy(x, t, "sum", None, 0.05)
    np.testing.assert_allclose(loss, loss_ref, rtol=1e-5)
    # float32 sum of 10⁶ exponentials: relative error ~1e-6 in the normaliser
    np.testing.assert_allclose(g, g_ref, rtol=1e-4, atol=1e-9)


def test_cross_entropy_extreme_logits_and_all_ignored():
    x = np.array([[1e4, -1e4, 0.0], [-1e30, 0.0, 1e30]], np.float32)
    loss, g = seqcore.softmax_cross_entropy(x, np.array([0, 2]), "none")
    np.testing.assert_allclose(loss, [0.0, 0.0], atol=1e-6)
    assert np.all(np.isfinite(g))
    loss, g = seqcore.softmax_cross_entropy(x, np.array([5, 5]), ignore_index=5)
    assert np.isnan(loss) and np.all(g == 0)      # as torch: mean over zero rows


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,axis", [((5,), -1), ((3, 17), 1), ((4, 6, 3), 1),
                                        ((2, 3, 33), -1), ((7, 2), 0)])
def test_log_softmax(rng, dtype, shape, axis):
    x = (5 * rng.standard_normal(shape)).astype(dtype)
    y = seqcore.log_softmax(x, axis)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, ref.log_softmax(x, axis), **TOL[dtype])


@pytest.mark.parametrize("kw,err,match", [
    (dict(logits=np.zeros((2, 3), np.int64)), TypeError, "logits"),
    (dict(logits=np.zeros(3, np.float32)), ValueError, "logits"),
    (dict(logits=np.zeros((2, 0), np.float32), targets=np.zeros(2, np.int64)), ValueError, "logits"),
    (dict(targets=np.array([0, 3])), ValueError, "targets"),
    (dict(targets=np.array([0, -1])), ValueError, "targets"),
    (dict(targets=np.array([0])), ValueError, "targets"),
    (dict(targets=np.array([0.0, 1.0])), TypeError, "targets"),
    (dict(reduction="avg"), ValueError, "reduction"),
    (dict(label_smoothing=1.5), ValueError, "label_smoothing"),
])
def test_cross_entropy_bad_input(kw, err, match):
    args = dict(logits=np.zeros((2, 3), np.float32), targets=np.array([0, 2]))
    args.update(kw)
    with pytest.raises(err, match=match):
        seqcore.softmax_cross_entropy(**args)


def test_nan_propagates_without_crashing(rng):
    x = rng.standard_normal((3, 9)).astype(np.float32)
    x[1, 4] = np.nan
    loss, g = seqcore.softmax_cross_entropy(x, np.array([0, 1, 2]), "none")
    assert np.isnan(loss[1]) and np.all(np.isfinite(loss[[0, 2]]))
    assert np.all(np.isnan(seqcore.log_softmax(x)[1]))
    h = rng.standard_normal((2, 4))
    h[0, 0] = np.nan
    res = seqcore.negative_sampling_loss(h, rng.standard_normal((5, 4)), np.array([0, 1]),
                                         np.array([[2], [3]]), reduction="none")
    assert np.isnan(res.loss[0]) and np.isfinite(res.loss[1])
    empty = seqcore.log_softmax(np.zeros((0, 4), np.float32))
    assert empty.shape == (0, 4) and empty.dtype == np.float32


def test_log_softmax_bad_input():
    with pytest.raises(TypeError, match="x"):
        seqcore.log_softmax(np.zeros((2, 3), np.int32))
    with pytest.raises(ValueError, match="axis"):
        seqcore.log_softmax(np.zeros((2, 3)), axis=2)
    with pytest.raises(ValueError, match="x"):
        seqcore.log_softmax(np.float64(1.0))


# ------------------------------------------------------------------ sampler


def test_sampler_chi_square(rng):
    counts = np.array([100, 1, 0, 30, 7, 7, 2500, 12, 1, 64], np.int64)
    s = seqcore.UnigramSampler(counts, power=0.75, seed=11)
    q = np.where(counts > 0, counts ** 0.75, 0) / np.sum(counts ** 0.75)
    np.testing.assert_allclose(s.probs, q, rtol=1e-12)
    n = 400_000
    freq = np.bincount(s.sample(n).ravel(), minlength=counts.size)
    assert freq[2] == 0                               # zero count: never drawn
    keep = q > 0
    chi2 = np.sum((freq[keep] - n * q[keep]) ** 2 / (n * q[keep]))
    # 8 degrees of freedom: P(chi2 > 26.1) = 0.001
    assert chi2 < 26.1, chi2
    np.testing.assert_allclose(s.log_q([0, 6]), np.log(q[[0, 6]]))
    assert s.log_q([2])[0] == -np.inf


def test_sampler_streams_and_threads(restore_num_threads):
    counts = np.arange(1, 1001)
    shape = (600, 500)                                # enough samples for 2 threads
    seqcore.set_num_threads(1)
    a = seqcore.UnigramSampler(counts, seed=5).sample(shape)
    seqcore.set_num_threads(2)
    s = seqcore.UnigramSampler(counts, seed=5)
    b = s.sample(shape)
    np.testing.assert_array_equal(a, b)               # any thread count
    c = s.sample(shape)                               # next call: next stream
    assert not np.array_equal(b, c)
    np.testing.assert_array_equal(s.sample(shape, stream=0), a)
    assert not np.array_equal(seqcore.UnigramSampler(counts, seed=6).sample(shape), a)
    p = seqcore.UnigramSampler([3, 1], power=0.0)
    np.testing.assert_allclose(p.probs, [0.5, 0.5])


@pytest.mark.parametrize("counts,power,err,match", [
    ([1, -1, 2], 0.75, ValueError, "counts"),
    ([0, 0], 0.75, ValueError, "counts"),
    ([], 0.75, ValueError, "counts"),
    ([1, np.nan], 0.75, ValueError, "counts"),
    ([[1, 2]], 0.75, ValueError, "counts"),
    (["a", "b"], 0.75, TypeError, "counts"),
    ([1, 2], np.inf, ValueError, "power"),
])
def test_sampler_bad_input(counts, power, err, match):
    with pytest.raises(err, match=match):
        seqcore.UnigramSampler(np.array(counts), power=power)


def test_sampler_bad_ids_and_shape():
    s = seqcore.UnigramSampler([1, 2, 3])
    with pytest.raises(ValueError, match="ids"):
        s.log_q([3])
    with pytest.raises(TypeError, match="ids"):
        s.log_q([0.5])
    with pytest.raises(ValueError, match="shape"):
        s.sample((2, -1))


# ------------------------------------------------------------------ Huffman tree


def _check_tree(tree, counts):
    V = len(counts)
    depth, off, pts, codes = tree.depth, tree.offsets, tree.points, tree.codes
    assert tree.num_inner == V - 1 and depth.shape == (V,)
    np.testing.assert_array_equal(np.diff(off), depth)
    assert np.all((pts >= 0) & (pts < max(V - 1, 1)))
    words = set()
    for w in range(V):
        p, c = pts[off[w]:off[w + 1]], codes[off[w]:off[w + 1]]
        if V > 1:
            assert p[0] == V - 2                      # root first
        node = None                                   # walk down with children
        for j in range(len(p)):
            assert node is None or node == V + p[j]
            node = tree.children[p[j], c[j]]
        assert V == 1 or node == w
        words.add(tuple(c))
    assert len(words) == V                            # distinct codes


@pytest.mark.parametrize("V", [1, 2, 3, 10, 257])
def test_huffman_optimal_and_monotone(rng, V):
    counts = rng.integers(1, 1000, V)
    if V >= 10:
        counts[:4] = counts[4]                        # ties
    tree = seqcore.HuffmanTree(counts)
    _check_tree(tree, counts)
    opt = ref.huffman_code_lengths(counts)
    assert np.dot(counts, tree.depth) == np.dot(counts, opt)
    order = np.argsort(-counts, kind="stable")
    assert np.all(np.diff(tree.depth[order]) >= 0)    # frequent words: shorter codes
    again = seqcore.HuffmanTree(counts)
    np.testing.assert_array_equal(again.points, tree.points)
    np.testing.assert_array_equal(again.codes, tree.codes)


@pytest.mark.parametrize("V", [1, 2, 3, 17, 300, 3000])
def test_huffman_paths_equal_gensims_heap(rng, V):
    # many equal counts (and unsorted ids): the pairing of ties is gensim's heap order
    counts = rng.integers(1, 6, V) * (1 + (rng.random(V) < 0.1) * 40)
    tree = seqcore.HuffmanTree(counts)
    for w, (codes, points) in enumerate(ref.huffman_paths_heapq(counts)):
        path = slice(tree.offsets[w], tree.offsets[w + 1])
        assert tree.codes[path].tolist() == codes and tree.points[path].tolist() == points, w


def test_huffman_word2vec_example():
    tree = seqcore.HuffmanTree([5, 1, 1, 2, 8])       # 1+1, 2+2, 4+5, 9+8
    np.testing.assert_array_equal(tree.depth, [2, 4, 4, 3, 1])
    assert tree.max_depth == 4


@pytest.mark.parametrize("counts,err", [([1, -2], ValueError), ([0, 0, 0], ValueError),
                                        ([], ValueError), ([1.0, np.inf], ValueError),
                                        (["x"], TypeError)])
def test_huffman_bad_input(counts, err):
    with pytest.raises(err, match="counts"):
        seqcore.HuffmanTree(np.array(counts))


# ------------------------------------------------------------------ sampled losses


def _directional(f, params, grads, rng, eps=1e-6):
    """(central difference of the scalar f along a random direction of every parameter,
    analytic directional derivative sum <grad, direction>)."""
    dirs = [rng.standard_normal(p.shape) for p in params]
    plus = f(*[p + eps * d for p, d in zip(params, dirs)])
    minus = f(*[p - eps * d for p, d in zip(params, dirs)])
    fd = (plus - minus) / (2 * eps)
    return fd, sum(np.sum(g * d) for g, d in zip(grads, dirs))


# float64 central differences with eps = 1e-6: truncation ~1e-12, rounding ~1e-10.
FD_TOL = dict(rtol=1e-6, atol=1e-8)


NS_SHAPES = [(1, 1, 3, 1), (4, 5, 7, 3), (13, 17, 40, 5), (70, 33, 90, 2)]  # N, D, V, K


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shared", [False, True])
@pytest.mark.parametrize("N,D,V,K", NS_SHAPES)
def test_negative_sampling_matches_reference(rng, dtype, shared, N, D, V, K):
    h = rng.standard_normal((N, D)).astype(dtype)
    w = (0.5 * rng.standard_normal((V, D))).astype(dtype)
    t = rng.integers(0, V, N)
    neg = rng.integers(0, V, K if shared else (N, K))
    neg_full = np.broadcast_to(neg, (N, K)) if shared else neg
    l_ref, dh_ref, dw_ref = ref.negative_sampling_loss(h, w, t, neg_full)
    for reduction, scale in (("none", 1.0), ("sum", 1.0), ("mean", 1.0 / N)):
        loss, dh, rows, drows = seqcore.negative_sampling_loss(
            h, w, t, neg, shared_negatives=shared, reduction=reduction)
        want = l_ref if reduction == "none" else l_ref.sum() * scale
        np.testing.assert_allclose(loss, want, **TOL[dtype])
        np.testing.assert_allclose(dh, dh_ref * scale, **TOL[dtype])
        np.testing.assert_array_equal(rows, np.unique(np.concatenate([t, neg.ravel()])))
        np.testing.assert_allclose(dense(rows, drows, V), dw_ref * scale, **TOL[dtype])
        assert dh.dtype == dtype and drows.dtype == dtype


@pytest.mark.parametrize("shared", [False, True])
def test_negative_sampling_finite_differences(rng, shared):
    N, D, V, K = 6, 5, 11, 4
    h, w = rng.standard_normal((N, D)), 0.5 * rng.standard_normal((V, D))
    t = rng.integers(0, V, N)
    neg = rng.integers(0, V, K if shared else (N, K))

    def f(h_, w_):
        return seqcore.negative_sampling_loss(h_, w_, t, neg, shared_negatives=shared,
                                              reduction="sum").loss
    _, dh, rows, drows = seqcore.negative_sampling_loss(h, w, t, neg, shared_negatives=shared,
                                                        reduction="sum")
    fd, analytic = _directional(f, [h, w], [dh, dense(rows, drows, V)], rng)
    np.testing.assert_allclose(analytic, fd, **FD_TOL)


def test_negative_sampling_with_sampler(rng):
    N, D, V = 20, 8, 50
    h, w = rng.standard_normal((N, D)), rng.standard_normal((V, D))
    t = rng.integers(0, V, N)
    counts = np.arange(V, 0, -1)
    res = seqcore.negative_sampling_loss(h, w, t, sampler=seqcore.UnigramSampler(counts, seed=3),
                                         num_negatives=5)
    neg = seqcore.UnigramSampler(counts, seed=3).sample((N, 5))
    for a, b in zip(res, seqcore.negative_sampling_loss(h, w, t, neg)):
        np.testing.assert_array_equal(a, b)


def test_bit_identical_for_any_thread_count(rng, restore_num_threads):
    """Shapes large enough for every kernel to split its work over 2 threads."""
    V, D = 3000, 256
    counts = zipf_counts(rng, V)
    tree, sampler = seqcore.HuffmanTree(counts), seqcore.UnigramSampler(counts, seed=3)
    w = (0.05 * rng.standard_normal((V, D))).astype(np.float32)
    h = rng.standard_normal((6000, D)).astype(np.float32)
    t = sampler.sample(6000)
    logits = rng.standard_normal((64, 100_003)).astype(np.float32)
    neg, shared, sampled = sampler.sample((2000, 25)), sampler.sample(25), sampler.sample(128)
    calls = [
        lambda: seqcore.softmax_cross_entropy(logits, t[:64] * 30, label_smoothing=0.1),
        lambda: seqcore.negative_sampling_loss(h[:2000], w, t[:2000], neg),
        lambda: seqcore.negative_sampling_loss(h[:2000], w, t[:2000], shared,
                                               shared_negatives=True),
        lambda: seqcore.sampled_softmax_loss(h[:2000], w, np.zeros(V, np.float32), t[:2000],
                                             sampler, 128, sampled=sampled),
        lambda: seqcore.hierarchical_softmax_loss(h, w[:V - 1], t, tree),
        lambda: (seqcore.hierarchical_softmax_log_probs(h[:128], w[:V - 1], tree),),
    ]
    for call in calls:
        seqcore.set_num_threads(1)
        one = call()
        seqcore.set_num_threads(2)
        two = call()
        for a, b in zip(one, two):
            np.testing.assert_array_equal(a, b)


def _ns_args(**kw):
    a = dict(h=np.zeros((3, 4), np.float32), w_out=np.zeros((6, 4), np.float32),
             targets=np.array([0, 1, 5]), negatives=np.zeros((3, 2), np.int64))
    a.update(kw)
    return a


@pytest.mark.parametrize("kw,err,match", [
    (dict(h=np.zeros((3, 4), np.int32)), TypeError, "h"),
    (dict(w_out=np.zeros((6, 4))), TypeError, "w_out"),
    (dict(w_out=np.zeros((6, 5), np.float32)), ValueError, "w_out"),
    (dict(h=np.zeros(4, np.float32)), ValueError, "h"),
    (dict(targets=np.array([0, 1, 6])), ValueError, "targets"),
    (dict(targets=np.array([0, -1, 2])), ValueError, "targets"),
    (dict(targets=np.array([0, 1])), ValueError, "targets"),
    (dict(negatives=np.array([[0, 6]] * 3)), ValueError, "negatives"),
    (dict(negatives=np.zeros((3, 0), np.int64)), ValueError, "K"),
    (dict(negatives=np.zeros((2, 2), np.int64)), ValueError, "negatives"),
    (dict(negatives=np.zeros((3, 2))), TypeError, "negatives"),
    (dict(negatives=None), ValueError, "negatives"),
    (dict(reduction="avg"), ValueError, "reduction"),
])
def test_negative_sampling_bad_input(kw, err, match):
    with pytest.raises(err, match=match):
        seqcore.negative_sampling_loss(**_ns_args(**kw))


def test_negative_sampling_bad_sampler_args():
    s = seqcore.UnigramSampler(np.ones(6))
    with pytest.raises(ValueError, match="num_negatives"):
        seqcore.negative_sampling_loss(**_ns_args(negatives=None), sampler=s, num_negatives=0)
    with pytest.raises(ValueError, match="negatives"):
        seqcore.negative_sampling_loss(**_ns_args(negatives=np.zeros((3, 2), np.int64)),
                                       shared_negatives=True)
    with pytest.raises(ValueError, match="sampler"):
        seqcore.negative_sampling_loss(**_ns_args(negatives=None),
                                       sampler=seqcore.UnigramSampler(np.ones(7)), num_negatives=2)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("opts", [(True, True, True), (False, False, True), (True, True, False)])
@pytest.mark.parametrize("N,D,V,S", [(1, 1, 4, 1), (5, 7, 12, 6), (70, 19, 50, 9)])
def test_sampled_softmax_matches_reference(rng, dtype, opts, N, D, V, S):
    remove_hits, log_q, bias = opts
    h = rng.standard_normal((N, D)).astype(dtype)
    w = (0.5 * rng.standard_normal((V, D))).astype(dtype)
    b = rng.standard_normal(V).astype(dtype) if bias else None
    t = rng.integers(0, V, N)
    sampler = seqcore.UnigramSampler(rng.integers(1, 50, V), seed=1)
    sampled = rng.integers(0, V, S)
    sampled[0] = t[0]                                 # an accidental hit
    lq_t, lq_s = (sampler.log_q(t), sampler.log_q(sampled)) if log_q else (None, None)
    l_ref, dh_ref, dw_ref, db_ref = ref.sampled_softmax_loss(h, w, b, t, sampled, lq_t, lq_s,
                                                             remove_hits)
    loss, dh, rows, drows, dbias = seqcore.sampled_softmax_loss(
        h, w, b, t, sampler, S, remove_accidental_hits=remove_hits, subtract_log_q=log_q,
        reduction="none", sampled=sampled)
    np.testing.assert_allclose(loss, l_ref, **TOL[dtype])
    np.testing.assert_allclose(dh, dh_ref, **TOL[dtype])
    np.testing.assert_array_equal(rows, np.unique(np.concatenate([t, sampled])))
    np.testing.assert_allclose(dense(rows, drows, V), dw_ref, **TOL[dtype])
    if bias:
        db = np.zeros(V)
        db[rows] = dbias
        np.testing.assert_allclose(db, db_ref, **TOL[dtype])
    else:
        assert dbias is None
    mean = seqcore.sampled_softmax_loss(h, w, b, t, sampler, S, remove_hits, log_q,
                                        sampled=sampled)
    np.testing.assert_allclose(mean.loss, l_ref.mean(), **TOL[dtype])
    np.testing.assert_allclose(mean.dh, dh_ref / N, **TOL[dtype])


def test_sampled_softmax_finite_differences(rng):
    N, D, V, S = 5, 4, 9, 6
    h, w, b = rng.standard_normal((N, D)), 0.5 * rng.standard_normal((V, D)), rng.standard_normal(V)
    t = rng.integers(0, V, N)
    sampler = seqcore.UnigramSampler(np.arange(1, V + 1))
    sampled = sampler.sample(S)

    def f(h_, w_, b_):
        return seqcore.sampled_softmax_loss(h_, w_, b_, t, sampler, S, reduction="sum",
                                            sampled=sampled).loss
    _, dh, rows, drows, dbias = seqcore.sampled_softmax_loss(h, w, b, t, sampler, S,
                                                             reduction="sum", sampled=sampled)
    db = np.zeros(V)
    db[rows] = dbias
    fd, analytic = _directional(f, [h, w, b], [dh, dense(rows, drows, V), db], rng)
    np.testing.assert_allclose(analytic, fd, **FD_TOL)


def test_sampled_softmax_bad_input():
    h, w, b = np.zeros((2, 3), np.float32), np.zeros((5, 3), np.float32), np.zeros(5, np.float32)
    s = seqcore.UnigramSampler(np.ones(5))
    t = np.array([0, 4])
    with pytest.raises(ValueError, match="num_sampled"):
        seqcore.sampled_softmax_loss(h, w, b, t, s, 0)
    with pytest.raises(TypeError, match="sampler"):
        seqcore.sampled_softmax_loss(h, w, b, t, None, 2)
    with pytest.raises(ValueError, match="targets"):
        seqcore.sampled_softmax_loss(h, w, b, np.array([0, 5]), s, 2)
    with pytest.raises(ValueError, match="b_out"):
        seqcore.sampled_softmax_loss(h, w, b[:4], t, s, 2)
    with pytest.raises(TypeError, match="b_out"):
        seqcore.sampled_softmax_loss(h, w, b.astype(np.float64), t, s, 2)
    with pytest.raises(ValueError, match="sampled"):
        seqcore.sampled_softmax_loss(h, w, b, t, s, 2, sampled=np.array([1, 7]))
    with pytest.raises(ValueError, match="sampler"):
        seqcore.sampled_softmax_loss(h, w, b, t, seqcore.UnigramSampler(np.ones(4)), 2)


# ------------------------------------------------------------------ hierarchical softmax


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N,D,V", [(1, 1, 1), (1, 3, 2), (5, 7, 9), (70, 17, 130)])
def test_hierarchical_softmax_matches_reference(rng, dtype, N, D, V):
    counts = zipf_counts(rng, V)
    tree = seqcore.HuffmanTree(counts)
    h = rng.standard_normal((N, D)).astype(dtype)
    w = (0.5 * rng.standard_normal((V - 1, D))).astype(dtype)
    t = rng.integers(0, V, N)
    l_ref, dh_ref, dw_ref = ref.hierarchical_softmax_loss(h, w, t, tree.offsets, tree.points,
                                                          tree.codes)
    loss, dh, rows, drows = seqcore.hierarchical_softmax_loss(h, w, t, tree, reduction="none")
    np.testing.assert_allclose(loss, l_ref, **TOL[dtype])
    np.testing.assert_allclose(dh, dh_ref, **TOL[dtype])
    np.testing.assert_allclose(dense(rows, drows, V - 1), dw_ref, **TOL[dtype])
    mean = seqcore.hierarchical_softmax_loss(h, w, t, tree)
    np.testing.assert_allclose(mean.loss, l_ref.mean(), **TOL[dtype])
    # log-probabilities: a normalised distribution, consistent with the loss
    lp = seqcore.hierarchical_softmax_log_probs(h, w, tree)
    assert lp.shape == (N, V) and lp.dtype == dtype
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=1), 1.0,
                               rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(-lp[np.arange(N), t], l_ref, **TOL[dtype])
    some = seqcore.hierarchical_softmax_log_probs(h, w, tree, t)
    np.testing.assert_allclose(some, lp[np.arange(N), t], **TOL[dtype])
    ids2 = rng.integers(0, V, (N, 3))
    np.testing.assert_allclose(seqcore.hierarchical_softmax_log_probs(h, w, tree, ids2),
                               np.take_along_axis(lp, ids2, 1), **TOL[dtype])


def test_hierarchical_softmax_finite_differences(rng):
    N, D, V = 7, 5, 23
    tree = seqcore.HuffmanTree(zipf_counts(rng, V))
    h, w = rng.standard_normal((N, D)), 0.5 * rng.standard_normal((V - 1, D))
    t = rng.integers(0, V, N)

    def f(h_, w_):
        return seqcore.hierarchical_softmax_loss(h_, w_, t, tree, reduction="sum").loss
    res = seqcore.hierarchical_softmax_loss(h, w, t, tree, reduction="sum")
    fd, analytic = _directional(f, [h, w], [res.dh, dense(res.rows, res.drows, V - 1)], rng)
    np.testing.assert_allclose(analytic, fd, **FD_TOL)


def test_hierarchical_softmax_bad_input():
    tree = seqcore.HuffmanTree([3, 2, 1, 1])
    h, w = np.zeros((2, 3), np.float32), np.zeros((3, 3), np.float32)
    t = np.array([0, 3])
    with pytest.raises(ValueError, match="w_inner"):
        seqcore.hierarchical_softmax_loss(h, np.zeros((4, 3), np.float32), t, tree)
    with pytest.raises(TypeError, match="w_inner"):
        seqcore.hierarchical_softmax_loss(h, w.astype(np.float64), t, tree)
    with pytest.raises(ValueError, match="targets"):
        seqcore.hierarchical_softmax_loss(h, w, np.array([0, 4]), tree)
    with pytest.raises(TypeError, match="tree"):
        seqcore.hierarchical_softmax_loss(h, w, t, [3, 2, 1, 1])
    with pytest.raises(ValueError, match="reduction"):
        seqcore.hierarchical_softmax_loss(h, w, t, tree, reduction="mean ")
    with pytest.raises(ValueError, match="ids"):
        seqcore.hierarchical_softmax_log_probs(h, w, tree, np.array([[0], [-1]]))
    with pytest.raises(ValueError, match="ids"):
        seqcore.hierarchical_softmax_log_probs(h, w, tree, np.zeros((3, 1), np.int64))
    with pytest.raises(ValueError, match="ids"):
        seqcore.hierarchical_softmax_log_probs(h, w, tree, np.zeros(3, np.int64))
    with pytest.raises(TypeError, match="h"):
        seqcore.hierarchical_softmax_log_probs(h.astype(np.int64), w, tree)


def test_sampler_and_tree_pickle_and_deepcopy(rng):
    import copy
    import pickle
    counts = rng.integers(1, 50, 30)
    sampler = seqcore.UnigramSampler(counts, power=0.5, seed=9)
    sampler.sample(4)   # advances the stream
    for clone in (pickle.loads(pickle.dumps(sampler)), copy.deepcopy(sampler)):
        assert clone.stream == sampler.stream == 1
        np.testing.assert_array_equal(clone.probs, sampler.probs)
        np.testing.assert_array_equal(clone.sample((3, 5)), sampler.sample((3, 5), stream=1))
    tree = seqcore.HuffmanTree(counts)
    clone = pickle.loads(pickle.dumps(tree))
    for name in ("offsets", "points", "codes"):
        np.testing.assert_array_equal(getattr(clone, name), getattr(tree, name))

"""Embedding lookup and bags: against NumPy indexing / loops (float64), finite differences,
torch.nn.functional.embedding / embedding_bag (values and autograd gradients), thread
invariance, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import (embedding_backward, embedding_bag_backward, embedding_bag_forward,
                     embedding_forward)


def _weight(rng, V, D, dtype):
    return rng.standard_normal((V, D)).astype(dtype)


def _bags(rng, V, B, max_len):
    lengths = rng.integers(0, max_len + 1, B)
    lengths[0] = 0   # an empty bag
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return rng.integers(0, V, offsets[-1]), offsets


def _ref_bag(w, ids, offsets, mode, pad):
    out = np.zeros((len(offsets) - 1, w.shape[1]))
    for b in range(len(offsets) - 1):
        rows = [i for i in ids[offsets[b]:offsets[b + 1]] if i != pad]
        if rows:
            s = w[rows].astype(np.float64).sum(0)
            out[b] = s / len(rows) if mode == "mean" else s
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("id_dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shape", [(7,), (3, 5), (0,), (2, 0, 3)])
def test_forward_and_backward_match_numpy(rng, dtype, id_dtype, shape):
    V, D = 11, 6
    w = _weight(rng, V, D, dtype)
    ids = rng.integers(0, V, shape).astype(id_dtype)
    out = embedding_forward(w, ids)
    assert out.shape == shape + (D,) and out.dtype == dtype
    np.testing.assert_array_equal(out, w[ids])
    dout = rng.standard_normal(shape + (D,)).astype(dtype)
    for pad in (None, 3, -2):
        g = embedding_backward(dout, ids, V, padding_idx=pad)
        dense = np.zeros((V, D))
        np.add.at(dense, ids.reshape(-1), dout.reshape(-1, D).astype(np.float64))
        if pad is not None:
            dense[pad % V] = 0
        used = np.unique(ids)
        expected_rows = used[used != (pad % V)] if pad is not None else used
        np.testing.assert_array_equal(g.rows, expected_rows)
        assert g.grads.dtype == dtype and g.grads.shape == (len(expected_rows), D)
        tol = 1e-5 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(g.to_dense(V), dense, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("pad", [None, 0])
def test_bags_match_numpy(rng, dtype, mode, pad):
    V, D, B = 9, 5, 6
    w = _weight(rng, V, D, dtype)
    ids, offsets = _bags(rng, V, B, 5)
    out = embedding_bag_forward(w, ids, offsets, mode, padding_idx=pad)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, _ref_bag(w, ids, offsets, mode, pad), rtol=tol, atol=tol)
    assert not out[0].any()   # the empty bag
    # the gradient is the adjoint of the (linear) forward: <dout, f(w)> = <g, w>
    dout = rng.standard_normal((B, D)).astype(dtype)
    g = embedding_bag_backward(dout, ids, offsets, V, mode, padding_idx=pad).to_dense(V)
    lhs = float((dout.astype(np.float64) * out.astype(np.float64)).sum())
    rhs = float((g.astype(np.float64) * w.astype(np.float64)).sum())
    assert lhs == pytest.approx(rhs, rel=tol * 10, abs=tol * 10)


def test_finite_differences_float64(rng):
    V, D = 6, 3
    w = rng.standard_normal((V, D))
    ids, offsets = np.array([1, 4, 1, 0, 5, 5, 2]), np.array([0, 3, 3, 7])
    R = rng.standard_normal((3, D))
    R2 = rng.standard_normal((7, D))

    def losses(wt):
        return ((R * embedding_bag_forward(wt, ids, offsets, "mean", padding_idx=2)).sum(),
                (R2 * embedding_forward(wt, ids)).sum())

    g_bag = embedding_bag_backward(R, ids, offsets, V, "mean", padding_idx=2).to_dense(V)
    g_lookup = embedding_backward(R2, ids, V).to_dense(V)
    eps = 1e-6
    for v in range(V):
        for d in range(D):
            wp, wm = w.copy(), w.copy()
            wp[v, d] += eps
            wm[v, d] -= eps
            fd = [(a - b) / (2 * eps) for a, b in zip(losses(wp), losses(wm))]
            assert fd[0] == pytest.approx(g_bag[v, d], abs=1e-8)
            assert fd[1] == pytest.approx(g_lookup[v, d], abs=1e-8)


def test_against_torch(rng):
    torch = pytest.importorskip("torch")
    V, D = 20, 8
    w = _weight(rng, V, D, np.float64)
    ids, offsets = _bags(rng, V, 10, 6)
    for mode in ("sum", "mean"):
        for pad in (None, 4):
            wt = torch.tensor(w, requires_grad=True)
            ref = torch.nn.functional.embedding_bag(torch.from_numpy(ids), wt,
                                                    torch.from_numpy(offsets), mode=mode,
                                                    include_last_offset=True,
                                                    padding_idx=pad)
            dout = torch.tensor(rng.standard_normal((10, D)))
            ref.backward(dout)
            ours = embedding_bag_forward(w, ids, offsets, mode, padding_idx=pad)
            np.testing.assert_allclose(ours, ref.detach().numpy(), rtol=1e-12, atol=1e-12)
            g = embedding_bag_backward(dout.numpy(), ids, offsets, V, mode, padding_idx=pad)
            np.testing.assert_allclose(g.to_dense(V), wt.grad.numpy(), rtol=1e-12,
                                       atol=1e-12)
    wt = torch.tensor(w, requires_grad=True)
    x = torch.from_numpy(ids[:12].reshape(3, 4))
    ref = torch.nn.functional.embedding(x, wt, padding_idx=4)
    dout = torch.tensor(rng.standard_normal((3, 4, D)))
    ref.backward(dout)
    np.testing.assert_array_equal(embedding_forward(w, x.numpy()), ref.detach().numpy())
    g = embedding_backward(dout.numpy(), x.numpy(), V, padding_idx=4)
    np.testing.assert_allclose(g.to_dense(V), wt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_thread_invariance(rng, restore_num_threads):
    V, D = 50, 64
    w = _weight(rng, V, D, np.float32)
    ids = rng.integers(0, V, 5000)
    offsets = np.arange(0, 5001, 10)
    dout = rng.standard_normal((500, D)).astype(np.float32)
    results = []
    for threads in (1, 2):
        seqcore.set_num_threads(threads)
        results.append((embedding_bag_forward(w, ids, offsets, "mean"),
                        embedding_bag_backward(dout, ids, offsets, V, "mean").grads,
                        embedding_backward(np.repeat(dout, 10, 0), ids, V).grads))
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)


def test_bad_input(rng):
    w = _weight(rng, 5, 3, np.float32)
    with pytest.raises(ValueError, match="ids"):
        embedding_forward(w, [0, 5])
    with pytest.raises(ValueError, match="ids"):
        embedding_forward(w, [-1])
    with pytest.raises(TypeError, match="ids"):
        embedding_forward(w, [0.5])
    with pytest.raises(ValueError, match="weight"):
        embedding_forward(w[0], [0])
    with pytest.raises(TypeError, match="weight"):
        embedding_forward(w.astype(np.int32), [0])
    with pytest.raises(ValueError, match="padding_idx"):
        embedding_backward(np.ones((2, 3), np.float32), [0, 1], 5, padding_idx=5)
    with pytest.raises(ValueError, match="dout"):
        embedding_backward(np.ones((3, 3), np.float32), [0, 1], 5)   # not ids.shape + [D]
    with pytest.raises(ValueError, match="num_embeddings"):
        embedding_backward(np.ones((2, 3), np.float32), [0, 1], 0)
    with pytest.raises(ValueError, match="offsets"):
        embedding_bag_forward(w, [0, 1], [0, 1])       # must end at len(ids)
    with pytest.raises(ValueError, match="offsets"):
        embedding_bag_forward(w, [0, 1], [0, 2, 1, 2])  # decreasing
    with pytest.raises(TypeError, match="offsets"):
        embedding_bag_forward(w, [0, 1], [0.0, 2.0])
    with pytest.raises(ValueError, match="mode"):
        embedding_bag_forward(w, [0, 1], [0, 2], mode="max")
    with pytest.raises(ValueError, match="dout"):
        embedding_bag_backward(np.ones((3, 3), np.float32), [0, 1], [0, 2], 5)
    with pytest.raises(ValueError, match="num_embeddings"):
        embedding_backward(np.ones((1, 3)), [4], 5).to_dense(4)

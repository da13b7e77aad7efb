"""Attention kernels vs the NumPy float64 reference, finite differences and PyTorch.

Tolerances: float64 results agree with the reference to ~1e-12; float32 ones to rtol 1e-5 /
atol 2e-6 on outputs (softmax-weighted averages of O(1) values) and atol 2e-5 on gradients,
which sum O(Lk) float32 products of O(1) terms (the reference is exact float64).
"""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref
from conftest import fd_pairs  # noqa: E402  (tests/ is on sys.path)
from seqcore.attention import (additive_attention_backward, additive_attention_forward,
                               dot_attention, general_attention, luong_attention_backward,
                               multi_head_attention_backward, multi_head_attention_forward,
                               precompute_keys, scaled_dot_product_attention, sdpa_backward,
                               sdpa_forward, sinusoidal_positional_encoding)


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# float64 central differences with eps = 1e-6: truncation ~1e-12, rounding ~1e-10.
FD_TOL = dict(rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------------ SDPA

# (B, H, Hkv, Lq, Lk, D, Dv)
SHAPES = [
    (1, 1, 1, 1, 1, 1, 1),
    (2, 3, 3, 7, 11, 5, 3),
    (2, 4, 2, 17, 9, 16, 17),    # GQA, Lq > Lk
    (1, 2, 1, 33, 70, 19, 8),    # GQA group 2, several tiles
    (3, 1, 1, 40, 40, 64, 64),
]
MASKS = ["none", "bool_2d", "bool_4d", "float_bcast", "causal", "causal_br", "lengths",
         "bool_causal_lengths"]


def _mask_args(kind, rng, B, H, Lq, Lk, dtype):
    """kwargs for sdpa_forward and for the reference."""
    kw = {}
    if kind == "bool_2d":
        kw["attn_mask"] = rng.random((Lq, Lk)) < 0.7
    elif kind == "bool_4d":
        m = rng.random((B, 1, Lq, Lk)) < 0.6
        m[:, :, 0, :] = False             # a fully masked row
        kw["attn_mask"] = m
    elif kind == "float_bcast":
        kw["attn_mask"] = rng.standard_normal((H, 1, Lk)).astype(dtype)
    elif kind == "causal":
        kw["is_causal"] = True
    elif kind == "causal_br":
        kw["is_causal"] = True
        kw["causal_offset"] = Lk - Lq
    elif kind == "lengths":
        kw["key_lengths"] = rng.integers(0, Lk + 1, size=B)
        kw["key_lengths"][0] = Lk
    elif kind == "bool_causal_lengths":
        kw["attn_mask"] = rng.random((1, Lq, Lk)) < 0.8
        kw["is_causal"] = True
        kw["key_lengths"] = np.maximum(rng.integers(0, Lk + 1, size=B), 1)
    return kw


def _sdpa_inputs(rng, shape, dtype):
    B, H, Hkv, Lq, Lk, D, Dv = shape
    return (_randn(rng, B, H, Lq, D, dtype=dtype), _randn(rng, B, Hkv, Lk, D, dtype=dtype),
            _randn(rng, B, Hkv, Lk, Dv, dtype=dtype), _randn(rng, B, H, Lq, Dv, dtype=dtype))


def _ref_grads(q, k, v, dout, kw):
    """float64 gradients by the closed form applied to the reference probabilities."""
    B, H, Lq, D = q.shape
    Hkv = k.shape[1]
    g = H // Hkv
    scale = 1.0 / np.sqrt(D)
    out, p = ref.sdpa_forward(q, k, v, scale=scale, **kw)
    kr, vr = np.repeat(k, g, 1), np.repeat(v, g, 1)
    dv = np.einsum("bhij,bhid->bhjd", p, dout)
    dp = np.einsum("bhid,bhjd->bhij", dout, vr)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    dq = np.einsum("bhij,bhjd->bhid", ds, kr)
    dk = np.einsum("bhij,bhid->bhjd", ds, q)
    fold = lambda x: x.reshape(B, Hkv, g, *x.shape[2:]).sum(2)
    return out, dq, fold(dk), fold(dv)


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sdpa_matches_reference(rng, shape, mask, dtype):
    q, k, v, dout = _sdpa_inputs(rng, shape, dtype)
    B, H, Hkv, Lq, Lk, D, Dv = shape
    kw = _mask_args(mask, rng, B, H, Lq, Lk, dtype)
    # small tiles so that several q/kv blocks, partial tiles and chunks are exercised
    out, cache = sdpa_forward(q, k, v, block_q=8, block_k=16, **kw)
    grads = sdpa_backward(cache, dout)
    r_out, r_dq, r_dk, r_dv = _ref_grads(*(x.astype(np.float64) for x in (q, k, v, dout)), kw)
    if dtype == np.float64:
        tol = dict(rtol=1e-10, atol=1e-12)
        gtol = tol
    else:
        tol = dict(rtol=1e-5, atol=2e-6)
        gtol = dict(rtol=1e-5, atol=2e-5)
    assert out.dtype == dtype and out.shape == (B, H, Lq, Dv)
    np.testing.assert_allclose(out, r_out, **tol)
    np.testing.assert_allclose(grads.dq, r_dq, **gtol)
    np.testing.assert_allclose(grads.dk, r_dk, **gtol)
    np.testing.assert_allclose(grads.dv, r_dv, **gtol)
    assert all(np.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("blocks", [(1, 1), (3, 5), (64, 128), (200, 300)])
def test_sdpa_block_sizes(rng, blocks):
    q, k, v, dout = _sdpa_inputs(rng, (2, 2, 1, 37, 45, 9, 6), np.float64)
    out, cache = sdpa_forward(q, k, v, is_causal=True, causal_offset=8, block_q=blocks[0],
                              block_k=blocks[1])
    g = sdpa_backward(cache, dout)
    r_out, r_dq, r_dk, r_dv = _ref_grads(q, k, v, dout, dict(is_causal=True, causal_offset=8))
    for a, b in zip((out, *g), (r_out, r_dq, r_dk, r_dv)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_sdpa_gradients_finite_differences(rng):
    q, k, v, dout = _sdpa_inputs(rng, (2, 2, 1, 5, 7, 3, 4), np.float64)
    mask = rng.standard_normal((5, 7))
    kw = dict(attn_mask=mask, is_causal=True, causal_offset=2, key_lengths=np.array([7, 4]))
    out, cache = sdpa_forward(q, k, v, block_q=2, block_k=3, **kw)
    g = sdpa_backward(cache, dout)

    def loss():
        return float((sdpa_forward(q, k, v, block_q=2, block_k=3, **kw)[0] * dout).sum())
    num, ana = fd_pairs(loss, (q, k, v), g, rng)
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_sdpa_fully_masked_rows_give_zeros(rng):
    q, k, v, dout = _sdpa_inputs(rng, (2, 2, 2, 6, 5, 4, 4), np.float32)
    mask = np.ones((6, 5), bool)
    mask[2] = False
    out, cache = sdpa_forward(q, k, v, attn_mask=mask, key_lengths=np.array([5, 0]))
    g = sdpa_backward(cache, dout)
    assert np.isfinite(out).all() and all(np.isfinite(x).all() for x in g)
    assert not out[:, :, 2].any() and not out[1].any()
    assert not g.dq[:, :, 2].any() and not g.dq[1].any()
    assert not g.dk[1].any() and not g.dv[1].any()
    assert np.isneginf(cache.lse[1]).all() and np.isneginf(cache.lse[0, :, 2]).all()
    # an all -inf float mask row too
    fm = np.zeros((6, 5), np.float32)
    fm[4] = -np.inf
    out2 = scaled_dot_product_attention(q, k, v, attn_mask=fm)
    assert np.isfinite(out2).all() and not out2[:, :, 4].any()


def test_sdpa_masked_keys_get_zero_gradients(rng):
    q, k, v, dout = _sdpa_inputs(rng, (1, 2, 2, 8, 10, 4, 4), np.float64)
    out, cache = sdpa_forward(q, k, v, is_causal=True, key_lengths=np.array([6]), block_k=4)
    g = sdpa_backward(cache, dout)
    assert not g.dk[0, :, 6:].any() and not g.dv[0, :, 6:].any()


def test_sdpa_mask_is_not_expanded_and_cache_is_linear(rng):
    q, k, v, _ = _sdpa_inputs(rng, (2, 3, 3, 64, 96, 8, 8), np.float32)
    mask = np.broadcast_to(rng.random((1, 1, 1, 96)) < 0.5, (2, 3, 64, 96))  # strides 0
    out, cache = sdpa_forward(q, k, v, attn_mask=mask)
    r, _ = ref.sdpa_forward(q, k, v, attn_mask=mask)
    np.testing.assert_allclose(out, r, rtol=1e-5, atol=2e-6)
    assert cache.nbytes == out.nbytes + 2 * 3 * 64 * 4   # out + float32 logsumexp
    # a non-contiguous (transposed) bool mask
    m2 = (rng.random((96, 64)) < 0.5).T
    np.testing.assert_allclose(scaled_dot_product_attention(q, k, v, attn_mask=m2),
                               ref.sdpa_forward(q, k, v, attn_mask=m2)[0], rtol=1e-5, atol=2e-6)


def test_sdpa_bit_identical_across_thread_counts(rng, restore_num_threads):
    # B*Hkv = 2 < 64 work items: the backward splits kv blocks into chunks (partial dQ)
    q, k, v, dout = _sdpa_inputs(rng, (1, 4, 2, 70, 300, 16, 16), np.float32)
    res = []
    for n in (1, 2, 3):
        seqcore.set_num_threads(n)
        out, cache = sdpa_forward(q, k, v, is_causal=True, block_k=32)
        res.append((out, *sdpa_backward(cache, dout)))
    for other in res[1:]:
        for a, b in zip(res[0], other):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("mask", ["none", "bool", "float", "causal", "gqa"])
def test_sdpa_matches_torch(rng, mask):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    B, H, Lq, Lk, D = 2, 4, 19, 23, 12
    Hkv = 2 if mask == "gqa" else H
    q, k, v, dout = _sdpa_inputs(rng, (B, H, Hkv, Lq, Lk, D, D), np.float32)
    kw, tkw = {}, {}
    if mask == "bool":
        m = rng.random((B, 1, Lq, Lk)) < 0.7
        m[..., 0] = True
        kw["attn_mask"] = m
        tkw["attn_mask"] = torch.from_numpy(m)
    elif mask == "float":
        m = rng.standard_normal((Lq, Lk)).astype(np.float32)
        kw["attn_mask"] = m
        tkw["attn_mask"] = torch.from_numpy(m)
    elif mask == "causal":
        kw["is_causal"] = tkw["is_causal"] = True
    elif mask == "gqa":
        tkw["enable_gqa"] = True
    out, cache = sdpa_forward(q, k, v, scale=0.3, **kw)
    g = sdpa_backward(cache, dout)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (q, k, v))
    to = F.scaled_dot_product_attention(tq, tk, tv, scale=0.3, **tkw)
    to.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, to.detach().numpy(), rtol=1e-5, atol=2e-6)
    for a, t in zip(g, (tq, tk, tv)):
        np.testing.assert_allclose(a, t.grad.numpy(), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("shape", [(0, 2, 2, 3, 4, 5, 6), (1, 2, 1, 0, 4, 5, 6),
                                   (1, 2, 1, 3, 0, 5, 6)])
def test_sdpa_empty(rng, shape):
    q, k, v, dout = _sdpa_inputs(rng, shape, np.float32)
    out, cache = sdpa_forward(q, k, v, is_causal=True)
    g = sdpa_backward(cache, dout)
    assert out.shape == dout.shape and not out.any()
    assert g.dq.shape == q.shape and g.dk.shape == k.shape and g.dv.shape == v.shape
    assert not g.dq.any() and not g.dk.any() and not g.dv.any()


def test_sdpa_bad_input(rng):
    q, k, v, dout = _sdpa_inputs(rng, (2, 4, 2, 5, 6, 3, 3), np.float32)
    with pytest.raises(ValueError, match="q: expected shape"):
        sdpa_forward(q[0], k, v)
    with pytest.raises(ValueError, match="multiple of the heads"):
        sdpa_forward(q[:, :3], k, v)
    with pytest.raises(ValueError, match="k: expected shape"):
        sdpa_forward(q, k[..., :2], v)
    with pytest.raises(ValueError, match="v: expected shape"):
        sdpa_forward(q, k, v[:, :, :4])
    with pytest.raises(TypeError, match="k: dtype"):
        sdpa_forward(q, k.astype(np.float64), v)
    with pytest.raises(TypeError, match="float32 or float64"):
        sdpa_forward(q.astype(np.int32), k, v)
    with pytest.raises(ValueError, match="not broadcastable"):
        sdpa_forward(q, k, v, attn_mask=np.ones((5, 7), bool))
    with pytest.raises(ValueError, match="attn_mask"):
        sdpa_forward(q, k, v, attn_mask=np.ones((1, 2, 4, 5, 6), bool))
    with pytest.raises(TypeError, match="bool or float"):
        sdpa_forward(q, k, v, attn_mask=np.ones((5, 6), np.int64))
    with pytest.raises(TypeError, match="float mask"):
        sdpa_forward(q, k, v, attn_mask=np.ones((5, 6), np.float64))
    with pytest.raises(ValueError, match="key_lengths"):
        sdpa_forward(q, k, v, key_lengths=np.array([6, 7]))
    with pytest.raises(ValueError, match="key_lengths"):
        sdpa_forward(q, k, v, key_lengths=np.array([-1, 2]))
    with pytest.raises(ValueError, match="key_lengths"):
        sdpa_forward(q, k, v, key_lengths=np.array([1, 2, 3]))
    with pytest.raises(TypeError, match="key_lengths"):
        sdpa_forward(q, k, v, key_lengths=np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="block"):
        sdpa_forward(q, k, v, block_q=0)
    with pytest.raises((TypeError, ValueError)):
        sdpa_forward(q, k, v, scale="big")
    _, cache = sdpa_forward(q, k, v)
    with pytest.raises(ValueError, match="dout"):
        sdpa_backward(cache, dout[:, :, :4])
    with pytest.raises(TypeError, match="dout"):
        sdpa_backward(cache, dout.astype(np.float64))
    with pytest.raises((TypeError, ValueError)):
        sdpa_backward(None, dout)


# ------------------------------------------------------------------ single-query attention

STEP_SHAPES = [(1, 1, 1, 1, 1, 1), (3, 7, 5, 4, 6, 3), (4, 17, 16, 19, 9, 33)]  # N T A Dq Dk Dv


def _step_inputs(rng, N, T, A, Dq, Dk, Dv, dtype):
    return dict(query=_randn(rng, N, Dq, dtype=dtype), keys=_randn(rng, N, T, Dk, dtype=dtype),
                values=_randn(rng, N, T, Dv, dtype=dtype),
                w_q=(0.5 * _randn(rng, A, Dq)).astype(dtype),
                w_k=(0.5 * _randn(rng, A, Dk)).astype(dtype), v_a=_randn(rng, A, dtype=dtype))


def _lengths(rng, N, T):
    kl = rng.integers(0, T + 1, size=N)
    kl[0] = T
    if N >= 3:
        kl[1] = 0
    return kl


@pytest.mark.parametrize("shape", STEP_SHAPES, ids=lambda s: "x".join(map(str, s)))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lengths", [False, True])
def test_additive_matches_reference(rng, shape, dtype, lengths):
    N, T = shape[:2]
    a = _step_inputs(rng, *shape, dtype)
    kl = _lengths(rng, N, T) if lengths else None
    ctx, w, cache = additive_attention_forward(**a, key_lengths=kl)
    r_ctx, r_w = ref.additive_attention(**a, key_lengths=kl)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ctx, r_ctx, **tol)
    np.testing.assert_allclose(w, r_w, **tol)
    # reusing precomputed keys gives the same result
    pk = precompute_keys(a["keys"], a["w_k"])
    np.testing.assert_allclose(pk, a["keys"].astype(np.float64) @ a["w_k"].T.astype(np.float64),
                               **tol)
    ctx2, w2, _ = additive_attention_forward(**a, key_lengths=kl, proj_keys=pk)
    assert np.array_equal(ctx, ctx2) and np.array_equal(w, w2)


@pytest.mark.parametrize("with_dweights", [False, True])
def test_additive_gradients_finite_differences(rng, with_dweights):
    a = _step_inputs(rng, 3, 6, 5, 4, 3, 2, np.float64)
    kl = np.array([6, 0, 4])
    dctx = _randn(rng, 3, 2)
    dw = _randn(rng, 3, 6) if with_dweights else None
    ctx, w, cache = additive_attention_forward(**a, key_lengths=kl)
    g = additive_attention_backward(cache, dctx, dw)

    def loss():
        c, ww, _ = additive_attention_forward(**a, key_lengths=kl)
        return float((c * dctx).sum() + ((ww * dw).sum() if dw is not None else 0.0))
    arrays = [a[k] for k in ("query", "keys", "values", "w_q", "w_k", "v_a")]
    num, ana = fd_pairs(loss, arrays, g, rng)
    np.testing.assert_allclose(ana, num, **FD_TOL)
    assert not g.dkeys[1].any() and not g.dvalues[1].any() and not g.dquery[1].any()
    assert not g.dkeys[2, 4:].any()


def test_additive_matches_torch(rng):
    torch = pytest.importorskip("torch")
    a = _step_inputs(rng, 4, 9, 6, 5, 7, 3, np.float32)
    kl = np.array([9, 3, 1, 5])
    dctx = _randn(rng, 4, 3, dtype=np.float32)
    ctx, w, cache = additive_attention_forward(**a, key_lengths=kl)
    g = additive_attention_backward(cache, dctx)
    t = {k: torch.tensor(v, requires_grad=True) for k, v in a.items()}
    e = torch.tanh((t["query"] @ t["w_q"].T)[:, None] + t["keys"] @ t["w_k"].T) @ t["v_a"]
    e = e.masked_fill(torch.arange(9)[None] >= torch.from_numpy(kl)[:, None], float("-inf"))
    tw = torch.softmax(e, 1)
    tc = torch.einsum("nt,ntd->nd", tw, t["values"])
    tc.backward(torch.from_numpy(dctx))
    np.testing.assert_allclose(ctx, tc.detach().numpy(), rtol=1e-5, atol=2e-6)
    for name, mine in zip(("query", "keys", "values", "w_q", "w_k", "v_a"), g):
        np.testing.assert_allclose(mine, t[name].grad.numpy(), rtol=1e-5, atol=2e-5)


@pytest.mark.parametrize("kind", ["dot", "general"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_luong_matches_reference_and_fd(rng, kind, dtype):
    N, T, Dq, Dv = 4, 9, 5, 3
    Dk = Dq if kind == "dot" else 7
    q, keys, values = (_randn(rng, N, Dq, dtype=dtype), _randn(rng, N, T, Dk, dtype=dtype),
                       _randn(rng, N, T, Dv, dtype=dtype))
    w = (0.5 * _randn(rng, Dk, Dq)).astype(dtype) if kind == "general" else None
    kl = _lengths(rng, N, T)

    def fwd():
        return (dot_attention(q, keys, values, kl) if w is None else
                general_attention(q, keys, values, w, kl))
    ctx, wts, cache = fwd()
    r_ctx, r_w = ref.luong_attention(q, keys, values, w, kl)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == np.float64 else dict(rtol=1e-5, atol=2e-6)
    np.testing.assert_allclose(ctx, r_ctx, **tol)
    np.testing.assert_allclose(wts, r_w, **tol)
    dctx, dw = _randn(rng, N, Dv, dtype=dtype), _randn(rng, N, T, dtype=dtype)
    g = luong_attention_backward(cache, dctx, dw)
    assert (g.dw is None) == (kind == "dot")
    if dtype == np.float64:
        def loss():
            c, ww, _ = fwd()
            return float((c * dctx).sum() + (ww * dw).sum())
        arrays = [q, keys, values] + ([w] if w is not None else [])
        num, ana = fd_pairs(loss, arrays, [g.dquery, g.dkeys, g.dvalues, g.dw][:len(arrays)],
                             rng)
        np.testing.assert_allclose(ana, num, **FD_TOL)


@pytest.mark.parametrize("N,T", [(0, 4), (3, 0)])
def test_step_attention_empty(rng, N, T):
    a = _step_inputs(rng, N, T, 4, 3, 3, 2, np.float32)
    ctx, w, cache = additive_attention_forward(**a)
    assert ctx.shape == (N, 2) and w.shape == (N, T) and not ctx.any()
    g = additive_attention_backward(cache, np.ones((N, 2), np.float32))
    assert g.dquery.shape == (N, 3) and not g.dw_q.any() and not g.dv_a.any()
    ctx, w, cache = dot_attention(a["query"], a["keys"], a["values"])
    assert ctx.shape == (N, 2) and not ctx.any()
    assert luong_attention_backward(cache, np.ones((N, 2), np.float32)).dkeys.shape == (N, T, 3)


def test_step_attention_bad_input(rng):
    a = _step_inputs(rng, 2, 5, 4, 3, 3, 2, np.float32)
    with pytest.raises(ValueError, match="query"):
        additive_attention_forward(**{**a, "query": a["query"][0]})
    with pytest.raises(ValueError, match="keys"):
        additive_attention_forward(**{**a, "keys": a["keys"][:1]})
    with pytest.raises(ValueError, match="values"):
        additive_attention_forward(**{**a, "values": a["values"][:, :4]})
    with pytest.raises(ValueError, match="w_q"):
        additive_attention_forward(**{**a, "w_q": a["w_q"][:, :2]})
    with pytest.raises(ValueError, match="w_k"):
        additive_attention_forward(**{**a, "w_k": a["w_k"][:3]})
    with pytest.raises(ValueError, match="v_a"):
        additive_attention_forward(**{**a, "v_a": a["v_a"][:3]})
    with pytest.raises(TypeError, match="keys"):
        additive_attention_forward(**{**a, "keys": a["keys"].astype(np.float64)})
    with pytest.raises(TypeError, match="float32 or float64"):
        additive_attention_forward(**{**a, "query": a["query"].astype(np.int64)})
    with pytest.raises(ValueError, match="key_lengths"):
        additive_attention_forward(**a, key_lengths=np.array([6, 1]))
    with pytest.raises(ValueError, match="key_lengths"):
        additive_attention_forward(**a, key_lengths=np.array([-1, 1]))
    with pytest.raises(ValueError, match="proj_keys"):
        additive_attention_forward(**a, proj_keys=np.zeros((2, 5, 3), np.float32))
    with pytest.raises(ValueError, match="w_k"):
        precompute_keys(a["keys"], a["w_k"][:, :2])
    ctx, w, cache = additive_attention_forward(**a)
    with pytest.raises(ValueError, match="dcontext"):
        additive_attention_backward(cache, np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="dweights"):
        additive_attention_backward(cache, np.zeros((2, 2), np.float32), np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="cache"):
        luong_attention_backward(cache, np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match="Dk == Dq"):
        dot_attention(a["query"], a["keys"][..., :2], a["values"])
    with pytest.raises(ValueError, match="w"):
        general_attention(a["query"], a["keys"], a["values"], np.zeros((3, 4), np.float32))


# --------------------------------------------------------------------- multi-head attention

def _mha_torch(torch, E, heads, bias, seed):
    torch.manual_seed(seed)
    mod = torch.nn.MultiheadAttention(E, heads, bias=bias).double()
    with torch.no_grad():           # non-zero biases so that their gradients are tested
        for p in mod.parameters():
            if p.ndim == 1:
                p.uniform_(-0.5, 0.5)
    return mod


@pytest.mark.parametrize("case", ["self", "cross_mask", "causal_lengths", "nobias_floatmask"])
def test_mha_matches_torch(rng, case):
    torch = pytest.importorskip("torch")
    L, S, N, E, heads = 5, 7, 3, 12, 3
    if case == "self":
        S = L
    bias = case != "nobias_floatmask"
    mod = _mha_torch(torch, E, heads, bias, 0)
    sd = {k: v.detach().numpy() for k, v in mod.state_dict().items()}
    xq = _randn(rng, L, N, E)
    xk = xq if case in ("self", "causal_lengths") else _randn(rng, S, N, E)
    if case == "causal_lengths":
        S = L
    xv = xk if case != "cross_mask" else _randn(rng, S, N, E)
    dy = _randn(rng, L, N, E)
    kw, tkw = {}, {}
    if case == "cross_mask":
        m = rng.random((N * heads, L, S)) < 0.3
        m[..., 0] = False
        kw["attn_mask"] = m
        tkw["attn_mask"] = torch.from_numpy(m)
    elif case == "causal_lengths":
        kl = np.array([L, 2, 1])
        kw.update(is_causal=True, key_lengths=kl)
        tkw["attn_mask"] = torch.ones(L, S, dtype=torch.bool).triu(1)
        tkw["key_padding_mask"] = torch.arange(S)[None] >= torch.from_numpy(kl)[:, None]
    elif case == "nobias_floatmask":
        m = rng.standard_normal((L, S))
        kw["attn_mask"] = m
        tkw["attn_mask"] = torch.from_numpy(m)
    args = (sd["in_proj_weight"], sd.get("in_proj_bias"), sd["out_proj.weight"],
            sd.get("out_proj.bias"), heads)
    out, cache = multi_head_attention_forward(xq, xk, xv, *args, **kw)
    g = multi_head_attention_backward(cache, dy)
    tq, tk, tv = (torch.tensor(x, requires_grad=True) for x in (xq, xk, xv))
    to = mod(tq, tk, tv, need_weights=False, **tkw)[0]
    to.backward(torch.from_numpy(dy))
    tol = dict(rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(out, to.detach().numpy(), **tol)
    np.testing.assert_allclose(out, ref.multi_head_attention(xq, xk, xv, *args, **kw), **tol)
    np.testing.assert_allclose(g.dquery, tq.grad.numpy(), **tol)
    np.testing.assert_allclose(g.dkey, tk.grad.numpy(), **tol)
    np.testing.assert_allclose(g.dvalue, tv.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_in_proj_weight, mod.in_proj_weight.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_out_proj_weight, mod.out_proj.weight.grad.numpy(), **tol)
    if bias:
        np.testing.assert_allclose(g.d_in_proj_bias, mod.in_proj_bias.grad.numpy(), **tol)
        np.testing.assert_allclose(g.d_out_proj_bias, mod.out_proj.bias.grad.numpy(), **tol)
    else:
        assert g.d_in_proj_bias is None and g.d_out_proj_bias is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_mha_blocked_projections_match_torch(rng, dtype):
    # E a multiple of the SIMD width (the blocked projection GEMMs), L*N = 473 rows: a row
    # tail and two k blocks of 256 rows in the weight gradients; rows of a head N*E >= 2048
    # bytes apart (the SDPA kernels copy such tiles to contiguous buffers); head dim 12
    torch = pytest.importorskip("torch")
    L, N, E, heads = 43, 11, 48, 4
    mod = _mha_torch(torch, E, heads, True, 1)
    sd = {k: v.detach().numpy().astype(dtype) for k, v in mod.state_dict().items()}
    x = _randn(rng, L, N, E, dtype=dtype)
    dy = _randn(rng, L, N, E, dtype=dtype)
    args = (sd["in_proj_weight"], sd["in_proj_bias"], sd["out_proj.weight"],
            sd["out_proj.bias"], heads)
    out, cache = multi_head_attention_forward(x, x, x, *args)
    g = multi_head_attention_backward(cache, dy)
    tx = torch.tensor(x.astype(np.float64), requires_grad=True)
    to = mod(tx, tx, tx, need_weights=False)[0]
    to.backward(torch.from_numpy(dy.astype(np.float64)))
    # float32: the weight and bias gradients are sums of 473 products of O(1) terms
    # (measured max abs error 1.6e-5)
    tol = dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-5, atol=5e-5)
    np.testing.assert_allclose(out, to.detach().numpy(), **tol)
    np.testing.assert_allclose(g.dquery + g.dkey + g.dvalue, tx.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_in_proj_weight, mod.in_proj_weight.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_in_proj_bias, mod.in_proj_bias.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_out_proj_weight, mod.out_proj.weight.grad.numpy(), **tol)
    np.testing.assert_allclose(g.d_out_proj_bias, mod.out_proj.bias.grad.numpy(), **tol)


def test_mha_float32_and_fd(rng):
    L, N, E, heads = 4, 2, 6, 2
    x = _randn(rng, L, N, E)
    w_in, b_in = 0.4 * _randn(rng, 3 * E, E), _randn(rng, 3 * E)
    w_out, b_out = 0.4 * _randn(rng, E, E), _randn(rng, E)
    dy = _randn(rng, L, N, E)
    out, cache = multi_head_attention_forward(x, x, x, w_in, b_in, w_out, b_out, heads,
                                              is_causal=True)
    g = multi_head_attention_backward(cache, dy)

    def loss():
        return float((multi_head_attention_forward(x, x, x, w_in, b_in, w_out, b_out, heads,
                                                   is_causal=True)[0] * dy).sum())
    dx = g.dquery + g.dkey + g.dvalue        # self-attention: the three paths add up
    num, ana = fd_pairs(loss, [x, w_in, b_in, w_out, b_out],
                         [dx, g.d_in_proj_weight, g.d_in_proj_bias, g.d_out_proj_weight,
                          g.d_out_proj_bias], rng)
    np.testing.assert_allclose(ana, num, **FD_TOL)
    f = lambda a: a.astype(np.float32)
    out32, _ = multi_head_attention_forward(f(x), f(x), f(x), f(w_in), f(b_in), f(w_out),
                                            f(b_out), heads, is_causal=True)
    assert out32.dtype == np.float32
    np.testing.assert_allclose(out32, out, rtol=1e-5, atol=2e-5)


def test_mha_bad_input(rng):
    L, N, E = 3, 2, 8
    x = _randn(rng, L, N, E, dtype=np.float32)
    w_in, w_out = _randn(rng, 3 * E, E, dtype=np.float32), _randn(rng, E, E, dtype=np.float32)
    with pytest.raises(ValueError, match="num_heads"):
        multi_head_attention_forward(x, x, x, w_in, None, w_out, None, 3)
    with pytest.raises(ValueError, match="in_proj_weight"):
        multi_head_attention_forward(x, x, x, w_in[:E], None, w_out, None, 2)
    with pytest.raises(ValueError, match="key"):
        multi_head_attention_forward(x, x[:, :1], x, w_in, None, w_out, None, 2)
    with pytest.raises(ValueError, match="value"):
        multi_head_attention_forward(x, x, x[:2], w_in, None, w_out, None, 2)
    with pytest.raises(ValueError, match="attn_mask"):
        multi_head_attention_forward(x, x, x, w_in, None, w_out, None, 2,
                                     attn_mask=np.zeros((3, N * 2 + 1, 3), bool))
    with pytest.raises(TypeError, match="out_proj_weight"):
        multi_head_attention_forward(x, x, x, w_in, None, w_out.astype(np.float64), None, 2)
    with pytest.raises(ValueError, match="key_lengths"):
        multi_head_attention_forward(x, x, x, w_in, None, w_out, None, 2,
                                     key_lengths=np.array([4, 1]))
    _, cache = multi_head_attention_forward(x, x, x, w_in, None, w_out, None, 2)
    with pytest.raises(ValueError, match="dout"):
        multi_head_attention_backward(cache, x[:2])


# ------------------------------------------------------------- positional encoding, plots

@pytest.mark.parametrize("length,d_model", [(0, 4), (1, 1), (7, 6), (50, 33)])
def test_sinusoidal_positional_encoding(length, d_model):
    pe = sinusoidal_positional_encoding(length, d_model)
    assert pe.shape == (length, d_model) and pe.dtype == np.float32
    for p in range(length):          # the formula of section 3.5, written out
        for i in range(d_model):
            angle = p / 10000 ** (2 * (i // 2) / d_model)
            expected = np.sin(angle) if i % 2 == 0 else np.cos(angle)
            assert abs(pe[p, i] - expected) < 1e-6
    with pytest.raises(ValueError):
        sinusoidal_positional_encoding(-1, 4)
    with pytest.raises(ValueError):
        sinusoidal_positional_encoding(3, 0)


def test_plot_attention_writes_png(tmp_path, rng):
    pytest.importorskip("matplotlib")
    w = rng.random((4, 5))
    w /= w.sum(1, keepdims=True)
    path = tmp_path / "attn.png"
    assert seqcore.plot_attention(w, ["le", "chat", "est", "noir", "<eos>"],
                                  ["the", "cat", "is", "black"], path) == path
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    with pytest.raises(ValueError, match="weights"):
        seqcore.plot_attention(w[0], ["a"], ["b"], tmp_path / "x.png")
    with pytest.raises(ValueError, match="weights"):
        seqcore.plot_attention(w, ["a"] * 6, ["b"], tmp_path / "x.png")


def test_mha_and_additive_bit_identical_across_thread_counts(rng, restore_num_threads):
    # L*N = 280 rows: the projections are row-split, and the weight gradients sum over two
    # k blocks of 256 rows
    L, N, E, heads = 70, 4, 48, 4
    x = _randn(rng, L, N, E, dtype=np.float32)
    w_in, b_in = _randn(rng, 3 * E, E, dtype=np.float32) * 0.2, _randn(rng, 3 * E, dtype=np.float32)
    w_out = _randn(rng, E, E, dtype=np.float32) * 0.2
    a = _step_inputs(rng, 70, 30, 24, 16, 16, 8, np.float32)
    res = []
    for n in (1, 2, 3):
        seqcore.set_num_threads(n)
        y, cache = multi_head_attention_forward(x, x, x, w_in, b_in, w_out, None, heads,
                                                is_causal=True)
        g = multi_head_attention_backward(cache, x)
        ctx, w, c = additive_attention_forward(**a)
        ga = additive_attention_backward(c, np.ones_like(ctx))
        res.append([y, *[t for t in g if t is not None], ctx, *ga])
    for other in res[1:]:
        for p, q in zip(res[0], other):
            assert np.array_equal(p, q)

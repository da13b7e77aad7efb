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
from seqcore.attention import (additive_attention_backward, additive_attention_forward,
                               dot_attention, general_attention, luong_attention_backward,
                               multi_head_attention_backward, multi_head_attention_forward,
                               precompute_keys, scaled_dot_product_attention, sdpa_backward,
                               sdpa_forward, sinusoidal_positional_encoding)


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _fd_check(loss, arrays, grads, rng, n=6, eps=1e-6, rtol=1e-6, atol=1e-8):
    """Central differences of a scalar loss at n random coordinates of each array."""
    for a, g in zip(arrays, grads):
        if a.size == 0:
            continue
        for idx in rng.integers(0, a.size, size=n):
            flat = a.reshape(-1)
            old = flat[idx]
            flat[idx] = old + eps
            up = loss()
            flat[idx] = old - eps
            down = loss()
            flat[idx] = old
            num = (up - down) / (2 * eps)
            assert abs(num - g.reshape(-1)[idx]) <= atol + rtol * abs(num), (idx, num,
                                                                             g.reshape(-1)[idx])


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
    _fd_check(loss, (q, k, v), g, rng)


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
    _, cache = sdpa_forward(q, k, v)
    with pytest.raises(ValueError, match="dout"):
        sdpa_backward(cache, dout[:, :, :4])
    with pytest.raises(TypeError, match="dout"):
        sdpa_backward(cache, dout.astype(np.float64))
    with pytest.raises((TypeError, ValueError)):
        sdpa_backward(None, dout)

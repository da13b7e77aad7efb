"""Transformer building blocks and layers vs the NumPy float64 reference, finite differences
and ``torch.nn``.

Tolerances: float64 results agree with the reference to ~1e-12 (sums of O(10-100) products
of O(1) terms, eps 2e-16). float32 layer norm: rtol/atol 1e-5 (a normalised row is O(1); the
mean and variance are float32 sums over D <= 100 terms). float32 linear layers: atol
1e-5 * sqrt(K) (sums of K float32 products of standard-normal terms, as test_gemm.py). A
float32 encoder layer against torch: 2e-5 on outputs and 1e-4 on gradients (a chain of
linear, attention and layer norm, each adding float32 rounding of that size; observed
~2e-6). Finite differences: central, float64, eps 1e-6 (truncation ~1e-12, rounding ~1e-10).
"""
from __future__ import annotations

import math
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref
from conftest import fd_pairs  # noqa: E402  (tests/ is on sys.path)
from seqcore.transformer import (TransformerEncoder, TransformerEncoderLayer,
                                 layer_norm_backward, layer_norm_forward, linear_backward,
                                 linear_forward)

ACTS = ("none", "relu", "gelu", "gelu_tanh")
FD_TOL = dict(rtol=1e-6, atol=1e-8)


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


# --------------------------------------------------------------------------- layer norm

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("D", [1, 7, 8, 33, 100])
@pytest.mark.parametrize("affine,residual", [(True, True), (True, False), (False, False)])
def test_layer_norm_matches_reference(rng, D, dtype, affine, residual):
    x = _randn(rng, 3, 5, D, dtype=dtype) * 3 + 1
    r = _randn(rng, 3, 5, D, dtype=dtype) if residual else None
    w = _randn(rng, D, dtype=dtype) if affine else None
    b = _randn(rng, D, dtype=dtype) if affine else None
    y, _ = layer_norm_forward(x, w, b, 1e-5, residual=r)
    assert y.shape == x.shape and y.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y, ref.layer_norm(x, w, b, 1e-5, r), **tol)


def test_layer_norm_constant_row_is_beta(rng):
    """A constant row has zero variance: y = beta exactly (rstd = 1/sqrt(eps), no NaN)."""
    x = np.full((2, 6), 3.5)
    b = _randn(rng, 6)
    y, cache = layer_norm_forward(x, _randn(rng, 6), b, 1e-5)
    np.testing.assert_array_equal(y, np.broadcast_to(b, (2, 6)))
    g = layer_norm_backward(cache, _randn(rng, 2, 6))
    assert np.isfinite(g.dx).all()


@pytest.mark.parametrize("residual", [True, False])
def test_layer_norm_gradients_finite_differences(rng, residual):
    x, w, b = _randn(rng, 4, 9), _randn(rng, 9), _randn(rng, 9)
    r = _randn(rng, 4, 9) if residual else None
    dy = _randn(rng, 4, 9)
    _, cache = layer_norm_forward(x, w, b, 1e-3, residual=r)
    g = layer_norm_backward(cache, dy)

    def loss():
        return float((layer_norm_forward(x, w, b, 1e-3, residual=r)[0] * dy).sum())
    arrays, grads = [x, w, b], [g.dx, g.dweight, g.dbias]
    if residual:
        arrays.append(r)
        grads.append(g.dx)          # y depends on x + residual: the same gradient
    num, ana = fd_pairs(loss, arrays, grads, rng, n=8)
    np.testing.assert_allclose(ana, num, **FD_TOL)
    _, c2 = layer_norm_forward(x, None, None, 1e-3, residual=r)
    assert layer_norm_backward(c2, dy).dweight is None


# --------------------------------------------------------------------------- linear

@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("M,I,O", [(1, 5, 3), (7, 16, 17), (130, 40, 70), (300, 257, 33)])
def test_linear_matches_reference(rng, M, I, O, act, dtype):
    """Few rows (the dot-product path, M <= 8) and the blocked GEMM with its epilogue
    (several row blocks of 120, ragged panels, K across the 256 block)."""
    x, w, b = (_randn(rng, M, I, dtype=dtype), _randn(rng, O, I, dtype=dtype),
               _randn(rng, O, dtype=dtype))
    y, cache = linear_forward(x, w, b, act)
    assert y.shape == (M, O) and y.dtype == dtype
    want = ref.linear(x, w, b, act)
    atol = (1e-5 if dtype == np.float32 else 1e-12) * math.sqrt(I)
    np.testing.assert_allclose(y, want, rtol=atol, atol=atol)
    # backward against the float64 chain rule
    dy = _randn(rng, M, O, dtype=dtype)
    g = linear_backward(cache, dy)
    z = ref.linear(x, w, b)
    h = 1e-6 * np.maximum(1.0, np.abs(z))
    dact = (ref.activation(z + h, act) - ref.activation(z - h, act)) / (2 * h)
    if act == "relu":
        dact = (z > 0).astype(np.float64)
    dz = dy.astype(np.float64) * dact
    tol = dict(rtol=1e-4, atol=1e-4 * math.sqrt(M)) if dtype == np.float32 else \
        dict(rtol=1e-7, atol=1e-7 * math.sqrt(M))   # dact by differences: ~1e-9 relative
    np.testing.assert_allclose(g.dx, dz @ w.astype(np.float64), **tol)
    np.testing.assert_allclose(g.dweight, dz.T @ x.astype(np.float64), **tol)
    np.testing.assert_allclose(g.dbias, dz.sum(axis=0), **tol)


@pytest.mark.parametrize("act", ACTS)
def test_linear_gradients_finite_differences(rng, act):
    x, w, b = _randn(rng, 3, 4, 5), _randn(rng, 6, 5), _randn(rng, 6)
    dy = _randn(rng, 3, 4, 6)
    y, cache = linear_forward(x, w, b, act)
    assert y.shape == (3, 4, 6)
    g = linear_backward(cache, dy)
    assert g.dx.shape == x.shape

    def loss():
        return float((linear_forward(x, w, b, act)[0] * dy).sum())
    num, ana = fd_pairs(loss, [x, w, b], [g.dx, g.dweight, g.dbias], rng, n=8)
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_linear_without_bias_or_dx(rng):
    x, w = _randn(rng, 9, 4), _randn(rng, 3, 4)
    y, cache = linear_forward(x, w, None, "relu")
    np.testing.assert_allclose(y, np.maximum(x @ w.T, 0), rtol=1e-12, atol=1e-12)
    g = linear_backward(cache, np.ones_like(y), need_dx=False)
    assert g.dx is None and g.dbias is None and g.dweight.shape == (3, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_bit_identical_across_thread_counts(rng, dtype, restore_num_threads):
    """DESIGN.md: rows are independent and column sums run in a fixed order."""
    x, w, b = (_randn(rng, 250, 70, dtype=dtype), _randn(rng, 130, 70, dtype=dtype),
               _randn(rng, 130, dtype=dtype))
    r, dy = _randn(rng, 250, 70, dtype=dtype), _randn(rng, 250, 130, dtype=dtype)
    results = []
    for threads in (1, 2, 3):
        seqcore.set_num_threads(threads)
        y, c = linear_forward(x, w, b, "gelu")
        ln, lc = layer_norm_forward(x, w[0], b[:70], 1e-5, residual=r)
        results.append([y, *linear_backward(c, dy), ln,
                        *layer_norm_backward(lc, dy[:, :70])])
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


# --------------------------------------------------------------------------- encoder layer

def _torch():
    return pytest.importorskip("torch")


def _torch_pair(torch, E, nhead, F, dtype, **kw):
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    torch.manual_seed(0)
    t = torch.nn.TransformerEncoderLayer(E, nhead, F, dropout=0.0, dtype=tdt, **kw)
    t.train()       # no fast path: key-padded outputs stay as computed
    ours = TransformerEncoderLayer(E, nhead, F, dropout=0.0, dtype=dtype, **kw)
    ours.load_state_dict(t.state_dict())
    return t, ours


CASES = [
    dict(norm_first=False, activation="relu", batch_first=False, mask="none"),
    dict(norm_first=True, activation="gelu", batch_first=True, mask="padding"),
    dict(norm_first=False, activation="gelu", batch_first=True, mask="causal"),
    dict(norm_first=True, activation="relu", batch_first=False, mask="bool"),
    dict(norm_first=False, activation="relu", batch_first=False, mask="float", bias=False),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{v}" for v in c.values()))
def test_encoder_layer_matches_torch(rng, case, dtype):
    """Output, dsrc and every parameter gradient against torch.nn.TransformerEncoderLayer
    with the same state dict (and the float64 reference for the output)."""
    torch = _torch()
    case = dict(case)
    mask = case.pop("mask")
    E, nhead, F, S, N = 16, 4, 24, 7, 3
    t, ours = _torch_pair(torch, E, nhead, F, dtype, **case)
    shape = (N, S, E) if case["batch_first"] else (S, N, E)
    x, dy = _randn(rng, *shape, dtype=dtype), _randn(rng, *shape, dtype=dtype)
    kw, tkw, lengths, attn_mask = {}, {}, None, None
    if mask == "padding":
        lengths = np.array([7, 4, 1])
        pad = np.arange(S)[None, :] >= lengths[:, None]
        kw["src_key_padding_mask"] = pad
        tkw["src_key_padding_mask"] = torch.from_numpy(pad)
    elif mask == "causal":
        attn_mask = np.triu(np.ones((S, S), bool), 1)
        kw["is_causal"] = True
        tkw.update(src_mask=torch.from_numpy(attn_mask), is_causal=True)
    elif mask in ("bool", "float"):
        attn_mask = rng.random((S, S)) < 0.3
        np.fill_diagonal(attn_mask, False)
        if mask == "float":
            attn_mask = np.where(attn_mask, -2.5, 0.5).astype(dtype)
        kw["src_mask"] = attn_mask
        tkw["src_mask"] = torch.from_numpy(attn_mask)
    out, cache = ours(x, **kw)
    tx = torch.from_numpy(x).requires_grad_()
    tout = t(tx, **tkw)
    tout.backward(torch.from_numpy(dy))
    dx, grads = ours.backward(cache, dy)
    f32 = dtype == np.float32
    tol_o = dict(rtol=2e-5, atol=2e-5) if f32 else dict(rtol=1e-12, atol=1e-12)
    tol_g = dict(rtol=1e-4, atol=1e-4) if f32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(out, tout.detach().numpy(), **tol_o)
    np.testing.assert_allclose(dx, tx.grad.numpy(), **tol_g)
    assert list(grads) == [k for k, _ in t.named_parameters()]
    for k, p in t.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), err_msg=k, **tol_g)
    if not f32 and mask != "causal":   # the reference of the forward, time-major
        xt = x.transpose(1, 0, 2) if case["batch_first"] else x
        want = ref.transformer_encoder_layer(
            xt, ours.params, nhead, case["activation"], case["norm_first"],
            attn_mask=attn_mask, key_lengths=lengths)
        got = out.transpose(1, 0, 2) if case["batch_first"] else out
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_encoder_stack_with_final_norm_matches_torch(rng):
    torch = _torch()
    E, nhead, F, S, N = 8, 2, 12, 5, 2
    t_layer, layer = _torch_pair(torch, E, nhead, F, np.float64, norm_first=True)
    t = torch.nn.TransformerEncoder(t_layer, 3, norm=torch.nn.LayerNorm(E, dtype=torch.float64),
                                    enable_nested_tensor=False)
    with torch.no_grad():   # distinct layers and a non-trivial final norm
        for p in t.parameters():
            p.add_(0.1 * torch.randn_like(p))
    ours = TransformerEncoder(layer, 3, norm=(np.ones(E), np.zeros(E)))
    ours.load_state_dict(t.state_dict())
    assert list(ours.state_dict()) == list(t.state_dict())
    x, dy = _randn(rng, S, N, E), _randn(rng, S, N, E)
    lengths = np.array([5, 3])
    out, cache = ours(x, src_lengths=lengths)
    tx = torch.from_numpy(x).requires_grad_()
    pad = torch.from_numpy(np.arange(S)[None, :] >= lengths[:, None])
    tout = t(tx, src_key_padding_mask=pad)
    tout.backward(torch.from_numpy(dy))
    dx, grads = ours.backward(cache, dy)
    np.testing.assert_allclose(out, tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(dx, tx.grad.numpy(), rtol=1e-11, atol=1e-11)
    for k, p in t.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), rtol=1e-11, atol=1e-11,
                                   err_msg=k)


def test_encoder_layer_gradients_finite_differences(rng):
    """Pre-LN with exact GELU, causal, float64: the whole layer by central differences."""
    layer = TransformerEncoderLayer(6, 2, 10, dropout=0.0, activation="gelu", norm_first=True,
                                    dtype=np.float64, seed=1)
    for p in layer.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    x, dy = _randn(rng, 4, 2, 6), _randn(rng, 4, 2, 6)
    _, cache = layer(x, is_causal=True)
    dx, grads = layer.backward(cache, dy)

    def loss():
        return float((layer(x, is_causal=True)[0] * dy).sum())
    names = list(layer.params)
    num, ana = fd_pairs(loss, [x] + [layer.params[k] for k in names],
                        [dx] + [grads[k] for k in names], rng, n=3)
    assert len(num) == 3 * (1 + len(names)) and np.abs(num).max() > 1e-2   # not all zero
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_encoder_layer_dropout_is_seeded_and_backward_consistent(rng):
    """With dropout, two layers of one seed agree; the backward uses the forward's masks
    (checked by differences with the masks replayed: a fresh layer of the same seed)."""
    def make():
        return TransformerEncoderLayer(6, 2, 8, dropout=0.3, dtype=np.float64, seed=5)
    a, b = make(), make()
    x, dy = _randn(rng, 3, 2, 6), _randn(rng, 3, 2, 6)
    ya, ca = a(x)
    yb, _ = b(x)
    np.testing.assert_array_equal(ya, yb)
    dx, _ = a.backward(ca, dy)
    eps, idx = 1e-6, (1, 0, 2)

    def replay(delta):
        layer = make()
        xp = x.copy()
        xp[idx] += delta
        return float((layer(xp)[0] * dy).sum())
    num = (replay(eps) - replay(-eps)) / (2 * eps)
    np.testing.assert_allclose(dx[idx], num, rtol=1e-6, atol=1e-8)
    a.eval()
    y1, _ = a(x)
    y2, _ = a(x)
    np.testing.assert_array_equal(y1, y2)   # no dropout in eval mode


def test_encoder_layer_bad_input(rng):
    with pytest.raises(ValueError, match="nhead"):
        TransformerEncoderLayer(10, 3)
    with pytest.raises(ValueError, match="activation"):
        TransformerEncoderLayer(8, 2, activation="tanh")
    with pytest.raises(ValueError, match="dropout"):
        TransformerEncoderLayer(8, 2, dropout=1.0)
    with pytest.raises(TypeError, match="dtype"):
        TransformerEncoderLayer(8, 2, dtype=np.int32)
    layer = TransformerEncoderLayer(8, 2, 16, seed=0)
    x = _randn(rng, 4, 2, 8, dtype=np.float32)
    with pytest.raises(TypeError, match="src"):
        layer(x.astype(np.float64))
    with pytest.raises(ValueError, match="src"):
        layer(x[..., :6])
    with pytest.raises(ValueError, match="src_key_padding_mask"):
        layer(x, src_key_padding_mask=np.zeros((2, 5), bool))
    with pytest.raises(TypeError, match="src_key_padding_mask"):
        layer(x, src_key_padding_mask=np.zeros((2, 4)))
    with pytest.raises(ValueError, match="src_key_padding_mask"):   # padding not at the end
        layer(x, src_key_padding_mask=np.array([[True, False, False, False]] * 2))
    with pytest.raises(ValueError, match="key_lengths"):
        layer(x, src_lengths=np.array([5, 1]))
    with pytest.raises(ValueError, match="attn_mask"):
        layer(x, src_mask=np.zeros((3, 3), bool))
    out, cache = layer(x)
    with pytest.raises(ValueError, match="dout"):
        layer.backward(cache, out[:2])
    with pytest.raises(TypeError, match="cache"):
        TransformerEncoderLayer(8, 2, 16).backward(cache, out)


def test_kernel_bad_input(rng):
    x = _randn(rng, 3, 4)
    with pytest.raises(TypeError, match="weight"):
        layer_norm_forward(x, np.ones(4, np.float32))
    with pytest.raises(ValueError, match="weight"):
        layer_norm_forward(x, np.ones(5))
    with pytest.raises(ValueError, match="residual"):
        layer_norm_forward(x, residual=x[:2])
    with pytest.raises(ValueError, match="eps"):
        layer_norm_forward(x, eps=-1.0)
    with pytest.raises(ValueError, match="x"):
        layer_norm_forward(np.zeros((3, 0)))
    with pytest.raises(TypeError, match="x"):
        layer_norm_forward(x.astype(np.int64))
    with pytest.raises(ValueError, match="activation"):
        linear_forward(x, _randn(rng, 2, 4), activation="swish")
    with pytest.raises(ValueError, match="weight"):
        linear_forward(x, _randn(rng, 2, 5))
    with pytest.raises(ValueError, match="bias"):
        linear_forward(x, _randn(rng, 2, 4), np.zeros(3))
    _, cache = linear_forward(x, _randn(rng, 2, 4))
    with pytest.raises(ValueError, match="dy"):
        linear_backward(cache, np.zeros((3, 3)))
    with pytest.raises(TypeError, match="cache"):
        layer_norm_backward(cache, np.zeros((3, 2)))


def test_no_quadratic_buffer_in_training():
    """No [S, S] buffer in a training step: at S = 4096 (one head of size 16) an [S, S]
    float32 matrix is 64 MiB, while the layer's activations are ~3 MiB. The step runs in a
    fresh process and its peak resident memory growth must stay below one such matrix."""
    code = textwrap.dedent("""
        import resource, numpy as np, seqcore as sc
        layer = sc.TransformerEncoderLayer(16, 1, 32, dropout=0.0, seed=0)
        x = np.random.default_rng(0).standard_normal((4096, 1, 16)).astype(np.float32)
        y, c = layer(x[:8]); layer.backward(c, y)            # warm up code paths
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        y, c = layer(x, is_causal=True); layer.backward(c, y)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    grown_kib = int(out.stdout.split()[-1])
    assert grown_kib < 64 * 1024, f"peak RSS grew by {grown_kib} KiB"


# --------------------------------------------------------------------------- decoder

@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("norm_first,batch_first", [(False, False), (True, True)])
def test_transformer_matches_torch(rng, norm_first, batch_first, dtype):
    """nn.Transformer (2 + 2 layers, final norms) with the same state dict: output, dsrc,
    dtgt and every gradient, with a causal target mask and padded sources."""
    torch = _torch()
    from seqcore.transformer import Transformer
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    E, nhead, F, T, S, N = 16, 4, 24, 6, 7, 3
    torch.manual_seed(0)
    t = torch.nn.Transformer(E, nhead, 2, 2, F, dropout=0.0, batch_first=batch_first,
                             norm_first=norm_first, dtype=tdt)
    ours = Transformer(E, nhead, 2, 2, F, dropout=0.0, batch_first=batch_first,
                       norm_first=norm_first, dtype=dtype)
    assert list(ours.state_dict()) == list(t.state_dict())
    ours.load_state_dict(t.state_dict())

    def shape(L):
        return (N, L, E) if batch_first else (L, N, E)
    src, tgt = _randn(rng, *shape(S), dtype=dtype), _randn(rng, *shape(T), dtype=dtype)
    sl = np.array([7, 3, 5])
    pad = torch.from_numpy(np.arange(S)[None] >= sl[:, None])
    ts, tt = torch.from_numpy(src).requires_grad_(), torch.from_numpy(tgt).requires_grad_()
    tout = t(ts, tt, tgt_mask=t.generate_square_subsequent_mask(T, dtype=tdt),
             src_key_padding_mask=pad, memory_key_padding_mask=pad, tgt_is_causal=True)
    out, cache = ours(src, tgt, tgt_is_causal=True, src_lengths=sl, memory_lengths=sl)
    dy = _randn(rng, *out.shape, dtype=dtype)
    tout.backward(torch.from_numpy(dy))
    (dsrc, dtgt), grads = ours.backward(cache, dy)
    f32 = dtype == np.float32
    tol_o = dict(rtol=2e-5, atol=2e-5) if f32 else dict(rtol=1e-12, atol=1e-12)
    tol_g = dict(rtol=1e-4, atol=1e-4) if f32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(out, tout.detach().numpy(), **tol_o)
    np.testing.assert_allclose(dsrc, ts.grad.numpy(), **tol_g)
    np.testing.assert_allclose(dtgt, tt.grad.numpy(), **tol_g)
    for k, p in t.named_parameters():
        np.testing.assert_allclose(grads[k], p.grad.numpy(), err_msg=k, **tol_g)


def test_decoder_layer_gradients_finite_differences(rng):
    """Post-LN decoder layer with tanh-GELU, float64: tgt, memory and every parameter."""
    from seqcore.transformer import TransformerDecoderLayer
    layer = TransformerDecoderLayer(6, 2, 10, dropout=0.0, activation="gelu_tanh",
                                    dtype=np.float64, seed=2)
    for p in layer.params.values():
        p += 0.1 * rng.standard_normal(p.shape)
    tgt, mem, dy = _randn(rng, 3, 2, 6), _randn(rng, 4, 2, 6), _randn(rng, 3, 2, 6)
    ml = np.array([4, 2])
    _, cache = layer(tgt, mem, tgt_is_causal=True, memory_lengths=ml)
    (dtgt, dmem), grads = layer.backward(cache, dy)

    def loss():
        return float((layer(tgt, mem, tgt_is_causal=True, memory_lengths=ml)[0] * dy).sum())
    names = list(layer.params)
    num, ana = fd_pairs(loss, [tgt, mem] + [layer.params[k] for k in names],
                        [dtgt, dmem] + [grads[k] for k in names], rng, n=3)
    assert len(num) == 3 * (2 + len(names)) and np.abs(num).max() > 1e-2   # not all zero
    np.testing.assert_allclose(ana, num, **FD_TOL)
    assert not dmem[:, 1][2:].any()    # padded memory rows get no gradient


def _seq2seq(norm_first=False, dtype=np.float64, seed=0):
    from seqcore.transformer import Transformer
    return Transformer(16, 4, 2, 2, 24, dropout=0.0, norm_first=norm_first,
                       src_vocab_size=11, tgt_vocab_size=13, dtype=dtype, seed=seed).eval()


@pytest.mark.parametrize("norm_first", [False, True])
def test_cached_decoding_equals_full_prefix(rng, norm_first):
    """Each cached step's log-probs equal the whole prefix run through the causal decoder
    (float64, tight), with hypotheses reordered, duplicated and dropped between steps."""
    model = _seq2seq(norm_first)
    src, sl = rng.integers(0, 11, (6, 3)), np.array([6, 2, 4])
    step, state = model.step_function(src, sl, max_length=8)
    # rows: (batch item, prefix); origins drawn at random from the previous rows
    items, prefixes = np.arange(3), [[1], [1], [1]]
    origin = np.arange(3)
    for t in range(6):
        lp, state = step(np.array([p[-1] for p in prefixes]), state, origin)
        for r, (i, p) in enumerate(zip(items, prefixes)):
            want = model.decoder_log_probs(src[:, [i]], sl[[i]], np.array(p)[:, None])[-1, 0]
            np.testing.assert_allclose(lp[r], want, rtol=1e-12, atol=1e-12)
        M = int(rng.integers(1, 5))
        origin = rng.integers(0, len(items), M)
        items = items[origin]
        prefixes = [prefixes[o] + [int(rng.integers(0, 13))] for o in origin]


def test_translate_equals_python_beam_search_over_full_prefix():
    """translate (cached decoder) == seqcore.beam_search over a step that re-runs the whole
    prefix: the same hypotheses and scores."""
    model = _seq2seq(seed=3)
    r = np.random.default_rng(1)
    src, sl = r.integers(0, 11, (5, 2)), np.array([5, 3])

    def full_step(tokens, state, origin):
        if state is None:
            rows, prefix = np.asarray(origin), np.asarray(tokens)[None]
        else:
            rows, prefix = state[0][origin], np.vstack([state[1][:, origin], tokens[None]])
        lp = np.stack([model.decoder_log_probs(src[:, [i]], sl[[i]], prefix[:, [m]])[-1, 0]
                       for m, i in enumerate(rows)])
        return lp, (rows, prefix)

    opts = dict(beam_width=3, max_length=7, n_best=2, length_penalty=0.6)
    got = model.translate(src, sl, **opts)
    want = seqcore.beam_search(full_step, 2, model.bos_id, model.eos_id, **opts)
    for g_item, w_item in zip(got, want):
        assert len(g_item) == len(w_item)
        for g, w in zip(g_item, w_item):
            np.testing.assert_array_equal(g.tokens, w.tokens)
            assert g.score == pytest.approx(w.score, abs=1e-10)
    greedy = model.greedy(src, sl, max_length=7)
    beam1 = model.translate(src, sl, beam_width=1, max_length=7)
    for g, b in zip(greedy, beam1):
        np.testing.assert_array_equal(g.tokens, b[0].tokens)


def test_seq2seq_bad_input(rng):
    from seqcore.transformer import Transformer
    model = _seq2seq()
    src, sl = rng.integers(0, 11, (4, 2)), np.array([4, 2])
    with pytest.raises(ValueError, match="src"):
        model.translate(src + 11, sl)
    with pytest.raises(ValueError, match="src_lengths"):
        model.translate(src, np.array([5, 2]))
    with pytest.raises(ValueError, match="src"):
        model.greedy(src.astype(np.float64), sl)
    step, state = model.step_function(src, sl, max_length=1)
    _, state = step(np.array([1, 1]), state, np.arange(2))
    with pytest.raises(ValueError, match="max_length"):
        step(np.array([1, 1]), state, np.arange(2))
    with pytest.raises(ValueError, match="embeddings"):
        Transformer(8, 2, 1, 1, 8).translate(src, sl)
    with pytest.raises(ValueError, match="vocab"):
        Transformer(8, 2, 1, 1, 8, src_vocab_size=5)
    with pytest.raises(ValueError, match="eos_id"):
        Transformer(8, 2, 1, 1, 8, src_vocab_size=5, tgt_vocab_size=2, eos_id=2)
    dec = seqcore.TransformerDecoderLayer(8, 2, 8)
    tgt = np.zeros((3, 2, 8), np.float32)
    with pytest.raises(ValueError, match="memory"):
        dec(tgt, np.zeros((4, 3, 8), np.float32))
    with pytest.raises(ValueError, match="memory_key_padding_mask"):
        dec(tgt, np.zeros((4, 2, 8), np.float32), memory_key_padding_mask=np.zeros((2, 3), bool))
    with pytest.raises(TypeError, match="decoder_layer"):
        seqcore.TransformerDecoder(seqcore.TransformerEncoderLayer(8, 2), 2)


# --------------------------------------------------------------------------- torch adapter

@pytest.mark.parametrize("kind", ["encoder", "decoder"])
@pytest.mark.parametrize("activation", ["relu", "gelu", "gelu_tanh"])
def test_torch_adapter_layers_match_torch(kind, activation):
    """seqcore.torch.Transformer{Encoder,Decoder}Layer == torch.nn's with the same state dict:
    outputs, input gradients and every parameter gradient (float32, tolerance as above)."""
    torch = _torch()
    import seqcore.torch as st
    torch.manual_seed(0)
    act = torch.nn.GELU(approximate="tanh") if activation == "gelu_tanh" else activation
    ours_cls, theirs_cls = ((st.TransformerEncoderLayer, torch.nn.TransformerEncoderLayer)
                            if kind == "encoder" else
                            (st.TransformerDecoderLayer, torch.nn.TransformerDecoderLayer))
    ours = ours_cls(16, 4, 32, dropout=0.0, batch_first=True, activation=act)
    theirs = theirs_cls(16, 4, 32, dropout=0.0, batch_first=True, activation=act)
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(3, 5, 16, requires_grad=True)
    mem = torch.randn(3, 6, 16, requires_grad=True)
    pad = torch.arange(6)[None] >= torch.tensor([6, 3, 2])[:, None]

    def run(module):
        x.grad = mem.grad = None
        module.zero_grad()
        if kind == "encoder":
            y, inputs = module(x, src_key_padding_mask=pad[:, :5]), [x]
        else:
            y = module(x, mem, tgt_mask=torch.nn.Transformer.generate_square_subsequent_mask(5),
                       tgt_is_causal=True, memory_key_padding_mask=pad)
            inputs = [x, mem]
        (y * torch.linspace(-1, 1, y.numel()).reshape(y.shape)).sum().backward()
        return [y.detach()] + [t.grad.clone() for t in inputs] + \
            [p.grad.clone() for p in module.parameters()]
    for a, b in zip(run(ours), run(theirs)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_torch_adapter_dropout_follows_torch_seed():
    torch = _torch()
    import seqcore.torch as st
    layer = st.TransformerEncoderLayer(8, 2, 16, dropout=0.5)
    x = torch.randn(4, 2, 8)
    torch.manual_seed(1)
    a = layer(x)
    torch.manual_seed(1)
    b = layer(x)
    c = layer(x)
    assert torch.equal(a, b) and not torch.equal(b, c)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    with pytest.raises(TypeError, match="dtype"):
        st.TransformerEncoderLayer(8, 2, 16, dtype=torch.float16)(x.half())


def test_cross_attention_weights_are_distributions():
    model = _seq2seq(seed=4)
    src, sl = np.array([[3], [4], [5], [6]]), np.array([3])
    w = model.cross_attention_weights(src, sl, [5, 6, 7])
    assert w.shape == (4, 4, 4)               # [heads, tokens + EOS step, S]
    np.testing.assert_allclose(w.sum(-1), 1.0, rtol=1e-12)
    assert not w[..., 3:].any()              # the padded source position gets no weight
    with pytest.raises(ValueError, match="src"):
        model.cross_attention_weights(np.zeros((4, 2), np.int64), np.array([4, 4]), [5])


def test_decoding_ignores_training_dropout():
    """Decoding is inference: a model left in training mode with dropout decodes as in eval
    mode, and keeps its training flag."""
    from seqcore.transformer import Transformer
    model = Transformer(16, 4, 1, 1, 24, dropout=0.5, src_vocab_size=11, tgt_vocab_size=13,
                        dtype=np.float64, seed=5)
    src, sl = np.random.default_rng(0).integers(0, 11, (5, 2)), np.array([5, 3])
    a = model.translate(src, sl, beam_width=2, max_length=6)
    lp = model.decoder_log_probs(src, sl, np.ones((3, 2), np.int64))
    assert model.training
    model.eval()
    b = model.translate(src, sl, beam_width=2, max_length=6)
    np.testing.assert_array_equal(lp, model.decoder_log_probs(src, sl, np.ones((3, 2), np.int64)))
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0].tokens, y[0].tokens)
        assert x[0].score == y[0].score

"""conv1d, batch norm over time and the sigmoid binary cross-entropy vs the NumPy float64
reference, finite differences and torch (Conv1d, BatchNorm1d,
binary_cross_entropy_with_logits).

Tolerances: float64 results agree with the reference to ~1e-12 (sums of at most a few hundred
products of O(1) terms). float32 conv1d: atol 2e-6 * sqrt(Ci * Kw) (a sum of Ci * Kw float32
products of standard-normal terms, as test_gemm.py's 1e-5 * sqrt(K) but for sums of fewer
terms); float32 batch norm: rtol/atol 1e-5 (normalised values are O(1); the statistics are
float64 sums). Finite differences: central, float64, eps 1e-6.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref
from conftest import fd_pairs  # noqa: E402  (tests/ is on sys.path)
from seqcore.conv import (PackedConv1d, batch_norm_backward, batch_norm_forward,
                          conv1d_backward, conv1d_forward, conv1d_output_length)
from seqcore.output_layers import binary_cross_entropy_with_logits

FD_TOL = dict(rtol=1e-6, atol=1e-8)
DTYPES = pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])


def _randn(rng, *shape, dtype=np.float64):
    return rng.standard_normal(shape).astype(dtype)


def _to_layout(a, channels_last):
    """torch's [N, C, L] to the layout under test."""
    return np.ascontiguousarray(a.transpose(0, 2, 1)) if channels_last else a


# (N, Ci, L, Co, Kw, stride, padding, dilation): T=1 outputs, kernels as long as the input,
# strides and dilations that do not divide the span, sizes off the SIMD width, the
# trigger-word layer's kernel 15 / stride 4.
GEOMETRIES = [
    (1, 1, 1, 1, 1, 1, 0, 1),
    (2, 3, 5, 4, 5, 1, 0, 1),
    (2, 5, 37, 7, 4, 3, 2, 1),
    (3, 4, 30, 17, 3, 2, 1, 2),
    (1, 9, 23, 33, 5, 1, 4, 3),
    (2, 13, 64, 9, 15, 4, 0, 1),
    (2, 6, 11, 5, 2, 7, 3, 4),
]


# --------------------------------------------------------------------------- conv1d

@DTYPES
@pytest.mark.parametrize("channels_last", [False, True], ids=["ncl", "nlc"])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "-".join(map(str, g)))
def test_conv1d_matches_reference(rng, geom, channels_last, dtype):
    N, Ci, L, Co, Kw, s, p, d = geom
    x, w, b = _randn(rng, N, Ci, L), _randn(rng, Co, Ci, Kw), _randn(rng, Co)
    expect = ref.conv1d(x, w, b, s, p, d)
    y, _ = conv1d_forward(_to_layout(x, channels_last).astype(dtype), w.astype(dtype),
                          b.astype(dtype), s, p, d, channels_last=channels_last)
    assert y.dtype == dtype
    assert y.shape == _to_layout(expect, channels_last).shape
    assert y.shape[1 if channels_last else 2] == conv1d_output_length(L, Kw, s, p, d)
    tol = (dict(rtol=0, atol=2e-6 * math.sqrt(Ci * Kw)) if dtype == np.float32
           else dict(rtol=1e-12, atol=1e-12))
    np.testing.assert_allclose(_to_layout(y, channels_last), expect, **tol)
    relu, _ = conv1d_forward(_to_layout(x, channels_last).astype(dtype), w.astype(dtype),
                             b.astype(dtype), s, p, d, channels_last=channels_last,
                             activation="relu")
    np.testing.assert_array_equal(relu, np.maximum(y, 0))


@pytest.mark.parametrize("channels_last", [False, True], ids=["ncl", "nlc"])
@pytest.mark.parametrize("geom", [GEOMETRIES[2], GEOMETRIES[3], GEOMETRIES[6]],
                         ids=lambda g: "-".join(map(str, g)))
@pytest.mark.parametrize("activation", ["none", "relu"])
def test_conv1d_gradients_finite_differences(rng, geom, channels_last, activation):
    N, Ci, L, Co, Kw, s, p, d = geom
    x = _to_layout(_randn(rng, N, Ci, L), channels_last)
    w, b = _randn(rng, Co, Ci, Kw), _randn(rng, Co)
    y, cache = conv1d_forward(x, w, b, s, p, d, channels_last=channels_last,
                              activation=activation)
    dy = _randn(rng, *y.shape)
    g = conv1d_backward(cache, dy)
    assert g.dx.shape == x.shape and g.dweight.shape == w.shape and g.dbias.shape == (Co,)

    def loss():
        return float((conv1d_forward(x, w, b, s, p, d, channels_last=channels_last,
                                     activation=activation)[0] * dy).sum())
    num, ana = fd_pairs(loss, [x, w, b], [g.dx, g.dweight, g.dbias], rng, n=8)
    assert np.abs(num).max() > 0
    np.testing.assert_allclose(ana, num, **FD_TOL)
    assert conv1d_backward(cache, dy, need_dx=False).dx is None
    _, nobias = conv1d_forward(x, w, None, s, p, d, channels_last=channels_last)
    assert conv1d_backward(nobias, dy).dbias is None


def test_conv1d_matches_torch(rng):
    """The trigger-word layer (Kw 15, stride 4) at a reduced size: torch.nn.Conv1d with the
    same weights, float32, forward and all gradients."""
    torch = pytest.importorskip("torch")
    conv = torch.nn.Conv1d(101, 24, kernel_size=15, stride=4, padding=3).float()
    x = _randn(rng, 3, 101, 211, dtype=np.float32)
    xt = torch.tensor(x, requires_grad=True)
    yt = conv(xt)
    dy = _randn(rng, *yt.shape, dtype=np.float32)
    yt.backward(torch.tensor(dy))
    w, b = conv.weight.detach().numpy(), conv.bias.detach().numpy()
    y, cache = conv1d_forward(x, w, b, 4, 3)
    g = conv1d_backward(cache, dy)
    atol = 2e-6 * math.sqrt(101 * 15)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=0, atol=atol)
    np.testing.assert_allclose(g.dx, xt.grad.numpy(), rtol=0, atol=2e-6 * math.sqrt(24 * 15))
    # dweight and dbias sum over N * Lo = 153 steps as well
    np.testing.assert_allclose(g.dweight, conv.weight.grad.numpy(), rtol=0,
                               atol=2e-6 * math.sqrt(3 * 50))
    np.testing.assert_allclose(g.dbias, conv.bias.grad.numpy(), rtol=0, atol=1e-5)


@pytest.mark.parametrize("channels_last", [False, True], ids=["ncl", "nlc"])
def test_conv1d_bit_identical_across_thread_counts(rng, channels_last):
    x = _to_layout(_randn(rng, 3, 20, 300, dtype=np.float32), channels_last)
    w, b = _randn(rng, 40, 20, 15, dtype=np.float32), _randn(rng, 40, dtype=np.float32)
    results = []
    before = seqcore.get_num_threads()
    try:
        for threads in (1, 2, 3):
            seqcore.set_num_threads(threads)
            y, cache = conv1d_forward(x, w, b, 4, 2, channels_last=channels_last)
            g = conv1d_backward(cache, np.ones_like(y) + y)
            results.append((y, *g))
    finally:
        seqcore.set_num_threads(before)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("channels_last", [False, True], ids=["ncl", "nlc"])
def test_conv1d_windows_equal_the_whole(rng, channels_last):
    """A window of k output steps computed on its own (a streamed chunk: fewer steps than
    channels, so the product runs the other way round) is bit-identical to those steps of
    the whole sequence's output."""
    x = _randn(rng, 1, 20, 400, dtype=np.float32)
    w, b = _randn(rng, 30, 20, 15, dtype=np.float32), _randn(rng, 30, dtype=np.float32)
    whole, _ = conv1d_forward(_to_layout(x, channels_last), w, b, 4,
                              channels_last=channels_last, activation="relu")
    whole = _to_layout(whole, channels_last)
    for t0, k in ((0, 1), (5, 3), (17, 12), (40, 29), (0, 97)):
        part, _ = conv1d_forward(_to_layout(x[:, :, 4 * t0:4 * (t0 + k - 1) + 15],
                                            channels_last), w, b, 4,
                                 channels_last=channels_last, activation="relu")
        np.testing.assert_array_equal(_to_layout(part, channels_last), whole[:, :, t0:t0 + k])


def test_conv1d_empty_batch(rng):
    w = _randn(rng, 4, 3, 2)
    y, cache = conv1d_forward(np.zeros((0, 3, 9)), w, np.zeros(4))
    assert y.shape == (0, 4, 8)
    g = conv1d_backward(cache, y)
    assert g.dx.shape == (0, 3, 9)
    np.testing.assert_array_equal(g.dweight, np.zeros_like(w))
    np.testing.assert_array_equal(g.dbias, np.zeros(4))


def test_conv1d_nan_propagates(rng):
    x = _randn(rng, 1, 2, 10)
    x[0, 1, 4] = np.nan
    y, _ = conv1d_forward(x, _randn(rng, 3, 2, 3))
    assert np.isnan(y[0, :, 2:5]).all() and np.isfinite(y[0, :, :2]).all()


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(x=np.zeros((2, 3))), ValueError, r"x: expected a 3-D array \[N, Ci, L\]"),
    (dict(weight=np.zeros((4, 2, 3))), ValueError, r"weight: .*Ci = 3"),
    (dict(weight=np.zeros((4, 3))), ValueError, r"weight: expected a 3-D array"),
    (dict(stride=0), ValueError, "stride"),
    (dict(padding=-1), ValueError, "padding"),
    (dict(dilation=0), ValueError, "dilation"),
    (dict(x=np.zeros((1, 3, 4))), ValueError, r"x: the input .* shorter than the kernel"),
    (dict(weight=np.zeros((4, 3, 0))), ValueError, "weight"),
    (dict(bias=np.zeros(5)), ValueError, r"bias: expected shape \[Co\]"),
    (dict(bias=np.zeros(4, np.float32)), TypeError, "bias: dtype float32 does not match x"),
    (dict(weight=np.zeros((4, 3, 5), np.float32)), TypeError, "weight: dtype float32"),
    (dict(x=np.zeros((1, 3, 9), np.int64)), TypeError, "x: expected dtype float32 or"),
    (dict(activation="gelu"), ValueError, "activation"),
    (dict(stride=1.5), TypeError, "stride"),
])
def test_conv1d_bad_input(kwargs, exc, match):
    args = dict(x=np.zeros((1, 3, 9)), weight=np.zeros((4, 3, 5)), bias=np.zeros(4),
                stride=1, padding=0, dilation=1, activation="none")
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        conv1d_forward(**args)


def test_conv1d_backward_bad_input(rng):
    _, cache = conv1d_forward(_randn(rng, 2, 3, 9), _randn(rng, 4, 3, 5))
    with pytest.raises(ValueError, match=r"dy: expected shape \[N, Co, Lo\]"):
        conv1d_backward(cache, np.zeros((2, 4, 6)))
    with pytest.raises(TypeError, match="dy: dtype float32"):
        conv1d_backward(cache, np.zeros((2, 4, 5), np.float32))
    with pytest.raises(TypeError, match="cache"):
        conv1d_backward(object(), np.zeros((2, 4, 5)))


# ------------------------------------------------------ PackedConv1d (weight packed once)

@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("activation", ["none", "relu"])
@pytest.mark.parametrize("channels_last", [False, True], ids=["ncl", "nlc"])
@pytest.mark.parametrize("geom", GEOMETRIES, ids=lambda g: "-".join(map(str, g)))
@DTYPES
def test_packed_conv1d_equals_conv1d_forward(rng, dtype, geom, channels_last, activation,
                                             threads):
    N, Ci, L, Co, Kw, s, p, d = geom
    x, w, b = _randn(rng, N, Ci, L, dtype=dtype), _randn(rng, Co, Ci, Kw, dtype=dtype), \
        _randn(rng, Co, dtype=dtype)
    before = seqcore.get_num_threads()
    try:
        seqcore.set_num_threads(threads)
        layer = PackedConv1d(w, b, s, p, d, channels_last=channels_last, activation=activation)
        y = layer(_to_layout(x, channels_last))
        expect, _ = conv1d_forward(_to_layout(x, channels_last), w, b, s, p, d,
                                   channels_last=channels_last, activation=activation)
    finally:
        seqcore.set_num_threads(before)
    assert y.dtype == dtype and np.array_equal(y, expect)   # the same chains, bit for bit
    z = ref.conv1d(x, w, b, s, p, d)
    if activation == "relu":
        z = np.maximum(z, 0)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(_to_layout(y, channels_last), z, **tol)


def test_packed_conv1d_stream_chunks_equal_the_whole(rng):
    """The trigger-word layer (Ci 101, Co 196, Kw 15, stride 4) on chunks of 1-13 output
    steps (fewer rows than the micro-tile, and more) gives the whole input's steps."""
    x = _randn(rng, 1, 400, 101, dtype=np.float32)
    w, b = _randn(rng, 196, 101, 15, dtype=np.float32), _randn(rng, 196, dtype=np.float32)
    layer = PackedConv1d(w, b, 4, channels_last=True, activation="relu")
    whole = layer(x)
    np.testing.assert_array_equal(whole, conv1d_forward(x, w, b, 4, channels_last=True,
                                                        activation="relu")[0])
    t0 = 0
    for k in (1, 2, 5, 6, 7, 12, 13):
        part = layer(x[:, 4 * t0:4 * (t0 + k - 1) + 15])
        np.testing.assert_array_equal(part, whole[:, t0:t0 + k])
        t0 += k


def test_packed_conv1d_copies_its_weights(rng):
    x, w, b = _randn(rng, 2, 3, 9), _randn(rng, 4, 3, 5), _randn(rng, 4)
    layer = PackedConv1d(w, b)
    expect = conv1d_forward(x, w, b)[0]
    w[...], b[...] = 0, 0
    np.testing.assert_array_equal(layer(x), expect)


@pytest.mark.parametrize("make, exc, match", [
    (lambda: PackedConv1d(np.zeros((4, 3))), ValueError, r"weight: expected a 3-D array"),
    (lambda: PackedConv1d(np.zeros((4, 3, 0))), ValueError, "weight"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5), np.int64)), TypeError, "weight"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), np.zeros(5)), ValueError, r"bias: expected"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), np.zeros(4, np.float32)), TypeError, "bias"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), stride=0), ValueError, "stride"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), padding=-1), ValueError, "padding"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), dilation=1.5), TypeError, "dilation"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)), activation="gelu"), ValueError, "activation"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)))(np.zeros((1, 2, 9))), ValueError,
     r"x: expected 3 channels"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)))(np.zeros((1, 3, 4))), ValueError,
     "shorter than the kernel"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)))(np.zeros((3, 9))), ValueError, "x: expected a 3-D"),
    (lambda: PackedConv1d(np.zeros((4, 3, 5)))(np.zeros((1, 3, 9), np.float32)), TypeError,
     "x: dtype float32 does not match"),
])
def test_packed_conv1d_bad_input(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# --------------------------------------------------------------------------- batch norm

@DTYPES
@pytest.mark.parametrize("shape", [(2, 1), (3, 7), (4, 25, 33), (2, 300, 196)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_matches_reference(rng, shape, dtype, affine):
    C = shape[-1]
    x = (_randn(rng, *shape) * 3 + 5).astype(dtype)   # |mean| > std: the two-pass variance
    w = _randn(rng, C, dtype=dtype) if affine else None
    b = _randn(rng, C, dtype=dtype) if affine else None
    y, cache = batch_norm_forward(x, w, b, eps=1e-5)
    expect, mean, var = ref.batch_norm(x, w, b, 1e-5)
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, expect, **tol)
    np.testing.assert_allclose(cache.mean, mean, **tol)
    yr, _ = batch_norm_forward(x, w, b, eps=1e-5, relu=True)
    np.testing.assert_array_equal(yr, np.maximum(y, 0))


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_gradients_finite_differences(rng, relu, affine):
    x = _randn(rng, 3, 11, 6) * 2 + 1
    w = _randn(rng, 6) if affine else None
    b = _randn(rng, 6) if affine else None
    dy = _randn(rng, *x.shape)
    y, cache = batch_norm_forward(x, w, b, eps=1e-3, relu=relu)
    g = batch_norm_backward(cache, dy)

    def loss():
        return float((batch_norm_forward(x, w, b, eps=1e-3, relu=relu)[0] * dy).sum())
    arrays, grads = [x], [g.dx]
    if affine:
        arrays += [w, b]
        grads += [g.dweight, g.dbias]
    else:
        assert g.dweight is None and g.dbias is None
    num, ana = fd_pairs(loss, arrays, grads, rng, n=10)
    assert np.abs(num).max() > 0
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_batch_norm_matches_torch_train_and_eval(rng):
    """torch.nn.BatchNorm1d on [N, C, L] is this op on the channels-last transpose: outputs,
    gradients, running statistics over three training steps, then evaluation mode."""
    torch = pytest.importorskip("torch")
    bn = torch.nn.BatchNorm1d(13, momentum=0.2).double()
    with torch.no_grad():
        bn.weight.copy_(torch.tensor(_randn(rng, 13)))
        bn.bias.copy_(torch.tensor(_randn(rng, 13)))
    w, b = bn.weight.detach().numpy().copy(), bn.bias.detach().numpy().copy()
    rm, rv = np.zeros(13), np.ones(13)
    for _ in range(3):
        x = _randn(rng, 4, 13, 17) * 2 + 3
        xt = torch.tensor(x, requires_grad=True)
        yt = bn(xt)
        dy = _randn(rng, *x.shape)
        yt.backward(torch.tensor(dy))
        y, cache = batch_norm_forward(x.transpose(0, 2, 1), w, b, rm, rv, momentum=0.2)
        g = batch_norm_backward(cache, dy.transpose(0, 2, 1))
        np.testing.assert_allclose(y.transpose(0, 2, 1), yt.detach().numpy(), atol=1e-12)
        np.testing.assert_allclose(g.dx.transpose(0, 2, 1), xt.grad.numpy(), atol=1e-12)
        np.testing.assert_allclose(g.dweight, bn.weight.grad.numpy(), atol=1e-11)
        np.testing.assert_allclose(g.dbias, bn.bias.grad.numpy(), atol=1e-11)
        bn.weight.grad = bn.bias.grad = None
    np.testing.assert_allclose(rm, bn.running_mean.numpy(), atol=1e-12)
    np.testing.assert_allclose(rv, bn.running_var.numpy(), atol=1e-12)
    bn.eval()
    x = _randn(rng, 2, 13, 5)
    xt = torch.tensor(x, requires_grad=True)
    yt = bn(xt)
    yt.backward(torch.tensor(np.ones(x.shape)))
    y, cache = batch_norm_forward(x.transpose(0, 2, 1), w, b, rm, rv, training=False)
    np.testing.assert_allclose(y.transpose(0, 2, 1), yt.detach().numpy(), atol=1e-12)
    g = batch_norm_backward(cache, np.ones(y.shape))
    np.testing.assert_allclose(g.dx.transpose(0, 2, 1), xt.grad.numpy(), atol=1e-12)


def test_batch_norm_eval_gradients_finite_differences(rng):
    x, w, b = _randn(rng, 5, 4), _randn(rng, 4), _randn(rng, 4)
    rm, rv = _randn(rng, 4), np.abs(_randn(rng, 4)) + 0.5
    dy = _randn(rng, 5, 4)
    _, cache = batch_norm_forward(x, w, b, rm, rv, training=False, relu=True)
    g = batch_norm_backward(cache, dy)

    def loss():
        return float((batch_norm_forward(x, w, b, rm, rv, training=False,
                                         relu=True)[0] * dy).sum())
    num, ana = fd_pairs(loss, [x, w, b], [g.dx, g.dweight, g.dbias], rng, n=8)
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_batch_norm_bit_identical_across_thread_counts(rng):
    x = _randn(rng, 8, 1375, 196, dtype=np.float32)   # ~2 M values: several row blocks
    dy = _randn(rng, *x.shape, dtype=np.float32)
    w, b = _randn(rng, 196, dtype=np.float32), _randn(rng, 196, dtype=np.float32)
    results = []
    before = seqcore.get_num_threads()
    try:
        for threads in (1, 2, 3):
            seqcore.set_num_threads(threads)
            y, cache = batch_norm_forward(x, w, b, relu=True)
            results.append((y, cache.mean, cache.rstd, *batch_norm_backward(cache, dy)))
    finally:
        seqcore.set_num_threads(before)
    for other in results[1:]:
        for a, b_ in zip(results[0], other):
            np.testing.assert_array_equal(a, b_)


def test_batch_norm_constant_channel_is_beta(rng):
    x = np.full((6, 3), 2.5)
    b = _randn(rng, 3)
    y, cache = batch_norm_forward(x, _randn(rng, 3), b)
    np.testing.assert_array_equal(y, np.broadcast_to(b, y.shape))
    assert np.isfinite(batch_norm_backward(cache, _randn(rng, 6, 3)).dx).all()


@pytest.mark.parametrize("call, exc, match", [
    (lambda: batch_norm_forward(np.zeros(4)), ValueError, r"x: expected shape \[..., C\]"),
    (lambda: batch_norm_forward(np.zeros((1, 4))), ValueError, "more than 1 value"),
    (lambda: batch_norm_forward(np.zeros((3, 4), np.int32)), TypeError, "x: expected dtype"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), np.zeros(3)), ValueError, "weight"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), np.zeros(4, np.float32)), TypeError,
     "weight"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), training=False), ValueError,
     "required when training=False"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), running_mean=np.zeros(4)), ValueError,
     "both or neither"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), None, None, np.zeros(4, np.float32),
                                np.ones(4, np.float32)), TypeError, "running_mean"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), None, None, np.zeros(5), np.ones(5)),
     ValueError, "running_mean"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), momentum=1.5), ValueError, "momentum"),
    (lambda: batch_norm_forward(np.zeros((3, 4)), eps=-1.0), ValueError, "eps"),
])
def test_batch_norm_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_batch_norm_backward_bad_input(rng):
    _, cache = batch_norm_forward(_randn(rng, 3, 4))
    with pytest.raises(ValueError, match="dy: expected shape"):
        batch_norm_backward(cache, np.zeros((4, 3)))
    with pytest.raises(TypeError, match="dy: dtype float32"):
        batch_norm_backward(cache, np.zeros((3, 4), np.float32))
    with pytest.raises(TypeError, match="cache"):
        batch_norm_backward(None, np.zeros((3, 4)))


# --------------------------------------------------------------------------- sigmoid BCE

@DTYPES
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("pos_weight", [1.0, 7.5])
def test_bce_matches_reference(rng, dtype, weighted, pos_weight):
    z = (_randn(rng, 3, 1375) * 4).astype(dtype)
    z[0, :4] = [-300, -40, 40, 300]                   # saturated logits stay finite
    y = (rng.random((3, 1375)) < 0.1).astype(dtype)
    y[1, :10] = 0.3                                   # soft labels
    w = rng.random((3, 1375)).astype(dtype) if weighted else None
    expect = ref.binary_cross_entropy_with_logits(z, y, w, pos_weight)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    none = binary_cross_entropy_with_logits(z, y, w, pos_weight, reduction="none",
                                            grad=False)
    assert none.loss.shape == z.shape and none.dlogits is None
    np.testing.assert_allclose(none.loss, expect, **tol)
    mean = binary_cross_entropy_with_logits(z, y, w, pos_weight)
    np.testing.assert_allclose(mean.loss, expect.mean(), **tol)
    total = binary_cross_entropy_with_logits(z, y, w, pos_weight, reduction="sum")
    np.testing.assert_allclose(total.loss, expect.sum(), rtol=tol["rtol"])
    assert np.isfinite(mean.dlogits).all() and mean.dlogits.dtype == dtype
    # dloss/dz = w (sigmoid(z) (1 - y + pos_weight y) - pos_weight y) / n, float64
    s = 1 / (1 + np.exp(-z.astype(np.float64)))
    wd = 1.0 if w is None else w.astype(np.float64)
    dz = wd * (s * (1 - y + pos_weight * y) - pos_weight * y) / z.size
    np.testing.assert_allclose(mean.dlogits, dz, rtol=tol["rtol"], atol=tol["atol"] / z.size)


def test_bce_gradient_finite_differences(rng):
    z, y, w = _randn(rng, 4, 9), rng.random((4, 9)), rng.random((4, 9))
    g = binary_cross_entropy_with_logits(z, y, w, 3.0, reduction="sum").dlogits

    def loss():
        return float(binary_cross_entropy_with_logits(z, y, w, 3.0, reduction="sum").loss)
    num, ana = fd_pairs(loss, [z], [g], rng, n=12)
    np.testing.assert_allclose(ana, num, **FD_TOL)


def test_bce_matches_torch(rng):
    torch = pytest.importorskip("torch")
    z = _randn(rng, 2, 50, dtype=np.float32) * 3
    y = (rng.random((2, 50)) < 0.3).astype(np.float32)
    w = rng.random((2, 50)).astype(np.float32)
    zt = torch.tensor(z, requires_grad=True)
    lt = torch.nn.functional.binary_cross_entropy_with_logits(
        zt, torch.tensor(y), weight=torch.tensor(w), pos_weight=torch.tensor(4.0))
    lt.backward()
    r = binary_cross_entropy_with_logits(z, y, w, 4.0)
    np.testing.assert_allclose(r.loss, lt.item(), rtol=1e-6)
    np.testing.assert_allclose(r.dlogits, zt.grad.numpy(), rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("call, exc, match", [
    (lambda: binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4)), ValueError,
     "targets: expected shape"),
    (lambda: binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3, np.float32)),
     TypeError, "targets: dtype float32"),
    (lambda: binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), np.zeros(2)),
     ValueError, "weight: expected shape"),
    (lambda: binary_cross_entropy_with_logits(np.zeros(3, np.int64), np.zeros(3)), TypeError,
     "logits: expected dtype"),
    (lambda: binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), pos_weight=-1.0),
     ValueError, "pos_weight"),
    (lambda: binary_cross_entropy_with_logits(np.zeros(3), np.zeros(3), reduction="avg"),
     ValueError, "reduction"),
])
def test_bce_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()

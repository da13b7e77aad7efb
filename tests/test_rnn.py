"""Numerical tests of the recurrent kernels (seqcore.rnn) against seqcore.reference,
central finite differences, and PyTorch (when installed).

Modes (see conftest.py): lstm, gru (linear_before_reset=True), gru_nolbr
(linear_before_reset=False), rnn_tanh, rnn_relu.
"""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref

from conftest import MODES, ragged_lengths, rnn_inputs  # noqa: E402  (tests/ is on sys.path)

# float32 outputs vs the float64 reference: each pre-activation is a float32 sum of I+H
# products (up to ~70 here) and the error is carried through up to T=9 recurrent steps;
# measured errors are ~1e-7 for unit-scale activations (torch float32 is the same).
F32_FWD = dict(rtol=1e-5, atol=1e-5)
F64_FWD = dict(rtol=1e-10, atol=1e-10)
# float32 gradients: dw is a float32 sum of T*N outer products and dx/dh0 are carried back
# through T steps of BPTT, so entries that cancel to ~0 have no meaningful relative
# error. We compare with an absolute tolerance relative to the array's largest entry
# (torch float32 vs float64 shows ~3e-7 of the max on these shapes; 2e-5 leaves margin
# for a different summation order while a wrong gradient is off by O(1)).
F32_GRAD_REL_TO_MAX = 2e-5
F64_GRAD = dict(rtol=1e-9, atol=1e-10)

GRAD_NAMES = {
    "lstm": ("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih", "db_hh"),
    "gru": ("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh"),
}
# gradient field -> input key it differentiates
GRAD_OF = {"dx": "x", "dh0": "h0", "dc0": "c0", "dw_ih": "w_ih", "dw_hh": "w_hh",
           "db_ih": "b_ih", "db_hh": "b_hh"}


# ------------------------------------------------------------------------- helpers


def sc_forward(mode, d, lengths=None, reverse=False, training=True):
    """seqcore forward for ``mode`` -> (y, h_n, c_n or None, cache)."""
    args = (d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], d["h0"])
    if mode == "lstm":
        y, h_n, c_n, cache = seqcore.lstm_forward(*args, c0=d["c0"], lengths=lengths,
                                                  training=training, reverse=reverse)
        return y, h_n, c_n, cache
    if mode in ("gru", "gru_nolbr"):
        y, h_n, cache = seqcore.gru_forward(*args, lengths=lengths, training=training,
                                            linear_before_reset=(mode == "gru"),
                                            reverse=reverse)
    else:
        y, h_n, cache = seqcore.rnn_forward(*args, lengths=lengths, training=training,
                                            nonlinearity=mode[4:], reverse=reverse)
    return y, h_n, None, cache


def sc_backward(mode, cache, dy, dh_n=None, dc_n=None, retain_cache=False):
    """seqcore backward for ``mode`` -> the grads named tuple."""
    if mode == "lstm":
        return seqcore.lstm_backward(cache, dy, dh_n, dc_n, retain_cache=retain_cache)
    if mode in ("gru", "gru_nolbr"):
        return seqcore.gru_backward(cache, dy, dh_n, retain_cache=retain_cache)
    return seqcore.rnn_backward(cache, dy, dh_n, retain_cache=retain_cache)


def ref_forward(mode, d, lengths=None, reverse=False):
    """Reference forward for ``mode`` -> (y, h_n, c_n or None), float64."""
    args = (d["x"], d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"], d["h0"])
    if mode == "lstm":
        return ref.lstm_forward(*args, c0=d["c0"], lengths=lengths, reverse=reverse)
    if mode in ("gru", "gru_nolbr"):
        y, h_n = ref.gru_forward(*args, lengths=lengths, linear_before_reset=(mode == "gru"),
                                 reverse=reverse)
    else:
        y, h_n = ref.rnn_forward(*args, lengths=lengths, nonlinearity=mode[4:],
                                 reverse=reverse)
    return y, h_n, None


def grad_names(mode):
    return GRAD_NAMES["lstm" if mode == "lstm" else "gru"]


def assert_grads_close(actual, desired, dtype, names):
    for name in names:
        a, d = getattr(actual, name), getattr(desired, name)
        if d is None:
            assert a is None, name
            continue
        assert a.shape == d.shape, name
        if dtype == np.float32:
            atol = F32_GRAD_REL_TO_MAX * max(1.0, float(np.max(np.abs(d), initial=0.0)))
            np.testing.assert_allclose(a, d, rtol=1e-5, atol=atol, err_msg=name)
        else:
            np.testing.assert_allclose(a, d, **F64_GRAD, err_msg=name)


def assert_grads_equal(a, b, names):
    for name in names:
        ga, gb = getattr(a, name), getattr(b, name)
        if gb is None:
            assert ga is None, name
        else:
            assert np.array_equal(ga, gb), name


# ------------------------------------------------------- forward vs the reference

SHAPES = [  # T, N, I, H: T=1, N=1, H in {1, 3, 17, 33} (not multiples of 16), and 16, 8
    (1, 1, 1, 1),
    (1, 4, 3, 3),
    (5, 1, 7, 17),
    (6, 5, 16, 33),
    (9, 3, 5, 16),
    (4, 7, 33, 8),
]


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("init", [True, False], ids=["h0", "noh0"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "T%dN%dI%dH%d" % s)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_forward_matches_reference(mode, dtype, shape, bias, init, use_lengths, reverse,
                                   rng):
    T, N, I, H = shape
    d = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype, bias=bias, init=init)
    # int32 lengths with float32, int64 with float64: both index dtypes are exercised.
    lengths = (ragged_lengths(rng, T, N, np.int32 if dtype == np.float32 else np.int64)
               if use_lengths else None)
    y, h_n, c_n, cache = sc_forward(mode, d, lengths, reverse)
    ry, rh, rc = ref_forward(mode, d, lengths, reverse)

    assert y.shape == (T, N, H) and h_n.shape == (N, H)
    assert y.dtype == dtype and h_n.dtype == dtype
    assert cache is not None
    tol = F32_FWD if dtype == np.float32 else F64_FWD
    np.testing.assert_allclose(y, ry, **tol, err_msg="y")
    np.testing.assert_allclose(h_n, rh, **tol, err_msg="h_n")
    if mode == "lstm":
        assert c_n.shape == (N, H) and c_n.dtype == dtype
        np.testing.assert_allclose(c_n, rc, **tol, err_msg="c_n")
    if lengths is not None:
        for n in range(N):
            assert np.all(y[lengths[n]:, n] == 0), f"y not exactly zero past lengths[{n}]"
            if lengths[n] == 0:  # nothing processed: the final state is the initial one
                expected = d["h0"][n] if init else np.zeros(H, dtype)
                assert np.array_equal(h_n[n], expected), f"h_n[{n}] for length 0"
                if mode == "lstm":
                    expected = d["c0"][n] if init else np.zeros(H, dtype)
                    assert np.array_equal(c_n[n], expected), f"c_n[{n}] for length 0"


@pytest.mark.parametrize("mode", MODES)
def test_training_false_gives_same_outputs_and_no_cache(mode, make_rnn_inputs, make_lengths):
    d = make_rnn_inputs(mode, 5, 4, 6, 7)
    lengths = make_lengths(5, 4)
    y, h_n, c_n, cache = sc_forward(mode, d, lengths, training=True)
    y2, h2, c2, cache2 = sc_forward(mode, d, lengths, training=False)
    assert cache2 is None
    np.testing.assert_allclose(y2, y, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(h2, h_n, rtol=1e-13, atol=1e-14)
    if mode == "lstm":
        np.testing.assert_allclose(c2, c_n, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("mode", MODES)
def test_lengths_equal_running_each_sequence_alone(mode, reverse, make_rnn_inputs,
                                                   make_lengths):
    """A ragged batch gives, per sequence, what that sequence alone truncated to its
    length gives (an independent check of the lengths/reverse semantics)."""
    T, N, I, H = 6, 5, 4, 9
    d = make_rnn_inputs(mode, T, N, I, H)
    lengths = make_lengths(T, N)
    y, h_n, c_n, _ = sc_forward(mode, d, lengths, reverse, training=False)
    for n in range(N):
        L = int(lengths[n])
        if L == 0:
            continue
        dn = dict(d, x=d["x"][:L, n:n + 1], h0=d["h0"][n:n + 1])
        if mode == "lstm":
            dn["c0"] = d["c0"][n:n + 1]
        yn, hn, cn, _ = sc_forward(mode, dn, None, reverse, training=False)
        np.testing.assert_allclose(y[:L, n], yn[:, 0], rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(h_n[n], hn[0], rtol=1e-12, atol=1e-13)
        if mode == "lstm":
            np.testing.assert_allclose(c_n[n], cn[0], rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_lengths_int32_int64_and_full_lengths(mode, make_rnn_inputs, make_lengths):
    T, N = 5, 6
    d = make_rnn_inputs(mode, T, N, 3, 5)
    lengths = make_lengths(T, N)
    a = sc_forward(mode, d, lengths.astype(np.int64), training=False)
    b = sc_forward(mode, d, lengths.astype(np.int32), training=False)
    for u, v in zip(a[:3], b[:3]):
        if u is not None:
            assert np.array_equal(u, v)
    full = sc_forward(mode, d, np.full(N, T, np.int64), training=False)
    none = sc_forward(mode, d, None, training=False)
    for u, v in zip(full[:3], none[:3]):
        if u is not None:
            np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_non_contiguous_inputs(mode, dtype, make_rnn_inputs, make_lengths):
    """Strided / Fortran-ordered arrays are converted at the boundary, same results."""
    T, N, I, H = 4, 3, 5, 6
    d = make_rnn_inputs(mode, T, N, I, H, dtype=dtype)
    lengths = make_lengths(T, N)
    expected = sc_forward(mode, d, lengths, training=False)
    big = np.zeros((T, 2 * N, I), dtype)
    big[:, ::2] = d["x"]
    strided = dict(d)
    strided["x"] = big[:, ::2]
    strided["w_ih"] = np.asfortranarray(d["w_ih"])
    strided["w_hh"] = np.asfortranarray(d["w_hh"])
    strided["h0"] = np.asfortranarray(d["h0"])
    b = np.zeros(2 * d["b_ih"].size, dtype)
    b[::2] = d["b_ih"]
    strided["b_ih"] = b[::2]
    assert not strided["x"].flags.c_contiguous and not strided["b_ih"].flags.c_contiguous
    got = sc_forward(mode, strided, lengths[::-1].copy()[::-1], training=False)
    for u, v in zip(got[:3], expected[:3]):
        if u is not None:
            assert np.array_equal(u, v)


@pytest.mark.parametrize("mode", MODES)
def test_saturated_gates_stay_finite(mode, make_rnn_inputs):
    """Large pre-activations (|z| ~ 1e3) must not overflow into NaN (e.g. exp in sigmoid)."""
    d = make_rnn_inputs(mode, 4, 3, 5, 6, scale=1.0)
    d["x"] = d["x"] * 300.0
    y, h_n, c_n, cache = sc_forward(mode, d)
    ry, rh, rc = ref_forward(mode, d)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(h_n))
    # relu grows linearly, so compare relative to the magnitude
    np.testing.assert_allclose(y, ry, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(ry).max()))
    np.testing.assert_allclose(h_n, rh, rtol=1e-10, atol=1e-10 * max(1.0, np.abs(rh).max()))
    g = sc_backward(mode, cache, np.ones_like(y))
    for name in grad_names(mode):
        assert np.all(np.isfinite(getattr(g, name))), name


# ---------------------------------------------------------- finite differences


def _loss_and_dirs(mode, d, lengths, reverse, rng):
    T, N, _ = d["x"].shape
    H = d["w_hh"].shape[1]
    dy = rng.standard_normal((T, N, H))
    dh = rng.standard_normal((N, H))
    dc = rng.standard_normal((N, H)) if mode == "lstm" else None

    def loss(dd):
        y, h_n, c_n, _ = sc_forward(mode, dd, lengths, reverse, training=False)
        total = np.sum(y * dy) + np.sum(h_n * dh)
        if dc is not None:
            total += np.sum(c_n * dc)
        return total

    return loss, dy, dh, dc


def numeric_grad(loss, d, key, eps=1e-6):
    """Central differences of ``loss`` w.r.t. every entry of ``d[key]``."""
    base = d[key]
    g = np.zeros_like(base)
    for idx in np.ndindex(base.shape):
        plus, minus = base.copy(), base.copy()
        plus[idx] += eps
        minus[idx] -= eps
        g[idx] = (loss(dict(d, **{key: plus})) - loss(dict(d, **{key: minus}))) / (2 * eps)
    return g


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "ragged"])
@pytest.mark.parametrize("mode", MODES)
def test_gradients_finite_differences(mode, use_lengths, reverse, rng):
    T, N, I, H = 3, 3, 3, 4  # N=3 so the ragged case holds lengths 0, T and one between
    d = rnn_inputs(rng, mode, T, N, I, H, scale=0.6)
    lengths = ragged_lengths(rng, T, N) if use_lengths else None
    loss, dy, dh, dc = _loss_and_dirs(mode, d, lengths, reverse, rng)
    _, _, _, cache = sc_forward(mode, d, lengths, reverse)
    g = sc_backward(mode, cache, dy, dh, dc)
    for name in grad_names(mode):
        analytic = getattr(g, name)
        key = GRAD_OF[name]
        assert analytic is not None and analytic.shape == d[key].shape, name
        assert analytic.dtype == np.float64, name
        # eps=1e-6: truncation O(eps^2) ~ 1e-12, round-off ~ 1e-16*|loss|/eps ~ 1e-9.
        numeric = numeric_grad(loss, d, key)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-7, err_msg=name)
    if lengths is not None:
        for n in range(N):
            assert np.all(g.dx[lengths[n]:, n] == 0), f"dx not exactly zero past lengths[{n}]"


@pytest.mark.parametrize("mode", MODES)
def test_gradients_finite_differences_no_bias_no_h0(mode, rng):
    """Without biases the bias gradients are None; without h0/c0, dx and dW still exact."""
    T, N, I, H = 3, 2, 3, 4
    d = rnn_inputs(rng, mode, T, N, I, H, bias=False, init=False, scale=0.6)
    loss, dy, dh, dc = _loss_and_dirs(mode, d, None, False, rng)
    _, _, _, cache = sc_forward(mode, d)
    g = sc_backward(mode, cache, dy, dh, dc)
    assert g.db_ih is None and g.db_hh is None
    for name in ("dx", "dw_ih", "dw_hh"):
        numeric = numeric_grad(loss, d, GRAD_OF[name])
        np.testing.assert_allclose(getattr(g, name), numeric, rtol=1e-6, atol=1e-7,
                                   err_msg=name)
    # dh0 (if returned for an implicit zero state) must be the gradient at h0 = 0
    if g.dh0 is not None:
        dz = dict(d, h0=np.zeros((N, H)))
        if mode == "lstm":
            dz["c0"] = np.zeros((N, H))
        np.testing.assert_allclose(g.dh0, numeric_grad(loss, dz, "h0"), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("mode", MODES)
def test_backward_float32_matches_float64(mode, reverse, rng):
    T, N, I, H = 5, 4, 9, 17
    d32 = rnn_inputs(rng, mode, T, N, I, H, dtype=np.float32)
    d64 = {k: (None if v is None else v.astype(np.float64)) for k, v in d32.items()}
    lengths = ragged_lengths(rng, T, N)
    dy = rng.standard_normal((T, N, H))
    dh = rng.standard_normal((N, H))
    dc = rng.standard_normal((N, H)) if mode == "lstm" else None
    cache32 = sc_forward(mode, d32, lengths, reverse)[3]
    cache64 = sc_forward(mode, d64, lengths, reverse)[3]
    g32 = sc_backward(mode, cache32, dy.astype(np.float32), dh.astype(np.float32),
                      None if dc is None else dc.astype(np.float32))
    g64 = sc_backward(mode, cache64, dy, dh, dc)
    for name in grad_names(mode):
        assert getattr(g32, name).dtype == np.float32, name
    assert_grads_close(g32, g64, np.float32, grad_names(mode))


@pytest.mark.parametrize("mode", MODES)
def test_backward_ignores_dy_past_lengths_and_none_means_zeros(mode, make_rnn_inputs,
                                                               make_lengths, rng):
    T, N, I, H = 5, 4, 3, 6
    d = make_rnn_inputs(mode, T, N, I, H)
    lengths = make_lengths(T, N)
    dy = rng.standard_normal((T, N, H))
    dh = rng.standard_normal((N, H))
    dy_masked = dy.copy()
    for n in range(N):
        dy_masked[lengths[n]:, n] = 0
    names = grad_names(mode)
    cache = sc_forward(mode, d, lengths)[3]
    g1 = sc_backward(mode, cache, dy, dh, retain_cache=True)
    g2 = sc_backward(mode, cache, dy_masked, dh, retain_cache=True)
    for name in names:
        np.testing.assert_allclose(getattr(g1, name), getattr(g2, name), rtol=1e-13,
                                   atol=1e-14, err_msg=name)
    # dy=None / dh_n=None / dc_n=None mean zeros
    g_none = sc_backward(mode, cache, None, dh, retain_cache=True)
    g_zero = sc_backward(mode, cache, np.zeros_like(dy), dh, np.zeros((N, H))
                         if mode == "lstm" else None, retain_cache=True)
    g_dh_none = sc_backward(mode, cache, dy, None, retain_cache=True)
    g_dh_zero = sc_backward(mode, cache, dy, np.zeros_like(dh))
    for name in names:
        np.testing.assert_allclose(getattr(g_none, name), getattr(g_zero, name),
                                   rtol=1e-13, atol=1e-14, err_msg=name)
        np.testing.assert_allclose(getattr(g_dh_none, name), getattr(g_dh_zero, name),
                                   rtol=1e-13, atol=1e-14, err_msg=name)


@pytest.mark.parametrize("mode", MODES)
def test_forward_backward_do_not_modify_inputs(mode, make_rnn_inputs, make_lengths, rng):
    d = make_rnn_inputs(mode, 4, 3, 5, 6)
    lengths = make_lengths(4, 3)
    saved = {k: (None if v is None else v.copy()) for k, v in d.items()}
    saved_lengths = lengths.copy()
    y, h_n, c_n, cache = sc_forward(mode, d, lengths)
    dy = rng.standard_normal(y.shape)
    dh = rng.standard_normal(h_n.shape)
    dy0, dh0 = dy.copy(), dh.copy()
    sc_backward(mode, cache, dy, dh)
    for k, v in d.items():
        if v is not None:
            assert np.array_equal(v, saved[k]), k
    assert np.array_equal(lengths, saved_lengths)
    assert np.array_equal(dy, dy0) and np.array_equal(dh, dh0)


# -------------------------------------------------------------- cache semantics


@pytest.mark.parametrize("mode", MODES)
def test_retain_cache(mode, make_rnn_inputs, make_lengths, rng):
    T, N, I, H = 4, 3, 5, 6
    d = make_rnn_inputs(mode, T, N, I, H)
    lengths = make_lengths(T, N)
    y, h_n, c_n, cache = sc_forward(mode, d, lengths, reverse=True)
    dy = rng.standard_normal(y.shape)
    dh = rng.standard_normal(h_n.shape)
    dc = rng.standard_normal(h_n.shape) if mode == "lstm" else None
    names = grad_names(mode)
    g1 = sc_backward(mode, cache, dy, dh, dc, retain_cache=True)
    g2 = sc_backward(mode, cache, dy, dh, dc, retain_cache=True)
    g3 = sc_backward(mode, cache, dy, dh, dc)  # consumes the cache
    assert_grads_equal(g2, g1, names)
    assert_grads_equal(g3, g1, names)
    with pytest.raises(ValueError):
        sc_backward(mode, cache, dy, dh, dc)


@pytest.mark.parametrize("mode", MODES)
def test_second_backward_without_retain_raises(mode, make_rnn_inputs, rng):
    d = make_rnn_inputs(mode, 3, 2, 4, 5)
    y, h_n, c_n, cache = sc_forward(mode, d)
    dy = rng.standard_normal(y.shape)
    sc_backward(mode, cache, dy)
    with pytest.raises(ValueError):
        sc_backward(mode, cache, dy)
    with pytest.raises(ValueError):
        sc_backward(mode, cache, dy, retain_cache=True)


# ------------------------------------------------------------------------ cells


def _cell(mode, x_t, h, c, d):
    w = (d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    if mode == "lstm":
        return seqcore.lstm_cell(x_t, h, c, *w)
    if mode in ("gru", "gru_nolbr"):
        return seqcore.gru_cell(x_t, h, *w, linear_before_reset=(mode == "gru")), None
    return seqcore.rnn_cell(x_t, h, *w, nonlinearity=mode[4:]), None


@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_cell_equals_layer_steps(mode, dtype, bias, make_rnn_inputs):
    """Looping the cell over time reproduces the layer (the decoding-loop use case)."""
    T, N, I, H = 4, 3, 5, 17
    d = make_rnn_inputs(mode, T, N, I, H, dtype=dtype, bias=bias)
    y, h_n, c_n, _ = sc_forward(mode, d, training=False)
    h, c = d["h0"], d.get("c0")
    # the layer may batch the input GEMM over all T, so allow float rounding differences
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    for t in range(T):
        h, c = _cell(mode, d["x"][t], h, c, d)
        assert h.shape == (N, H) and h.dtype == dtype
        np.testing.assert_allclose(h, y[t], **tol, err_msg=f"step {t}")
    np.testing.assert_allclose(h, h_n, **tol)
    if mode == "lstm":
        assert c.shape == (N, H) and c.dtype == dtype
        np.testing.assert_allclose(c, c_n, **tol)
    # and one step against the reference cell directly
    x0 = d["x"][0].astype(np.float64)
    w = [None if d[k] is None else d[k].astype(np.float64)
         for k in ("w_ih", "w_hh", "b_ih", "b_hh")]
    h0 = d["h0"].astype(np.float64)
    if mode == "lstm":
        rh, rc = ref.lstm_cell(x0, h0, d["c0"].astype(np.float64), *w)
    elif mode in ("gru", "gru_nolbr"):
        rh = ref.gru_cell(x0, h0, *w, linear_before_reset=(mode == "gru"))
    else:
        rh = ref.rnn_cell(x0, h0, *w, nonlinearity=mode[4:])
    np.testing.assert_allclose(y[0], rh, **(F32_FWD if dtype == np.float32 else F64_FWD))


# ------------------------------------------------------------------ determinism


# Also 3 threads (more than the hidden blocks of H=40 at N=50), the blocked GEMMs' row
# tails (N=50 rows: 8 tiles of 6 + 2), small steps the threads share (N=8 H=96: three
# blocks of 32 units, 2e5-8e5 flops a step, every cell above the threshold of two threads),
# and one sequence whose recurrent weights overflow a 32 KiB L1 (N=1 H=64 I=100: LSTM and
# GRU, 5e4-8e4 flops a step, split between two threads for that reason alone).
@pytest.mark.parametrize("shape", [(7, 9, 40, 70), (5, 50, 24, 40), (20, 8, 32, 96),
                                   (12, 1, 100, 64)],
                         ids=["N9", "N50", "N8H96", "N1H64"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_bit_identical_across_thread_counts(mode, dtype, shape, rng, restore_num_threads):
    T, N, I, H = shape
    d = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    lengths = ragged_lengths(rng, T, N)
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    dh = rng.standard_normal((N, H)).astype(dtype)
    dc = rng.standard_normal((N, H)).astype(dtype) if mode == "lstm" else None
    names = grad_names(mode)
    runs = {}
    for threads in (1, 2, 3, 1, 2):
        seqcore.set_num_threads(threads)
        assert seqcore.get_num_threads() == threads
        for key, lens in (("full", None), ("ragged", lengths)):
            y, h_n, c_n, cache = sc_forward(mode, d, lens)
            g = sc_backward(mode, cache, dy, dh, dc)
            runs.setdefault(key, []).append((threads, y, h_n, c_n, g))
    for key, results in runs.items():
        _, y0, h0, c0, g0 = results[0]
        for threads, y, h_n, c_n, g in results[1:]:
            where = f"{key}, {threads} threads vs 1"
            assert np.array_equal(y, y0), where
            assert np.array_equal(h_n, h0), where
            if mode == "lstm":
                assert np.array_equal(c_n, c0), where
            assert_grads_equal(g, g0, names)


@pytest.mark.parametrize("shape", [(3, 5, 7, 33), (3, 8, 7, 32), (7, 9, 40, 70)],
                         ids=lambda s: "T%dN%dI%dH%d" % s)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_bit_identical_repeated_calls(mode, dtype, shape, rng):
    """Same inputs, same thread count: every call gives the same bits (DESIGN.md,
    Determinism). Copies of the inputs at other addresses must not change the result."""
    T, N, I, H = shape
    d = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    lengths = ragged_lengths(rng, T, N)
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    y0, h0, _, cache = sc_forward(mode, d, lengths)
    g0 = sc_backward(mode, cache, dy)
    for k in range(12):
        # fresh copies, some at an 8-byte offset from the usual allocation alignment
        dk = {}
        for key, v in d.items():
            if v is None or k % 2 == 0:
                dk[key] = None if v is None else v.copy()
            else:
                buf = np.empty(v.size + 1, dtype)
                dk[key] = buf[1:].reshape(v.shape)
                dk[key][...] = v
        y, h_n, _, cache = sc_forward(mode, dk, lengths)
        g = sc_backward(mode, cache, dy)
        assert np.array_equal(y, y0), f"y differs on call {k + 1}"
        assert np.array_equal(h_n, h0), f"h_n differs on call {k + 1}"
        assert_grads_equal(g, g0, grad_names(mode))


# ----------------------------------------------------------------------- PyTorch

TORCH_MODES = ("lstm", "gru", "rnn_tanh", "rnn_relu")  # torch's GRU: linear_before_reset only


def _torch_module(torch, mode, I, H, bias, bidirectional, dtype):
    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    if mode == "lstm":
        m = torch.nn.LSTM(I, H, bias=bias, bidirectional=bidirectional)
    elif mode == "gru":
        m = torch.nn.GRU(I, H, bias=bias, bidirectional=bidirectional)
    else:
        m = torch.nn.RNN(I, H, bias=bias, bidirectional=bidirectional,
                         nonlinearity=mode[4:])
    return m.to(tdtype)


def _load(torch, m, suffix, d):
    with torch.no_grad():
        getattr(m, "weight_ih_l0" + suffix).copy_(torch.from_numpy(d["w_ih"]))
        getattr(m, "weight_hh_l0" + suffix).copy_(torch.from_numpy(d["w_hh"]))
        if d["b_ih"] is not None:
            getattr(m, "bias_ih_l0" + suffix).copy_(torch.from_numpy(d["b_ih"]))
            getattr(m, "bias_hh_l0" + suffix).copy_(torch.from_numpy(d["b_hh"]))


def _torch_run(torch, m, mode, x, h0, c0, lengths):
    """Run ``m`` on x with initial states (requires_grad tensors), padded output [T,N,DH]."""
    state = (h0, c0) if mode == "lstm" else h0
    if lengths is None:
        out, hs = m(x, state)
    else:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.from_numpy(lengths.astype(np.int64)), enforce_sorted=False)
        out, hs = m(packed, state)
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=x.shape[0])
    if mode == "lstm":
        return out, hs[0], hs[1]
    return out, hs, None


def _assert_close(a, b, dtype, name):
    a = np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    if dtype == np.float32:
        atol = F32_GRAD_REL_TO_MAX * max(1.0, float(np.max(np.abs(b), initial=0.0)))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=atol, err_msg=name)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-11, err_msg=name)


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("bias", [True, False], ids=["bias", "nobias"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", TORCH_MODES)
def test_matches_torch_single_layer(mode, dtype, bias, use_lengths, rng):
    torch = pytest.importorskip("torch")
    T, N, I, H = 6, 5, 7, 11
    d = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype, bias=bias)
    # pack_padded_sequence rejects zero lengths
    lengths = ragged_lengths(rng, T, N, allow_zero=False) if use_lengths else None
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    dh = rng.standard_normal((N, H)).astype(dtype)
    dc = rng.standard_normal((N, H)).astype(dtype)

    y, h_n, c_n, cache = sc_forward(mode, d, lengths)
    g = sc_backward(mode, cache, dy, dh, dc if mode == "lstm" else None)

    m = _torch_module(torch, mode, I, H, bias, False, dtype)
    _load(torch, m, "", d)
    x = torch.from_numpy(d["x"].copy()).requires_grad_()
    h0 = torch.from_numpy(d["h0"].copy()).unsqueeze(0).requires_grad_()
    c0 = (torch.from_numpy(d["c0"].copy()).unsqueeze(0).requires_grad_()
          if mode == "lstm" else None)
    ty, th, tc = _torch_run(torch, m, mode, x, h0, c0, lengths)
    loss = (ty * torch.from_numpy(dy)).sum() + (th[0] * torch.from_numpy(dh)).sum()
    if mode == "lstm":
        loss = loss + (tc[0] * torch.from_numpy(dc)).sum()
    loss.backward()

    tol = F32_FWD if dtype == np.float32 else F64_FWD
    np.testing.assert_allclose(y, ty.detach().numpy(), **tol, err_msg="y")
    np.testing.assert_allclose(h_n, th[0].detach().numpy(), **tol, err_msg="h_n")
    if mode == "lstm":
        np.testing.assert_allclose(c_n, tc[0].detach().numpy(), **tol, err_msg="c_n")
    _assert_close(g.dx, x.grad, dtype, "dx")
    _assert_close(g.dh0, h0.grad[0], dtype, "dh0")
    if mode == "lstm":
        _assert_close(g.dc0, c0.grad[0], dtype, "dc0")
    _assert_close(g.dw_ih, m.weight_ih_l0.grad, dtype, "dw_ih")
    _assert_close(g.dw_hh, m.weight_hh_l0.grad, dtype, "dw_hh")
    if bias:
        _assert_close(g.db_ih, m.bias_ih_l0.grad, dtype, "db_ih")
        _assert_close(g.db_hh, m.bias_hh_l0.grad, dtype, "db_hh")
    else:
        assert g.db_ih is None and g.db_hh is None


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", TORCH_MODES)
def test_matches_torch_bidirectional(mode, dtype, use_lengths, rng):
    """reverse=True is the reverse direction of torch's bidirectional layer: outputs,
    states and all gradients of both directions (dx is the sum of the two)."""
    torch = pytest.importorskip("torch")
    T, N, I, H = 5, 4, 6, 9
    fwd = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    bwd = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    bwd["x"] = fwd["x"]
    lengths = ragged_lengths(rng, T, N, allow_zero=False) if use_lengths else None
    dy = rng.standard_normal((T, N, 2 * H)).astype(dtype)
    dh = rng.standard_normal((2, N, H)).astype(dtype)
    dc = rng.standard_normal((2, N, H)).astype(dtype)
    lstm = mode == "lstm"

    outs, grads = [], []
    for k, (dd, rev) in enumerate(((fwd, False), (bwd, True))):
        y, h_n, c_n, cache = sc_forward(mode, dd, lengths, rev)
        outs.append((y, h_n, c_n))
        grads.append(sc_backward(mode, cache, dy[..., k * H:(k + 1) * H].copy(), dh[k],
                                 dc[k] if lstm else None))

    m = _torch_module(torch, mode, I, H, True, True, dtype)
    _load(torch, m, "", fwd)
    _load(torch, m, "_reverse", bwd)
    x = torch.from_numpy(fwd["x"].copy()).requires_grad_()
    h0 = torch.from_numpy(np.stack([fwd["h0"], bwd["h0"]])).requires_grad_()
    c0 = torch.from_numpy(np.stack([fwd["c0"], bwd["c0"]])).requires_grad_() if lstm else None
    ty, th, tc = _torch_run(torch, m, mode, x, h0, c0, lengths)
    loss = (ty * torch.from_numpy(dy)).sum() + (th * torch.from_numpy(dh)).sum()
    if lstm:
        loss = loss + (tc * torch.from_numpy(dc)).sum()
    loss.backward()

    tol = F32_FWD if dtype == np.float32 else F64_FWD
    np.testing.assert_allclose(np.concatenate([outs[0][0], outs[1][0]], -1),
                               ty.detach().numpy(), **tol, err_msg="y")
    for k in range(2):
        np.testing.assert_allclose(outs[k][1], th[k].detach().numpy(), **tol,
                                   err_msg=f"h_n[{k}]")
        if lstm:
            np.testing.assert_allclose(outs[k][2], tc[k].detach().numpy(), **tol,
                                       err_msg=f"c_n[{k}]")
    _assert_close(grads[0].dx + grads[1].dx, x.grad, dtype, "dx")
    for k, suffix in enumerate(("", "_reverse")):
        g = grads[k]
        _assert_close(g.dh0, h0.grad[k], dtype, f"dh0[{k}]")
        if lstm:
            _assert_close(g.dc0, c0.grad[k], dtype, f"dc0[{k}]")
        for name, pname in (("dw_ih", "weight_ih_l0"), ("dw_hh", "weight_hh_l0"),
                            ("db_ih", "bias_ih_l0"), ("db_hh", "bias_hh_l0")):
            _assert_close(getattr(g, name), getattr(m, pname + suffix).grad, dtype,
                          name + suffix)


@pytest.mark.parametrize("use_lengths", [False, True], ids=["full", "packed"])
@pytest.mark.parametrize("mode", TORCH_MODES)
def test_reference_stacked_matches_torch(mode, use_lengths, rng):
    """seqcore.reference.stacked_rnn_forward (used by the layer tests and `seqcore bench`)
    equals a 2-layer bidirectional torch module, with per-layer states and packing."""
    torch = pytest.importorskip("torch")
    T, N, I, H, L = 5, 4, 3, 6, 2
    kw = {"nonlinearity": mode[4:]} if mode.startswith("rnn") else {}
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU}.get(mode, torch.nn.RNN)
    m = cls(I, H, num_layers=L, bidirectional=True, **kw).double()
    x = rng.standard_normal((T, N, I))
    h0 = rng.standard_normal((2 * L, N, H))
    c0 = rng.standard_normal((2 * L, N, H)) if mode == "lstm" else None
    lengths = ragged_lengths(rng, T, N, allow_zero=False) if use_lengths else None
    state = torch.from_numpy(h0)
    if mode == "lstm":
        state = (state, torch.from_numpy(c0))
    with torch.no_grad():
        ty, th, tc = _torch_run(torch, m, mode, torch.from_numpy(x), *(
            (state[0], state[1]) if mode == "lstm" else (state, None)), lengths)
    params = {k: v.numpy() for k, v in m.state_dict().items()}
    y, h_n, c_n = ref.stacked_rnn_forward(mode, x, params, num_layers=L, bidirectional=True,
                                          h0=h0, c0=c0, lengths=lengths)
    assert y.shape == (T, N, 2 * H) and h_n.shape == (2 * L, N, H)
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h_n, th.numpy(), rtol=1e-12, atol=1e-13)
    if mode == "lstm":
        np.testing.assert_allclose(c_n, tc.numpy(), rtol=1e-12, atol=1e-13)
    else:
        assert c_n is None


def test_reference_layers_equal_stacked_single_layer(rng):
    """The one-layer stacked reference is the layer reference (names and defaults)."""
    for mode in MODES:
        d = rnn_inputs(rng, mode, 4, 3, 2, 5)
        base = "gru" if mode == "gru_nolbr" else mode
        params = {"weight_ih_l0": d["w_ih"], "weight_hh_l0": d["w_hh"],
                  "bias_ih_l0": d["b_ih"], "bias_hh_l0": d["b_hh"]}
        y, h_n, c_n = ref.stacked_rnn_forward(
            base, d["x"], params, h0=d["h0"][None],
            c0=d["c0"][None] if mode == "lstm" else None,
            linear_before_reset=(mode != "gru_nolbr"))
        ry, rh, rc = ref_forward(mode, d)
        assert np.array_equal(y, ry) and np.array_equal(h_n[0], rh), mode
        if mode == "lstm":
            assert np.array_equal(c_n[0], rc)


# ------------------------------------------------------- PackedRNN (weights packed once)

def _packed(mode, d):
    kind = "gru" if mode == "gru_nolbr" else mode
    return seqcore.PackedRNN(kind, d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"],
                             linear_before_reset=(mode != "gru_nolbr"))


# T*N of at most 8 rows takes the dot-product path, more the panels that PackedRNN keeps;
# H = 128 is the trigger-word model's GRU, run on a streamed chunk of 12 steps.
PACKED_SHAPES = [(1, 1, 3, 5), (8, 1, 7, 17), (12, 1, 196, 128), (9, 3, 5, 16), (40, 2, 33, 70)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", PACKED_SHAPES, ids=lambda s: "T%dN%dI%dH%d" % s)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_packed_rnn_equals_the_kernel_and_the_reference(mode, dtype, shape, threads, rng):
    d = rnn_inputs(rng, mode, *shape, dtype=dtype)
    before = seqcore.get_num_threads()
    try:
        seqcore.set_num_threads(threads)
        out = _packed(mode, d)(d["x"], d["h0"], d.get("c0"))
        y, h_n, c_n, _ = sc_forward(mode, d, training=False)
    finally:
        seqcore.set_num_threads(before)
    expect = (y, h_n, c_n) if mode == "lstm" else (y, h_n)
    assert len(out) == len(expect)
    for a, b in zip(out, expect):        # the same products in the same order
        assert a.dtype == dtype and np.array_equal(a, b)
    tol = F32_FWD if dtype == np.float32 else F64_FWD
    for a, b in zip(out, ref_forward(mode, d)):
        np.testing.assert_allclose(a, b, **tol)


def test_packed_rnn_carries_state_across_calls_and_copies_its_weights(rng):
    """A sequence fed in pieces, each piece starting from the last's h_n, is the whole
    sequence's run; changing the arrays after packing changes nothing."""
    d = rnn_inputs(rng, "gru", 30, 1, 6, 9, dtype=np.float64)
    layer = _packed("gru", d)
    whole, h_whole = layer(d["x"], d["h0"])
    d["w_hh"][...] = 0
    h, parts = d["h0"], []
    for t0, t1 in ((0, 1), (1, 13), (13, 30)):
        y, h = layer(d["x"][t0:t1], h)
        parts.append(y)
    np.testing.assert_allclose(np.concatenate(parts), whole, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(h, h_whole, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("make, exc, match", [
    (lambda d: seqcore.PackedRNN("GRU", d["w_ih"], d["w_hh"]), ValueError, "mode"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"][:5]), ValueError, "w_hh"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"][:, :0], d["w_hh"]), ValueError, "w_ih"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"].astype(np.float32), d["w_hh"]), TypeError,
     "w_ih"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"], np.zeros(4)), ValueError,
     "b_ih"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"])(d["x"].astype(np.float32)),
     TypeError, "x: dtype float32 does not match"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"])(d["x"][..., :2]), ValueError,
     r"x: expected shape \[T, N, I\] with I=5"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"])(d["x"], np.zeros((2, 4))),
     ValueError, "h0"),
    (lambda d: seqcore.PackedRNN("gru", d["w_ih"], d["w_hh"])(d["x"][0]), ValueError, "x"),
])
def test_packed_rnn_bad_input(make, exc, match, rng):
    d = rnn_inputs(rng, "gru", 3, 1, 5, 4)
    with pytest.raises(exc, match=match):
        make(d)

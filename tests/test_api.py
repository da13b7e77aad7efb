"""Bad inputs, empty inputs, NaN, and the package-level API (version, build info, threads).

DESIGN.md: bad input raises ValueError (shape, length, option) or TypeError (dtype) with a
message naming the argument and the expected vs actual shape; no input may crash the
process.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import seqcore

from conftest import GATES, MODES, rnn_inputs  # noqa: E402  (tests/ is on sys.path)

T, N, I, H = 4, 3, 5, 6


def forward(mode, d, **kw):
    """Call the public forward of ``mode`` with the inputs in ``d`` (keyword arguments)."""
    args = dict(x=d["x"], w_ih=d["w_ih"], w_hh=d["w_hh"], b_ih=d["b_ih"], b_hh=d["b_hh"],
                h0=d["h0"])
    if mode == "lstm":
        args["c0"] = d["c0"]
        return seqcore.lstm_forward(**args, **kw)
    if mode in ("gru", "gru_nolbr"):
        return seqcore.gru_forward(**args, linear_before_reset=(mode == "gru"), **kw)
    return seqcore.rnn_forward(**args, nonlinearity=mode[4:], **kw)


def backward(mode, cache, *args, **kw):
    if mode == "lstm":
        return seqcore.lstm_backward(cache, *args, **kw)
    if mode in ("gru", "gru_nolbr"):
        return seqcore.gru_backward(cache, *args, **kw)
    return seqcore.rnn_backward(cache, *args, **kw)


def name_re(arg):
    """Regex matching ``arg`` as a whole word (so 'x' does not match 'expected' or 'x_t')."""
    return rf"(?<![A-Za-z0-9_]){re.escape(arg)}(?![A-Za-z0-9_])"


@pytest.fixture
def inputs(rng):
    def make(mode, dtype=np.float64):
        return rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    return make


# ------------------------------------------------------------------------- dtypes


@pytest.mark.parametrize("other", ["float", np.int64], ids=["other_float", "int64"])
@pytest.mark.parametrize("x_dtype", [np.float32, np.float64], ids=["x32", "x64"])
@pytest.mark.parametrize("mode,arg", [(m, a) for m in MODES
                                      for a in ("w_ih", "w_hh", "b_ih", "b_hh", "h0", "c0")
                                      if a != "c0" or m == "lstm"])
def test_array_dtype_mismatching_x_is_type_error(mode, arg, x_dtype, other, inputs):
    """Another float width than x, or integers, is a TypeError naming the argument."""
    d = inputs(mode, x_dtype)
    if other == "float":
        other = np.float64 if x_dtype == np.float32 else np.float32
    d[arg] = d[arg].astype(other)
    with pytest.raises(TypeError, match=name_re(arg)):
        forward(mode, d)


# -------------------------------------------------------------------- rank / shape


_BAD_X = [(f"dtype_{np.dtype(t).name}", lambda x, t=t: x.astype(t), TypeError)
          for t in (np.int64, np.int32, np.float16, np.complex128, bool)]
_BAD_X += [(f"rank_{name}", lambda x, s=shape: x.reshape(s), ValueError)
           for name, shape in (("2d", (T, N * I)), ("4d", (T, N, I, 1)), ("1d", (T * N * I,)))]


@pytest.mark.parametrize("change,error", [c[1:] for c in _BAD_X], ids=[c[0] for c in _BAD_X])
@pytest.mark.parametrize("mode", MODES)
def test_bad_x_names_x(mode, change, error, inputs):
    """A non-float x is a TypeError, an x that is not [T, N, I] a ValueError; both name x."""
    d = inputs(mode)
    d["x"] = change(d["x"])
    with pytest.raises(error, match=name_re("x")):
        forward(mode, d)


def _bad_shapes(mode):
    """(argument, wrong shape, a number that must appear in the message as the actual size).

    Shapes are chosen so that exactly one argument is inconsistent: H is read from
    ``w_hh [G*H, H]``, I from ``x``, N from ``x``.
    """
    G = GATES[mode]
    cases = [
        ("w_ih", (G * H + 1, I), G * H + 1),     # rows != G*H
        ("w_ih", (G * H, I + 2), I + 2),         # cols != I of x
        ("w_ih", (G * H * I,), G * H * I),       # wrong rank
        ("w_hh", (G * H + 1, H), G * H + 1),     # rows != G * cols
        ("w_hh", (G * H,), G * H),               # wrong rank
        ("b_ih", (G * H + 1,), G * H + 1),
        ("b_ih", (1, G * H), G * H),             # wrong rank
        ("b_hh", (G * H - 1,), G * H - 1),
        ("h0", (N + 1, H), N + 1),
        ("h0", (N, H + 1), H + 1),
    ]
    if mode == "lstm":
        cases += [("c0", (N, H - 1), H - 1), ("c0", (N + 2, H), N + 2)]
    return cases


@pytest.mark.parametrize("mode,arg,shape,actual",
                         [(m, *c) for m in MODES for c in _bad_shapes(m)],
                         ids=lambda v: str(v).replace(" ", ""))
def test_mismatched_sizes_are_value_errors_naming_the_argument(mode, arg, shape, actual,
                                                               inputs):
    d = inputs(mode)
    d[arg] = np.zeros(shape, np.float64)
    with pytest.raises(ValueError, match=name_re(arg)) as info:
        forward(mode, d)
    # DESIGN.md: the message gives the expected vs actual shape.
    assert re.search(rf"\b{actual}\b", str(info.value)), str(info.value)


@pytest.mark.parametrize("mode", MODES)
def test_hidden_size_zero_is_valid_or_value_error(mode, inputs):
    """H = 0 (empty weights): a valid empty result or a ValueError naming a weight."""
    d = inputs(mode)
    d.update(w_ih=np.zeros((0, I)), w_hh=np.zeros((0, 0)), b_ih=None, b_hh=None, h0=None)
    if mode == "lstm":
        d["c0"] = None
    try:
        res = forward(mode, d)
    except ValueError as exc:
        assert re.search(name_re("w_hh") + "|" + name_re("w_ih"), str(exc)), str(exc)
        return
    assert res[0].shape == (T, N, 0) and res[1].shape == (N, 0)


# -------------------------------------------------------------------------- lengths


@pytest.mark.parametrize("ldtype,bad", [
    (np.int32, [T + 1, 1, 2]), (np.int64, [T + 1, 1, 2]),
    (np.int32, [1, -1, 2]), (np.int64, [1, -1, 2]),
    (np.int32, [0, 0, 2**31 - 1]), (np.int64, [0, 0, 10**12]),
    (np.int64, [-2**40, 1, 1]),
], ids=lambda v: getattr(v, "__name__", str(v).replace(" ", "")))
@pytest.mark.parametrize("mode", MODES)
def test_lengths_out_of_range(mode, ldtype, bad, inputs):
    d = inputs(mode)
    with pytest.raises(ValueError, match=name_re("lengths")):
        forward(mode, d, lengths=np.array(bad, ldtype))


@pytest.mark.parametrize("shape", [(N + 1,), (N - 1,), (N, 1), ()], ids=str)
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_lengths_wrong_size(mode, shape, inputs):
    d = inputs(mode)
    with pytest.raises(ValueError, match=name_re("lengths")):
        forward(mode, d, lengths=np.ones(shape, np.int64))


@pytest.mark.parametrize("ldtype", [np.float32, np.float64, bool])
@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn_tanh"])
def test_lengths_non_integer_dtype_is_type_error(mode, ldtype, inputs):
    d = inputs(mode)
    with pytest.raises(TypeError, match=name_re("lengths")):
        forward(mode, d, lengths=np.full(N, 2, ldtype))


# ------------------------------------------------------------------------- options


@pytest.mark.parametrize("bad", ["sigmoid", "TANH", "", None])
def test_unknown_nonlinearity(bad, inputs):
    d = inputs("rnn_tanh")
    with pytest.raises(ValueError, match="nonlinearity"):
        seqcore.rnn_forward(d["x"], d["w_ih"], d["w_hh"], nonlinearity=bad)
    with pytest.raises(ValueError, match="nonlinearity"):
        seqcore.rnn_cell(d["x"][0], d["h0"], d["w_ih"], d["w_hh"], nonlinearity=bad)


# ------------------------------------------------------------------------ backward


@pytest.mark.parametrize("mode", MODES)
def test_backward_bad_gradients(mode, inputs):
    d = inputs(mode)
    y, h_n, *_, cache = forward(mode, d)
    extra = (None,) if mode == "lstm" else ()
    with pytest.raises(ValueError, match=name_re("dy")):
        backward(mode, cache, np.zeros((T, N, H + 1)), retain_cache=True)
    with pytest.raises(ValueError, match=name_re("dy")):
        backward(mode, cache, np.zeros((N, H)), retain_cache=True)
    with pytest.raises(TypeError, match=name_re("dy")):
        backward(mode, cache, np.zeros((T, N, H), np.float32), retain_cache=True)
    with pytest.raises(ValueError, match=name_re("dh_n")):
        backward(mode, cache, None, np.zeros((N + 1, H)), *extra, retain_cache=True)
    with pytest.raises(TypeError, match=name_re("dh_n")):
        backward(mode, cache, None, np.zeros((N, H), np.int64), *extra, retain_cache=True)
    if mode == "lstm":
        with pytest.raises(ValueError, match=name_re("dc_n")):
            backward(mode, cache, None, None, np.zeros((N, H, 1)), retain_cache=True)
    # the failed calls did not consume the cache
    g = backward(mode, cache, np.ones((T, N, H)))
    assert g.dx.shape == (T, N, I)


@pytest.mark.parametrize("mode", MODES)
def test_backward_rejects_cache_of_another_cell_or_none(mode, inputs):
    d = inputs(mode)
    *_, cache = forward(mode, d)
    family = {"lstm": "lstm", "gru": "gru", "gru_nolbr": "gru"}.get(mode, "rnn")
    for other in ("lstm", "gru", "rnn"):
        if other == family:
            continue
        with pytest.raises(ValueError, match="cache"):
            backward(other, cache, None)
    # training=False returns no cache, and a backward on None is an error, not a crash
    *_, no_cache = forward(mode, d, training=False)
    assert no_cache is None
    with pytest.raises((TypeError, ValueError)):
        backward(mode, no_cache, None)
    with pytest.raises((TypeError, ValueError)):
        backward(mode, "not a cache", None)
    # the rejected calls did not consume the cache
    backward(mode, cache, None)


# -------------------------------------------------------------------------- cells


def test_cells_reject_bad_inputs(inputs):
    d = inputs("lstm")
    w = (d["w_ih"], d["w_hh"], d["b_ih"], d["b_hh"])
    with pytest.raises(ValueError, match=name_re("x_t")):
        seqcore.lstm_cell(d["x"], d["h0"], d["c0"], *w)      # [T, N, I] instead of [N, I]
    with pytest.raises(ValueError, match=name_re("h0") + "|" + name_re("h")):
        seqcore.lstm_cell(d["x"][0], d["h0"][:, :-1], d["c0"], *w)
    with pytest.raises(TypeError):
        seqcore.lstm_cell(d["x"][0].astype(np.float32), d["h0"], d["c0"], *w)
    g = inputs("gru")
    with pytest.raises(ValueError, match=name_re("x_t")):
        seqcore.gru_cell(g["x"][0, 0], g["h0"], g["w_ih"], g["w_hh"])
    with pytest.raises(ValueError, match=name_re("w_ih")):
        seqcore.gru_cell(g["x"][0], g["h0"], g["w_ih"][:-1], g["w_hh"])


# --------------------------------------------------------------------- empty inputs


def _check_empty_result(mode, d, res, shape):
    """The forward returned: outputs have the right shapes and the state passes through."""
    T_, N_, I_, H_ = shape
    y, h_n = res[0], res[1]
    assert y.shape == (T_, N_, H_) and y.dtype == d["x"].dtype
    assert h_n.shape == (N_, H_)
    np.testing.assert_array_equal(h_n, d["h0"])  # T=0: no step, the state is h0
    if mode == "lstm":
        np.testing.assert_array_equal(res[2], d["c0"])
    cache = res[-1]
    dh = np.ones((N_, H_))
    g = backward(mode, cache, np.zeros((T_, N_, H_)), dh,
                 *((np.ones((N_, H_)),) if mode == "lstm" else ()))
    assert g.dx.shape == (T_, N_, I_)
    np.testing.assert_array_equal(g.dh0, dh)  # gradient passes straight through
    assert np.all(g.dw_ih == 0) and np.all(g.dw_hh == 0)
    assert np.all(g.db_ih == 0) and np.all(g.db_hh == 0)


@pytest.mark.parametrize("shape", [(0, N, I, H), (T, 0, I, H), (0, 0, I, H)],
                         ids=["T0", "N0", "T0N0"])
@pytest.mark.parametrize("mode", MODES)
def test_empty_inputs_are_valid_or_value_error(mode, shape, rng):
    """Either a valid empty result (checked) or a ValueError naming x — never a crash."""
    T_, N_, I_, H_ = shape
    d = rnn_inputs(rng, mode, T_, N_, I_, H_)
    try:
        res = forward(mode, d)
    except ValueError as exc:
        assert re.search(name_re("x"), str(exc)), str(exc)
        return
    if T_ == 0:
        _check_empty_result(mode, d, res, shape)
    else:  # N == 0
        y, h_n = res[0], res[1]
        assert y.shape == (T_, 0, H_) and h_n.shape == (0, H_)
        g = backward(mode, res[-1], np.zeros((T_, 0, H_)))
        assert g.dx.shape == (T_, 0, I_)
        assert np.all(g.dw_ih == 0) and np.all(g.dw_hh == 0)


@pytest.mark.parametrize("mode", MODES)
def test_all_lengths_zero(mode, rng):
    """Every sequence empty: y is all zeros, the final state is the initial state."""
    d = rnn_inputs(rng, mode, T, N, I, H)
    y, h_n, *rest = forward(mode, d, lengths=np.zeros(N, np.int64))
    assert y.shape == (T, N, H) and np.all(y == 0)
    np.testing.assert_array_equal(h_n, d["h0"])
    if mode == "lstm":
        np.testing.assert_array_equal(rest[0], d["c0"])
    g = backward(mode, rest[-1], np.ones((T, N, H)), np.ones((N, H)))
    assert np.all(g.dx == 0)
    np.testing.assert_array_equal(g.dh0, np.ones((N, H)))
    assert np.all(g.dw_ih == 0) and np.all(g.dw_hh == 0)


@pytest.mark.parametrize("mode", MODES)
def test_input_size_zero_is_valid_or_value_error(mode, rng):
    d = rnn_inputs(rng, mode, T, N, 0, H)
    try:
        res = forward(mode, d)
    except ValueError as exc:
        assert re.search(name_re("x") + "|" + name_re("w_ih"), str(exc)), str(exc)
        return
    assert res[0].shape == (T, N, H)


# ----------------------------------------------------------------------------- NaN


@pytest.mark.parametrize("reverse", [False, True], ids=["fwd", "rev"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mode", MODES)
def test_nan_in_x_propagates_only_to_its_sequence(mode, dtype, reverse, rng):
    d = rnn_inputs(rng, mode, T, N, I, H, dtype=dtype)
    bad_t = T - 1 if reverse else 0   # the first step processed
    d["x"] = d["x"].copy()
    d["x"][bad_t, 1, 0] = np.nan
    y, h_n, *_ = forward(mode, d, reverse=reverse, training=False)
    clean = forward(mode, dict(d, x=np.nan_to_num(d["x"], nan=0.0)), reverse=reverse,
                    training=False)
    # every step of sequence 1 from the NaN on, and its final state, are NaN
    assert np.all(np.isnan(y[:, 1])), "NaN did not propagate through the recurrence"
    assert np.all(np.isnan(h_n[1]))
    # the other sequences are untouched
    for n in (0, 2):
        np.testing.assert_array_equal(y[:, n], clean[0][:, n])
        np.testing.assert_array_equal(h_n[n], clean[1][n])


@pytest.mark.parametrize("mode", MODES)
def test_nan_past_length_is_ignored(mode, rng):
    """Padding past a sequence's length is never read: NaN there changes nothing."""
    d = rnn_inputs(rng, mode, T, N, I, H)
    lengths = np.array([T, 2, 0])
    ref = forward(mode, d, lengths=lengths)
    d["x"] = d["x"].copy()
    d["x"][2:, 1] = np.nan
    d["x"][:, 2] = np.nan
    res = forward(mode, d, lengths=lengths)
    for a, b in zip(res[:-1], ref[:-1]):
        if b is not None:
            np.testing.assert_array_equal(a, b)
    g = backward(mode, res[-1], np.ones((T, N, H)), np.ones((N, H)))
    for name in g._fields:
        v = getattr(g, name)
        if v is not None:
            assert np.all(np.isfinite(v)), name


# ------------------------------------------------------------- package-level API


def test_version_is_a_string():
    assert isinstance(seqcore.__version__, str) and seqcore.__version__


def test_build_info():
    info = seqcore.build_info()
    assert isinstance(info, dict)
    for key in ("compiler", "simd", "openmp", "cuda"):
        assert key in info, key
    assert isinstance(info["compiler"], str) and info["compiler"]


def test_num_threads_round_trip(restore_num_threads):
    for n in (1, 2, 3, 1):
        seqcore.set_num_threads(n)
        assert seqcore.get_num_threads() == n
    assert isinstance(seqcore.get_num_threads(), int)


@pytest.mark.parametrize("bad", [0, -1])
def test_set_num_threads_rejects_non_positive(bad, restore_num_threads):
    before = seqcore.get_num_threads()
    with pytest.raises(ValueError):
        seqcore.set_num_threads(bad)
    assert seqcore.get_num_threads() == before


def test_public_names():
    for name in ("lstm_forward", "lstm_backward", "gru_forward", "gru_backward",
                 "rnn_forward", "rnn_backward", "lstm_cell", "gru_cell", "rnn_cell",
                 "LSTMGrads", "GRUGrads", "RNNGrads", "set_num_threads", "get_num_threads",
                 "build_info"):
        assert hasattr(seqcore, name), name
    assert seqcore.LSTMGrads._fields == ("dx", "dh0", "dc0", "dw_ih", "dw_hh", "db_ih",
                                         "db_hh")
    assert seqcore.GRUGrads._fields == ("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh")
    assert seqcore.RNNGrads._fields == ("dx", "dh0", "dw_ih", "dw_hh", "db_ih", "db_hh")
    for f in (seqcore.lstm_forward, seqcore.gru_forward, seqcore.rnn_forward,
              seqcore.lstm_backward):
        assert f.__doc__ and "Raises" in f.__doc__

"""Hypothesis property specs over every public function and class of seqcore.

Not collected by pytest (no ``test_`` prefix): ``tests/property_runner.py`` runs a spec's
property in-process and ``tests/test_properties.py`` runs the runner in a subprocess, so a
crash fails one test instead of killing pytest.

A spec builds a VALID call from a few drawn sizes (consistent shapes; the call normally
succeeds), then hypothesis optionally perturbs ONE argument. The perturbations depend on
the type of the argument's valid value:

* float arrays: another dtype (int, bool, complex, float16, object, the other float), rank
  +-1, one dimension +-1 or 0, NaN/inf values, a list, None, a string, a scalar;
* int (index) arrays: float/bool/complex/object/int8/uint64 dtype, out-of-range values
  (-1, V, 2**31, 2**62, 2**63-1, -2**63, 2**64-1 as uint64), rank and size changes;
* layout (values kept): non-contiguous, negative strides, a byte offset (misaligned data
  pointer), Fortran order, read-only, int32 <-> int64;
* Python ints: huge (2**31 ... 2**64, 10**30), negative, bool, a fractional or integral
  float, NaN/inf, str, None, NumPy integers;
* floats: NaN, +-inf, negative, zero, 1e308, str, None, complex, bool;
* option strings: an unknown value, upper case, empty, None, int, bytes;
* bools and objects (caches, samplers, trees, callables): None, str, int, object().

The property (``check_outcome``): the call returns or raises one of the documented types
(ValueError, TypeError, plus ``Spec.allowed`` where documented: KeyError for unknown words,
FloatingPointError for diverged training; MemoryError only for a huge size request).

* unperturbed: the call must succeed and ``Call.check`` verifies the documented shapes,
  dtypes and finiteness;
* layout perturbations (values kept): the call must succeed and equal the unperturbed call;
* strict perturbations (a bool or fractional float for an int, an unknown option string,
  a complex where a real is expected, a string for a number, ...): must raise;
* the rest: anything but a crash, a hang or an undocumented exception type. A pybind11
  "incompatible function arguments" / "Unable to cast" message is a failure too: the error
  must name the argument.

Known C++ bugs that are not fixed yet are listed in ``KNOWN_CRASHES`` (spec, argument,
perturbation kind); their perturbations are not drawn. Python validation bugs in files this
suite's author may not edit are in ``KNOWN_VALIDATION_BUGS``, same format. Empty both lists
once the bugs are fixed.
"""
from __future__ import annotations

import io
import math
import os
import tempfile

import numpy as np
from hypothesis import strategies as st

import seqcore as sc
from seqcore import bleu as sc_bleu
from seqcore import corpus as sc_corpus
from seqcore import debias as sc_debias
from seqcore import models as sc_models
from seqcore import optim as sc_optim
from seqcore import parsing as sc_parsing
from seqcore._core import ArcStandardBeam
from seqcore.datasets import is_projective, projectivize, read_conllu

# (spec, argument, kind): perturbations that crash or give wrong results in C++ (reported,
# not fixed here). "*" matches any argument / kind.
KNOWN_CRASHES: list = [
]

# (spec, argument, kind): Python validation bugs in files owned elsewhere (keyedvectors.py,
# glove.py, word2vec.py, parsing.py): reported, not fixed here.
KNOWN_VALIDATION_BUGS: list = [
    # The ArcStandardBeam binding (seqcore._core, driven by seqcore.parsing, which checks
    # these) takes num_labels / beam_width as int64_t: True is taken as 1; 1.5, nan, inf,
    # "2", None and ints beyond int64 give pybind11's "incompatible function arguments"
    # TypeError, which does not name the argument.
    *[(s, a, k) for s, a in (("ArcStandardBeam", "num_labels"), ("ArcStandardBeam",
                                                                 "beam_width"))
      for k in ("bool_for_int", "frac_for_int", "float_int", "nan_for_int", "inf_for_int",
                "str_for_int", "none", "huge")],
]

F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


# ---------------------------------------------------------------------------- framework

class Spec:
    def __init__(self, name, group, build, covers=(), cost=1.0, allowed=()):
        self.name, self.group, self.build = name, group, build
        self.covers = tuple(covers) or (name,)
        self.cost, self.allowed = cost, tuple(allowed)


class Call:
    """A valid call: ``fn(**make())``; ``make`` returns fresh arguments each time.

    check(out, args): assertions on a successful unperturbed result.
    frozen: argument names never perturbed. lenient: argument names whose strict
    perturbations may also succeed. may_raise: the unperturbed call may raise a
    documented error (valid but degenerate input). compare: compare layout-perturbed
    results with the unperturbed one. inplace: arguments the call writes into (a read-only
    array may be rejected).
    """

    def __init__(self, fn, make, check=None, frozen=(), lenient=(), may_raise=False,
                 compare=True, rtol=None, inplace=()):
        self.fn, self.make, self.check = fn, make, check
        self.frozen, self.lenient, self.inplace = set(frozen), set(lenient), set(inplace)
        self.may_raise, self.compare, self.rtol = may_raise, compare, rtol


SPECS: dict = {}


def spec(name, group, covers=(), cost=1.0, allowed=()):
    def deco(build):
        SPECS[name] = Spec(name, group, build, covers, cost, allowed)
        return build
    return deco


def groups():
    out: dict = {}
    for s in SPECS.values():
        out.setdefault(s.group, []).append(s.name)
    return out


# Kinds. LAYOUT kinds keep the values: the call must succeed and equal the baseline.
# STRICT kinds must raise.
LAYOUT = {"noncontig", "negstride", "offset", "fortran", "readonly", "int_width",
          "np_int", "np_float"}
STRICT = {"bool_for_int", "frac_for_int", "nan_for_int", "inf_for_int", "str_for_int",
          "str_for_float", "complex_for_float", "unknown_option", "upper_option",
          "empty_option", "int_for_option"}
HUGE = {"huge", "val_huge", "val_u64"}

FLOAT_ARRAY_KINDS = ("dtype_int", "dtype_bool", "dtype_complex", "dtype_f16", "dtype_object",
                     "dtype_other_float", "rank_up", "rank_down", "size_plus", "size_minus",
                     "empty", "nan", "inf", "list", "none", "str", "scalar", "noncontig",
                     "negstride", "offset", "fortran", "readonly")
INT_ARRAY_KINDS = ("dtype_float", "dtype_bool", "dtype_complex", "dtype_object", "dtype_int8",
                   "dtype_u64", "rank_up", "rank_down", "size_plus", "size_minus", "empty",
                   "val_neg", "val_big", "val_huge", "val_u64", "list", "none", "str",
                   "noncontig", "negstride", "offset", "readonly", "int_width")
BOOL_ARRAY_KINDS = ("dtype_int", "dtype_float", "rank_up", "rank_down", "size_plus", "empty",
                    "noncontig", "negstride", "offset", "readonly", "none")
INT_KINDS = ("huge", "neg", "zero", "bool_for_int", "frac_for_int", "float_int",
             "nan_for_int", "inf_for_int", "str_for_int", "none", "np_int")
FLOAT_KINDS = ("nan", "inf", "ninf", "neg", "zero", "big", "tiny", "str_for_float", "none",
               "complex_for_float", "bool", "np_float")
STR_KINDS = ("unknown_option", "upper_option", "empty_option", "none", "int_for_option",
             "bytes_for_option")
BOOL_KINDS = ("none", "str", "int2", "np_bool")
NONE_KINDS = ("str", "int", "float", "farray", "iarray")
OBJ_KINDS = ("none", "str", "int", "object")
STRLIST_KINDS = ("none", "str", "empty", "int_elem", "none_elem", "bytes_elem", "nested",
                 "unicode")

HUGE_INTS = (2**31, 2**32, 2**62, 2**63 - 1, 2**63, 2**64, 10**30)
NEG_INTS = (-1, -2**31, -2**63, -2**64)


def kinds_for(value):
    if isinstance(value, np.ndarray):
        if value.dtype.kind == "f":
            return FLOAT_ARRAY_KINDS
        if value.dtype.kind in "iu":
            return INT_ARRAY_KINDS
        if value.dtype.kind == "b":
            return BOOL_ARRAY_KINDS
        return ()
    if isinstance(value, bool):
        return BOOL_KINDS
    if isinstance(value, (int, np.integer)):
        return INT_KINDS
    if isinstance(value, float):
        return FLOAT_KINDS
    if isinstance(value, str):
        return STR_KINDS
    if value is None:
        return NONE_KINDS
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return STRLIST_KINDS
    return OBJ_KINDS


def is_known(spec_name, arg, kind):
    for s, a, k in KNOWN_CRASHES + KNOWN_VALIDATION_BUGS:
        if s == spec_name and a in ("*", arg) and k in ("*", kind):
            return True
    return False


def _noncontig(a):
    if a.ndim == 0:
        return a
    b = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
    b[..., ::2] = a
    return b[..., ::2]


def _negstride(a):
    if a.ndim == 0:
        return a
    axes = tuple(range(a.ndim))
    return np.flip(np.ascontiguousarray(np.flip(a, axes)), axes)


def _offset(a):
    buf = np.zeros(a.nbytes + 2 * a.itemsize + 1, np.uint8)
    v = buf[1:1 + a.nbytes].view(a.dtype).reshape(a.shape)
    v[...] = a
    return v


def perturb(value, kind, draw):
    """The perturbed value and a short description of it."""
    pick = lambda seq: draw(st.sampled_from(seq))  # noqa: E731
    a = value
    if isinstance(a, np.ndarray):
        if kind.startswith("dtype_"):
            dt = {"dtype_int": np.int32, "dtype_bool": np.bool_, "dtype_complex": np.complex128,
                  "dtype_f16": np.float16, "dtype_object": object, "dtype_float": np.float64,
                  "dtype_int8": np.int8, "dtype_u64": np.uint64,
                  "dtype_other_float": F64 if a.dtype == F32 else F32}[kind]
            with np.errstate(all="ignore"):
                return a.astype(dt), f"astype({np.dtype(dt)})"
        if kind == "rank_up":
            return a[..., None], f"shape {a.shape + (1,)}"
        if kind == "rank_down":
            b = a[0] if a.ndim >= 1 and a.shape[0] > 0 else a.reshape(-1)
            return b, f"shape {b.shape}"
        if kind in ("size_plus", "size_minus", "empty"):
            if a.ndim == 0:
                return a.reshape(1), "shape (1,)"
            ax = draw(st.integers(0, a.ndim - 1))
            n = a.shape[ax]
            new = {"size_plus": n + 1, "size_minus": max(n - 1, 0), "empty": 0}[kind]
            b = np.resize(np.moveaxis(a, ax, 0), (new,) + tuple(np.delete(a.shape, ax)))
            b = np.ascontiguousarray(np.moveaxis(b, 0, ax)).astype(a.dtype)
            return b, f"axis {ax}: {n} -> {new}"
        if kind in ("nan", "inf"):
            b = a.copy()
            if b.size:
                i = draw(st.integers(0, b.size - 1))
                v = np.nan if kind == "nan" else pick([np.inf, -np.inf])
                b.reshape(-1)[i] = v
                if draw(st.booleans()):
                    b[...] = v
                    return b, f"all {v}"
                return b, f"element {i} = {v}"
            return b, "empty"
        if kind == "list":
            return a.tolist(), "as nested list"
        if kind == "none":
            return None, "None"
        if kind == "str":
            return "abc", "'abc'"
        if kind == "scalar":
            return 1.0, "1.0"
        if kind == "noncontig":
            return _noncontig(a), "non-contiguous view"
        if kind == "negstride":
            return _negstride(a), "negative-stride view"
        if kind == "offset":
            return _offset(a), "byte-offset (misaligned) view"
        if kind == "fortran":
            return np.asfortranarray(a), "Fortran order"
        if kind == "readonly":
            b = a.copy()
            b.setflags(write=False)
            return b, "read-only"
        if kind == "int_width":
            return a.astype(np.int32 if a.dtype.itemsize == 8 else np.int64), "int32<->int64"
        if kind in ("val_neg", "val_big", "val_huge", "val_u64"):
            if a.size == 0:
                return a, "empty"
            i = draw(st.integers(0, a.size - 1))
            if kind == "val_u64":
                b = a.astype(np.uint64)
                b.reshape(-1)[i] = 2**64 - 1
                return b, f"uint64 element {i} = 2**64-1"
            b = a.astype(np.int64)
            v = {"val_neg": -1, "val_big": min(int(a.max()) + 1000, 2**63 - 1),
                 "val_huge": pick([2**31, 2**31 - 1, 2**62, 2**63 - 1, -2**63])}[kind]
            b.reshape(-1)[i] = v
            return b, f"element {i} = {v}"
        raise AssertionError(kind)
    if kind == "none":
        return None, "None"
    if isinstance(a, bool):
        return {"str": ("yes", "'yes'"), "int2": (2, "2"),
                "np_bool": (np.bool_(a), "np.bool_")}[kind]
    if isinstance(a, (int, np.integer)):
        a = int(a)
        if kind == "huge":
            v = pick(HUGE_INTS)
            return v, repr(v)
        if kind == "neg":
            v = pick(NEG_INTS)
            return v, repr(v)
        return {"zero": (0, "0"), "bool_for_int": (True, "True"),
                "frac_for_int": (a + 0.5, repr(a + 0.5)), "float_int": (float(a), f"{a}.0"),
                "nan_for_int": (math.nan, "nan"), "inf_for_int": (math.inf, "inf"),
                "str_for_int": (str(a), repr(str(a))),
                "np_int": (np.int64(a), f"np.int64({a})")}[kind]
    if isinstance(a, float):
        return {"nan": (math.nan, "nan"), "inf": (math.inf, "inf"), "ninf": (-math.inf, "-inf"),
                "neg": (-a - 1.0, repr(-a - 1.0)), "zero": (0.0, "0.0"),
                "big": (1e308, "1e308"), "tiny": (5e-324, "5e-324"),
                "str_for_float": ("1.0", "'1.0'"), "complex_for_float": (1 + 1j, "1+1j"),
                "bool": (True, "True"), "np_float": (np.float64(a), f"np.float64({a})")}[kind]
    if isinstance(a, str):
        return {"unknown_option": (a + "x", repr(a + "x")),
                "upper_option": (a.upper() + "_", repr(a.upper() + "_")),
                "empty_option": ("", "''"), "int_for_option": (1, "1"),
                "bytes_for_option": (a.encode(), repr(a.encode()))}[kind]
    if a is None:
        return {"str": ("abc", "'abc'"), "int": (3, "3"), "float": (0.5, "0.5"),
                "farray": (np.ones((2, 3)), "float64[2,3] ones"),
                "iarray": (np.array([7, -1]), "int64 [7, -1]")}[kind]
    if isinstance(a, list) and a and all(isinstance(v, str) for v in a):
        i = draw(st.integers(0, len(a) - 1))
        b = list(a)
        if kind == "str":
            return " ".join(a), "a string"
        if kind == "empty":
            return [], "[]"
        if kind == "int_elem":
            b[i] = 5
        elif kind == "none_elem":
            b[i] = None
        elif kind == "bytes_elem":
            b[i] = b"abc"
        elif kind == "nested":
            b[i] = [b[i]]
        elif kind == "unicode":
            b[i] = "\u00e9\U0001f600 \x00\t\n x"
        return b, f"element {i} = {b[i]!r}"
    return {"str": ("abc", "'abc'"), "int": (3, "3"), "object": (object(), "object()")}[kind]


def describe(args):
    def one(v):
        if isinstance(v, np.ndarray):
            flags = "" if v.flags.c_contiguous else " noncontig"
            return f"{v.dtype}{list(v.shape)}{flags}"
        if isinstance(v, (list, tuple)) and len(v) > 6:
            return f"{type(v).__name__}(len={len(v)})"
        r = repr(v)
        return r if len(r) < 80 else r[:77] + "..."
    return ", ".join(f"{k}={one(v)}" for k, v in args.items())


def same(a, b, rtol):
    """Results of the baseline and of a layout-perturbed call agree."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        if a.shape != b.shape or a.dtype != b.dtype:
            return False
        if a.dtype.kind in "fc":
            tol = rtol if rtol is not None else (1e-5 if a.dtype.itemsize <= 4 else 1e-12)
            return bool(np.allclose(a, b, rtol=tol, atol=tol, equal_nan=True))
        return bool(np.array_equal(a, b))
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, (int, float, np.number)) and isinstance(b, (int, float, np.number)):
            return (math.isnan(a) and math.isnan(b)) or math.isclose(
                a, b, rel_tol=rtol or 1e-5, abs_tol=rtol or 1e-5)
        return False
    if isinstance(a, (tuple, list)):
        return (isinstance(b, (tuple, list)) and len(a) == len(b)
                and all(same(x, y, rtol) for x, y in zip(a, b)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(same(a[k], b[k], rtol) for k in a))
    if isinstance(a, (int, str, bytes, np.generic)) or a is None:
        return bool(a == b) if not isinstance(a, np.floating) else same(float(a), float(b), rtol)
    if isinstance(a, sc.KeyedVectors):
        return a.index_to_key == b.index_to_key and same(a.vectors, b.vectors, rtol)
    return True  # opaque objects (caches, models)


PYBIND_NOISE = ("incompatible function arguments", "Unable to cast")


# ---------------------------------------------------------------------------- helpers

def rng(seed):
    return np.random.default_rng(seed)


def ints(lo, hi):
    return st.integers(lo, hi)


SEEDS = st.integers(0, 2**32 - 1)
FLOATS = st.sampled_from([F32, F64])


def randn(r, shape, dtype=F64, scale=1.0):
    return (r.standard_normal(shape) * scale).astype(dtype)


def finite(*arrays):
    for a in arrays:
        if a is not None:
            assert np.all(np.isfinite(a)), "non-finite output for finite input"


def shape_is(a, shape, dtype=None):
    assert isinstance(a, np.ndarray), f"expected an ndarray, got {type(a).__name__}"
    assert a.shape == tuple(shape), f"shape {a.shape} != {tuple(shape)}"
    if dtype is not None:
        assert a.dtype == dtype, f"dtype {a.dtype} != {dtype}"


def G_of(mode):
    return {"lstm": 4, "gru": 3, "rnn": 1}[mode]


# ---------------------------------------------------------------------------- misc / threads

@spec("build_info", "misc", covers=("build_info", "get_num_threads"))
def _(draw):
    def fn(which):
        return sc.build_info() if which == "build" else sc.get_num_threads()

    def check(out, args):
        assert isinstance(out, (dict, str, int)), type(out)
    return Call(fn, lambda: {"which": "build"}, check, frozen=("which",))


@spec("set_num_threads", "misc")
def _(draw):
    n = draw(ints(1, 4))

    def fn(n):
        old = sc.get_num_threads()
        try:
            sc.set_num_threads(n)
            got = sc.get_num_threads()
            # a kernel call must still work with the new setting
            sc.log_softmax(np.ones((8, 4), np.float32))
            return got
        finally:
            sc.set_num_threads(old)

    def check(out, args):
        assert out == args["n"], (out, args["n"])
    return Call(fn, lambda: {"n": n}, check)


_NT_FIELDS = {cls: len(cls._fields) for cls in (
    sc.LSTMGrads, sc.GRUGrads, sc.RNNGrads, sc.Hypothesis, sc.SdpaGrads,
    sc.AdditiveAttentionGrads, sc.LuongAttentionGrads, sc.MultiHeadAttentionGrads,
    sc.CrossEntropyResult, sc.SparseLossResult, sc.SampledSoftmaxResult, sc.LayerNormGrads,
    sc.LinearGrads, sc.Conv1dGrads, sc.BatchNormGrads, sc.BCEResult)}


@spec("result_types", "misc", covers=tuple(c.__name__ for c in _NT_FIELDS))
def _(draw):
    cls = draw(st.sampled_from(sorted(_NT_FIELDS, key=lambda c: c.__name__)))
    n = _NT_FIELDS[cls]

    def fn(cls, nfields):
        return cls(*range(nfields))

    def check(out, args):
        assert tuple(out) == tuple(range(n)) and out._fields == cls._fields
    return Call(fn, lambda: {"cls": cls, "nfields": n}, check, frozen=("cls", "nfields"))


# ---------------------------------------------------------------------------- rnn kernels

def _rnn_make(mode, T, N, I, H, dtype, seed, bias, h0, c0, lengths):
    r = rng(seed)
    G = G_of(mode)
    d = {"x": randn(r, (T, N, I), dtype), "w_ih": randn(r, (G * H, I), dtype, 0.5),
         "w_hh": randn(r, (G * H, H), dtype, 0.5),
         "b_ih": randn(r, (G * H,), dtype) if bias else None,
         "b_hh": randn(r, (G * H,), dtype) if bias else None,
         "h0": randn(r, (N, H), dtype) if h0 else None}
    if mode == "lstm":
        d["c0"] = randn(r, (N, H), dtype) if c0 else None
    d["lengths"] = r.integers(0, T + 1, N) if lengths else None
    return d


def _rnn_draw(draw):
    return dict(T=draw(ints(1, 4)), N=draw(ints(1, 3)), I=draw(ints(1, 4)), H=draw(ints(1, 4)),
                dtype=draw(FLOATS), seed=draw(SEEDS), bias=draw(st.booleans()),
                h0=draw(st.booleans()), c0=draw(st.booleans()), lengths=draw(st.booleans()))


def _make_rnn_forward_spec(mode):
    fwd = {"lstm": sc.lstm_forward, "gru": sc.gru_forward, "rnn": sc.rnn_forward}[mode]

    @spec(f"{mode}_forward", "rnn")
    def _(draw):
        p = _rnn_draw(draw)
        training, reverse = draw(st.booleans()), draw(st.booleans())
        extra = {"lstm": {}, "gru": {"linear_before_reset": draw(st.booleans())},
                 "rnn": {"nonlinearity": draw(st.sampled_from(["tanh", "relu"]))}}[mode]

        def make():
            d = _rnn_make(mode, **p)
            d.update(training=training, reverse=reverse, **extra)
            return d

        def check(out, args):
            T, N, H, dt = p["T"], p["N"], p["H"], p["dtype"]
            shape_is(out[0], (T, N, H), dt)
            for s in out[1:-1]:
                shape_is(s, (N, H), dt)
            finite(*out[:-1])
            assert (out[-1] is None) == (not training)
        return Call(fwd, make, check)


def _make_rnn_backward_spec(mode):
    fwd = {"lstm": sc.lstm_forward, "gru": sc.gru_forward, "rnn": sc.rnn_forward}[mode]
    bwd = {"lstm": sc.lstm_backward, "gru": sc.gru_backward, "rnn": sc.rnn_backward}[mode]

    @spec(f"{mode}_backward", "rnn")
    def _(draw):
        p = _rnn_draw(draw)
        use_dy, use_dh, use_dc = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())

        def make():
            d = _rnn_make(mode, **p)
            out = fwd(**d)
            r = rng(p["seed"] + 1)
            T, N, H, dt = p["T"], p["N"], p["H"], p["dtype"]
            a = {"cache": out[-1], "dy": randn(r, (T, N, H), dt) if use_dy else None,
                 "dh_n": randn(r, (N, H), dt) if use_dh else None}
            if mode == "lstm":
                a["dc_n"] = randn(r, (N, H), dt) if use_dc else None
            a["retain_cache"] = False
            return a

        def check(out, args):
            T, N, I, H, dt, G = p["T"], p["N"], p["I"], p["H"], p["dtype"], G_of(mode)
            shape_is(out.dx, (T, N, I), dt)
            shape_is(out.dh0, (N, H), dt)
            shape_is(out.dw_ih, (G * H, I), dt)
            shape_is(out.dw_hh, (G * H, H), dt)
            assert (out.db_ih is None) == (not p["bias"])
            finite(*[g for g in out if g is not None])
        return Call(bwd, make, check)


for _m in ("lstm", "gru", "rnn"):
    _make_rnn_forward_spec(_m)
    _make_rnn_backward_spec(_m)


@spec("PackedRNN", "rnn")
def _(draw):
    p = {**_rnn_draw(draw), "lengths": False}
    mode = draw(st.sampled_from(["lstm", "gru", "rnn_tanh", "rnn_relu"]))
    lbr = draw(st.booleans())
    family = mode[:3] if mode.startswith("rnn") else mode

    def make():
        d = _rnn_make(family, **p)
        del d["lengths"]
        d.update(mode=mode, linear_before_reset=lbr)
        return d

    def fn(mode, x, w_ih, w_hh, b_ih, b_hh, h0, linear_before_reset, c0=None):
        layer = sc.PackedRNN(mode, w_ih, w_hh, b_ih, b_hh, linear_before_reset)
        return layer(x, h0, c0) if mode == "lstm" else layer(x, h0)

    def check(out, args):    # the unpacked kernel's results, bit for bit
        a = {k: args[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0")}
        if mode == "lstm":
            ref = sc.lstm_forward(**a, c0=args["c0"], training=False)[:3]
        elif mode == "gru":
            ref = sc.gru_forward(**a, training=False, linear_before_reset=lbr)[:2]
        else:
            ref = sc.rnn_forward(**a, training=False, nonlinearity=mode[4:])[:2]
        assert len(out) == len(ref)
        for o, r in zip(out, ref):
            assert o.dtype == r.dtype and np.array_equal(o, r)
    return Call(fn, make, check, lenient=("linear_before_reset",))


def _make_cell_spec(mode):
    cell = {"lstm": sc.lstm_cell, "gru": sc.gru_cell, "rnn": sc.rnn_cell}[mode]

    @spec(f"{mode}_cell", "rnn")
    def _(draw):
        N, I, H, dt, seed = draw(ints(1, 3)), draw(ints(1, 4)), draw(ints(1, 4)), draw(FLOATS), \
            draw(SEEDS)
        bias = draw(st.booleans())

        def make():
            r, G = rng(seed), G_of(mode)
            d = {"x_t": randn(r, (N, I), dt), "h": randn(r, (N, H), dt)}
            if mode == "lstm":
                d["c"] = randn(r, (N, H), dt)
            d.update(w_ih=randn(r, (G * H, I), dt, .5), w_hh=randn(r, (G * H, H), dt, .5),
                     b_ih=randn(r, (G * H,), dt) if bias else None,
                     b_hh=randn(r, (G * H,), dt) if bias else None)
            return d

        def check(out, args):
            for s in (out if mode == "lstm" else (out,)):
                shape_is(s, (N, H), dt)
                finite(s)
        return Call(cell, make, check)


for _m in ("lstm", "gru", "rnn"):
    _make_cell_spec(_m)


# ---------------------------------------------------------------------------- layers

_LAYERS = {"LSTM": sc.LSTM, "GRU": sc.GRU, "RNN": sc.RNN}


def _layer_setup(draw, cls):
    """A drawn layer of class ``cls``: (kwargs, layer, num_layers L, directions D,
    hidden_size H, input_size I, dtype)."""
    kw = _layer_draw(draw)
    D = 2 if kw["bidirectional"] else 1
    return (kw, cls(**kw), kw["num_layers"], D, kw["hidden_size"], kw["input_size"],
            np.dtype(kw["dtype"]))


def _layer_draw(draw):
    return dict(input_size=draw(ints(1, 4)), hidden_size=draw(ints(1, 4)),
                num_layers=draw(ints(1, 2)), bidirectional=draw(st.booleans()),
                bias=draw(st.booleans()), batch_first=draw(st.booleans()),
                dtype=draw(st.sampled_from(["float32", "float64"])), seed=draw(ints(0, 100)))


def _make_layer_specs(name):
    cls = _LAYERS[name]

    @spec(f"{name}", "layers")
    def _(draw):
        kw = _layer_draw(draw)
        if name == "GRU":
            kw["linear_before_reset"] = draw(st.booleans())
        if name == "RNN":
            kw["nonlinearity"] = draw(st.sampled_from(["tanh", "relu"]))

        def check(out, args):
            assert out.hidden_size == kw["hidden_size"]
            for p in out.parameters():
                finite(p)
                assert p.dtype == np.dtype(kw["dtype"])
        return Call(cls, lambda: dict(kw), check, lenient=("seed",))

    @spec(f"{name}.forward", "layers")
    def _(draw):
        kw, layer, L, D, H, I, dt = _layer_setup(draw, cls)
        T, N, seed = draw(ints(1, 4)), draw(ints(1, 3)), draw(SEEDS)
        use_state, use_len, training = draw(st.booleans()), draw(st.booleans()), \
            draw(st.booleans())

        def make():
            r = rng(seed)
            x = randn(r, (N, T, I) if kw["batch_first"] else (T, N, I), dt)
            state = None
            if use_state:
                state = randn(r, (L * D, N, H), dt)
            d = {"x": x}
            if name == "LSTM":
                d["h0"], d["c0"] = state, (randn(r, (L * D, N, H), dt) if use_state else None)
            else:
                d["state"] = state
            d["lengths"] = r.integers(0, T + 1, N) if use_len else None
            d["training"] = training
            return d

        def fn(x, lengths, training, state=None, h0=None, c0=None):
            if name == "LSTM":
                state = None if h0 is None and c0 is None else (h0, c0)
            return layer.forward(x, state, lengths, training)

        def check(out, args):
            y, st_, cache = out
            shape_is(y, (N, T, D * H) if kw["batch_first"] else (T, N, D * H), dt)
            for s in (st_ if name == "LSTM" else (st_,)):
                shape_is(s, (L * D, N, H), dt)
                finite(s)
            finite(y)
            assert (cache is None) == (not training)
        return Call(fn, make, check)

    @spec(f"{name}.backward", "layers")
    def _(draw):
        kw, layer, L, D, H, I, dt = _layer_setup(draw, cls)
        T, N, seed = draw(ints(1, 4)), draw(ints(1, 3)), draw(SEEDS)
        use_dy, use_ds, use_len = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())

        def make():
            r = rng(seed)
            x = randn(r, (N, T, I) if kw["batch_first"] else (T, N, I), dt)
            lengths = r.integers(0, T + 1, N) if use_len else None
            _, _, cache = layer.forward(x, None, lengths)
            d = {"cache": cache,
                 "dy": (randn(r, (N, T, D * H) if kw["batch_first"] else (T, N, D * H), dt)
                        if use_dy else None)}
            if name == "LSTM":
                d["dh_n"] = randn(r, (L * D, N, H), dt) if use_ds else None
                d["dc_n"] = randn(r, (L * D, N, H), dt) if use_ds else None
            else:
                d["dstate"] = randn(r, (L * D, N, H), dt) if use_ds else None
            return d

        def fn(cache, dy, dstate=None, dh_n=None, dc_n=None):
            if name == "LSTM":
                dstate = None if dh_n is None and dc_n is None else (dh_n, dc_n)
            return layer.backward(cache, dy, dstate)

        def check(out, args):
            dx, ds, grads = out
            shape_is(dx, (N, T, I) if kw["batch_first"] else (T, N, I), dt)
            assert list(grads) == [k for k, _ in layer.named_parameters()]
            for k, g in grads.items():
                shape_is(g, getattr(layer, k).shape, dt)
                finite(g)
            finite(dx)
        return Call(fn, make, check)


for _n in _LAYERS:
    _make_layer_specs(_n)


# ---------------------------------------------------------------------------- decoding

def _step_table(V, seed, dtype=F64, eos_after=12, eos=None):
    """A deterministic step function: log_softmax of a table row per token; after
    ``eos_after`` calls only ``eos`` is possible, so every search ends."""
    r = rng(seed)
    table = sc.log_softmax(randn(r, (V, V), F64, 2.0)).astype(dtype)
    calls = [0]

    def step(tokens, state, origin):
        calls[0] += 1
        lp = table[np.asarray(tokens) % V].copy()
        if calls[0] > eos_after and eos is not None:
            lp[:] = -np.inf
            lp[:, eos] = 0.0
        return lp, state
    return step


def _hyp_check(n_items, V):
    def check(out, args):
        assert isinstance(out, list) and len(out) == n_items
        for item in out:
            hyps = item if isinstance(item, list) else [item]
            for h in hyps:
                assert isinstance(h, sc.Hypothesis)
                assert h.tokens.dtype == np.int64 and ((h.tokens >= 0) & (h.tokens < V)).all()
                assert math.isfinite(h.log_prob) and h.log_prob <= 1e-9
    return check


@spec("beam_search", "decoding")
def _(draw):
    V, N, seed = draw(ints(3, 6)), draw(ints(1, 3)), draw(SEEDS)
    bos, eos = draw(ints(0, V - 1)), draw(ints(0, V - 1))
    K = draw(ints(1, 4))
    kw = dict(beam_width=K, max_length=draw(ints(1, 8)), min_length=draw(ints(0, 2)),
              length_penalty=draw(st.sampled_from([0.0, 0.6, 1.0])),
              length_penalty_mode=draw(st.sampled_from(["avg", "gnmt", "none"])),
              n_best=draw(ints(1, K)), stopping=draw(st.sampled_from(["early", "patience",
                                                                      "exhaustive"])),
              patience=draw(st.sampled_from([1.0, 1.5])),
              repetition_penalty=draw(st.sampled_from([1.0, 1.2])),
              no_repeat_ngram_size=draw(ints(0, 2)))
    use_prefix = draw(st.booleans())

    def make():
        d = {"step": _step_table(V, seed, eos=eos), "batch_size": N, "bos_id": bos,
             "eos_id": eos, "init_state": None, **kw}
        d["prefix"] = (np.array(rng(seed).integers(0, V, (N, 1))) if use_prefix else None)
        return d

    return Call(sc.beam_search, make, _hyp_check(N, V),
                lenient=("init_state", "length_penalty", "patience", "repetition_penalty"),
                may_raise=True)


@spec("greedy_search", "decoding", covers=("greedy_search", "sample"))
def _(draw):
    V, N, seed = draw(ints(3, 6)), draw(ints(1, 3)), draw(SEEDS)
    bos, eos = draw(ints(0, V - 1)), draw(ints(0, V - 1))
    max_len = draw(ints(2, 8))
    sampling = draw(st.booleans())

    def make():
        d = {"step": _step_table(V, seed, eos=eos), "batch_size": N, "bos_id": bos,
             "eos_id": eos, "init_state": None, "max_length": max_len,
             "min_length": draw_min}
        if sampling:
            d.update(temperature=0.7, top_k=2, top_p=0.9, seed=seed)
        return d
    draw_min = draw(ints(0, max_len - 1))
    fn = sc.sample if sampling else sc.greedy_search
    return Call(fn, make, _hyp_check(N, V), lenient=("init_state",))


@spec("perplexity", "decoding")
def _(draw):
    T, N, V, seed = draw(ints(1, 4)), draw(ints(1, 3)), draw(ints(1, 5)), draw(SEEDS)
    use_len = draw(st.booleans())

    def make():
        r = rng(seed)
        lengths = r.integers(1, T + 1, N) if use_len else None
        return {"log_probs": sc.log_softmax(randn(r, (T, N, V))),
                "targets": r.integers(0, V, (T, N)), "lengths": lengths}

    def check(out, args):
        assert isinstance(out, float) and out >= 1.0 - 1e-9 and math.isfinite(out)
    return Call(sc.perplexity, make, check)


# ---------------------------------------------------------------------------- ctc

def _ctc_draw(draw):
    return dict(T=draw(ints(1, 6)), N=draw(ints(1, 3)), C=draw(ints(2, 5)), S=draw(ints(0, 3)),
                dtype=draw(FLOATS), seed=draw(SEEDS), padded=draw(st.booleans()))


def _ctc_make(T, N, C, S, dtype, seed, padded):
    r = rng(seed)
    blank = int(r.integers(0, C))
    labels = [c for c in range(C) if c != blank]
    tl = r.integers(0, S + 1, N)
    tgt = r.choice(labels, (N, max(S, 1)))
    targets = tgt if padded else np.concatenate([tgt[n, :tl[n]] for n in range(N)])
    return {"log_probs": sc.log_softmax(randn(r, (T, N, C), dtype)),
            "targets": targets.astype(np.int64), "input_lengths": r.integers(0, T + 1, N),
            "target_lengths": tl, "blank": blank}


def _make_ctc_loss_spec(name, fn, logits):
    @spec(name, "ctc")
    def _(draw):
        p = _ctc_draw(draw)
        reduction = draw(st.sampled_from(["mean", "sum", "none"]))
        zi = draw(st.booleans())

        def make():
            d = _ctc_make(**p)
            if logits:
                d["logits"] = d.pop("log_probs")
            d.update(reduction=reduction, zero_infinity=zi)
            return d

        def check(out, args):
            loss, grad = out
            shape_is(grad, (p["T"], p["N"], p["C"]), p["dtype"])
            finite(grad)
            if reduction == "none":
                shape_is(np.asarray(loss), (p["N"],))
            if zi:
                finite(loss)
        return Call(fn, make, check)


_make_ctc_loss_spec("ctc_loss", sc.ctc_loss, False)
_make_ctc_loss_spec("ctc_loss_from_logits", sc.ctc_loss_from_logits, True)


@spec("ctc_workspace_bytes", "ctc")
def _(draw):
    p = _ctc_draw(draw)
    fl, threads = draw(st.booleans()), draw(ints(1, 4))

    def make():
        d = _ctc_make(**p)
        d.update(from_logits=fl, threads=threads)
        return d

    def check(out, args):
        assert isinstance(out, int) and out >= 0
    return Call(sc.ctc_workspace_bytes, make, check)


@spec("ctc_greedy_decode", "ctc")
def _(draw):
    p = _ctc_draw(draw)

    def make():
        d = _ctc_make(**p)
        return {"log_probs": d["log_probs"], "input_lengths": d["input_lengths"],
                "blank": d["blank"]}

    def check(out, args):
        assert len(out) == p["N"]
        for tokens, frames in out:
            assert tokens.shape == frames.shape and tokens.dtype == np.int64
    return Call(sc.ctc_greedy_decode, make, check)


@spec("ctc_beam_search", "ctc", covers=("ctc_beam_search", "NGramLM.score"))
def _(draw):
    p = _ctc_draw(draw)
    K = draw(ints(1, 5))
    use_lm = draw(st.booleans())
    kw = dict(beam_width=K, n_best=draw(ints(1, K)),
              beam_threshold=draw(st.sampled_from([None, 5.0])),
              token_top_k=draw(st.sampled_from([None, 1, 3])),
              token_min_logp=draw(st.sampled_from([None, -3.0])),
              lm_weight=draw(st.sampled_from([0.0, 0.5])),
              word_score=draw(st.sampled_from([0.0, 1.0])))
    use_delim = draw(st.booleans())

    def make():
        d = _ctc_make(**p)
        C, blank = p["C"], d["blank"]
        alphabet = [None if c == blank else "abcdefg"[c] for c in range(C)]
        lm = sc.NGramLM("abc cab\nba ca", alphabet, order=2) if use_lm else None
        delim = next(c for c in range(C) if c != blank) if use_delim else None
        return {"log_probs": d["log_probs"], "input_lengths": d["input_lengths"],
                "blank": blank, "lm": lm, "word_delimiter": delim, **kw}

    def check(out, args):
        assert len(out) == p["N"]
        for hyps in out:
            assert 1 <= len(hyps) <= kw["n_best"]
            for tokens, score in hyps:
                assert tokens.dtype == np.int64 and isinstance(score, float)
    return Call(sc.ctc_beam_search, make, check, lenient=("beam_threshold", "token_min_logp",
                                                          "lm_weight", "word_score"))


@spec("NGramLM", "ctc")
def _(draw):
    order = draw(ints(1, 4))
    smoothing = draw(st.sampled_from(["kneser-ney", "add-k"]))
    k, disc = draw(st.sampled_from([0.1, 1.0])), draw(st.sampled_from([0.5, 0.75]))
    text = draw(st.sampled_from(["the cat\nsat on the mat", "abcabc", "a\n\nb"]))

    def make():
        return {"text": text, "alphabet": [None, " ", "a", "b", "c", "t", "h", "e"],
                "order": order, "smoothing": smoothing, "k": k, "discount": disc}

    def check(lm, args):
        s = lm.start()
        total = math.fsum(math.exp(lm.score(s, t)[1]) for t in lm.tokens) + \
            math.exp(lm.finish(s))
        assert abs(total - 1) < 1e-9, total
        assert math.isfinite(lm.log_prob("the cab"))
    return Call(sc.NGramLM, make, check, lenient=("text",))


# ---------------------------------------------------------------------------- attention

@spec("sdpa_forward", "attention", covers=("sdpa_forward", "scaled_dot_product_attention"))
def _(draw):
    B, Hkv, rep, Lq, Lk, D, Dv = (draw(ints(1, 2)), draw(ints(1, 2)), draw(ints(1, 2)),
                                  draw(ints(1, 5)), draw(ints(1, 5)), draw(ints(1, 4)),
                                  draw(ints(1, 4)))
    H = Hkv * rep
    dt, seed = draw(FLOATS), draw(SEEDS)
    mask_kind = draw(st.sampled_from([None, "bool", "float"]))
    causal, use_kl = draw(st.booleans()), draw(st.booleans())
    offset = draw(ints(-2, 2))
    blocks = draw(st.sampled_from([(None, 64), (1, 1), (2, 3), (128, 64)]))
    wrapper = draw(st.booleans())

    def make():
        r = rng(seed)
        d = {"q": randn(r, (B, H, Lq, D), dt), "k": randn(r, (B, Hkv, Lk, D), dt),
             "v": randn(r, (B, Hkv, Lk, Dv), dt)}
        mask = None
        if mask_kind == "bool":
            mask = r.random((Lq, Lk)) < 0.7
        elif mask_kind == "float":
            mask = randn(r, (1, H, Lq, Lk), dt)
        d.update(attn_mask=mask, is_causal=causal, scale=None, causal_offset=offset,
                 key_lengths=r.integers(0, Lk + 1, B) if use_kl else None)
        if not wrapper:
            d.update(block_q=blocks[0], block_k=blocks[1])
        return d

    def check(out, args):
        o = out if wrapper else out[0]
        shape_is(o, (B, H, Lq, Dv), dt)
        finite(o)
    fn = sc.scaled_dot_product_attention if wrapper else sc.sdpa_forward
    return Call(fn, make, check, lenient=("scale",))


@spec("sdpa_backward", "attention")
def _(draw):
    B, H, Lq, Lk, D, Dv = (draw(ints(1, 2)), draw(ints(1, 2)), draw(ints(1, 5)),
                           draw(ints(1, 5)), draw(ints(1, 4)), draw(ints(1, 4)))
    dt, seed, causal = draw(FLOATS), draw(SEEDS), draw(st.booleans())

    def make():
        r = rng(seed)
        _, cache = sc.sdpa_forward(randn(r, (B, H, Lq, D), dt), randn(r, (B, H, Lk, D), dt),
                                   randn(r, (B, H, Lk, Dv), dt), is_causal=causal)
        return {"cache": cache, "dout": randn(r, (B, H, Lq, Dv), dt)}

    def check(out, args):
        shape_is(out.dq, (B, H, Lq, D), dt)
        shape_is(out.dk, (B, H, Lk, D), dt)
        shape_is(out.dv, (B, H, Lk, Dv), dt)
        finite(*out)
    return Call(sc.sdpa_backward, make, check)


def _step_attn_draw(draw):
    return dict(N=draw(ints(1, 3)), T=draw(ints(1, 4)), Dq=draw(ints(1, 4)), Dk=draw(ints(1, 4)),
                Dv=draw(ints(1, 4)), A=draw(ints(1, 4)), dt=draw(FLOATS), seed=draw(SEEDS),
                use_kl=draw(st.booleans()))


def _step_attn_make(kind, N, T, Dq, Dk, Dv, A, dt, seed, use_kl, proj=False):
    r = rng(seed)
    if kind == "dot":
        Dk = Dq
    d = {"query": randn(r, (N, Dq), dt), "keys": randn(r, (N, T, Dk), dt),
         "values": randn(r, (N, T, Dv), dt)}
    if kind == "additive":
        d.update(w_q=randn(r, (A, Dq), dt), w_k=randn(r, (A, Dk), dt), v_a=randn(r, (A,), dt))
    if kind == "general":
        d["w"] = randn(r, (Dk, Dq), dt)
    d["key_lengths"] = r.integers(0, T + 1, N) if use_kl else None
    if kind == "additive":
        d["proj_keys"] = sc.precompute_keys(d["keys"], d["w_k"]) if proj else None
    return d


def _attn_fwd_check(p):
    def check(out, args):
        ctx, w, _ = out
        shape_is(ctx, (p["N"], p["Dv"]), p["dt"])
        shape_is(w, (p["N"], p["T"]), p["dt"])
        finite(ctx, w)
    return check


@spec("precompute_keys", "attention")
def _(draw):
    p = _step_attn_draw(draw)

    def make():
        d = _step_attn_make("additive", **p)
        return {"keys": d["keys"], "w_k": d["w_k"]}

    def check(out, args):
        shape_is(out, (p["N"], p["T"], p["A"]), p["dt"])
    return Call(sc.precompute_keys, make, check)


for _kind, _fn in (("additive", sc.additive_attention_forward), ("dot", sc.dot_attention),
                   ("general", sc.general_attention)):
    def _mk(kind, fn):
        name = {"additive": "additive_attention_forward", "dot": "dot_attention",
                "general": "general_attention"}[kind]

        @spec(name, "attention")
        def _(draw):
            p = _step_attn_draw(draw)
            proj = draw(st.booleans())
            if kind == "dot":
                p["Dk"] = p["Dq"]
            return Call(fn, lambda: _step_attn_make(kind, **p, proj=proj), _attn_fwd_check(p))
    _mk(_kind, _fn)


for _kind in ("additive", "luong"):
    def _mkb(kind):
        name = "additive_attention_backward" if kind == "additive" else "luong_attention_backward"

        @spec(name, "attention")
        def _(draw):
            p = _step_attn_draw(draw)
            general = draw(st.booleans())
            use_dw = draw(st.booleans())
            fwd_kind = "additive" if kind == "additive" else ("general" if general else "dot")
            if fwd_kind == "dot":
                p["Dk"] = p["Dq"]
            fwd = {"additive": sc.additive_attention_forward, "general": sc.general_attention,
                   "dot": sc.dot_attention}[fwd_kind]
            bwd = (sc.additive_attention_backward if kind == "additive"
                   else sc.luong_attention_backward)

            def make():
                d = _step_attn_make(fwd_kind, **p)
                _, _, cache = fwd(**d)
                r = rng(p["seed"] + 7)
                return {"cache": cache, "dcontext": randn(r, (p["N"], p["Dv"]), p["dt"]),
                        "dweights": randn(r, (p["N"], p["T"]), p["dt"]) if use_dw else None}

            def check(out, args):
                shape_is(out.dquery, (p["N"], p["Dq"]), p["dt"])
                shape_is(out.dkeys, (p["N"], p["T"], p["Dk"]), p["dt"])
                shape_is(out.dvalues, (p["N"], p["T"], p["Dv"]), p["dt"])
                finite(*[g for g in out if g is not None])
            return Call(bwd, make, check)
    _mkb(_kind)


def _mha_draw(draw):
    heads = draw(ints(1, 3))
    return dict(L=draw(ints(1, 4)), S=draw(ints(1, 4)), N=draw(ints(1, 2)), heads=heads,
                E=heads * draw(ints(1, 3)), dt=draw(FLOATS), seed=draw(SEEDS),
                bias=draw(st.booleans()), mask=draw(st.sampled_from([None, "bool", "float"])),
                causal=draw(st.booleans()), use_kl=draw(st.booleans()))


def _mha_make(L, S, N, heads, E, dt, seed, bias, mask, causal, use_kl):
    r = rng(seed)
    m = None
    if mask == "bool":
        m = r.random((L, S)) < 0.3
    elif mask == "float":
        m = randn(r, (L, S), dt)
    return {"query": randn(r, (L, N, E), dt), "key": randn(r, (S, N, E), dt),
            "value": randn(r, (S, N, E), dt), "in_proj_weight": randn(r, (3 * E, E), dt, .5),
            "in_proj_bias": randn(r, (3 * E,), dt) if bias else None,
            "out_proj_weight": randn(r, (E, E), dt, .5),
            "out_proj_bias": randn(r, (E,), dt) if bias else None, "num_heads": heads,
            "attn_mask": m, "is_causal": causal,
            "key_lengths": r.integers(0, S + 1, N) if use_kl else None}


@spec("multi_head_attention_forward", "attention")
def _(draw):
    p = _mha_draw(draw)

    def check(out, args):
        o, _ = out
        shape_is(o, (p["L"], p["N"], p["E"]), p["dt"])
        finite(o)
    return Call(sc.multi_head_attention_forward, lambda: _mha_make(**p), check)


@spec("multi_head_attention_backward", "attention")
def _(draw):
    p = _mha_draw(draw)

    def make():
        _, cache = sc.multi_head_attention_forward(**_mha_make(**p))
        return {"cache": cache,
                "dout": randn(rng(p["seed"] + 3), (p["L"], p["N"], p["E"]), p["dt"])}

    def check(out, args):
        L, S, N, E, dt = p["L"], p["S"], p["N"], p["E"], p["dt"]
        shape_is(out.dquery, (L, N, E), dt)
        shape_is(out.dkey, (S, N, E), dt)
        shape_is(out.d_in_proj_weight, (3 * E, E), dt)
        finite(*[g for g in out if g is not None])
    return Call(sc.multi_head_attention_backward, make, check)


@spec("sinusoidal_positional_encoding", "attention")
def _(draw):
    length, d_model = draw(ints(0, 6)), draw(ints(1, 6))
    dtype = draw(st.sampled_from(["float32", "float64"]))

    def check(out, args):
        shape_is(out, (length, d_model), np.dtype(dtype))
        assert np.all(np.abs(out) <= 1 + 1e-6)
    return Call(sc.sinusoidal_positional_encoding,
                lambda: {"length": length, "d_model": d_model, "dtype": dtype}, check)


# ---------------------------------------------------------------------------- transformer

def _ln_draw(draw):
    return {"M": draw(ints(0, 4)), "D": draw(ints(1, 6)), "dt": draw(FLOATS),
            "seed": draw(SEEDS), "affine": draw(st.booleans()),
            "residual": draw(st.booleans())}


def _ln_make(M, D, dt, seed, affine, residual):
    r = rng(seed)
    return {"x": randn(r, (M, D), dt), "weight": randn(r, (D,), dt) if affine else None,
            "bias": randn(r, (D,), dt) if affine else None, "eps": 1e-5,
            "residual": randn(r, (M, D), dt) if residual else None}


@spec("layer_norm_forward", "transformer")
def _(draw):
    p = _ln_draw(draw)

    def check(out, args):
        shape_is(out[0], (p["M"], p["D"]), p["dt"])
        finite(out[0])
    return Call(sc.layer_norm_forward, lambda: _ln_make(**p), check)


@spec("layer_norm_backward", "transformer")
def _(draw):
    p = _ln_draw(draw)

    def make():
        _, cache = sc.layer_norm_forward(**_ln_make(**p))
        return {"cache": cache, "dy": randn(rng(p["seed"] + 1), (p["M"], p["D"]), p["dt"])}

    def check(out, args):
        shape_is(out.dx, (p["M"], p["D"]), p["dt"])
        finite(*[g for g in out if g is not None])
    return Call(sc.layer_norm_backward, make, check)


def _lin_draw(draw):
    return {"M": draw(ints(0, 10)), "I": draw(ints(0, 5)), "O": draw(ints(1, 5)),
            "dt": draw(FLOATS), "seed": draw(SEEDS), "bias": draw(st.booleans()),
            "act": draw(st.sampled_from(["none", "relu", "gelu", "gelu_tanh"]))}


def _lin_make(M, I, O, dt, seed, bias, act):
    r = rng(seed)
    return {"x": randn(r, (M, I), dt), "weight": randn(r, (O, I), dt),
            "bias": randn(r, (O,), dt) if bias else None, "activation": act}


@spec("linear_forward", "transformer")
def _(draw):
    p = _lin_draw(draw)

    def check(out, args):
        shape_is(out[0], (p["M"], p["O"]), p["dt"])
        finite(out[0])
    return Call(sc.linear_forward, lambda: _lin_make(**p), check,
                lenient=() if p["I"] else ("x", "weight"))


@spec("linear_backward", "transformer")
def _(draw):
    p = _lin_draw(draw)

    def make():
        _, cache = sc.linear_forward(**_lin_make(**p))
        return {"cache": cache, "dy": randn(rng(p["seed"] + 1), (p["M"], p["O"]), p["dt"]),
                "need_dx": True}

    def check(out, args):
        shape_is(out.dweight, (p["O"], p["I"]), p["dt"])
        finite(*[g for g in out if g is not None])
    return Call(sc.linear_backward, make, check)


# ---------------------------------------------------------------------------- conv

def _conv_draw(draw):
    return {"N": draw(ints(0, 3)), "Ci": draw(ints(1, 4)), "Co": draw(ints(1, 5)),
            "Kw": draw(ints(1, 4)), "stride": draw(ints(1, 3)), "padding": draw(ints(0, 2)),
            "dilation": draw(ints(1, 3)), "extra": draw(ints(0, 6)), "dt": draw(FLOATS),
            "seed": draw(SEEDS), "bias": draw(st.booleans()),
            "channels_last": draw(st.booleans()),
            "activation": draw(st.sampled_from(["none", "relu"]))}


def _conv_make(N, Ci, Co, Kw, stride, padding, dilation, extra, dt, seed, bias,
               channels_last, activation):
    r = rng(seed)
    L = max(0, dilation * (Kw - 1) + 1 - 2 * padding) + extra    # at least one output step
    shape = (N, L, Ci) if channels_last else (N, Ci, L)
    return {"x": randn(r, shape, dt), "weight": randn(r, (Co, Ci, Kw), dt),
            "bias": randn(r, (Co,), dt) if bias else None, "stride": stride,
            "padding": padding, "dilation": dilation, "channels_last": channels_last,
            "activation": activation}


def _conv_out_shape(p, args):
    L = args["x"].shape[1 if p["channels_last"] else 2]
    Lo = sc.conv1d_output_length(L, p["Kw"], p["stride"], p["padding"], p["dilation"])
    return (p["N"], Lo, p["Co"]) if p["channels_last"] else (p["N"], p["Co"], Lo)


@spec("conv1d_forward", "conv", covers=("conv1d_forward", "conv1d_output_length"))
def _(draw):
    p = _conv_draw(draw)

    def check(out, args):
        shape_is(out[0], _conv_out_shape(p, args), p["dt"])
        finite(out[0])
    return Call(sc.conv1d_forward, lambda: _conv_make(**p), check,
                lenient=("stride", "padding", "dilation"))


@spec("PackedConv1d", "conv")
def _(draw):
    p = _conv_draw(draw)

    def fn(x, weight, bias, stride, padding, dilation, channels_last, activation):
        return sc.PackedConv1d(weight, bias, stride, padding, dilation,
                               channels_last=channels_last, activation=activation)(x)

    def check(out, args):    # conv1d_forward's output, bit for bit
        shape_is(out, _conv_out_shape(p, args), p["dt"])
        assert np.array_equal(out, sc.conv1d_forward(**args)[0])
    return Call(fn, lambda: _conv_make(**p), check, lenient=("stride", "padding", "dilation"))


@spec("conv1d_backward", "conv")
def _(draw):
    p = _conv_draw(draw)

    def make():
        args = _conv_make(**p)
        y, cache = sc.conv1d_forward(**args)
        return {"cache": cache, "dy": randn(rng(p["seed"] + 1), y.shape, p["dt"]),
                "need_dx": True}

    def check(out, args):
        shape_is(out.dweight, (p["Co"], p["Ci"], p["Kw"]), p["dt"])
        finite(*[g for g in out if g is not None])
    return Call(sc.conv1d_backward, make, check)


def _bn_draw(draw):
    return {"N": draw(ints(1, 3)), "L": draw(ints(1, 5)), "C": draw(ints(1, 6)),
            "dt": draw(FLOATS), "seed": draw(SEEDS), "affine": draw(st.booleans()),
            "relu": draw(st.booleans()), "training": draw(st.booleans())}


def _bn_make(N, L, C, dt, seed, affine, relu, training):
    r = rng(seed)
    return {"x": randn(r, (max(N, 2), L, C), dt),
            "weight": randn(r, (C,), dt) if affine else None,
            "bias": randn(r, (C,), dt) if affine else None,
            "running_mean": randn(r, (C,), dt), "running_var": np.ones(C, dt),
            "training": training, "relu": relu}


@spec("batch_norm_forward", "conv")
def _(draw):
    p = _bn_draw(draw)

    def check(out, args):
        shape_is(out[0], args["x"].shape, p["dt"])
        finite(out[0])
    return Call(sc.batch_norm_forward, lambda: _bn_make(**p), check,
                inplace=("running_mean", "running_var"), lenient=("momentum", "eps"))


@spec("batch_norm_backward", "conv")
def _(draw):
    p = _bn_draw(draw)

    def make():
        args = _bn_make(**p)
        y, cache = sc.batch_norm_forward(**args)
        return {"cache": cache, "dy": randn(rng(p["seed"] + 1), y.shape, p["dt"])}

    def check(out, args):
        shape_is(out.dx, args["dy"].shape, p["dt"])
        finite(*[g for g in out if g is not None])
    return Call(sc.batch_norm_backward, make, check)


@spec("binary_cross_entropy_with_logits", "conv")
def _(draw):
    shape = tuple(draw(st.lists(ints(0, 5), min_size=1, max_size=3)))
    dt, seed = draw(FLOATS), draw(SEEDS)
    weighted, grad = draw(st.booleans()), draw(st.booleans())
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))

    def make():
        r = rng(seed)
        return {"logits": randn(r, shape, dt, scale=5.0),
                "targets": (r.random(shape) < 0.5).astype(dt),
                "weight": r.random(shape).astype(dt) if weighted else None,
                "pos_weight": 2.0, "reduction": reduction, "grad": grad}

    def check(out, args):
        if reduction == "none":
            shape_is(out.loss, shape, dt)
            finite(out.loss)
        if grad:
            shape_is(out.dlogits, shape, dt)
            finite(out.dlogits)
    return Call(sc.binary_cross_entropy_with_logits, make, check, lenient=("pos_weight",))


@spec("TransformerEncoderLayer", "transformer", cost=2.0,
      covers=("TransformerEncoderLayer", "TransformerEncoderLayer.forward",
              "TransformerEncoderLayer.backward", "TransformerEncoder"))
def _(draw):
    heads, hd, F = draw(ints(1, 2)), draw(ints(1, 3)), draw(ints(1, 6))
    E, S, N = heads * hd, draw(ints(1, 4)), draw(ints(1, 3))
    dt, seed = draw(FLOATS), draw(SEEDS)
    opts = {"norm_first": draw(st.booleans()), "batch_first": draw(st.booleans()),
            "activation": draw(st.sampled_from(["relu", "gelu"])),
            "dropout": draw(st.sampled_from([0.0, 0.2]))}
    layers, causal = draw(ints(1, 2)), draw(st.booleans())

    def make():
        r = rng(seed)
        shape = (N, S, E) if opts["batch_first"] else (S, N, E)
        return {"src": randn(r, shape, dt), "dout": randn(r, shape, dt),
                "src_lengths": r.integers(0, S + 1, N), "is_causal": causal}

    def fn(src, dout, src_lengths=None, is_causal=False):
        layer = sc.TransformerEncoderLayer(E, heads, F, dtype=dt, seed=seed, **opts)
        enc = sc.TransformerEncoder(layer, layers)
        out, cache = enc(src, is_causal=is_causal, src_lengths=src_lengths)
        return out, enc.backward(cache, dout)

    def check(out, args):
        shape_is(out[0], args["src"].shape, dt)
        finite(out[0], out[1][0], *out[1][1].values())
    return Call(fn, make, check, lenient=("is_causal",))


@spec("Transformer", "transformer", cost=2.0,
      covers=("Transformer", "Transformer.forward", "Transformer.backward",
              "TransformerDecoderLayer", "TransformerDecoder"))
def _(draw):
    heads, hd, F = draw(ints(1, 2)), draw(ints(1, 3)), draw(ints(1, 6))
    E, S, T, N = heads * hd, draw(ints(1, 4)), draw(ints(1, 4)), draw(ints(1, 3))
    dt, seed = draw(FLOATS), draw(SEEDS)
    opts = {"norm_first": draw(st.booleans()), "batch_first": draw(st.booleans()),
            "dropout": draw(st.sampled_from([0.0, 0.2]))}

    def make():
        r = rng(seed)
        sh = (lambda L: (N, L, E)) if opts["batch_first"] else (lambda L: (L, N, E))
        return {"src": randn(r, sh(S), dt), "tgt": randn(r, sh(T), dt),
                "dout": randn(r, sh(T), dt), "memory_lengths": r.integers(0, S + 1, N)}

    def fn(src, tgt, dout, memory_lengths=None):
        model = sc.Transformer(E, heads, 1, 1, F, dtype=dt, seed=seed, **opts)
        out, cache = model(src, tgt, tgt_is_causal=True, memory_lengths=memory_lengths)
        return out, model.backward(cache, dout)

    def check(out, args):
        shape_is(out[0], args["tgt"].shape, dt)
        (dsrc, dtgt), grads = out[1]
        shape_is(dsrc, args["src"].shape, dt)
        finite(out[0], dsrc, dtgt, *grads.values())
    return Call(fn, make, check)


@spec("Transformer.translate", "transformer", cost=2.0,
      covers=("Transformer.translate", "Transformer.greedy", "Transformer.step_function",
              "Transformer.decoder_log_probs", "Transformer.encode"))
def _(draw):
    heads, hd = draw(ints(1, 2)), draw(ints(1, 3))
    Vs, Vt, S, N = draw(ints(1, 5)), draw(ints(3, 6)), draw(ints(1, 4)), draw(ints(1, 2))
    dt, seed = draw(FLOATS), draw(SEEDS)
    beam, greedy, max_length = draw(ints(1, 3)), draw(st.booleans()), draw(ints(1, 4))

    def make():
        r = rng(seed)
        return {"src": r.integers(0, Vs, (S, N)), "src_lengths": r.integers(1, S + 1, N),
                "beam_width": beam, "max_length": max_length}

    model = sc.Transformer(heads * hd, heads, 1, 1, 4, dropout=0.0, src_vocab_size=Vs,
                           tgt_vocab_size=Vt, dtype=dt, seed=seed)

    def fn(src, src_lengths, beam_width, max_length):
        if greedy:
            return [[h] for h in model.greedy(src, src_lengths, max_length)]
        return model.translate(src, src_lengths, beam_width, max_length)

    def check(out, args):
        assert len(out) == N
        for item in out:
            assert 1 <= len(item) and all(len(h.tokens) <= args["max_length"] for h in item)
            assert all(((h.tokens >= 0) & (h.tokens < Vt)).all() for h in item)
    return Call(fn, make, check, lenient=("beam_width",) if greedy else ())


_TMP = tempfile.mkdtemp(prefix="seqcore-props-")


@spec("plot_attention", "misc", cost=0.15)
def _(draw):
    S, T, seed = draw(ints(1, 3)), draw(ints(1, 3)), draw(SEEDS)
    ns, nt = draw(ints(0, T)), draw(ints(0, S))

    def make():
        r = rng(seed)
        return {"weights": r.random((S, T)), "source_tokens": [f"s{i}" for i in range(ns)],
                "target_tokens": [f"t{i}" for i in range(nt)],
                "path": os.path.join(_TMP, "attn.png")}

    def check(out, args):
        assert os.path.getsize(out) > 0
    return Call(sc.plot_attention, make, check, frozen=("path",),
                lenient=("source_tokens", "target_tokens"))


# ---------------------------------------------------------------------------- output layers

@spec("softmax_cross_entropy", "output_layers")
def _(draw):
    N, V, dt, seed = draw(ints(1, 4)), draw(ints(1, 6)), draw(FLOATS), draw(SEEDS)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))
    ignore = draw(st.sampled_from([None, -100, 0]))
    ls, grad = draw(st.sampled_from([0.0, 0.1, 1.0])), draw(st.booleans())

    def make():
        r = rng(seed)
        return {"logits": randn(r, (N, V), dt), "targets": r.integers(0, V, N),
                "reduction": reduction, "ignore_index": ignore, "label_smoothing": ls,
                "grad": grad}

    def check(out, args):
        if reduction == "none":
            shape_is(out.loss, (N,), dt)
        if grad:
            shape_is(out.dlogits, (N, V), dt)
            finite(out.dlogits)
        else:
            assert out.dlogits is None
    return Call(sc.softmax_cross_entropy, make, check, lenient=("label_smoothing",))


@spec("log_softmax", "output_layers")
def _(draw):
    shape = tuple(draw(st.lists(ints(1, 4), min_size=1, max_size=3)))
    axis = draw(ints(-len(shape), len(shape) - 1))
    dt, seed = draw(FLOATS), draw(SEEDS)

    def check(out, args):
        shape_is(out, shape, dt)
        finite(out)
        assert np.allclose(np.exp(out.astype(F64)).sum(axis=axis), 1, atol=1e-4)
    return Call(sc.log_softmax, lambda: {"x": randn(rng(seed), shape, dt), "axis": axis}, check)


@spec("UnigramSampler", "output_layers",
      covers=("UnigramSampler", "UnigramSampler.sample", "UnigramSampler.log_q"))
def _(draw):
    V, seed = draw(ints(1, 6)), draw(SEEDS)
    power = draw(st.sampled_from([0.0, 0.75, 1.0]))
    n = draw(ints(0, 5))
    method = draw(st.sampled_from(["sample", "log_q"]))

    def make():
        r = rng(seed)
        counts = r.integers(0, 5, V)
        counts[0] += 1
        d = {"counts": counts, "power": power, "seed": seed}
        if method == "sample":
            d.update(shape=n, stream=seed % 7)
        else:
            d["ids"] = r.integers(0, V, n)
        return d

    def fn(counts, power, seed, shape=None, stream=None, ids=None):
        s = sc.UnigramSampler(counts, power, seed)
        return s.sample(shape, stream) if method == "sample" else s.log_q(ids)

    def check(out, args):
        if method == "sample":
            shape_is(out, (n,), np.int64)
            assert ((out >= 0) & (out < V)).all()
            assert (np.asarray(args["counts"])[out] > 0).all()
        else:
            shape_is(out, (n,), F64)
    return Call(fn, make, check, lenient=("power",))


@spec("HuffmanTree", "output_layers")
def _(draw):
    V, seed = draw(ints(1, 8)), draw(SEEDS)

    def make():
        counts = rng(seed).integers(0, 20, V)
        counts[0] += 1
        return {"counts": counts}

    def check(t, args):
        assert t.size == V and t.num_inner == V - 1
        shape_is(t.offsets, (V + 1,))
        assert t.points.shape == t.codes.shape == (t.offsets[-1],)
    return Call(sc.HuffmanTree, make, check)


def _sparse_check(N, D, dt, reduction):
    def check(out, args):
        shape_is(out.dh, (N, D), dt)
        assert out.drows.shape == (len(out.rows), D)
        assert (np.diff(out.rows) > 0).all()
        if reduction == "none":
            shape_is(np.asarray(out.loss), (N,))
        finite(out.dh, out.drows, np.asarray(out.loss))
    return check


@spec("embedding_forward", "output_layers")
def _(draw):
    V, D, n = draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(0, 5))
    dt, seed = draw(FLOATS), draw(SEEDS)

    def make():
        r = rng(seed)
        return {"weight": randn(r, (V, D), dt), "ids": r.integers(0, V, n)}

    def check(out, args):
        shape_is(out, (n, D), dt)
        np.testing.assert_array_equal(out, args["weight"][args["ids"]])
    return Call(sc.embedding_forward, make, check)


def _sparse_grad_check(V, D, dt):
    def check(out, args):
        assert out.grads.shape == (len(out.rows), D) and out.grads.dtype == dt
        assert (np.diff(out.rows) > 0).all() and (out.rows < V).all()
        finite(out.grads)
        shape_is(out.to_dense(V), (V, D), dt)
    return check


@spec("embedding_backward", "output_layers",
      covers=("embedding_backward", "SparseGrad", "SparseGrad.to_dense"))
def _(draw):
    V, D, n = draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(0, 5))
    dt, seed = draw(FLOATS), draw(SEEDS)
    pad = draw(st.sampled_from([None, 0, -1]))

    def make():
        r = rng(seed)
        return {"dout": randn(r, (n, D), dt), "ids": r.integers(0, V, n),
                "num_embeddings": V, "padding_idx": pad}
    return Call(sc.embedding_backward, make, _sparse_grad_check(V, D, dt))


def _bag_make(V, D, B, dt, seed, mode, pad, grad):
    def make():
        r = rng(seed)
        lengths = r.integers(0, 4, B)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        ids = r.integers(0, V, int(offsets[-1]))
        if grad:
            return {"dout": randn(r, (B, D), dt), "ids": ids, "offsets": offsets,
                    "num_embeddings": V, "mode": mode, "padding_idx": pad}
        return {"weight": randn(r, (V, D), dt), "ids": ids, "offsets": offsets,
                "mode": mode, "padding_idx": pad}
    return make


@spec("embedding_bag_forward", "output_layers")
def _(draw):
    V, D, B = draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(0, 4))
    dt, seed = draw(FLOATS), draw(SEEDS)
    mode, pad = draw(st.sampled_from(["sum", "mean"])), draw(st.sampled_from([None, 0]))

    def check(out, args):
        shape_is(out, (B, D), dt)
        finite(out)
    return Call(sc.embedding_bag_forward, _bag_make(V, D, B, dt, seed, mode, pad, False),
                check)


@spec("embedding_bag_backward", "output_layers")
def _(draw):
    V, D, B = draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(0, 4))
    dt, seed = draw(FLOATS), draw(SEEDS)
    mode, pad = draw(st.sampled_from(["sum", "mean"])), draw(st.sampled_from([None, 0]))
    return Call(sc.embedding_bag_backward, _bag_make(V, D, B, dt, seed, mode, pad, True),
                _sparse_grad_check(V, D, dt))


@spec("negative_sampling_loss", "output_layers")
def _(draw):
    N, V, D, K = draw(ints(1, 4)), draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(1, 3))
    dt, seed = draw(FLOATS), draw(SEEDS)
    shared, use_sampler = draw(st.booleans()), draw(st.booleans())
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))

    def make():
        r = rng(seed)
        d = {"h": randn(r, (N, D), dt), "w_out": randn(r, (V, D), dt),
             "targets": r.integers(0, V, N)}
        if use_sampler:
            d.update(sampler=sc.UnigramSampler(np.arange(1, V + 1), seed=seed),
                     num_negatives=K)
        else:
            d["negatives"] = r.integers(0, V, (K,) if shared else (N, K))
        d.update(shared_negatives=shared, reduction=reduction)
        return d
    return Call(sc.negative_sampling_loss, make, _sparse_check(N, D, dt, reduction))


@spec("sampled_softmax_loss", "output_layers")
def _(draw):
    N, V, D, S = draw(ints(1, 4)), draw(ints(1, 6)), draw(ints(1, 4)), draw(ints(1, 4))
    dt, seed = draw(FLOATS), draw(SEEDS)
    bias, given = draw(st.booleans()), draw(st.booleans())
    rah, slq = draw(st.booleans()), draw(st.booleans())
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))

    def make():
        r = rng(seed)
        return {"h": randn(r, (N, D), dt), "w_out": randn(r, (V, D), dt),
                "b_out": randn(r, (V,), dt) if bias else None, "targets": r.integers(0, V, N),
                "sampler": sc.UnigramSampler(np.arange(1, V + 1), seed=seed),
                "num_sampled": S, "remove_accidental_hits": rah, "subtract_log_q": slq,
                "reduction": reduction, "sampled": r.integers(0, V, S) if given else None}

    def check(out, args):
        _sparse_check(N, D, dt, reduction)(out, args)
        assert (out.dbias is None) == (not bias)
    return Call(sc.sampled_softmax_loss, make, check)


def _hs_make(N, V, D, dt, seed):
    r = rng(seed)
    counts = r.integers(1, 10, V)
    return {"h": randn(r, (N, D), dt), "w_inner": randn(r, (max(V - 1, 0), D), dt),
            "tree": sc.HuffmanTree(counts)}


@spec("hierarchical_softmax_loss", "output_layers")
def _(draw):
    N, V, D, dt, seed = draw(ints(1, 4)), draw(ints(1, 6)), draw(ints(1, 4)), draw(FLOATS), \
        draw(SEEDS)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]))

    def make():
        d = _hs_make(N, V, D, dt, seed)
        d.update(targets=rng(seed + 1).integers(0, V, N), reduction=reduction)
        return d
    return Call(sc.hierarchical_softmax_loss, make, _sparse_check(N, D, dt, reduction))


@spec("hierarchical_softmax_log_probs", "output_layers")
def _(draw):
    N, V, D, dt, seed = draw(ints(1, 4)), draw(ints(1, 6)), draw(ints(1, 4)), draw(FLOATS), \
        draw(SEEDS)
    ids_kind = draw(st.sampled_from([None, 1, 2]))
    M = draw(ints(1, 3))

    def make():
        d = _hs_make(N, V, D, dt, seed)
        r = rng(seed + 2)
        d["ids"] = (None if ids_kind is None else
                    r.integers(0, V, N) if ids_kind == 1 else r.integers(0, V, (N, M)))
        return d

    def check(out, args):
        shape = {None: (N, V), 1: (N,), 2: (N, M)}[ids_kind]
        shape_is(out, shape, dt)
        finite(out)
        assert (out <= 1e-5).all()
        if ids_kind is None:
            assert np.allclose(np.exp(out.astype(F64)).sum(axis=1), 1, atol=1e-4)
    return Call(sc.hierarchical_softmax_log_probs, make, check)


# ---------------------------------------------------------------------------- bleu

_SENTS = ["the cat sat on the mat .", "a dog , barking loudly !", "hello world",
          "it's 3.5 - 4 km", "", "the the the", "Mixed CASE words here"]


@spec("corpus_bleu", "bleu", covers=("bleu", "corpus_bleu"))
def _(draw):
    S = draw(ints(1, 3))
    R = draw(ints(1, 2))
    idx = draw(st.lists(ints(0, len(_SENTS) - 1), min_size=S * (R + 1), max_size=S * (R + 1)))
    kw = dict(max_order=draw(ints(1, 4)),
              smooth=draw(st.sampled_from(["exp", "floor", "add-k", "none"])),
              smooth_value=draw(st.sampled_from([None, 0.5])),
              tokenize=draw(st.sampled_from(["13a", "none"])), lowercase=draw(st.booleans()),
              effective_order=draw(st.booleans()))

    def make():
        hyps = [_SENTS[i] for i in idx[:S]]
        refs = [[_SENTS[i] for i in idx[S * (k + 1):S * (k + 2)]] for k in range(R)]
        return {"hypotheses": hyps, "references": refs, **kw}

    def check(out, args):
        assert 0.0 <= out.score <= 100.0 + 1e-9 and len(out.precisions) == kw["max_order"]
    return Call(sc_bleu.corpus_bleu, make, check, lenient=("smooth_value", "hypotheses"))


@spec("sentence_bleu", "bleu", covers=("sentence_bleu", "tokenize_13a"))
def _(draw):
    hyp = draw(st.sampled_from(_SENTS))
    refs = draw(st.lists(st.sampled_from(_SENTS), min_size=1, max_size=3))
    use_tok = draw(st.booleans())
    order = draw(ints(1, 4))

    def make():
        if use_tok:
            return {"line": hyp}
        return {"hypothesis": hyp, "references": list(refs), "max_order": order}

    def fn(line=None, hypothesis=None, references=None, max_order=4):
        if use_tok:
            return sc_bleu.tokenize_13a(line)
        return sc_bleu.sentence_bleu(hypothesis, references, max_order)

    def check(out, args):
        if use_tok:
            assert isinstance(out, str)
        else:
            assert 0.0 <= out.score <= 100.0 + 1e-9
    return Call(fn, make, check, lenient=("references", "hypothesis", "line"))


# ---------------------------------------------------------------------------- corpus / kv

_CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat", "down"], ["a", "cat", "and", "a", "dog"],
           ["the", "end"]]


def _keep_cat_drop_the(word, count, min_count):
    return {"cat": sc_corpus.RULE_KEEP, "the": sc_corpus.RULE_DISCARD}.get(
        word, sc_corpus.RULE_DEFAULT)


@spec("build_vocab", "corpus",
      covers=("corpus", "build_vocab", "encode_corpus", "Vocabulary", "Vocabulary.encode",
              "count_words"))
def _(draw):
    min_count = draw(ints(1, 2))
    mvs = draw(st.sampled_from([None, 3, 100]))
    rule = draw(st.sampled_from([None, _keep_cat_drop_the]))
    encode = draw(st.booleans())

    def make():
        return {"sentences": [list(s) for s in _CORPUS], "min_count": min_count,
                "max_vocab_size": mvs, "trim_rule": rule}

    def fn(sentences, min_count, max_vocab_size, trim_rule):
        v = sc_corpus.build_vocab(sentences, min_count=min_count, max_vocab_size=max_vocab_size,
                                  trim_rule=trim_rule)
        if encode:
            return v, sc_corpus.encode_corpus(v, sentences)
        return v, None

    def check(out, args):
        v, enc = out
        assert len(v) >= 1 and v.counts.shape == (len(v),)
        if enc is not None:
            assert enc.offsets.shape == (len(_CORPUS) + 1,)
            assert ((enc.tokens >= 0) & (enc.tokens < len(v))).all()
    return Call(fn, make, check, may_raise=True)


def _kv_make(V, D, dt, seed):
    r = rng(seed)
    return sc.KeyedVectors([f"w{i}" for i in range(V)], randn(r, (V, D), dt),
                           counts=r.integers(1, 100, V))


@spec("KeyedVectors", "keyedvectors")
def _(draw):
    V, D, dt, seed, use_counts = draw(ints(1, 5)), draw(ints(1, 4)), draw(FLOATS), \
        draw(SEEDS), draw(st.booleans())

    def make():
        r = rng(seed)
        return {"keys": [f"w{i}" for i in range(V)], "vectors": randn(r, (V, D), dt),
                "counts": r.integers(1, 100, V) if use_counts else None}

    def check(kv, args):
        assert len(kv) == V and kv.vector_size == D and kv.vectors.dtype == dt
        assert kv.vectors.flags.c_contiguous
    return Call(sc.KeyedVectors, make, check, lenient=("keys",))


@spec("KeyedVectors.most_similar", "keyedvectors", allowed=(KeyError,),
      covers=("KeyedVectors.most_similar", "KeyedVectors.most_similar_cosmul",
              "KeyedVectors.similar_by_vector"))
def _(draw):
    V, D, dt, seed = draw(ints(2, 6)), draw(ints(1, 4)), draw(FLOATS), draw(SEEDS)
    method = draw(st.sampled_from(["most_similar", "most_similar_cosmul", "similar_by_vector"]))
    topn = draw(ints(1, V))
    rv = draw(st.sampled_from([None, V, 2]))
    kv = _kv_make(V, D, dt, seed)
    pos_word = f"w{draw(ints(0, V - 1))}"
    use_neg = draw(st.booleans())

    def make():
        if method == "similar_by_vector":
            return {"vector": randn(rng(seed), (D,), dt), "topn": topn, "restrict_vocab": rv}
        return {"positive": pos_word, "negative": "w0" if use_neg else None, "topn": topn,
                "restrict_vocab": rv}

    def check(out, args):
        assert isinstance(out, list) and len(out) <= topn
        for k, s in out:
            assert k in kv.key_to_index and isinstance(s, float)
    return Call(getattr(kv, method), make, check, lenient=("positive", "negative"),
                may_raise=True)


@spec("KeyedVectors.similarity", "keyedvectors", allowed=(KeyError,),
      covers=("KeyedVectors.similarity", "KeyedVectors.distance", "KeyedVectors.get_vector",
              "KeyedVectors.get_index", "KeyedVectors.doesnt_match",
              "KeyedVectors.get_mean_vector"))
def _(draw):
    V, D, dt, seed = draw(ints(2, 6)), draw(ints(1, 4)), draw(FLOATS), draw(SEEDS)
    method = draw(st.sampled_from(["similarity", "distance", "get_vector", "get_index",
                                   "doesnt_match", "get_mean_vector"]))
    kv = _kv_make(V, D, dt, seed)
    a, b = f"w{draw(ints(0, V - 1))}", draw(ints(0, V - 1))

    def make():
        if method in ("similarity", "distance"):
            return {"w1": a, "w2": b}
        if method in ("get_vector", "get_index"):
            return {"key": b}
        if method == "doesnt_match":
            return {"words": [a, f"w{b}"]}
        return {"keys": [a, f"w{b}"], "weights": np.array([1.0, 2.0])}

    def check(out, args):
        if method in ("similarity", "distance"):
            assert isinstance(out, float) and -1e-6 <= out + (method == "similarity") <= 2 + 1e-6
        elif method == "get_vector":
            shape_is(out, (D,), dt)
        elif method == "get_index":
            assert out == b
        elif method == "get_mean_vector":
            shape_is(out, (D,))
    return Call(getattr(kv, method), make, check, lenient=("w1", "w2", "key", "words", "keys"))


@spec("KeyedVectors.evaluate_word_analogies", "keyedvectors")
def _(draw):
    V, D, dt, seed = draw(ints(4, 8)), draw(ints(1, 4)), draw(FLOATS), draw(SEEDS)
    kv = _kv_make(V, D, dt, seed)
    rv, ci, dummy = draw(ints(1, 10)), draw(st.booleans()), draw(st.booleans())
    path = os.path.join(_TMP, "analogies.txt")
    with open(path, "w") as f:
        f.write(": sec\nw0 w1 w2 w3\nW1 w2 w3 w0\nw0 w1 zz w2\nbad line\n")

    def check(out, args):
        score, sections = out
        assert 0.0 <= score <= 1.0 and sections[-1]["section"] == "Total accuracy"
    return Call(kv.evaluate_word_analogies,
                lambda: {"analogies": path, "restrict_vocab": rv, "case_insensitive": ci,
                         "dummy4unknown": dummy}, check, frozen=("analogies",))


@spec("debias", "keyedvectors", allowed=(KeyError,),
      covers=("debias", "bias_direction", "neutralize", "equalize"))
def _(draw):
    V, D, seed = draw(ints(4, 6)), draw(ints(2, 4)), draw(SEEDS)
    dt = draw(FLOATS)
    which = draw(st.sampled_from(["bias_direction", "neutralize", "equalize"]))
    kv = _kv_make(V, D, dt, seed)

    def make():
        if which == "bias_direction":
            return {"kv": kv, "pairs": [("w0", "w1"), ("w2", "w3")][:1 + seed % 2]}
        g = randn(rng(seed), (D,))
        if which == "neutralize":
            return {"kv": kv, "words": ["w1", "w2"], "direction": g}
        return {"kv": kv, "pairs": [("w0", "w1")], "direction": g}

    def check(out, args):
        if which == "bias_direction":
            shape_is(out, (D,))
            assert abs(np.linalg.norm(out) - 1) < 1e-6
        else:
            assert out.vectors.shape == (V, D)
            finite(out.vectors)
    return Call(getattr(sc_debias, which), make, check, lenient=("words",))


# ---------------------------------------------------------------------------- optim

@spec("optim", "optim", covers=("optim", "SGD", "Adam", "SGD.step", "Adam.step",
                                "clip_grad_norm"))
def _(draw):
    which = draw(st.sampled_from(["SGD", "Adam", "clip_grad_norm"]))
    shape = (draw(ints(1, 3)), draw(ints(1, 3)))
    dt, seed = draw(FLOATS), draw(SEEDS)
    kw = {"SGD": dict(lr=0.1, momentum=draw(st.sampled_from([0.0, 0.9])), dampening=0.0,
                      weight_decay=draw(st.sampled_from([0.0, 0.01]))),
          "Adam": dict(lr=0.01, eps=1e-8, weight_decay=draw(st.sampled_from([0.0, 0.01]))),
          "clip_grad_norm": dict(max_norm=draw(st.sampled_from([0.1, 10.0])),
                                 norm_type=draw(st.sampled_from([1.0, 2.0, math.inf])),
                                 error_if_nonfinite=draw(st.booleans()))}[which]

    def make():
        r = rng(seed)
        return {"w": randn(r, shape, dt), "gw": randn(r, shape, dt), **kw}

    def fn(w, gw, **kw):
        if which == "clip_grad_norm":
            g = {"w": gw}
            total = sc_optim.clip_grad_norm(g, **kw)
            return total, g["w"]
        opt = getattr(sc_optim, which)({"w": w}, **kw)
        opt.step({"w": gw})
        opt.step({"w": gw})
        return w

    def check(out, args):
        if which == "clip_grad_norm":
            total, g = out
            assert math.isfinite(total) and total >= 0
        else:
            shape_is(out, shape, dt)
            finite(out)
    return Call(fn, make, check, lenient=("lr", "momentum", "dampening", "weight_decay", "eps",
                                          "max_norm", "norm_type"), inplace=("w", "gw"))


# ---------------------------------------------------------------------------- seq2seq

def _s2s_draw(draw):
    return dict(src_vocab=draw(ints(3, 6)), tgt_vocab=draw(ints(3, 6)), embed_dim=draw(ints(1, 3)),
                hidden_size=draw(ints(1, 3)),
                attention=draw(st.sampled_from(["additive", "general"])),
                cell=draw(st.sampled_from(["lstm", "gru"])),
                bidirectional_encoder=draw(st.booleans()),
                attention_size=draw(st.sampled_from([None, 2])),
                dtype=draw(st.sampled_from(["float32", "float64"])), seed=draw(ints(0, 50)))


@spec("Seq2Seq", "seq2seq", cost=0.5)
def _(draw):
    kw = _s2s_draw(draw)
    kw["bos_id"], kw["eos_id"] = 1, 2

    def check(m, args):
        for _, p in m.named_parameters():
            finite(p)
    return Call(sc.Seq2Seq, lambda: dict(kw), check, lenient=("seed",))


def _s2s_batch(m, Ts, Tt, N, seed):
    r = rng(seed)
    return {"src": r.integers(0, m.src_vocab, (Ts, N)), "src_lengths": r.integers(1, Ts + 1, N),
            "tgt": r.integers(0, m.tgt_vocab, (Tt, N)), "tgt_lengths": r.integers(0, Tt + 1, N)}


@spec("Seq2Seq.forward_backward", "seq2seq", cost=0.5,
      covers=("Seq2Seq.forward_backward", "Seq2Seq.score"))
def _(draw):
    m = sc.Seq2Seq(**_s2s_draw(draw))
    Ts, Tt, N, seed = draw(ints(1, 4)), draw(ints(0, 3)), draw(ints(1, 3)), draw(SEEDS)
    method = draw(st.sampled_from(["forward_backward", "score"]))

    def check(out, args):
        if method == "score":
            shape_is(out, (N,), F64)
            assert (out <= 1e-6).all()
            finite(out)
        else:
            loss, grads = out
            assert math.isfinite(loss) and loss >= 0
            for k, p in m.named_parameters():
                shape_is(grads[k], p.shape)
                finite(grads[k])
    return Call(getattr(m, method), lambda: _s2s_batch(m, Ts, Tt, N, seed), check)


@spec("Seq2Seq.translate", "seq2seq", cost=0.5)
def _(draw):
    m = sc.Seq2Seq(**_s2s_draw(draw))
    Ts, N, seed = draw(ints(1, 4)), draw(ints(1, 2)), draw(SEEDS)
    K = draw(ints(1, 3))
    kw = dict(beam_width=K, max_length=draw(ints(1, 5)), n_best=draw(ints(1, K)),
              native=draw(st.booleans()), length_penalty=draw(st.sampled_from([0.0, 1.0])),
              length_penalty_mode=draw(st.sampled_from(["avg", "gnmt", "none"])))

    def make():
        d = _s2s_batch(m, Ts, 1, N, seed)
        return {"src": d["src"], "src_lengths": d["src_lengths"], **kw}
    return Call(m.translate, make, _hyp_check(N, m.tgt_vocab), lenient=("length_penalty",))


@spec("error_analysis", "seq2seq", cost=0.5)
def _(draw):
    m = sc.Seq2Seq(**_s2s_draw(draw))
    Ts, seed = draw(ints(1, 4)), draw(SEEDS)

    def make():
        r = rng(seed)
        return {"model": m, "src": r.integers(0, m.src_vocab, Ts),
                "reference": r.integers(0, m.tgt_vocab, r.integers(0, 4)).tolist(),
                "hypothesis": r.integers(0, m.tgt_vocab, r.integers(0, 4)).tolist()}

    def check(out, args):
        assert out in ("search", "model")
    return Call(sc.error_analysis, make, check, lenient=("reference", "hypothesis"))


# ---------------------------------------------------------------------------- trainers

@spec("GloVe", "trainers", cost=0.3, allowed=(FloatingPointError,))
def _(draw):
    kw = dict(vector_size=draw(ints(1, 4)), window=draw(ints(1, 3)), min_count=1,
              max_vocab_size=None, x_max=draw(st.sampled_from([1.0, 100.0])),
              alpha=draw(st.sampled_from([0.0, 0.75])),
              learning_rate=draw(st.sampled_from([0.01, 0.05])), epochs=draw(ints(0, 2)),
              workers=draw(ints(1, 2)), seed=draw(ints(0, 10)),
              dtype=draw(st.sampled_from(["float32", "float64"])))

    def make():
        return {"sentences": [list(s) for s in _CORPUS], "progress": False, **kw}

    def check(g, args):
        assert g.wv.vectors.shape == (len(g.vocab), kw["vector_size"])
        finite(g.wv.vectors)
    return Call(sc.GloVe, make, check, lenient=("seed", "workers"),
                compare=kw["workers"] == 1)


@spec("Word2Vec", "trainers", cost=0.3, allowed=(FloatingPointError,))
def _(draw):
    sg, hs = draw(ints(0, 1)), draw(ints(0, 1))
    kw = dict(vector_size=draw(ints(1, 4)), window=draw(ints(1, 3)), min_count=1,
              max_vocab_size=None, sample=draw(st.sampled_from([0.0, 1e-3])), sg=sg, hs=hs,
              negative=draw(ints(0 if hs else 1, 3)),
              ns_exponent=draw(st.sampled_from([-0.5, 0.0, 0.75])), cbow_mean=draw(ints(0, 1)),
              max_final_vocab=draw(st.sampled_from([None, 1, 4])),
              alpha=0.025, min_alpha=1e-4, epochs=draw(ints(0, 2)), workers=1,
              seed=draw(ints(0, 10)), batch_words=draw(st.sampled_from([3, 10000])),
              deterministic=True, dtype=draw(st.sampled_from(["float32", "float64"])))

    def make():
        return {"sentences": [list(s) for s in _CORPUS], "progress": False, **kw}

    def check(m, args):
        assert m.wv.vectors.shape == (len(m.vocab), kw["vector_size"])
        finite(m.wv.vectors)
    # sg, hs and cbow_mean are gensim's 0/1 flags, for which bools are the natural values
    return Call(sc.Word2Vec, make, check,
                lenient=("seed", "workers", "compute_loss", "sg", "hs", "cbow_mean"))


# ---------------------------------------------------------------------------- models

def _wordlm_draw(draw):
    output = draw(st.sampled_from(["softmax", "sampled", "hierarchical"]))
    V, H = draw(ints(2, 7)), draw(ints(1, 4))
    return dict(vocab_size=V, hidden_size=H, num_layers=draw(ints(1, 2)),
                dropout=draw(st.sampled_from([0.0, 0.5])), output=output,
                counts=np.arange(V, 0, -1) if output != "softmax" else None,
                num_sampled=draw(ints(1, 4)),
                tie_weights=output != "hierarchical" and draw(st.booleans()),
                seed=draw(ints(0, 100)), dtype=draw(st.sampled_from(["float32", "float64"])))


def _model_check(dtype):
    """The check of a model constructor: parameters exist, are finite and of ``dtype``."""
    def check(m, args):
        assert m.num_parameters() > 0
        for p in m.params.values():
            finite(p)
            assert p.dtype == np.dtype(dtype)
    return check


@spec("WordLM", "models", covers=("WordLM", "WordLM.num_parameters"))
def _(draw):
    kw = _wordlm_draw(draw)

    # tie_weights / seed: any truthy value / int-like seed is accepted
    return Call(sc_models.WordLM, lambda: dict(kw), _model_check(kw["dtype"]),
                lenient=("seed", "tie_weights", "counts", "num_sampled"))


@spec("WordLM.loss_and_grads", "models", covers=("WordLM.loss_and_grads", "WordLM.train_step",
                                                 "WordLM.init_state"))
def _(draw):
    kw = _wordlm_draw(draw)
    model = sc_models.WordLM(**kw)
    V, H, L, dt = kw["vocab_size"], kw["hidden_size"], kw["num_layers"], np.dtype(kw["dtype"])
    T, N, seed = draw(ints(1, 3)), draw(ints(1, 3)), draw(SEEDS)
    use_state, step = draw(st.booleans()), draw(st.booleans())

    def make():
        r = rng(seed)
        return {"ids": r.integers(0, V, (T, N)), "targets": r.integers(0, V, (T, N)),
                "h0": randn(r, (L, N, H), dt) if use_state else None,
                "c0": randn(r, (L, N, H), dt) if use_state else None}

    def fn(ids, targets, h0=None, c0=None):
        state = None if h0 is None and c0 is None else (h0, c0)
        if step:   # a fresh copy each call: the step updates the weights in place
            import copy
            m = copy.deepcopy(model)
            return m.train_step(ids, targets, state, sc_optim.SGD(m.params, lr=0.1))
        return model.loss_and_grads(ids, targets, state)

    def check(out, args):
        assert math.isfinite(out[0])
        shape_is(out[-1][0], (L, N, H), dt)
    return Call(fn, make, check, compare=not kw["dropout"] and kw["output"] != "sampled")


@spec("WordLM.sample", "models", covers=("WordLM.sample", "WordLM.log_probs",
                                         "WordLM.perplexity", "batchify", "windows"))
def _(draw):
    kw = _wordlm_draw(draw)
    model = sc_models.WordLM(**kw)
    V = kw["vocab_size"]
    n, seed = draw(ints(0, 4)), draw(SEEDS)
    opts = dict(temperature=draw(st.sampled_from([0.5, 1.0])),
                top_k=draw(st.sampled_from([None, 1, V])),
                top_p=draw(st.sampled_from([None, 0.5, 1.0])))

    def make():
        return {"n": n, "prime": rng(seed).integers(0, V, 3), "seed": seed, **opts}

    def fn(n, prime, seed, temperature, top_k, top_p):
        ids = model.sample(n, prime, temperature, top_k, top_p, seed)
        ppl = model.perplexity(np.concatenate([np.asarray(prime), ids]).astype(np.int64))
        return ids, ppl

    def check(out, args):
        ids, ppl = out
        assert len(ids) == n and all(0 <= i < V for i in ids) and math.isfinite(ppl)
    return Call(fn, make, check, lenient=("seed", "top_k", "top_p", "temperature"))


def _trigger_draw(draw):
    return dict(n_freq=draw(ints(1, 5)), conv_channels=draw(ints(1, 4)),
                kernel_size=draw(ints(1, 4)), stride=draw(ints(1, 3)),
                hidden_size=draw(ints(1, 4)), dropout=draw(st.sampled_from([0.0, 0.3])),
                seed=draw(ints(0, 100)), dtype=draw(st.sampled_from(["float32", "float64"])))


@spec("TriggerWordDetector", "models",
      covers=("TriggerWordDetector", "TriggerWordDetector.num_parameters"))
def _(draw):
    kw = _trigger_draw(draw)

    return Call(sc_models.TriggerWordDetector, lambda: dict(kw), _model_check(kw["dtype"]),
                lenient=("seed", "dropout", "momentum"))


@spec("TriggerWordDetector.loss_and_grads", "models",
      covers=("TriggerWordDetector.loss_and_grads", "TriggerWordDetector.train_step",
              "TriggerWordDetector.predict", "TriggerWordDetector.logits"))
def _(draw):
    kw = _trigger_draw(draw)
    model = sc_models.TriggerWordDetector(**kw)
    N, extra, seed, step = draw(ints(1, 3)), draw(ints(1, 6)), draw(SEEDS), draw(st.booleans())
    Tx = kw["kernel_size"] + extra
    Ty = (Tx - kw["kernel_size"]) // kw["stride"] + 1

    def make():
        r = rng(seed)
        return {"x": randn(r, (max(N, 2), Tx, kw["n_freq"]), np.dtype(kw["dtype"])),
                "labels": (r.random((max(N, 2), Ty)) < 0.3).astype(np.float64)}

    def fn(x, labels):
        import copy
        m = copy.deepcopy(model)   # a training forward updates the running averages
        if step:
            return m.train_step(x, labels, sc_optim.Adam(m.params)), m.predict(x)
        return m.loss_and_grads(x, labels)

    def check(out, args):
        assert math.isfinite(out[0])
        if step:
            shape_is(out[1], args["labels"].shape, np.dtype(kw["dtype"]))
    return Call(fn, make, check, compare=not kw["dropout"])


@spec("TriggerWordStream", "models",
      covers=("TriggerWordStream", "TriggerWordStream.feed", "TriggerWordDetector.stream",
              "Detection", "detect", "detection_errors"))
def _(draw):
    model = sc_models.TriggerWordDetector(101, 3, draw(ints(1, 4)), draw(ints(1, 3)), 2,
                                          seed=0)
    hops, pieces, seed = draw(ints(1, 12)), draw(ints(1, 3)), draw(SEEDS)
    threshold = draw(st.sampled_from([0.0, 0.5, 1.0]))

    def make():
        return {"audio": (randn(rng(seed), (80 * hops * pieces,)) * 0.1).astype(np.float32)}

    def fn(audio):
        s = model.stream(threshold=threshold, refractory=3)
        if np.ndim(audio) != 1:
            s.feed(audio)   # the stream's own error for a perturbed rank
        found = []
        for i in range(pieces):
            found += s.feed(audio[i * 80 * hops:(i + 1) * 80 * hops])
        steps, _ = sc_models.detect(s.probabilities, threshold, 3)
        return found, steps, sc_models.detection_errors(steps, [0, 5])

    def check(out, args):
        found, steps, (misses, fas) = out
        assert [d.step for d in found] == steps
        assert 0 <= misses <= 2 and fas >= 0
    return Call(fn, make, check)


# ---------------------------------------------------------------------------- parsing

def _proj_tree(r, n):
    """A random projective tree over words 1..n with one word under ROOT: head [n]."""
    head = [0] * n

    def span(lo, hi, parent):   # words lo..hi: consecutive subtrees under parent
        while lo <= hi:
            end = int(r.integers(lo, hi + 1))
            subtree(lo, end, parent)
            lo = end + 1

    def subtree(lo, hi, parent):
        root = int(r.integers(lo, hi + 1))
        head[root - 1] = parent
        span(lo, root - 1, root)
        span(root + 1, hi, root)

    if n:
        subtree(1, n, 0)
    return head


def _any_tree(r, n, roots=1):
    """A random tree over words 1..n (projective or not) with ``roots`` words under ROOT."""
    order = [int(w) for w in r.permutation(np.arange(1, n + 1))]
    head = [0] * n
    for i, w in enumerate(order):
        if i >= roots:
            head[w - 1] = order[int(r.integers(0, i))]
    return head


def _arc_legal(t, stack, nxt, n, L):
    """Whether transition t is legal in the arc-standard configuration (stack, next word)."""
    two = len(stack) >= 2
    s2 = stack[-2] if two else -1
    if t == 0:
        return nxt <= n
    if 1 <= t <= L:
        return two and s2 != 0
    return L < t <= 2 * L and two and (s2 != 0 or nxt > n)


def _arc_apply(t, stack, nxt, head, label, L):
    """Apply a legal transition (head/label: [n + 1] by word); the next buffer word."""
    if t == 0:
        stack.append(nxt)
        return nxt + 1
    if t <= L:
        d = stack.pop(-2)
        head[d], label[d] = stack[-1], t - 1
    else:
        d = stack.pop()
        head[d], label[d] = stack[-1], t - 1 - L
    return nxt


def _arc_replay(transitions, n, L):
    """(head [n], label [n], terminal?) built by a transition sequence of the Python machine;
    AssertionError at an illegal transition."""
    stack, nxt = [0], 1
    head, label = [-1] * (n + 1), [-1] * (n + 1)
    for t in transitions:
        t = int(t)
        assert _arc_legal(t, stack, nxt, n, L), f"illegal transition {t} (n={n}, L={L})"
        nxt = _arc_apply(t, stack, nxt, head, label, L)
    return head[1:], label[1:], len(stack) == 1 and nxt > n


def _random_legal(r, n, L):
    """A uniformly drawn legal transition sequence of one sentence (2n transitions)."""
    stack, nxt, out = [0], 1, []
    head, label = [-1] * (n + 1), [-1] * (n + 1)
    while not (len(stack) == 1 and nxt > n):
        opts = [t for t in range(2 * L + 1) if _arc_legal(t, stack, nxt, n, L)]
        t = opts[int(r.integers(len(opts)))]
        out.append(t)
        nxt = _arc_apply(t, stack, nxt, head, label, L)
    return out


def _ancestors(head):
    """For each word d (1..n) the set of its proper ancestors (0 included); None on a
    cycle or a head out of 0..n."""
    n = len(head)
    out = []
    for d in range(1, n + 1):
        seen, v = set(), d
        while v != 0:
            if not 0 <= v <= n or v in seen:
                return None
            seen.add(v)
            v = int(head[v - 1])
            if not 0 <= v <= n:
                return None
        out.append((seen - {d}) | {0})
    return out


def _brute_projective(head):
    """Projectivity by definition: every word strictly between an arc's ends descends from
    its head (ROOT 0 at position 0)."""
    anc = _ancestors(head)
    assert anc is not None, "not a tree"
    for d in range(1, len(head) + 1):
        h = int(head[d - 1])
        for k in range(min(h, d) + 1, max(h, d)):
            if h not in anc[k - 1]:
                return False
    return True


def _check_parse_tree(head, label, n, L, one_root=True):
    shape_is(head, (n,), np.int64)
    shape_is(label, (n,), np.int64)
    assert ((head >= 0) & (head <= n)).all(), f"head out of 0..{n}: {head}"
    assert ((label >= 0) & (label < L)).all(), f"label out of 0..{L - 1}: {label}"
    if one_root:
        assert int((head == 0).sum()) == 1, f"not exactly one word under ROOT: {head}"
    assert _ancestors(head.tolist()) is not None, f"not a tree: {head}"
    assert _brute_projective(head.tolist()), f"an arc-standard parse is projective: {head}"


def _parse_batch(r, N, max_n, L, C):
    """lengths [N], projective heads [W], labels [W], attrs [C, W] (ids >= 3)."""
    lengths = r.integers(1, max_n + 1, N)
    heads = np.array([h for n in lengths for h in _proj_tree(r, int(n))], np.int64)
    W = int(lengths.sum())
    return lengths, heads, r.integers(0, L, W), r.integers(3, 40, (C, W))


def _check_oracle(out, lengths, heads, labels, L, attrs):
    lengths, heads, labels = (np.asarray(x).astype(np.int64).reshape(-1)
                              for x in (lengths, heads, labels))
    W = int(lengths.sum())
    t = out.transitions
    shape_is(t, (2 * W,), np.int64)
    assert ((t >= 0) & (t <= 2 * L)).all(), f"transition out of 0..2L: {t}"
    off = 0
    for n in lengths.tolist():
        h, lab, terminal = _arc_replay(t[2 * off:2 * off + 2 * n], n, L)
        assert terminal, "the transitions do not end in the terminal configuration"
        assert h == heads[off:off + n].tolist(), f"oracle builds {h}, gold {heads[off:off + n]}"
        assert lab == labels[off:off + n].tolist(), "oracle labels differ from gold"
        off += n
    if attrs is None:
        assert out.features is None
        return
    attrs = np.asarray(attrs).astype(np.int64)
    C = attrs.shape[0]
    f = out.features
    shape_is(f, (2 * W, sc_parsing.num_features(C)), np.int64)
    assert ((f[:, 18 * C:] >= 0) & (f[:, 18 * C:] <= L)).all(), "label feature out of 0..L"
    off = 0
    for n in lengths.tolist():    # the initial configuration: s1 = ROOT, b1..b3 = words 1..3
        row = f[2 * off]
        for k in range(C):
            want = [1, 0, 0] + [int(attrs[k, off + i]) if i < n else 0 for i in range(3)]
            assert row[18 * k:18 * k + 6].tolist() == want, (row[18 * k:18 * k + 6], want)
            assert not row[18 * k + 6:18 * k + 18].any()
        assert not row[18 * C:].any()
        off += n


@spec("parsing.oracle", "parsing",
      covers=("parsing", "oracle", "Oracle", "num_features", "arc_standard_oracle"))
def _(draw):
    N, max_n, L, C, seed = draw(ints(1, 3)), draw(ints(1, 6)), draw(ints(1, 3)), \
        draw(ints(1, 3)), draw(SEEDS)
    with_attrs = draw(st.booleans())

    def make():
        lengths, heads, labels, attrs = _parse_batch(rng(seed), N, max_n, L, C)
        return {"lengths": lengths, "heads": heads, "labels": labels, "num_labels": L,
                "attrs": attrs if with_attrs else None}

    def check(out, args):
        _check_oracle(out, args["lengths"], args["heads"], args["labels"], L, args["attrs"])
    return Call(sc_parsing.oracle, make, check)


# ints of every size: small (in and out of range), int32 / 2**30 edges, int64 edges
_ANY_INT = st.one_of(ints(-3, 12), st.sampled_from(
    [2**30 - 1, 2**30, 2**31 - 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, -2**31, -2**63]))
_INT_DTYPES = st.sampled_from(["list", "int64", "int32", "uint64", "int8", "uint8", "float64",
                               "bool", "object"])


def _int_values(vals, how):
    """vals (Python ints fitting int64) as a list or an array of dtype ``how`` (wrapping)."""
    if how == "list":
        return list(vals)
    a = np.array(vals, np.int64).reshape(np.shape(vals))
    with np.errstate(all="ignore"):
        return a.astype(object if how == "object" else np.dtype(how))


@spec("parsing.oracle_any", "parsing", covers=("oracle",))
def _(draw):
    """Arbitrary lengths / heads / labels / num_labels / attrs (half of the draws are valid
    trees): the oracle returns (and then its transitions rebuild the trees) or raises."""
    valid = draw(st.booleans())
    seed = draw(SEEDS)
    if valid:
        N, max_n, L, C = draw(ints(0, 3)), draw(ints(1, 5)), draw(ints(1, 4)), draw(ints(1, 2))
        lengths, heads, labels, attrs = _parse_batch(rng(seed), N, max_n, L, C)
        if N == 0:   # an empty batch: int arrays (an empty list is float64)
            lengths, heads, labels = (np.zeros(0, np.int64) for _ in range(3))
            attrs = np.zeros((C, 0), np.int64)
        args = {"lengths": lengths, "heads": heads, "labels": labels, "num_labels": L,
                "attrs": attrs if draw(st.booleans()) else None}
    else:
        N, W = draw(ints(0, 3)), draw(ints(0, 10))
        lengths = draw(st.lists(st.one_of(ints(0, 4), _ANY_INT), min_size=N, max_size=N))
        heads = draw(st.lists(_ANY_INT, min_size=W, max_size=W))
        labels = draw(st.lists(st.one_of(ints(0, 2), _ANY_INT), min_size=W, max_size=W))
        C, W2 = draw(ints(0, 3)), draw(st.sampled_from([W, W, W + 1, max(W - 1, 0)]))
        attrs = draw(st.one_of(st.none(), st.lists(_ANY_INT, min_size=C * W2,
                                                   max_size=C * W2)))
        args = {"lengths": _int_values(lengths, draw(_INT_DTYPES)),
                "heads": _int_values(heads, draw(_INT_DTYPES)),
                "labels": _int_values(labels, draw(_INT_DTYPES)),
                "num_labels": draw(st.one_of(ints(-2, 5), st.sampled_from(
                    [2**30 - 1, 2**30, 2**31, 2**62, 2**63 - 1, -2**63]))),
                "attrs": None if attrs is None else _int_values(
                    np.array(attrs, np.int64).reshape(C, W2), draw(_INT_DTYPES))}

    def check(out, a):
        _check_oracle(out, a["lengths"], a["heads"], a["labels"], a["num_labels"], a["attrs"])
    return Call(sc_parsing.oracle, lambda: dict(args), check, may_raise=not valid)


def _feature_scores(L, dtype, seed, scale=1.0):
    """A deterministic score function: scores [M, A] of features [M, F] (a fixed random
    projection of the feature ids), so a layout-perturbed call sees the same scores."""
    A = 1 + 2 * L

    def score_fn(features):
        f = np.asarray(features, np.int64)
        proj = rng(seed).standard_normal((f.shape[1], A)) * scale
        return ((f % 101).astype(np.float64) / 10.0 @ proj).astype(dtype)
    return score_fn


def _check_parses(out, lengths, L, K, k, finite_scores=True):
    lengths = np.asarray(lengths).astype(np.int64)
    assert isinstance(out, list) and len(out) == len(lengths), (len(out), len(lengths))
    for item, n in zip(out, lengths.tolist()):
        assert isinstance(item, list) and 1 <= len(item) <= k, (len(item), k)
        if k <= L ** n:    # the beam holds min(K, #derivations) >= min(k, L**n) parses
            assert len(item) == k, f"{len(item)} parses for k_best={k} (n={n}, L={L})"
        scores = [p.score for p in item]
        assert all(isinstance(s, float) for s in scores)
        if finite_scores:
            assert all(math.isfinite(s) for s in scores), scores
        if all(math.isfinite(s) for s in scores):
            assert scores == sorted(scores, reverse=True), f"not best first: {scores}"
        for p in item:
            assert isinstance(p, sc_parsing.ParseResult)
            _check_parse_tree(p.head, p.label, n, L)


@spec("parsing.parse", "parsing", covers=("parse", "ParseResult"))
def _(draw):
    N, max_n, L, C, seed = draw(ints(1, 3)), draw(ints(1, 6)), draw(ints(1, 3)), \
        draw(ints(1, 2)), draw(SEEDS)
    K = draw(ints(1, 4))
    k = draw(ints(1, K))
    dt = draw(FLOATS)

    def make():
        lengths, _, _, attrs = _parse_batch(rng(seed), N, max_n, L, C)
        return {"score_fn": _feature_scores(L, dt, seed), "lengths": lengths, "num_labels": L,
                "attrs": attrs, "beam_width": K, "k_best": k}

    def check(out, args):
        _check_parses(out, args["lengths"], L, K, k)
    return Call(sc_parsing.parse, make, check)


# What a score function may return at one step (parse_any).
_SCORE_MODES = ("good", "good", "good", "f32", "nan_one", "nan_all", "inf", "ninf", "mixed_inf",
                "huge", "rows+1", "rows-1", "cols+1", "cols-1", "flat", "3d", "int", "f16",
                "object", "complex", "bool", "list", "none", "scalar", "empty", "str",
                "fortran", "noncontig", "readonly")


def _bad_scores(mode, M, A, r):
    x = r.standard_normal((M, A))
    if mode in ("good",):
        return x
    if mode == "f32":
        return x.astype(np.float32)
    if mode == "nan_one":
        x.reshape(-1)[r.integers(x.size)] = np.nan   # legal or not: either is fine
        return x
    if mode == "nan_all":
        return np.full((M, A), np.nan)
    if mode == "inf":
        x.reshape(-1)[r.integers(x.size)] = np.inf
        return x
    if mode == "ninf":
        return np.full((M, A), -np.inf)
    if mode == "mixed_inf":
        return np.where(r.random((M, A)) < 0.5, np.inf, -np.inf)
    if mode == "huge":
        return np.full((M, A), 1e308) * np.sign(x)
    if mode == "rows+1":
        return r.standard_normal((M + 1, A))
    if mode == "rows-1":
        return x[:-1]
    if mode == "cols+1":
        return r.standard_normal((M, A + 1))
    if mode == "cols-1":
        return x[:, :-1]
    if mode == "flat":
        return x.reshape(-1)
    if mode == "3d":
        return x[None]
    if mode in ("int", "f16", "complex", "bool", "object"):
        dt = {"int": np.int64, "f16": np.float16, "complex": np.complex128, "bool": np.bool_,
              "object": object}[mode]
        return x.astype(dt)
    if mode == "list":
        return x.tolist()
    if mode == "none":
        return None
    if mode == "scalar":
        return 0.5
    if mode == "empty":
        return np.zeros((0, A))
    if mode == "str":
        return "scores"
    if mode == "fortran":
        return np.asfortranarray(x)
    if mode == "noncontig":
        return _noncontig(x)
    if mode == "readonly":
        x.setflags(write=False)
        return x
    raise AssertionError(mode)


@spec("parsing.parse_any", "parsing", covers=("parse",))
def _(draw):
    """parse with a score function returning arbitrary things (NaN, inf, wrong shapes and
    dtypes) at each step: a parse or ValueError/TypeError; NaN everywhere must raise."""
    N, max_n, L, seed = draw(ints(1, 3)), draw(ints(1, 4)), draw(ints(1, 3)), draw(SEEDS)
    K = draw(st.one_of(ints(1, 4), st.sampled_from([2**20, 2**20 + 1, 0, -1])))
    k = draw(st.one_of(ints(1, 4), st.sampled_from([2**20, 2**63 - 1, 0, -1])))
    modes = draw(st.lists(st.sampled_from(_SCORE_MODES), min_size=1, max_size=5))
    A = 1 + 2 * L

    def make():
        lengths, _, _, attrs = _parse_batch(rng(seed), N, max_n, L, 1)
        calls = [0]

        def score_fn(features):
            i = calls[0]
            calls[0] += 1
            mode = modes[i % len(modes)]
            if mode == "nan_all":
                score_fn.nan_all = True
            return _bad_scores(mode, len(features), A, rng(seed + i))
        score_fn.nan_all = False
        return {"score_fn": score_fn, "lengths": lengths, "num_labels": L, "attrs": attrs,
                "beam_width": K, "k_best": k}

    def fn(score_fn, **kw):
        out = sc_parsing.parse(score_fn, **kw)
        assert not getattr(score_fn, "nan_all", False), "NaN scores accepted"
        return out

    def check(out, args):
        _check_parses(out, args["lengths"], L, K, k, finite_scores=False)
    ok_k = 1 <= K <= 2**20 and 1 <= k <= K
    return Call(fn, make, check, may_raise=not ok_k or any(m not in (
        "good", "f32", "inf", "ninf", "mixed_inf", "huge", "fortran", "noncontig",
        "readonly", "list") for m in modes), compare=False)


@spec("ArcStandardBeam", "parsing",
      covers=("ArcStandardBeam", "ArcStandardBeam.done", "ArcStandardBeam.num_rows",
              "ArcStandardBeam.legal", "ArcStandardBeam.features", "ArcStandardBeam.advance",
              "ArcStandardBeam.results", "ArcStandardBeam.global_loss",
              "ArcStandardBeam.row_sentence", "ArcStandardBeam.num_transitions",
              "ArcStandardBeam.step"))
def _(draw):
    """The C++ beam driven by hand, with gold sequences from the oracle, random legal
    sequences, no gold, or arbitrary ints; legal/features/row_sentence at each step, then
    results and (with gold) the global loss and its gradient."""
    N, max_n, L, C, K, seed = draw(ints(1, 3)), draw(ints(1, 5)), draw(ints(1, 3)), \
        draw(ints(1, 2)), draw(ints(1, 4)), draw(SEEDS)
    gold_mode = draw(st.sampled_from(["oracle", "legal", "none", "arbitrary"]))
    dt = draw(FLOATS)
    scale = draw(st.sampled_from([0.1, 1.0, 30.0]))

    def make():
        r = rng(seed)
        lengths, heads, labels, attrs = _parse_batch(r, N, max_n, L, C)
        gold = None
        if gold_mode == "oracle":
            gold = sc_parsing.oracle(lengths, heads, labels, L).transitions
        elif gold_mode == "legal":
            gold = np.array([t for n in lengths for t in _random_legal(r, int(n), L)])
        elif gold_mode == "arbitrary":
            gold = r.integers(-1, 2 * L + 2, 2 * int(lengths.sum()))
        return {"lengths": lengths, "num_labels": L, "beam_width": K, "gold": gold,
                "attrs": attrs, "seed": seed}

    def fn(lengths, num_labels, beam_width, gold, attrs, seed):
        beam = ArcStandardBeam(lengths, num_labels, beam_width, gold)
        r = rng(seed + 1)
        steps = []
        while not beam.done():
            M, A = beam.num_rows(), beam.num_transitions()
            legal, rows = beam.legal(), beam.row_sentence()
            feats = beam.features(attrs)
            steps.append((beam.step(), M, A, legal, rows, feats))
            beam.advance((r.standard_normal((M, A)) * scale).astype(dt))
            if len(steps) > 2 * int(np.max(lengths)) + 1:
                raise AssertionError(f"the beam is not done after {len(steps)} steps")
        with_gold = gold is not None and np.size(gold) > 0
        return steps, beam.results(), beam.global_loss() if with_gold else None

    def check(out, args):
        steps, results, loss = out
        lengths = args["lengths"]
        A = 1 + 2 * L
        for j, (step, M, A_, legal, rows, feats) in enumerate(steps):
            assert step == j and A_ == A and 1 <= M <= N * K
            shape_is(legal, (M, A), np.bool_)
            assert legal.any(axis=1).all(), "a live row without a legal transition"
            shape_is(rows, (M,), np.int64)
            assert (np.diff(rows) >= 0).all() and ((rows >= 0) & (rows < N)).all()
            assert (np.bincount(rows, minlength=N) <= K).all()
            shape_is(feats, (M, sc_parsing.num_features(C)), np.int64)
        assert len(results) == N
        if loss is None:
            _check_parses([[sc_parsing.ParseResult(*p) for p in item] for item in results],
                          lengths, L, K, K)
            return
        value, stop, dscores = loss
        shape_is(value, (N,), F64)
        shape_is(stop, (N,), np.int64)
        finite(value)
        assert (value >= -1e-9).all(), f"negative CRF loss {value}"
        assert ((stop >= 1) & (stop <= 2 * lengths)).all(), (stop, lengths)
        assert isinstance(dscores, list) and len(dscores) == len(steps)
        for (step, M, _, legal, rows, _), d in zip(steps, dscores):
            shape_is(d, (M, A), F64)
            finite(d)
            assert not d[~legal].any(), "gradient on an illegal transition"
            for s in range(N):   # each sentence's softmax minus one-hot sums to 0
                g = d[rows == s]
                assert abs(g.sum()) < 1e-9 and np.abs(g).sum() <= 2 + 1e-9, g
        for s, (item, n) in enumerate(zip(results, lengths.tolist())):
            assert 1 <= len(item) <= K + 1
            if stop[s] == 2 * n:     # no early update: complete parses
                for h, lab, _ in item:
                    _check_parse_tree(h, lab, n, L)
            for h, lab, _ in item:
                assert ((h >= -1) & (h <= n)).all() and ((lab >= -1) & (lab < L)).all()
    return Call(fn, make, check, frozen=("seed",), may_raise=gold_mode == "arbitrary")


def _attachment_expected(gh, gl, ph, pl):
    words = ok = both = 0
    for a, b, c, d in zip(gh, gl, ph, pl):
        for i in range(len(a)):
            words += 1
            if a[i] == c[i]:
                ok += 1
                both += b[i] == d[i]
    return 100.0 * ok / words, 100.0 * both / words, words


@spec("parsing.attachment_scores", "parsing",
      covers=("attachment_scores", "AttachmentScores"))
def _(draw):
    N, seed, str_labels = draw(ints(1, 3)), draw(SEEDS), draw(st.booleans())

    def make():
        r = rng(seed)
        lens = r.integers(0, 6, N)
        lens[0] = max(lens[0], 1)
        gh = [r.integers(0, n + 1, n) for n in lens]
        ph = [np.where(r.random(n) < 0.6, h, r.integers(0, n + 1, n)) for n, h in zip(lens, gh)]
        gl = [r.integers(0, 3, n) for n in lens]
        pl = [np.where(r.random(n) < 0.6, g, r.integers(0, 3, n)) for n, g in zip(lens, gl)]
        if str_labels:
            gl = [np.array([f"l{x}" for x in g]) for g in gl]
            pl = [[f"l{x}" for x in p] for p in pl]
        return {"gold_heads": gh, "gold_labels": gl, "pred_heads": ph, "pred_labels": pl}

    def check(out, args):
        assert isinstance(out, sc_parsing.AttachmentScores)
        want = _attachment_expected(*(args[k] for k in ("gold_heads", "gold_labels",
                                                        "pred_heads", "pred_labels")))
        assert math.isclose(out.uas, want[0]) and math.isclose(out.las, want[1]), (out, want)
        assert out.words == want[2] and 0 <= out.las <= out.uas <= 100
    return Call(sc_parsing.attachment_scores, make, check)


_SCALARS = st.one_of(ints(-2, 4), st.sampled_from([2**70, -2**63, 2**64 - 1]),
                     st.sampled_from([0.5, math.nan, math.inf, 1.0]), st.text(max_size=2),
                     st.none(), st.booleans(), st.binary(max_size=2))


@spec("parsing.attachment_scores_any", "parsing", covers=("attachment_scores",))
def _(draw):
    """Arbitrary nested values (ragged, mixed types, strings, None) with mostly matching
    sentence lengths: scores in [0, 100] or ValueError/TypeError. (The simplest draws, which
    hypothesis favours, are the well-formed ones.)"""
    plan = draw(st.lists(st.one_of(ints(1, 4), ints(0, 4)), min_size=1, max_size=3))

    def one():
        form = draw(st.sampled_from(["list", "array", "list", "str", "scalar", "nested"]))
        sents = []
        for n in plan:
            m = draw(ints(0, 5)) if draw(ints(0, 4)) == 4 else n
            odd = draw(ints(0, 2)) == 2
            vals = draw(st.lists(_SCALARS if odd else ints(0, 3), min_size=m, max_size=m))
            if form == "array":
                try:
                    sents.append(np.array(vals))
                except (ValueError, TypeError, OverflowError):
                    sents.append(vals)
            elif form == "str":
                sents.append("".join(map(str, vals)))
            elif form == "scalar":
                sents.append(vals[0] if vals else None)
            elif form == "nested":
                sents.append([vals] if vals else [[], [1]])
            else:
                sents.append(vals)
        if draw(ints(0, 5)) == 5:
            return draw(st.sampled_from([None, 3, "abc", iter(sents), tuple(sents)]))
        return sents

    args = {"gold_heads": one(), "gold_labels": one(), "pred_heads": one(),
            "pred_labels": one()}

    def check(out, a):
        assert isinstance(out, sc_parsing.AttachmentScores)
        assert out.words >= 1 and 0 <= out.las <= out.uas <= 100, out
    return Call(sc_parsing.attachment_scores, lambda: dict(args), check, may_raise=True,
                compare=False)


def _check_projectivized(head, proj, out):
    head = np.asarray(head).astype(np.int64)
    n = head.size
    assert proj == _brute_projective(head.tolist()), f"is_projective {proj} for {head}"
    shape_is(out, (n,), np.int64)
    anc = _ancestors(head.tolist())
    assert _ancestors(out.tolist()) is not None, f"projectivize made a non-tree {out}"
    assert _brute_projective(out.tolist()), f"projectivize left {out} non-projective"
    if proj:
        assert (out == head).all(), "a projective tree changed"
    for d in range(1, n + 1):   # lifting: each new head is an ancestor of the word
        assert int(out[d - 1]) == int(head[d - 1]) or int(out[d - 1]) in anc[d - 1]
    if n and int((head == 0).sum()) == 1:
        assert (out == 0).sum() == 1 and out[head == 0] == 0, "the root moved"


@spec("datasets.projectivize", "parsing",
      covers=("datasets", "is_projective", "projectivize"))
def _(draw):
    n, seed, roots = draw(ints(0, 12)), draw(SEEDS), draw(ints(1, 3))
    kind = draw(st.sampled_from(["any", "any", "projective"]))

    def make():
        r = rng(seed)
        h = _proj_tree(r, n) if kind == "projective" else _any_tree(r, n, min(roots, n))
        return {"head": np.array(h, np.int64)}

    def fn(head):
        before = np.array(head, copy=True) if isinstance(head, np.ndarray) else None
        out = is_projective(head), projectivize(head)
        if before is not None:
            assert np.array_equal(before, head, equal_nan=False), "the input was modified"
        return out

    def check(out, args):
        _check_projectivized(args["head"], *out)
    return Call(fn, make, check)


@spec("datasets.projectivize_any", "parsing", covers=("is_projective", "projectivize"))
def _(draw):
    """Arbitrary int lists (any size, any dtype): a projective tree or ValueError/TypeError."""
    n = draw(ints(0, 9))
    vals = draw(st.lists(st.one_of(ints(0, n), ints(-2, n + 2), _ANY_INT), min_size=n,
                         max_size=n))
    if draw(st.booleans()):   # a tree more often than by chance
        vals = _any_tree(rng(draw(SEEDS)), n, draw(ints(1, 2)))
    head = _int_values(vals, draw(_INT_DTYPES))
    if draw(ints(0, 6)) == 6:
        head = draw(st.sampled_from([np.array(vals, dtype=object).reshape(1, -1), None, 3, "0",
                                     np.zeros((0, 2), np.int64), np.int64(0)]))

    def check(out, args):
        _check_projectivized(args["head"], *out)
    return Call(lambda head: (is_projective(head), projectivize(head)), lambda: {"head": head},
                check, may_raise=True, compare=False)


_FORMS = ("a", "ev", "çok", "x_y", "İki", "日本", "--", "3.5", "a b")


def _conllu_sentence(r, i, n, ranges, empty, sent_id):
    """CoNLL-U lines of a random sentence (one root, maybe non-projective), and its truth."""
    head = _any_tree(r, n, 1)
    forms = [str(_FORMS[int(r.integers(len(_FORMS)))]).replace(" ", "_") for _ in range(n)]
    upos = [str(r.choice(["NOUN", "VERB", "X"])) for _ in range(n)]
    rels = [str(r.choice(["nsubj", "obj", "ig", "root:x"])) for _ in range(n)]
    lines = [f"# sent_id = s{i}"] if sent_id else []
    lines.append(f"# text = {' '.join(forms)}")
    extra = 0
    if empty and r.random() < 0.5:
        lines.append("0.1\tE\t_\t_\t_\t_\t_\t_\t_\t_")
        extra += 1
    w = 1
    while w <= n:
        if ranges and w < n and r.random() < 0.4:
            lines.append(f"{w}-{w + 1}\t{forms[w - 1]}{forms[w]}\t_\t_\t_\t_\t_\t_\t_\t_")
            extra += 1
        lines.append(f"{w}\t{forms[w - 1]}\t{forms[w - 1].lower()}\t{upos[w - 1]}\t_\t"
                     f"A=1|B=2\t{head[w - 1]}\t{rels[w - 1]}\t_\t_")
        if empty and r.random() < 0.3:
            lines.append(f"{w}.1\tE\t_\t_\t_\t_\t_\t_\t{w}:dep\tX=1")
            extra += 1
        w += 1
    return "\n".join(lines) + "\n\n", (forms, upos, head, rels, f"s{i}" if sent_id else "",
                                       n + extra)


def _check_sentences(out, truth=None):
    assert isinstance(out, list)
    if truth is not None:
        assert len(out) == len(truth), (len(out), len(truth))
    for k, s in enumerate(out):
        n = len(s.form)
        assert n >= 1 and len(s.upos) == len(s.deprel) == n
        shape_is(s.head, (n,), np.int64)
        assert ((s.head >= 0) & (s.head <= n)).all() and int((s.head == 0).sum()) == 1
        assert _ancestors(s.head.tolist()) is not None, f"not a tree: {s.head}"
        assert isinstance(s.sent_id, str)
        words = [t for t in s.tokens if isinstance(t["id"], int)]
        assert [str(t["form"]) for t in words] == s.form
        if truth is not None:
            forms, upos, head, rels, sid, ntok = truth[k]
            assert (s.form, s.upos, s.head.tolist(), s.deprel, s.sent_id) == \
                (forms, upos, head, rels, sid), (s, truth[k])
            assert len(s.tokens) == ntok
        # what Parser.to_conllu writes back is read as the same tree
        back = read_conllu(s.tokens.serialize())
        assert len(back) == 1 and back[0].form == s.form and \
            back[0].head.tolist() == s.head.tolist() and back[0].deprel == s.deprel, \
            f"serialize/read round trip changed {s.tokens.serialize()!r}"


def _conllu_source(text, how):
    if how == "bytes":
        return io.BytesIO(text.encode("utf-8") if isinstance(text, str) else text)
    if how == "textio":
        return io.StringIO(text) if isinstance(text, str) else text
    if how == "path":
        path = os.path.join(_TMP, "treebank.conllu")
        with open(path, "w" if isinstance(text, str) else "wb",
                  **({"encoding": "utf-8", "newline": ""} if isinstance(text, str) else {})) \
                as f:
            f.write(text)
        return path
    return text


@spec("read_conllu", "parsing", covers=("read_conllu", "Sentence"), allowed=(OSError,))
def _(draw):
    """Generated CoNLL-U (comments, multiword ranges, empty nodes, non-projective trees),
    read from a str, a text or binary file object, or a path. OSError: a str without a
    newline is a path (documented)."""
    ns, seed = draw(ints(0, 3)), draw(SEEDS)
    ranges, empty, sent_id = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    how = draw(st.sampled_from(["str", "textio", "bytes", "path"]))
    crlf = draw(st.booleans())
    r = rng(seed)
    parts = [_conllu_sentence(r, i, int(r.integers(1, 6)), ranges, empty, sent_id)
             for i in range(ns)]
    text = "".join(p[0] for p in parts) or "\n"
    if crlf:
        text = text.replace("\n", "\r\n")
    truth = [p[1] for p in parts]

    def fn(source, how):
        return read_conllu(_conllu_source(source, how), name="treebank")

    def check(out, args):
        _check_sentences(out, truth)
    return Call(fn, lambda: {"source": text, "how": how}, check, frozen=("how",),
                lenient=("source",))


_CONLLU_FIELDS = st.sampled_from([
    "1", "2", "3", "0", "-1", "_", "1-2", "2-3", "1-1", "2-1", "0.1", "1.1", "1.0", "1.2",
    "x", "root", "nsubj", "NOUN", "A=1|B=2", "A=1|A=2", "=", "|", "1:nsubj", "0:root|2:x",
    "2:", "SpaceAfter=No", "", " ", "99999999999999999999", "1e3", "０", "١", "²", "\u00a0",
    "#", "# sent_id = a", "\ufeff1", "1 ", " 1", "-", ".", "1.", "1-", "\x00", "\x0b"])


@spec("read_conllu_any", "parsing", covers=("read_conllu",), allowed=(OSError,))
def _(draw):
    """Near-CoNLL-U text (lines of tab-separated fields from a list of tricky tokens, blank
    lines, comments), fully arbitrary text, or arbitrary bytes: checked trees or
    ValueError/TypeError (OSError only for a path)."""
    what = draw(st.sampled_from(["fields", "fields", "fields", "text", "bytes"]))
    if what == "fields":
        line = st.one_of(
            st.lists(st.one_of(_CONLLU_FIELDS, st.text(max_size=3)), min_size=0,
                     max_size=12).map("\t".join),
            st.lists(_CONLLU_FIELDS, min_size=10, max_size=10).map("\t".join),
            st.sampled_from(["", "", "# sent_id = x", "# text = a b", "#", "# = ", " "]))
        lines = draw(st.lists(line, max_size=8))
        sep = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
        data = sep.join(lines) + sep
    elif what == "text":
        data = draw(st.text(max_size=60)) + "\n"
    else:
        data = draw(st.binary(max_size=60))
    how = draw(st.sampled_from(["str", "textio", "bytes", "path"]))
    if what == "bytes" and how in ("str", "textio"):
        how = "bytes"

    def fn(source, how):
        return read_conllu(_conllu_source(source, how))

    return Call(fn, lambda: {"source": data, "how": how}, lambda out, a: _check_sentences(out),
                frozen=("how",), lenient=("source",), may_raise=True, compare=False)


def _treebank_sentences(seed, ns=4):
    """Sentences read from generated CoNLL-U (multiword ranges, empty nodes, tag columns)."""
    r = rng(seed)
    return read_conllu("".join(_conllu_sentence(r, i, int(r.integers(1, 6)), True, True, True)[0]
                               for i in range(ns)))


@spec("parsing.Parser", "parsing", cost=0.3,
      covers=("Parser", "Parser.fit", "Parser.predict", "Parser.evaluate", "Parser.scores",
              "Parser.to_conllu", "Parser.save", "Parser.load", "ATTRIBUTES"))
def _(draw):
    """A tiny Parser fitted (local and global epochs, dev early stopping), parsing, scoring,
    writing CoNLL-U and saved / loaded: the loaded parser parses the same."""
    attributes = tuple(draw(st.lists(st.sampled_from(sc_parsing.ATTRIBUTES), min_size=1,
                                     max_size=3, unique=True)))
    seed = draw(SEEDS)
    kw = dict(label_dim=draw(ints(1, 3)), hidden=draw(ints(1, 4)), min_count=draw(ints(1, 2)),
              seed=draw(ints(0, 5)), epochs=draw(ints(0, 2)), global_epochs=draw(ints(0, 1)),
              beam_width=draw(ints(1, 3)), self_normalization=draw(st.sampled_from((0.0, 0.1))),
              global_averaging=draw(st.sampled_from((0.0, 0.999))))
    sents = _treebank_sentences(seed)

    def make():
        return {"attributes": attributes, "dims": {a: 2 for a in attributes}, **kw}

    def fn(attributes, dims, label_dim, hidden, min_count, seed, epochs, global_epochs,
           beam_width, self_normalization, global_averaging):
        p = sc_parsing.Parser(attributes, dims, label_dim, hidden, min_count, seed)
        p.fit(sents, epochs=epochs, batch_size=8, global_epochs=global_epochs,
              global_beam_width=beam_width, global_batch=2, global_averaging=global_averaging,
              self_normalization=self_normalization, dev=sents[:2], progress=False)
        parses = p.predict(sents, beam_width=beam_width, k_best=beam_width)
        score = p.evaluate(sents, beam_width=beam_width)
        path = os.path.join(_TMP, "parser.npz")
        p.save(path)
        again = sc_parsing.Parser.load(path).predict(sents, beam_width=beam_width,
                                                     k_best=beam_width)
        return p, parses, score, again, p.to_conllu(sents, parses)

    def check(out, args):
        p, parses, score, again, text = out
        K, L = args["beam_width"], p.num_labels
        lengths = [len(s.form) for s in sents]
        _check_parses(parses, lengths, L, K, K)
        assert isinstance(score, sc_parsing.AttachmentScores)
        assert 0 <= score.las <= score.uas <= 100 and score.words == sum(lengths)
        for a, b in zip(parses, again):
            assert [x.head.tolist() for x in a] == [x.head.tolist() for x in b], "load changed"
            assert [x.label.tolist() for x in a] == [x.label.tolist() for x in b]
        back = read_conllu(text)
        assert [s.head.tolist() for s in back] == [q[0].head.tolist() for q in parses]
        assert [s.form for s in back] == [s.form for s in sents]
    return Call(fn, make, check, lenient=("seed", "dims"))


@spec("parsing.Tagger", "parsing", cost=0.3,
      covers=("Tagger", "Tagger.fit", "Tagger.predict", "Tagger.evaluate", "Tagger.save",
              "Tagger.load"))
def _(draw):
    """A tiny Tagger (biLSTM or window) fitted, tagging, scoring and saved / loaded: the
    loaded tagger tags the same."""
    kind = draw(st.sampled_from(["bilstm", "window"]))
    columns = tuple(draw(st.lists(st.sampled_from(("upos", "xpos", "feats")), min_size=1,
                                  max_size=3, unique=True)))
    seed = draw(SEEDS)
    kw = dict(form_dim=draw(ints(1, 3)), affix_dim=draw(ints(1, 3)), hidden=draw(ints(1, 3)),
              window=draw(ints(0, 2)), min_count=draw(ints(1, 2)), seed=draw(ints(0, 5)),
              dtype=draw(st.sampled_from(["float32", "float64"])), epochs=draw(ints(0, 2)))
    sents = _treebank_sentences(seed)

    def make():
        return {"kind": kind, "columns": columns, **kw}

    def fn(kind, columns, form_dim, affix_dim, hidden, window, min_count, seed, dtype, epochs):
        t = sc_parsing.Tagger(kind, columns, form_dim, affix_dim, hidden, window, min_count,
                              seed=seed, dtype=dtype)
        t.fit(sents, epochs=epochs, batch_size=2, dev=sents[:2], progress=False)
        tags, acc = t.predict(sents), t.evaluate(sents)
        path = os.path.join(_TMP, "tagger.npz")
        t.save(path)
        return t, tags, acc, sc_parsing.Tagger.load(path).predict(sents)

    def check(out, args):
        t, tags, acc, again = out
        assert list(tags) == list(columns) and tags == again, "load changed the tags"
        for c in columns:
            assert [len(x) for x in tags[c]] == [len(s.form) for s in sents]
            assert all(v in t.vocab[c] for x in tags[c] for v in x)
            assert 0 <= acc[c] <= 100
    return Call(fn, make, check, lenient=("seed", "dtype"))

"""Argument checks shared by the Python API: one place for the int / real / option rules.

DESIGN.md: bad input raises ``ValueError`` (out of range, unknown option) or ``TypeError``
(wrong type), with a message naming the argument. These helpers keep pybind11's generic
"incompatible function arguments" / "Unable to cast" errors, ``OverflowError`` and silent
conversions (``int(1.5) == 1``, ``True`` as ``1``, ``int("3")``) away from the kernels.
"""
from __future__ import annotations

import math

import numpy as np

#: Largest value a C++ ``int64_t`` argument holds (pybind11 rejects larger Python ints).
INT64_MAX = 2**63 - 1
INT64_MIN = -2**63


# Training epochs per call (Word2Vec, GloVe): far beyond any schedule (GloVe's paper trains
# 50-100), and it keeps a huge int from meaning years of work (the property suite's hang).
MAX_EPOCHS = 2**20

class StateError(ValueError, RuntimeError):
    """The object is not in a state for this call (e.g. a model without a vocabulary). A
    ValueError that is also the RuntimeError gensim raises in these cases, so code written
    for either catches it."""


def _span(lo, hi):
    if lo is not None and hi is not None:
        return f"in [{lo}, {hi}]"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def int_arg(name, value, lo=None, hi=None, *, type_error=TypeError):
    """``value`` as a Python int if it is an int or NumPy integer in ``[lo, hi]``.

    bool, float (also integral ones), str and None raise ``type_error`` (TypeError by
    default); a value out of range raises ValueError. Both name the argument.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        if type_error is TypeError:
            raise TypeError(f"{name}: expected an int, got {type(value).__name__} {value!r}")
        raise type_error(f"{name}: expected an int {_span(lo, hi)}, got {value!r}")
    v = int(value)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValueError(f"{name}: expected an int {_span(lo, hi)}, got {v}")
    return v


def opt_int_arg(name, value, lo=None, hi=None):
    """:func:`int_arg`, with None passed through."""
    return None if value is None else int_arg(name, value, lo, hi)


def float_arg(name, value, lo=None, hi=None, *, finite=False, lo_open=False):
    """``value`` as a Python float: a real number (int, float, NumPy real; bool counts as
    0/1 as in NumPy); TypeError for str, complex, None...; ValueError for NaN (always when
    bounds are given), for inf with ``finite``, and outside ``[lo, hi]`` (``(lo, hi]`` with
    ``lo_open``)."""
    if not isinstance(value, (int, float, np.integer, np.floating, np.bool_)):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__} "
                        f"{value!r}")
    try:
        v = float(value)
    except OverflowError:
        raise ValueError(f"{name}: {value!r} is out of the float range") from None
    bounded = lo is not None or hi is not None
    if (finite or bounded) and math.isnan(v):
        raise ValueError(f"{name}: expected a number, got nan")
    if finite and math.isinf(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    if lo is not None and (v < lo or (lo_open and v == lo)):
        raise ValueError(f"{name}: expected a number {'>' if lo_open else '>='} {lo}, got {v}")
    if hi is not None and v > hi:
        raise ValueError(f"{name}: expected a number <= {hi}, got {v}")
    return v


def option(name, value, choices):
    """``value`` if it is one of the strings ``choices``, else ValueError naming them."""
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name}: expected one of {tuple(choices)}, got {value!r}")
    return value


def instance_arg(name, value, cls, what=None):
    """``value`` if it is an instance of ``cls``, else TypeError naming the argument."""
    if not isinstance(value, cls):
        what = what or getattr(cls, "__name__", str(cls))
        raise TypeError(f"{name}: expected {what}, got {type(value).__name__}")
    return value


def unicode_strings(a: np.ndarray, name: str) -> list:
    """The str values of a unicode array read from a file; ValueError naming ``name`` when a
    value holds a code point above U+10FFFF, which numpy's UCS-4 storage allows and which
    becomes an invalid str object (SystemError where it is used, or at the conversion)."""
    flat = np.ascontiguousarray(a).reshape(-1)
    codes = flat.view(np.dtype(np.uint32).newbyteorder(a.dtype.byteorder))
    if codes.size and codes.max() > 0x10FFFF:
        raise ValueError(f"{name}: a character beyond U+10FFFF")
    return [str(x) for x in flat]

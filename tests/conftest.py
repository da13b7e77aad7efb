"""Shared fixtures for the seqcore tests.

* ``rng``: a ``numpy.random.Generator`` seeded from the test's node id, so every test (and
  every parametrisation) gets its own reproducible stream that does not change when other
  tests are added or reordered.
* ``make_rnn_inputs``: a factory for recurrent-layer inputs in PyTorch's layout.
* ``restore_num_threads``: puts ``seqcore.set_num_threads`` back after a test changes it.

Mode names used across the tests: ``lstm``, ``gru`` (linear_before_reset=True, PyTorch form),
``gru_nolbr`` (linear_before_reset=False, Cho et al. form), ``rnn_tanh``, ``rnn_relu``.
"""
from __future__ import annotations

import zlib

import numpy as np
import pytest

def _sanitized():
    try:
        with open("/proc/self/maps") as f:
            return "libasan" in f.read()
    except OSError:
        return False


# Under the sanitizer build (README, "Sanitizer build") ASan's allocator keeps freed memory in
# quarantine and maps shadow memory, so resident-memory measurements are not the program's.
not_sanitized = pytest.mark.skipif(_sanitized(), reason="RSS is ASan's, not seqcore's, "
                                                         "under the sanitizer build")

MODES = ("lstm", "gru", "gru_nolbr", "rnn_tanh", "rnn_relu")
GATES = {"lstm": 4, "gru": 3, "gru_nolbr": 3, "rnn_tanh": 1, "rnn_relu": 1}


@pytest.fixture
def rng(request):
    """Generator seeded by a CRC of the test id: reproducible and distinct per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def ragged_lengths(rng, T, N, dtype=np.int64, allow_zero=True):
    """Unsorted ragged ``lengths [N]`` in [0, T] (in [1, T] without ``allow_zero``).

    With N >= 2 the full length T is always present; with N >= 3 (and ``allow_zero``) a
    zero length is present too; the rest are random, and the order is shuffled.
    """
    low = 0 if allow_zero else 1
    lengths = rng.integers(low, T + 1, size=N)
    if N >= 2:
        lengths[0] = T
    if N >= 3 and allow_zero:
        lengths[1] = 0
    if N >= 4:
        lengths[2] = max(low, T // 2)
    rng.shuffle(lengths)
    return lengths.astype(dtype)


def rnn_inputs(rng, mode, T, N, I, H, dtype=np.float64, bias=True, init=True,
               scale=None):
    """Random inputs for a recurrent layer of ``mode``.

    Returns a dict with ``x [T,N,I]``, ``w_ih [G*H,I]``, ``w_hh [G*H,H]``, ``b_ih``,
    ``b_hh [G*H]`` (None without ``bias``), ``h0 [N,H]`` (None without ``init``) and, for
    LSTM, ``c0 [N,H]``. Weights are uniform in ±1/sqrt(H) like PyTorch's default init
    (``scale`` overrides the bound), so activations stay in a well-conditioned range.
    """
    G = GATES[mode]
    k = 1.0 / np.sqrt(H) if scale is None else scale

    def u(*shape):
        return rng.uniform(-k, k, size=shape).astype(dtype)

    d = {
        "x": rng.standard_normal((T, N, I)).astype(dtype),
        "w_ih": u(G * H, I),
        "w_hh": u(G * H, H),
        "b_ih": u(G * H) if bias else None,
        "b_hh": u(G * H) if bias else None,
        "h0": (0.5 * rng.standard_normal((N, H))).astype(dtype) if init else None,
    }
    if mode == "lstm":
        d["c0"] = (0.5 * rng.standard_normal((N, H))).astype(dtype) if init else None
    return d


@pytest.fixture
def make_rnn_inputs(rng):
    """Factory: ``make_rnn_inputs(mode, T, N, I, H, dtype=..., bias=..., init=...)``."""
    def make(mode, T, N, I, H, **kw):
        return rnn_inputs(rng, mode, T, N, I, H, **kw)
    return make


@pytest.fixture
def make_lengths(rng):
    """Factory: ``make_lengths(T, N, dtype=np.int64, allow_zero=True)``, see ragged_lengths."""
    def make(T, N, dtype=np.int64, allow_zero=True):
        return ragged_lengths(rng, T, N, dtype, allow_zero)
    return make


@pytest.fixture
def restore_num_threads():
    """Remember ``seqcore.get_num_threads()`` and restore it after the test."""
    import seqcore
    saved = seqcore.get_num_threads()
    yield saved
    seqcore.set_num_threads(saved)


def fd_pairs(loss, arrays, grads, rng, n=6, eps=1e-6, nonzero=False):
    """(numeric, analytic) at n random coordinates of each array: central differences of the
    scalar loss vs the given gradients, as two flat arrays for one assert. ``nonzero``: pick
    among the coordinates whose gradient is not zero (embedding tables, whose rows are mostly
    untouched), and fail if an array has none."""
    num, ana = [], []
    for a, g in zip(arrays, grads):
        if a.size == 0:
            continue
        flat = a.reshape(-1)
        if nonzero:
            candidates = np.flatnonzero(g.reshape(-1))
            assert len(candidates), "a gradient is all zero"
            picks = rng.choice(candidates, min(n, len(candidates)), replace=False)
        else:
            picks = rng.integers(0, a.size, size=n)
        for idx in picks:
            old = flat[idx]
            flat[idx] = old + eps
            up = loss()
            flat[idx] = old - eps
            down = loss()
            flat[idx] = old
            num.append((up - down) / (2 * eps))
            ana.append(g.reshape(-1)[idx])
    return np.array(num), np.array(ana)

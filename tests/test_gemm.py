"""seqcore's blocked GEMM (``_core.gemm``) vs NumPy float64, and the FMA roof probe.

``_core.gemm(a, b, transpose_a, transpose_b, out)`` computes ``op(a) @ op(b)`` (added into
``out`` when given) with the micro-kernel family every recurrent and attention kernel uses
(cpp/src/cpu/gemm.h). The grid covers every M from 1 to 17 (the register tile has 6 rows on
AVX2, 8 on AVX-512, so this crosses two or more tile edges), N around the panel width
(8/16 floats, 4/8 doubles: 1, 7, 8, 9, 15, 16, 17, 33) and K around the k block (Kc = 256:
255, 257, 300), plus a few shapes that cross the row block (Mc = 120) and several k blocks.

Tolerances. Inputs are standard normal, so an output element is a sum of K products of
O(1) magnitude with random signs: it is O(sqrt(K)), while the rounding error of a float32
reduction grows with the number of terms (seqcore sums each k block of <= 256 terms in one
FMA chain, then adds the block sums to C). We compare against the float64 product of the
same float32 values (only the accumulation differs) with rtol 1e-5 and atol 1e-5*sqrt(K):
rtol 1e-5 relative to the typical element size sqrt(K), ~10x above the observed error at
K = 600. float64 results agree to ~1e-12 (same reasoning, eps 2e-16).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

import seqcore
from seqcore import _core

DTYPES = (np.float32, np.float64)
TRANSPOSES = [(False, False), (True, False), (False, True), (True, True)]
EDGE_N = (1, 7, 8, 9, 15, 16, 17, 33)
EDGE_K = (1, 5, 64, 255, 257, 300)
# (M, N, K) crossing Mc = 120 (rows), Kc = 256 (several k blocks) and the panel width
LARGE = [(130, 70, 600), (121, 33, 257), (241, 17, 513), (1, 300, 700), (250, 129, 31)]


def _tol(dtype, K):
    """(rtol, atol) for an op(a) @ op(b) with K terms of standard-normal inputs (above)."""
    s = math.sqrt(max(K, 1))
    if dtype == np.float32:
        return 1e-5, 1e-5 * s
    return 1e-12, 1e-12 * s


def _operands(rng, M, N, K, dtype, ta, tb):
    """(a, b) as gemm takes them for op flags (ta, tb), and op(a), op(b) in float64."""
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    a64 = a.astype(np.float64)
    b64 = b.astype(np.float64)
    return a, b, (a64.T if ta else a64), (b64.T if tb else b64)


def _check(got, want, dtype, K):
    rtol, atol = _tol(dtype, K)
    np.testing.assert_allclose(got.astype(np.float64), want, rtol=rtol, atol=atol)


def _gemm(a, b, ta, tb, out=None):
    return _core.gemm(a, b, transpose_a=ta, transpose_b=tb, out=out)


# ---------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("M", range(1, 18))
def test_edge_sizes(rng, M, ta, tb, dtype):
    """Every M in 1..17 against every N in EDGE_N and K in EDGE_K (one test per M)."""
    for N in EDGE_N:
        for K in EDGE_K:
            a, b, ra, rb = _operands(rng, M, N, K, dtype, ta, tb)
            c = _gemm(a, b, ta, tb)
            assert c.shape == (M, N) and c.dtype == dtype and c.flags.c_contiguous
            _check(c, ra @ rb, dtype, K)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "tn", "nt", "tt"])
@pytest.mark.parametrize("M,N,K", LARGE, ids=[f"{m}x{n}x{k}" for m, n, k in LARGE])
def test_block_crossing_sizes(rng, M, N, K, ta, tb, dtype):
    """Shapes crossing the row block (Mc = 120), several k blocks (Kc = 256) and ragged
    panels: shape, dtype and every element against float64 (tolerance: module docstring)."""
    a, b, ra, rb = _operands(rng, M, N, K, dtype, ta, tb)
    c = _gemm(a, b, ta, tb)
    assert c.shape == (M, N) and c.dtype == dtype
    want = ra @ rb
    rtol, atol = _tol(dtype, K)
    err = np.abs(c.astype(np.float64) - want)
    assert np.all(err <= atol + rtol * np.abs(want)), f"max abs error {err.max():.3g}"


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "tn", "nt", "tt"])
def test_accumulate(rng, ta, tb, dtype):
    """out= adds the product into out (the k blocks too: K = 300, 600 > Kc) and returns it."""
    shapes = [(M, N, K) for M in range(1, 18) for N, K in ((1, 1), (9, 257), (33, 5))]
    shapes += [(130, 70, 600), (121, 33, 300)]
    for M, N, K in shapes:
        a, b, ra, rb = _operands(rng, M, N, K, dtype, ta, tb)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        out = c0.copy()
        res = _gemm(a, b, ta, tb, out=out)
        assert res is out
        _check(out, c0.astype(np.float64) + ra @ rb, dtype, K)


def test_non_contiguous_inputs(rng):
    """Strided or Fortran-ordered inputs are converted at the boundary: same result as the
    contiguous copies."""
    a = rng.standard_normal((40, 60)).astype(np.float32)
    b = rng.standard_normal((60, 50)).astype(np.float32)
    want = _core.gemm(a, b)
    np.testing.assert_array_equal(_core.gemm(np.asfortranarray(a), np.asfortranarray(b)),
                                  want)
    big = np.zeros((80, 120), np.float32)
    big[::2, ::2] = a
    np.testing.assert_array_equal(_core.gemm(big[::2, ::2], b), want)
    # a.T given as a [K, M] array with transpose_a: the same product
    np.testing.assert_array_equal(_core.gemm(a.T, b, transpose_a=True), want)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
def test_bit_identical_across_thread_counts(rng, dtype, restore_num_threads):
    """DESIGN.md: bit-identical results for every thread count (fixed reduction order)."""
    # M > N splits rows between threads, M <= N column panels (gemm_cpu.cc); 3 threads
    # leave ragged shares (and none at all for 13 x 5)
    shapes = [(130, 70, 600, False, False), (17, 33, 300, True, False),
              (241, 129, 513, False, True), (64, 256, 1024, True, True),
              (400, 200, 700, True, False), (13, 5, 300, False, True)]
    for M, N, K, ta, tb in shapes:
        a, b, _, _ = _operands(rng, M, N, K, dtype, ta, tb)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        results = []
        for threads in (1, 2, 3):
            seqcore.set_num_threads(threads)
            out = c0.copy()
            results.append((_gemm(a, b, ta, tb), _gemm(a, b, ta, tb, out=out)))
        for r in results[1:]:
            np.testing.assert_array_equal(results[0][0], r[0])
            np.testing.assert_array_equal(results[0][1], r[1])


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "tn", "nt", "tt"])
def test_k_zero(rng, ta, tb, dtype):
    """K = 0: an empty sum gives zeros, and leaves out unchanged when accumulating."""
    M, N = 5, 9
    a = np.zeros((0, M) if ta else (M, 0), dtype)
    b = np.zeros((N, 0) if tb else (0, N), dtype)
    c = _gemm(a, b, ta, tb)
    assert c.shape == (M, N) and c.dtype == dtype
    np.testing.assert_array_equal(c, np.zeros((M, N), dtype))
    c0 = rng.standard_normal((M, N)).astype(dtype)
    out = c0.copy()
    assert _gemm(a, b, ta, tb, out=out) is out
    np.testing.assert_array_equal(out, c0)


def test_empty_m_n():
    assert _core.gemm(np.ones((0, 4), np.float32), np.ones((4, 3), np.float32)).shape == (0, 3)
    assert _core.gemm(np.ones((2, 4), np.float64), np.ones((4, 0), np.float64)).shape == (2, 0)


# ---------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------

def test_dtype_mismatch():
    a32 = np.ones((3, 4), np.float32)
    b32 = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match=r"\bb\b"):
        _core.gemm(a32, b32.astype(np.float64))
    with pytest.raises(TypeError, match=r"\bb\b"):
        _core.gemm(a32.astype(np.float64), b32)
    with pytest.raises(TypeError, match=r"\bout\b"):
        _core.gemm(a32, b32, out=np.zeros((3, 5), np.float64))
    with pytest.raises(TypeError, match=r"\ba\b"):
        _core.gemm(a32.astype(np.int32), b32.astype(np.int32))


@pytest.mark.parametrize("ta,tb", TRANSPOSES, ids=["nn", "tn", "nt", "tt"])
def test_inner_size_mismatch(ta, tb):
    M, K, N = 3, 4, 5
    a = np.ones((K, M) if ta else (M, K), np.float32)
    b = np.ones((N, K + 1) if tb else (K + 1, N), np.float32)
    with pytest.raises(ValueError, match=r"\bb\b.*expected shape"):
        _core.gemm(a, b, transpose_a=ta, transpose_b=tb)


def test_bad_out():
    a = np.ones((3, 4), np.float32)
    b = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match=r"\bout\b"):
        _core.gemm(a, b, out=np.zeros((3, 6), np.float32))
    with pytest.raises(ValueError, match=r"\bout\b"):
        _core.gemm(a, b, out=np.zeros((5, 3), np.float32).T)      # not C-contiguous


@pytest.mark.parametrize("a_shape,b_shape,name", [
    ((4,), (4, 5), "a"), ((3, 4), (4,), "b"), ((1, 3, 4), (4, 5), "a"),
    ((3, 4), (1, 4, 5), "b"), ((), (4, 5), "a")])
def test_not_2d(a_shape, b_shape, name):
    with pytest.raises(ValueError, match=rf"\b{name}\b.*2-D"):
        _core.gemm(np.ones(a_shape, np.float32), np.ones(b_shape, np.float32))


# ---------------------------------------------------------------------------------------
# FMA roof probe
# ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("threads,seconds,name", [
    (0, 0.05, "threads"), (-1, 0.05, "threads"), (1, 0.0, "seconds"), (1, -1.0, "seconds"),
    (1, 11.0, "seconds")])
def test_fma_peak_bad_input(threads, seconds, name):
    with pytest.raises(ValueError, match=name):
        _core.fma_peak_gflops(threads, seconds)


def test_fma_peak_default_seconds_rejects_zero_threads():
    with pytest.raises(ValueError, match="threads"):
        _core.fma_peak_gflops(0)


def test_fma_peak_positive():
    # Speed is never asserted (DESIGN.md): only that the probe returns a positive float.
    v = _core.fma_peak_gflops(1, 0.05)
    assert isinstance(v, float) and math.isfinite(v) and v > 0

"""pytest-benchmark timings of seqcore's blocked GEMM (``_core.gemm``), the micro-kernel
family behind every recurrent and attention kernel, and of ``torch.mm`` on the same float32
operands (skipped without torch). ``seqcore bench`` reports the same product at 2048^3 as
its roof line; here it is timed at a few square shapes: 256^3 and 1024^3 (64^3 in the smoke
run). Both write into a preallocated output (``out=``: seqcore adds into it).

    python -m pytest benchmarks/bench_gemm.py                         # 256^3, 1024^3
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (64^3)
"""
import numpy as np
import pytest
from conftest import bench_suite


def pytest_generate_tests(metafunc):
    if "size" in metafunc.fixturenames:
        sizes = (64,) if bench_suite(metafunc.config) == "quick" else (256, 1024)
        metafunc.parametrize("size", sizes, ids=[f"{n}x{n}x{n}" for n in sizes])


def _operands(size):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    return a, b, np.zeros((size, size), np.float32)


def _annotate(benchmark, size, side):
    benchmark.group = f"gemm {size}x{size}x{size} float32"
    benchmark.extra_info.update(op="gemm", shape=f"M=N=K={size}", flops=2.0 * size ** 3,
                                side=side)


def _report_gflops(benchmark, size):
    median = getattr(getattr(getattr(benchmark, "stats", None), "stats", None), "median", None)
    if median:
        benchmark.extra_info["gflops"] = 2.0 * size ** 3 / median / 1e9


def test_seqcore(benchmark, size):
    _core = pytest.importorskip("seqcore._core")
    a, b, c = _operands(size)
    _annotate(benchmark, size, "seqcore")
    out = benchmark(_core.gemm, a, b, out=c)
    assert out is c
    _report_gflops(benchmark, size)


def test_reference(benchmark, size):
    torch = pytest.importorskip("torch")
    a, b, c = (torch.from_numpy(x) for x in _operands(size))
    _annotate(benchmark, size, "torch.mm")
    benchmark(torch.mm, a, b, out=c)
    _report_gflops(benchmark, size)

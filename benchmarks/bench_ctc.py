"""pytest-benchmark timings of CTC: loss + gradient vs torch F.ctc_loss, and the decoders.

The cases (shapes, inputs, torch references) are those of :mod:`seqcore.bench_ops.ctc`, in
one place for this file and ``seqcore bench --ops ctc``. Each loss case gives two
benchmarks in one group: ``test_seqcore`` and ``test_reference`` (torch forward +
backward); decoder cases only ``test_seqcore``, with ``frames_per_s`` in extra_info.

    python -m pytest benchmarks/bench_ctc.py                          # suite "full"
    python -m pytest benchmarks/bench_ctc.py --bench-suite default -k beam
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
import pytest

from conftest import bench_suite

FAMILIES = ("ctc",)


def _cases(config):
    from seqcore import bench
    return bench.cases(FAMILIES, bench_suite(config))


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    try:
        cases = _cases(metafunc.config)
    except ImportError as e:      # seqcore not built: let the test be skipped, not error
        metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(
            reason=f"seqcore not importable: {e}"))], ids=["seqcore-missing"])
        return
    if metafunc.function.__name__ == "test_reference":
        cases = [c for c in cases if c.reference_name != "-"]
    metafunc.parametrize("case", cases, ids=[c.id for c in cases])


def _annotate(benchmark, case, side):
    benchmark.group = f"{case.op} {case.shape}"
    benchmark.extra_info.update(op=case.op, shape=case.shape, flops=case.flops, side=side,
                                reference=case.reference_name)


def _report_gflops(benchmark, case):
    stats = getattr(benchmark, "stats", None)
    median = getattr(getattr(stats, "stats", None), "median", None)
    if case.flops and median:
        benchmark.extra_info["gflops"] = case.flops / median / 1e9


def test_seqcore(benchmark, case):
    bound = case.setup()
    _annotate(benchmark, case, "seqcore")
    out = benchmark(bound.seqcore)
    assert out is not None
    _report_gflops(benchmark, case)
    median = getattr(getattr(getattr(benchmark, "stats", None), "stats", None), "median", None)
    if "frames=" in case.shape and median:
        from seqcore.bench_ops.ctc import frames_per_second
        benchmark.extra_info["frames_per_s"] = frames_per_second(case, median * 1e3)


def test_reference(benchmark, case):
    bound = case.setup()
    if bound.reference is None:
        pytest.skip("no reference for this case")
    _annotate(benchmark, case, case.reference_name)
    benchmark(bound.reference)
    _report_gflops(benchmark, case)

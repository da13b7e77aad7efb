"""pytest-benchmark timings of Word2Vec training (sg/cbow x negative sampling/hs).

The cases (corpus, settings, the gensim reference) are those of
:mod:`seqcore.bench_ops.word2vec`, in one place for this file and ``seqcore bench --ops
word2vec``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference`` (gensim); without gensim there is no case.

    python -m pytest benchmarks/bench_word2vec.py                        # suite "full"
    python -m pytest benchmarks/bench_word2vec.py --bench-suite default -k sg-ns
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
import pytest

from conftest import bench_suite

FAMILIES = ("word2vec",)


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


def test_reference(benchmark, case):
    bound = case.setup()
    if bound.reference is None:
        pytest.skip("no reference for this case")
    _annotate(benchmark, case, case.reference_name)
    benchmark(bound.reference)
    _report_gflops(benchmark, case)

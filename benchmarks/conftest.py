"""pytest configuration of benchmarks/ (pytest-benchmark).

* ``bench_*.py`` files are collected (pytest's default pattern is ``test_*.py``).
* The shapes come from :mod:`seqcore.bench` (one source of cases for ``seqcore bench`` and
  these benchmarks): suite ``"full"`` (default and DeepBench-style shapes) when benchmarking,
  ``"quick"`` (tiny shapes, a smoke run of seconds) under ``--benchmark-disable``, or the
  suite named by ``--bench-suite``.
* torch, when importable, runs with seqcore's thread count.

Run:  python -m pytest benchmarks                         (time; add --benchmark-json=PATH)
      python -m pytest benchmarks --benchmark-disable -q  (CI smoke run: each case once)
"""
import pytest


def pytest_addoption(parser):
    group = parser.getgroup("seqcore")
    group.addoption("--bench-suite", choices=("quick", "default", "full"), default=None,
                    help="cases of seqcore.bench to run (default: 'full', or 'quick' "
                         "with --benchmark-disable)")


def pytest_collect_file(file_path, parent):
    # A file named on the command line is collected by pytest's python plugin whatever its
    # name: collecting it here too would run every benchmark twice.
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


def bench_suite(config):
    """The seqcore.bench suite selected for this session."""
    suite = config.getoption("bench_suite")
    if suite is None:
        disabled = getattr(config.option, "benchmark_disable", False)
        suite = "quick" if disabled else "full"
    return suite


@pytest.fixture(scope="session", autouse=True)
def _same_threads_for_torch():
    seqcore = pytest.importorskip("seqcore")
    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(seqcore.get_num_threads())
    yield


def family_benchmarks(families):
    """``(pytest_generate_tests, test_seqcore, test_reference)`` of a ``bench_<family>.py``
    module timing the cases of ``families`` (each case gives two benchmarks in one group: the
    seqcore call and its reference, skipped where the case has none)."""

    def pytest_generate_tests(metafunc):
        if "case" not in metafunc.fixturenames:
            return
        try:
            from seqcore import bench
            cases = bench.cases(families, bench_suite(metafunc.config))
        except ImportError as e:      # seqcore not built: let the test be skipped, not error
            metafunc.parametrize("case", [pytest.param(None, marks=pytest.mark.skip(
                reason=f"seqcore not importable: {e}"))], ids=["seqcore-missing"])
            return
        if metafunc.function.__name__ == "test_reference":
            cases = [c for c in cases if c.reference_name != "-"]
        metafunc.parametrize("case", cases, ids=[c.id for c in cases])

    def test_seqcore(benchmark, case):
        bound = case.setup()
        _annotate(benchmark, case, "seqcore")
        out = benchmark(bound.seqcore)
        assert out is not None
        _report_rates(benchmark, case)

    def test_reference(benchmark, case):
        bound = case.setup()
        if bound.reference is None:
            pytest.skip("no reference for this case")
        _annotate(benchmark, case, case.reference_name)
        benchmark(bound.reference)
        _report_rates(benchmark, case)

    return pytest_generate_tests, test_seqcore, test_reference


def _annotate(benchmark, case, side):
    benchmark.group = f"{case.op} {case.shape}"
    benchmark.extra_info.update(op=case.op, shape=case.shape, flops=case.flops, side=side,
                                reference=case.reference_name)


def _report_rates(benchmark, case):
    """GFLOP/s and items/s (case.items, case.unit) from the median, into extra_info."""
    stats = getattr(benchmark, "stats", None)
    median = getattr(getattr(stats, "stats", None), "median", None)
    if median:
        if case.flops:
            benchmark.extra_info["gflops"] = case.flops / median / 1e9
        if getattr(case, "items", 0):
            benchmark.extra_info[f"{case.unit}_per_s"] = case.items / median


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
    if file_path.suffix == ".py" and file_path.name.startswith("bench_"):
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

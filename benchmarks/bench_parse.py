"""pytest-benchmark timings of dependency parsing (:mod:`seqcore.bench_ops.parse`): the Turkish
test split parsed greedily, with a beam of 8, and tagged + parsed, on one thread, against
UDPipe 1 trained on the same split (when its model is cached). Each case gives two
benchmarks in one group: ``test_seqcore`` and ``test_reference``.

    python -m pytest benchmarks/bench_parse.py
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(("parse",))

"""pytest-benchmark timings of the output layers (softmax CE, negative sampling, sampled
and hierarchical softmax).

The cases (N=1024, D=256, V in 10^4..10^6; torch CE, torch full softmax with projection,
torch AdaptiveLogSoftmaxWithLoss, seqcore per-row negatives) are those of
:mod:`seqcore.bench_ops.output`, in one place for this file and ``seqcore bench --ops
output``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference``.

    python -m pytest benchmarks/bench_output.py                          # suite "full"
    python -m pytest benchmarks/bench_output.py --bench-suite default -k V100000
    python -m pytest benchmarks --benchmark-disable -q                   # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('output',))

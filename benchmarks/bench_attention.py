"""pytest-benchmark timings of the attention kernels (SDPA, additive, multi-head).

The cases (shapes, inputs, torch/NumPy references) are those of :mod:`seqcore.bench_ops.attention`:
the issue's shapes, in one place for this file and
``seqcore bench``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference`` (torch when importable, else NumPy for inference cases).

    python -m pytest benchmarks/bench_attention.py                          # suite "full"
    python -m pytest benchmarks/bench_attention.py --bench-suite default -k sdpa
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('attention',))

"""pytest-benchmark timings of a 2-layer bidirectional LSTM tagger training step, torch.nn.LSTM vs seqcore.torch.LSTM.

The cases are those of :mod:`seqcore.bench_ops.torch_adapter` (``seqcore bench --ops torch``).

    python -m pytest benchmarks/bench_torch.py                       # suite "full"
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('torch',))

"""pytest-benchmark timings of the recurrent kernels (LSTM, GRU, Elman RNN).

The cases (shapes, inputs, torch/NumPy references) are those of :mod:`seqcore.bench`: the
DeepBench-style training shapes and the small latency ones, in one place for this file and
``seqcore bench``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference`` (torch when importable, else NumPy for inference cases).

    python -m pytest benchmarks/bench_rnn.py                          # suite "full"
    python -m pytest benchmarks/bench_rnn.py --bench-suite default -k lstm
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('lstm', 'gru', 'rnn'))

"""pytest-benchmark timings of the models' training steps (the sentiment LSTM of ``seqcore demo
sentiment``, the PTB word LM of ``seqcore demo ptb``) against the same models in torch.nn.

The cases are those of :mod:`seqcore.bench_ops.sentiment` and :mod:`seqcore.bench_ops.wordlm`,
in one place for this file and ``seqcore bench --ops sentiment,wordlm``. Each case gives two
benchmarks in one group: ``test_seqcore`` and ``test_reference`` (torch.nn).

    python -m pytest benchmarks/bench_models.py                       # suite "full"
    python -m pytest benchmarks/bench_models.py --bench-suite default -k wordlm
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(("sentiment", "wordlm"))

"""pytest-benchmark timings of the trigger-word model (:mod:`seqcore.bench_ops.trigger`): a
training step on 16 ten-second spectrograms against the same torch.nn model, and one second
of audio streamed on one thread against torch re-running the model on a 10-s sliding window.
Each case gives two benchmarks in one group: ``test_seqcore`` and ``test_reference``.

    python -m pytest benchmarks/bench_trigger.py
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(("trigger",))

"""pytest-benchmark timings of CTC: loss + gradient vs torch F.ctc_loss, and the decoders.

The cases (shapes, inputs, torch references) are those of :mod:`seqcore.bench_ops.ctc`, in
one place for this file and ``seqcore bench --ops ctc``. Each loss case gives two
benchmarks in one group: ``test_seqcore`` and ``test_reference`` (torch forward +
backward); decoder cases only ``test_seqcore``, with ``frames_per_s`` in extra_info.

    python -m pytest benchmarks/bench_ctc.py                          # suite "full"
    python -m pytest benchmarks/bench_ctc.py --bench-suite default -k beam
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('ctc',))

"""pytest-benchmark timings of BLEU vs sacrebleu and the seq2seq native beam search vs a torch Python-loop beam search.

The cases are those of :mod:`seqcore.bench_ops.decoding` (``seqcore bench --ops decoding``).

    python -m pytest benchmarks/bench_decoding.py                       # suite "full"
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('decoding',))

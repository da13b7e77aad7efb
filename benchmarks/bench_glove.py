"""pytest-benchmark timings of the word-vector kernels (nearest neighbours, GloVe).

The cases (shapes, inputs, gensim/NumPy references) are those of
:mod:`seqcore.bench_ops.embeddings`, in one place for this file and ``seqcore bench --ops
glove``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference`` (gensim or NumPy; the GloVe kernels have none).

    python -m pytest benchmarks/bench_glove.py                        # suite "full"
    python -m pytest benchmarks/bench_glove.py --bench-suite default -k most_similar
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('glove',))

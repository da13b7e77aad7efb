"""pytest-benchmark timings of Word2Vec training (sg/cbow x negative sampling/hs).

The cases (corpus, settings, the gensim reference) are those of
:mod:`seqcore.bench_ops.word2vec`, in one place for this file and ``seqcore bench --ops
word2vec``. Each case gives two benchmarks in one group: ``test_seqcore`` and
``test_reference`` (gensim); without gensim there is no case.

    python -m pytest benchmarks/bench_word2vec.py                        # suite "full"
    python -m pytest benchmarks/bench_word2vec.py --bench-suite default -k sg-ns
    python -m pytest benchmarks --benchmark-disable -q                # smoke run (tiny shapes)
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(('word2vec',))

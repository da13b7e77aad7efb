"""Benchmark families of ``seqcore bench`` beyond the recurrent ones (``bench_ops/<family>.py``).

Each module registers its cases with :func:`seqcore.bench.register`; :mod:`seqcore.bench`
imports every module of this package the first time its registry is used.
"""

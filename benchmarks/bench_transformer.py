"""pytest-benchmark timings of the Transformer encoder stack (:mod:`seqcore.bench_ops.transformer`:
6 post-LN layers, d_model 512, 8 heads, feed-forward 2048, B=16, S=256) against
torch.nn.TransformerEncoder with the same weights, training step and inference. Each case
gives two benchmarks in one group: ``test_seqcore`` and ``test_reference`` (torch.nn).

    python -m pytest benchmarks/bench_transformer.py                  # suite "full"
"""
from conftest import family_benchmarks

pytest_generate_tests, test_seqcore, test_reference = family_benchmarks(("transformer",))

"""Demos that train small models with seqcore's kernels (``seqcore demo <name>``).

* :mod:`seqcore.demo.charlm`: a character-level LSTM language model.
* :mod:`seqcore.demo.word2vec`: Word2Vec vectors on real text (neighbours, analogies, plot).

Each demo module has ``add_arguments(parser)`` and ``run(args) -> dict`` (the metrics).
"""
DEMOS = ("charlm",)
DEMOS = DEMOS + ("word2vec",)

"""Complete trainable models composed from seqcore's kernels.

* :class:`WordLM`: a word-level LSTM language model (Zaremba et al. 2014) with a full,
  sampled or hierarchical softmax output layer.
"""
from .word_lm import WordLM, batchify, windows

__all__ = ["WordLM", "batchify", "windows"]

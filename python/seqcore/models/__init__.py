"""Complete trainable models composed from seqcore's kernels.

* :class:`WordLM`: a word-level LSTM language model (Zaremba et al. 2014) with a full,
  sampled or hierarchical softmax output layer.
* :class:`TriggerWordDetector`: the Sequence Models course's trigger-word model (Conv1D,
  batch norm, two GRUs, a per-step sigmoid) with streaming inference
  (:class:`TriggerWordStream`).
"""
from .trigger_word import (Detection, TriggerWordDetector, TriggerWordStream, detect,
                           detection_errors)
from .word_lm import WordLM, batchify, windows

__all__ = ["WordLM", "batchify", "windows", "TriggerWordDetector", "TriggerWordStream",
           "Detection", "detect", "detection_errors"]

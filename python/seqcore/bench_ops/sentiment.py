"""``seqcore bench --ops sentiment``: one training step of the LSTM sentiment model of
``seqcore demo sentiment`` (frozen 50-d word vectors -> 2-layer LSTM, H=128, over ragged
sentences -> the top layer's last state -> softmax -> Adam), seqcore's NumPy model against
the same model written with torch.nn modules (``Embedding.from_pretrained``, frozen;
``pack_padded_sequence`` into ``nn.LSTM``; ``Linear``; ``cross_entropy``; ``Adam``), from the
same initial weights.

A batch is 64 sentences whose lengths are drawn uniformly from [5, 50] tokens (the movie-review
sentences have 21 on average, at most ~60), token ids from a 20,000-word table of random
vectors (the speed does not depend on the vectors' values). The error column is
``|loss - torch's loss|`` of the first step.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, register, require_torch, train_step_bound

V, D, C = 20_000, 50, 2


def _batch(N, seed, lo=5, hi=50):
    r = np.random.default_rng(seed)
    lengths = r.integers(lo, hi + 1, N)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = r.integers(0, V, int(offsets[-1]))
    y = r.integers(0, C, N)
    return ids, offsets, y


def _case(N, H, suites) -> Case:
    def setup() -> Bound:
        require_torch()
        from seqcore.demo.sentiment import _LSTMClassifier, _TorchLSTMClassifier

        r = np.random.default_rng(0)
        vectors = np.vstack([r.standard_normal((V, D)).astype(np.float32) * 0.4,
                             np.zeros((1, D), np.float32)])
        ids, offsets, y = _batch(N, 1)
        rows = np.arange(N)
        model = _LSTMClassifier(vectors, H, C, seed=0, lr=1e-3)
        reference = _TorchLSTMClassifier(model, lr=1e-3)   # before ours steps: the same weights

        def ours():
            return model.step(ids, offsets, rows, y)

        def theirs():
            return reference.step(ids, offsets, rows, y)

        return train_step_bound(ours, theirs)

    T = 27.5   # mean length of the batch (uniform in [5, 50])
    flops = 3 * (2 * T * N * 4 * H * (D + H) + 2 * T * N * 4 * H * (H + H))
    return Case("sentiment", "lstm train step", f"N={N} D={D} H={H} 2-layer lengths 5-50",
                flops, setup, "torch.nn", tuple(suites))


@register("sentiment", note="sentiment lstm train step: frozen vectors -> 2-layer LSTM over "
                            "ragged sentences -> last state -> softmax -> Adam, seqcore "
                            "(NumPy model of seqcore demo sentiment) vs the same model in "
                            "torch.nn (packed sequences); max abs err = |first loss - torch's|")
def _sentiment_cases() -> List[Case]:
    return [_case(8, 16, ("quick",)), _case(64, 128, ("default", "full"))]

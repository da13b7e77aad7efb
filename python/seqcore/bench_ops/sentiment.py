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

from seqcore.bench import Bound, Case, SkipCase, _torch, register

V, D, C = 20_000, 50, 2


def _batch(N, seed, lo=5, hi=50):
    r = np.random.default_rng(seed)
    lengths = r.integers(lo, hi + 1, N)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    ids = r.integers(0, V, int(offsets[-1]))
    y = r.integers(0, C, N)
    return ids, offsets, lengths, y


def _case(N, H, suites) -> Case:
    def setup() -> Bound:
        torch = _torch()
        if torch is None:
            raise SkipCase("torch is not importable (pip install torch==2.13.0)")
        from seqcore.demo.sentiment import _LSTMClassifier
        from seqcore.optim import Adam

        r = np.random.default_rng(0)
        vectors = np.vstack([r.standard_normal((V, D)).astype(np.float32) * 0.4,
                             np.zeros((1, D), np.float32)])
        ids, offsets, lengths, y = _batch(N, 1)
        rows = np.arange(N)
        model = _LSTMClassifier(D, H, C, seed=0)
        init = {k: v.copy() for k, v in model.params.items()}
        opt = Adam(model.params, lr=1e-3)

        def ours():
            return model.step(opt, vectors, ids, offsets, rows, y)

        # the same model with torch.nn modules, from the same initial weights
        emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(vectors), freeze=True)
        lstm = torch.nn.LSTM(D, H, num_layers=2)
        head = torch.nn.Linear(H, C)
        with torch.no_grad():
            for name, p in lstm.named_parameters():
                p.copy_(torch.from_numpy(init["lstm." + name]))
            head.weight.copy_(torch.from_numpy(init["out.weight"]))
            head.bias.copy_(torch.from_numpy(init["out.bias"]))
        topt = torch.optim.Adam([*lstm.parameters(), *head.parameters()], lr=1e-3)
        tok = torch.full((int(lengths.max()), N), V, dtype=torch.int64)
        for j in range(N):
            tok[:lengths[j], j] = torch.from_numpy(ids[offsets[j]:offsets[j + 1]])
        tl, ty = torch.from_numpy(lengths), torch.from_numpy(y)

        def theirs():
            topt.zero_grad(set_to_none=True)
            packed = torch.nn.utils.rnn.pack_padded_sequence(emb(tok), tl, enforce_sorted=False)
            _, (h_n, _) = lstm(packed)
            loss = torch.nn.functional.cross_entropy(head(h_n[-1]), ty)
            loss.backward()
            topt.step()
            return loss.item()

        first_ours, first_theirs = ours(), theirs()

        def error(a, b):
            return {"y": abs(first_ours - first_theirs)}

        return Bound(ours, theirs, error)

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

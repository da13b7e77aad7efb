"""``seqcore bench --ops wordlm``: one training step (a truncated-BPTT window: forward,
backward, clipping at norm 5, SGD) of Zaremba et al.'s "small" PTB language model (V=10,000,
2 x 200 LSTM, batch 20 x 20 steps), :class:`seqcore.models.WordLM` against the same model
written with torch.nn modules (``seqcore.demo.ptb.TorchWordLM``: Embedding, LSTM, Linear,
cross_entropy, clip_grad_norm_, SGD) from the same initial weights. The sampled (1024
classes) and hierarchical output layers are timed against the same full-softmax torch step:
their rows show what the cheaper output layer saves. Words per second = 400 / step time.

Token ids are Zipf-distributed (as words are); the speed does not depend on their values.
The error column is ``|loss - torch's loss|`` of the first step (full softmax only). The
flop count is the LSTM's and the output GEMMs' (forward and backward); the hierarchical
layer's tree products (~depth x H per word, a few percent) are left out.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, register, require_torch, train_step_bound

V, H, L, T, N = 10_000, 200, 2, 20, 20


def _case(output, hidden, suites) -> Case:
    def setup() -> Bound:
        require_torch()
        from seqcore.demo.ptb import TorchWordLM
        from seqcore.models import WordLM
        from seqcore.optim import SGD

        r = np.random.default_rng(0)
        stream = (r.zipf(1.2, 20 * T * N) - 1) % V
        counts = np.bincount(stream, minlength=V)
        ids = stream[:T * N].reshape(T, N)
        targets = stream[1:T * N + 1].reshape(T, N)
        model = WordLM(V, hidden, L, output=output, counts=counts, seed=0)
        reference = TorchWordLM(WordLM(V, hidden, L, seed=0), lr=1.0)
        opt = SGD(model.params, lr=1.0)
        state = {"ours": None, "theirs": None}

        def ours():
            loss, state["ours"] = model.train_step(ids, targets, state["ours"], opt)
            return loss

        def theirs():
            loss, state["theirs"] = reference.train_step(ids, targets, state["theirs"], 1.0)
            return loss

        return train_step_bound(ours, theirs, compare_loss=output == "softmax")

    lstm = 3 * L * 2 * T * N * 4 * hidden * (hidden + hidden)   # E = H
    classes = {"softmax": V, "sampled": 1024 + 1, "hierarchical": 0}[output]
    out = 3 * 2 * T * N * classes * hidden
    return Case("wordlm", f"train step {output}", f"V={V} H={hidden} L={L} T={T} N={N}",
                lstm + out, setup, "torch.nn", tuple(suites))


@register("wordlm", note="PTB word LM train step (Zaremba small: V=10k, 2x200 LSTM, 20x20 "
                         "window, clip, SGD), seqcore WordLM vs the same model in torch.nn; "
                         "words/s = 400 / time; sampled/hierarchical vs torch's full softmax")
def _wordlm_cases() -> List[Case]:
    return [_case("softmax", 32, ("quick",)),
            *(_case(o, H, ("default", "full")) for o in ("softmax", "sampled", "hierarchical"))]

"""``seqcore bench --ops torch``: a whole PyTorch training step with torch.nn.LSTM vs
seqcore.torch.LSTM.

The model is a 2-layer bidirectional LSTM tagger: embedding (V=5000, 128) -> LSTM(128, 256,
num_layers=2, bidirectional=True) -> linear (512 -> 50 tags) -> cross-entropy over N=32
sequences of T=50 tokens, then ``backward()`` and an Adam step — the same code and state dict
with either LSTM class. The error column is ``|loss - loss(torch.nn.LSTM)|`` of the first
step from the same initial weights.
"""
from __future__ import annotations

from typing import List

from seqcore.bench import Bound, Case, register, require_torch, train_step_bound


def _tagger_case(N, T, E, H, V, tags, suites) -> Case:
    def setup() -> Bound:
        torch = require_torch()
        import seqcore.torch as st

        g = torch.Generator().manual_seed(0)
        tokens = torch.randint(0, V, (N, T), generator=g)
        labels = torch.randint(0, tags, (N, T), generator=g)

        def make(lstm_cls):
            torch.manual_seed(0)
            emb = torch.nn.Embedding(V, E)
            lstm = lstm_cls(E, H, num_layers=2, bidirectional=True, batch_first=True)
            head = torch.nn.Linear(2 * H, tags)
            params = [*emb.parameters(), *lstm.parameters(), *head.parameters()]
            opt = torch.optim.Adam(params, lr=1e-3)

            def step():
                opt.zero_grad(set_to_none=True)
                out, _ = lstm(emb(tokens))
                loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, tags),
                                                         labels.reshape(-1))
                loss.backward()
                opt.step()
                return loss.item()
            return step

        return train_step_bound(make(st.LSTM), make(torch.nn.LSTM))

    flops = 3 * 2 * (2 * T * N * 4 * H * (E + H) + 2 * T * N * 4 * H * (2 * H + H))
    return Case("torch", "tagger train step", f"N={N} T={T} E={E} H={H} 2-layer bi",
                flops, setup, "torch.nn.LSTM", tuple(suites))


@register("torch", note="tagger train step: embedding -> 2-layer biLSTM -> linear -> CE -> "
                        "backward -> Adam, seqcore.torch.LSTM vs torch.nn.LSTM; flops = the "
                        "LSTM's fwd+bwd only; max abs err = |first loss - torch's|")
def _torch_cases() -> List[Case]:
    return [_tagger_case(4, 6, 16, 16, 100, 5, ("quick",)),
            _tagger_case(32, 50, 128, 256, 5000, 50, ("default", "full"))]

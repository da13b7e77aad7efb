"""``seqcore bench --ops transformer``: a stack of Transformer encoder layers
(:class:`seqcore.TransformerEncoder` of ``TransformerEncoderLayer(d_model, nhead,
dim_feedforward, dropout=0, batch_first=True)``, post-LN, ReLU) against
``torch.nn.TransformerEncoder`` with the same state dict, in the same run.

* ``fwd+bwd``: the forward and the backward of every input and parameter for a given
  output gradient (torch: ``out.backward(dout)`` with the module in training mode).
* ``infer``: the forward alone (seqcore in eval mode; torch in ``eval()`` under
  ``no_grad``, where its "fast path" kernel runs).

The flop count is the linear layers' (QKV, output projection, feed-forward) and attention's
two products, forward; x 3 for ``fwd+bwd`` (flash attention's backward recomputes the
scores: 5 products instead of 4, left out). The error column is the max abs difference of
the outputs from torch's.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, register, require_torch


def _case(layers, E, nhead, F, B, S, variant, suites) -> Case:
    def setup() -> Bound:
        torch = require_torch()
        import seqcore

        torch.manual_seed(0)
        t_layer = torch.nn.TransformerEncoderLayer(E, nhead, F, dropout=0.0, batch_first=True)
        theirs_model = torch.nn.TransformerEncoder(t_layer, layers, enable_nested_tensor=False)
        ours_model = seqcore.TransformerEncoder(
            seqcore.TransformerEncoderLayer(E, nhead, F, dropout=0.0, batch_first=True), layers)
        ours_model.load_state_dict(theirs_model.state_dict())
        r = np.random.default_rng(0)
        x = r.standard_normal((B, S, E)).astype(np.float32)
        dout = r.standard_normal((B, S, E)).astype(np.float32)
        tx, tdout = torch.from_numpy(x), torch.from_numpy(dout)
        if variant == "infer":
            ours_model.eval()
            theirs_model.eval()

            def ours():
                return ours_model(x)[0]

            def theirs():
                with torch.no_grad():
                    return theirs_model(tx).numpy()
        else:
            tx.requires_grad_()

            def ours():
                out, cache = ours_model(x)
                ours_model.backward(cache, dout)
                return out

            def theirs():
                theirs_model.zero_grad(set_to_none=True)
                tx.grad = None
                out = theirs_model(tx)
                out.backward(tdout)
                return out.detach().numpy()

        def error(a, b):
            return {"y": float(np.abs(a - b).max()) if b is not None else float("nan")}

        return Bound(ours, theirs, error)

    M = B * S
    flops = layers * (2 * M * E * (4 * E + 2 * F) + 4 * B * S * S * E)
    if variant == "fwd+bwd":
        flops *= 3
    return Case("transformer", f"encoder {variant}",
                f"layers={layers} E={E} heads={nhead} F={F} B={B} S={S}", flops, setup,
                "torch.nn", tuple(suites), items=M, unit="tokens")


@register("transformer", note="Transformer encoder (post-LN, ReLU, dropout 0, batch_first): "
                              "seqcore TransformerEncoder vs torch.nn.TransformerEncoder, same "
                              "weights; infer = eval/no_grad (torch's fast path)")
def _transformer_cases() -> List[Case]:
    out = []
    for variant in ("fwd+bwd", "infer"):
        out.append(_case(2, 64, 4, 128, 2, 16, variant, ("quick",)))
        out.append(_case(6, 512, 8, 2048, 16, 256, variant, ("default", "full")))
    return out

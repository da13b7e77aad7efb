"""``seqcore bench --ops ctc``: CTC loss + gradient against torch ``F.ctc_loss`` forward +
backward (same thread count), and the CTC decoders' throughput.

Cases
-----
``ctc loss+grad``: :func:`seqcore.ctc_loss` on normalised ``log_probs`` vs torch
``F.ctc_loss(log_probs, ...).backward()`` (``reduction="mean"``). ``ctc logits loss+grad``:
:func:`seqcore.ctc_loss_from_logits` vs torch ``log_softmax`` + ``ctc_loss`` + backward.
Inputs: float32 scores ~ N(0, 4), every utterance ``T`` frames and ``S`` labels drawn
uniformly from the ``C - 1`` non-blank classes. The "max abs err" column gives the loss vs
:func:`seqcore.reference.ctc_loss` (float64) and, after the slash for the logits rows, the
gradient vs torch's. ``flops`` is 0 (no meaningful count).

Decoder cases (``ctc greedy``, ``ctc beam K``) time decoding a batch and have no timed
reference; their throughput (``N * T`` frames per call) is printed in frames/s under the
table.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, _maxabs, _reference, _torch, register


def _inputs(T, N, C, S, seed):
    rng = np.random.default_rng(seed)
    x = (2 * rng.standard_normal((T, N, C))).astype(np.float32)
    m = x.max(-1, keepdims=True)
    lp = (x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))).astype(np.float32)
    tg = rng.integers(1, C, size=(N, S)).astype(np.int64)
    il = np.full(N, T, np.int64)
    tl = np.full(N, S, np.int64)
    return x, lp, tg, il, tl


def _loss_case(T, N, C, S, *, logits=False, suites=("default", "full"), seed=0) -> Case:
    torch = _torch()
    variant = "logits loss+grad" if logits else "loss+grad"

    def setup() -> Bound:
        import seqcore
        x, lp, tg, il, tl = _inputs(T, N, C, S, seed)
        inp = x if logits else lp
        fn = seqcore.ctc_loss_from_logits if logits else seqcore.ctc_loss

        def sc_call():
            return fn(inp, tg, il, tl)

        ref_call = None
        if torch is not None:
            xt = torch.from_numpy(inp.copy()).requires_grad_(True)
            tgt, ilt, tlt = (torch.from_numpy(a) for a in (tg, il, tl))

            def ref_call():
                xt.grad = None
                a = torch.log_softmax(xt, -1) if logits else xt
                loss = torch.nn.functional.ctc_loss(a, tgt, ilt, tlt)
                loss.backward()
                return loss.detach(), xt.grad

        npref = _reference()

        def error(sc_out, ref_out):
            err = {}
            if npref is not None:
                losses = npref.ctc_loss(lp.astype(np.float64), tg, il, tl)
                err["y"] = abs(float(sc_out[0]) - float(np.mean(losses / np.maximum(tl, 1))))
            if logits and ref_out is not None:
                err["dw_hh"] = _maxabs(sc_out[1], ref_out[1].numpy())
            return err

        return Bound(sc_call, ref_call, error)

    return Case("ctc", variant, f"T={T} N={N} C={C} S={S}", 0.0, setup,
                "torch" if torch is not None else "-", tuple(suites))


def _decode_case(kind, T, N, C, beam_width=16, suites=("default", "full"), seed=0) -> Case:
    variant = "greedy" if kind == "greedy" else f"beam {beam_width}"

    def setup() -> Bound:
        import seqcore
        _, lp, _, il, _ = _inputs(T, N, C, 1, seed)
        if kind == "greedy":
            def sc_call():
                return seqcore.ctc_greedy_decode(lp, il)
        else:
            def sc_call():
                return seqcore.ctc_beam_search(lp, il, beam_width=beam_width)
        return Bound(sc_call)

    return Case("ctc", variant, f"T={T} N={N} C={C} frames={T * N}", 0.0, setup, "-",
                tuple(suites), items=T * N, unit="frames")


@register("ctc", note="max abs err = |loss - NumPy float64 reference|, after '/' (logits rows) "
                      "max |grad - torch's gradient through log_softmax|; decoder rows report "
                      "frames/s")
def _ctc_cases() -> List[Case]:
    return [
        _loss_case(12, 3, 6, 4, suites=("quick",)),
        _loss_case(12, 3, 6, 4, logits=True, suites=("quick",)),
        _loss_case(200, 32, 30, 50),
        _loss_case(500, 16, 1000, 100),
        _loss_case(200, 32, 30, 50, logits=True),
        _loss_case(500, 16, 1000, 100, logits=True),
        _decode_case("greedy", 10, 2, 5, suites=("quick",)),
        _decode_case("beam", 10, 2, 5, beam_width=4, suites=("quick",)),
        _decode_case("greedy", 200, 32, 30),
        _decode_case("beam", 200, 32, 30, beam_width=16),
        _decode_case("beam", 200, 32, 30, beam_width=64),
        _loss_case(100, 64, 30, 20, suites=("full",)),
        _loss_case(1000, 8, 50, 200, suites=("full",)),
    ]

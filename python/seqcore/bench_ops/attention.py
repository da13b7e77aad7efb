"""``seqcore bench`` cases of the attention family.

Variants and references
-----------------------
``sdpa fwd`` / ``sdpa fwd+bwd`` (``causal`` when is_causal): seqcore's flash-style kernel vs
``torch.nn.functional.scaled_dot_product_attention`` (float32, same threads); fwd under
``torch.no_grad()``, fwd+bwd with gradients for q, k and v. ``additive step``: one decoder
step of Bahdanau attention with the keys projected once per source sentence
(:func:`seqcore.precompute_keys`) vs a float32 NumPy step that recomputes ``W_k·keys`` at
every step (as the course's ``one_step_attention``). ``sdpa ... causal vs full``: seqcore's
causal call timed against seqcore's own non-causal call on the same inputs (reference
``seqcore full``), so the speed-up column is non-causal time / causal time (half the work:
the target is >= 1/0.6 = 1.67x). ``mha fwd`` / ``mha fwd+bwd``:
:func:`seqcore.multi_head_attention_forward` vs ``torch.nn.MultiheadAttention``
(``need_weights=False``) with the same parameters.

FLOPs: SDPA forward ``4·B·H·Lq·Lk·D`` (half with is_causal and Lq == Lk), fwd+bwd 3.5× that
(the backward recomputes S and runs four more GEMMs); MHA adds ``2·(L+2S)·N·E²`` of input
projections and ``2·L·N·E²`` of output projection, ×3 with the backward; additive step
``2·N·T·A`` (+ ``2·N·A·Dq`` and ``2·N·T·Dv``).

Error column: max |out - NumPy float64 reference| (for SDPA on the first batch entry only, to
keep the reference's [Lq, Lk] matrix small); after the slash, for fwd+bwd vs torch, max |dq
- dq(torch)| (MHA: max |d in_proj_weight - torch|).
"""
from __future__ import annotations

import numpy as np

from seqcore.bench import Bound, Case, _maxabs, _torch, register


def _sdpa_flops(B, H, L, D, backward, causal):
    f = 4.0 * B * H * L * L * D * (0.5 if causal else 1.0)
    return 3.5 * f if backward else f


def _sdpa_case(B, H, L, D, *, backward, causal, suites=("default", "full")):
    torch = _torch()
    variant = "sdpa " + ("fwd+bwd" if backward else "fwd") + (" causal" if causal else "")

    def setup():
        import seqcore
        from seqcore import reference
        rng = np.random.default_rng(0)
        q, k, v, do = (rng.standard_normal((B, H, L, D)).astype(np.float32) for _ in range(4))

        def sc():
            out, cache = seqcore.sdpa_forward(q, k, v, is_causal=causal)
            return out, (seqcore.sdpa_backward(cache, do).dq if backward else None)

        ref = None
        if torch is not None:
            F = torch.nn.functional
            tq, tk, tv = (torch.from_numpy(x.copy()) for x in (q, k, v))
            tdo = torch.from_numpy(do)
            if backward:
                for t in (tq, tk, tv):
                    t.requires_grad_(True)

                def ref():
                    for t in (tq, tk, tv):
                        t.grad = None
                    o = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
                    o.backward(tdo)
                    return o.detach(), tq.grad
            else:
                def ref():
                    with torch.no_grad():
                        return F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal), None

        def error(sc_out, ref_out):
            r, _ = reference.sdpa_forward(q[:1], k[:1], v[:1], is_causal=causal)
            err = {"y": _maxabs(sc_out[0][:1], r)}
            if backward and ref_out is not None:
                err["dw_hh"] = _maxabs(sc_out[1], ref_out[1].numpy())
            return err

        return Bound(sc, ref, error)

    return Case("attention", variant, f"B={B} H={H} L={L} D={D}",
                _sdpa_flops(B, H, L, D, backward, causal), setup,
                "torch" if torch is not None else "-", tuple(suites))


def _causal_vs_full_case(B, H, L, D, *, backward, suites=("default", "full")):
    variant = "sdpa " + ("fwd+bwd" if backward else "fwd") + " causal vs full"

    def setup():
        import seqcore
        from seqcore import reference
        rng = np.random.default_rng(0)
        q, k, v, do = (rng.standard_normal((B, H, L, D)).astype(np.float32) for _ in range(4))

        def run(causal):
            out, cache = seqcore.sdpa_forward(q, k, v, is_causal=causal)
            if backward:
                seqcore.sdpa_backward(cache, do)
            return out

        def error(sc_out, _):
            r, _ = reference.sdpa_forward(q[:1], k[:1], v[:1], is_causal=True)
            return {"y": _maxabs(sc_out[:1], r)}

        return Bound(lambda: run(True), lambda: run(False), error)

    return Case("attention", variant, f"B={B} H={H} L={L} D={D}",
                _sdpa_flops(B, H, L, D, backward, True), setup, "seqcore full", tuple(suites))


def _additive_case(N, T, A, Dh, suites=("default", "full")):
    def setup():
        import seqcore
        from seqcore import reference
        rng = np.random.default_rng(0)
        f32 = np.float32
        query = rng.standard_normal((N, Dh)).astype(f32)
        keys = rng.standard_normal((N, T, Dh)).astype(f32)
        w_q = (rng.standard_normal((A, Dh)) / np.sqrt(Dh)).astype(f32)
        w_k = (rng.standard_normal((A, Dh)) / np.sqrt(Dh)).astype(f32)
        v_a = (rng.standard_normal(A) / np.sqrt(A)).astype(f32)
        proj_keys = seqcore.precompute_keys(keys, w_k)   # once per source sentence

        def sc():
            return seqcore.additive_attention_forward(query, keys, keys, w_q, w_k, v_a,
                                                      proj_keys=proj_keys)[0]

        def numpy_step():   # recomputes W_k keys at every decoder step
            e = np.tanh((query @ w_q.T)[:, None, :] + keys @ w_k.T) @ v_a
            e = np.exp(e - e.max(1, keepdims=True))
            w = e / e.sum(1, keepdims=True)
            return np.einsum("nt,ntd->nd", w, keys)

        def error(sc_out, ref_out):
            return {"y": _maxabs(sc_out, reference.additive_attention(query, keys, keys, w_q,
                                                                      w_k, v_a)[0])}

        return Bound(sc, numpy_step, error, interleave=False)

    return Case("attention", "additive step", f"N={N} T={T} A={A} Dq=Dk=Dv={Dh}",
                2.0 * N * T * A + 2.0 * N * A * Dh + 2.0 * N * T * Dh, setup, "numpy",
                tuple(suites))


def _mha_case(L, N, E, heads, *, backward, suites=("default", "full")):
    torch = _torch()
    if torch is None:
        return None
    variant = "mha " + ("fwd+bwd" if backward else "fwd")
    S = L
    Dh = E // heads
    flops = 4.0 * N * heads * L * S * Dh + 2.0 * (L + 2 * S) * N * E * E + 2.0 * L * N * E * E
    if backward:
        flops *= 3.0

    def setup():
        import seqcore
        from seqcore import reference
        torch.manual_seed(0)
        mod = torch.nn.MultiheadAttention(E, heads)
        p = {k: v.detach().numpy().copy() for k, v in mod.state_dict().items()}
        rng = np.random.default_rng(0)
        x = rng.standard_normal((L, N, E)).astype(np.float32)
        dy = rng.standard_normal((L, N, E)).astype(np.float32)
        args = (p["in_proj_weight"], p["in_proj_bias"], p["out_proj.weight"],
                p["out_proj.bias"], heads)

        def sc():
            out, cache = seqcore.multi_head_attention_forward(x, x, x, *args)
            return out, (seqcore.multi_head_attention_backward(cache, dy).d_in_proj_weight
                         if backward else None)

        tx = torch.from_numpy(x.copy())
        tdy = torch.from_numpy(dy)
        if backward:
            tx.requires_grad_(True)

            def ref():
                mod.zero_grad(set_to_none=True)
                tx.grad = None
                o = mod(tx, tx, tx, need_weights=False)[0]
                o.backward(tdy)
                return o.detach(), mod.in_proj_weight.grad
        else:
            def ref():
                with torch.no_grad():
                    return mod(tx, tx, tx, need_weights=False)[0], None

        def error(sc_out, ref_out):
            xs = x[:, :2]
            r = reference.multi_head_attention(xs, xs, xs, *args)
            err = {"y": _maxabs(sc_out[0][:, :2], r)}
            if backward and ref_out is not None:
                err["dw_hh"] = _maxabs(sc_out[1], ref_out[1].numpy())
            return err

        return Bound(sc, ref, error)

    return Case("attention", variant, f"L={L} N={N} E={E} heads={heads}", flops, setup,
                "torch", tuple(suites))


@register("attention", note="flops = 4*B*H*L*L*D forward (halved when causal), x3.5 for "
                            "fwd+bwd; max abs err = max |out - NumPy float64 reference| on a "
                            "slice, after '/' max |grad - torch autograd's|; 'causal vs full' "
                            "rows: speed-up = seqcore non-causal time / seqcore causal time "
                            "(target >= 1.67, i.e. causal <= 0.6x non-causal)")
def _attention_cases():
    q = ("quick",)
    c = [
        _sdpa_case(1, 2, 24, 8, backward=False, causal=False, suites=q),
        _sdpa_case(1, 2, 24, 8, backward=True, causal=True, suites=q),
        _causal_vs_full_case(1, 2, 24, 8, backward=True, suites=q),
        _additive_case(3, 7, 8, 6, suites=q),
        _mha_case(6, 2, 16, 4, backward=True, suites=q),
        _sdpa_case(8, 8, 512, 64, backward=False, causal=False),
        _sdpa_case(8, 8, 512, 64, backward=False, causal=True),
        _sdpa_case(8, 8, 512, 64, backward=True, causal=False),
        _sdpa_case(8, 8, 512, 64, backward=True, causal=True),
        _sdpa_case(4, 8, 2048, 64, backward=True, causal=True),
        _causal_vs_full_case(8, 8, 512, 64, backward=False),
        _causal_vs_full_case(8, 8, 512, 64, backward=True),
        _additive_case(64, 50, 128, 256),
        _mha_case(256, 16, 512, 8, backward=False),
        _mha_case(256, 16, 512, 8, backward=True),
        _sdpa_case(4, 8, 2048, 64, backward=False, causal=True, suites=("full",)),
        _sdpa_case(1, 16, 4096, 64, backward=True, causal=True, suites=("full",)),
    ]
    return [x for x in c if x is not None]

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


# ----------------------------------------------------------------------------- decoding

class _TorchDecoding:
    """The torch references of cached decoding, from the weights of a seqcore Transformer
    with vocabularies: ``nn.Transformer`` with the same state dict, the embeddings (x sqrt(E)
    + the same sinusoidal positions) and the generator as tensors. Two step functions for
    :func:`seqcore.beam_search` / ``greedy_search`` (the search itself is the same C++ state
    machine for all three sides; only the step differs):

    * ``prefix_step``: re-runs ``nn.Transformer``'s decoder on each hypothesis's whole prefix
      with the causal mask (what a torch user writes without a KV cache; pytorch#107573);
    * ``cached_step``: a hand-written key/value cache in torch ops (``F.linear``,
      ``F.scaled_dot_product_attention``, ``F.layer_norm``), one new row per step.
    """

    def __init__(self, torch, model, src, src_lengths, max_length):
        import math

        from seqcore.attention import sinusoidal_positional_encoding

        self.torch, self.F = torch, torch.nn.functional
        E, H = model.d_model, model.nhead
        self.E, self.H, self.Dh = E, H, E // H
        t = torch.nn.Transformer(E, H, len(model.encoder.layers), len(model.decoder.layers),
                                 model.decoder.layers[0].dim_feedforward, dropout=0.0)
        torch_names = set(t.state_dict())
        t.load_state_dict({k: torch.from_numpy(v) for k, v in model.params.items()
                           if k in torch_names})
        self.t = t.eval()
        self.p = {k: torch.from_numpy(v) for k, v in model.params.items()}
        self.scale = math.sqrt(E)
        self.pe = torch.from_numpy(sinusoidal_positional_encoding(max_length + 1, E))
        self.max_length = max_length
        with torch.no_grad():
            src_t = torch.from_numpy(np.asarray(src, np.int64))
            x = self.p["src_embedding.weight"][src_t] * self.scale + self.pe[:src_t.shape[0], None]
            S, N = src_t.shape
            self.pad = torch.from_numpy(np.arange(S)[None, :] >= np.asarray(src_lengths)[:, None])
            self.memory = t.encoder(x, src_key_padding_mask=self.pad)   # [S, N, E]
            self.mem_kv = []
            for layer in t.decoder.layers:
                w, b = layer.multihead_attn.in_proj_weight, layer.multihead_attn.in_proj_bias
                kv = self.F.linear(self.memory, w[E:], b[E:]).reshape(S, N, 2, H, self.Dh)
                self.mem_kv.append(kv.permute(2, 1, 3, 0, 4).contiguous())   # [2, N, H, S, Dh]

    def _logp(self, x):
        return self.F.log_softmax(self.F.linear(x, self.p["generator.weight"],
                                                self.p["generator.bias"]), dim=-1)

    def prefix_step(self, tokens, state, origin):
        torch = self.torch
        with torch.no_grad():
            rows_tokens = torch.from_numpy(np.asarray(tokens, np.int64))[None]
            if state is None:
                rows, prefix = torch.from_numpy(np.asarray(origin)), rows_tokens
            else:
                o = torch.from_numpy(np.asarray(origin))
                rows, prefix = state[0][o], torch.cat([state[1][:, o], rows_tokens])
            T = prefix.shape[0]
            x = self.p["tgt_embedding.weight"][prefix] * self.scale + self.pe[:T, None]
            mask = self.t.generate_square_subsequent_mask(T)
            out = self.t.decoder(x, self.memory[:, rows], tgt_mask=mask, tgt_is_causal=True,
                                 memory_key_padding_mask=self.pad[rows])
            return self._logp(out[-1]).numpy(), (rows, prefix)

    def cached_step(self, tokens, state, origin):
        torch, F, E, H, Dh = self.torch, self.F, self.E, self.H, self.Dh
        with torch.no_grad():
            o = torch.from_numpy(np.asarray(origin))
            M = len(tokens)
            if state is None:
                rows, pos = o, 0
                cache = [(torch.zeros(M, H, self.max_length, Dh),
                          torch.zeros(M, H, self.max_length, Dh)) for _ in self.mem_kv]
            else:
                rows, pos, cache = state[0][o], state[1], [(k[o], v[o]) for k, v in state[2]]
            tok = torch.from_numpy(np.asarray(tokens, np.int64))
            x = self.p["tgt_embedding.weight"][tok] * self.scale + self.pe[pos]
            mem_mask = ~self.pad[rows][:, None, None, :]   # True = may attend
            for layer, (K, V), mkv in zip(self.t.decoder.layers, cache, self.mem_kv):
                sa, ca = layer.self_attn, layer.multihead_attn
                qkv = F.linear(x, sa.in_proj_weight, sa.in_proj_bias)
                K[:, :, pos] = qkv[:, E:2 * E].reshape(M, H, Dh)
                V[:, :, pos] = qkv[:, 2 * E:].reshape(M, H, Dh)
                a = F.scaled_dot_product_attention(qkv[:, :E].reshape(M, H, 1, Dh),
                                                   K[:, :, :pos + 1], V[:, :, :pos + 1])
                a = F.linear(a.reshape(M, E), sa.out_proj.weight, sa.out_proj.bias)
                x = layer.norm1(x + a)
                q = F.linear(x, ca.in_proj_weight[:E], ca.in_proj_bias[:E]).reshape(M, H, 1, Dh)
                a = F.scaled_dot_product_attention(q, mkv[0][rows], mkv[1][rows],
                                                   attn_mask=mem_mask)
                a = F.linear(a.reshape(M, E), ca.out_proj.weight, ca.out_proj.bias)
                x = layer.norm2(x + a)
                x = layer.norm3(x + layer.linear2(F.relu(layer.linear1(x))))
            x = self.t.decoder.norm(x)
            return self._logp(x).numpy(), (rows, pos + 1, cache)


def _decode_case(reference, beam, E, layers, V, S, steps, suites) -> Case:
    def setup() -> Bound:
        torch = require_torch()
        import seqcore

        model = seqcore.Transformer(E, 8, layers, layers, 4 * E, dropout=0.0,
                                    src_vocab_size=V, tgt_vocab_size=V, seed=0).eval()
        r = np.random.default_rng(0)
        src, sl = r.integers(3, V, (S, 1)), np.array([S])
        ref = _TorchDecoding(torch, model, src, sl, steps)
        # every search runs exactly `steps` decoder steps: EOS is forbidden before the last
        opts = dict(max_length=steps, min_length=steps - 1)

        def search(step, init):
            if beam == 1:
                return seqcore.greedy_search(step, 1, model.bos_id, model.eos_id,
                                             init_state=init, **opts)[0]
            return seqcore.beam_search(step, 1, model.bos_id, model.eos_id, init_state=init,
                                       beam_width=beam, **opts)[0][0]

        def ours():
            return search(*model.step_function(src, sl, steps))

        theirs_step = ref.prefix_step if reference == "prefix" else ref.cached_step

        def theirs():
            return search(theirs_step, None)

        def error(a, b):   # the same hypothesis, and its log-prob's difference
            if b is None:
                return {"y": float("nan")}
            same = np.array_equal(a.tokens, b.tokens)
            return {"y": abs(a.log_prob - b.log_prob) if same else float("inf")}

        return Bound(ours, theirs, error)

    name = "greedy" if beam == 1 else f"beam {beam}"
    what = "torch prefix re-run" if reference == "prefix" else "torch KV cache"
    return Case("transformer", f"decode {name}",
                f"{layers}+{layers} layers E={E} V={V} S={S} steps={steps}", 0.0, setup, what,
                tuple(suites), items=steps, unit="tokens")


@register("transformer", note="decode: greedy / beam search of `steps` tokens for one "
                              "sentence, seqcore's cached decoder (Transformer.step_function) "
                              "vs torch re-running nn.Transformer's decoder on the prefix, and "
                              "vs a hand-written torch KV cache; the same C++ search for all")
def _decode_cases() -> List[Case]:
    out = []
    for reference in ("prefix", "cached"):
        for beam in (1, 4):
            out.append(_decode_case(reference, beam, 64, 2, 50, 7, 6, ("quick",)))
            out.append(_decode_case(reference, beam, 512, 6, 8000, 32, 64, ("default", "full")))
    return out

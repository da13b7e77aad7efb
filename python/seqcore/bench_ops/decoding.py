"""``seqcore bench --ops decoding``: corpus BLEU against sacrebleu on real text.

Case: the sentences of gensim's lee_background.cor as references and a noisy copy (10% of
the words dropped) as hypotheses; both metrics tokenize (13a) and score the whole corpus
from scratch on every call (seqcore's tokenizer cache is cleared first). The error column
is ``|BLEU - sacrebleu BLEU|``. Skipped without gensim's corpus (then the standard
library's pydoc topics stand in) or sacrebleu (no reference).
"""
from __future__ import annotations

import random
from typing import List

from seqcore.bench import Bound, Case, _torch, register


def _corpus(n_max: int):
    try:
        from gensim.test.utils import datapath
        with open(datapath("lee_background.cor"), encoding="utf8") as f:
            text = f.read()
    except Exception:   # gensim absent: English prose from the standard library
        from pydoc_data.topics import topics
        text = " ".join(topics.values())
    refs = [s.strip() for s in text.replace("\n", " ").split(". ") if len(s.split()) > 3]
    refs = refs[:n_max]
    rng = random.Random(0)
    hyps = [" ".join(w for w in s.split() if rng.random() > 0.1) for s in refs]
    return hyps, refs


def _bleu_case(n_max: int, suites) -> Case:
    def setup() -> Bound:
        from seqcore import bleu
        hyps, refs = _corpus(n_max)

        def ours():
            bleu.tokenize_13a.cache_clear()
            return bleu.corpus_bleu(hyps, [refs]).score

        reference = None
        try:
            import sacrebleu

            def reference():
                # a fresh metric object each call: no reference cache carried over
                return sacrebleu.metrics.BLEU().corpus_score(hyps, [refs]).score
        except ImportError:
            pass

        def error(a, b):
            return {"y": abs(a - b) if b is not None else None}

        return Bound(ours, reference, error, interleave=True)

    return Case("decoding", "corpus BLEU (13a)", f"segments<={n_max}", 0.0, setup,
                "sacrebleu", tuple(suites))


@register("decoding", note="BLEU rows: max abs err = |BLEU - sacrebleu BLEU| (0..100 scale); "
                           "seq2seq rows: untrained model (sentences of max length), seqcore's "
                           "native beam search vs a Python-loop beam search over torch modules "
                           "with the same weights, max abs err = max |best score difference|")
def _decoding_cases() -> List[Case]:
    return [_bleu_case(50, ("quick",)), _bleu_case(3000, ("default", "full"))]


# --------------------------------------------------------------------------------------
# Seq2Seq beam search: native (whole search in C++) vs a PyTorch Python-loop beam search

def _torch_translator(model, torch):
    """The same model in torch modules and a Python-loop beam search over them (length
    penalty 0, a hypothesis ends at EOS or max_length, best finished one returned)."""
    p = {k: torch.from_numpy(v) for k, v in model.named_parameters()}
    E, H = model.embed_dim, model.hidden_size
    enc = torch.nn.LSTM(E, H, bidirectional=model.bidirectional_encoder)
    enc.load_state_dict({k[len("encoder."):]: v for k, v in p.items()
                         if k.startswith("encoder.")})
    cell = torch.nn.LSTMCell(E + H, H)
    cell.load_state_dict({"weight_ih": p["decoder.weight_ih"], "weight_hh": p["decoder.weight_hh"],
                          "bias_ih": p["decoder.bias_ih"], "bias_hh": p["decoder.bias_hh"]})
    F = torch.nn.functional

    @torch.no_grad()
    def translate(src, beam, max_length):
        src = torch.from_numpy(src)
        Ts, N = src.shape
        keys, (h_n, _) = enc(F.embedding(src, p["src_embedding"]))
        keys = keys.transpose(0, 1)                                        # [N, Ts, De]
        s = torch.tanh(F.linear(torch.cat(list(h_n), 1), p["bridge.weight"], p["bridge.bias"]))
        proj = F.linear(keys, p["attention.w_k"])                          # once per source
        # beams: rows n*beam + k
        rep = lambda t: t.repeat_interleave(beam, 0)
        s, c = rep(s), torch.zeros(N * beam, H)
        ht, keys_r, proj_r = torch.zeros(N * beam, H), rep(keys), rep(proj)
        score = torch.full((N, beam), float("-inf"))
        score[:, 0] = 0.0
        tokens = torch.full((N * beam,), model.bos_id, dtype=torch.long)
        hist = torch.zeros(N * beam, 0, dtype=torch.long)
        best = [None] * N
        for t in range(max_length):
            x = torch.cat([F.embedding(tokens, p["tgt_embedding"]), ht], 1)
            s, c = cell(x, (s, c))
            e = torch.tanh(F.linear(s, p["attention.w_q"])[:, None, :] + proj_r) @ p["attention.v_a"]
            a = torch.softmax(e, 1)
            ctx = (a[:, :, None] * keys_r).sum(1)
            ht = torch.tanh(F.linear(torch.cat([ctx, s], 1), p["combine.weight"], p["combine.bias"]))
            lp = torch.log_softmax(F.linear(ht, p["output.weight"], p["output.bias"]), 1)
            V = lp.shape[1]
            cand = (score.reshape(-1, 1) + lp).reshape(N, beam * V)
            top, idx = cand.topk(beam, 1)
            origin = (idx // V) + torch.arange(N)[:, None] * beam
            tok = idx % V
            for n in range(N):          # hypotheses that end here leave the beam
                for k in range(beam):
                    if tok[n, k] == model.eos_id or t == max_length - 1:
                        sc = float(top[n, k])
                        if best[n] is None or sc > best[n][1]:
                            best[n] = (hist[origin[n, k]].tolist(), sc)
                        top[n, k] = float("-inf")
            score = top
            o = origin.reshape(-1)
            s, c, ht, tokens = s[o], c[o], ht[o], tok.reshape(-1)
            hist = torch.cat([hist[o], tokens[:, None]], 1)
            if all(b is not None and b[1] >= float(score[n].max()) for n, b in enumerate(best)):
                break
        return best

    return translate


def _seq2seq_case(N, H, V, Ts, beam, max_length, suites) -> Case:
    def setup() -> Bound:
        import numpy as np

        from seqcore.seq2seq import Seq2Seq
        model = Seq2Seq(V, V, H, H, attention="additive", cell="lstm", seed=0)
        src = np.random.default_rng(0).integers(3, V, (Ts, N))
        sl = np.full(N, Ts)

        def ours():
            return [b[0] for b in model.translate(src, sl, beam_width=beam,
                                                  max_length=max_length)]

        reference = None
        torch = _torch()
        if torch is not None:
            tr = _torch_translator(model, torch)

            def reference():
                return tr(src, beam, max_length)

        def error(a, b):
            # max |score difference| of the best hypotheses (the two searches use the same
            # rules; float32 sums in different orders can flip near-ties)
            if b is None:
                return {"y": None}
            return {"y": max(abs(h.score - r[1]) for h, r in zip(a, b))}

        return Bound(ours, reference, error)

    return Case("decoding", f"seq2seq beam={beam}", f"N={N} H={H} V={V} Ts={Ts} len={max_length}",
                0.0, setup, "torch loop", tuple(suites), items=N, unit="sentences")


@register("decoding")
def _seq2seq_cases() -> List[Case]:
    return [_seq2seq_case(2, 32, 50, 6, 3, 5, ("quick",)),
            _seq2seq_case(1, 256, 8000, 30, 5, 30, ("default", "full")),
            _seq2seq_case(16, 256, 8000, 30, 5, 30, ("default", "full"))]

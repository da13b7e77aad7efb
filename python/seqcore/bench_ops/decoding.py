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

from seqcore.bench import Bound, Case, register


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


@register("decoding", note="BLEU rows: max abs err = |BLEU - sacrebleu BLEU| (0..100 scale)")
def _decoding_cases() -> List[Case]:
    return [_bleu_case(50, ("quick",)), _bleu_case(3000, ("default", "full"))]

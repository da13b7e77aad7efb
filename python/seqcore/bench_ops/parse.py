"""``seqcore bench --ops parse``: dependency parsing speed on the Turkish treebank's test split
(486 sentences, 8,091 words), one thread, against UDPipe 1 (``ufal.udpipe``, Straka & Straková
2017: MorphoDiTa tagger, Parsito transition parser) trained on the same split
(:mod:`seqcore.bench_ops.udpipe_anchor`; cached in the user cache folder, ~25 min to train).

* ``greedy``: :class:`seqcore.parsing.Parser` as ``seqcore demo parse`` builds it (form,
  suffix, UPOS, XPOS and FEATS of 18 positions and 12 labels, hidden 256), greedy, on the gold
  tags; UDPipe's parser on the gold tags (its tagger off).
* ``beam 8``: the same parser with a beam of 8 (summed raw scores: the globally normalised
  model's decoding); against the same UDPipe run (Parsito decodes greedily).
* ``tag + greedy``: :class:`seqcore.parsing.Tagger` (biLSTM) then the greedy parser, on the
  forms only; UDPipe's tagger and parser.

Each side goes from its own input (sentence objects / CoNLL-U text) to its own output. The
speed of a parse does not depend on the weights, so the seqcore models have their trained
vocabularies and untrained weights (UDPipe's must be trained: without its cached model the
reference is not run). The throughput column is words per second.
"""
from __future__ import annotations

from typing import Any, List

from seqcore.bench import Bound, Case, SkipCase, one_thread, register

BEAM = 8


def _setup(kind: str) -> Bound:
    try:
        from seqcore.datasets import DatasetError, turkish_treebank
        tb = turkish_treebank()
    except (ImportError, DatasetError) as err:
        raise SkipCase(f"the Turkish treebank is not available ({err})") from None
    from seqcore.demo.parse import _ATTRIBUTES
    from seqcore.parsing import Parser, Tagger
    test = tb.test
    parser = Parser(_ATTRIBUTES).fit(tb.train, epochs=0, progress=False)
    tagger = Tagger(columns=("upos", "xpos", "feats")).fit(tb.train, epochs=0, progress=False)
    parser.predict(test[:2])          # the pre-computed hidden layer is built once, untimed

    if kind == "tag + greedy":
        def ours() -> Any:
            return parser.predict(test, tags=tagger.predict(test))
    else:
        K = BEAM if kind == f"beam {BEAM}" else 1

        def ours() -> Any:
            return parser.predict(test, K, global_scores=K > 1)

    reference = None
    try:
        from seqcore.bench_ops import udpipe_anchor as ua
        path = ua.udpipe_model_path(tb)
        if path.is_file():
            model = ua.udpipe_model(tb, progress=False)
            text = ua._input_text(test)     # gold columns but HEAD / DEPREL / DEPS
            pipeline = ua.udpipe_pipeline(model, kind == "tag + greedy")

            def reference(model=model) -> Any:   # the pipeline holds a raw pointer to it
                return ua.udpipe_process(pipeline, text)
    except ImportError:
        pass
    return Bound(one_thread(ours), None if reference is None else one_thread(reference),
                 lambda a, b: {"y": float("nan")}, interleave=False)


def _case(kind: str) -> Case:
    return Case("parse", f"{kind} (1 thread)", "test 486 sent., 8,091 words", 0.0,
                lambda: _setup(kind), "udpipe 1", ("default", "full"), items=8091.0,
                unit="words")


@register("parse", note="dependency parsing of the Turkish test split on one thread: "
                        "seqcore.parsing (greedy, beam 8, biLSTM tagger + greedy) vs UDPipe 1 "
                        "trained on the same split (parse only on gold tags; tag + parse); "
                        "the rate column is words/s")
def _parse_cases() -> List[Case]:
    return [_case("greedy"), _case(f"beam {BEAM}"), _case("tag + greedy")]

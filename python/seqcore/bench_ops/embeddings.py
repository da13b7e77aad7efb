"""``seqcore bench --ops glove``: word-vector search and GloVe kernels.

Cases:
* ``most_similar`` (top 10 by cosine over V random word vectors [V, D], float32):
  :meth:`seqcore.KeyedVectors.most_similar` (C++ blocked GEMV + partial selection) against
  gensim's ``KeyedVectors.most_similar`` on the same vectors (normalised once, untimed, on
  both sides). FLOPs 2 V D. Error: max |similarity - gensim's| over the returned top 10.
* ``analogies batch`` (top 8 for Q queries at once, the batched search of
  ``evaluate_word_analogies``): one ``_core.top_k_dot`` call against NumPy (one GEMM and
  ``argpartition``). FLOPs 2 Q V D. Error: max |score - NumPy's|.
* ``cooccur`` and ``epoch``: GloVe co-occurrence counting (window 10) and one AdaGrad epoch
  (D=50) on gensim's lee_background.cor (simple_preprocess, min_count 5); no reference
  (gensim has no GloVe). Skipped without gensim's corpus.
"""
from __future__ import annotations

from typing import List

import numpy as np

from seqcore.bench import Bound, Case, register


def _most_similar_case(V, D, suites) -> Case:
    def setup() -> Bound:
        from seqcore import KeyedVectors
        rng = np.random.default_rng(0)
        keys = [f"w{i}" for i in range(V)]
        vectors = rng.standard_normal((V, D)).astype(np.float32)
        ours = KeyedVectors(keys, vectors)
        ours.fill_norms()

        def run():
            return ours.most_similar("w7", topn=10)

        reference = None
        try:
            from gensim.models import KeyedVectors as GensimKV
            ref = GensimKV(D)
            ref.add_vectors(keys, vectors)
            ref.fill_norms()

            def reference():
                return ref.most_similar("w7", topn=10)
        except ImportError:
            pass

        def error(a, b):
            if b is None:
                return {"y": None}
            sb = dict(b)
            return {"y": max(abs(s - sb[k]) if k in sb else 1.0 for k, s in a)}

        return Bound(run, reference, error, interleave=False)

    return Case("glove", "most_similar top10", f"V={V} D={D}", 2.0 * V * D, setup,
                "gensim" if _has_gensim() else "-", tuple(suites))


def _batch_case(V, D, Q, suites) -> Case:
    def setup() -> Bound:
        from seqcore import _core
        rng = np.random.default_rng(1)
        vectors = rng.standard_normal((V, D)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        queries = vectors[rng.integers(0, V, Q)] + 0.1 * rng.standard_normal((Q, D)).astype(
            np.float32)

        def run():
            return _core.top_k_dot(vectors, queries, 8)

        def reference():
            s = queries @ vectors.T
            part = np.argpartition(-s, 7, axis=1)[:, :8]
            vals = np.take_along_axis(s, part, axis=1)
            order = np.argsort(-vals, axis=1, kind="stable")
            return (np.take_along_axis(part, order, axis=1),
                    np.take_along_axis(vals, order, axis=1))

        def error(a, b):
            return {"y": float(np.max(np.abs(a[1] - b[1]))) if b is not None else None}

        return Bound(run, reference, error, interleave=False)

    return Case("glove", "analogies batch top8", f"Q={Q} V={V} D={D}", 2.0 * Q * V * D, setup,
                "numpy", tuple(suites))


def _has_gensim():
    try:
        import gensim  # noqa: F401
        return True
    except ImportError:
        return False


def _lee_corpus():
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess
    with open(datapath("lee_background.cor"), encoding="utf8") as f:
        return [simple_preprocess(line) for line in f]


def _glove_cases(suites) -> List[Case]:
    def setup_cooccur() -> Bound:
        from seqcore import _core
        from seqcore.corpus import build_vocab
        sentences = _lee_corpus()
        vocab = build_vocab(sentences, min_count=5)
        enc = vocab.encode(sentences)
        return Bound(lambda: _core.glove_cooccur(enc.tokens, enc.offsets, len(vocab), 10))

    def setup_epoch() -> Bound:
        from seqcore import _core
        from seqcore.corpus import build_vocab
        sentences = _lee_corpus()
        vocab = build_vocab(sentences, min_count=5)
        enc = vocab.encode(sentences)
        row, col, value = _core.glove_cooccur(enc.tokens, enc.offsets, len(vocab), 10)
        V, D = len(vocab), 50
        params = ((np.random.default_rng(0).random((2 * V, D + 1)) - 0.5) / D).astype(
            np.float32)
        gradsq = np.ones_like(params)
        log_x, weight = np.log(value), np.minimum(1.0, (value / 10.0) ** 0.75)
        state = {"epoch": 0}

        def run():
            state["epoch"] += 1
            return _core.glove_epoch(row, col, log_x, weight, params, gradsq, 0.05, 1,
                                     state["epoch"], 1)
        return Bound(run)

    return [Case("glove", "cooccur window=10", "lee_background", 0.0, setup_cooccur, "-",
                 tuple(suites)),
            Case("glove", "AdaGrad epoch", "lee_background D=50", 0.0, setup_epoch, "-",
                 tuple(suites))]


@register("glove", note="glove rows: most_similar error = max |cos - gensim's cos| over the "
                        "top 10; analogies batch error = max |score - NumPy's|")
def _embedding_cases() -> List[Case]:
    cases = [_most_similar_case(2000, 16, ("quick",)),
             _most_similar_case(100_000, 100, ("default", "full")),
             _batch_case(1000, 16, 20, ("quick",)),
             _batch_case(30_000, 300, 200, ("default", "full"))]
    if _has_gensim():
        cases += _glove_cases(("default", "full"))
    return cases

"""Word2Vec word vectors trained with seqcore on real text.

Trains :class:`seqcore.Word2Vec` (skip-gram with negative sampling by default) on gensim's
``lee_background.cor`` (Lee news corpus, 58k tokens, through ``simple_preprocess``) or any
UTF-8 text file with ``--text`` (one sentence per line), prints the loss of each epoch, the
nearest neighbours of a few words, analogies (3CosAdd) from gensim's questions-words.txt
and the WS353 Spearman correlation when gensim's test data is installed, draws a 2-D
projection of selected words (PCA; t-SNE with ``--tsne`` when scikit-learn is installed)
to a PNG, and writes the vectors in word2vec.c's text format; when gensim is installed the
file is loaded back with ``gensim.models.KeyedVectors.load_word2vec_format`` as a check.

Run: ``seqcore demo word2vec`` (a few seconds on 2 cores), ``--quick`` (about a second), or
``python -m seqcore.demo.word2vec``.
"""
from __future__ import annotations

import os
import tempfile

import numpy as np

__all__ = ["add_arguments", "run", "main"]

_PROBES = ("government", "police", "fire", "palestinian", "australia", "taliban")
_PLOT_WORDS = ("israel", "israeli", "palestinian", "arafat", "gaza", "afghanistan", "taliban",
               "bin", "laden", "fire", "fires", "firefighters", "sydney", "police",
               "government", "minister", "australia", "australian", "president", "bush")


def _datapath(name):
    try:
        from gensim.test.utils import datapath
    except ImportError:
        return None
    path = datapath(name)
    return path if os.path.isfile(path) else None


def load_sentences(text=None):
    """Sentences (lists of lowercase tokens) of ``text`` or of lee_background.cor."""
    path = text or _datapath("lee_background.cor")
    if path is None:
        raise SystemExit("no corpus: install gensim (for its test data) or pass --text FILE")
    try:
        from gensim.utils import simple_preprocess
    except ImportError:
        import re

        def simple_preprocess(line):
            return [t for t in re.findall(r"[a-z]+", line.lower()) if 2 <= len(t) <= 15]
    with open(path, encoding="utf8") as f:
        return [simple_preprocess(line) for line in f]


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    parser.add_argument("--text", default=None, help="UTF-8 corpus, one sentence per line "
                        "(default: gensim's lee_background.cor)")
    parser.add_argument("--quick", action="store_true", help="small, fast settings")
    parser.add_argument("--epochs", type=int, default=None, help="default 20 (quick: 10)")
    parser.add_argument("--vector-size", type=int, default=None, help="default 100 (quick: 32)")
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--cbow", action="store_true", help="CBOW instead of skip-gram")
    parser.add_argument("--hs", action="store_true", help="hierarchical softmax instead of "
                        "negative sampling")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--tsne", action="store_true", help="t-SNE (scikit-learn) plot")
    parser.add_argument("--out", default=None, help="output folder (default: a temporary one)")
    parser.add_argument("--no-progress", action="store_true")


def _project(vectors, tsne):
    if tsne:
        try:
            from sklearn.manifold import TSNE
            return TSNE(n_components=2, perplexity=min(5, len(vectors) - 1),
                        random_state=0).fit_transform(vectors), "t-SNE"
        except ImportError:
            pass
    centred = vectors - vectors.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    return centred @ vt[:2].T, "PCA"


def _plot(words, points, method, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.scatter(points[:, 0], points[:, 1], s=12)
    for w, (x, y) in zip(words, points):
        ax.annotate(w, (x, y), fontsize=9, xytext=(3, 3), textcoords="offset points")
    ax.set_title(f"seqcore Word2Vec: {method} of selected words")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(args):
    """Train, report, plot and save; returns a dict of the results."""
    from .. import Word2Vec
    epochs = args.epochs or (10 if args.quick else 20)
    size = args.vector_size or (32 if args.quick else 100)
    sentences = load_sentences(args.text)
    model = Word2Vec(sentences, vector_size=size, window=args.window, min_count=args.min_count,
                     sg=0 if args.cbow else 1, hs=int(args.hs), negative=0 if args.hs else 5,
                     epochs=epochs, workers=args.workers, seed=args.seed,
                     progress=not args.no_progress)
    kv = model.wv
    print(f"{len(kv)} words, {model.corpus_total_words} tokens, {epochs} epochs, "
          f"{model.train_words_per_second or 0:,.0f} words/s")
    for e, loss in enumerate(model.loss, 1):
        print(f"epoch {e}: loss {loss:.4g}")
    neighbours = {}
    for w in _PROBES:
        if w in kv:
            neighbours[w] = kv.most_similar(w, topn=6)
            print(f"{w:12} " + ", ".join(f"{k} ({s:.2f})" for k, s in neighbours[w]))
    result = dict(model=model, loss=list(model.loss), neighbours=neighbours)
    analogies = _datapath("questions-words.txt")
    try:  # ValueError when no question / pair is in the vocabulary (a small own corpus)
        if analogies:
            score, _ = kv.evaluate_word_analogies(analogies)
            result["analogy_accuracy"] = score
            print(f"analogies (questions-words.txt, in-vocabulary questions): {score:.3f}")
        ws = _datapath("wordsim353.tsv")
        if ws:
            result["ws353_spearman"] = float(kv.evaluate_word_pairs(ws)[1][0])
            print(f"WS353 Spearman: {result['ws353_spearman']:.3f}")
    except ValueError as err:
        print(f"evaluation skipped: {err}")
    out = args.out or tempfile.mkdtemp(prefix="seqcore-word2vec-")
    os.makedirs(out, exist_ok=True)
    words = [w for w in _PLOT_WORDS if w in kv]
    if len(words) >= 3:
        points, method = _project(kv[words], args.tsne)
        result["plot"] = _plot(words, points, method, os.path.join(out, "projection.png"))
        if result["plot"]:
            print(f"{method} plot: {result['plot']}")
    path = os.path.join(out, "vectors.txt")
    kv.save_word2vec_format(path)
    result["vectors"] = path
    print(f"vectors (word2vec text format): {path}")
    try:
        from gensim.models import KeyedVectors
        loaded = KeyedVectors.load_word2vec_format(path)
        result["gensim_loaded"] = len(loaded) == len(kv)
        print(f"gensim loads them: {len(loaded)} vectors of size {loaded.vector_size}")
    except ImportError:
        pass
    return result


def main(argv=None) -> int:
    """``python -m seqcore.demo.word2vec``: the same as ``seqcore demo word2vec``."""
    from . import run_demo
    return run_demo("word2vec", argv)


if __name__ == "__main__":
    raise SystemExit(main())

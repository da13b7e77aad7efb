"""``seqcore bench --ops word2vec``: Word2Vec training, seqcore against gensim.

Each case trains seqcore's :class:`seqcore.Word2Vec` and ``gensim.models.Word2Vec`` with
the same corpus (gensim's head500.noblanks.cor, 331k tokens of stemmed Wikipedia, one
sentence per line; the quick cases: the first 60 lines of lee_background.cor through
``simple_preprocess``, where WS353 is noise) and hyperparameters (window 5, min_count 5, sample 1e-3, seed 1, 2
workers, Hogwild on both sides) for sg/cbow x negative sampling (K=5)/hierarchical softmax,
and seqcore's minibatched shared-negative skip-gram kernel (``sg-ns shared``) against
gensim's sg-ns.
A timed call is one ``train()`` of ``epochs`` passes from the same initial weights (the
vocabulary scan is untimed on both sides); its output is the model.

Columns, for this family: ``GFLOP/s`` holds seqcore's training speed in M words/s (raw
corpus tokens x epochs / time, gensim's definition), ``speed-up`` the ratio of words/s, and
``max abs err`` |Spearman(seqcore) - Spearman(gensim)| on WS353 (wordsim353.tsv, gensim's
``evaluate_word_pairs``); both Spearman values are printed to stderr. Without gensim
there is no case.

``python -m seqcore.bench_ops.word2vec [--quick]`` prints the same comparison as one table
with words/s, both Spearman values side by side and the peak resident memory each train()
call adds (sampled from /proc/self/statm).
"""
from __future__ import annotations

import sys
import time
from typing import List

import numpy as np

from seqcore.bench import Bound, Case, register

# name, sg, hs, shared negatives (seqcore's minibatched kernel; gensim runs per-pair)
VARIANTS = (("sg-ns", 1, 0, False), ("sg-ns shared", 1, 0, True), ("cbow-ns", 0, 0, False),
            ("sg-hs", 1, 1, False), ("cbow-hs", 0, 1, False))


def _has_gensim():
    try:
        import gensim  # noqa: F401
        return True
    except ImportError:
        return False


def _corpus(quick):
    from gensim.test.utils import datapath
    if quick:
        from gensim.utils import simple_preprocess
        with open(datapath("lee_background.cor"), encoding="utf8") as f:
            return [simple_preprocess(line) for line in f.readlines()[:60]]
    with open(datapath("head500.noblanks.cor"), encoding="utf8") as f:
        return [line.split() for line in f]


def _settings(sg, hs, quick):
    return dict(vector_size=16 if quick else 100, window=5, min_count=5, sample=1e-3, sg=sg,
                hs=hs, negative=0 if hs else 5, seed=1, workers=2)


def spearman(kv):
    from gensim.test.utils import datapath
    return float(kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0])


class Trainers:
    """Both models with their vocabularies built; ``ours()`` / ``gensim()`` train them from
    the same initial weights and return the model."""

    def __init__(self, sg, hs, epochs, quick, shared=False):
        import gensim
        from seqcore import Word2Vec
        self.sentences = _corpus(quick)
        self.epochs = epochs
        kw = _settings(sg, hs, quick)
        self.words = sum(map(len, self.sentences)) * epochs
        self.ref = gensim.models.Word2Vec(**kw, epochs=epochs)
        self.ref.build_vocab(self.sentences)
        self.ref_init = self.ref.wv.vectors.copy()
        self.model = Word2Vec(**kw, epochs=epochs, progress=False, shared_negatives=shared)
        self.model.build_vocab(self.sentences)
        self.init = self.model.wv.vectors.copy()

    def ours(self):
        m = self.model
        m.wv.vectors[:] = self.init
        for w in (m.syn1, m.syn1neg):
            if w is not None:
                w[:] = 0
        m.loss, m.epochs_trained = [], 0
        m.train(self.sentences, epochs=self.epochs)
        return m

    def gensim(self):
        g = self.ref
        g.wv.vectors[:] = self.ref_init
        for name in ("syn1", "syn1neg"):
            if hasattr(g, name):
                getattr(g, name)[:] = 0
        g.train(self.sentences, total_examples=g.corpus_count, epochs=self.epochs)
        return g


def _case(name, sg, hs, shared, epochs, quick, suites) -> Case:
    label = "lee_background[:60]" if quick else "head500.noblanks"
    shape = f"{label} D={16 if quick else 100} window=5 epochs={epochs}"

    def setup() -> Bound:
        t = Trainers(sg, hs, epochs, quick, shared)

        def error(a, b):
            sa = spearman(a.wv)
            sb = spearman(b.wv) if b is not None else float("nan")
            print(f"word2vec {name}: WS353 Spearman seqcore {sa:.4f}, gensim {sb:.4f}",
                  file=sys.stderr)
            return {"y": abs(sa - sb) if b is not None else None}

        return Bound(t.ours, t.gensim, error)

    # flops = words * 1e3, so the GFLOP/s column reads M words/s
    words = sum(map(len, _corpus(quick))) * epochs if _has_gensim() else 0
    return Case("word2vec", name, shape, words * 1e3, setup, "gensim", tuple(suites))


@register("word2vec", note="word2vec rows: GFLOP/s column = seqcore M words/s (tokens x epochs "
                           "/ s); speed-up = words/s ratio vs gensim 4 (same corpus, settings, "
                           "2 workers); max abs err = |WS353 Spearman - gensim's| (values on "
                           "stderr)")
def _word2vec_cases() -> List[Case]:
    if not _has_gensim():
        return []
    cases = [_case(n, sg, hs, sh, 1, True, ("quick",)) for n, sg, hs, sh in VARIANTS]
    cases += [_case(n, sg, hs, sh, 5, False, ("default", "full")) for n, sg, hs, sh in VARIANTS]
    return cases


class PeakRSS:
    """Peak resident memory above the level at entry, sampled every 2 ms from
    /proc/self/statm (Linux; None elsewhere), in MiB."""

    def __enter__(self):
        import threading
        self.page = 4096
        self.base = self._rss()
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _rss(self):
        try:
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * self.page
        except OSError:
            return None

    def _run(self):
        while not self._stop.wait(0.002):
            r = self._rss()
            if r is not None and r > self.peak:
                self.peak = r

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        r = self._rss()
        if r is not None and self.peak is not None:
            self.peak = max(self.peak, r)
        self.mib = None if self.base is None else (self.peak - self.base) / 2**20


def compare(quick=False, epochs=None):
    """Train both libraries once per variant; returns rows of (variant, seqcore words/s,
    gensim words/s, speed-up, seqcore Spearman, gensim Spearman, seqcore peak MiB, gensim
    peak MiB). Peak memory: resident memory above the level before the train() call (the
    weights and vocabulary already exist on both sides; seqcore's includes its int32 encoded
    corpus)."""
    epochs = epochs or (1 if quick else 5)
    rows = []
    for name, sg, hs, shared in VARIANTS:
        t = Trainers(sg, hs, epochs, quick, shared)
        with PeakRSS() as mem_ours:
            t0 = time.perf_counter()
            m = t.ours()
            ours = t.words / (time.perf_counter() - t0)
        with PeakRSS() as mem_ref:
            t0 = time.perf_counter()
            g = t.gensim()
            ref = t.words / (time.perf_counter() - t0)
        rows.append((name, ours, ref, ours / ref, spearman(m.wv), spearman(g.wv),
                     mem_ours.mib, mem_ref.mib))
    return rows


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=None)
    args = p.parse_args(argv)
    print(f"{'variant':12} {'seqcore w/s':>12} {'gensim w/s':>12} {'speed-up':>9} "
          f"{'WS353 seqcore':>14} {'WS353 gensim':>13} {'peak MiB seqcore':>17} "
          f"{'peak MiB gensim':>16}")
    for name, a, b, s, sa, sb, ma, mb in compare(args.quick, args.epochs):
        print(f"{name:12} {a:12,.0f} {b:12,.0f} {s:8.2f}x {sa:14.4f} {sb:13.4f} "
              f"{ma if ma is not None else float('nan'):17.1f} "
              f"{mb if mb is not None else float('nan'):16.1f}")


if __name__ == "__main__":
    main()

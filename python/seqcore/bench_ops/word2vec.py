"""``seqcore bench --ops word2vec``: Word2Vec training, seqcore against gensim.

Each case trains seqcore's :class:`seqcore.Word2Vec` and ``gensim.models.Word2Vec`` with
the same corpus (gensim's head500.noblanks.cor, 331k tokens of stemmed Wikipedia, one
sentence per line; the quick cases: the first 60 lines of lee_background.cor through
``simple_preprocess``, where WS353 is noise) and hyperparameters (window 5, min_count 5,
sample 1e-3, 2 workers, Hogwild on both sides, no training loss: ``compute_loss=False``,
gensim's default, given to both, as seqcore's default computes it) for sg/cbow x negative
sampling (K=5) / hierarchical softmax, and seqcore's minibatched shared-negative skip-gram
kernel (``sg-ns shared``) against gensim's sg-ns. A timed call is one ``train()`` of ``epochs`` passes from
the same initial weights (seed 1; the vocabulary scan is untimed on both sides). The
``score`` cases time :meth:`seqcore.Word2Vec.score` against gensim's ``score`` (sentence
log-probabilities, Taddy 2015) on one hs model trained by gensim.

gensim's reference is the faster of its two input modes: the in-memory iterable of
sentences (one producer thread batches them for the workers) and ``corpus_file`` (the case's
corpus written once, a sentence a line, to a temporary file removed with the case; each
worker reads its own byte range of it: gensim's multi-worker fast path). Both models have the
vocabulary scanned from their own input (the same words, counts and so initial weights). The
case's setup trains each mode twice, in turn, and keeps the faster (best time) as the timed
reference; stderr says which, e.g. ``word2vec sg-ns: gensim reference = corpus_file (1,234 ms)
vs iterable (2,345 ms)``. corpus_file mode counts the words it trained itself, and its workers
stop near, not at, their range ends (a few lines trained twice or not at all: gensim issues
#2693, #2757): the reference's words/s is the corpus's tokens x epochs / time in both modes.

References are timed without ``OPENBLAS_CORETYPE`` / ``OPENBLAS_L2_SIZE``: they slow the
OpenBLAS that gensim's Cython loops call for every dot / axpy, and OpenBLAS reads them when it
is loaded, so ``seqcore bench`` started with one set re-executes itself without them and
says so on stderr and in the footer (:mod:`seqcore.bench`, "Environment");
``python -m seqcore.bench_ops.word2vec`` does not.

Reported per case:

* speed: the footer line ``word2vec <variant> ...: N words/s (reference M)`` (raw corpus
  tokens x epochs / time, gensim's definition); ``speed-up`` is the ratio. The ``GFLOP/s``
  column holds seqcore's M words/s.
* quality, on stderr: the WS353 Spearman (wordsim353.tsv, gensim's ``evaluate_word_pairs``)
  of ``SEQCORE_W2V_SEEDS`` seeds (default 5, 2 with ``--quick``) for each library (the
  seed-1 models trained in the case and freshly trained others; gensim's all in its iterable
  mode, which trains every sentence once), mean and standard error, and the delta
  of the means with its standard error and whether it is within the issue's 0.01 (of
  20-seed means). One head500 run scatters by about +-0.02 with the seed (and gensim's
  Hogwild timing), so a single pair of runs cannot tell a 0.01 difference; 5 seeds give a
  delta s.e. of about 0.012, 20 seeds about 0.006. ``max abs err`` = |delta of the means|.
* memory, on stderr (not with ``--quick``): the peak resident memory that constructing and
  training a model (``build_vocab`` + one epoch) adds to a process that holds the corpus,
  measured for each library in a fresh subprocess (Linux: VmHWM after resetting it through
  /proc/self/clear_refs; elsewhere nothing), next to the issue's bound for seqcore: the
  weight matrices + the int32 corpus + its offsets + O(V) + a fixed per-thread scratch
  (:func:`memory_bound`).

``python -m seqcore.bench_ops.word2vec [--quick] [--seeds N]`` prints the same comparison as
one table; ``--quality-only --corpus head500|lee300k --seeds 20`` only the WS353 lines, on
either corpus (lee300k: lee_background.cor repeated to >= 300k tokens). Without gensim there
is no case.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Sequence, Tuple

import numpy as np

from seqcore.bench import Bound, Case, register

# name, sg, hs, shared negatives (seqcore's minibatched kernel; gensim runs per-pair)
VARIANTS = (("sg-ns", 1, 0, False), ("sg-ns shared", 1, 0, True), ("cbow-ns", 0, 0, False),
            ("sg-hs", 1, 1, False), ("cbow-hs", 0, 1, False))

#: the issue's quality criterion: seqcore's WS353 Spearman >= gensim's - TOLERANCE
TOLERANCE = 0.01

#: bytes per vocabulary word allowed by :func:`memory_bound` (keys, hash maps, counts, keep
#: probabilities, alias tables, Huffman paths; measured ~300 here)
BYTES_PER_WORD = 1024
#: per-thread scratch allowed by :func:`memory_bound` (thread stack pages, the kernel's
#: buffers of O(D (window + K) + sentence piece))
SCRATCH_PER_THREAD = 2 << 20


def _has_gensim():
    try:
        import gensim  # noqa: F401
        return True
    except ImportError:
        return False


#: corpora of the quality comparison: gensim's head500.noblanks.cor (331,339 tokens, 250
#: lines) and lee_background.cor through ``simple_preprocess`` repeated to >= 300k tokens
#: (6 x 58,152 = 348,912 tokens, 1,800 lines)
CORPORA = ("head500", "lee300k")


def _corpus(quick, corpus="head500"):
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess
    if quick or corpus == "lee300k":
        with open(datapath("lee_background.cor"), encoding="utf8") as f:
            lee = [simple_preprocess(line) for line in f]
        return lee[:60] if quick else lee * -(-300_000 // sum(map(len, lee)))
    with open(datapath("head500.noblanks.cor"), encoding="utf8") as f:
        return [line.split() for line in f]


def _settings(sg, hs, quick, seed=1):
    return dict(vector_size=16 if quick else 100, window=5, min_count=5, sample=1e-3, sg=sg,
                hs=hs, negative=0 if hs else 5, seed=seed, workers=2, compute_loss=False)


def _seeds(quick):
    return int(os.environ.get("SEQCORE_W2V_SEEDS", 2 if quick else 5))


def spearman(kv):
    from gensim.test.utils import datapath
    return float(kv.evaluate_word_pairs(datapath("wordsim353.tsv"))[1][0])


def _train(lib, sentences, sg, hs, shared, epochs, quick, seed):
    kw = _settings(sg, hs, quick, seed)
    if lib == "gensim":
        import gensim
        return gensim.models.Word2Vec(sentences, **kw, epochs=epochs)
    from seqcore import Word2Vec
    return Word2Vec(sentences, **kw, epochs=epochs, progress=False, shared_negatives=shared)


def write_corpus_file(sentences: Sequence[Sequence[str]], path: str) -> str:
    """Write ``sentences`` to ``path`` as gensim's ``corpus_file`` / ``LineSentence`` reads
    them: UTF-8, a sentence a line, its tokens separated by one space (tokens hold no
    whitespace). Returns ``path``."""
    with open(path, "w", encoding="utf8") as f:
        f.writelines(" ".join(s) + "\n" for s in sentences)
    return path


def faster_mode(name: str, seconds: Dict[str, float]) -> Tuple[str, str]:
    """``(mode, line)``: the mode of ``seconds`` (mode: best time) with the least time, and
    the stderr line that reports the choice, fastest first."""
    modes = sorted(seconds, key=seconds.__getitem__)
    times = [f"{m} ({seconds[m] * 1e3:,.0f} ms)" for m in modes]
    return modes[0], f"word2vec {name}: gensim reference = {' vs '.join(times)}"


class _GensimRun:
    """A gensim model fed in one mode, ``corpus_iterable=`` (lists of tokens) or
    ``corpus_file=`` (a path), its vocabulary scanned from that input; calling it trains
    the model from its initial weights (seed 1) and returns it."""

    def __init__(self, kw, epochs, **source):
        import gensim
        self.model = g = gensim.models.Word2Vec(**kw, epochs=epochs)
        g.build_vocab(**source)
        self.init = g.wv.vectors.copy()
        # gensim's own usage of each mode: the iterable's learning rate decays over the
        # sentence count; corpus_file mode requires the word count (each worker stops after
        # its share of it, and its learning rate decays over it)
        total = (dict(total_examples=g.corpus_count) if "corpus_iterable" in source
                 else dict(total_words=g.corpus_total_words))
        self.train_kw = dict(source, epochs=epochs, **total)

    def __call__(self):
        g = self.model
        g.wv.vectors[:] = self.init
        for name in ("syn1", "syn1neg"):
            if hasattr(g, name):
                getattr(g, name)[:] = 0
        g.train(**self.train_kw)
        return g


class Trainers:
    """Both libraries' models with their vocabularies built; ``ours()`` / ``gensim()`` train
    them from the same initial weights (seed 1) and return the model. gensim has one model
    per input mode (:attr:`refs`: ``"iterable"``, ``"corpus_file"``); ``gensim()`` trains
    the one of :attr:`mode`, the iterable until :meth:`choose_reference` times both. The
    corpus file lives in a temporary directory removed with this object."""

    def __init__(self, sg, hs, epochs, quick, shared=False):
        from seqcore import Word2Vec
        self.sentences = _corpus(quick)
        self.epochs = epochs
        kw = _settings(sg, hs, quick)
        self.words = sum(map(len, self.sentences)) * epochs
        self._tmp = tempfile.TemporaryDirectory(prefix="seqcore-w2v-")
        path = write_corpus_file(self.sentences, os.path.join(self._tmp.name, "corpus.txt"))
        self.refs = {"iterable": _GensimRun(kw, epochs, corpus_iterable=self.sentences),
                     "corpus_file": _GensimRun(kw, epochs, corpus_file=path)}
        self.mode = "iterable"
        # the same vocabulary (order included) gives both modes the same initial weights
        wvs = [r.model.wv for r in self.refs.values()]
        if wvs[0].index_to_key != wvs[1].index_to_key:
            raise RuntimeError("gensim's corpus_file vocabulary differs from the iterable's")
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
        m.train(self.sentences, total_examples=m.corpus_count, epochs=self.epochs)
        return m

    def gensim(self):
        return self.refs[self.mode]()

    def choose_reference(self, name, repeat=2):
        """Train gensim ``repeat`` times in each mode, in turn (so that a slow spell of the
        machine hits both), make the faster (best time) :attr:`mode` and return the line
        that says so (:func:`faster_mode`)."""
        best = dict.fromkeys(self.refs, math.inf)
        for _ in range(repeat):
            for mode, run in self.refs.items():
                t0 = time.perf_counter()
                run()
                best[mode] = min(best[mode], time.perf_counter() - t0)
        self.mode, line = faster_mode(name, best)
        return line


# ---- quality over seeds --------------------------------------------------------------------

# gensim's Spearman values per (sg, hs, epochs, quick): the shared-negative case compares
# with the same gensim sg-ns runs as the sg-ns case
_GENSIM_SCORES: Dict[tuple, float] = {}


def quality(sg, hs, shared, epochs, quick, seeds, first=(None, None), corpus="head500"):
    """WS353 Spearman of ``seeds`` seeds (1, 2, ...) for seqcore and gensim on ``corpus``
    (:data:`CORPORA`): a dict with the lists ``seqcore`` and ``gensim``. ``first``: already
    trained seed-1 models (or None); gensim's are trained from the iterable (corpus_file mode
    may skip or repeat a few lines, gensim #2693), so that all its seeds are one algorithm."""
    sentences = _corpus(quick, corpus)
    ours = [spearman(first[0].wv)] if first[0] is not None else []
    key = (sg, hs, epochs, quick, corpus)
    ref = _GENSIM_SCORES.setdefault(key, [])
    if not ref and first[1] is not None:
        ref.append(spearman(first[1].wv))
    for seed in range(len(ours) + 1, seeds + 1):
        ours.append(spearman(_train("seqcore", sentences, sg, hs, shared, epochs, quick,
                                    seed).wv))
    for seed in range(len(ref) + 1, seeds + 1):
        ref.append(spearman(_train("gensim", sentences, sg, hs, False, epochs, quick,
                                   seed).wv))
    return {"seqcore": ours, "gensim": ref[:seeds]}


def _mean_se(xs):
    xs = np.asarray(xs, np.float64)
    se = xs.std(ddof=1) / math.sqrt(len(xs)) if len(xs) > 1 else float("nan")
    return float(xs.mean()), float(se)


def quality_summary(name, q):
    """(one line, delta of the means). The verdict is on the delta of the means; it is
    called undecided while -TOLERANCE lies within 2 standard errors of the delta (more
    seeds, SEQCORE_W2V_SEEDS, narrow the interval)."""
    (ma, sa), (mb, sb) = _mean_se(q["seqcore"]), _mean_se(q["gensim"])
    delta, se = ma - mb, math.hypot(sa, sb)
    verdict = "within" if delta >= -TOLERANCE else "NOT within"
    decided = "" if abs(delta + TOLERANCE) >= 2 * se else \
        f" (undecided at 2 s.e. with {len(q['seqcore'])} seeds)"
    return (f"word2vec {name}: WS353 Spearman over {len(q['seqcore'])} seeds (mean +- s.e.): "
            f"seqcore {ma:.4f} +- {sa:.4f}, gensim {mb:.4f} +- {sb:.4f}; delta {delta:+.4f} "
            f"+- {se:.4f}: {verdict} {TOLERANCE} of gensim{decided}"), delta


# ---- memory --------------------------------------------------------------------------------

def _status(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise OSError(f"{key} not in /proc/self/status")


def _reset_peak():
    """Reset the process's peak RSS (VmHWM, Linux >= 4.0) and return the current RSS."""
    import gc
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS")


def memory_bound(matrices_bytes, tokens, sentences, V, threads):
    """The issue's bound on seqcore's training memory (bytes): the weight matrices + the
    int32 corpus (4 bytes a token) + its int64 sentence offsets + ``BYTES_PER_WORD`` per
    vocabulary word + ``SCRATCH_PER_THREAD`` per thread."""
    return (matrices_bytes + 4 * tokens + 8 * (sentences + 1) + BYTES_PER_WORD * V
            + SCRATCH_PER_THREAD * threads)


def peak_child(lib, sg, hs, shared, quick, corpus_file=None, in_memory=False, **overrides):
    """In this (fresh) process: the peak memory that building and training (one epoch) a
    model adds to a process holding the corpus (the case's corpus; or ``corpus_file``, read
    into lists of interned str first when ``in_memory``, else streamed: then the file
    reader's line buffer counts too). Returns a dict: ``extra`` (bytes), ``V``,
    ``tokens`` (in-vocabulary), ``sentences``, ``matrices`` (bytes of the weight matrices),
    ``threads``. A small model is trained first (same settings), so that code pages,
    OpenMP threads and lazy imports are not counted."""
    kw = dict(_settings(sg, hs, quick), epochs=1)
    kw.update(overrides)
    if lib == "gensim":
        import gensim

        def make(**src):
            return gensim.models.Word2Vec(**{**kw, **src})
    else:
        from seqcore import Word2Vec

        def make(**src):
            return Word2Vec(**{**kw, **src}, progress=False, shared_negatives=shared)
    make(sentences=[["a", "b", "c", "d"]] * 20, min_count=1)  # warm-up
    if corpus_file and in_memory:
        with open(corpus_file, encoding="utf8") as f:
            src = dict(sentences=[[sys.intern(w) for w in line.split()] for line in f])
    else:
        src = dict(corpus_file=corpus_file) if corpus_file else dict(sentences=_corpus(quick))
    base = _reset_peak()
    model = make(**src)
    extra = _status("VmHWM") - base
    wv = model.wv
    counts = np.array([wv.get_vecattr(k, "count") for k in wv.index_to_key]) \
        if lib == "gensim" else model.vocab.counts
    mats = [wv.vectors] + [getattr(model, n, None) for n in ("syn1", "syn1neg")]
    return {"extra": int(extra), "V": len(wv.index_to_key), "tokens": int(counts.sum()),
            "sentences": int(model.corpus_count), "threads": int(kw["workers"]),
            "matrices": int(sum(a.nbytes for a in mats if a is not None and a.size))}


def training_peak(lib, sg, hs, shared=False, quick=False, corpus_file=None, in_memory=False,
                  **overrides):
    """:func:`peak_child` run in a fresh Python subprocess; None where it cannot measure
    (not Linux, clear_refs not permitted)."""
    args = json.dumps(dict(lib=lib, sg=sg, hs=hs, shared=shared, quick=quick,
                           corpus_file=corpus_file, in_memory=in_memory, **overrides))
    code = ("import json, sys; from seqcore.bench_ops.word2vec import peak_child; "
            f"print('PEAK', json.dumps(peak_child(**json.loads({args!r}))))")
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=600, check=True).stdout
    except (subprocess.SubprocessError, OSError):
        return None
    lines = [ln for ln in out.splitlines() if ln.startswith("PEAK ")]
    return json.loads(lines[-1][5:]) if lines else None


def memory_summary(name, sg, hs, shared):
    ours = training_peak("seqcore", sg, hs, shared)
    ref = training_peak("gensim", sg, hs)
    if ours is None:
        return f"word2vec {name}: training peak memory not measurable here"
    bound = memory_bound(ours["matrices"], ours["tokens"], ours["sentences"], ours["V"],
                         ours["threads"])
    mib = 2.0 ** 20
    verdict = "within" if ours["extra"] <= bound else "NOT within"
    gensim_mib = "-" if ref is None else f"{ref['extra'] / mib:.1f}"
    return (f"word2vec {name}: training peak memory (build_vocab + 1 epoch, above the corpus "
            f"in memory): seqcore {ours['extra'] / mib:.1f} MiB, gensim {gensim_mib} MiB; bound "
            f"{bound / mib:.1f} MiB = weights {ours['matrices'] / mib:.1f} + 4 x "
            f"{ours['tokens']} tokens + offsets + {BYTES_PER_WORD} B x V={ours['V']} + "
            f"{SCRATCH_PER_THREAD // 2**20} MiB x {ours['threads']} threads: {verdict}")


# ---- cases ---------------------------------------------------------------------------------

def _case(name, sg, hs, shared, epochs, quick, suites) -> Case:
    label = "lee_background[:60]" if quick else "head500.noblanks"
    shape = f"{label} D={16 if quick else 100} window=5 epochs={epochs}"

    def setup() -> Bound:
        t = Trainers(sg, hs, epochs, quick, shared)
        print(t.choose_reference(name), file=sys.stderr, flush=True)

        def error(a, b):
            # gensim's quality is its iterable mode's (see quality()): seed 1 is the model
            # trained by choose_reference (or timed, when the iterable won)
            q = quality(sg, hs, shared, epochs, quick, _seeds(quick),
                        (a, t.refs["iterable"].model))
            line, delta = quality_summary(name, q)
            print(line, file=sys.stderr, flush=True)
            if not quick:
                print(memory_summary(name, sg, hs, shared), file=sys.stderr, flush=True)
            return {"y": abs(delta)}

        return Bound(t.ours, t.gensim, error)

    words = sum(map(len, _corpus(quick))) * epochs if _has_gensim() else 0
    # flops = words * 1e3, so the GFLOP/s column reads M words/s
    return Case("word2vec", name, shape, words * 1e3, setup, "gensim", tuple(suites),
                items=words, unit="words")


def _score_case(name, sg, quick, suites) -> Case:
    """Word2Vec.score (sentence log-probabilities under an hs model) against gensim's score
    on the same trained model (gensim's, converted with from_gensim); max abs err = the
    largest relative difference of a sentence's score."""
    label = "lee_background[:60]" if quick else "head500.noblanks"
    shape = f"{label} D={16 if quick else 100} window=5"

    def setup() -> Bound:
        import gensim
        from seqcore import Word2Vec
        sentences = _corpus(quick)
        g = gensim.models.Word2Vec(sentences, **_settings(sg, 1, quick), epochs=1)
        m = Word2Vec.from_gensim(g)

        def error(a, b):
            return {"y": float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-30)))}

        return Bound(lambda: m.score(sentences),
                     lambda: g.score(sentences, total_sentences=len(sentences)), error)

    words = sum(map(len, _corpus(quick))) if _has_gensim() else 0
    return Case("word2vec", name, shape, words * 1e3, setup, "gensim", tuple(suites),
                items=words, unit="words")


@register("word2vec", note="word2vec rows: GFLOP/s column = seqcore M words/s (tokens x epochs "
                           "/ s); speed-up = words/s ratio vs gensim (faster of iterable / "
                           "corpus_file; which, on stderr): gensim 4, same corpus, settings, 2 "
                           "workers; max abs err = |mean WS353 Spearman - gensim's| over "
                           "SEQCORE_W2V_SEEDS seeds (5; 2 with --quick); the Spearman values, "
                           "the delta's standard error and the training peak memory vs the "
                           "bound are on stderr")
def _word2vec_cases() -> List[Case]:
    if not _has_gensim():
        return []
    cases = [_case(n, sg, hs, sh, 1, True, ("quick",)) for n, sg, hs, sh in VARIANTS]
    cases += [_case(n, sg, hs, sh, 5, False, ("default", "full")) for n, sg, hs, sh in VARIANTS]
    for name, sg in (("score sg-hs", 1), ("score cbow-hs", 0)):
        cases += [_score_case(name, sg, True, ("quick",)),
                  _score_case(name, sg, False, ("default", "full"))]
    return cases


def compare(quick=False, epochs=None, seeds=None):
    """Per variant: (variant, seqcore words/s, gensim words/s, speed-up, quality dict,
    quality line, memory line or None). gensim runs in its faster mode
    (:meth:`Trainers.choose_reference`; the choice is printed on stderr)."""
    epochs = epochs or (1 if quick else 5)
    seeds = seeds or _seeds(quick)
    rows = []
    for name, sg, hs, shared in VARIANTS:
        t = Trainers(sg, hs, epochs, quick, shared)
        print(t.choose_reference(name), file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        m = t.ours()
        ours = t.words / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        t.gensim()
        ref = t.words / (time.perf_counter() - t0)
        q = quality(sg, hs, shared, epochs, quick, seeds, (m, t.refs["iterable"].model))
        rows.append((name, ours, ref, ours / ref, q, quality_summary(name, q)[0],
                     None if quick else memory_summary(name, sg, hs, shared)))
    return rows


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--epochs", type=int, default=None)
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--quality-only", action="store_true",
                   help="only the WS353 comparison of each variant (no timing, no memory)")
    p.add_argument("--corpus", choices=CORPORA, default="head500",
                   help="corpus of --quality-only (default head500)")
    args = p.parse_args(argv)
    if args.quality_only:
        epochs = args.epochs or (1 if args.quick else 5)
        label = "lee_background[:60]" if args.quick else args.corpus
        for name, sg, hs, shared in VARIANTS:
            q = quality(sg, hs, shared, epochs, args.quick, args.seeds or _seeds(args.quick),
                        corpus=args.corpus)
            print(quality_summary(f"{name} ({label})", q)[0], flush=True)
        return
    rows = compare(args.quick, args.epochs, args.seeds)
    print(f"{'variant':12} {'seqcore w/s':>12} {'gensim w/s':>12} {'speed-up':>9} "
          f"{'WS353 seqcore':>14} {'WS353 gensim':>13}")
    for name, a, b, s, q, _, _ in rows:
        print(f"{name:12} {a:12,.0f} {b:12,.0f} {s:8.2f}x {np.mean(q['seqcore']):14.4f} "
              f"{np.mean(q['gensim']):13.4f}")
    for row in rows:
        print(row[5])
        if row[6]:
            print(row[6])


if __name__ == "__main__":
    main()

"""Dependency parsing of Turkish (*Fundamentals of Deep Learning* ch. 9; SyntaxNet): a
tagger and an arc-standard parser trained on the treebank's train split, scored on dev/test.

Data (:func:`seqcore.datasets.turkish_treebank`): Google's Turkish Web and Wikipedia
treebanks, 3,880 / 485 / 486 sentences. Models: :class:`seqcore.parsing.Tagger` (biLSTM over
form and suffix embeddings) predicts the tag columns the parser reads;
:class:`seqcore.parsing.Parser` (Chen & Manning's feed-forward scorer over the arc-standard
system) is trained locally (self-normalised, so that its raw scores start near
log-probabilities), then fine-tuned with SyntaxNet's globally normalised beam loss and
parameter averaging.

Reported with predicted tags, punctuation included: UPOS accuracy, UAS and LAS of greedy
decoding, of beam 8 on the local model, and of beam 8 on the globally normalised one; parse
speed in sentences/s and tokens/s; one sentence's dependency tree drawn with matplotlib.

Run: ``seqcore demo parse`` (~10 minutes on 2 cores) or ``--quick`` (seconds).
"""
from __future__ import annotations

import copy
import time
from typing import Any, Dict, List

import numpy as np

from .. import get_num_threads, set_num_threads
from . import defaults_help

__all__ = ["add_arguments", "run", "main", "draw_tree"]

# (full, quick)
_DEFAULTS = {"train": (None, 150), "epochs": (8, 1), "global_epochs": (3, 1),
             "tagger_epochs": (15, 1)}
_ATTRIBUTES = ("form", "suffix", "upos", "xpos", "feats")


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    def d(key):
        return defaults_help(_DEFAULTS, key)

    parser.add_argument("--quick", action="store_true", help="a tiny run: seconds")
    parser.add_argument("--train", type=int, default=None, help="training sentences " + d("train"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="local parser epochs, best on dev kept " + d("epochs"))
    parser.add_argument("--global-epochs", type=int, default=None,
                        help="globally normalised epochs " + d("global_epochs"))
    parser.add_argument("--tagger-epochs", type=int, default=None,
                        help="tagger epochs, best on dev kept " + d("tagger_epochs"))
    parser.add_argument("--beam", type=int, default=8, help="beam width (8)")
    parser.add_argument("--hidden", type=int, default=256, help="parser hidden units (256)")
    parser.add_argument("--tag-dropout", type=float, default=0.15,
                        help="tag features replaced by unknown in local training (0.15)")
    parser.add_argument("--self-normalization", type=float, default=0.1,
                        help="weight of the local loss's log(Z)^2 penalty, Devlin et al. 2014 "
                             "(0.1)")
    parser.add_argument("--global-lr", type=float, default=5e-4,
                        help="Adam learning rate of global training (5e-4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (0)")
    parser.add_argument("--threads", type=int, default=None, help="seqcore threads")
    parser.add_argument("--plot", default="parse_tree.png",
                        help="one test sentence's predicted tree ('' for none)")
    parser.add_argument("--save", default="",
                        help="write the tagger and parser to PREFIX.tagger.npz / "
                             "PREFIX.parser.npz ('' for none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def run(args) -> Dict[str, Any]:
    from ..datasets import turkish_treebank
    from ..parsing import Parser, Tagger

    if args.threads:
        set_num_threads(args.threads)
    pick: Dict[str, Any] = {k: (getattr(args, k) if getattr(args, k) is not None
                                else v[1 if args.quick else 0]) for k, v in _DEFAULTS.items()}
    tb = turkish_treebank()
    train = tb.train[:pick["train"]] if pick["train"] else tb.train
    dev = tb.dev[:60] if args.quick else tb.dev
    test = tb.test[:60] if args.quick else tb.test
    progress = not args.no_progress
    print(f"Turkish treebanks: {len(train)} train / {len(dev)} dev / {len(test)} test "
          f"sentences; {get_num_threads()} threads")

    tagger = Tagger("bilstm", columns=("upos", "xpos", "feats"), seed=args.seed)
    _, t_tagger = _timed(lambda: tagger.fit(train, epochs=pick["tagger_epochs"], dev=dev,
                                            progress=progress))
    tags = {"dev": tagger.predict(dev), "test": tagger.predict(test)}
    upos = {k: tagger.evaluate(s)["upos"] for k, s in (("dev", dev), ("test", test))}
    print(f"tagger: {t_tagger:.0f} s; UPOS dev {upos['dev']:.2f} test {upos['test']:.2f}")

    local = Parser(_ATTRIBUTES, hidden=args.hidden, seed=args.seed)
    _, t_local = _timed(lambda: local.fit(train, epochs=pick["epochs"],
                                          tag_dropout=args.tag_dropout,
                                          self_normalization=args.self_normalization, dev=dev,
                                          dev_tags=tags["dev"], progress=progress))
    glob = copy.deepcopy(local)
    _, t_global = _timed(lambda: glob.fit(train, epochs=0, global_epochs=pick["global_epochs"],
                                          global_beam_width=args.beam,
                                          global_lr=args.global_lr, dev=dev,
                                          dev_tags=tags["dev"], progress=progress,
                                          warm_start=True))
    print(f"parser: local {t_local:.0f} s, global {t_global:.0f} s")

    rows: List[tuple] = []
    metrics: Dict[str, Any] = {"upos": upos}
    for name, model, K, glob_scores in (("greedy", local, 1, False),
                                        (f"beam {args.beam}", local, args.beam, False),
                                        (f"beam {args.beam} global", glob, args.beam, True)):
        scores = {}
        for split, sents in (("dev", dev), ("test", test)):
            scores[split] = model.evaluate(sents, K, tags=tags[split], global_scores=glob_scores)
        metrics[name] = {k: v._asdict() for k, v in scores.items()}
        rows.append((name, scores["dev"], scores["test"]))
    print("\npredicted tags, punctuation included")
    print(f"{'decoder':<18}{'dev UAS':>9}{'dev LAS':>9}{'test UAS':>10}{'test LAS':>10}")
    for name, d, t in rows:
        print(f"{name:<18}{d.uas:>9.2f}{d.las:>9.2f}{t.uas:>10.2f}{t.las:>10.2f}")

    words = sum(len(s.form) for s in test)
    speed = {}
    for name, model, K, glob_scores in (("greedy", local, 1, False),
                                        (f"beam {args.beam}", glob, args.beam, True)):
        model.predict(test[:5], K, tags={k: v[:5] for k, v in tags["test"].items()},
                      global_scores=glob_scores)      # warm: the pre-computed table
        _, dt = _timed(lambda: model.predict(test, K, tags=tags["test"],
                                             global_scores=glob_scores))
        speed[name] = (len(test) / dt, words / dt)
    (tagged, dt_tag) = _timed(lambda: tagger.predict(test))
    speed["tag + greedy"] = (len(test) / (dt_tag + words / speed["greedy"][1]),
                             words / (dt_tag + words / speed["greedy"][1]))
    print(f"\nparse speed on test ({get_num_threads()} threads)")
    for name, (sps, tps) in speed.items():
        print(f"{name:<18}{sps:>10.0f} sentences/s {tps:>10.0f} tokens/s")
    metrics["speed"] = {k: {"sentences_per_s": a, "tokens_per_s": b} for k, (a, b) in
                        speed.items()}

    if args.plot:
        s = min(test, key=lambda s: abs(len(s.form) - 9))
        i = test.index(s)
        p = glob.predict([s], args.beam, tags={k: [v[i]] for k, v in tags["test"].items()},
                         global_scores=True)[0][0]
        draw_tree(s.form, p.head, [glob.labels[j] for j in p.label], args.plot,
                  gold=(s.head, s.deprel))
    if args.save:
        tagger.save(f"{args.save}.tagger.npz")
        glob.save(f"{args.save}.parser.npz")
        print(f"saved: {args.save}.tagger.npz, {args.save}.parser.npz")
    return metrics


def draw_tree(words, head, labels, path, gold=None):
    """Draw a dependency tree: words left to right, an arc from each head to its dependent
    labelled with the relation (ROOT's arc drawn from above); arcs that disagree with
    ``gold`` (heads, labels) in red. Writes a PNG to ``path``."""
    from matplotlib.patches import Arc

    from . import pyplot, save_figure
    plt = pyplot()
    if plt is None:
        return
    n = len(words)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * n), 3.2))
    for i, w in enumerate(words, 1):
        ax.text(i, 0, w, ha="center", va="top", fontsize=10)
    top = 1.0
    for d in range(1, n + 1):
        h = int(head[d - 1])
        wrong = gold is not None and (int(gold[0][d - 1]) != h or gold[1][d - 1] != labels[d - 1])
        color = "tab:red" if wrong else "tab:blue"
        if h == 0:
            ax.annotate("", xy=(d, 0.15), xytext=(d, 0.15 + 0.5 * n ** 0.5),
                        arrowprops=dict(arrowstyle="->", color=color))
            ax.text(d, 0.2 + 0.5 * n ** 0.5, f"root: {labels[d - 1]}", ha="center", fontsize=8,
                    color=color)
            continue
        width = abs(h - d)
        height = 0.5 + 0.35 * width
        top = max(top, height)
        ax.add_patch(Arc(((h + d) / 2, 0.15), width, 2 * height, theta1=0, theta2=180,
                         color=color))
        ax.annotate("", xy=(d, 0.15), xytext=(d + (0.05 if h > d else -0.05), 0.45),
                    arrowprops=dict(arrowstyle="->", color=color))
        ax.text((h + d) / 2, 0.18 + height, labels[d - 1], ha="center", fontsize=8, color=color)
    ax.set_xlim(0.3, n + 0.7)
    ax.set_ylim(-0.6, max(top, 0.5 * n ** 0.5) + 0.6)
    ax.axis("off")
    save_figure(plt, fig, path, "tree")


def main(argv=None) -> int:
    """``python -m seqcore.demo.parse``: the same as ``seqcore demo parse``."""
    from . import run_demo
    return run_demo("parse", argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""The Sequence Models course's word-vector exercises on GloVe 6B 50-d.

On the course's vectors (:func:`seqcore.datasets.glove_6b_50d`, the ``data`` extra):

1. cosine similarities (father/mother, ball/crocodile, france - paris / rome - italy);
2. analogies with the course's ``complete_analogy``
   (:meth:`seqcore.KeyedVectors.complete_analogy`: argmax_w cos(e_b - e_a, e_w - e_c));
3. the gender direction g = e(woman) - e(man): the cosine of first names with g, and the
   words most aligned with it either way;
4. debiasing (Bolukbasi et al. 2016), with the course's formulas
   (:mod:`seqcore.debias`): neutralize e <- e - (e . g / ||g||^2) g for a gender-neutral
   word ("receptionist"), and equalize for gendered pairs (("man", "woman"),
   ("actor", "actress")), printing the cosines with g before and after.

Run: ``seqcore demo wordvectors`` (a few seconds: loading 400,000 vectors), or
``python -m seqcore.demo.wordvectors``.
"""
from __future__ import annotations

import numpy as np

__all__ = ["add_arguments", "run", "main", "ANALOGIES"]

#: the course's analogies and the answers it prints
ANALOGIES = ((("italy", "italian", "spain"), "spanish"), (("india", "delhi", "japan"), "tokyo"),
             (("man", "woman", "boy"), "girl"), (("small", "smaller", "large"), "larger"))
_NAMES = ("john", "marie", "sophie", "ronaldo", "priya", "rahul", "danielle", "reza", "katy",
          "yasmin")
_PAIRS = (("man", "woman"), ("actor", "actress"))


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    parser.add_argument("--neutral", default="receptionist",
                        help="a word to neutralize (default: receptionist)")
    parser.add_argument("--aligned", type=int, default=10,
                        help="how many of the words most aligned with g to list")
    parser.add_argument("--search", type=int, default=50_000,
                        help="words searched for the most aligned (the most frequent)")


def _cos(u, v):
    u, v = np.asarray(u, np.float64), np.asarray(v, np.float64)
    return float(u @ v / (np.linalg.norm(u) * np.linalg.norm(v)))


def run(args):
    """Print the exercises; returns a dict of the results (analogy answers, cosines)."""
    from .. import debias
    from ..datasets import DatasetError, glove_6b_50d
    try:
        kv = glove_6b_50d()
    except DatasetError as err:
        raise SystemExit(f"seqcore demo wordvectors: {err}") from None
    print(f"GloVe 6B 50-d: {len(kv):,} words x {kv.vector_size}")
    out = {}

    print("\n1. cosine similarity")
    pairs = {"father~mother": _cos(kv["father"], kv["mother"]),
             "ball~crocodile": _cos(kv["ball"], kv["crocodile"]),
             "france-paris~rome-italy": _cos(kv["france"] - kv["paris"],
                                             kv["rome"] - kv["italy"])}
    for name, value in pairs.items():
        print(f"   {name:26s} {value:+.4f}")
    out["cosine"] = pairs

    print("\n2. analogies (complete_analogy: argmax_w cos(e_b - e_a, e_w - e_c))")
    answers = {}
    for (a, b, c), expected in ANALOGIES:
        word, score = kv.complete_analogy(a, b, c)
        answers[f"{a}:{b}::{c}"] = word
        print(f"   {a} -> {b} :: {c} -> {word}  (cos {score:.3f}; the course: {expected})")
    out["analogies"] = answers

    print("\n3. the gender direction g = e(woman) - e(man)")
    g = np.asarray(kv["woman"], np.float64) - np.asarray(kv["man"], np.float64)
    names = {n: _cos(kv[n], g) for n in _NAMES}
    print("   first names, cosine with g (> 0: nearer 'woman'):")
    print("   " + ", ".join(f"{n} {v:+.3f}" for n, v in names.items()))
    search = kv.vectors[:args.search].astype(np.float64)
    cos = search @ g / (np.linalg.norm(search, axis=1) * np.linalg.norm(g))
    order = np.argsort(cos)
    top = [kv.index_to_key[i] for i in order[::-1][:args.aligned]]
    bottom = [kv.index_to_key[i] for i in order[:args.aligned]]
    print(f"   most aligned with g:  {', '.join(top)}")
    print(f"   most aligned with -g: {', '.join(bottom)}")
    out.update(names=names, aligned=top, anti_aligned=bottom)

    print(f"\n4. debiasing (neutralize {args.neutral!r}; equalize {list(_PAIRS)})")
    before = _cos(kv[args.neutral], g)
    neutral = debias.neutralize(kv, [args.neutral], g)
    after = _cos(neutral[args.neutral], g)
    print(f"   cos({args.neutral}, g): before {before:+.6f}, after neutralize {after:+.2e}")
    out["neutralize"] = (before, after)
    equalized = debias.equalize(kv, _PAIRS, g)
    out["equalize"] = {}
    for a, b in _PAIRS:
        was = (_cos(kv[a], g), _cos(kv[b], g))
        now = (_cos(equalized[a], g), _cos(equalized[b], g))
        print(f"   ({a}, {b}): cos with g before {was[0]:+.4f} {was[1]:+.4f}, after "
              f"{now[0]:+.4f} {now[1]:+.4f}")
        out["equalize"][(a, b)] = (was, now)
    return out


def main(argv=None):
    from . import run_demo
    return run_demo("wordvectors", argv)


if __name__ == "__main__":
    raise SystemExit(main())

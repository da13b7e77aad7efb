"""Demos that train small models with seqcore's kernels (``seqcore demo <name>``).

* :mod:`seqcore.demo.charlm`: a character-level LSTM language model.
* :mod:`seqcore.demo.ctc`: line OCR with a bidirectional LSTM and CTC.
* :mod:`seqcore.demo.translate`: date normalisation with an attention seq2seq model.
* :mod:`seqcore.demo.word2vec`: Word2Vec vectors on real text (neighbours, analogies, plot).
* :mod:`seqcore.demo.sentiment`: movie-review sentiment with GloVe (average + softmax,
  LSTM, both also fine-tuned; tf-idf baseline), 10-fold cross-validation.
* :mod:`seqcore.demo.wordvectors`: the course's exercises on GloVe 6B 50-d (analogies,
  the gender direction, neutralize and equalize).
* :mod:`seqcore.demo.ptb`: a word-level LSTM language model on the Penn Treebank
  (Zaremba et al. 2014), with full, sampled or hierarchical softmax.
* :mod:`seqcore.demo.trigger`: trigger-word detection on synthesised speech (Conv1D, batch
  norm, GRUs), with streaming inference, miss rate and false accepts per hour.
* :mod:`seqcore.demo.parse`: Turkish POS tagging and arc-standard dependency parsing (greedy,
  beam, globally normalised beam), UAS/LAS and parse speed, a drawn tree.

Each demo module has ``add_arguments(parser)`` and ``run(args) -> dict`` (the metrics).
"""
DEMOS = ("charlm", "ctc", "translate", "word2vec", "wordvectors", "sentiment", "ptb",
         "trigger", "parse")


def run_demo(name, argv=None) -> int:
    """``python -m seqcore.demo.<name> [options]``: the same as ``seqcore demo <name>``."""
    import sys

    from ..cli import main
    return main(["demo", name, *(sys.argv[1:] if argv is None else argv)])


def defaults_help(defaults, key) -> str:
    """The help text of an option whose default is ``defaults[key] = (full, quick)``: the
    full run's value (None: all) and the ``--quick`` one."""
    full, quick = defaults[key]
    return f"(default {'all' if full is None else full}; {quick} with --quick)"


def pyplot():
    """matplotlib's pyplot on the file-only Agg backend, or None (with a message) when
    matplotlib is not installed: the demos' plots are optional."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: skipped (pip install matplotlib)")
        return None
    return plt


def save_figure(plt, fig, path, what):
    """Lay out, write ``fig`` to ``path`` (PNG, 100 dpi), close it and say so."""
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"{what}: {path}")

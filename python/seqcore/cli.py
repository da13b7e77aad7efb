"""The ``seqcore`` command line (console script ``seqcore = seqcore.cli:main``).

Subcommands::

    seqcore info                   version, build information, thread count
    seqcore bench [options]        benchmark table (see ``seqcore bench --help``, seqcore.bench)
    seqcore demo NAME [options]    run a demo: ``seqcore demo charlm --help``

Demos live in ``seqcore/demo/<name>.py``; each module defines ``add_arguments(parser)``
(registers its options) and ``run(args)`` (returns None or an exit status) and a docstring
whose first line is the one-line help. A module placed there is found without any change
here; a demo module is imported only when it is the one being run.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import List, Optional, Sequence

__all__ = ["main", "build_parser", "demo_names"]

# One-line help of the demos shipped with seqcore (others: "demo").
_DEMO_HELP = {
    "charlm": "character-level LSTM language model on real English text (Adam, clipping, truncated BPTT)",
    "ctc": "line OCR: bidirectional LSTM + CTC on rendered English text, greedy/beam/LM decoding",
    "translate": "human-readable dates -> ISO dates with an attention seq2seq model (beam search, BLEU)",
    "word2vec": "Word2Vec on real text: neighbours, analogies, 2-D plot, vectors gensim loads",
    "sentiment": "movie-review sentiment with GloVe: average (+fine-tuned), LSTM, tf-idf, 10-fold CV",
    "wordvectors": "the course's GloVe 6B 50-d exercises: analogies, gender direction, debiasing",
    "ptb": "word-level LSTM language model on the Penn Treebank (Zaremba et al. 2014), sampling",
    "trigger": "trigger-word detection on synthesised speech: Conv1D + GRUs, streaming, miss/FA rates",
    "parse": "Turkish dependency parsing: biLSTM tagger, arc-standard parser, beam + global training",
}


def demo_names() -> List[str]:
    """Names of the demos found in the seqcore.demo package (without importing them)."""
    try:
        pkg = importlib.import_module("seqcore.demo")
    except ImportError:
        return []
    return sorted(m.name for m in pkgutil.iter_modules(pkg.__path__)
                  if not m.name.startswith("_") and not m.ispkg)


def _selected_demo(argv: Sequence[str]) -> Optional[str]:
    """The NAME of ``demo NAME ...`` in argv, if that is the command being run."""
    args = list(argv)
    if len(args) >= 2 and args[0] == "demo" and not args[1].startswith("-"):
        return args[1]
    return None


def _run_info(args: argparse.Namespace) -> int:
    import seqcore
    print(f"seqcore {seqcore.__version__}")
    info = seqcore.build_info()
    if isinstance(info, dict):
        width = max((len(str(k)) for k in info), default=0)
        print("build:")
        for k, v in info.items():
            print(f"  {str(k).ljust(width)}  {v}")
    else:
        print(f"build: {info}")
    print(f"threads: {seqcore.get_num_threads()}")
    return 0


def _run_bench(args: argparse.Namespace) -> int:
    from . import bench
    return bench.run(args, reexec=getattr(args, "reexec", None))


def _demo_module(name: str):
    """Import seqcore.demo.<name>; a clear error when it is missing or incomplete."""
    try:
        mod = importlib.import_module(f"seqcore.demo.{name}")
    except ModuleNotFoundError as e:
        if e.name in (f"seqcore.demo.{name}", "seqcore.demo"):
            raise SystemExit(f"seqcore demo: no demo named {name!r} "
                             f"(available: {', '.join(demo_names()) or 'none'})")
        raise
    for attr in ("add_arguments", "run"):
        if not callable(getattr(mod, attr, None)):
            raise SystemExit(f"seqcore demo: seqcore.demo.{name} defines no {attr}()")
    return mod


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The ``seqcore`` parser. ``argv`` tells which demo (if any) to import for its options."""
    from . import bench

    parser = argparse.ArgumentParser(
        prog="seqcore",
        description="seqcore: fast CPU kernels for sequence models.")
    parser.add_argument("--version", action="store_true",
                        help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("info", help="version, build information and thread count",
                       description="Print seqcore's version, build_info() and thread count.")
    p.set_defaults(func=_run_info)

    p = sub.add_parser("bench", help="benchmark seqcore against PyTorch / NumPy",
                       description=bench.DESCRIPTION)
    bench.add_arguments(p)
    p.set_defaults(func=_run_bench)

    p = sub.add_parser("demo", help="run a demo (seqcore demo NAME --help)",
                       description="Run one of seqcore's demos.")
    demos = p.add_subparsers(dest="demo", metavar="NAME")
    selected = _selected_demo(argv)
    for name in demo_names():
        dp = demos.add_parser(name, help=_DEMO_HELP.get(name, "demo"))
        if name == selected:
            mod = _demo_module(name)
            doc = (mod.__doc__ or "").strip()
            if doc:
                dp.description = doc.split("\n\n")[0]
            mod.add_arguments(dp)
            dp.set_defaults(func=mod.run)
    p.set_defaults(func=None, demo_parser=p)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the ``seqcore`` command; returns the exit status.

    With ``argv`` None (the process's own command line), ``seqcore bench`` may re-execute
    the process as ``python -m seqcore.cli ...`` without the environment variables that slow
    its references (seqcore.bench.run); an explicit ``argv`` (calls from Python) never does.
    """
    from_command_line = argv is None
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if args.command == "bench":
        args.reexec = [sys.executable, "-m", "seqcore.cli", *argv] if from_command_line else None
    if args.version:
        import seqcore
        print(f"seqcore {seqcore.__version__}")
        return 0
    if args.command is None:
        parser.print_help()
        return 2
    if args.func is None:            # "seqcore demo" without a NAME
        args.demo_parser.error("choose a demo: " + (", ".join(demo_names()) or "none found"))
    status = args.func(args)
    return status if isinstance(status, int) else 0  # demos return their metrics


if __name__ == "__main__":
    sys.exit(main())

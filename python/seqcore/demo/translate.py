"""Neural machine translation of human-readable dates into ISO dates (the course's exercise).

Data: dates drawn uniformly from 1950-2049, written by the standard library in many formats
and spellings ("3 May 1979", "tuesday 9 march 1982", "2/28/01", "MAY 3, 1979",
"03.05.79", "the 3rd of may 1979", ...), to be translated into "1979-05-03". Training and
test sets are disjoint (no test date string appears in training).

Model (``--model lstm``, the default): :class:`seqcore.Seq2Seq` over characters: a
bidirectional LSTM encoder, an LSTM decoder with additive (Bahdanau) attention and input
feeding, trained by teacher forcing with Adam and gradient clipping (:mod:`seqcore.optim`) —
seqcore kernels throughout. ``--model transformer``: :class:`seqcore.Transformer` with
character embeddings (d_model = ``--hidden``, 4 heads, ``--layers`` encoder and decoder
layers, feed-forward 4 x d_model, dropout 0.1), Adam with a 200-step linear warm-up and a
linear decay, clipping at norm 1, decoded with its key/value cache. After
each epoch it reports the test exact-match accuracy of greedy decoding
(:func:`seqcore.greedy_search` driving the model's step function) and of native beam search
(:meth:`Seq2Seq.translate`: the whole search in C++), with character-level BLEU
(:mod:`seqcore.bleu`). At the end it saves the attention heat map of one translation
(:func:`seqcore.plot_attention`; for the Transformer, head 0 of the last decoder layer's
cross-attention) when matplotlib is installed.

Run: ``seqcore demo translate`` (a few minutes on 2 cores) or ``--quick`` (seconds).
"""
from __future__ import annotations

import datetime as _dt
import os
import random
import time
from types import SimpleNamespace
from typing import Union

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import bleu, set_num_threads
from . import defaults_help
from ..decoding import greedy_search
from ..optim import Adam, clip_grad_norm
from ..seq2seq import Seq2Seq
from ..transformer import Transformer

__all__ = ["add_arguments", "run", "main", "make_dates", "Vocab"]

_MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december"]
_DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_DEFAULTS = {"examples": (10000, 1500), "epochs": (5, 3), "hidden": (64, 32),
             "embed": (32, 16), "batch": (64, 32), "test": (1000, 100), "layers": (2, 1)}
# the Transformer's own (full, quick): it trains for more epochs with a decaying rate
_TRANSFORMER_EPOCHS = (12, 3)
_TRANSFORMER = SimpleNamespace(lr=3e-3, warmup=200, clip=1.0, dropout=0.1, heads=4)


def _ordinal(d: int) -> str:
    suffix = "th" if 11 <= d % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(d % 10, "th")
    return f"{d}{suffix}"


def _human(date: _dt.date, rng: random.Random) -> str:
    d, m, y = date.day, date.month, date.year
    month = _MONTHS[m - 1]
    mon = month[:3]
    wd = _DAYS[date.weekday()]
    formats = [
        f"{d} {month} {y}", f"{d} {mon} {y}", f"{d:02d} {mon} {y}", f"{month} {d}, {y}",
        f"{month} {d} {y}", f"{mon} {d}, {y}", f"{wd} {d} {month} {y}",
        f"{wd[:3]}, {mon} {d} {y}", f"{wd}, {month} {d}, {y}", f"{m}/{d}/{y % 100:02d}",
        f"{m}/{d}/{y}", f"{d:02d}.{m:02d}.{y % 100:02d}", f"{d:02d}.{m:02d}.{y}",
        f"the {_ordinal(d)} of {month} {y}", f"{_ordinal(d)} {month} {y}",
        f"{d} {month}, {y}", f"{y}/{m:02d}/{d:02d}", f"{mon}. {d}, {y}",
    ]
    s = rng.choice(formats)
    case = rng.random()
    return s.upper() if case < 0.1 else s.title() if case < 0.3 else s


def make_dates(n: int, seed: int = 0, exclude=()):
    """``n`` distinct (human, iso) pairs, none of whose human strings is in ``exclude``."""
    rng = random.Random(seed)
    start, span = _dt.date(1950, 1, 1).toordinal(), 365 * 100
    seen = set(exclude)
    out: list = []
    while len(out) < n:
        date = _dt.date.fromordinal(start + rng.randrange(span))
        h = _human(date, rng)
        if h not in seen:
            seen.add(h)
            out.append((h, date.isoformat()))
    return out


class Vocab:
    """Characters <-> ids; 0 pad, 1 BOS, 2 EOS, 3 unknown."""
    specials = ("<pad>", "<s>", "</s>", "<unk>")

    def __init__(self, texts):
        chars = sorted({c for t in texts for c in t})
        self.itos = list(self.specials) + chars
        self.stoi = {c: i for i, c in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, texts, length=None):
        """[T, N] time-major ids (pad 0) and lengths [N]."""
        L = length or max(len(t) for t in texts)
        ids = np.zeros((L, len(texts)), np.int64)
        for n, t in enumerate(texts):
            ids[:len(t), n] = [self.stoi.get(c, 3) for c in t[:L]]
        return ids, np.array([min(len(t), L) for t in texts], np.int64)

    def decode(self, ids):
        return "".join(self.itos[i] for i in ids if i >= 4)


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    def d(key):
        return defaults_help(_DEFAULTS, key)

    parser.add_argument("--quick", action="store_true", help="small data and model: seconds")
    parser.add_argument("--model", choices=("lstm", "transformer"), default="lstm",
                        help="LSTM encoder-decoder with attention (default) or Transformer")
    parser.add_argument("--layers", type=int, default=None,
                        help="Transformer encoder and decoder layers " + d("layers"))
    parser.add_argument("--examples", type=int, default=None,
                        help="training pairs " + d("examples"))
    parser.add_argument("--test", type=int, default=None, help="held-out pairs " + d("test"))
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes " + d("epochs") + "; Transformer: 12, 3 with --quick")
    parser.add_argument("--hidden", type=int, default=None,
                        help="LSTM size H or Transformer d_model " + d("hidden"))
    parser.add_argument("--embed", type=int, default=None, help="embedding size " + d("embed"))
    parser.add_argument("--batch", type=int, default=None, help="batch size " + d("batch"))
    parser.add_argument("--lr", type=float, default=None,
                        help="Adam learning rate (5e-3; Transformer: 3e-3 at its peak)")
    parser.add_argument("--beam", type=int, default=4, help="beam width (default 4)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None, help="seqcore threads")
    parser.add_argument("--plot", default="attention_translate.png",
                        help="where to save the attention heat map ('' for none)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _config(args):
    defaults = dict(_DEFAULTS)
    if args.model == "transformer":
        defaults["epochs"] = _TRANSFORMER_EPOCHS
    cfg = {k: getattr(args, k) if getattr(args, k) is not None else v[1 if args.quick else 0]
           for k, v in defaults.items()}
    for k, v in cfg.items():
        if v < 1:
            raise SystemExit(f"seqcore demo translate: --{k} must be >= 1, got {v}")
    if args.beam < 1:
        raise SystemExit("seqcore demo translate: --beam must be >= 1")
    transformer = args.model == "transformer"
    cfg["lr"] = args.lr if args.lr is not None else _TRANSFORMER.lr if transformer else 5e-3
    if not cfg["lr"] > 0:
        raise SystemExit(f"seqcore demo translate: --lr must be > 0, got {cfg['lr']}")
    if transformer and cfg["hidden"] % _TRANSFORMER.heads:
        raise SystemExit(f"seqcore demo translate: --hidden must be a multiple of "
                         f"{_TRANSFORMER.heads} (the heads) for the Transformer")
    return SimpleNamespace(**cfg)


def _evaluate(model, src_vocab, tgt_vocab, pairs, beam, batch=256):
    """Exact-match accuracy and char BLEU of greedy and beam decoding on ``pairs``."""
    hyps = {"greedy": [], "beam": []}
    for i in range(0, len(pairs), batch):
        chunk = pairs[i:i + batch]
        src, sl = src_vocab.encode([h for h, _ in chunk])
        step, init = model.step_function(src, sl)
        greedy = greedy_search(step, len(chunk), model.bos_id, model.eos_id, init_state=init,
                               max_length=12)
        beams = model.translate(src, sl, beam_width=beam, max_length=12)
        hyps["greedy"] += [tgt_vocab.decode(h.tokens) for h in greedy]
        hyps["beam"] += [tgt_vocab.decode(b[0].tokens) for b in beams]
    refs = [iso for _, iso in pairs]
    out = {}
    for kind, hs in hyps.items():
        out[f"{kind}_exact"] = float(np.mean([h == r for h, r in zip(hs, refs)]))
        out[f"{kind}_bleu"] = bleu.corpus_bleu([" ".join(h) for h in hs],
                                               [[" ".join(r) for r in refs]],
                                               tokenize="none").score
    out["examples"] = list(zip([h for h, _ in pairs[:5]], hyps["beam"][:5], refs[:5]))
    return out


def _attention_map(model, src_vocab, tgt_vocab, human):
    """[steps, Ts] attention weights of the beam translation of one string."""
    src, sl = src_vocab.encode([human])
    out = model.translate(src, sl, beam_width=1, max_length=12)[0][0].tokens
    if isinstance(model, Transformer):   # head 0 of the last decoder layer
        w = model.cross_attention_weights(src, sl, out)[0]
        return w, list(human), [tgt_vocab.itos[t] for t in out] + ["</s>"]
    keys, s, _ = model.encode(src, sl)
    proj = model._proj_keys(keys)
    c, h_tilde = model._initial(1)
    y_prev, rows = np.array([model.bos_id]), []
    for tok in list(out) + [model.eos_id]:
        h_tilde, s, c, w, _ = model.decoder_step(y_prev, s, c, h_tilde, keys, proj, sl)
        rows.append(w[0])
        y_prev = np.array([tok])
    return np.stack(rows), list(human), [tgt_vocab.itos[t] for t in out] + ["</s>"]


def run(args) -> dict:
    """Train and evaluate; returns {"history": [...], "config": {...}, ...}."""
    cfg = _config(args)
    if args.threads:
        set_num_threads(args.threads)
    test_pairs = make_dates(cfg.test, seed=args.seed + 1)
    train_pairs = make_dates(cfg.examples, seed=args.seed, exclude={h for h, _ in test_pairs})
    src_vocab = Vocab([h for h, _ in train_pairs])
    tgt_vocab = Vocab(["0123456789-"])
    transformer = args.model == "transformer"
    model: Union[Seq2Seq, Transformer]
    if transformer:
        model = Transformer(cfg.hidden, _TRANSFORMER.heads, cfg.layers, cfg.layers,
                            4 * cfg.hidden, dropout=0.0 if args.quick else _TRANSFORMER.dropout,
                            src_vocab_size=len(src_vocab), tgt_vocab_size=len(tgt_vocab),
                            bos_id=1, eos_id=2, seed=args.seed)
        what = (f"Transformer d_model={cfg.hidden}, {_TRANSFORMER.heads} heads, "
                f"{cfg.layers}+{cfg.layers} layers")
    else:
        model = Seq2Seq(len(src_vocab), len(tgt_vocab), cfg.embed, cfg.hidden,
                        attention="additive", cell="lstm", bos_id=1, eos_id=2, seed=args.seed)
        what = f"LSTM H={cfg.hidden}, E={cfg.embed}"
    params = dict(model.named_parameters())
    opt = Adam(params, lr=cfg.lr)
    rng = np.random.default_rng(args.seed)
    history = []
    steps, total = 0, cfg.epochs * -(-len(train_pairs) // cfg.batch)
    print(f"seqcore demo translate: {len(train_pairs)} training / {len(test_pairs)} test dates,"
          f" source vocabulary {len(src_vocab)}, {what}")
    t0 = time.perf_counter()
    with threadpool_limits(1, "blas"):
        for epoch in range(1, cfg.epochs + 1):
            order = rng.permutation(len(train_pairs))
            losses = []
            bar = tqdm(range(0, len(order), cfg.batch), desc=f"epoch {epoch}", unit="batch",
                       disable=args.no_progress, leave=False)
            if isinstance(model, Transformer):
                model.train()
            for i in bar:
                chunk = [train_pairs[j] for j in order[i:i + cfg.batch]]
                src, sl = src_vocab.encode([h for h, _ in chunk])
                tgt, tl = tgt_vocab.encode([iso for _, iso in chunk])
                loss, grads = model.forward_backward(src, sl, tgt, tl)
                steps += 1
                if transformer:   # linear warm-up, then linear decay (to 2% of the peak)
                    opt.lr = cfg.lr * min(1.0, steps / _TRANSFORMER.warmup) * \
                        max(0.02, 1.0 - steps / total)
                clip_grad_norm(grads, _TRANSFORMER.clip if transformer else 5.0)
                opt.step(grads)
                losses.append(loss)
                bar.set_postfix(loss=f"{np.mean(losses[-20:]):.3f}")
            if isinstance(model, Transformer):
                model.eval()
            ev = _evaluate(model, src_vocab, tgt_vocab, test_pairs, args.beam)
            row = {"epoch": epoch, "train_loss": float(np.mean(losses)),
                   "seconds": time.perf_counter() - t0,
                   **{k: v for k, v in ev.items() if k != "examples"}}
            history.append(row)
            print(f"epoch {epoch}: loss {row['train_loss']:.4f}  exact match greedy "
                  f"{row['greedy_exact']:.1%} beam {row['beam_exact']:.1%}  char BLEU greedy "
                  f"{row['greedy_bleu']:.1f} beam {row['beam_bleu']:.1f}  "
                  f"({row['seconds']:.0f} s)")
    for human, hyp, ref in ev["examples"]:
        print(f"  {human!r:32} -> {hyp}  (reference {ref})")
    plot = None
    if args.plot:
        try:
            from ..plot import plot_attention
            w, s_tok, t_tok = _attention_map(model, src_vocab, tgt_vocab, test_pairs[0][0])
            plot = plot_attention(w, s_tok, t_tok, args.plot,
                                  title=f"{test_pairs[0][0]!r} -> {''.join(t_tok[:-1])}")
            print(f"attention heat map: {os.path.abspath(plot)}")
        except ImportError:
            print("matplotlib not installed: no attention heat map")
    return {"history": history, "config": vars(cfg), "plot": plot,
            "examples": ev["examples"]}


def main(argv=None) -> int:
    """``python -m seqcore.demo.translate``: the same as ``seqcore demo translate``."""
    from . import run_demo
    return run_demo("translate", argv)


if __name__ == "__main__":
    raise SystemExit(main())

"""Line OCR with a bidirectional LSTM trained by CTC, decoded greedily and by beam search.

Data: lines of real English text (gensim's ``lee_background.cor`` when gensim is
installed, else the standard library's ``pydoc_data.topics``; or ``--text``), cut at word
boundaries into lines of at most ``--max-chars`` characters and rendered with Pillow's
built-in font (``PIL.ImageFont.load_default()``) into ``16``-pixel-high grey images with a
random horizontal and vertical shift and Gaussian pixel noise. Each pixel column is one
frame, so an image of width ``W`` is a sequence of ``W`` frames of 16 features. The last
10 % of the corpus gives the held-out lines (text never seen in training).

Model: :class:`seqcore.LSTM` (``bidirectional=True``, seqcore's fused kernels) -> linear
layer -> CTC loss on the logits (:func:`seqcore.ctc_loss_from_logits`, blank = class 0);
Adam with gradient clipping (:mod:`seqcore.optim`). After each epoch it reports the
character error rate (CER: edit distance / reference characters) on the held-out lines of
greedy decoding (:func:`seqcore.ctc_greedy_decode`) and of prefix beam search
(:func:`seqcore.ctc_beam_search`); at the end also beam search with a character n-gram LM
(:class:`seqcore.NGramLM`, Kneser–Ney, trained on the training part of the corpus).

CTC training first sits on a plateau (all blanks, CER 1) for a few hundred steps, then the
CER drops quickly. Default run (about 3 minutes on 2 busy cores): held-out CER greedy 0.027,
beam 0.026, beam + 5-gram LM 0.013. ``--quick`` (about 20 s) stops just after the plateau
(CER about 0.5). Run: ``seqcore demo ctc``, ``seqcore demo ctc --quick``, or
``python -m seqcore.demo.ctc``.
"""
from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import get_num_threads, set_num_threads
from . import defaults_help
from ..ctc import ctc_beam_search, ctc_greedy_decode, ctc_loss_from_logits
from ..layers import LSTM
from ..ngram import NGramLM
from ..optim import Adam, clip_grad_norm
from .charlm import load_corpus

__all__ = ["add_arguments", "run", "main", "OCRModel", "make_lines", "render",
           "character_error_rate"]

HEIGHT = 16   # pixels per column (features per frame)

# Settings whose default depends on --quick: (full run, quick run).
_DEFAULTS = {
    "epochs": (8, 5),
    "hidden": (96, 64),
    "train_lines": (2400, 800),
    "val_lines": (150, 30),
    "max_chars": (24, 12),
    "batch": (16, 4),
    "lr": (1e-2, 1e-2),
}


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    def d(key):
        return defaults_help(_DEFAULTS, key)

    parser.add_argument("--quick", action="store_true",
                        help="small model and data: a run of about 20 s")
    parser.add_argument("--epochs", type=int, default=None, help="passes over the training lines " + d("epochs"))
    parser.add_argument("--hidden", type=int, default=None, help="LSTM hidden size per direction " + d("hidden"))
    parser.add_argument("--train-lines", type=int, default=None, help="training lines " + d("train_lines"))
    parser.add_argument("--val-lines", type=int, default=None, help="held-out lines " + d("val_lines"))
    parser.add_argument("--max-chars", type=int, default=None, help="characters per line at most " + d("max_chars"))
    parser.add_argument("--batch", type=int, default=None, help="lines per step " + d("batch"))
    parser.add_argument("--lr", type=float, default=None, help="Adam learning rate " + d("lr"))
    parser.add_argument("--clip", type=float, default=5.0, help="max global gradient norm (default 5; 0 disables)")
    parser.add_argument("--noise", type=float, default=0.15, help="std of the Gaussian pixel noise (default 0.15)")
    parser.add_argument("--beam", type=int, default=16, help="beam width (default 16)")
    parser.add_argument("--lm-order", type=int, default=5, help="n of the character n-gram LM (default 5)")
    parser.add_argument("--lm-weight", type=float, default=0.5, help="LM weight (default 0.5)")
    parser.add_argument("--word-score", type=float, default=0.5,
                        help="bonus per character with the LM (default 0.5)")
    parser.add_argument("--text", default=None, help="UTF-8 text file instead of the built-in corpus")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=1,
                        help="seqcore threads (default 1: at these sizes a recurrent step is "
                             "a few microseconds, less than waking a second thread)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# ---------------------------------------------------------------------------- data
_KEEP = re.compile(r"[^A-Za-z0-9 .,;:'\"()\-!?]")


def make_lines(text, max_chars):
    """Cut ``text`` (whitespace collapsed, characters outside letters, digits, space and
    common punctuation dropped) at word boundaries into lines of at most ``max_chars``."""
    words = _KEEP.sub("", " ".join(text.split())).split()
    lines, cur = [], ""
    for w in words:
        w = w[:max_chars]
        if cur and len(cur) + 1 + len(w) > max_chars:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    if cur:
        lines.append(cur)
    return lines


_FONT: list = []


def render(line, rng, noise):
    """Image of ``line``: float32 ``[W, HEIGHT]`` (one row per pixel column = frame), ink
    1 on 0, shifted by 0-3 pixels down and 0-5 right, plus N(0, noise²) pixel noise."""
    from PIL import Image, ImageDraw, ImageFont
    if not _FONT:
        _FONT.append(ImageFont.load_default())
    font = _FONT[0]
    width = int(font.getbbox(line)[2]) if line else 0
    dx, dy = int(rng.integers(0, 6)), int(rng.integers(0, 4))
    img = Image.new("L", (width + dx + 4, HEIGHT), 0)
    ImageDraw.Draw(img).text((dx, dy - 2), line, fill=255, font=font)
    a = np.asarray(img, dtype=np.float32).T / 255.0
    return a + noise * rng.standard_normal(a.shape).astype(np.float32)


def _batch(images, labels):
    """Pad a list of ``[W, HEIGHT]`` images into ``x [T, N, HEIGHT]`` with lengths, and
    the labels into padded targets ``[N, S]`` with lengths."""
    N = len(images)
    il = np.array([im.shape[0] for im in images], np.int64)
    tl = np.array([len(lab) for lab in labels], np.int64)
    x = np.zeros((il.max(), N, HEIGHT), np.float32)
    tg = np.zeros((N, max(1, tl.max())), np.int64)
    for n, (im, lab) in enumerate(zip(images, labels)):
        x[:len(im), n] = im
        tg[n, :len(lab)] = lab
    return x, il, tg, tl


def _edit_distance(a, b):
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def character_error_rate(hypotheses, references):
    """Sum of Levenshtein distances / number of reference characters."""
    edits = sum(_edit_distance(h, r) for h, r in zip(hypotheses, references))
    return edits / max(1, sum(len(r) for r in references))


# ---------------------------------------------------------------------------- model
class OCRModel:
    """Bidirectional :class:`seqcore.LSTM` (``HEIGHT`` -> 2·hidden) -> linear -> C logits
    per frame; class 0 is the CTC blank. ``params``: the live arrays (``lstm.<name>``,
    ``out.weight [C, 2H]``, ``out.bias [C]``)."""

    def __init__(self, n_classes, hidden, seed=None):
        rng = np.random.default_rng(seed)
        self.lstm = LSTM(HEIGHT, hidden, bidirectional=True, seed=rng)
        self.params = OrderedDict(("lstm." + k, v) for k, v in self.lstm.named_parameters())
        bound = 1.0 / math.sqrt(2 * hidden)
        self.params["out.weight"] = rng.uniform(-bound, bound, (n_classes, 2 * hidden)).astype(np.float32)
        self.params["out.bias"] = np.zeros(n_classes, np.float32)

    def logits(self, x, il, training=False):
        y, _, cache = self.lstm(x, lengths=il, training=training)
        return y @ self.params["out.weight"].T + self.params["out.bias"], y, cache

    def loss_and_grads(self, x, il, tg, tl):
        """Mean CTC loss (PyTorch's "mean") of a batch and the gradients of every parameter."""
        z, y, cache = self.logits(x, il, training=True)
        loss, dz = ctc_loss_from_logits(z, tg, il, tl, reduction="mean", zero_infinity=True)
        C = z.shape[-1]
        grads = OrderedDict()
        _, _, g = self.lstm.backward(cache, dz @ self.params["out.weight"])
        for k, v in g.items():
            grads["lstm." + k] = v
        grads["out.weight"] = dz.reshape(-1, C).T @ y.reshape(-1, y.shape[-1])
        grads["out.bias"] = dz.reshape(-1, C).sum(0)
        return float(loss), grads

    def log_probs(self, x, il):
        z = self.logits(x, il)[0]
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))


# ---------------------------------------------------------------------------- driver
def _resolve(args):
    cfg = SimpleNamespace(**vars(args))
    for key, (full, quick) in _DEFAULTS.items():
        if getattr(cfg, key, None) is None:
            setattr(cfg, key, quick if cfg.quick else full)
    for key in ("epochs", "hidden", "train_lines", "val_lines", "max_chars", "batch", "beam",
                "lm_order"):
        if getattr(cfg, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected >= 1, got {getattr(cfg, key)}")
    return cfg


def run(args):
    """Train, evaluate after every epoch, print progress; return the metrics.

    Returns
    -------
    dict with ``history`` (per evaluation: ``epoch`` (0 = untrained), ``train_loss`` (None
    for epoch 0), ``greedy_cer``, ``beam_cer``, ``elapsed_s``), ``lm_beam_cer`` and
    ``greedy_cer`` (final, on the same held-out lines), ``examples`` (reference, greedy,
    beam + LM for a few lines), ``alphabet``, ``corpus`` and ``config``.
    """
    saved = get_num_threads()
    try:
        with threadpool_limits(limits=1, user_api="blas"):   # seqcore's OpenMP owns the cores
            return _run(args)
    finally:
        set_num_threads(saved)


def _decode(model, data, cfg, alphabet, lm=None):
    hyps_g, hyps_b = [], []
    for s in range(0, len(data), 64):
        images, _ = zip(*data[s:s + 64])
        x, il, _, _ = _batch(list(images), [[]] * len(images))
        lp = model.log_probs(x, il)
        hyps_g += [tok for tok, _ in ctc_greedy_decode(lp, il)]
        kw = dict(lm=lm, lm_weight=cfg.lm_weight, word_score=cfg.word_score) if lm else {}
        hyps_b += [h[0][0] for h in ctc_beam_search(lp, il, beam_width=cfg.beam,
                                                    token_min_logp=-12.0, **kw)]
    text = lambda toks: "".join(alphabet[t] for t in toks)  # noqa: E731
    return [text(h) for h in hyps_g], [text(h) for h in hyps_b]


def _run(args):
    cfg = _resolve(args)
    if cfg.threads:
        set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    text, source = load_corpus(cfg.text)
    split = int(len(text) * 0.9)
    train_text, val_text = text[:split], text[split:]
    train_pool, val_pool = make_lines(train_text, cfg.max_chars), make_lines(val_text, cfg.max_chars)
    alphabet = [None] + sorted(set("".join(train_pool)))          # class 0: blank
    index = {c: i for i, c in enumerate(alphabet) if c}
    val_pool = [l for l in val_pool if set(l) <= set(index)]
    pick = lambda pool, k: [pool[i] for i in rng.permutation(len(pool))[:k]]  # noqa: E731
    train_lines, val_lines = pick(train_pool, cfg.train_lines), pick(val_pool, cfg.val_lines)
    labels = lambda line: [index[c] for c in line]  # noqa: E731
    val = [(render(l, rng, cfg.noise), labels(l)) for l in val_lines]
    model = OCRModel(len(alphabet), cfg.hidden, seed=cfg.seed)
    opt = Adam(model.params, lr=cfg.lr)
    print(f"ctc: {source}; {len(train_lines)} training and {len(val_lines)} held-out lines of "
          f"<= {cfg.max_chars} characters, {len(alphabet) - 1} characters + blank; BiLSTM "
          f"2x{cfg.hidden} + linear, {sum(p.size for p in model.params.values())} parameters; "
          f"{cfg.epochs} epochs, batch {cfg.batch}, Adam lr {cfg.lr:g}; beam {cfg.beam}",
          flush=True)

    t0 = time.perf_counter()
    history = []

    def evaluate(epoch, train_loss):
        greedy, beam = _decode(model, val, cfg, alphabet)
        h = {"epoch": epoch, "train_loss": train_loss,
             "greedy_cer": character_error_rate(greedy, val_lines),
             "beam_cer": character_error_rate(beam, val_lines),
             "elapsed_s": time.perf_counter() - t0}
        history.append(h)
        loss = "-" if train_loss is None else f"{train_loss:.3f}"
        print(f"epoch {epoch}: train loss {loss}, held-out CER greedy {h['greedy_cer']:.3f}, "
              f"beam {h['beam_cer']:.3f} ({h['elapsed_s']:.1f} s)", flush=True)

    evaluate(0, None)
    for epoch in range(1, cfg.epochs + 1):
        # fresh noise and shifts every epoch (data augmentation)
        order = rng.permutation(len(train_lines))
        losses = []
        bar = tqdm(range(0, len(order), cfg.batch), desc=f"epoch {epoch}/{cfg.epochs}",
                   unit="step", leave=False, disable=cfg.no_progress)
        for s in bar:
            lines = [train_lines[i] for i in order[s:s + cfg.batch]]
            x, il, tg, tl = _batch([render(l, rng, cfg.noise) for l in lines],
                                   [labels(l) for l in lines])
            loss, grads = model.loss_and_grads(x, il, tg, tl)
            if cfg.clip:
                clip_grad_norm(grads, cfg.clip)
            opt.step(grads)
            losses.append(loss)
            bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
        bar.close()
        evaluate(epoch, float(np.mean(losses)))

    lm = NGramLM(train_text, alphabet, order=cfg.lm_order)
    greedy, beam_lm = _decode(model, val, cfg, alphabet, lm=lm)
    g_cer = character_error_rate(greedy, val_lines)
    lm_cer = character_error_rate(beam_lm, val_lines)
    print(f"held-out CER: greedy {g_cer:.3f}, beam {history[-1]['beam_cer']:.3f}, beam + "
          f"{cfg.lm_order}-gram LM (weight {cfg.lm_weight:g}) {lm_cer:.3f} "
          f"({'better' if lm_cer < g_cer else 'not better'} than greedy)", flush=True)
    examples = list(zip(val_lines, greedy, beam_lm))[:3]
    for ref, g, b in examples:
        print(f"  reference {ref!r}\n  greedy    {g!r}\n  beam+LM   {b!r}", flush=True)
    return {"history": history, "greedy_cer": g_cer, "lm_beam_cer": lm_cer,
            "examples": examples, "alphabet": alphabet, "corpus": source, "config": vars(cfg)}


def main(argv=None) -> int:
    """``python -m seqcore.demo.ctc``: the same as ``seqcore demo ctc``."""
    from . import run_demo
    return run_demo("ctc", argv)


if __name__ == "__main__":
    raise SystemExit(main())

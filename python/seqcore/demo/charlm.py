"""Character-level LSTM language model trained with seqcore's kernels.

Model: a learned character embedding (or one-hot inputs with ``--embed 0``), a
:class:`seqcore.LSTM` of ``--layers`` layers, and a linear softmax output layer; the loss is
the mean cross-entropy of the next character. Everything but the LSTM (embedding lookup and
its gradient, output layer, softmax) is plain NumPy. Training is truncated
backpropagation through time over ``--batch`` parallel streams of the training text: each
step runs ``--seq-len`` characters of every stream, and the hidden state is carried to the
next chunk without a gradient across the boundary. Adam (or SGD) with gradient clipping by
global norm (:mod:`seqcore.optim`). After each epoch the training and validation perplexity
per character, ``exp(mean cross-entropy)``, are printed; at the end text is sampled with a
temperature, one step at a time through the layer's forward with ``T = 1``.

Corpus: gensim's ``lee_background.cor`` (the file ``gensim.test.utils.datapath`` names; found
without importing gensim) when gensim is installed, else the text of the standard
library's ``pydoc_data.topics``; or any UTF-8 file with ``--text``. The last 10 % is the
validation split.

Run: ``seqcore demo charlm`` (about 1-2 minutes on 2 cores), ``seqcore demo charlm --quick``
(a few seconds), or ``python -m seqcore.demo.charlm``.
"""
from __future__ import annotations

import importlib.util
import math
import os
import time
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from .. import set_num_threads
from . import defaults_help
from ..layers import LSTM
from ..optim import SGD, Adam, clip_grad_norm

__all__ = ["add_arguments", "run", "main", "CharLM", "load_corpus", "encode", "sample"]

# Settings whose default depends on --quick: (full run, quick run).
_DEFAULTS = {
    "epochs": (3, 2),
    "hidden": (256, 64),
    "embed": (64, 32),
    "seq_len": (64, 32),
    "batch": (32, 16),
    "max_chars": (0, 40_000),
    "sample_length": (300, 80),
}
_DEFAULT_LR = {"adam": 3e-3, "sgd": 1.0}
_QUICK_LR = {"adam": 1e-2, "sgd": 1.0}
_VAL_FRACTION = 0.1


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    def d(key):
        return defaults_help(_DEFAULTS, key)

    parser.add_argument("--quick", action="store_true",
                        help="small model and corpus: a run of a few seconds")
    parser.add_argument("--epochs", type=int, default=None,
                        help="passes over the data " + d("epochs"))
    parser.add_argument("--hidden", type=int, default=None,
                        help="LSTM hidden size H " + d("hidden"))
    parser.add_argument("--layers", type=int, default=1, help="LSTM layers (default 1)")
    parser.add_argument("--embed", type=int, default=None,
                        help="embedding size, 0 for one-hot inputs " + d("embed"))
    parser.add_argument("--seq-len", type=int, default=None,
                        help="characters per truncated-BPTT chunk " + d("seq_len"))
    parser.add_argument("--batch", type=int, default=None,
                        help="parallel text streams per step " + d("batch"))
    parser.add_argument("--lr", type=float, default=None,
                        help="learning rate (default 3e-3 for adam, 1.0 for sgd; "
                             "1e-2 for adam with --quick)")
    parser.add_argument("--clip", type=float, default=1.0,
                        help="max global gradient norm (default 1.0; 0 disables)")
    parser.add_argument("--optimizer", choices=("adam", "sgd"), default="adam",
                        help="optimizer (default adam)")
    parser.add_argument("--max-chars", type=int, default=None,
                        help="use only the first N characters of the corpus, 0 for all "
                             + d("max_chars"))
    parser.add_argument("--text", default=None,
                        help="UTF-8 text file to train on instead of the built-in corpus")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--threads", type=int, default=None,
                        help="seqcore threads (default: the library's setting)")
    parser.add_argument("--temperature", type=float, default=0.8,
                        help="sampling temperature > 0 (default 0.8)")
    parser.add_argument("--sample-length", type=int, default=None,
                        help="characters to sample at the end " + d("sample_length"))
    parser.add_argument("--seed-text", default="The ",
                        help="text that primes the sampler (default 'The ')")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


# ---------------------------------------------------------------------------- data
def load_corpus(path=None, max_chars=0):
    """Return ``(text, source)``: the file at ``path``, else gensim's
    ``lee_background.cor``, else the joined ``pydoc_data.topics`` strings; at most
    ``max_chars`` characters (0: all)."""
    text = source = None
    if path is not None:
        with open(path, encoding="utf-8") as f:
            text, source = f.read(), path
    else:
        # gensim.test.utils.datapath("lee_background.cor") without importing gensim (~3 s).
        spec = importlib.util.find_spec("gensim")
        if spec is not None and spec.origin:
            lee = os.path.join(os.path.dirname(spec.origin), "test", "test_data",
                               "lee_background.cor")
            if os.path.isfile(lee):
                with open(lee, encoding="utf-8") as f:
                    text, source = f.read(), "gensim lee_background.cor"
        if text is None:
            from pydoc_data.topics import topics
            text = "\n\n".join(topics[k] for k in sorted(topics))
            source = "pydoc_data.topics"
    if max_chars:
        text = text[:max_chars]
    return text, source


def encode(text):
    """Return ``(ids, vocab)``: ``ids [len(text)]`` int64 indices into ``vocab``, the
    sorted list of distinct characters."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    uniq, ids = np.unique(codes, return_inverse=True)
    return ids.astype(np.int64).ravel(), [chr(c) for c in uniq]


def _streams(ids, n_streams):
    """Cut ``ids`` into ``n_streams`` parallel streams: inputs and next-character targets,
    both ``[S, N]`` (time-major)."""
    S = (len(ids) - 1) // n_streams
    if S < 1:
        raise ValueError(f"text too short: {len(ids)} characters for {n_streams} streams")
    inputs = ids[:n_streams * S].reshape(n_streams, S).T
    targets = ids[1:n_streams * S + 1].reshape(n_streams, S).T
    return np.ascontiguousarray(inputs), np.ascontiguousarray(targets)


def _log_softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    z -= np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return z


# ---------------------------------------------------------------------------- model
class CharLM:
    """Embedding (or one-hot) -> seqcore.LSTM -> linear -> softmax (float32 by default;
    float64 for gradient checks).

    ``params`` is an ``OrderedDict`` of the live arrays: ``embedding [V, E]`` (unless
    one-hot), ``lstm.<torch name>`` for the LSTM, ``out.weight [V, H]``, ``out.bias [V]``.
    """

    def __init__(self, vocab_size, hidden, layers=1, embed=64, seed=None, dtype=np.float32):
        rng = np.random.default_rng(seed)
        self.vocab_size = V = int(vocab_size)
        self.embed = int(embed)
        self.dtype = dtype = np.dtype(dtype)
        self.lstm = LSTM(self.embed or V, hidden, num_layers=layers, dtype=dtype, seed=rng)
        self.params = OrderedDict()
        if self.embed:
            self.params["embedding"] = rng.standard_normal((V, self.embed)).astype(dtype)
        for name, p in self.lstm.named_parameters():
            self.params["lstm." + name] = p
        bound = 1.0 / math.sqrt(hidden)  # torch.nn.Linear's initialisation
        self.params["out.weight"] = rng.uniform(-bound, bound, (V, hidden)).astype(dtype)
        self.params["out.bias"] = rng.uniform(-bound, bound, V).astype(dtype)

    def num_parameters(self):
        return sum(p.size for p in self.params.values())

    def _inputs(self, ids):
        if self.embed:
            return self.params["embedding"][ids]
        return np.eye(self.vocab_size, dtype=self.dtype)[ids]

    def _logits(self, y):
        return y @ self.params["out.weight"].T + self.params["out.bias"]

    def loss_and_grads(self, ids, targets, state=None):
        """One truncated-BPTT chunk: ``ids``, ``targets [T, N]`` -> ``(nll_sum, count,
        grads, state)``; ``grads`` (keyed like ``params``) is of the mean cross-entropy,
        ``state`` is the final ``(h, c)`` to carry into the next chunk."""
        x = self._inputs(ids)
        y, state, cache = self.lstm(x, state)
        T, N, H = y.shape
        M = T * N
        yf = y.reshape(M, H)
        logp = _log_softmax(self._logits(yf))
        rows, t = np.arange(M), targets.ravel()
        nll_sum = -float(logp[rows, t].sum(dtype=np.float64))
        dlogits = np.exp(logp)
        dlogits[rows, t] -= 1.0
        dlogits /= M
        dx, _, lstm_grads = self.lstm.backward(cache, (dlogits @ self.params["out.weight"])
                                               .reshape(T, N, H))
        grads = OrderedDict()
        if self.embed:
            d_emb = np.zeros_like(self.params["embedding"])
            np.add.at(d_emb, ids.ravel(), dx.reshape(M, -1))
            grads["embedding"] = d_emb
        for name, g in lstm_grads.items():
            grads["lstm." + name] = g
        grads["out.weight"] = dlogits.T @ yf
        grads["out.bias"] = dlogits.sum(axis=0)
        return nll_sum, M, grads, state

    def evaluate(self, ids, n_streams, chunk=256):
        """Perplexity per character of ``ids`` (inference, state carried through)."""
        inputs, targets = _streams(ids, max(1, min(n_streams, len(ids) - 1)))
        state, nll, count = None, 0.0, 0
        for s in range(0, len(inputs), chunk):
            y, state, _ = self.lstm(self._inputs(inputs[s:s + chunk]), state, training=False)
            logp = _log_softmax(self._logits(y))
            tgt = targets[s:s + chunk]
            nll -= float(np.take_along_axis(logp, tgt[..., None], axis=-1).sum(dtype=np.float64))
            count += tgt.size
        return math.exp(nll / count)


def sample(model, vocab, length, temperature=1.0, seed_text="", rng=None):
    """Generate ``length`` characters after priming the model with ``seed_text``
    (characters outside ``vocab`` are skipped; with none left the sampler starts from a
    space, newline or the first character of ``vocab``). Returns the generated text only.

    Raises ValueError if ``temperature <= 0`` or ``length < 0``.
    """
    if not temperature > 0:
        raise ValueError(f"temperature: expected > 0, got {temperature}")
    if length < 0:
        raise ValueError(f"length: expected >= 0, got {length}")
    rng = np.random.default_rng(rng)
    index = {c: i for i, c in enumerate(vocab)}
    prime = [index[c] for c in seed_text if c in index]
    if not prime:
        prime = [index.get(" ", index.get("\n", 0))]
    y, state, _ = model.lstm(model._inputs(np.array(prime)[:, None]), training=False)
    out = []
    for _ in range(length):
        logits = model._logits(y[-1, 0]).astype(np.float64) / temperature
        p = np.exp(logits - logits.max())
        i = int(rng.choice(len(vocab), p=p / p.sum()))
        out.append(vocab[i])
        y, state, _ = model.lstm(model._inputs(np.array([[i]])), state, training=False)
    return "".join(out)


# ---------------------------------------------------------------------------- driver
def _resolve(args):
    cfg = SimpleNamespace(**vars(args))
    for key, (full, quick) in _DEFAULTS.items():
        if getattr(cfg, key, None) is None:
            setattr(cfg, key, quick if cfg.quick else full)
    if cfg.lr is None:
        cfg.lr = (_QUICK_LR if cfg.quick else _DEFAULT_LR)[cfg.optimizer]
    for key in ("hidden", "layers", "seq_len", "batch"):
        if getattr(cfg, key) < 1:
            raise ValueError(f"--{key.replace('_', '-')}: expected >= 1, got {getattr(cfg, key)}")
    for key in ("epochs", "embed", "max_chars", "sample_length"):
        if getattr(cfg, key) < 0:
            raise ValueError(f"--{key.replace('_', '-')}: expected >= 0, got {getattr(cfg, key)}")
    if not cfg.temperature > 0:
        raise ValueError(f"--temperature: expected > 0, got {cfg.temperature}")
    return cfg


def run(args):
    """Train and sample; print progress; return the metrics.

    NumPy's BLAS is held to one thread meanwhile: its busy-waiting workers and seqcore's
    OpenMP threads would otherwise take turns on the same cores (10-20x slower steps on a
    2-core machine); seqcore's kernels own the threads.

    Returns
    -------
    dict with ``history`` (one entry per evaluation: ``epoch`` (0 = before training),
    ``step``, ``train_ppl`` (None for epoch 0), ``val_ppl``, ``elapsed_s``), ``sample``
    (the generated text, ``sample_length`` characters), ``vocab_size``, ``corpus``,
    ``train_chars``, ``val_chars``, ``parameters`` and ``config`` (resolved options).
    """
    with threadpool_limits(limits=1, user_api="blas"):
        return _run(args)


def _run(args):
    cfg = _resolve(args)
    if cfg.threads:
        set_num_threads(cfg.threads)
    text, source = load_corpus(cfg.text, cfg.max_chars)
    ids, vocab = encode(text)
    n_val = max(2, int(len(ids) * _VAL_FRACTION))
    train_ids, val_ids = ids[:-n_val], ids[-n_val:]
    inputs, targets = _streams(train_ids, cfg.batch)
    model = CharLM(len(vocab), cfg.hidden, cfg.layers, cfg.embed, seed=cfg.seed)
    opt_cls = Adam if cfg.optimizer == "adam" else SGD
    opt = opt_cls(model.params, lr=cfg.lr)
    n_steps = -(-len(inputs) // cfg.seq_len)
    print(f"charlm: {source}, {len(ids)} characters ({len(train_ids)} train, {len(val_ids)} "
          f"validation), vocabulary {len(vocab)}; LSTM {cfg.layers}x{cfg.hidden}, embedding "
          f"{cfg.embed or 'one-hot'}, {model.num_parameters()} parameters; {cfg.epochs} "
          f"epoch{'' if cfg.epochs == 1 else 's'} of {n_steps} steps (batch {cfg.batch} x "
          f"seq-len {cfg.seq_len}), {cfg.optimizer} lr {cfg.lr:g}, clip {cfg.clip:g}",
          flush=True)

    t0 = time.perf_counter()
    val_ppl = model.evaluate(val_ids, cfg.batch)
    history = [{"epoch": 0, "step": 0, "train_ppl": None, "val_ppl": val_ppl,
                "elapsed_s": time.perf_counter() - t0}]
    print(f"epoch 0: validation ppl {val_ppl:.2f} (uniform: {len(vocab)})", flush=True)
    step = 0
    for epoch in range(1, cfg.epochs + 1):
        state, nll, count, t_epoch = None, 0.0, 0, time.perf_counter()
        bar = tqdm(range(0, len(inputs), cfg.seq_len), desc=f"epoch {epoch}/{cfg.epochs}",
                   unit="step", leave=False, disable=cfg.no_progress)
        for s in bar:
            chunk_nll, chunk_count, grads, state = model.loss_and_grads(
                inputs[s:s + cfg.seq_len], targets[s:s + cfg.seq_len], state)
            if cfg.clip:
                clip_grad_norm(grads, cfg.clip)
            opt.step(grads)
            nll += chunk_nll
            count += chunk_count
            step += 1
            bar.set_postfix(train_ppl=f"{math.exp(chunk_nll / chunk_count):.2f}", refresh=False)
        bar.close()
        train_ppl = math.exp(nll / count)
        seconds = time.perf_counter() - t_epoch
        val_ppl = model.evaluate(val_ids, cfg.batch)
        history.append({"epoch": epoch, "step": step, "train_ppl": train_ppl,
                        "val_ppl": val_ppl, "elapsed_s": time.perf_counter() - t0})
        print(f"epoch {epoch}: train ppl {train_ppl:.2f}, validation ppl {val_ppl:.2f} "
              f"({seconds:.1f} s, {count / seconds:,.0f} chars/s)", flush=True)

    text_out = sample(model, vocab, cfg.sample_length, cfg.temperature, cfg.seed_text,
                      rng=cfg.seed)
    print(f"sample (temperature {cfg.temperature:g}):\n{cfg.seed_text}{text_out}", flush=True)
    return {"history": history, "sample": text_out, "vocab_size": len(vocab),
            "corpus": source, "train_chars": len(train_ids), "val_chars": len(val_ids),
            "parameters": model.num_parameters(), "config": vars(cfg)}


def main(argv=None) -> int:
    """``python -m seqcore.demo.charlm``: the same as ``seqcore demo charlm``."""
    from . import run_demo
    return run_demo("charlm", argv)


if __name__ == "__main__":
    raise SystemExit(main())

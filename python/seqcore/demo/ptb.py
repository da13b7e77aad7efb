"""Word-level language model on the Penn Treebank: Zaremba et al. (2014) reproduced with
:class:`seqcore.models.WordLM`.

Data: :func:`seqcore.datasets.ptb` (Mikolov's split: 929,589 / 73,760 / 82,430 tokens,
V = 10,000). Configurations, as Zaremba et al.'s table 1 and their code:

========  =====  ======  ====  =====  =======  ==========  =====  ======  ============
config    H      layers  bptt  batch  dropout  init_scale  lr     decay   decay after
========  =====  ======  ====  =====  =======  ==========  =====  ======  ============
small     200    2       20    20     0        0.1         1      0.5     epoch 4 (13)
medium    650    2       35    20     0.5      0.05        1      0.8     epoch 6 (39)
========  =====  ======  ====  =====  =======  ==========  =====  ======  ============

SGD on the loss summed over the window's steps and averaged over the batch, gradients
clipped at global norm 5, the state carried across windows (reset each epoch). Prints the
training and validation perplexity per epoch (validation: one stream, the state carried
through, the exact full softmax) and the test perplexity at the end (Zaremba small: valid
120.7, test 114.5), with a progress bar in words/s, then samples sentences.
``--output sampled|hierarchical`` trains with those output layers (evaluated exactly);
``--reference torch`` trains the same model written with torch.nn modules the same way,
from the same initial weights, after ours, and prints its perplexities and words/s.
``--quick`` trains a small model on a slice, for CI.

Run: ``seqcore demo ptb`` or ``python -m seqcore.demo.ptb``.
"""
from __future__ import annotations

import math
import time
from types import SimpleNamespace

import numpy as np

__all__ = ["add_arguments", "run", "main", "CONFIGS", "TorchWordLM"]

#: Zaremba et al.'s configurations (and "quick": a slice for CI)
CONFIGS = {
    "small": dict(hidden=200, layers=2, bptt=20, batch=20, dropout=0.0, init_scale=0.1,
                  lr=1.0, decay=0.5, max_epoch=4, epochs=13, clip=5.0),
    "medium": dict(hidden=650, layers=2, bptt=35, batch=20, dropout=0.5, init_scale=0.05,
                   lr=1.0, decay=0.8, max_epoch=6, epochs=39, clip=5.0),
}
_QUICK = dict(hidden=64, epochs=2, train_tokens=60_000, eval_tokens=8_000)


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    parser.add_argument("--config", choices=tuple(CONFIGS), default="small")
    parser.add_argument("--quick", action="store_true",
                        help="H=64, 2 epochs on 60k training and 8k evaluation tokens")
    parser.add_argument("--epochs", type=int, default=None, help="default: the config's")
    parser.add_argument("--output", choices=("softmax", "sampled", "hierarchical"),
                        default="softmax", help="output layer used in training")
    parser.add_argument("--num-sampled", type=int, default=1024,
                        help="classes drawn per window with --output sampled")
    parser.add_argument("--tie-weights", action="store_true",
                        help="share the embedding and output weights (Press & Wolf 2017)")
    parser.add_argument("--optimizer", choices=("sgd", "adam"), default="sgd",
                        help="sgd with the config's schedule (default), or adam (lr 1e-3)")
    parser.add_argument("--lr", type=float, default=None, help="default: the config's")
    parser.add_argument("--reference", choices=("none", "torch"), default="none",
                        help="also train the torch.nn model the same way")
    parser.add_argument("--samples", type=int, default=3, help="sentences to sample")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--top-k", type=int, default=None)
    parser.add_argument("--top-p", type=float, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="seqcore and torch threads (default: the library's setting)")
    parser.add_argument("--plot", default="ptb_perplexity.png",
                        help="PNG of the perplexity curves ('' for none)")
    parser.add_argument("--no-progress", action="store_true")


def _config(args):
    cfg = SimpleNamespace(**CONFIGS[args.config])
    if args.quick:
        cfg.hidden, cfg.epochs = _QUICK["hidden"], _QUICK["epochs"]
    if args.epochs is not None:
        if args.epochs < 1:
            raise SystemExit(f"--epochs: expected >= 1, got {args.epochs}")
        cfg.epochs = args.epochs
    if args.lr is not None:
        cfg.lr = args.lr
    elif args.optimizer == "adam":
        cfg.lr = 1e-3
    return cfg


def learning_rate(cfg, epoch):
    """Zaremba's schedule: ``lr · decay^max(epoch - max_epoch, 0)`` for epoch 1, 2, ..."""
    return cfg.lr * cfg.decay ** max(epoch - cfg.max_epoch, 0)


class TorchWordLM:
    """:class:`seqcore.models.WordLM` ("softmax", untied) written with torch.nn modules and
    trained the same way: ``Embedding``, ``Dropout``, ``LSTM`` (one module per layer, so the
    dropout sits where Zaremba's does), ``Linear``, ``cross_entropy`` times T,
    ``clip_grad_norm_``, ``torch.optim.SGD`` or ``Adam``; from the WordLM's initial weights.
    The reference of ``--reference torch`` and of ``seqcore bench --ops wordlm``."""

    def __init__(self, init, lr, optimizer="sgd", seed=0):
        import torch
        self.torch = torch
        torch.manual_seed(seed)
        p = init.params
        V, H = init.vocab_size, init.hidden_size
        self.emb = torch.nn.Embedding(V, init.embedding_size)
        self.layers = torch.nn.ModuleList(
            torch.nn.LSTM(init.embedding_size if k == 0 else H, H)
            for k in range(init.num_layers))
        self.head = torch.nn.Linear(H, V)
        self.drop = torch.nn.Dropout(init.dropout)
        with torch.no_grad():
            self.emb.weight.copy_(torch.from_numpy(p["embedding"]))
            for k, layer in enumerate(self.layers):
                for name, w in layer.named_parameters():
                    w.copy_(torch.from_numpy(p[f"lstm.{name[:-1]}{k}"]))
            self.head.weight.copy_(torch.from_numpy(p["out.weight"]))
            self.head.bias.copy_(torch.from_numpy(p["out.bias"]))
        self.modules = torch.nn.ModuleList([self.emb, *self.layers, self.head])
        cls = torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam
        self.opt = cls(self.modules.parameters(), lr=lr)

    def _run(self, ids, state):
        x = self.drop(self.emb(self.torch.from_numpy(np.asarray(ids, np.int64))))
        new = []
        for k, layer in enumerate(self.layers):
            x, (h, c) = layer(x, None if state is None else (state[0][k:k + 1],
                                                            state[1][k:k + 1]))
            x = self.drop(x)
            new.append((h, c))
        state = (self.torch.cat([h for h, _ in new]).detach(),
                 self.torch.cat([c for _, c in new]).detach())
        return self.head(x).flatten(0, 1), state

    def train_step(self, ids, targets, state, lr, max_norm=5.0):
        torch = self.torch
        self.modules.train()
        for group in self.opt.param_groups:
            group["lr"] = lr
        self.opt.zero_grad(set_to_none=True)
        logits, state = self._run(ids, state)
        loss = torch.nn.functional.cross_entropy(
            logits, torch.from_numpy(np.asarray(targets, np.int64)).flatten())
        (loss * len(ids)).backward()
        if max_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.modules.parameters(), max_norm)
        self.opt.step()
        return loss.item(), state

    def perplexity(self, stream, chunk=1000):
        from ..models import batchify, windows
        torch = self.torch
        self.modules.eval()
        state, nll, count = None, 0.0, 0
        with torch.no_grad():
            for ids, targets in windows(batchify(stream, 1), chunk):
                logits, state = self._run(ids, state)
                nll += torch.nn.functional.cross_entropy(
                    logits, torch.from_numpy(targets.reshape(-1)), reduction="sum").item()
                count += targets.size
        return math.exp(nll / count)


def _train(name, step, perplexity, data, cfg, args, lr_of_epoch, valid):
    """Epochs of truncated-BPTT windows; returns the per-epoch history. The training figure
    is exp(mean training loss): the perplexity for the full and hierarchical softmax, for the
    sampled softmax the exp of its sampled loss (not a perplexity)."""
    from ..models import windows
    train_label = "train exp(sampled loss)" if args.output == "sampled" else "train ppl"
    tqdm = None
    if not args.no_progress:
        try:
            from tqdm.auto import tqdm
        except ImportError:
            pass
    history = []
    for epoch in range(1, cfg.epochs + 1):
        lr = lr_of_epoch(epoch)
        state, nll, count = None, 0.0, 0
        steps = (len(data) - 2) // cfg.bptt + 1
        bar = None if tqdm is None else tqdm(total=steps * cfg.bptt * cfg.batch, unit="word",
                                             unit_scale=True, leave=False,
                                             desc=f"{name} epoch {epoch}/{cfg.epochs}")
        t0 = time.perf_counter()
        for ids, targets in windows(data, cfg.bptt):
            loss, state = step(ids, targets, state, lr)
            nll += loss * targets.size
            count += targets.size
            if bar is not None:
                bar.update(targets.size)
        seconds = time.perf_counter() - t0
        if bar is not None:
            bar.close()
        row = dict(epoch=epoch, lr=lr, train=math.exp(nll / count), valid=perplexity(valid),
                   seconds=seconds, words_per_s=count / seconds)
        history.append(row)
        print(f"{name} epoch {epoch:2d}: lr {lr:.4g}, {train_label} {row['train']:.2f}, valid ppl "
              f"{row['valid']:.2f} ({seconds:.0f} s, {row['words_per_s']:,.0f} words/s)",
              flush=True)
    return history


def run(args):
    """Train, evaluate and sample; returns a dict with ``history`` (per-epoch rows: epoch,
    lr, train, valid perplexity, seconds, words_per_s), ``test``, ``samples``, ``vocab_size``,
    ``uniform`` (V) and, with ``--reference torch``, ``torch`` (its history and test)."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=1, user_api="blas"):   # seqcore's threads own the cores
        return _run(args)


def _run(args):
    from .. import set_num_threads
    from ..datasets import DatasetError, ptb
    from ..models import WordLM, batchify
    from ..optim import SGD, Adam
    cfg = _config(args)
    if args.threads:
        set_num_threads(args.threads)
    try:
        data = ptb()
    except DatasetError as err:
        raise SystemExit(f"seqcore demo ptb: {err}") from None
    train, valid, test = data.train, data.valid, data.test
    if args.quick:
        train = train[:_QUICK["train_tokens"]]
        valid, test = valid[:_QUICK["eval_tokens"]], test[:_QUICK["eval_tokens"]]
    V = len(data.vocab)
    counts = np.bincount(train, minlength=V)
    model = WordLM(V, cfg.hidden, cfg.layers, dropout=cfg.dropout, output=args.output,
                   counts=counts, num_sampled=args.num_sampled, tie_weights=args.tie_weights,
                   init_scale=cfg.init_scale, seed=args.seed)
    batches = batchify(train, cfg.batch)
    print(f"PTB: {len(train):,} / {len(valid):,} / {len(test):,} train / valid / test tokens, "
          f"V={V}; {model!r}, {model.num_parameters():,} parameters; {cfg.epochs} epochs of "
          f"{(len(batches) - 2) // cfg.bptt + 1} windows (batch {cfg.batch} x bptt "
          f"{cfg.bptt}), {args.optimizer} lr {cfg.lr:g}"
          + (f" x {cfg.decay:g} per epoch after {cfg.max_epoch}" if args.optimizer == "sgd"
             else "") + f", clip {cfg.clip:g}", flush=True)

    def lr_of_epoch(epoch):
        return learning_rate(cfg, epoch) if args.optimizer == "sgd" else cfg.lr

    torch_model = None
    if args.reference == "torch":
        if args.output != "softmax" or args.tie_weights:
            raise SystemExit("--reference torch: only with --output softmax, untied")
        torch_model = TorchWordLM(model, cfg.lr, args.optimizer, seed=args.seed)
        if args.threads:
            torch_model.torch.set_num_threads(args.threads)
    opt = (SGD if args.optimizer == "sgd" else Adam)(model.params, lr=cfg.lr)

    def step(ids, targets, state, lr):
        opt.lr = lr
        return model.train_step(ids, targets, state, opt, cfg.clip)

    t0 = time.perf_counter()
    history = _train("seqcore", step, model.perplexity, batches, cfg, args, lr_of_epoch, valid)
    test_ppl = model.perplexity(test)
    print(f"seqcore: test ppl {test_ppl:.2f}, valid {history[-1]['valid']:.2f} after "
          f"{cfg.epochs} epochs ({time.perf_counter() - t0:.0f} s; uniform: {V})", flush=True)
    out = dict(history=history, test=test_ppl, vocab_size=V, uniform=V)
    if torch_model is not None:
        def torch_step(ids, targets, state, lr):
            return torch_model.train_step(ids, targets, state, lr, cfg.clip)
        t_hist = _train("torch", torch_step, torch_model.perplexity, batches, cfg, args,
                        lr_of_epoch, valid)
        out["torch"] = dict(history=t_hist, test=torch_model.perplexity(test))
        ratio = np.median([a["words_per_s"] / b["words_per_s"] for a, b in zip(history, t_hist)])
        print(f"torch: test ppl {out['torch']['test']:.2f}; seqcore trains {ratio:.2f}x the "
              f"words/s of torch.nn (median over epochs, same run)", flush=True)
    out["samples"] = []
    rng = np.random.default_rng(args.seed)
    eos = data.vocab.index("<eos>")
    for _ in range(args.samples):
        ids = model.sample(30, prime=[eos], temperature=args.temperature, top_k=args.top_k,
                           top_p=args.top_p, seed=int(rng.integers(1 << 31)))
        words = [data.vocab[i] for i in ids]
        text = " ".join(words[:words.index("<eos>")] if "<eos>" in words else words)
        out["samples"].append(text)
        print("sample:", text)
    if args.plot:
        _plot(out, args.plot)
    return out


def _plot(out, path):
    from . import pyplot, save_figure
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for name, hist, style in (("seqcore", out["history"], "-"),
                              ("torch", out.get("torch", {}).get("history"), "--")):
        if hist:
            ep = [h["epoch"] for h in hist]
            ax.plot(ep, [h["train"] for h in hist], style, color="tab:blue",
                    label=f"{name} train")
            ax.plot(ep, [h["valid"] for h in hist], style, color="tab:orange",
                    label=f"{name} valid")
    ax.set(xlabel="epoch", ylabel="perplexity", yscale="log", title="PTB word-level LSTM")
    ax.legend()
    save_figure(plt, fig, path, "perplexity curve")


def main(argv=None):
    from . import run_demo
    return run_demo("ptb", argv)


if __name__ == "__main__":
    raise SystemExit(main())

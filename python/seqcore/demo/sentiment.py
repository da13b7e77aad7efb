"""Sentiment classification of movie-review sentences with GloVe, the course's two models and
the practitioner's baseline, by 10-fold cross-validation.

Data (:mod:`seqcore.datasets`): Pang & Lee's 10,605 movie-review sentences with mean human
ratings (the "MR" benchmark; 10,568 with a non-zero rating give the binary task, all of them
the five-class one) and GloVe 6B 50-d. Models, each trained and tested on the same folds:

1. ``avg`` (Emojify V1): the mean GloVe vector of the sentence's known words
   (:func:`seqcore.embedding_bag_forward`) into a softmax layer, trained with Adam.
2. ``lstm`` (Emojify V2; *Fundamentals of Deep Learning* ch. 9): the frozen GloVe vectors
   into a 2-layer LSTM (:class:`seqcore.LSTM`, ragged ``lengths``: no padding is computed),
   its last state into a softmax layer; Adam, mini-batches. ``lstm-ft``: the same with the
   word vectors fine-tuned (their gradient from :func:`seqcore.embedding_backward` as sparse
   rows, updated by a lazy Adam: only the rows a batch touches, as torch's SparseAdam).
3. ``tfidf``: scikit-learn's tf-idf (uni- and bigrams) + logistic regression, the baseline a
   practitioner reaches for (skipped with a message without scikit-learn).

Prints the accuracy of each fold and the mean +- standard deviation, the five-class accuracy
of ``avg`` and ``tfidf``, and misclassified sentences of the last fold; draws the LSTM's
learning curve (training loss and held-out accuracy per epoch) to a PNG when matplotlib is
installed. ``--quick`` runs 2 folds on 2,000 sentences.

Run: ``seqcore demo sentiment`` or ``python -m seqcore.demo.sentiment``.
"""
from __future__ import annotations

import math
import re
import time
from collections import OrderedDict

import numpy as np

__all__ = ["add_arguments", "run", "main", "tokenize", "folds"]

_CLITIC = re.compile(r"(n't|'s|'re|'ve|'ll|'d|'m)\b")
_TOKEN = re.compile(r"n't|'[a-z]+|[a-z0-9]+|[^\sa-z0-9]")


def tokenize(sentence):
    """Lower-cased tokens as GloVe 6B's (Stanford tokenizer) vocabulary has them: words,
    clitics split off ("it's" -> "it", "'s"; "isn't" -> "is", "n't"), punctuation."""
    s = _CLITIC.sub(r" \1", sentence.lower().replace("''", '"').replace("``", '"'))
    return _TOKEN.findall(s)


def folds(n, k, seed):
    """k (train, test) index pairs of a seeded shuffle of range(n), test folds disjoint."""
    order = np.random.default_rng(seed).permutation(n)
    parts = np.array_split(order, k)
    return [(np.concatenate(parts[:i] + parts[i + 1:]), parts[i]) for i in range(k)]


def add_arguments(parser):
    """Add the demo's options to an ``argparse`` parser (or sub-parser)."""
    parser.add_argument("--quick", action="store_true", help="2 folds of 2,000 sentences")
    parser.add_argument("--folds", type=int, default=None, help="default 10 (quick: 2)")
    parser.add_argument("--epochs", type=int, default=None, help="LSTM epochs (default 6)")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM hidden size")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="avg,lstm,lstm-ft,tfidf",
                        help="comma-separated subset of avg, lstm, lstm-ft, tfidf")
    parser.add_argument("--plot", default="sentiment_learning_curve.png",
                        help="PNG of the LSTM learning curve ('' for none)")
    parser.add_argument("--no-progress", action="store_true")


# ---- data -------------------------------------------------------------------------------

def _encode(sentences, kv):
    """Token ids into kv (unknown words dropped) as (ids [n], offsets [S + 1])."""
    ids, offsets = [], [0]
    for s in sentences:
        row = [kv.key_to_index[t] for t in tokenize(s) if t in kv.key_to_index]
        ids.extend(row)
        offsets.append(len(ids))
    return np.array(ids, np.int64), np.array(offsets, np.int64)


def _subset(ids, offsets, rows):
    """(ids, offsets) of the sentences ``rows``."""
    lengths = np.diff(offsets)[rows]
    parts = [ids[offsets[r]:offsets[r + 1]] for r in rows]
    return (np.concatenate(parts) if parts else np.zeros(0, np.int64),
            np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


# ---- models -------------------------------------------------------------------------------

def _softmax_xent(logits, y):
    from .. import softmax_cross_entropy
    res = softmax_cross_entropy(logits, y)
    return float(res.loss), res.dlogits


def _train_avg(X, y, classes, steps=300, lr=0.05, seed=0):
    """Softmax regression on sentence vectors X [n, D] (full-batch Adam)."""
    from ..optim import Adam
    r = np.random.default_rng(seed)
    params = OrderedDict(W=(r.standard_normal((classes, X.shape[1])) * 0.01).astype(np.float32),
                         b=np.zeros(classes, np.float32))
    opt = Adam(params, lr=lr)
    for _ in range(steps):
        _, d = _softmax_xent(X @ params["W"].T + params["b"], y)
        opt.step({"W": d.T @ X, "b": d.sum(0)})
    return params


def _avg_accuracy(train, test, classes, seed):
    from .. import embedding_bag_forward
    (Xtr, ytr), (Xte, yte) = train, test
    p = _train_avg(Xtr, ytr, classes, seed=seed)
    pred = (Xte @ p["W"].T + p["b"]).argmax(1)
    return float((pred == yte).mean()), pred


class _RowAdam:
    """Adam on the rows of a matrix a batch touches (lazy moments, as torch.optim.SparseAdam):
    rows not in a gradient keep their moments and values."""

    def __init__(self, weight, lr, betas=(0.9, 0.999), eps=1e-8):
        self.weight, self.lr, self.betas, self.eps = weight, lr, betas, eps
        self.m, self.v, self.t = np.zeros_like(weight), np.zeros_like(weight), 0

    def step(self, grad):
        """grad: a :class:`seqcore.SparseGrad` of the weight."""
        b1, b2 = self.betas
        self.t += 1
        r, g = grad.rows, grad.grads
        self.m[r] = b1 * self.m[r] + (1 - b1) * g
        self.v[r] = b2 * self.v[r] + (1 - b2) * g * g
        m_hat = self.m[r] / (1 - b1 ** self.t)
        v_hat = self.v[r] / (1 - b2 ** self.t)
        self.weight[r] -= self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class _LSTMClassifier:
    """GloVe -> 2-layer LSTM (lengths) -> last state of the top layer -> softmax; the word
    vectors frozen, or fine-tuned (``fine_tune``: updated in place in ``vectors``)."""

    def __init__(self, D, hidden, classes, seed, fine_tune=False):
        from .. import LSTM
        self.fine_tune = fine_tune
        self.row_opt = None
        r = np.random.default_rng(seed)
        self.lstm = LSTM(D, hidden, num_layers=2, seed=r)
        self.params = OrderedDict(("lstm." + k, v) for k, v in self.lstm.named_parameters())
        bound = 1.0 / math.sqrt(hidden)
        self.params["out.weight"] = r.uniform(-bound, bound, (classes, hidden)).astype(np.float32)
        self.params["out.bias"] = np.zeros(classes, np.float32)

    def _batch(self, vectors, ids, offsets, rows):
        from .. import embedding_forward
        lengths = np.maximum(np.diff(offsets)[rows], 1)   # an empty sentence reads one 0-vector
        T, N = int(lengths.max()), len(rows)
        tok = np.full((T, N), vectors.shape[0] - 1, np.int64)   # the last row is zeros
        for j, r in enumerate(rows):
            s = ids[offsets[r]:offsets[r + 1]]
            tok[:len(s), j] = s
        return embedding_forward(vectors, tok), lengths, tok

    def logits(self, vectors, ids, offsets, rows, training=False):
        x, lengths, tok = self._batch(vectors, ids, offsets, rows)
        _, (h_n, c_n), cache = self.lstm.forward(x, lengths=lengths, training=training)
        h = h_n[-1]
        return h @ self.params["out.weight"].T + self.params["out.bias"], h, cache, tok

    def step(self, opt, vectors, ids, offsets, rows, y):
        from .. import embedding_backward
        z, h, cache, tok = self.logits(vectors, ids, offsets, rows, training=True)
        loss, d = _softmax_xent(z, y)
        dh_n = np.zeros((2,) + h.shape, np.float32)
        dh_n[-1] = d @ self.params["out.weight"]
        dx, _, grads = self.lstm.backward(cache, None, (dh_n, None))
        g = OrderedDict(("lstm." + k, v) for k, v in grads.items())
        g["out.weight"], g["out.bias"] = d.T @ h, d.sum(0)
        opt.step(g)
        if self.fine_tune:   # the padding row (the last: zeros) stays zero
            if self.row_opt is None:
                self.row_opt = _RowAdam(vectors, opt.lr / 3)
            self.row_opt.step(embedding_backward(dx, tok, vectors.shape[0],
                                                 padding_idx=vectors.shape[0] - 1))
        return loss

    def predict(self, vectors, ids, offsets, rows, batch=256):
        return np.concatenate([self.logits(vectors, ids, offsets, rows[i:i + batch])[0]
                               .argmax(1) for i in range(0, len(rows), batch)])


def _lstm_fold(vectors, ids, offsets, y, train, test, args, epochs, seed, bar,
               fine_tune=False):
    from ..optim import Adam
    if fine_tune:
        vectors = vectors.copy()   # each fold fine-tunes its own copy
    model = _LSTMClassifier(vectors.shape[1], args.hidden, 2, seed, fine_tune)
    opt = Adam(model.params, lr=args.lr)
    r = np.random.default_rng(seed)
    curve = []
    for epoch in range(epochs):
        order = r.permutation(train)
        losses = []
        for i in range(0, len(order), args.batch):
            rows = order[i:i + args.batch]
            losses.append(model.step(opt, vectors, ids, offsets, rows, y[rows]))
            if bar is not None:
                bar.update(1)
        acc = float((model.predict(vectors, ids, offsets, test) == y[test]).mean())
        curve.append((float(np.mean(losses)), acc))
    pred = model.predict(vectors, ids, offsets, test)
    return float((pred == y[test]).mean()), pred, curve


def _tfidf_accuracy(sentences, y, train, test, seed):
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    vec = TfidfVectorizer(tokenizer=tokenize, token_pattern=None, lowercase=False,
                          ngram_range=(1, 2), min_df=1, sublinear_tf=True)
    Xtr = vec.fit_transform([sentences[i] for i in train])
    Xte = vec.transform([sentences[i] for i in test])
    clf = LogisticRegression(C=4.0, max_iter=2000, random_state=seed).fit(Xtr, y[train])
    pred = clf.predict(Xte)
    return float((pred == y[test]).mean()), pred


# ---- the run --------------------------------------------------------------------------------

def _summary(name, accs):
    accs = np.asarray(accs)
    sd = accs.std(ddof=1) if len(accs) > 1 else 0.0
    return f"{name:7s} {100 * accs.mean():.2f}% +- {100 * sd:.2f} over {len(accs)} folds"


def run(args):
    """Train and evaluate; returns a dict of per-model fold accuracies and more."""
    from .. import embedding_bag_forward
    from ..datasets import DatasetError, binary_labels, five_class_labels, glove_6b_50d, \
        movie_reviews
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - {"avg", "lstm", "lstm-ft", "tfidf"}
    if unknown:
        raise SystemExit(f"--models: unknown {sorted(unknown)} (choose from avg, lstm, "
                         f"lstm-ft, tfidf)")
    k = args.folds or (2 if args.quick else 10)
    epochs = args.epochs or (2 if args.quick else 6)
    try:
        mr, kv = movie_reviews(), glove_6b_50d()
    except DatasetError as err:
        raise SystemExit(f"seqcore demo sentiment: {err}") from None
    keep = binary_labels(mr.ratings) >= 0
    sentences = [s for s, k_ in zip(mr.sentences, keep) if k_]
    y2 = binary_labels(mr.ratings)[keep]
    y5 = five_class_labels(mr.ratings)[keep]
    if args.quick:
        pick = np.random.default_rng(args.seed).permutation(len(sentences))[:2000]
        sentences, y2, y5 = [sentences[i] for i in pick], y2[pick], y5[pick]
    ids, offsets = _encode(sentences, kv)
    known = len(ids) / max(1, sum(len(tokenize(s)) for s in sentences))
    print(f"{len(sentences)} sentences ({int(y2.sum())} positive), {100 * known:.1f}% of the "
          f"tokens in GloVe 6B 50-d; {k}-fold cross-validation", flush=True)
    vectors = np.vstack([kv.vectors, np.zeros((1, kv.vector_size), np.float32)])
    X = embedding_bag_forward(kv.vectors, ids, offsets, "mean")   # [S, 50] sentence means
    splits = folds(len(sentences), k, args.seed)
    if "tfidf" in models:
        try:
            import sklearn  # noqa: F401
        except ImportError:
            print("tfidf: skipped (pip install scikit-learn)")
            models.remove("tfidf")
    results = {m: [] for m in models}
    five = {m: [] for m in models if not m.startswith("lstm")}
    curves, last = [], {}
    bar = None
    n_lstm = sum(m.startswith("lstm") for m in models)
    if n_lstm and not args.no_progress:
        try:
            from tqdm.auto import tqdm
            steps = sum(-(-len(tr) // args.batch) for tr, _ in splits) * epochs * n_lstm
            bar = tqdm(total=steps, desc="lstm", unit="step")
        except ImportError:
            pass
    t0 = time.perf_counter()
    for f, (train, test) in enumerate(splits):
        line = []
        if "avg" in models:
            acc, pred = _avg_accuracy((X[train], y2[train]), (X[test], y2[test]), 2, args.seed)
            results["avg"].append(acc)
            five["avg"].append(_avg_accuracy((X[train], y5[train]), (X[test], y5[test]), 5,
                                             args.seed)[0])
            last["avg"] = pred
            line.append(f"avg {100 * acc:.2f}")
        for m in ("lstm", "lstm-ft"):
            if m not in models:
                continue
            acc, pred, curve = _lstm_fold(vectors, ids, offsets, y2, train, test, args, epochs,
                                          args.seed + f, bar, fine_tune=m == "lstm-ft")
            results[m].append(acc)
            curves.append((m, curve))
            last[m] = pred
            line.append(f"{m} {100 * acc:.2f}")
        if "tfidf" in models:
            acc, pred = _tfidf_accuracy(sentences, y2, train, test, args.seed)
            results["tfidf"].append(acc)
            five["tfidf"].append(_tfidf_accuracy(sentences, y5, train, test, args.seed)[0])
            last["tfidf"] = pred
            line.append(f"tfidf {100 * acc:.2f}")
        msg = f"fold {f + 1}/{k}: " + ", ".join(line)
        (bar.write if bar is not None else print)(msg)
    if bar is not None:
        bar.close()
    print(f"\nbinary accuracy ({time.perf_counter() - t0:.0f} s):")
    for m in models:
        print("  " + _summary(m, results[m]))
    if five:
        print("five-class accuracy (mean-rating bins):")
        for m, accs in five.items():
            print("  " + _summary(m, accs))
    name = next((m for m in ("lstm-ft", "lstm") if m in last), next(iter(last), None))
    if name is not None:
        test = splits[-1][1]
        wrong = np.flatnonzero(last[name] != y2[test])[:5]
        print(f"misclassified by {name} (last fold):")
        for i in wrong:
            label = "positive" if y2[test[i]] else "negative"
            print(f"  [{label}, predicted {'positive' if last[name][i] else 'negative'}] "
                  f"{sentences[test[i]]}")
    if curves and args.plot:
        _plot(curves, args.plot)
    return {"folds": k, "accuracy": results, "five_class": five, "curves": curves}


def _plot(curves, path):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("plot: skipped (pip install matplotlib)")
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    colours = {"lstm": "tab:blue", "lstm-ft": "tab:orange"}
    for name, curve in curves:
        ep = np.arange(1, len(curve) + 1)
        a.plot(ep, [c[0] for c in curve], alpha=0.5, color=colours[name])
        b.plot(ep, [100 * c[1] for c in curve], alpha=0.5, color=colours[name])
    for name, colour in colours.items():
        b.plot([], [], color=colour, label=name)
    b.legend()
    a.set(xlabel="epoch", ylabel="training loss", title="LSTM: training loss per fold")
    b.set(xlabel="epoch", ylabel="held-out accuracy (%)", title="held-out accuracy per fold")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"learning curve: {path}")


def main(argv=None):
    from . import run_demo
    return run_demo("sentiment", argv)


if __name__ == "__main__":
    raise SystemExit(main())

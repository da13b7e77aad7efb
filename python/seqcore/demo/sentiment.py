"""Sentiment classification of movie-review sentences with GloVe, the course's two models and
the practitioner's baseline, by 10-fold cross-validation.

Data (:mod:`seqcore.datasets`): Pang & Lee's 10,605 movie-review sentences with mean human
ratings (the "MR" benchmark; 10,568 with a non-zero rating give the binary task, all of them
the five-class one) and GloVe 6B 50-d. Models, each trained and tested on the same folds:

1. ``avg`` (Emojify V1): the mean GloVe vector of the sentence's known words
   (:func:`seqcore.embedding_bag_forward`) into a softmax layer, trained with Adam.
   ``avg-lr``: scikit-learn's logistic regression on the same means, its C chosen by
   cross-validation inside each training fold: the best linear classifier of the frozen means,
   so the ceiling ``avg`` is measured against in the same run. ``avg-ft``: the mean with the
   word vectors fine-tuned through it (their gradient from
   :func:`seqcore.embedding_bag_backward` as sparse rows), fastText's classifier without
   n-grams; mini-batch Adam.
2. ``lstm`` (Emojify V2; *Fundamentals of Deep Learning* ch. 9): the frozen GloVe vectors
   into a 2-layer LSTM (:class:`seqcore.LSTM`, ragged ``lengths``: no padding is computed),
   its last state into a softmax layer; Adam, mini-batches. ``lstm-ft``: the same with the
   word vectors fine-tuned (their gradient from :func:`seqcore.embedding_backward` as sparse
   rows, updated as torch's SparseAdam: only the rows a batch touches). ``torch-lstm``
   (opt-in): ``lstm`` written with torch.nn modules and trained the same way from the same
   initial weights over the same batches, the check that the two agree.
3. ``tfidf``: scikit-learn's tf-idf (uni- and bigrams) + logistic regression, the baseline a
   practitioner reaches for (skipped with a message without scikit-learn).

Prints the accuracy of each fold and the mean +- standard deviation, the five-class accuracy
of ``avg``, ``avg-lr`` and ``tfidf``, and misclassified sentences of the last fold; draws the
mini-batch models' learning curves (training loss and held-out accuracy per epoch) to a PNG
when matplotlib is installed. ``--quick`` runs 2 folds on 2,000 sentences.

Run: ``seqcore demo sentiment`` or ``python -m seqcore.demo.sentiment``.
"""
from __future__ import annotations

import importlib.util
import math
import re
import time
from collections import OrderedDict

import numpy as np

__all__ = ["add_arguments", "run", "main", "tokenize", "folds", "MODELS"]

#: the demo's models, in the order they run and print (see the module docstring)
MODELS = ("avg", "avg-lr", "avg-ft", "lstm", "lstm-ft", "torch-lstm", "tfidf")
_MINIBATCH = ("avg-ft", "lstm", "lstm-ft", "torch-lstm")

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
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the mini-batch models (default 6, quick: 2)")
    parser.add_argument("--hidden", type=int, default=128, help="LSTM hidden size")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="avg,avg-lr,avg-ft,lstm,lstm-ft,tfidf",
                        help="comma-separated subset of " + ", ".join(MODELS))
    parser.add_argument("--plot", default="sentiment_learning_curve.png",
                        help="PNG of the learning curves ('' for none)")
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
    (Xtr, ytr), (Xte, yte) = train, test
    p = _train_avg(Xtr, ytr, classes, seed=seed)
    pred = (Xte @ p["W"].T + p["b"]).argmax(1)
    return float((pred == yte).mean()), pred


def _avg_lr_accuracy(train, test, classes, seed):
    """scikit-learn's logistic regression on the same mean vectors, its C (1e-3..1e3) chosen by
    5-fold cross-validation inside the training fold: the best linear classifier of the frozen
    means, the ceiling of ``avg``."""
    import warnings
    from sklearn.linear_model import LogisticRegressionCV
    (Xtr, ytr), (Xte, yte) = train, test
    with warnings.catch_warnings():   # scikit-learn 1.9's notices of its coming defaults
        warnings.simplefilter("ignore", FutureWarning)
        clf = LogisticRegressionCV(Cs=np.logspace(-3, 3, 7), cv=5, max_iter=3000,
                                   scoring="accuracy").fit(Xtr, ytr)
    pred = clf.predict(Xte)
    return float((pred == yte).mean()), pred


class _RowAdam:
    """torch.optim.SparseAdam on the rows of a matrix a batch touches (lazy moments): rows not
    in a gradient keep their moments and values; eps is added before the bias correction, as
    SparseAdam does (``Adam`` adds it after)."""

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
        step_size = self.lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        self.weight[r] -= step_size * self.m[r] / (np.sqrt(self.v[r]) + self.eps)


def _pad_batch(ids, offsets, rows, pad):
    """Time-major token ids [T, N] of the sentences ``rows``, padded with ``pad``, and their
    lengths [N] (an empty sentence reads one ``pad``)."""
    lengths = np.maximum(np.diff(offsets)[rows], 1)
    tok = np.full((int(lengths.max()), len(rows)), pad, np.int64)
    for j, r in enumerate(rows):
        s = ids[offsets[r]:offsets[r + 1]]
        tok[:len(s), j] = s
    return tok, lengths


class _Classifier:
    """A sentence classifier over the word vectors ``vectors [V + 1, D]`` (the last row: zeros,
    the padding), trained by :meth:`step` with Adam; with ``fine_tune`` the vectors (a private
    copy) learn too, by a lazy row Adam at a third of the learning rate (the padding row stays
    zero). Subclasses give ``params`` and ``_forward_backward``."""

    def __init__(self, vectors, lr, fine_tune):
        from ..optim import Adam
        self.vectors = vectors.copy() if fine_tune else vectors
        self.opt = Adam(self.params, lr=lr)
        self.row_opt = _RowAdam(self.vectors, lr / 3) if fine_tune else None

    def step(self, ids, offsets, rows, y):
        """One Adam step on the sentences ``rows`` with labels ``y``; returns the mean loss."""
        loss, grads, vector_grad = self._forward_backward(ids, offsets, rows, y)
        self.opt.step(grads)
        if self.row_opt is not None:
            self.row_opt.step(vector_grad())
        return loss

    def predict(self, ids, offsets, rows, batch=256):
        return np.concatenate([self.logits(ids, offsets, rows[i:i + batch]).argmax(1)
                               for i in range(0, len(rows), batch)])


class _AvgClassifier(_Classifier):
    """The mean of the sentence's word vectors -> softmax (Emojify V1). Fine-tuned, the word
    vectors learn through the mean: fastText's classifier without n-grams (Joulin et al. 2017),
    the deep averaging network with no hidden layer (Iyyer et al. 2015)."""

    def __init__(self, vectors, classes, seed, lr, fine_tune=False):
        r = np.random.default_rng(seed)
        self.params = OrderedDict(
            W=(r.standard_normal((classes, vectors.shape[1])) * 0.01).astype(np.float32),
            b=np.zeros(classes, np.float32))
        super().__init__(vectors, lr, fine_tune)

    def _features(self, ids, offsets, rows):
        from .. import embedding_bag_forward
        bag_ids, bag_offsets = _subset(ids, offsets, rows)
        return embedding_bag_forward(self.vectors, bag_ids, bag_offsets, "mean"), bag_ids, \
            bag_offsets

    def logits(self, ids, offsets, rows):
        X = self._features(ids, offsets, rows)[0]
        return X @ self.params["W"].T + self.params["b"]

    def _forward_backward(self, ids, offsets, rows, y):
        from .. import embedding_bag_backward
        X, bag_ids, bag_offsets = self._features(ids, offsets, rows)
        W = self.params["W"]
        loss, d = _softmax_xent(X @ W.T + self.params["b"], y)
        dX = d @ W   # before the step changes W
        return loss, {"W": d.T @ X, "b": d.sum(0)}, lambda: embedding_bag_backward(
            dX, bag_ids, bag_offsets, self.vectors.shape[0], "mean")


class _LSTMClassifier(_Classifier):
    """Word vectors -> 2-layer LSTM (lengths) -> last state of the top layer -> softmax
    (Emojify V2; *Fundamentals of Deep Learning* ch. 9)."""

    def __init__(self, vectors, hidden, classes, seed, lr, fine_tune=False):
        from .. import LSTM
        r = np.random.default_rng(seed)
        self.lstm = LSTM(vectors.shape[1], hidden, num_layers=2, seed=r)
        self.params = OrderedDict(("lstm." + k, v) for k, v in self.lstm.named_parameters())
        bound = 1.0 / math.sqrt(hidden)
        self.params["out.weight"] = r.uniform(-bound, bound, (classes, hidden)).astype(np.float32)
        self.params["out.bias"] = np.zeros(classes, np.float32)
        super().__init__(vectors, lr, fine_tune)

    def _run(self, ids, offsets, rows, training=False):
        from .. import embedding_forward
        tok, lengths = _pad_batch(ids, offsets, rows, self.vectors.shape[0] - 1)
        x = embedding_forward(self.vectors, tok)
        _, (h_n, _), cache = self.lstm.forward(x, lengths=lengths, training=training)
        h = h_n[-1]
        return h @ self.params["out.weight"].T + self.params["out.bias"], h, cache, tok

    def logits(self, ids, offsets, rows):
        return self._run(ids, offsets, rows)[0]

    def _forward_backward(self, ids, offsets, rows, y):
        from .. import embedding_backward
        z, h, cache, tok = self._run(ids, offsets, rows, training=True)
        loss, d = _softmax_xent(z, y)
        dh_n = np.zeros((2,) + h.shape, np.float32)
        dh_n[-1] = d @ self.params["out.weight"]
        dx, _, grads = self.lstm.backward(cache, None, (dh_n, None))
        g = OrderedDict(("lstm." + k, v) for k, v in grads.items())
        g["out.weight"], g["out.bias"] = d.T @ h, d.sum(0)
        V = self.vectors.shape[0]
        return loss, g, lambda: embedding_backward(dx, tok, V, padding_idx=V - 1)


class _TorchLSTMClassifier:
    """:class:`_LSTMClassifier` (frozen vectors) written with torch.nn modules and trained the
    same way, from its initial weights: ``Embedding.from_pretrained`` (frozen),
    ``pack_padded_sequence`` into ``nn.LSTM``, ``Linear``, ``cross_entropy``,
    ``torch.optim.Adam``. The reference of the demo's ``torch-lstm`` and of
    ``seqcore bench --ops sentiment``."""

    def __init__(self, init: _LSTMClassifier, lr):
        import torch
        self.torch = torch
        p = init.params
        H, D = p["lstm.weight_hh_l0"].shape[1], init.vectors.shape[1]
        self.pad = init.vectors.shape[0] - 1
        self.emb = torch.nn.Embedding.from_pretrained(torch.from_numpy(init.vectors),
                                                      freeze=True)
        self.lstm = torch.nn.LSTM(D, H, num_layers=2)
        self.head = torch.nn.Linear(H, p["out.weight"].shape[0])
        with torch.no_grad():
            for name, w in self.lstm.named_parameters():
                w.copy_(torch.from_numpy(p["lstm." + name]))
            self.head.weight.copy_(torch.from_numpy(p["out.weight"]))
            self.head.bias.copy_(torch.from_numpy(p["out.bias"]))
        self.opt = torch.optim.Adam([*self.lstm.parameters(), *self.head.parameters()], lr=lr)

    def _logits(self, ids, offsets, rows):
        torch = self.torch
        tok, lengths = _pad_batch(ids, offsets, rows, self.pad)
        x = self.emb(torch.from_numpy(tok))
        packed = torch.nn.utils.rnn.pack_padded_sequence(x, torch.from_numpy(lengths),
                                                         enforce_sorted=False)
        _, (h_n, _) = self.lstm(packed)
        return self.head(h_n[-1])

    def step(self, ids, offsets, rows, y):
        self.opt.zero_grad(set_to_none=True)
        loss = self.torch.nn.functional.cross_entropy(self._logits(ids, offsets, rows),
                                                      self.torch.from_numpy(np.asarray(y)))
        loss.backward()
        self.opt.step()
        return loss.item()

    def predict(self, ids, offsets, rows, batch=256):
        with self.torch.no_grad():
            return np.concatenate([self._logits(ids, offsets, rows[i:i + batch]).argmax(1)
                                   .numpy() for i in range(0, len(rows), batch)])


def _make_model(name, vectors, args, seed):
    """The demo's mini-batch models by name, the same initial weights for the same seed."""
    if name.startswith("avg"):
        return _AvgClassifier(vectors, 2, seed, args.lr, fine_tune=name == "avg-ft")
    lstm = _LSTMClassifier(vectors, args.hidden, 2, seed, args.lr, fine_tune=name == "lstm-ft")
    return _TorchLSTMClassifier(lstm, args.lr) if name == "torch-lstm" else lstm


def _fit_fold(name, vectors, ids, offsets, y, train, test, args, epochs, seed, bar):
    """Train model ``name`` on ``train`` (epochs of seeded shuffled mini-batches), returning its
    accuracy on ``test``, its predictions and the curve of (mean training loss, held-out
    accuracy) per epoch."""
    model = _make_model(name, vectors, args, seed)
    r = np.random.default_rng(seed)
    curve = []
    for epoch in range(epochs):
        order = r.permutation(train)
        losses = []
        for i in range(0, len(order), args.batch):
            rows = order[i:i + args.batch]
            losses.append(model.step(ids, offsets, rows, y[rows]))
            if bar is not None:
                bar.update(1)
        pred = model.predict(ids, offsets, test)
        curve.append((float(np.mean(losses)), float((pred == y[test]).mean())))
    return curve[-1][1], pred, curve


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
    return f"{name:10s} {100 * accs.mean():.2f}% +- {100 * sd:.2f} over {len(accs)} folds"


def run(args):
    """Train and evaluate; returns a dict of per-model fold accuracies and more."""
    from .. import embedding_bag_forward
    from ..datasets import DatasetError, binary_labels, five_class_labels, glove_6b_50d, \
        movie_reviews
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = set(models) - set(MODELS)
    if unknown:
        raise SystemExit(f"--models: unknown {sorted(unknown)} (choose from "
                         f"{', '.join(MODELS)})")
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
    for m, module in (("tfidf", "sklearn"), ("avg-lr", "sklearn"), ("torch-lstm", "torch")):
        if m in models and importlib.util.find_spec(module) is None:
            print(f"{m}: skipped (pip install {'scikit-learn' if module == 'sklearn' else 'torch'})")
            models.remove(m)
    minibatch = [m for m in models if m in _MINIBATCH]
    results = {m: [] for m in models}
    five = {m: [] for m in models if m in ("avg", "avg-lr", "tfidf")}
    curves, last = [], {}
    bar = None
    if minibatch and not args.no_progress:
        try:
            from tqdm.auto import tqdm
            steps = sum(-(-len(tr) // args.batch) for tr, _ in splits) * epochs * len(minibatch)
            bar = tqdm(total=steps, desc="training", unit="step")
        except ImportError:
            pass
    t0 = time.perf_counter()
    for f, (train, test) in enumerate(splits):
        line = []
        for m in models:
            if m in _MINIBATCH:
                acc, pred, curve = _fit_fold(m, vectors, ids, offsets, y2, train, test, args,
                                             epochs, args.seed + f, bar)
                curves.append((m, curve))
            else:
                fit = {"avg": _avg_accuracy, "avg-lr": _avg_lr_accuracy}.get(m)
                if fit is not None:
                    acc, pred = fit((X[train], y2[train]), (X[test], y2[test]), 2, args.seed)
                    five[m].append(fit((X[train], y5[train]), (X[test], y5[test]), 5,
                                       args.seed)[0])
                else:
                    acc, pred = _tfidf_accuracy(sentences, y2, train, test, args.seed)
                    five[m].append(_tfidf_accuracy(sentences, y5, train, test, args.seed)[0])
            results[m].append(acc)
            last[m] = pred
            line.append(f"{m} {100 * acc:.2f}")
        msg = f"fold {f + 1}/{k}: " + ", ".join(line)
        (bar.write if bar is not None else print)(msg)
    if bar is not None:
        bar.close()
    print(f"\nbinary accuracy ({time.perf_counter() - t0:.0f} s):")
    for m in models:
        print("  " + _summary(m, results[m]))
    if "lstm" in results and "torch-lstm" in results:   # the same model, trained the same way
        gap = 100 * (np.mean(results["lstm"]) - np.mean(results["torch-lstm"]))
        agree = 100 * np.mean(last["lstm"] == last["torch-lstm"])
        print(f"  lstm - torch-lstm: {gap:+.2f} points; the same predictions on {agree:.1f}% "
              f"of the last fold")
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
    from . import pyplot, save_figure
    plt = pyplot()
    if plt is None:
        return
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.5))
    colours = dict(zip(_MINIBATCH, ("tab:green", "tab:blue", "tab:orange", "tab:red")))
    for name, curve in curves:
        ep = np.arange(1, len(curve) + 1)
        a.plot(ep, [c[0] for c in curve], alpha=0.5, color=colours[name])
        b.plot(ep, [100 * c[1] for c in curve], alpha=0.5, color=colours[name])
    for name in dict(curves):
        b.plot([], [], color=colours[name], label=name)
    b.legend()
    a.set(xlabel="epoch", ylabel="training loss", title="training loss per fold")
    b.set(xlabel="epoch", ylabel="held-out accuracy (%)", title="held-out accuracy per fold")
    save_figure(plt, fig, path, "learning curve")


def main(argv=None):
    from . import run_demo
    return run_demo("sentiment", argv)


if __name__ == "__main__":
    raise SystemExit(main())

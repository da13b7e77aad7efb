"""GloVe word vectors (Pennington, Socher & Manning 2014), trained in C++.

Shape legend: ``V`` vocabulary, ``D`` vector size (``vector_size``), ``nnz`` non-zero
co-occurrence entries.

Pipeline (as Stanford's reference tools vocab_count -> cooccur -> shuffle -> glove):

1. vocabulary (:func:`seqcore.corpus.build_vocab`) and the int32 token array;
2. co-occurrence counts ``X`` (``_core.glove_cooccur``): symmetric window of ``window``
   words inside a sentence, a pair at distance d adds 1/d to X[i, j] and X[j, i];
3. AdaGrad on J = sum_ij f(X_ij) (w_i . w~_j + b_i + b~_j - log X_ij)^2 with
   f(x) = min(1, (x / x_max)^alpha), over the non-zero entries in a fresh shuffled order
   each epoch (``_core.glove_epoch``), gradient step ``learning_rate / sqrt(G)`` with the
   accumulated squared gradients G starting at 1, as glove.c;
4. the word vectors are w + w~ (glove.c ``-model 2``), in :attr:`GloVe.wv`.
"""
from __future__ import annotations

import numpy as np

from . import _core
from ._validate import MAX_EPOCHS, int_arg
from .corpus import build_vocab, restartable
from .keyedvectors import KeyedVectors

__all__ = ["GloVe"]


def _progress(total, enabled, desc):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress is cosmetic
        return None
    return tqdm(total=total, desc=desc, unit="epoch")


class GloVe:
    """Train GloVe vectors on a corpus.

    Parameters
    ----------
    sentences : iterable of lists of str, or corpus_file : path (one sentence per line,
        ASCII-whitespace tokens). Exactly one. A one-shot iterator is kept in memory.
    vector_size : D >= 1. window : context words on each side, >= 1 (pairs never cross a
        sentence boundary). min_count, max_vocab_size : vocabulary as
        :func:`seqcore.corpus.build_vocab`.
    x_max, alpha : weighting f(x) = min(1, (x / x_max)^alpha); x_max > 0, alpha >= 0.
    learning_rate : AdaGrad initial step (> 0). epochs : 0 to 2**20 passes over the entries.
    workers : threads of training. 1 (default): sequential, results bit-identical for a
        seed. > 1: Hogwild (lock-free updates, as glove.c's threads; faster, but the
        vectors depend on thread timing). Co-occurrence counting always uses
        ``seqcore.get_num_threads()`` threads and is deterministic.
    seed : int, initialisation (uniform in +-0.5/D as glove.c) and shuffling.
    progress : tqdm bar over epochs (when tqdm is installed) with the loss.
    dtype : np.float32 (default) or np.float64 parameters.

    Attributes
    ----------
    wv : :class:`seqcore.KeyedVectors` with the vectors w + w~ [V, D] (float32) and counts.
    vocab : :class:`seqcore.corpus.Vocabulary`.
    cooccurrence : (row [nnz] int32, col [nnz] int32, value [nnz] float64), sorted.
    loss : list of float, J of each epoch (sum over the entries of f(X) err^2, each term
        taken just before its update; glove.c prints 0.5 * J / nnz as "cost").
    params : [2V, D + 1] (rows 0..V-1: w_i | b_i, rows V..2V-1: w~_j | b~_j); gradsq idem.

    Raises
    ------
    ValueError : empty corpus, no word reaching min_count, no co-occurring pair, bad
        settings. FloatingPointError if training diverges (non-finite loss; lower
        learning_rate). TypeError for sentences that are not lists of str.
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, window=15,
                 min_count=5, max_vocab_size=None, x_max=100.0, alpha=0.75,
                 learning_rate=0.05, epochs=25, workers=1, seed=1, progress=True,
                 dtype=np.float32):
        def positive_int(name, v, low=1, high=None):
            if (isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < low
                    or (high is not None and v > high)):
                raise ValueError(f"{name}: expected an int in [{low}, {high or 'inf'}], got "
                                 f"{v!r}")
        positive_int("vector_size", vector_size)
        positive_int("window", window)
        positive_int("epochs", epochs, 0, MAX_EPOCHS)
        positive_int("workers", workers)
        if not (np.isfinite(x_max) and x_max > 0):
            raise ValueError(f"x_max: expected a finite number > 0, got {x_max!r}")
        if not (np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha: expected a finite number >= 0, got {alpha!r}")
        if not (np.isfinite(learning_rate) and learning_rate > 0):
            raise ValueError(f"learning_rate: expected a finite number > 0, got "
                             f"{learning_rate!r}")
        dtype = np.dtype(dtype)
        if dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {dtype}")
        self.vector_size, self.window = int(vector_size), int(window)
        self.x_max, self.alpha, self.learning_rate = float(x_max), float(alpha), \
            float(learning_rate)
        self.workers, self.progress = int(workers), progress
        self.seed = int_arg("seed", seed, 0, 2**64 - 1)
        self.epochs_trained = 0
        self.loss = []

        sentences = restartable(sentences)
        self.vocab = build_vocab(sentences, corpus_file, min_count, max_vocab_size)
        corpus = self.vocab.encode(sentences, corpus_file)
        V = len(self.vocab)
        self.cooccurrence = _core.glove_cooccur(corpus.tokens, corpus.offsets, V, self.window)
        if len(self.cooccurrence[0]) == 0:
            raise ValueError("no co-occurring word pair in the corpus (every sentence has at "
                             "most one in-vocabulary word)")
        rng = np.random.default_rng(self.seed)
        D = self.vector_size
        self.params = ((rng.random((2 * V, D + 1)) - 0.5) / D).astype(dtype)
        self.gradsq = np.ones((2 * V, D + 1), dtype=dtype)
        self.wv = None
        self.train(epochs)

    def train(self, epochs=1):
        """Run ``epochs`` more AdaGrad epochs (continuing the shuffling sequence and the
        AdaGrad accumulators) and refresh :attr:`wv`. Returns the new losses."""
        if (isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0
                or epochs > MAX_EPOCHS):
            raise ValueError(f"epochs: expected an int in [0, {MAX_EPOCHS}], got {epochs!r}")
        row, col, value = self.cooccurrence
        # per-entry constants of the objective, once for all epochs (glove.c recomputes them)
        log_x = np.log(value)
        weight = np.minimum(1.0, (value / self.x_max) ** self.alpha)
        bar = _progress(epochs, self.progress and epochs > 0, "GloVe")
        new = []
        try:
            for _ in range(epochs):
                loss = _core.glove_epoch(row, col, log_x, weight, self.params, self.gradsq,
                                         self.learning_rate, self.seed, self.epochs_trained,
                                         self.workers)
                if not np.isfinite(loss):
                    raise FloatingPointError(
                        f"GloVe diverged at epoch {self.epochs_trained + 1} (loss {loss}); "
                        f"lower learning_rate")
                self.epochs_trained += 1
                new.append(float(loss))
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss:.5g}")
        finally:
            if bar is not None:
                bar.close()
        self.loss.extend(new)
        self._refresh_wv()
        return new

    def _refresh_wv(self):
        V, D = len(self.vocab), self.vector_size
        vectors = (self.params[:V, :D] + self.params[V:, :D]).astype(np.float32)
        self.wv = KeyedVectors(self.vocab.index_to_key, vectors, counts=self.vocab.counts)

"""Word2Vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling and/or
hierarchical softmax, trained in C++ with gensim 4's parameter names and meanings.

Shape legend: ``V`` vocabulary, ``D`` vector size (``vector_size``), ``K`` negatives.

Pipeline: the vocabulary is counted and the corpus encoded to an int32 token array with
sentence offsets (:mod:`seqcore.corpus`, C++); the corpus is cut into chunks of whole
sentences of about ``batch_words`` tokens; each epoch, ``_core.word2vec_train`` runs the
word2vec.c inner loop over the chunks with the GIL released: subsampling (keep probability
``(sqrt(f / t) + 1) t / f``), a window drawn in ``[1, window]`` per centre word, the
learning rate decaying linearly from ``alpha`` to ``min_alpha`` over the epochs of a
:meth:`Word2Vec.train` call (gensim's schedule: one rate per chunk, by the fraction of
sentences before it when ``total_examples`` is given, as the constructor does; per word by
token position, as word2vec.c, with ``total_words`` alone), negative sampling from
``count^ns_exponent`` (alias method, :class:`seqcore.UnigramSampler`) and hierarchical
softmax over gensim's Huffman tree (:class:`seqcore.HuffmanTree`; vocabulary order, codes
and points equal gensim 4's), both weight matrices updated in place.

Memory: training holds the weight matrices, the int32 token array (4 bytes a token, built
in place) with its sentence offsets, O(V) vocabulary tables and a fixed per-thread scratch
(a sentence of any length is buffered at most 10000 + 2 window words at a time); the
benchmark (``seqcore bench --ops word2vec``) measures the peak against that bound.

Threads: ``workers`` threads update the shared matrices without locks (Hogwild, as
word2vec.c and gensim); results then depend on thread timing. With hierarchical softmax
each thread trains a private copy of the heaviest inner nodes (the ~128 KiB nearest the root,
on most paths) and adds its change to the shared rows every 1024 centre words: the other
threads' updates of those rows arrive with that delay, and the cores stop bouncing the
root's cache lines (2x faster on 2 cores). Every chunk has its own
random stream, a pure function of ``(seed, epoch, chunk)``, so with ``deterministic=True``
(chunks trained in order by one thread) the vectors are bit-identical for a seed whatever
``workers`` or ``seqcore.set_num_threads``; its cost is the parallel speed-up (training runs
at one core's speed).
"""
from __future__ import annotations

import itertools
import json
import logging
import os
import time
import zipfile
from typing import Any, Callable, Iterable, List, Optional, Sequence, Union

import numpy as np

from . import _core
from ._typing import DTypeLike
from ._validate import MAX_EPOCHS, StateError, unicode_strings
from .corpus import (Vocabulary, VocabularyError, count_words, frequency_order, restartable,
                     retained)
from .keyedvectors import KeyedVectors
from .output_layers import HuffmanTree, UnigramSampler

__all__ = ["Word2Vec"]

logger = logging.getLogger(__name__)


def _int_param(name, value, low, high=None):
    from ._validate import int_arg
    return int_arg(name, value, low, high, type_error=ValueError)


# Upper bounds of the sizes the kernels allocate per thread (negatives, context windows,
# vectors) and of the thread count: beyond them an allocation would fail inside a parallel
# region. Far above any useful setting (word2vec.c: negative 5-20, window 5-10).
_MAX_SIZE = 2**20
_MAX_WORKERS = 1024


def _flag(name, value):
    if value not in (0, 1, True, False):
        raise ValueError(f"{name}: expected 0 or 1, got {value!r}")
    return int(value)


def _float_param(name, value, low, strict=False):
    # a real number, never a string (float('1.0') would accept one)
    if isinstance(value, (str, bytes)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not np.isfinite(v) or v < low or (strict and v == low):
        op = ">" if strict else ">="
        raise ValueError(f"{name}: expected a finite number {op} {low}, got {value!r}")
    return v


class Word2Vec:
    """Train word vectors with word2vec (gensim.models.Word2Vec's API and semantics).

    Parameters
    ----------
    sentences : iterable of lists of str, or corpus_file : path (one sentence per line,
        ASCII-whitespace tokens, lines of any length). Either, or neither to call
        :meth:`build_vocab` and :meth:`train` later. A one-shot iterator is kept in memory.
    vector_size : D >= 1. window : maximal context distance, >= 1.
    min_count, max_vocab_size : vocabulary as :func:`seqcore.corpus.build_vocab`.
    sample : subsampling threshold t (>= 0; 0 disables): word w is kept with probability
        min(1, (sqrt(c_w / (t N)) + 1) t N / c_w) (N retained tokens; t >= 1 is gensim's
        absolute count form).
    sg : 1 skip-gram, 0 CBOW. hs : 1 hierarchical softmax. negative : K >= 0 noise words
        per positive pair (0: none; hs=0 needs K > 0). ns_exponent : noise distribution
        count^ns_exponent. cbow_mean : 1 mean, 0 sum of the context vectors (CBOW).
    alpha, min_alpha : learning rate, decaying linearly over each train() call (see
        :meth:`train`).
    epochs : passes over the corpus (0 to 2**20). workers : threads (default: all cores).
    seed : int, initialisation and random streams.
    shrink_windows : draw the effective window uniformly in [1, window] per centre word.
    batch_words : tokens per chunk (the unit of work of a thread; sentences never split).
    compute_loss : accumulate the training loss (sum of -log sigma over the trained output
        nodes / pairs, float64) in :attr:`loss`, one entry per epoch.
    deterministic : train the chunks in order in one thread: bit-identical vectors for a seed
        at any thread count, at the speed of one core.
    progress : tqdm bar (when installed) with words/s and ETA. callbacks : objects with
        gensim's ``on_train_begin/on_epoch_begin/on_epoch_end/on_train_end(model)``.
    trim_rule : None or ``trim_rule(word, count, min_count)`` -> RULE_DISCARD / RULE_KEEP /
        RULE_DEFAULT (:mod:`seqcore.corpus`), applied by the constructor's build_vocab (not
        stored, as gensim 4). max_final_vocab : None or the most words kept (min_count is
        raised until at most that many remain, gensim's effective_min_count).
    shared_negatives : skip-gram negative sampling with the minibatched kernel (HogBatch,
        Ji et al. 2016): the B contexts of a centre word share one set of K negatives, and
        the update is three small GEMMs on the gathered rows, logits [B, D] x [D, K + 1]
        then both weight updates from the values before it (needs sg=1, negative > 0;
        not gensim's algorithm: fewer distinct negatives per word, each output row read
        once per centre word). hs, if also on, keeps the per-pair kernel.
    dtype : np.float32 (default) or np.float64 weights.

    Attributes
    ----------
    wv : :class:`seqcore.KeyedVectors`, the input vectors [V, D] (trained in place;
        ``wv.vectors_lockf`` scales each word's updates, gensim's lock).
    syn1 : [V, D] inner-node vectors (hs) or None: rows 0..V-2 are the V-1 inner nodes, the
        last row is unused (gensim's shape). syn1neg : [V, D] output vectors (negative > 0)
        or None. vocab : :class:`seqcore.corpus.Vocabulary`.
    keep_probabilities : [V] float64 subsampling keep probabilities. loss : list of float,
        per epoch. running_training_loss : the loss summed over the last train() call.
    corpus_count, corpus_total_words : sentences and raw tokens of the last vocabulary scan.
    raw_vocab : dict word -> count of the last scan (kept with ``keep_raw_vocab``).
    effective_min_count : min_count after max_final_vocab.
    min_alpha_yet_reached : learning rate of the last trained word (of its chunk, by sentences).

    Raises
    ------
    ValueError : bad settings (window < 1, negative < 0, hs=0 with negative=0, ...).
    :class:`seqcore.corpus.VocabularyError` (a ValueError and the RuntimeError gensim raises):
        an empty corpus, no word reaching min_count. TypeError : sentences not lists of str
        (a plain str sentence included: gensim would train on its characters), bad dtype.
    FloatingPointError : the loss became non-finite (training diverged; lower alpha).

    Source: Mikolov et al. 2013 (word2vec.c); option semantics of gensim 4.x
    (``gensim/models/word2vec.py``, ``word2vec_inner.pyx``). The deliberate differences
    from gensim are tabled in the README ("Differences from gensim").
    """

    def __init__(self, sentences: Optional[Iterable[Sequence[str]]] = None,
                 corpus_file: Union[str, os.PathLike[str], None] = None,
                 vector_size: int = 100, window: int = 5, min_count: int = 5,
                 max_vocab_size: Optional[int] = None, sample: float = 1e-3, sg: int = 0,
                 hs: int = 0, negative: int = 5, ns_exponent: float = 0.75,
                 cbow_mean: int = 1, alpha: float = 0.025, min_alpha: float = 1e-4,
                 epochs: int = 5, workers: Optional[int] = None, seed: int = 1,
                 shrink_windows: bool = True, batch_words: int = 10000,
                 compute_loss: bool = True, deterministic: bool = False,
                 progress: bool = True, callbacks: Iterable[Any] = (),
                 shared_negatives: bool = False, dtype: DTypeLike = np.float32,
                 trim_rule: Optional[Callable[[str, int, int], int]] = None,
                 max_final_vocab: Optional[int] = None) -> None:
        self.vector_size = _int_param("vector_size", vector_size, 1, _MAX_SIZE)
        self.window = _int_param("window", window, 1, _MAX_SIZE)
        self.min_count = _int_param("min_count", min_count, 1)
        self.max_vocab_size = max_vocab_size
        self.max_final_vocab = (None if max_final_vocab is None
                                else _int_param("max_final_vocab", max_final_vocab, 1))
        self.sample = _float_param("sample", sample, 0.0)
        self.sg, self.hs = _flag("sg", sg), _flag("hs", hs)
        self.negative = _int_param("negative", negative, 0, _MAX_SIZE)
        if not self.hs and self.negative == 0:
            raise ValueError("negative: expected > 0 when hs=0 (no output layer to train); "
                             "set negative > 0 or hs=1")
        self.ns_exponent = _float_param("ns_exponent", ns_exponent, -np.inf)
        self.cbow_mean = _flag("cbow_mean", cbow_mean)
        self.alpha = _float_param("alpha", alpha, 0.0, strict=True)
        self.min_alpha = _float_param("min_alpha", min_alpha, 0.0)
        self.epochs = _int_param("epochs", epochs, 0, MAX_EPOCHS)
        self.workers = _int_param("workers", (os.cpu_count() or 1) if workers is None
                                  else workers, 1, _MAX_WORKERS)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise ValueError(f"seed: expected an int, got {seed!r}")
        self.seed = int(seed)
        self.shrink_windows = bool(shrink_windows)
        self.batch_words = _int_param("batch_words", batch_words, 1, 2**31 - 1)
        self.compute_loss = bool(compute_loss)
        self.deterministic = bool(deterministic)
        self.shared_negatives = bool(shared_negatives)
        if self.shared_negatives and not (self.sg and self.negative > 0):
            raise ValueError("shared_negatives: needs sg=1 and negative > 0 (the minibatched "
                             "kernel is skip-gram negative sampling)")
        self.progress = progress
        self.callbacks = tuple(callbacks)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float32, np.float64):
            raise TypeError(f"dtype: expected float32 or float64, got {self.dtype}")
        self.vocab: Optional[Vocabulary] = None
        self.wv: Optional[KeyedVectors] = None
        self.syn1: Optional[np.ndarray] = None
        self.syn1neg: Optional[np.ndarray] = None
        self.loss: List[float] = []
        self.running_training_loss = 0.0
        self.epochs_trained = 0
        self.min_alpha_yet_reached = self.alpha
        self.train_words_per_second = None
        self.corpus_count = self.corpus_total_words = 0
        self.effective_min_count = self.min_count
        self._counter = self._raw_dict = None  # the last scan (raw_vocab)
        if sentences is not None or corpus_file is not None:
            sentences = restartable(sentences)
            self.build_vocab(sentences, corpus_file, trim_rule=trim_rule)
            if self.epochs > 0:  # epochs=0: the vocabulary only (gensim raises)
                self.train(sentences, corpus_file, total_examples=self.corpus_count,
                           total_words=self.corpus_total_words, epochs=self.epochs)
        elif trim_rule is not None:
            logger.warning("trim_rule is only used by build_vocab and is not stored with the "
                           "model (as gensim): without a corpus here it is ignored; pass it "
                           "to build_vocab")

    # ---- vocabulary ------------------------------------------------------------------
    def build_vocab(self, corpus_iterable=None, corpus_file=None, update=False,
                    progress_per=10000, keep_raw_vocab=False, trim_rule=None):
        """Scan a corpus (:meth:`scan_vocab`), keep its words (:meth:`prepare_vocab`) and
        initialise the weights (:meth:`prepare_weights`), as gensim's build_vocab.

        Fresh (``update=False``): words with count >= the effective min_count (min_count,
        raised to fit ``max_final_vocab``) or kept by ``trim_rule(word, count, min_count)``
        (:data:`seqcore.corpus.RULE_KEEP` / ``RULE_DISCARD`` / ``RULE_DEFAULT``, not stored
        with the model, as gensim 4), sorted by count descending; input vectors uniform in
        ``[-1/D, 1/D)``, drawn as gensim 4 (``default_rng(seed).random((V, D), float32)``:
        the same initial vectors as gensim for a seed); output weights zero.

        ``update=True`` (online learning, gensim's semantics): the new corpus's kept words
        not yet in the vocabulary are appended in order of first occurrence, every known
        word's count grows by its count in the new corpus, the subsampling probabilities of
        the new corpus's kept words are recomputed from their new-corpus counts, the Huffman
        tree and noise distribution are rebuilt over the new counts, new words get the rows
        gensim's resize gives them (the rows past the old ones of the same seeded draw) and
        zero output rows; the trained weights are kept. ``progress_per`` is accepted for
        gensim compatibility. Returns self.

        Raises :class:`seqcore.corpus.VocabularyError` (a ValueError and RuntimeError) for
        an empty corpus, no word kept, or ``update`` before a first vocabulary.
        """
        self.scan_vocab(corpus_iterable, corpus_file, progress_per, trim_rule=trim_rule)
        self.prepare_vocab(update=update, keep_raw_vocab=keep_raw_vocab, trim_rule=trim_rule)
        self.prepare_weights(update=update)
        return self

    def scan_vocab(self, corpus_iterable=None, corpus_file=None, progress_per=10000,
                   workers=None, trim_rule=None):
        """Count the words of a corpus (pruned to ``max_vocab_size`` word types while
        counting, with ``trim_rule``, as gensim); sets :attr:`raw_vocab`, corpus_count and
        corpus_total_words. Returns ``(total_words, corpus_count)``."""
        counter = count_words(corpus_iterable, corpus_file, self.max_vocab_size, trim_rule)
        self._counter, self._raw_dict = counter, None
        self.corpus_count, self.corpus_total_words = counter.sentences, counter.total_words
        return counter.total_words, counter.sentences

    @property
    def raw_vocab(self):
        """dict word -> count of the last scan, in order of first occurrence (None once
        :meth:`prepare_vocab` has used it, unless ``keep_raw_vocab``)."""
        if self._raw_dict is None and self._counter is not None:
            keys, counts = self._counter.items(1)
            self._raw_dict, self._counter = dict(zip(keys, counts.tolist())), None
        return self._raw_dict

    @raw_vocab.setter
    def raw_vocab(self, value):
        self._counter, self._raw_dict = None, None if value is None else dict(value)

    def _raw_items(self, min_count):
        """(keys, counts int64) of the raw vocabulary with count >= min_count, in order."""
        if self._raw_dict is None:
            return self._counter.items(min_count)
        keys = [k for k, c in self._raw_dict.items() if c >= min_count]
        return keys, np.array([self._raw_dict[k] for k in keys], dtype=np.int64)

    def build_vocab_from_freq(self, word_freq, keep_raw_vocab=False, corpus_count=None,
                              trim_rule=None, update=False):
        """:meth:`build_vocab` from a dict word -> count (gensim): the words in the dict's
        order as if first seen in it, corpus_count as given (default 0), corpus_total_words
        unchanged (as gensim). Raises TypeError for keys that are not str or counts that are
        not ints, ValueError for a negative count."""
        if not hasattr(word_freq, "items"):
            raise TypeError(f"word_freq: expected a dict word -> count, got "
                            f"{type(word_freq).__name__}")
        raw = {}
        for key, count in word_freq.items():
            if not isinstance(key, str):
                raise TypeError(f"word_freq: keys must be str, got {key!r}")
            raw[key] = _int_param(f"word_freq[{key!r}]", count, 0)
        self.raw_vocab = raw
        self.corpus_count = 0 if corpus_count is None else _int_param("corpus_count",
                                                                      corpus_count, 0)
        self.prepare_vocab(update=update, keep_raw_vocab=keep_raw_vocab, trim_rule=trim_rule)
        self.prepare_weights(update=update)
        return self

    def prepare_vocab(self, update=False, keep_raw_vocab=False, trim_rule=None,
                      min_count=None, sample=None):
        """Apply min_count / max_final_vocab / trim_rule and ``sample`` to :attr:`raw_vocab`
        (gensim's prepare_vocab; see :meth:`build_vocab` for ``update``). Sets
        :attr:`vocab`, :attr:`keep_probabilities` and :attr:`effective_min_count`."""
        if self._counter is None and self._raw_dict is None:
            raise VocabularyError("prepare_vocab: no scanned corpus (call scan_vocab, or "
                                  "build_vocab / build_vocab_from_freq)")
        if update and self.vocab is None:
            raise VocabularyError("update: the model has no vocabulary to update yet; build "
                                  "its vocabulary with a corpus first (update=False)")
        min_count = self.min_count if min_count is None else _int_param("min_count",
                                                                        min_count, 1)
        sample = self.sample if sample is None else _float_param("sample", sample, 0.0)
        effective = min_count
        if self.max_final_vocab is not None:  # gensim's calc_min_count
            all_counts = (self._counter.counts() if self._raw_dict is None
                          else np.fromiter(self._raw_dict.values(), np.int64))
            if self.max_final_vocab < len(all_counts):
                top = np.partition(all_counts, len(all_counts) - 1 - self.max_final_vocab)
                effective = max(min_count, int(top[len(all_counts) - 1 - self.max_final_vocab])
                                + 1)
        self.effective_min_count = effective
        keys, counts = self._raw_items(1 if update or trim_rule is not None else effective)
        keep = retained(keys, counts, effective, trim_rule)
        if not keep.any() and not update:   # (an update may add no word, as gensim's)
            if not len(keys) and (self._raw_dict is not None or self.corpus_total_words == 0):
                raise VocabularyError("empty corpus: no tokens found")
            raise VocabularyError(f"no word occurs at least min_count={effective} times "
                                  f"({self.corpus_total_words} tokens); lower min_count")
        if np.any(counts[keep] < 1):
            raise ValueError("word_freq: a word kept by trim_rule has count 0 (kept words need "
                             "a count >= 1)")
        kept_keys = [k for k, kept in zip(keys, keep.tolist()) if kept]
        kept_counts = counts[keep]
        if not update:
            self.min_count, self.sample = min_count, sample
            order = frequency_order(kept_counts)
            vocab = Vocabulary([kept_keys[i] for i in order.tolist()], kept_counts[order],
                               self.corpus_total_words, self.corpus_count, min_count,
                               self.max_vocab_size)
            self._set_vocab(vocab)
        else:
            old = self.vocab
            raw = dict(zip(keys, counts.tolist()))
            new_keys = [k for k in kept_keys if k not in old.key_to_index]
            grown = old.counts + np.array([raw.get(k, 0) for k in old.index_to_key], np.int64)
            vocab = Vocabulary(old.index_to_key + new_keys,
                               np.concatenate([grown, [raw[k] for k in new_keys]]),
                               self.corpus_total_words, self.corpus_count, old.min_count,
                               self.max_vocab_size)
            keep_old = self.keep_probabilities
            self._set_vocab(vocab)
            # gensim: only the new corpus's kept words get a new probability, from their
            # counts in it (pre-existing words not in it keep theirs)
            rows = np.array([vocab.key_to_index[k] for k in kept_keys], np.int64)
            p = np.concatenate([keep_old, np.ones(len(new_keys))])
            p[rows] = _core.word2vec_keep_probabilities(kept_counts, sample)
            self.keep_probabilities = p
        if not keep_raw_vocab:
            self._counter = self._raw_dict = None

    def prepare_weights(self, update=False):
        """Initialise the weights for :attr:`vocab` (gensim's init_weights), or with
        ``update`` grow them for the words added since (update_weights)."""
        if self.vocab is None:
            raise VocabularyError("prepare_weights: no vocabulary (call build_vocab first)")
        V, D = len(self.vocab), self.vector_size
        if not update or self.wv is None:
            self.wv = KeyedVectors(self.vocab.index_to_key, _initial_vectors(self.seed, V, D,
                                                                             self.dtype),
                                   counts=self.vocab.counts)
            self.syn1 = np.zeros((V, D), self.dtype) if self.hs else None
            self.syn1neg = np.zeros((V, D), self.dtype) if self.negative else None
            return
        old = len(self.wv)
        grown = np.vstack([self.wv.vectors, _initial_vectors(self.seed, V, D, self.dtype, old)])
        # in place, as gensim: references to model.wv see the new words
        self.wv.index_to_key = list(self.vocab.index_to_key)
        self.wv.key_to_index = dict(self.vocab.key_to_index)
        self.wv.vectors = grown
        self.wv.counts = self.vocab.counts
        pad = np.zeros((V - old, D), self.dtype)
        if self.syn1 is not None:
            self.syn1 = np.vstack([self.syn1, pad])
        if self.syn1neg is not None:
            self.syn1neg = np.vstack([self.syn1neg, pad])

    def _set_vocab(self, vocab):
        self.vocab = vocab
        self.keep_probabilities = _core.word2vec_keep_probabilities(vocab.counts, self.sample)
        self._sampler = UnigramSampler(vocab.counts, self.ns_exponent) if self.negative else None
        self._tree = HuffmanTree(vocab.counts) if self.hs else None

    def reset_from(self, other_model):
        """Take ``other_model``'s vocabulary (shared, not copied: neither model should then
        grow it), subsampling probabilities and corpus size, and initialise fresh weights
        (gensim's reset_from). Raises TypeError for another type, VocabularyError if it has
        no vocabulary."""
        if not isinstance(other_model, Word2Vec):
            raise TypeError(f"other_model: expected a seqcore.Word2Vec, got "
                            f"{type(other_model).__name__}")
        if other_model.vocab is None:
            raise VocabularyError("other_model: has no vocabulary")
        self._set_vocab(other_model.vocab)
        self.keep_probabilities = other_model.keep_probabilities
        self.corpus_count = other_model.corpus_count
        self.corpus_total_words = other_model.corpus_total_words
        self.prepare_weights()

    # ---- training --------------------------------------------------------------------
    def _check_trainable(self, what):
        if self.vocab is None:
            raise VocabularyError(f"{what}: the model has no vocabulary; call build_vocab (or "
                                  f"build_vocab_from_freq) first (assigning wv does not build "
                                  f"one)")
        wv, V = self.wv, len(self.vocab)
        if (not isinstance(wv, KeyedVectors) or len(wv) != V
                or wv.vectors.shape != (V, self.vector_size) or wv.vectors.dtype != self.dtype
                or wv.index_to_key != self.vocab.index_to_key):
            raise ValueError(f"wv: expected the model's KeyedVectors, [V, D] = [{V}, "
                             f"{self.vector_size}] {self.dtype} over its vocabulary; a "
                             f"replaced wv must keep them (or call build_vocab again)")

    def _lockf(self):
        """vectors_lockf as the kernel takes it: None (all 1) or [V] of the weights' dtype."""
        V = len(self.vocab)
        lockf = getattr(self.wv, "vectors_lockf", None)
        if lockf is None:
            return None
        lockf = np.asarray(lockf)
        if lockf.dtype.kind not in "biuf" or lockf.ndim != 1 or len(lockf) not in (1, V):
            raise ValueError(f"vectors_lockf: expected a float array of length 1 or V = {V}, "
                             f"got {lockf.dtype} {list(lockf.shape)} (resize it after the "
                             f"vocabulary grows)")
        if len(lockf) == 1:
            if lockf[0] == 1:
                return None
            lockf = np.full(V, lockf[0])
        return np.ascontiguousarray(lockf, dtype=self.dtype)

    def train(self, corpus_iterable=None, corpus_file=None, total_examples=None,
              total_words=None, epochs=None, start_alpha=None, end_alpha=None, word_count=0,
              queue_factor=2, report_delay=1.0, compute_loss=None, callbacks=None,
              progress=None):
        """Train ``epochs`` passes over a corpus, continuing from the current weights; the
        learning rate decays linearly from ``start_alpha`` (default alpha) to ``end_alpha``
        (default min_alpha) over this call, as gensim: with ``total_examples`` given, each
        chunk of ~``batch_words`` tokens trains at the rate of its progress in sentences
        (gensim's per-job, examples-based decay); with ``total_words`` alone, each word at the
        rate of its token position (word-based, per word as word2vec.c).

        As gensim, ``epochs`` (>= 1) and one of ``total_examples`` (sentences) or
        ``total_words`` (raw words; required with corpus_file) must be given, to catch the
        common mistake of training on a corpus other than the scanned one without saying
        so; their values are checked, not used: the corpus is encoded first, so the schedule
        uses its exact size. ``word_count``, ``queue_factor`` and ``report_delay``
        (gensim's job queue) are accepted and unused. Input-vector updates are scaled by
        ``wv.vectors_lockf`` (length 1 or V; 0 freezes a word). ``compute_loss`` (default the
        model's): :meth:`get_latest_training_loss` is the loss summed over this call.

        Returns (effective words trained, raw words) summed over the epochs.
        Raises :class:`seqcore.corpus.VocabularyError` without a vocabulary; ValueError
        for missing or bad epochs / totals, a wv or vectors_lockf not matching the model.
        """
        self._check_trainable("train")
        if total_examples is None and total_words is None:
            raise ValueError("total_examples, total_words: give one, for the learning-rate "
                             "schedule (gensim); for the scanned corpus use "
                             "total_examples=model.corpus_count")
        if corpus_file is not None and total_words is None:
            raise ValueError("total_words: must be given with corpus_file (gensim); for the "
                             "scanned corpus use total_words=model.corpus_total_words")
        for name, value in (("total_examples", total_examples), ("total_words", total_words)):
            if value is not None:
                _int_param(name, value, 0)
        if epochs is None:
            raise ValueError("epochs: give an explicit count (gensim); usually "
                             "epochs=model.epochs")
        epochs = _int_param("epochs", epochs, 1, MAX_EPOCHS)
        a0 = self.alpha if start_alpha is None else _float_param("start_alpha", start_alpha,
                                                                  0.0, strict=True)
        a1 = self.min_alpha if end_alpha is None else _float_param("end_alpha", end_alpha, 0.0)
        compute_loss = self.compute_loss if compute_loss is None else bool(compute_loss)
        callbacks = self.callbacks if callbacks is None else tuple(callbacks)
        progress = self.progress if progress is None else progress
        lockf = self._lockf()
        decay_by_sentences = bool(total_examples)  # gensim: examples-based if given
        corpus = self.vocab.encode(restartable(corpus_iterable), corpus_file)
        chunks = _core.word2vec_chunks(corpus.offsets, self.batch_words)
        n_chunks, n_tokens = len(chunks) - 1, len(corpus.tokens)
        self.running_training_loss = 0.0
        self._fire(callbacks, "on_train_begin")
        bar = _progress_bar(epochs * n_tokens, progress and n_tokens > 0)
        # a bar update every ~1/50 epoch; slices at chunk boundaries change nothing
        step = n_chunks if bar is None else max(4 * self.workers, -(-n_chunks // 50))
        effective_total = raw_total = 0
        # fresh random streams for each train() call (the first call uses the seed itself)
        seed = (self.seed + self.epochs_trained * 0x9E3779B97F4A7C15) & (2**64 - 1)
        start = time.perf_counter()
        try:
            for epoch in range(epochs):
                self._fire(callbacks, "on_epoch_begin")
                epoch_loss = 0.0
                for c0 in range(0, n_chunks, step):
                    c1 = min(n_chunks, c0 + step)
                    loss, raw, effective, last_alpha = _core.word2vec_train(
                        corpus.tokens, corpus.offsets, chunks, c0, c1, self.keep_probabilities,
                        self.wv.vectors, self.syn1, self.syn1neg, lockf,
                        self._sampler._impl if self._sampler else None,
                        self._tree._impl if self._tree else None, self.window, bool(self.sg),
                        bool(self.hs), self.negative, bool(self.cbow_mean), a0, a1,
                        self.shrink_windows, compute_loss, self.deterministic, self.workers,
                        seed, epoch, epochs, self.shared_negatives, decay_by_sentences)
                    epoch_loss += loss
                    self.running_training_loss += loss
                    effective_total += effective
                    raw_total += raw
                    self.min_alpha_yet_reached = last_alpha
                    if bar is not None:
                        bar.update(raw)
                        if compute_loss:
                            bar.set_postfix(epoch=epoch + 1, loss=f"{epoch_loss:.4g}")
                # NaN logits give finite table lookups, so the loss alone can miss it
                if ((compute_loss and not np.isfinite(epoch_loss))
                        or not np.isfinite(self.wv.vectors).all()):
                    raise FloatingPointError(f"word2vec diverged in epoch {epoch + 1} (loss "
                                             f"{epoch_loss}; or non-finite vectors); lower alpha "
                                             f"(alpha={self.alpha})")
                self.epochs_trained += 1
                if compute_loss:
                    self.loss.append(float(epoch_loss))
                self._fire(callbacks, "on_epoch_end")
        finally:
            if bar is not None:
                bar.close()
            self.wv.fill_norms(force=True)
        elapsed = time.perf_counter() - start
        self.train_words_per_second = raw_total / elapsed if elapsed > 0 else None
        self._fire(callbacks, "on_train_end")
        return effective_total, raw_total

    def _fire(self, callbacks, name):
        for cb in callbacks:
            fn = getattr(cb, name, None)
            if fn is not None:
                fn(self)

    def get_latest_training_loss(self):
        """The training loss summed over the current or last :meth:`train` call so far
        (gensim's running_training_loss; float64 here, float32 in gensim): so an
        ``on_epoch_end`` callback gets an epoch's loss as the difference of two calls.
        0.0 when the loss is not computed. Per-epoch values: :attr:`loss`."""
        return self.running_training_loss

    # ---- queries ---------------------------------------------------------------------
    def predict_output_word(self, context_words_list, topn=10):
        """The centre words most probable given context words, by a CBOW-style pass
        through the negative-sampling output layer (gensim): h = sum (cbow_mean: mean) of
        the known context words' input vectors, p = softmax(syn1neg h) over the vocabulary.

        context_words_list : keys or int rows; unknown ones are ignored.
        Returns a list of ``topn`` (word, probability) pairs, most probable first (ties by
        the lower row), or None (with a logged warning) when no context word is known.
        Raises :class:`seqcore._validate.StateError` (a ValueError and RuntimeError, as
        gensim) without negative sampling or a vocabulary.
        """
        if not self.negative:
            raise StateError("predict_output_word: needs negative sampling (negative > 0): "
                             "it reads the syn1neg output layer")
        self._check_trainable("predict_output_word")
        topn = _int_param("topn", topn, 0)
        rows = [self.wv.get_index(w) for w in context_words_list if w in self.wv]
        if not rows:
            logger.warning("All the input context words are out-of-vocabulary for the "
                           "current model.")
            return None
        h = self.wv.vectors[rows].astype(np.float64).sum(axis=0)
        if self.cbow_mean:
            h /= len(rows)
        logits = self.syn1neg.astype(np.float64) @ h
        prob = np.exp(logits - logits.max())  # softmax without overflow
        prob /= prob.sum()
        k = min(topn, len(prob))
        if k == 0:
            return []
        part = np.argpartition(-prob, k - 1)[:k]
        best = part[np.lexsort((part, -prob[part]))]
        return [(self.wv.index_to_key[i], float(prob[i])) for i in best]

    def score(self, sentences, total_sentences=int(1e6), chunksize=100, queue_factor=2,
              report_delay=1):
        """Log-probability of each sentence under the hierarchical-softmax model (Taddy 2015,
        "Document classification by inversion of distributed language representations";
        gensim's score): sum over the centre words w_i and, for skip-gram, each context word
        w_j within ``window`` (no window shrinking, no subsampling; unknown words dropped
        first), of log p(w_i | w_j) = sum over w_i's Huffman path of log sigma(+-h . node);
        CBOW uses h = the sum (cbow_mean: mean) of the context vectors. As gensim, the
        log-sigmoid is word2vec.c's table and nodes with ``|h . node| >= 6`` are skipped. C++
        (:func:`seqcore._core.word2vec_score`), ``workers`` threads over sentences.

        sentences : iterable of lists of str; at most ``total_sentences`` are scored.
        chunksize, queue_factor, report_delay : gensim's job queue, accepted and unused.
        Returns float32 [number of sentences scored] (gensim's dtype); unlike gensim, a
        sentence longer than 10000 words is scored whole, as it is trained.
        Raises :class:`seqcore._validate.StateError` without hs=1 or a vocabulary.
        """
        self._check_trainable("score")
        if not self.hs:
            raise StateError("score: needs hierarchical softmax (hs=1): the sentence "
                             "log-probability is computed over its Huffman tree")
        total_sentences = _int_param("total_sentences", total_sentences, 0)
        if isinstance(sentences, (str, bytes)):
            raise TypeError("sentences: expected an iterable of token lists, got a string")
        corpus = self.vocab.encode(list(itertools.islice(sentences, total_sentences)))
        scores = _core.word2vec_score(corpus.tokens, corpus.offsets, self.wv.vectors, self.syn1,
                                      self._tree._impl, self.window, bool(self.sg),
                                      bool(self.cbow_mean), self.workers)
        return scores.astype(np.float32)

    # ---- persistence -----------------------------------------------------------------
    _PARAMS = ("vector_size", "window", "min_count", "max_vocab_size", "sample", "sg", "hs",
               "negative", "ns_exponent", "cbow_mean", "alpha", "min_alpha", "epochs",
               "workers", "seed", "shrink_windows", "batch_words", "compute_loss",
               "deterministic", "progress", "shared_negatives", "max_final_vocab")

    def save(self, path):
        """Save the model to ``path`` (a NumPy .npz archive: weights, vocabulary, settings;
        no pickle). Load with :meth:`Word2Vec.load`. Keys are stored as their UTF-8 bytes
        (``key_bytes`` uint8 with ``key_ends`` int64), so any str round-trips (a numpy str
        array would drop trailing NULs)."""
        if self.wv is None:
            raise ValueError("save: the model has no vocabulary yet")
        meta = {name: getattr(self, name) for name in self._PARAMS}
        meta.update(dtype=self.dtype.name, loss=self.loss, epochs_trained=self.epochs_trained,
                    min_alpha_yet_reached=self.min_alpha_yet_reached,
                    running_training_loss=self.running_training_loss,
                    total_words=self.corpus_total_words, corpus_count=self.corpus_count)
        keys = [k.encode("utf8", "surrogatepass") for k in self.vocab.index_to_key]
        arrays = {"syn0": self.wv.vectors, "counts": self.vocab.counts,
                  "key_bytes": np.frombuffer(b"".join(keys), dtype=np.uint8),
                  "key_ends": np.cumsum([len(k) for k in keys], dtype=np.int64),
                  "keep": self.keep_probabilities, "meta": np.array(json.dumps(meta))}
        lockf = self._lockf()
        if lockf is not None:
            arrays["vectors_lockf"] = lockf
        if self.syn1 is not None:
            arrays["syn1"] = self.syn1
        if self.syn1neg is not None:
            arrays["syn1neg"] = self.syn1neg
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    # archive members load reads, with the dtype kinds they may have (``keys``: the str
    # array of files written before key_bytes/key_ends); any other member is ignored
    _MEMBERS = {"syn0": "f", "syn1": "f", "syn1neg": "f", "counts": "iu", "keys": "U",
                "key_bytes": "u", "key_ends": "iu", "meta": "U", "keep": "f",
                "vectors_lockf": "f"}

    @classmethod
    def _read_archive(cls, path):
        """The arrays of a file written by :meth:`save`, read without trusting it: only the
        members of ``_MEMBERS``, stored uncompressed (as np.savez writes them) inside the
        file, each .npy header declaring exactly the bytes its member holds; so nothing is
        allocated beyond about twice the file's size (np.load allocates what a header
        declares before reading)."""
        import math
        import tokenize
        import warnings
        size = os.path.getsize(path)
        arrays = {}
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                fn = info.filename
                name = fn[:-4] if fn.endswith(".npy") else None
                if name not in cls._MEMBERS:
                    continue
                if name in arrays:
                    raise ValueError(f"member {fn!r} appears twice")
                if (info.compress_type != zipfile.ZIP_STORED or info.flag_bits & 1
                        or info.file_size != info.compress_size
                        or info.header_offset + info.compress_size > size):
                    raise ValueError(f"member {fn!r}: expected an uncompressed, unencrypted "
                                     f"member within the file's {size} bytes")
                with zf.open(info) as f:
                    version = np.lib.format.read_magic(f)
                    if version not in ((1, 0), (2, 0)):
                        raise ValueError(f"member {fn!r}: unsupported .npy version {version}")
                    read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                                   else np.lib.format.read_array_header_2_0)
                    try:
                        with warnings.catch_warnings():  # headers in Python 2 syntax
                            warnings.simplefilter("ignore")
                            shape, fortran, dtype = read_header(f)
                    except (SyntaxError, tokenize.TokenError) as err:
                        # numpy parses the header with ast/tokenize and lets these through
                        raise ValueError(f"member {fn!r}: malformed .npy header: {err}") \
                            from None
                    if (dtype.kind not in cls._MEMBERS[name] or dtype.names is not None
                            or dtype.subdtype is not None or dtype.itemsize == 0
                            or dtype.itemsize > 16 and dtype.kind != "U"):
                        raise ValueError(f"member {fn!r}: unexpected dtype {dtype}")
                    if any(d < 0 for d in shape):
                        raise ValueError(f"member {fn!r}: negative shape {shape}")
                    nbytes = math.prod(shape) * dtype.itemsize
                    if nbytes != info.file_size - f.tell():
                        raise ValueError(f"member {fn!r}: shape {shape} of {dtype} needs "
                                         f"{nbytes} bytes, the member holds "
                                         f"{info.file_size - f.tell()}")
                    buf = f.read(nbytes)
                if len(buf) != nbytes:
                    raise ValueError(f"member {fn!r}: truncated")
                a = np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if fortran else "C")
                arrays[name] = a.astype(dtype.newbyteorder("="), order="C")  # a copy
        missing = [k for k in ("syn0", "counts", "meta") if k not in arrays]
        if "keys" not in arrays and "key_bytes" not in arrays:
            missing.append("key_bytes")
        if missing:
            raise KeyError(f"missing members {missing}")
        return arrays

    @staticmethod
    def _archive_keys(arrays):
        if "key_bytes" in arrays:
            data, ends = arrays["key_bytes"], arrays.get("key_ends")
            if ends is None or data.dtype != np.uint8 or data.ndim != 1 or ends.ndim != 1:
                raise ValueError("key_bytes: expected uint8 [bytes] with key_ends int [V]")
            ends = ends.astype(np.int64)
            if (ends.size and (ends[0] < 0 or ends[-1] != data.size)) or \
                    np.any(np.diff(ends) < 0) or (not ends.size and data.size):
                raise ValueError("key_ends: expected non-decreasing ends of the keys in "
                                 "key_bytes, the last one its length")
            raw = data.tobytes()
            starts = [0, *ends[:-1].tolist()]
            return [raw[a:b].decode("utf8", "surrogatepass")
                    for a, b in zip(starts, ends.tolist())]
        keys = arrays["keys"]
        if keys.ndim != 1:
            raise ValueError(f"keys: expected shape [V], got {list(keys.shape)}")
        return unicode_strings(keys, "keys")

    @classmethod
    def load(cls, path):
        """Load a model written by :meth:`save`. Raises ValueError for a file that is not
        one (not such an archive, damaged, or holding settings, shapes, dtypes or counts
        that such a model cannot have); nothing larger than about twice the file is
        allocated whatever the file declares."""
        import struct
        try:
            data = cls._read_archive(path)
            if data["meta"].ndim != 0:
                raise ValueError("meta: expected a 0-d str array")
            meta = json.loads(str(data["meta"][()]))
            if not isinstance(meta, dict):
                raise ValueError("meta: expected a JSON object")
            keys = cls._archive_keys(data)
            if not keys:
                raise ValueError("keys: the vocabulary is empty")
            if meta["dtype"] not in ("float32", "float64"):
                raise ValueError(f"dtype: expected 'float32' or 'float64', got "
                                 f"{meta['dtype']!r}")
            # the settings go through the constructor's checks (bounds, types): a file is
            # input like any other
            # (files written before max_final_vocab existed lack it)
            model = cls(**{name: meta[name] for name in cls._PARAMS
                           if name in meta or name != "max_final_vocab"}, dtype=meta["dtype"])
            if model.max_vocab_size is not None:
                _int_param("max_vocab_size", model.max_vocab_size, 1)
            V, D = len(keys), model.vector_size
            counts = data["counts"]
            # counts of a saved vocabulary are >= min_count >= 1; bounded so that their
            # sum (the sampling and Huffman tables) cannot overflow int64
            if counts.shape != (V,) or counts.min() < 1 or counts.max() > 2**62 // V:
                raise ValueError(f"counts: expected shape [V] = [{V}] of ints in "
                                 f"[1, 2**62 / V]")
            weights = {}
            if model.hs and data.get("syn1") is not None and data["syn1"].shape == (V - 1, D):
                # files written before syn1 took gensim's [V, D] (the last row unused)
                data["syn1"] = np.vstack([data["syn1"], np.zeros((1, D), data["syn1"].dtype)])
            for name, rows, used in (("syn0", V, True), ("syn1", V, model.hs),
                                     ("syn1neg", V, model.negative > 0)):
                w = data.get(name)
                if not used:
                    continue
                if w is None or w.dtype != model.dtype or w.shape != (rows, D):
                    got = "missing" if w is None else f"{w.dtype} {list(w.shape)}"
                    raise ValueError(f"{name}: expected {model.dtype} [{rows}, {D}], got {got}")
                weights[name] = w
            loss = meta["loss"]
            if not isinstance(loss, list) or not all(
                    isinstance(x, (int, float)) and not isinstance(x, bool) for x in loss):
                raise ValueError("loss: expected a list of numbers")
            epochs_trained = _int_param("epochs_trained", meta["epochs_trained"], 0)
            min_alpha_yet_reached = _float_param("min_alpha_yet_reached",
                                                 meta["min_alpha_yet_reached"], 0.0)
            counts = counts.astype(np.int64)
            # (after build_vocab(update=True) the counts may exceed the last corpus's words)
            total_words = _int_param("total_words", meta["total_words"], 0)
            corpus_count = _int_param("corpus_count", meta["corpus_count"], 0)
            running = _float_param("running_training_loss",
                                   meta.get("running_training_loss", 0.0), -np.inf)
            vocab = Vocabulary(keys, counts, total_words, corpus_count, model.min_count,
                               model.max_vocab_size)
            model._set_vocab(vocab)
            for name in ("keep", "vectors_lockf"):
                a = data.get(name)
                if a is not None and (a.shape != (V,) or not np.isfinite(a).all()):
                    raise ValueError(f"{name}: expected finite [V] = [{V}]")
            keep = data.get("keep")
            if keep is not None:
                if keep.min() < 0 or keep.max() > 1:
                    raise ValueError("keep: expected probabilities in [0, 1]")
                model.keep_probabilities = keep.astype(np.float64)
        except (KeyError, ValueError, TypeError, OSError, EOFError, zipfile.BadZipFile,
                zipfile.LargeZipFile, NotImplementedError, RuntimeError, OverflowError,
                RecursionError, struct.error) as err:
            raise ValueError(f"{path!r} is not a seqcore Word2Vec file: "
                             f"{type(err).__name__}: {err}") from None
        model.callbacks = ()
        model.loss = [float(x) for x in loss]
        model.epochs_trained = epochs_trained
        model.min_alpha_yet_reached = min_alpha_yet_reached
        model.train_words_per_second = None
        model.running_training_loss = running
        model.corpus_count, model.corpus_total_words = corpus_count, total_words
        model.wv = KeyedVectors(keys, weights["syn0"], counts=vocab.counts)
        if data.get("vectors_lockf") is not None:
            model.wv.vectors_lockf = data["vectors_lockf"].astype(model.dtype)
        model.syn1 = weights.get("syn1")
        model.syn1neg = weights.get("syn1neg")
        return model

    # ---- gensim interchange -----------------------------------------------------------
    # settings with the same name and meaning in gensim 4's Word2Vec
    _GENSIM_PARAMS = ("vector_size", "window", "min_count", "max_vocab_size", "sample", "sg",
                      "hs", "negative", "ns_exponent", "cbow_mean", "alpha", "min_alpha",
                      "epochs", "workers", "seed", "shrink_windows", "batch_words",
                      "compute_loss", "max_final_vocab")

    @classmethod
    def from_gensim(cls, model_or_path):
        """A seqcore model from a gensim 4 ``Word2Vec`` or the path of one saved with its
        ``save()`` (a pickle with .npy side files: load only files you trust, as with
        gensim). Takes the settings, vocabulary (order, counts, subsampling probabilities),
        input vectors, ``syn1`` / ``syn1neg``, ``vectors_lockf``, corpus size and running
        loss; codes/points and the noise distribution are rebuilt from the counts (gensim's
        construction, so the same). Training goes on from those weights.

        Raises ImportError without gensim, TypeError for another object, ValueError for a
        model without a vocabulary or with inconsistent shapes.
        """
        try:
            from gensim.models import Word2Vec as GensimWord2Vec
        except ImportError as err:
            raise ImportError("from_gensim: needs gensim (pip install gensim)") from err
        g = model_or_path
        if isinstance(g, (str, bytes, os.PathLike)):
            g = GensimWord2Vec.load(os.fspath(g))
        if not isinstance(g, GensimWord2Vec):
            raise TypeError(f"model_or_path: expected a gensim Word2Vec or a path, got "
                            f"{type(g).__name__}")
        keys = list(g.wv.index_to_key)
        if not keys:
            raise VocabularyError("model_or_path: the gensim model has no vocabulary")
        model = cls(**{name: getattr(g, name) for name in cls._GENSIM_PARAMS},
                    progress=False, dtype=np.float32)
        V, D = len(keys), model.vector_size
        counts = np.asarray(g.wv.expandos["count"], dtype=np.int64)
        model.corpus_count = int(g.corpus_count or 0)
        model.corpus_total_words = int(g.corpus_total_words or 0)
        model._set_vocab(Vocabulary(keys, counts, model.corpus_total_words, model.corpus_count,
                                    model.min_count, model.max_vocab_size))
        if "sample_int" in g.wv.expandos:  # gensim's keep probability * (2**32 - 1)
            model.keep_probabilities = np.minimum(
                np.asarray(g.wv.expandos["sample_int"], np.float64) / (2**32 - 1), 1.0)
        weights = {"syn0": g.wv.vectors, "syn1": getattr(g, "syn1", None) if model.hs else None,
                   "syn1neg": getattr(g, "syn1neg", None) if model.negative else None}
        for name, w in weights.items():
            if (name == "syn0" or w is not None) and np.shape(w) != (V, D):
                raise ValueError(f"{name}: expected [V, D] = [{V}, {D}], got {np.shape(w)}")
        if model.hs and weights["syn1"] is None or model.negative and weights["syn1neg"] is None:
            raise ValueError("model_or_path: the gensim model lacks syn1 / syn1neg")
        model.wv = KeyedVectors(keys, np.asarray(weights["syn0"], np.float32), counts=counts)
        model.wv.vectors_lockf = np.array(g.wv.vectors_lockf, np.float32)
        model.syn1 = None if weights["syn1"] is None else np.array(weights["syn1"], np.float32)
        model.syn1neg = (None if weights["syn1neg"] is None
                         else np.array(weights["syn1neg"], np.float32))
        model.running_training_loss = float(getattr(g, "running_training_loss", 0.0))
        model.min_alpha_yet_reached = float(g.min_alpha_yet_reached)
        return model

    def to_gensim(self):
        """This model as a gensim 4 ``Word2Vec`` (float32, gensim's dtype): settings,
        vocabulary in this order with counts and subsampling probabilities (``sample_int``),
        the Huffman tree and cumulative table gensim builds from the counts, the weights and
        ``vectors_lockf``; gensim can train it further and ``save()`` it. Raises ImportError
        without gensim, VocabularyError without a vocabulary."""
        try:
            from gensim.models import Word2Vec as GensimWord2Vec
        except ImportError as err:
            raise ImportError("to_gensim: needs gensim (pip install gensim)") from err
        self._check_trainable("to_gensim")
        g = GensimWord2Vec(**{name: getattr(self, name) for name in self._GENSIM_PARAMS})
        keys = list(self.vocab.index_to_key)
        g.wv.index_to_key = keys
        g.wv.key_to_index = {k: i for i, k in enumerate(keys)}
        g.wv.vectors = np.array(self.wv.vectors, np.float32)
        g.wv.expandos = {
            "count": np.array(self.vocab.counts, np.int64),
            "sample_int": (self.keep_probabilities * (2**32 - 1)).astype(np.uint32)}
        lockf = self._lockf()
        g.wv.vectors_lockf = (np.ones(1, np.float32) if lockf is None
                              else np.array(lockf, np.float32))
        g.corpus_count, g.corpus_total_words = self.corpus_count, self.corpus_total_words
        g.effective_min_count = self.effective_min_count
        if self.hs:
            g.create_binary_tree()
            g.syn1 = np.array(self.syn1, np.float32)
        if self.negative:
            g.make_cum_table()
            g.syn1neg = np.array(self.syn1neg, np.float32)
        g.running_training_loss = self.running_training_loss
        g.min_alpha_yet_reached = self.min_alpha_yet_reached
        return g

    def __repr__(self):
        V = len(self.vocab) if self.vocab is not None else 0
        return (f"Word2Vec<vocab={V}, vector_size={self.vector_size}, "
                f"{'sg' if self.sg else 'cbow'}, hs={self.hs}, negative={self.negative}, "
                f"window={self.window}, alpha={self.alpha}>")


def _initial_vectors(seed, V, D, dtype, start=0):
    """Rows [start, V) of gensim 4's initial input vectors (``prep_vectors``):
    ``(default_rng(seed).random((V, D), float32) * 2 - 1) / D``, drawn in blocks of rows
    (~256 KiB; the stream is the same as one draw) and converted to ``dtype``."""
    rng = np.random.default_rng(seed & (2**64 - 1))
    out = np.empty((V - start, D), dtype)
    rows = max(1, (1 << 16) // D)
    for r in range(0, V, rows):
        n = min(rows, V - r)
        x = rng.random((n, D), dtype=np.float32)
        if r + n <= start:
            continue
        x *= 2
        x -= 1
        x /= D
        skip = max(start - r, 0)
        out[r + skip - start:r + n - start] = x[skip:]
    return out


def _progress_bar(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress is cosmetic
        return None
    return tqdm(total=total, desc="Word2Vec", unit="word", unit_scale=True)

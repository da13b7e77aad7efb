"""Word2Vec (Mikolov et al. 2013): skip-gram and CBOW with negative sampling and/or
hierarchical softmax, trained in C++ with gensim 4's parameter names and meanings.

Shape legend: ``V`` vocabulary, ``D`` vector size (``vector_size``), ``K`` negatives.

Pipeline: the vocabulary is counted and the corpus encoded to an int32 token array with
sentence offsets (:mod:`seqcore.corpus`, C++); the corpus is cut into chunks of whole
sentences of about ``batch_words`` tokens; each epoch, ``_core.word2vec_train`` runs the
word2vec.c inner loop over the chunks with the GIL released: subsampling (keep probability
``(sqrt(f / t) + 1) t / f``), a window drawn in ``[1, window]`` per centre word, the
learning rate decaying linearly per word from ``alpha`` to ``min_alpha`` over the epochs of a
:meth:`Word2Vec.train` call, negative sampling from ``count^ns_exponent`` (alias method,
:class:`seqcore.UnigramSampler`) and hierarchical softmax over gensim's Huffman tree
(:class:`seqcore.HuffmanTree`; vocabulary order, codes and points equal gensim 4's), both
weight matrices updated in place.

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

import json
import os
import time
import zipfile

import numpy as np

from . import _core
from ._validate import MAX_EPOCHS
from .corpus import Vocabulary, build_vocab, restartable
from .keyedvectors import KeyedVectors
from .output_layers import HuffmanTree, UnigramSampler

__all__ = ["Word2Vec"]


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
    alpha, min_alpha : learning rate, decaying linearly per word over each train() call.
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
    shared_negatives : skip-gram negative sampling with the minibatched kernel (HogBatch,
        Ji et al. 2016): the B contexts of a centre word share one set of K negatives, and
        the update is three small GEMMs on the gathered rows, logits [B, D] x [D, K + 1]
        then both weight updates from the values before it (needs sg=1, negative > 0;
        not gensim's algorithm: fewer distinct negatives per word, each output row read
        once per centre word). hs, if also on, keeps the per-pair kernel.
    dtype : np.float32 (default) or np.float64 weights.

    Attributes
    ----------
    wv : :class:`seqcore.KeyedVectors`, the input vectors [V, D] (trained in place).
    syn1 : [V - 1, D] inner-node vectors (hs) or None. syn1neg : [V, D] output vectors
        (negative > 0) or None. vocab : :class:`seqcore.corpus.Vocabulary`.
    keep_probabilities : [V] float64 subsampling keep probabilities. loss : list of float.
    corpus_count, corpus_total_words : sentences and raw tokens of the vocabulary scan.
    min_alpha_yet_reached : learning rate of the last trained word.

    Raises
    ------
    ValueError : bad settings (window < 1, negative < 0, hs=0 with negative=0, ...), an empty
        corpus, no word reaching min_count. TypeError : sentences not lists of str, bad dtype.
    FloatingPointError : the loss became non-finite (training diverged; lower alpha).

    Source: Mikolov et al. 2013 (word2vec.c); option semantics of gensim 4.x
    (``gensim/models/word2vec.py``, ``word2vec_inner.pyx``).
    """

    def __init__(self, sentences=None, corpus_file=None, vector_size=100, window=5,
                 min_count=5, max_vocab_size=None, sample=1e-3, sg=0, hs=0, negative=5,
                 ns_exponent=0.75, cbow_mean=1, alpha=0.025, min_alpha=1e-4, epochs=5,
                 workers=None, seed=1, shrink_windows=True, batch_words=10000,
                 compute_loss=True, deterministic=False, progress=True, callbacks=(),
                 shared_negatives=False, dtype=np.float32):
        self.vector_size = _int_param("vector_size", vector_size, 1, _MAX_SIZE)
        self.window = _int_param("window", window, 1, _MAX_SIZE)
        self.min_count = _int_param("min_count", min_count, 1)
        self.max_vocab_size = max_vocab_size
        self.sample = _float_param("sample", sample, 0.0)
        self.sg, self.hs = _flag("sg", sg), _flag("hs", hs)
        self.negative = _int_param("negative", negative, 0, _MAX_SIZE)
        if not self.hs and self.negative == 0:
            raise ValueError("negative: expected > 0 when hs=0 (no output layer to train); "
                             "set negative > 0 or hs=1")
        self.ns_exponent = _float_param("ns_exponent", ns_exponent, 0.0)
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
        self.vocab = None
        self.wv = None
        self.syn1 = self.syn1neg = None
        self.loss = []
        self.epochs_trained = 0
        self.min_alpha_yet_reached = self.alpha
        self.train_words_per_second = None
        if sentences is not None or corpus_file is not None:
            sentences = restartable(sentences)
            self.build_vocab(sentences, corpus_file)
            self.train(sentences, corpus_file, epochs=self.epochs)

    # ---- vocabulary ------------------------------------------------------------------
    def build_vocab(self, sentences=None, corpus_file=None, update=False):
        """Scan a corpus, keep words with count >= min_count and (re)initialise the weights:
        input vectors uniform in ``[-1/D, 1/D)`` from ``seed`` (gensim 4; word2vec.c uses
        half that range), output weights zero. ``update=True`` (growing a vocabulary) is not supported."""
        if update:
            raise ValueError("update: growing an existing vocabulary is not supported")
        vocab = build_vocab(sentences, corpus_file, self.min_count, self.max_vocab_size)
        self._set_vocab(vocab)
        V, D = len(vocab), self.vector_size
        rng = np.random.default_rng(self.seed & (2**64 - 1))
        # gensim 4's range, from float64 draws (the same vectors for either dtype) made in
        # blocks of rows: ~512 KiB of temporaries, not 2-3 copies of [V, D] float64
        syn0 = np.empty((V, D), self.dtype)
        rows = max(1, (1 << 16) // D)
        for r in range(0, V, rows):
            x = rng.random((min(rows, V - r), D))
            x *= 2
            x -= 1
            x /= D
            syn0[r:r + rows] = x
        self.wv = KeyedVectors(vocab.index_to_key, syn0, counts=vocab.counts)
        self.syn1 = np.zeros((V - 1, D), self.dtype) if self.hs else None
        self.syn1neg = np.zeros((V, D), self.dtype) if self.negative else None
        return self

    def _set_vocab(self, vocab):
        self.vocab = vocab
        self.corpus_count, self.corpus_total_words = vocab.corpus_count, vocab.total_words
        self.keep_probabilities = _core.word2vec_keep_probabilities(vocab.counts, self.sample)
        self._sampler = UnigramSampler(vocab.counts, self.ns_exponent) if self.negative else None
        self._tree = HuffmanTree(vocab.counts) if self.hs else None

    # ---- training --------------------------------------------------------------------
    def train(self, sentences=None, corpus_file=None, epochs=None, start_alpha=None,
              end_alpha=None, compute_loss=None, callbacks=None, progress=None,
              total_examples=None, total_words=None):
        """Train ``epochs`` passes (default ``self.epochs``) over a corpus, continuing from
        the current weights; the learning rate decays linearly per word from
        ``start_alpha`` (default alpha) to ``end_alpha`` (default min_alpha) over this call,
        as gensim. ``total_examples``/``total_words`` are accepted for gensim compatibility
        and unused (the corpus is encoded first, so its size is known).

        Returns (effective words trained, raw words) summed over the epochs.
        Raises ValueError before :meth:`build_vocab`, or if no source is given.
        """
        if self.wv is None:
            raise ValueError("train: call build_vocab first (the vocabulary is empty)")
        epochs = self.epochs if epochs is None else _int_param("epochs", epochs, 0, MAX_EPOCHS)
        a0 = self.alpha if start_alpha is None else _float_param("start_alpha", start_alpha,
                                                                  0.0, strict=True)
        a1 = self.min_alpha if end_alpha is None else _float_param("end_alpha", end_alpha, 0.0)
        compute_loss = self.compute_loss if compute_loss is None else bool(compute_loss)
        callbacks = self.callbacks if callbacks is None else tuple(callbacks)
        progress = self.progress if progress is None else progress
        corpus = self.vocab.encode(restartable(sentences), corpus_file)
        chunks = _core.word2vec_chunks(corpus.offsets, self.batch_words)
        n_chunks, n_tokens = len(chunks) - 1, len(corpus.tokens)
        self._fire(callbacks, "on_train_begin")
        bar = _progress_bar(epochs * n_tokens, progress and epochs > 0 and n_tokens > 0)
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
                        self.wv.vectors, self.syn1, self.syn1neg,
                        self._sampler._impl if self._sampler else None,
                        self._tree._impl if self._tree else None, self.window, bool(self.sg),
                        bool(self.hs), self.negative, bool(self.cbow_mean), a0, a1,
                        self.shrink_windows, compute_loss, self.deterministic, self.workers,
                        seed, epoch, epochs, self.shared_negatives)
                    epoch_loss += loss
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
        """Loss of the last epoch (float64; gensim returns a float32 running sum)."""
        return self.loss[-1] if self.loss else 0.0

    # ---- persistence -----------------------------------------------------------------
    _PARAMS = ("vector_size", "window", "min_count", "max_vocab_size", "sample", "sg", "hs",
               "negative", "ns_exponent", "cbow_mean", "alpha", "min_alpha", "epochs",
               "workers", "seed", "shrink_windows", "batch_words", "compute_loss",
               "deterministic", "progress", "shared_negatives")

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
                    total_words=self.vocab.total_words, corpus_count=self.vocab.corpus_count)
        keys = [k.encode("utf8", "surrogatepass") for k in self.vocab.index_to_key]
        arrays = {"syn0": self.wv.vectors, "counts": self.vocab.counts,
                  "key_bytes": np.frombuffer(b"".join(keys), dtype=np.uint8),
                  "key_ends": np.cumsum([len(k) for k in keys], dtype=np.int64),
                  "meta": np.array(json.dumps(meta))}
        if self.syn1 is not None:
            arrays["syn1"] = self.syn1
        if self.syn1neg is not None:
            arrays["syn1neg"] = self.syn1neg
        with open(path, "wb") as f:
            np.savez(f, **arrays)

    # archive members load reads, with the dtype kinds they may have (``keys``: the str
    # array of files written before key_bytes/key_ends); any other member is ignored
    _MEMBERS = {"syn0": "f", "syn1": "f", "syn1neg": "f", "counts": "iu", "keys": "U",
                "key_bytes": "u", "key_ends": "iu", "meta": "U"}

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
        # numpy turns a code point above U+10FFFF into an invalid str object (SystemError
        # later, wherever it is used)
        if keys.size and keys.view(np.uint32).max() > 0x10FFFF:
            raise ValueError("keys: a character beyond U+10FFFF")
        return [str(k) for k in keys]

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
            model = cls(**{name: meta[name] for name in cls._PARAMS}, dtype=meta["dtype"])
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
            for name, rows, used in (("syn0", V, True), ("syn1", V - 1, model.hs),
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
            total_words = _int_param("total_words", meta["total_words"], 0)
            if int(counts.sum()) > total_words:  # the kept words are among those scanned
                raise ValueError(f"total_words: {total_words} is less than the sum of the "
                                 f"counts, {int(counts.sum())}")
            vocab = Vocabulary(keys, counts, total_words,
                               _int_param("corpus_count", meta["corpus_count"], 0),
                               model.min_count, model.max_vocab_size)
            model._set_vocab(vocab)
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
        model.wv = KeyedVectors(keys, weights["syn0"], counts=vocab.counts)
        model.syn1 = weights.get("syn1")
        model.syn1neg = weights.get("syn1neg")
        return model

    def __repr__(self):
        V = len(self.vocab) if self.vocab is not None else 0
        return (f"Word2Vec<vocab={V}, vector_size={self.vector_size}, "
                f"{'sg' if self.sg else 'cbow'}, hs={self.hs}, negative={self.negative}, "
                f"window={self.window}, alpha={self.alpha}>")


def _progress_bar(total, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # progress is cosmetic
        return None
    return tqdm(total=total, desc="Word2Vec", unit="word", unit_scale=True)

"""Corpus and vocabulary layer shared by the embedding trainers (GloVe, Word2Vec).

A corpus is either an iterable of sentences (each a list of str tokens) or a ``corpus_file``
(one sentence per line, tokens separated by ASCII whitespace as word2vec.c; lines of any
length, never truncated). Counting and encoding run in C++ (:mod:`seqcore._core`
``VocabCounter`` / ``VocabIndex``); a file is read without the GIL.

Shape legend: ``V`` vocabulary size, ``S`` sentences, ``n`` tokens kept.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from . import _core
from ._validate import INT64_MAX, StateError, int_arg

__all__ = ["Vocabulary", "EncodedCorpus", "build_vocab", "encode_corpus", "count_words",
           "VocabularyError", "RULE_DEFAULT", "RULE_DISCARD", "RULE_KEEP"]

# trim_rule results (gensim.utils): keep or discard a word, or apply the count threshold
RULE_DEFAULT, RULE_DISCARD, RULE_KEEP = 0, 1, 2


class VocabularyError(StateError):
    """The vocabulary is empty or not built yet: a ValueError that is also the RuntimeError
    gensim raises in these cases (:class:`seqcore._validate.StateError`)."""


class EncodedCorpus(NamedTuple):
    """A corpus as token ids: ``tokens [n]`` int32 (ids into the vocabulary) and
    ``offsets [S + 1]`` int64 (sentence s is ``tokens[offsets[s]:offsets[s + 1]]``; every
    input sentence has an entry, possibly empty once out-of-vocabulary words are dropped)."""
    tokens: np.ndarray
    offsets: np.ndarray

    @property
    def num_sentences(self):
        return len(self.offsets) - 1


def _check_source(sentences, corpus_file):
    if (sentences is None) == (corpus_file is None):
        raise ValueError("expected exactly one of sentences (an iterable of token lists) or "
                         "corpus_file (a path)")
    if corpus_file is not None:
        path = os.fspath(corpus_file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"corpus_file: no such file: {path!r}")
        return None, path
    if isinstance(sentences, (str, bytes)):
        raise TypeError("sentences: expected an iterable of token lists, got a string "
                        "(use corpus_file= for a path)")
    return sentences, None


def restartable(sentences):
    """``sentences`` itself if it can be iterated more than once, else a list of it (a
    generator or iterator is consumed once and kept in memory)."""
    if sentences is not None and iter(sentences) is sentences:
        return list(sentences)
    return sentences


class Vocabulary:
    """Vocabulary of a corpus: keys sorted by count descending, ties by the latest first
    occurrence first (gensim 4's order).

    Attributes
    ----------
    index_to_key : list of str [V]; key_to_index : dict; counts : int64 [V];
    total_words : raw tokens scanned (before min_count); corpus_count : sentences scanned;
    min_count, max_vocab_size : the settings used.
    """

    def __init__(self, index_to_key, counts, total_words=0, corpus_count=0, min_count=1,
                 max_vocab_size=None):
        self.index_to_key = list(index_to_key)
        self.counts = np.asarray(counts, dtype=np.int64)
        if self.counts.shape != (len(self.index_to_key),):
            raise ValueError(f"counts: expected shape [V] = [{len(self.index_to_key)}], got "
                             f"{list(self.counts.shape)}")
        self.key_to_index = {k: i for i, k in enumerate(self.index_to_key)}
        if len(self.key_to_index) != len(self.index_to_key):
            raise ValueError("index_to_key: duplicate keys")
        self.total_words = int(total_words)
        self.corpus_count = int(corpus_count)
        self.min_count = min_count
        self.max_vocab_size = max_vocab_size
        self._index = None

    def __len__(self):
        return len(self.index_to_key)

    def __contains__(self, key):
        return key in self.key_to_index

    def __repr__(self):
        return (f"Vocabulary<{len(self)} keys, {self.total_words} words, "
                f"{self.corpus_count} sentences>")

    def encode(self, sentences=None, corpus_file=None):
        """Token ids of a corpus: :class:`EncodedCorpus` (out-of-vocabulary words dropped)."""
        sentences, path = _check_source(sentences, corpus_file)
        if self._index is None:
            self._index = _core.VocabIndex(self.index_to_key)
        # capacity from the vocabulary scan: the token array is built in place, 4 bytes a
        # token at its peak (exact when this is the scanned corpus). A hint only, so bounded
        # by what this source can hold: a file of n bytes has at most n/2 + 1 tokens and
        # n + 1 lines; an iterable gets at most 2**26 (it grows past that if it must)
        cap_tokens, cap_sentences = int(self.counts.sum()), int(self.corpus_count)
        if path is not None:
            size = os.path.getsize(path)
            cap_tokens, cap_sentences = min(cap_tokens, size // 2 + 1), min(cap_sentences,
                                                                            size + 1)
        else:
            cap_tokens, cap_sentences = min(cap_tokens, 2**26), min(cap_sentences, 2**26)
        tokens, offsets = _core.encode_corpus(self._index, sentences, path, cap_tokens,
                                              cap_sentences)
        return EncodedCorpus(tokens, offsets)


def count_words(sentences=None, corpus_file=None, max_vocab_size=None, trim_rule=None):
    """Scan a corpus and count its words: a ``_core.VocabCounter`` (``items(min_count)``: keys
    and counts in order of first occurrence; ``total_words``; ``sentences``).

    max_vocab_size : None, or an int >= 1 bounding the word types held while counting: after
        each sentence, if more are held, the types with count < min_reduce are dropped and
        min_reduce (from 1) grows by one, as gensim's ``Word2Vec._scan_vocab`` /
        ``utils.prune_vocab`` (so counts of pruned words restart from 0, and the first
        pruning drops nothing, exactly as gensim 4).
    trim_rule : None, or ``trim_rule(word, count, min_count)`` returning RULE_DISCARD,
        RULE_KEEP or RULE_DEFAULT, asked about each word at those prunings (gensim).
    """
    if max_vocab_size is not None:
        # int64 in C++: larger values are out of range, not pybind11 conversion errors
        max_vocab_size = int_arg("max_vocab_size", max_vocab_size, 1, INT64_MAX,
                                 type_error=ValueError)
    if trim_rule is not None and not callable(trim_rule):
        raise TypeError(f"trim_rule: expected None or a callable, got {trim_rule!r}")
    sentences, path = _check_source(sentences, corpus_file)
    counter = _core.VocabCounter(int(max_vocab_size or 0), trim_rule)
    if path is not None:
        counter.add_file(path)
    else:
        counter.add_sentences(sentences)
    return counter


def retained(keys, counts, min_count, trim_rule=None):
    """Boolean mask [n] of the words kept: gensim's ``keep_vocab_item`` (count >= min_count
    unless ``trim_rule(word, count, min_count)`` says RULE_KEEP or RULE_DISCARD)."""
    keep = counts >= min_count
    if trim_rule is not None:
        for i, (key, count) in enumerate(zip(keys, counts.tolist())):
            rule = trim_rule(key, count, min_count)
            if rule == RULE_KEEP:
                keep[i] = True
            elif rule == RULE_DISCARD:
                keep[i] = False
    return keep


def frequency_order(counts):
    """Permutation sorting words given in order of first occurrence by count descending,
    ties by the latest first occurrence first: gensim 4's ``sort_by_descending_frequency``
    (``np.lexsort((-indices, -counts))``)."""
    counts = np.asarray(counts, dtype=np.int64)
    return np.lexsort((-np.arange(len(counts)), -counts))


def build_vocab(sentences=None, corpus_file=None, min_count=5, max_vocab_size=None,
                trim_rule=None):
    """Count the words of a corpus and keep those with ``count >= min_count``.

    sentences : iterable of lists of str (read once), or corpus_file : path (one sentence
        per line, ASCII-whitespace-separated tokens). Exactly one must be given.
    min_count : int >= 1. max_vocab_size, trim_rule : as :func:`count_words` (trim_rule is
        also asked about every word against min_count, gensim's ``keep_vocab_item``).

    Returns a :class:`Vocabulary` sorted by count descending, ties by the latest first
    occurrence in the corpus first: gensim 4's order (``sort_by_descending_frequency``
    lexsorts by -count, -insertion index), so ``index_to_key`` equals gensim's.

    Raises :class:`VocabularyError` (a ValueError) for an empty corpus or no word kept;
    ValueError for bad settings; TypeError if sentences are not lists of str;
    FileNotFoundError for a missing file; UnicodeDecodeError if a file token is not UTF-8.
    """
    min_count = int_arg("min_count", min_count, 1, INT64_MAX, type_error=ValueError)
    counter = count_words(sentences, corpus_file, max_vocab_size, trim_rule)
    if counter.total_words == 0:
        raise VocabularyError("empty corpus: no tokens found")
    # without a rule only the words reaching min_count become Python strings
    keys, counts = counter.items(1 if trim_rule is not None else min_count)
    keep = retained(keys, counts, min_count, trim_rule)
    keys = [k for k, kept in zip(keys, keep.tolist()) if kept]
    counts = counts[keep]
    if not keys:
        raise VocabularyError(f"no word occurs at least min_count={min_count} times "
                              f"({counter.total_words} tokens); lower min_count")
    order = frequency_order(counts)
    return Vocabulary([keys[i] for i in order.tolist()], counts[order], counter.total_words,
                      counter.sentences, min_count, max_vocab_size)


def encode_corpus(vocab, sentences=None, corpus_file=None):
    """``vocab.encode(...)``: :class:`EncodedCorpus` of ``tokens [n]`` int32 and
    ``offsets [S + 1]`` int64."""
    return vocab.encode(sentences=sentences, corpus_file=corpus_file)

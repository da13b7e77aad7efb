"""Corpus/vocabulary layer: exact counts and order on hand-written corpora, gensim's
max_vocab_size pruning, file vs iterable identical, encoding, bad input."""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from seqcore.corpus import build_vocab, encode_corpus

CORPUS = [["the", "cat", "sat"], ["the", "dog", "sat", "the"], [], ["a", "cat"],
          ["dog", "bird"]]


def _write(tmp_path, sentences, sep=" "):
    p = tmp_path / "corpus.txt"
    p.write_text("".join(sep.join(s) + "\n" for s in sentences), encoding="utf8")
    return str(p)


def _python_vocab(sentences, min_count, max_vocab_size=None):
    """Independent reference: gensim's _scan_vocab loop + sort by (-count, -first): gensim
    4's sort_by_descending_frequency puts the latest first occurrence first among ties."""
    vocab, first, min_reduce, n_first = {}, {}, 1, 0
    for s in sentences:
        for w in s:
            if w not in vocab:
                first[w] = n_first
                n_first += 1
            vocab[w] = vocab.get(w, 0) + 1
        if max_vocab_size and len(vocab) > max_vocab_size:
            for w in list(vocab):
                if vocab[w] < min_reduce:
                    del vocab[w]
            min_reduce += 1
    keep = [w for w in vocab if vocab[w] >= min_count]
    keep.sort(key=lambda w: (-vocab[w], -first[w]))
    return keep, [vocab[w] for w in keep]


def test_hand_counts():
    v = build_vocab(CORPUS, min_count=1)
    # ties: the word seen first last (gensim 4)
    assert v.index_to_key == ["the", "dog", "sat", "cat", "bird", "a"]
    assert list(v.counts) == [3, 2, 2, 2, 1, 1]
    assert v.total_words == 11 and v.corpus_count == 5
    v2 = build_vocab(CORPUS, min_count=2)
    assert v2.index_to_key == ["the", "dog", "sat", "cat"] and list(v2.counts) == [3, 2, 2, 2]
    assert v2.key_to_index["sat"] == 2 and "bird" not in v2 and len(v2) == 4


def test_encode_hand():
    v = build_vocab(CORPUS, min_count=2)
    enc = encode_corpus(v, CORPUS)
    # ids: the 0, dog 1, sat 2, cat 3; "a" and "bird" dropped; the empty sentence kept
    assert enc.tokens.dtype == np.int32 and enc.offsets.dtype == np.int64
    assert enc.tokens.tolist() == [0, 3, 2, 0, 1, 2, 0, 3, 1]
    assert enc.offsets.tolist() == [0, 3, 7, 7, 8, 9]
    assert enc.num_sentences == 5


@pytest.mark.parametrize("max_vocab_size", [1, 2, 4, 8, 16, None])
def test_max_vocab_size_pruning(rng, max_vocab_size):
    words = [f"w{i}" for i in range(30)]
    p = 1.0 / np.arange(1, 31) ** 1.2  # Zipf-like: pruning keeps the frequent words
    sentences = [[str(w) for w in rng.choice(words, size=rng.integers(0, 12), p=p / p.sum())]
                 for _ in range(40)]
    exp_keys, exp_counts = _python_vocab(sentences, 1, max_vocab_size)
    if not exp_keys:  # pruning after the last sentence can empty the vocabulary (gensim)
        with pytest.raises(ValueError, match="min_count"):
            build_vocab(sentences, min_count=1, max_vocab_size=max_vocab_size)
        return
    v = build_vocab(sentences, min_count=1, max_vocab_size=max_vocab_size)
    assert v.index_to_key == exp_keys and list(v.counts) == exp_counts


def test_max_vocab_size_vs_gensim(rng):
    word2vec = pytest.importorskip("gensim.models.word2vec")
    words = [f"w{i}" for i in range(30)]
    sentences = [list(rng.choice(words, size=5)) for _ in range(40)]
    model = word2vec.Word2Vec(min_count=1, max_vocab_size=8, vector_size=4)
    model.build_vocab(sentences)
    exp = {k: model.wv.get_vecattr(k, "count") for k in model.wv.index_to_key}
    v = build_vocab(sentences, min_count=1, max_vocab_size=8)
    assert dict(zip(v.index_to_key, v.counts.tolist())) == exp
    assert list(v.counts) == sorted(v.counts, reverse=True)


def test_file_equals_iterable(tmp_path, rng):
    words = ["alpha", "beta", "γάμμα", "d", "e-e", "f.f"]
    sentences = [list(rng.choice(words, size=rng.integers(0, 9))) for _ in range(50)]
    sentences.append(list(rng.choice(words, size=100_000)))  # a long line is not truncated
    sentences.append([])
    path = tmp_path / "c.txt"
    # messy but valid whitespace: tabs, runs of spaces, CRLF, leading/trailing blanks
    path.write_text("".join("  " + " \t ".join(s) + " \r\n" for s in sentences),
                    encoding="utf8")
    for min_count, max_vocab_size in ((1, None), (3, None), (50, None), (1, 4)):
        a = build_vocab(sentences, min_count=min_count, max_vocab_size=max_vocab_size)
        b = build_vocab(corpus_file=str(path), min_count=min_count,
                        max_vocab_size=max_vocab_size)
        assert a.index_to_key == b.index_to_key and list(a.counts) == list(b.counts)
        assert a.total_words == b.total_words and a.corpus_count == b.corpus_count
        ea, eb = a.encode(sentences), a.encode(corpus_file=str(path))
        np.testing.assert_array_equal(ea.tokens, eb.tokens)
        np.testing.assert_array_equal(ea.offsets, eb.offsets)
    full = build_vocab(corpus_file=str(path), min_count=1)
    assert full.counts.sum() == sum(len(s) for s in sentences)


def test_file_words_across_read_blocks(tmp_path):
    # the file is read in 64 KiB blocks: words cut by a block boundary, a word longer than a
    # block, a last line without its newline
    long_word = "x" * 200_000
    words = [f"{i % 5000:08d}" for i in range(30_000)]       # 9-byte strides: cut words
    lines = [words[:20_000], [long_word, "a"], words[20_000:] + [long_word]]
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(line) for line in lines), encoding="utf8")
    v = build_vocab(corpus_file=str(path), min_count=1)
    ref = Counter(w for line in lines for w in line)
    assert dict(zip(v.index_to_key, v.counts.tolist())) == dict(ref)
    assert v.corpus_count == 3
    enc = v.encode(corpus_file=str(path))
    assert [v.index_to_key[i] for i in enc.tokens] == [w for line in lines for w in line]
    np.testing.assert_array_equal(enc.offsets, [0, 20_000, 20_002, 30_003])


def test_lee_background_counts():
    utils = pytest.importorskip("gensim.test.utils")
    path = utils.datapath("lee_background.cor")
    with open(path, encoding="utf8") as f:
        sentences = [line.split() for line in f]
    v = build_vocab(corpus_file=path, min_count=5)
    ref = Counter(w for s in sentences for w in s)
    assert dict(zip(v.index_to_key, v.counts.tolist())) == {
        w: c for w, c in ref.items() if c >= 5}
    enc = v.encode(corpus_file=path)
    assert enc.num_sentences == len(sentences)
    assert len(enc.tokens) == sum(c for w, c in ref.items() if c >= 5)
    # decoding the first sentence gives its in-vocabulary words in order
    first = [v.index_to_key[i] for i in enc.tokens[enc.offsets[0]:enc.offsets[1]]]
    assert first == [w for w in sentences[0] if w in v]


def test_generator_input():
    gen = (s for s in CORPUS)
    v = build_vocab(gen, min_count=1)
    assert len(v) == 6


def test_bad_input(tmp_path):
    with pytest.raises(ValueError, match="empty"):
        build_vocab([[], []], min_count=1)
    with pytest.raises(ValueError, match="empty"):
        build_vocab(corpus_file=_write(tmp_path, [[], []]), min_count=1)
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(CORPUS, min_count=4)
    with pytest.raises(ValueError, match="min_count"):
        build_vocab(CORPUS, min_count=0)
    with pytest.raises(ValueError, match="max_vocab_size"):
        build_vocab(CORPUS, min_count=1, max_vocab_size=0)
    with pytest.raises(ValueError, match="exactly one"):
        build_vocab(min_count=1)
    with pytest.raises(ValueError, match="exactly one"):
        build_vocab(CORPUS, corpus_file=_write(tmp_path, CORPUS), min_count=1)
    with pytest.raises(TypeError, match="string"):
        build_vocab("the cat sat", min_count=1)
    with pytest.raises(TypeError, match="sentence"):
        build_vocab(["the cat", "sat"], min_count=1)
    with pytest.raises(TypeError, match="str tokens"):
        build_vocab([["a", 1]], min_count=1)
    with pytest.raises(FileNotFoundError):
        build_vocab(corpus_file=str(tmp_path / "missing.txt"), min_count=1)
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"ok \xff\xfe here\n")
    with pytest.raises(UnicodeDecodeError):
        build_vocab(corpus_file=str(bad), min_count=1)

"""Word2Vec: subsampling probabilities, learning-rate schedule, vocabulary and Huffman codes
against hand-computed corpora, the hs update against the NumPy float64 reference,
determinism at 1 and 2 threads, loss decreasing, save/load, quality on real text, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import Word2Vec, _core, reference

from conftest import not_sanitized


def _synthetic(rng, V=30, S=200, length=12):
    """Sentences drawn from two disjoint topics: words of a topic co-occur."""
    words = [f"w{i}" for i in range(V)]
    half = V // 2
    out = []
    for _ in range(S):
        lo = 0 if rng.random() < 0.5 else half
        out.append([words[lo + int(k)] for k in rng.integers(0, half, size=length)])
    return out


def _lee():
    utils = pytest.importorskip("gensim.test.utils")
    return utils.datapath("lee_background.cor")


def _fast(**kw):
    base = dict(vector_size=16, window=3, min_count=1, epochs=2, workers=1, progress=False)
    base.update(kw)
    return base


# ---- subsampling, learning rate, vocabulary ---------------------------------------------

def test_keep_probabilities_hand_computed():
    counts = np.array([10, 5, 1], np.int64)
    t = 0.1 * 16  # sample * retained tokens
    expected = [min(1.0, (np.sqrt(c / t) + 1) * t / c) for c in (10.0, 5.0, 1.0)]
    # (sqrt(6.25) + 1) * 0.16 = 0.56; (sqrt(3.125) + 1) * 0.32 = 0.8857; 1
    np.testing.assert_allclose(expected[:2], [0.56, 0.32 * (1 + np.sqrt(3.125))], rtol=1e-15)
    got = _core.word2vec_keep_probabilities(counts, 0.1)
    np.testing.assert_allclose(got, expected, rtol=1e-15)
    np.testing.assert_array_equal(_core.word2vec_keep_probabilities(counts, 0.0), [1, 1, 1])
    # sample >= 1: an absolute count threshold int(sample * (3 + sqrt 5) / 2) (gensim 4)
    t_abs = float(int(2 * (3 + np.sqrt(5)) / 2))
    np.testing.assert_allclose(_core.word2vec_keep_probabilities(counts, 2.0),
                               [min(1.0, (np.sqrt(c / t_abs) + 1) * t_abs / c)
                                for c in (10.0, 5.0, 1.0)], rtol=1e-15)


def test_keep_probabilities_match_gensim(rng):
    gensim = pytest.importorskip("gensim")
    sentences = _synthetic(rng, V=20, S=300)
    for sample in (1e-3, 0.05):
        g = gensim.models.Word2Vec(vector_size=4, min_count=1, sample=sample, workers=1)
        g.build_vocab(sentences)
        m = Word2Vec(sentences, **_fast(sample=sample, epochs=0))
        expected = [g.wv.get_vecattr(w, "sample_int") / (2**32 - 1)
                    for w in m.wv.index_to_key]
        np.testing.assert_allclose(m.keep_probabilities, expected, rtol=1e-6)


def test_learning_rate_schedule():
    a0, a1 = 0.025, 1e-4
    n, epochs = 1000, 4
    for epoch, p in [(0, 0), (0, 999), (1, 500), (3, 999)]:
        expected = a0 - (a0 - a1) * (epoch * n + p) / (epochs * n)
        assert _core.word2vec_alpha(a0, a1, epoch, epochs, p, n) == pytest.approx(expected,
                                                                                   rel=1e-14)
    assert _core.word2vec_alpha(0.025, 0.025, 2, 4, 7, 10) == 0.025
    # the model reports the rate of its last trained word. The constructor passes
    # total_examples: gensim's examples-based schedule, one rate per chunk (here a chunk of
    # 12 words = 3 sentences), so the last chunk's from its first sentence, 24 of 25, in the
    # last epoch; train() with total_words alone: per word, position n - 1 of the last epoch
    sentences = [["a", "b", "c", "d"]] * 25
    m = Word2Vec(sentences, **_fast(epochs=3, alpha=0.05, min_alpha=0.001, batch_words=12))
    assert m.min_alpha_yet_reached == pytest.approx(0.05 - 0.049 * (2 * 25 + 24) / 75,
                                                    rel=1e-12)
    m.train(sentences, total_words=100, epochs=3)
    assert m.min_alpha_yet_reached == pytest.approx(0.05 - 0.049 * (3 * 100 - 1) / 300,
                                                    rel=1e-12)


def test_vocabulary_and_huffman_hand_computed():
    sentences = [["a", "b", "a", "c"], ["a", "b", "a", "d"]]
    m = Word2Vec(sentences, **_fast(min_count=2, hs=1, negative=0, epochs=1))
    assert m.wv.index_to_key == ["a", "b"]
    np.testing.assert_array_equal(m.vocab.counts, [4, 2])
    assert m.corpus_count == 2 and m.corpus_total_words == 8
    # counts a=4, b=2, c=1: merge c+b (c lighter: bit 0) -> node 0 (3); merge node 0 + a
    # (node 0 lighter: bit 0) -> root 1. Paths root first.
    m = Word2Vec([["a"] * 4 + ["b"] * 2 + ["c"]], **_fast(hs=1, negative=0, epochs=1))
    tree = m._tree
    assert m.wv.index_to_key == ["a", "b", "c"]
    np.testing.assert_array_equal(tree.offsets, [0, 1, 3, 5])
    np.testing.assert_array_equal(tree.points, [1, 1, 0, 1, 0])
    np.testing.assert_array_equal(tree.codes, [1, 0, 1, 0, 0])
    # gensim's shape: V rows, the V - 1 inner nodes and an unused last row
    assert m.syn1.shape == (3, 16) and m.syn1neg is None


def test_chunks_whole_sentences():
    offsets = np.array([0, 3, 3, 10, 11, 20], np.int64)
    np.testing.assert_array_equal(_core.word2vec_chunks(offsets, 4), [0, 3, 5])
    np.testing.assert_array_equal(_core.word2vec_chunks(offsets, 1), [0, 1, 3, 4, 5])
    np.testing.assert_array_equal(_core.word2vec_chunks(offsets, 100), [0, 5])
    np.testing.assert_array_equal(_core.word2vec_chunks(np.array([0]), 10), [0])


# ---- the update against the float64 reference --------------------------------------------

@pytest.mark.parametrize("sg,cbow_mean,window,D,by", [(1, 1, 2, 1, "words"),
                                                      (1, 1, 3, 13, "examples"),
                                                      (0, 1, 2, 8, "words"),
                                                      (0, 1, 2, 8, "examples"),
                                                      (0, 0, 3, 17, "examples")])
def test_hs_epoch_matches_reference(rng, sg, cbow_mean, window, D, by):
    V = 9
    sentences = [[f"w{int(k)}" for k in rng.integers(0, V, size=rng.integers(1, 15))]
                 for _ in range(12)]
    sentences[0] = [f"w{i}" for i in range(V)]
    m = Word2Vec(**_fast(vector_size=D, window=window, sg=sg, hs=1, negative=0, sample=0,
                         cbow_mean=cbow_mean, shrink_windows=False, alpha=0.5, min_alpha=0.01,
                         dtype=np.float64, batch_words=7))
    m.build_vocab(sentences)
    m.syn1[:] = rng.normal(0, 0.4, m.syn1.shape)  # non-zero so every path matters
    syn0, syn1 = m.wv.vectors.copy(), m.syn1.copy()
    ids = [[m.wv.key_to_index[w] for w in s] for s in sentences]
    n = sum(map(len, ids))
    if by == "words":  # word2vec.c: the rate of each word's token position
        m.train(sentences, total_words=n, epochs=1)
        alpha = lambda p: max(0.01, 0.5 - 0.49 * p / n)  # noqa: E731
    else:  # gensim's jobs: one rate per chunk, by the sentences before it
        m.train(sentences, total_examples=len(sentences), epochs=1)
        # chunks of >= 7 tokens, whole sentences, as word2vec_chunks (hand-computed here)
        first, chunk_start, count = [], 0, 0
        for s, sent in enumerate(ids):
            first += [chunk_start] * len(sent)
            count += len(sent)
            if count >= 7:
                chunk_start, count = s + 1, 0
        alpha = lambda p: max(0.01, 0.5 - 0.49 * first[p] / len(ids))  # noqa: E731
    tree = m._tree
    ref0, ref1 = reference.word2vec_hs_epoch(
        ids, syn0, syn1, tree.offsets, tree.points, tree.codes, window, sg, cbow_mean, alpha)
    np.testing.assert_allclose(m.wv.vectors, ref0, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.syn1, ref1, rtol=1e-10, atol=1e-12)


def test_long_sentence_pieces_match_reference(rng):
    # a sentence longer than the kernel's buffer (10000 kept words + 2 window) is trained in
    # pieces that keep `window` words of context on each side: the same updates as one pass
    V, window = 7, 3
    sentences = [[f"w{int(k)}" for k in rng.integers(0, V, size=20_500)], ["w1", "w2"]]
    m = Word2Vec(**_fast(vector_size=5, window=window, sg=0, hs=1, negative=0, sample=0,
                         shrink_windows=False, alpha=0.02, min_alpha=0.02, dtype=np.float64))
    m.build_vocab(sentences)
    syn0, syn1 = m.wv.vectors.copy(), m.syn1.copy()
    ids = [[m.wv.key_to_index[w] for w in s] for s in sentences]
    assert m.train(sentences, total_examples=len(sentences), epochs=1) == (20_502, 20_502)
    tree = m._tree
    ref0, ref1 = reference.word2vec_hs_epoch(ids, syn0, syn1, tree.offsets, tree.points,
                                             tree.codes, window, 0, 1, lambda p: 0.02)
    np.testing.assert_allclose(m.wv.vectors, ref0, rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(m.syn1, ref1, rtol=1e-9, atol=1e-11)


def _shared_negatives_update(syn0, syn1neg, ctx, w, negs, alpha):
    """NumPy float64 reference of one HogBatch minibatch (Ji et al. 2016): contexts ctx
    share the output rows [w] + negs; logits L = I O^T, G = (label - sigma(L)) alpha with
    word2vec.c's table (its gradient saturated outside +-6), a negative equal to w skipped;
    syn0[ctx] += G O and syn1neg[out] += G^T I from the values before the update."""
    out = [w] + list(negs)
    I, O = syn0[ctx], syn1neg[out]
    L = I @ O.T
    G = np.zeros_like(L)
    for b in range(len(ctx)):
        for k, o in enumerate(out):
            if k > 0 and o == w:
                continue
            label = 1.0 if k == 0 else 0.0
            f = L[b, k]
            sig = 1.0 if f > 6 else 0.0 if f < -6 else reference.word2vec_sigmoid_table(f)
            G[b, k] = (label - sig) * alpha
    np.add.at(syn0, ctx, G @ O)
    np.add.at(syn1neg, out, G.T @ I)


def test_shared_negatives_minibatch_matches_reference(rng):
    # vocabulary {t, n}: every negative drawn for a centre word is either the centre itself
    # (skipped) or the other word, so centre i's minibatch has m_i in [0, K] copies of the
    # other word; the kernel's epoch must equal the reference for exactly one (m_0, m_1, m_2)
    import itertools
    K, D, alpha = 3, 5, 0.3
    sentences = [["t", "n", "t"]]
    m = Word2Vec(**_fast(vector_size=D, window=1, sg=1, negative=K, shared_negatives=True,
                         sample=0, shrink_windows=False, alpha=alpha, min_alpha=alpha,
                         dtype=np.float64))
    m.build_vocab(sentences)
    m.syn1neg[:] = rng.normal(0, 0.5, m.syn1neg.shape)
    syn0, syn1neg = m.wv.vectors.copy(), m.syn1neg.copy()
    m.train(sentences, total_examples=len(sentences), epochs=1)
    t, n = m.wv.key_to_index["t"], m.wv.key_to_index["n"]
    ids = [t, n, t]
    centres = [(ids[i], [ids[j] for j in (i - 1, i + 1) if 0 <= j < 3]) for i in range(3)]
    matches = []
    for counts in itertools.product(range(K + 1), repeat=3):
        r0, r1 = syn0.copy(), syn1neg.copy()
        for (w, ctx), c in zip(centres, counts):
            _shared_negatives_update(r0, r1, ctx, w, [n if w == t else t] * c, alpha)
        if np.allclose(m.wv.vectors, r0, rtol=1e-12, atol=1e-14) and \
                np.allclose(m.syn1neg, r1, rtol=1e-12, atol=1e-14):
            matches.append(counts)
    assert len(matches) == 1 and sum(matches[0]) > 0, matches


@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_hs_vocabulary_tree_and_epoch_equal_gensims(sg, cbow_mean):
    # the vocabulary order and the Huffman codes and points are gensim's (many count ties
    # here); hierarchical softmax without subsampling or window shrinking draws no random
    # number, so from the same initial vectors one epoch equals gensim's up to float32
    # summation order
    gensim = pytest.importorskip("gensim")
    with open(_lee(), encoding="utf8") as f:
        sentences = [line.split()[:200] for line in f][:3]
    kw = dict(vector_size=24, window=3, min_count=1, sample=0, sg=sg, hs=1, negative=0,
              cbow_mean=cbow_mean, alpha=0.05, min_alpha=0.05, shrink_windows=False, seed=3,
              workers=1, epochs=1)
    g = gensim.models.Word2Vec(**kw)
    g.build_vocab(sentences)
    m = Word2Vec(**kw, progress=False)
    m.build_vocab(sentences)
    assert m.wv.index_to_key == g.wv.index_to_key
    counts = np.asarray(m.vocab.counts)
    assert len(counts) - len(np.unique(counts)) > 100  # ties decide much of the tree
    tree = m._tree
    for w in range(len(counts)):
        path = slice(tree.offsets[w], tree.offsets[w + 1])
        np.testing.assert_array_equal(tree.codes[path], g.wv.get_vecattr(w, "code"))
        np.testing.assert_array_equal(tree.points[path], g.wv.get_vecattr(w, "point"))
    # the initial vectors are gensim's own draw for the seed
    np.testing.assert_array_equal(m.wv.vectors, g.wv.vectors)
    start = g.wv.vectors.copy()
    g.train(sentences, total_examples=len(sentences), epochs=1)
    m.train(sentences, total_examples=len(sentences), epochs=1)
    moved = np.abs(g.wv.vectors - start).max()
    assert moved > 1e-3  # the epoch did train (initial vectors are within +-1/24)
    np.testing.assert_allclose(m.wv.vectors, g.wv.vectors, rtol=0, atol=1e-5 * moved)
    np.testing.assert_allclose(m.syn1, g.syn1, rtol=0, atol=1e-5 * moved)


# ---- threads, loss, persistence -------------------------------------------------------------

@pytest.mark.parametrize("sg,hs,negative,shared", [(1, 0, 5, False), (0, 0, 3, False),
                                                   (1, 1, 0, False), (0, 1, 2, False),
                                                   (1, 0, 4, True), (1, 1, 2, True)])
def test_deterministic_bit_identical_at_1_and_2_threads(rng, restore_num_threads, sg, hs,
                                                       negative, shared):
    sentences = _synthetic(rng)
    settings = dict(sg=sg, hs=hs, negative=negative, shared_negatives=shared,
                    deterministic=True, batch_words=100, sample=0.01)
    results = []
    for workers in (1, 2):
        seqcore.set_num_threads(workers)
        m = Word2Vec(sentences, **_fast(workers=workers, **settings))
        results.append((m.wv.vectors.copy(), m.loss))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    assert results[0][1] == results[1][1]
    other = Word2Vec(sentences, **_fast(seed=2, **settings))
    assert not np.array_equal(other.wv.vectors, results[0][0])


@pytest.mark.parametrize("kw", [dict(sg=1), dict(sg=1, shared_negatives=True),
                                dict(sg=0, cbow_mean=0), dict(sg=0, hs=1, negative=3)])
def test_float32_follows_float64_on_the_same_streams(rng, kw):
    # the random streams do not depend on the dtype, so float32 training is float64 training
    # up to float32 rounding (a table lookup of the sigmoid could flip on a rounding
    # difference; on this small run none does and the vectors agree to ~1e-7)
    sentences = _synthetic(rng, S=100)
    a, b = (Word2Vec(sentences, **_fast(deterministic=True, epochs=3, dtype=dt, **kw))
            for dt in (np.float64, np.float32))
    np.testing.assert_allclose(b.wv.vectors, a.wv.vectors, rtol=0, atol=2e-6)
    np.testing.assert_allclose(b.loss, a.loss, rtol=1e-5)


@pytest.mark.parametrize("sg,hs,negative", [(1, 0, 5), (1, 1, 0), (0, 1, 0)])
def test_hogwild_two_threads_trains(rng, sg, hs, negative):
    # with hs on 2 threads each thread trains a private copy of the heaviest inner nodes
    # (here all of them: a 30-word vocabulary) merged into syn1 every 1024 centre words and
    # at the end: the trained tree must arrive in syn1 and fit as well as one thread's
    sentences = _synthetic(rng)
    kw = _fast(sg=sg, hs=hs, negative=negative, batch_words=50, epochs=5)
    m = Word2Vec(sentences, **dict(kw, workers=2))
    one = Word2Vec(sentences, **dict(kw, workers=1))
    assert np.all(np.isfinite(m.wv.vectors))
    assert m.loss[-1] < m.loss[0]
    assert m.loss[-1] == pytest.approx(one.loss[-1], rel=0.05)
    if hs:
        assert np.all(np.abs(m.syn1[:-1]).max(axis=1) > 0)  # every inner node trained, merged
        # the merged deltas: 0.81-0.96 of one thread's norm over 8 seeds (delayed updates)
        assert 0.6 < np.linalg.norm(m.syn1) / np.linalg.norm(one.syn1) < 1.2


@pytest.mark.parametrize("sg,hs,negative,shared", [(1, 0, 5, False), (0, 0, 5, False),
                                                   (1, 1, 0, False), (0, 1, 0, False),
                                                   (1, 1, 3, False), (1, 0, 5, True)])
def test_loss_decreases_and_topics_separate(rng, sg, hs, negative, shared):
    sentences = _synthetic(rng, S=300)
    m = Word2Vec(sentences, **_fast(sg=sg, hs=hs, negative=negative, epochs=8, alpha=0.05,
                                    sample=0, vector_size=20, shared_negatives=shared))
    assert len(m.loss) == 8 and all(np.isfinite(m.loss))
    # the corpus has an entropy floor (words uniform within a topic) that hs nearly reaches
    # in the first epoch, so only a strict decrease is asserted, not a ratio
    assert m.loss[-1] < m.loss[0]
    # words of one topic are closer to each other than to the other topic's words
    kv = m.wv
    same = np.mean([kv.similarity("w0", f"w{i}") for i in range(1, 15)])
    cross = np.mean([kv.similarity("w0", f"w{i}") for i in range(15, 30)])
    assert same > cross + 0.2


def test_compute_loss_off_and_float32_default(rng):
    sentences = _synthetic(rng, S=50)
    m = Word2Vec(sentences, **_fast(compute_loss=False))
    assert m.loss == [] and m.get_latest_training_loss() == 0.0
    assert m.wv.vectors.dtype == np.float32 and m.syn1neg.dtype == np.float32


def test_corpus_file_equals_sentences(rng, tmp_path):
    sentences = _synthetic(rng, S=60)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(" ".join(s) for s in sentences) + "\n")
    a = Word2Vec(sentences, **_fast(deterministic=True))
    b = Word2Vec(corpus_file=str(path), **_fast(deterministic=True))
    assert a.wv.index_to_key == b.wv.index_to_key
    np.testing.assert_array_equal(a.wv.vectors, b.wv.vectors)


def test_save_load_round_trip(rng, tmp_path):
    sentences = _synthetic(rng, S=60)
    m = Word2Vec(sentences, **_fast(hs=1, negative=3, deterministic=True))
    path = tmp_path / "model.w2v"
    m.save(path)
    m2 = Word2Vec.load(path)
    assert m2.wv.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(m2.wv.vectors, m.wv.vectors)
    np.testing.assert_array_equal(m2.syn1, m.syn1)
    np.testing.assert_array_equal(m2.syn1neg, m.syn1neg)
    np.testing.assert_array_equal(m2.vocab.counts, m.vocab.counts)
    assert m2.loss == m.loss and m2.epochs_trained == m.epochs_trained
    # training continues identically from either copy
    m.train(sentences, total_examples=len(sentences), epochs=1)
    m2.train(sentences, total_examples=len(sentences), epochs=1)
    np.testing.assert_array_equal(m2.wv.vectors, m.wv.vectors)
    assert m2.wv.most_similar("w0", topn=3) == m.wv.most_similar("w0", topn=3)


def test_callbacks_and_train_continues(rng):
    events = []

    class Recorder:
        def on_train_begin(self, model): events.append("begin")
        def on_epoch_end(self, model): events.append(len(model.loss))
        def on_train_end(self, model): events.append("end")

    sentences = _synthetic(rng, S=40)
    m = Word2Vec(sentences, **_fast(epochs=2, callbacks=[Recorder()]))
    assert events == ["begin", 1, 2, "end"]
    before = m.wv.vectors.copy()
    effective, raw = m.train(sentences, total_examples=len(sentences), epochs=1)
    assert raw == 40 * 12 and 0 < effective <= raw
    assert m.epochs_trained == 3 and not np.array_equal(before, m.wv.vectors)


def test_long_sentence_not_truncated_and_tiny_vocabularies(rng):
    # gensim truncates sentences at 10000 words (gensim#1509); here every token is trained:
    # with sample=0 the effective words equal the raw words
    long = [[f"w{int(k)}" for k in rng.integers(0, 50, size=25_000)]]
    m = Word2Vec(long, **_fast(sample=0, epochs=1, batch_words=100))
    assert m.train(long, total_examples=len(long), epochs=1) == (25_000, 25_000)
    for hs, negative in ((1, 0), (0, 3), (1, 2)):  # V = 1: no inner node, every negative = w
        m = Word2Vec([["a", "a", "a"]], **_fast(hs=hs, negative=negative))
        assert m.wv.vectors.shape == (1, 16) and np.all(np.isfinite(m.wv.vectors))


def test_progress_bar_runs(rng):
    pytest.importorskip("tqdm")
    m = Word2Vec(_synthetic(rng, S=30), **{**_fast(), "progress": True})
    assert len(m.loss) == 2


@not_sanitized
def test_training_memory_within_the_bound(rng, tmp_path):
    # the bound: training adds at most the weight matrices + the int32 corpus (+ its
    # offsets) + O(V) + a fixed per-thread scratch to a process holding the corpus, measured
    # as the peak RSS (VmHWM) of a fresh subprocess. 2M tokens, one sentence of 1M: a corpus
    # array built by vector growth + copy (12 bytes a token at its peak) or a per-thread
    # buffer of the whole subsampled sentence (12 bytes a word) would exceed it by ~8 MiB.
    w2v_bench = pytest.importorskip("seqcore.bench_ops.word2vec")
    try:
        w2v_bench._reset_peak()
    except OSError:
        pytest.skip("peak RSS cannot be reset here (needs Linux /proc/self/clear_refs)")
    words = np.array([f"w{i}" for i in range(4000)])
    ids = rng.zipf(1.2, size=2_000_000) % 4000
    path = tmp_path / "corpus.txt"
    with open(path, "w") as f:
        f.write(" ".join(words[ids[:1_000_000]]) + "\n")
        for i in range(1_000_000, 2_000_000, 1000):
            f.write(" ".join(words[ids[i:i + 1000]]) + "\n")
    r = w2v_bench.training_peak("seqcore", 0, 0, corpus_file=str(path), in_memory=True,
                                min_count=1, vector_size=100, sample=0)
    assert r is not None, "the measuring subprocess failed"
    assert r["tokens"] == 2_000_000 and r["matrices"] == 2 * r["V"] * 100 * 4
    bound = w2v_bench.memory_bound(r["matrices"], r["tokens"], r["sentences"], r["V"],
                                   r["threads"])
    assert r["extra"] >= 4 * r["tokens"]  # the measurement sees the corpus array
    assert r["extra"] <= bound, (r, bound)


# ---- quality on real text -------------------------------------------------------------------

# Neighbours on lee_background.cor (58k tokens, simple_preprocess; 5 epochs of skip-gram,
# 15 of the ~4x cheaper CBOW, which learns slower per epoch here, as gensim's): at least two
# of these probes must have a topical neighbour in their top 20, for every variant.
_PROBES = {
    "palestinian": {"israeli", "israel", "arafat", "yasser", "gaza", "palestinians", "israelis",
                    "jenin", "hamas", "west", "bank", "militants", "suicide"},
    "taliban": {"afghan", "afghanistan", "bin", "laden", "kandahar", "caves", "bora", "tora",
                "qaeda", "fighters", "alliance", "northern", "mountains", "pakistan"},
    "fire": {"fires", "firefighters", "burning", "bushfires", "blaze", "crews", "blazes",
             "bushfire", "flames", "battling", "sydney", "homes", "wind", "winds"},
}


@pytest.mark.parametrize("sg,hs,shared", [(1, 0, False), (0, 0, False), (1, 1, False),
                                          (0, 1, False), (1, 0, True)])
def test_known_neighbours_on_lee_background(sg, hs, shared):
    utils = pytest.importorskip("gensim.utils")
    with open(_lee(), encoding="utf8") as f:
        sentences = [utils.simple_preprocess(line) for line in f]
    m = Word2Vec(sentences, vector_size=50, window=5, min_count=5, sg=sg, hs=hs,
                 negative=0 if hs else 5, epochs=5 if sg else 15, workers=2, progress=False,
                 shared_negatives=shared)
    hits = [bool(_PROBES[w] & {k for k, _ in m.wv.most_similar(w, topn=20)}) for w in _PROBES]
    assert sum(hits) >= 2, hits


# WS353 Spearman floors on head500.noblanks.cor (stemmed Wikipedia, first 100 lines, 132k
# tokens), D=50, 3 epochs, 2 threads (Hogwild). Measured with gensim's Huffman tree (the
# tree since session 4; how count ties are paired alone moves these by ~+-0.03): seeds 1-6
# sg-hs 0.25-0.34, cbow-hs 0.16-0.36; seed 1 (the test's) six times 0.29-0.37 / 0.30-0.33
# (gensim 4.4, same settings, seed 1: 0.37 / 0.14). The floors sit below the lowest seed by
# a margin for Hogwild timing noise (sg-hs lowered from 0.25 with the tree change).
# Negative sampling needs more epochs on this corpus (WS353 ~0.0-0.1 for both libraries
# after 3 epochs; sg-ns ~0.37 vs gensim's ~0.38 after 5 on the full file, 3 seeds): its
# WS353 comparison with gensim is in the benchmark (seqcore bench --ops word2vec), its
# quality here is checked by the neighbours above.
_WS353_FLOOR = {(1, 1): 0.22, (0, 1): 0.12}


@pytest.mark.parametrize("sg,hs", [(1, 1), (0, 1)])
def test_ws353_floor_on_head500(sg, hs):
    utils = pytest.importorskip("gensim.test.utils")
    with open(utils.datapath("head500.noblanks.cor"), encoding="utf8") as f:
        sentences = [line.split() for line in f][:100]
    m = Word2Vec(sentences, vector_size=50, window=5, min_count=5, sg=sg, hs=hs, negative=0,
                 epochs=3, workers=2, progress=False)
    spearman = m.wv.evaluate_word_pairs(utils.datapath("wordsim353.tsv"))[1][0]
    assert spearman > _WS353_FLOOR[(sg, hs)]


# ---- bad input ------------------------------------------------------------------------------

@pytest.mark.parametrize("kwargs,match", [
    (dict(window=0), "window"), (dict(negative=-1), "negative"),
    (dict(hs=0, negative=0), "negative"), (dict(vector_size=0), "vector_size"),
    (dict(sample=-1e-3), "sample"), (dict(alpha=0), "alpha"), (dict(min_alpha=-1), "min_alpha"),
    (dict(epochs=-1), "epochs"), (dict(alpha=float("nan")), "alpha"),
    (dict(sample=float("inf")), "sample"), (dict(window=1.5), "window"), (dict(workers=0), "workers"), (dict(sg=2), "sg"),
    (dict(batch_words=0), "batch_words"), (dict(ns_exponent=float("nan")), "ns_exponent"),
    (dict(min_count=0), "min_count"), (dict(sg=0, shared_negatives=True), "shared_negatives"),
    (dict(sg=1, hs=1, negative=0, shared_negatives=True), "shared_negatives"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Word2Vec([["a", "b"]], **{**_fast(), **kwargs})


def test_bad_corpus(tmp_path):
    with pytest.raises(ValueError, match="empty corpus"):
        Word2Vec([], **_fast())
    with pytest.raises(ValueError, match="empty corpus"):
        Word2Vec([[], []], **_fast())
    with pytest.raises(ValueError, match="min_count"):
        Word2Vec([["a", "b"], ["c"]], **_fast(min_count=2))
    with pytest.raises(TypeError):
        Word2Vec(["a b c"], **_fast())
    with pytest.raises(TypeError):
        Word2Vec([[1, 2]], **_fast())
    with pytest.raises(FileNotFoundError):
        Word2Vec(corpus_file=str(tmp_path / "missing.txt"), **_fast())
    with pytest.raises(TypeError, match="dtype"):
        Word2Vec([["a", "b"]], **_fast(dtype=np.int32))
    with pytest.raises(ValueError, match="build_vocab"):
        Word2Vec(**_fast()).train([["a"]])
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="not a seqcore Word2Vec"):
        Word2Vec.load(bad)
    m = Word2Vec([["a", "b"]], **_fast())
    with pytest.raises(KeyError, match="zzz"):
        m.wv["zzz"]


def test_kernel_rejects_bad_arrays(rng):
    m = Word2Vec([["a", "b", "c"]], **_fast(epochs=0))
    tokens = np.array([0, 1, 5], np.int32)
    offsets = np.array([0, 3], np.int64)
    chunks = np.array([0, 1], np.int64)
    args = dict(keep=m.keep_probabilities, syn0=m.wv.vectors, syn1=None, syn1neg=m.syn1neg,
                vectors_lockf=None,
                sampler=m._sampler._impl, tree=None, window=2, sg=True, hs=False, negative=5,
                cbow_mean=True, alpha=0.025, min_alpha=1e-4, shrink_windows=True,
                compute_loss=True, deterministic=False, workers=1, seed=1, epoch=0, epochs=1)
    with pytest.raises(ValueError, match="tokens"):
        _core.word2vec_train(tokens, offsets, chunks, 0, 1, **args)
    with pytest.raises(ValueError, match="offsets"):
        _core.word2vec_train(tokens[:2], offsets, chunks, 0, 1, **args)
    with pytest.raises(ValueError, match="chunk range"):
        _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 2, **args)
    with pytest.raises(TypeError, match="tokens"):
        _core.word2vec_train(tokens.astype(np.int64), offsets, chunks, 0, 1, **args)
    with pytest.raises(ValueError, match="syn1neg"):
        _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 1,
                             **{**args, "syn1neg": np.zeros((3, 5), np.float32)})
    with pytest.raises(TypeError, match="syn1neg"):
        _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 1,
                             **{**args, "syn1neg": np.zeros_like(m.syn1neg, np.float64)})
    with pytest.raises(ValueError, match="hs"):
        _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 1, **{**args, "hs": True})
    for lockf in (np.ones(2, np.float32), np.ones(3, np.float64)):
        with pytest.raises(ValueError, match="vectors_lockf"):
            _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 1,
                                 **{**args, "vectors_lockf": lockf})
    with pytest.raises(ValueError, match="vectors_lockf"):
        _core.word2vec_train(tokens[:2], np.array([0, 2]), chunks, 0, 1,
                             **{**args, "vectors_lockf": np.array([1, np.nan, 1], np.float32)})

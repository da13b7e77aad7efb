"""Word2Vec against gensim itself, item by item of gensim 4's API: the same call on the same
corpus and seed gives the same vocabulary, counts, subsampling probabilities, Huffman codes,
initial vectors and scores (or an equivalent error type); online vocabulary updates; the
training loss; vectors_lockf; score; predict_output_word; reset_from; conversion of models
in both directions (in memory and through gensim's saved files)."""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import Word2Vec
from seqcore.corpus import RULE_DEFAULT, RULE_DISCARD, RULE_KEEP, VocabularyError

gensim = pytest.importorskip("gensim")
GensimWord2Vec = gensim.models.Word2Vec


@pytest.fixture(scope="module")
def lee():
    from gensim.test.utils import datapath
    with open(datapath("lee_background.cor"), encoding="utf8") as f:
        return [line.split() for line in f]


# hierarchical softmax without subsampling or window shrinking draws no random number: one
# epoch from the same initial vectors equals gensim's up to float32 summation order
EXACT = dict(vector_size=16, window=3, min_count=2, sample=0, hs=1, negative=0,
             shrink_windows=False, alpha=0.05, min_alpha=0.05, seed=3, workers=1, epochs=1)


def _pair(sentences, **kw):
    g = GensimWord2Vec(**kw)
    g.build_vocab(sentences)
    m = Word2Vec(**kw, progress=False)
    m.build_vocab(sentences)
    return m, g


def _same_tree(m, g):
    t = m._tree
    for w in range(len(m.wv)):
        path = slice(t.offsets[w], t.offsets[w + 1])
        np.testing.assert_array_equal(t.codes[path], g.wv.get_vecattr(w, "code"))
        np.testing.assert_array_equal(t.points[path], g.wv.get_vecattr(w, "point"))


def _same_keep(m, g):
    # gensim stores uint32(p * (2**32 - 1)); one unit of rounding apart at most
    np.testing.assert_allclose(m.keep_probabilities * (2**32 - 1),
                               g.wv.expandos["sample_int"].astype(np.float64), rtol=0, atol=1.0)


def _close_after_training(m, g, start):
    moved = np.abs(g.wv.vectors - start).max()
    assert moved > 1e-3  # the epoch did train
    np.testing.assert_allclose(m.wv.vectors, g.wv.vectors, rtol=0, atol=1e-4 * moved)


# ---- vocabulary ------------------------------------------------------------------------

def test_initial_vectors_and_syn1_shape_are_gensims(lee):
    for kw in (dict(EXACT), dict(EXACT, hs=0, negative=5, vector_size=7)):
        m, g = _pair(lee, **kw)
        assert m.wv.index_to_key == g.wv.index_to_key
        np.testing.assert_array_equal(m.wv.vectors, g.wv.vectors)
        for name in ("syn1", "syn1neg"):
            assert (getattr(m, name) is None) == (not hasattr(g, name)), name
            if hasattr(g, name):
                assert getattr(m, name).shape == getattr(g, name).shape


def test_update_matches_gensim_and_trains_on(lee):
    first, second = lee[:150], [s[::-1] + [f"new{i % 7}", f"nn{i % 3}"]
                                for i, s in enumerate(lee[150:260])]
    kw = dict(EXACT, sample=1e-3)  # subsampling probabilities are part of the update
    m, g = _pair(first, **kw)
    old_v = len(m.wv)
    m.build_vocab(second, update=True)
    g.build_vocab(second, update=True)
    assert m.wv.index_to_key == g.wv.index_to_key  # old order kept, new words appended
    np.testing.assert_array_equal(m.vocab.counts, g.wv.expandos["count"])
    assert (m.corpus_count, m.corpus_total_words) == (g.corpus_count, g.corpus_total_words)
    _same_keep(m, g)
    _same_tree(m, g)
    # new rows: the rows past the old ones of gensim's seeded draw; output rows zero
    np.testing.assert_array_equal(m.wv.vectors, g.wv.vectors)
    assert len(m.wv) > old_v and m.syn1.shape == g.syn1.shape
    assert not m.syn1[old_v - 1:].any()  # untrained nodes (and gensim's unused last row)
    # training after the update is gensim's (sample=0 here: no random numbers)
    m2, g2 = _pair(first, **EXACT)
    m2.build_vocab(second, update=True)
    g2.build_vocab(second, update=True)
    start = g2.wv.vectors.copy()
    g2.train(second, total_examples=g2.corpus_count, epochs=1)
    m2.train(second, total_examples=m2.corpus_count, epochs=1)
    _close_after_training(m2, g2, start)
    assert "new0" in m2.wv


def test_update_errors_like_gensim(lee):
    for make in (lambda: GensimWord2Vec(min_count=1), lambda: Word2Vec(min_count=1)):
        with pytest.raises(RuntimeError):
            make().build_vocab(lee[:5], update=True)
    with pytest.raises(ValueError, match="update"):
        Word2Vec(min_count=1).build_vocab(lee[:5], update=True)


def test_trim_rule_max_vocab_size_and_max_final_vocab(lee):
    def rule(word, count, min_count):
        if word.startswith("a"):
            return RULE_KEEP
        if word in ("the", "of"):
            return RULE_DISCARD
        return RULE_DEFAULT
    g = GensimWord2Vec(vector_size=8, min_count=3, max_vocab_size=2000, workers=1)
    g.build_vocab(lee, trim_rule=rule, keep_raw_vocab=True)
    m = Word2Vec(vector_size=8, min_count=3, max_vocab_size=2000, workers=1, progress=False)
    m.build_vocab(lee, trim_rule=rule, keep_raw_vocab=True)
    assert list(m.raw_vocab.items()) == list(g.raw_vocab.items())  # pruned with the rule
    assert m.wv.index_to_key == g.wv.index_to_key
    assert "the" not in m.wv and any(k.startswith("a") and m.wv.get_vecattr(k, "count") < 3
                                     for k in m.wv.index_to_key)
    np.testing.assert_array_equal(m.vocab.counts, g.wv.expandos["count"])
    for final in (50, 10_000):
        g = GensimWord2Vec(vector_size=8, min_count=2, max_final_vocab=final, workers=1)
        g.build_vocab(lee)
        m = Word2Vec(vector_size=8, min_count=2, max_final_vocab=final, workers=1,
                     progress=False)
        m.build_vocab(lee)
        assert m.effective_min_count == g.effective_min_count
        assert m.wv.index_to_key == g.wv.index_to_key
    assert len(Word2Vec(lee, vector_size=4, max_final_vocab=50, epochs=0).wv) <= 50


def test_scan_vocab_and_build_vocab_from_freq(lee):
    g = GensimWord2Vec(vector_size=8, min_count=2, max_vocab_size=3000)
    m = Word2Vec(vector_size=8, min_count=2, max_vocab_size=3000, progress=False)
    assert m.scan_vocab(lee) == g.scan_vocab(lee)
    assert list(m.raw_vocab.items()) == list(g.raw_vocab.items())  # first-occurrence order
    # a dict with count ties: the order of the dict breaks them, as gensim's
    freq = {"x": 3, "y": 5, "z": 3, "w": 1, "v": 5, "u": 2}
    g = GensimWord2Vec(vector_size=8, min_count=2, hs=1)
    g.build_vocab_from_freq(freq, corpus_count=4)
    m = Word2Vec(vector_size=8, min_count=2, hs=1, progress=False)
    m.build_vocab_from_freq(freq, corpus_count=4)
    assert m.wv.index_to_key == g.wv.index_to_key
    np.testing.assert_array_equal(m.vocab.counts, g.wv.expandos["count"])
    assert (m.corpus_count, m.corpus_total_words) == (g.corpus_count, g.corpus_total_words)
    _same_keep(m, g)
    _same_tree(m, g)
    np.testing.assert_array_equal(m.wv.vectors, g.wv.vectors)
    more = {"y": 1, "t": 4, "x": 1}
    g.build_vocab_from_freq(more, update=True)
    m.build_vocab_from_freq(more, update=True)
    assert m.wv.index_to_key == g.wv.index_to_key
    np.testing.assert_array_equal(m.vocab.counts, g.wv.expandos["count"])
    _same_keep(m, g)
    with pytest.raises(TypeError, match="word_freq"):
        m.build_vocab_from_freq({1: 3})
    with pytest.raises(ValueError, match="word_freq"):
        m.build_vocab_from_freq({"a": -1})


def test_empty_corpus_and_missing_vocabulary_error_types(lee):
    # gensim raises RuntimeError for these; ours is a ValueError that is also one
    for corpus in ([], [[], []]):
        with pytest.raises(RuntimeError):
            GensimWord2Vec(corpus, min_count=1)
        with pytest.raises(RuntimeError, match="empty corpus"):
            Word2Vec(corpus, min_count=1)
    with pytest.raises(RuntimeError):
        GensimWord2Vec([["a", "b"]], min_count=5)
    with pytest.raises(VocabularyError, match="min_count"):
        Word2Vec([["a", "b"]], min_count=5)
    assert issubclass(VocabularyError, ValueError) and issubclass(VocabularyError, RuntimeError)
    # a model whose wv was replaced but whose vocabulary was never built
    m = Word2Vec(vector_size=4, progress=False)
    m.wv = seqcore.KeyedVectors(["a", "b"], np.zeros((2, 4), np.float32))
    with pytest.raises(VocabularyError, match="build_vocab"):
        m.train([["a", "b"]], total_examples=1, epochs=1)
    # a built model whose wv was swapped for vectors over another vocabulary
    m = Word2Vec([["a", "b"]], vector_size=4, min_count=1, epochs=0, progress=False)
    assert m.wv.index_to_key == ["b", "a"]  # gensim's tie order: the later word first
    m.wv = seqcore.KeyedVectors(["a", "b"], np.zeros((2, 4), np.float32))
    with pytest.raises(ValueError, match="wv"):
        m.train([["a", "b"]], total_examples=1, epochs=1)


def test_plain_string_sentences_are_refused():
    # gensim warns and trains on the characters of each string; a str is almost always a
    # sentence that was not split, so seqcore refuses it (documented difference)
    g = GensimWord2Vec(["hello world", "hello there"], min_count=1, vector_size=4, workers=1)
    assert set(g.wv.index_to_key) <= set("hello world there")
    with pytest.raises(TypeError, match="sentences"):
        Word2Vec(["hello world", "hello there"], min_count=1, vector_size=4)


# ---- training ----------------------------------------------------------------------------

def test_train_requires_epochs_and_totals_like_gensim(lee, tmp_path):
    path = tmp_path / "c.txt"
    path.write_text("\n".join(" ".join(s) for s in lee[:20]) + "\n")
    m, g = _pair(lee[:20], **dict(EXACT, min_count=1))
    for model in (m, g):
        with pytest.raises(ValueError, match="total_examples"):
            model.train(lee[:20], epochs=1)
        with pytest.raises(ValueError, match="epochs"):
            model.train(lee[:20], total_examples=20)
        with pytest.raises(ValueError, match="epochs"):
            model.train(lee[:20], total_examples=20, epochs=0)
        with pytest.raises(ValueError, match="total_words"):
            model.train(corpus_file=str(path), total_examples=20, epochs=1)


def test_latest_training_loss_is_the_sum_over_the_train_call(lee):
    per_epoch = []

    class EpochLoss:  # gensim's idiom: the epoch's loss is the difference of two readings
        previous = 0.0

        def on_epoch_end(self, model):
            loss = model.get_latest_training_loss()
            per_epoch.append(loss - self.previous)
            self.previous = loss

    kw = dict(vector_size=16, window=3, min_count=2, sg=1, negative=5, seed=1, workers=1,
              compute_loss=True)
    m = Word2Vec(lee, **kw, epochs=3, progress=False, callbacks=[EpochLoss()])
    assert m.get_latest_training_loss() == pytest.approx(sum(m.loss), rel=1e-12)
    np.testing.assert_allclose(per_epoch, m.loss, rtol=1e-9)
    g = GensimWord2Vec(lee, **kw, epochs=3)
    # the same objective summed over the same pairs: equal up to the random draws
    assert m.get_latest_training_loss() == pytest.approx(g.get_latest_training_loss(),
                                                         rel=0.1)
    m.train(lee, total_examples=m.corpus_count, epochs=1)
    assert m.get_latest_training_loss() == pytest.approx(m.loss[-1], rel=1e-12)
    m.train(lee, total_examples=m.corpus_count, epochs=1, compute_loss=False)
    assert m.get_latest_training_loss() == 0.0


def test_vectors_lockf_is_gensims(lee):
    sentences = lee[:40]
    m, g = _pair(sentences, **dict(EXACT, min_count=1))
    lockf = np.random.default_rng(0).random(len(m.wv)).astype(np.float32)
    lockf[:10] = 0  # frozen words
    m.wv.vectors_lockf = lockf
    g.wv.vectors_lockf = lockf.copy()
    start = g.wv.vectors.copy()
    g.train(sentences, total_examples=len(sentences), epochs=1)
    m.train(sentences, total_examples=len(sentences), epochs=1)
    _close_after_training(m, g, start)
    np.testing.assert_array_equal(m.wv.vectors[:10], start[:10])
    # one value for every word (gensim's default array of length 1)
    m.wv.vectors_lockf = np.zeros(1, np.float32)
    before = m.wv.vectors.copy()
    m.train(sentences, total_examples=len(sentences), epochs=1)
    np.testing.assert_array_equal(m.wv.vectors, before)
    m.wv.vectors_lockf = np.ones(3, np.float32)
    with pytest.raises(ValueError, match="vectors_lockf"):
        m.train(sentences, total_examples=len(sentences), epochs=1)


def test_negative_ns_exponent_noise_distribution_is_gensims(lee):
    m, g = _pair(lee, vector_size=8, min_count=2, negative=5, ns_exponent=-0.5)
    expected = np.diff(g.cum_table, prepend=0) / float(g.cum_table[-1])
    np.testing.assert_allclose(m._sampler.probs, expected, rtol=0, atol=1e-8)
    m.train(lee[:50], total_examples=50, epochs=1)
    assert np.isfinite(m.wv.vectors).all()


# ---- queries -----------------------------------------------------------------------------

@pytest.mark.parametrize("sg,cbow_mean", [(1, 1), (0, 1), (0, 0)])
def test_score_matches_gensim(lee, sg, cbow_mean):
    g = GensimWord2Vec(lee, vector_size=20, window=3, min_count=2, sg=sg, hs=1, negative=0,
                       cbow_mean=cbow_mean, seed=7, workers=1, epochs=2)
    m = Word2Vec.from_gensim(g)
    sentences = lee[:30] + [["unknownword"], []]
    expected = g.score(sentences, total_sentences=len(sentences))
    got = m.score(sentences)
    assert got.dtype == np.float32 and got.shape == expected.shape
    # gensim sums float32 terms; table indices may differ by float32 dot rounding
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3)
    assert (got[:30] < 0).all() and got[-1] == got[-2] == 0
    np.testing.assert_array_equal(m.score(sentences, total_sentences=5), got[:5])
    m.workers = 1  # one sentence per thread at a time: the same sums at any thread count
    np.testing.assert_array_equal(m.score(sentences), got)
    V, args = len(m.wv), (m.wv.vectors, m.syn1, m._tree._impl, 3, True, True, 1)
    with pytest.raises(ValueError, match="tokens"):
        seqcore._core.word2vec_score(np.array([0, V], np.int32), np.array([0, 2]), *args)
    with pytest.raises(ValueError, match="syn1"):
        seqcore._core.word2vec_score(np.array([0], np.int32), np.array([0, 1]), m.wv.vectors,
                                     m.syn1[:-1], *args[2:])
    with pytest.raises(TypeError, match="syn1"):
        seqcore._core.word2vec_score(np.array([0], np.int32), np.array([0, 1]), m.wv.vectors,
                                     m.syn1.astype(np.float64), *args[2:])
    ns = Word2Vec(lee[:20], vector_size=4, min_count=1, epochs=1, progress=False)
    with pytest.raises(RuntimeError, match="hs=1"):
        ns.score(lee[:2])


def test_predict_output_word_matches_gensim(lee):
    for cbow_mean in (1, 0):
        g = GensimWord2Vec(lee, vector_size=20, window=3, min_count=2, negative=5,
                           cbow_mean=cbow_mean, seed=7, workers=1, epochs=2)
        m = Word2Vec.from_gensim(g)
        for context in (["the", "government"], ["fire", "wind", "notaword"], [0, "police"]):
            got = m.predict_output_word(context, topn=8)
            exp = g.predict_output_word(context, topn=8)
            assert [w for w, _ in got] == [w for w, _ in exp], context
            np.testing.assert_allclose([p for _, p in got], [p for _, p in exp], rtol=1e-4)
        assert m.predict_output_word(["notaword"]) is None
        assert g.predict_output_word(["notaword"]) is None
    hs = Word2Vec(lee[:20], vector_size=4, min_count=1, hs=1, negative=0, epochs=1,
                  progress=False)
    with pytest.raises(RuntimeError, match="negative"):
        hs.predict_output_word(["the"])


def test_reset_from_matches_gensim(lee):
    g1 = GensimWord2Vec(lee, vector_size=8, min_count=2, seed=1, workers=1, epochs=1)
    g2 = GensimWord2Vec(vector_size=8, min_count=2, seed=5, workers=1)
    g2.reset_from(g1)
    m1 = Word2Vec.from_gensim(g1)
    m2 = Word2Vec(vector_size=8, min_count=2, seed=5, workers=1, progress=False)
    m2.reset_from(m1)
    assert m2.wv.index_to_key == g2.wv.index_to_key and m2.vocab is m1.vocab
    assert m2.corpus_count == g2.corpus_count
    np.testing.assert_array_equal(m2.wv.vectors, g2.wv.vectors)  # fresh, seed 5
    assert not m2.syn1neg.any()
    m2.train(lee[:20], total_examples=20, epochs=1)
    with pytest.raises(TypeError, match="other_model"):
        m2.reset_from(g1)


# ---- conversion --------------------------------------------------------------------------

def _same_model(m, other, rtol=0.0):
    assert m.wv.index_to_key == other.wv.index_to_key
    np.testing.assert_array_equal(m.vocab.counts, other.vocab.counts)
    np.testing.assert_allclose(m.keep_probabilities, other.keep_probabilities, atol=1e-9)
    for name in ("syn1", "syn1neg"):
        a, b = getattr(m, name), getattr(other, name)
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=rtol)
    np.testing.assert_allclose(m.wv.vectors, other.wv.vectors, rtol=rtol)


@pytest.mark.parametrize("kw", [dict(sg=1, hs=0, negative=5), dict(sg=0, hs=1, negative=3)])
def test_from_gensim_saved_model_and_back(lee, tmp_path, kw):
    g = GensimWord2Vec(lee, vector_size=12, window=3, min_count=2, seed=2, workers=1,
                       epochs=2, **kw)
    g.wv.vectors_lockf = np.ones(len(g.wv), np.float32)
    path = tmp_path / "gensim.model"
    g.save(str(path))
    m = Word2Vec.from_gensim(path)
    assert m.wv.index_to_key == g.wv.index_to_key
    np.testing.assert_array_equal(m.wv.vectors, g.wv.vectors)
    np.testing.assert_array_equal(m.vocab.counts, g.wv.expandos["count"])
    for name in ("syn1", "syn1neg"):
        if getattr(m, name) is not None:
            np.testing.assert_array_equal(getattr(m, name), getattr(g, name))
    _same_keep(m, g)
    if m.hs:
        _same_tree(m, g)
    assert (m.sg, m.hs, m.negative, m.window, m.vector_size) == (g.sg, g.hs, g.negative,
                                                                 g.window, g.vector_size)
    got, exp = m.wv.most_similar("government", topn=5), g.wv.most_similar("government", topn=5)
    assert [w for w, _ in got] == [w for w, _ in exp]
    np.testing.assert_allclose([x for _, x in got], [x for _, x in exp], atol=1e-5)
    back = m.to_gensim()
    np.testing.assert_array_equal(back.wv.vectors, g.wv.vectors)
    np.testing.assert_array_equal(back.wv.expandos["count"], g.wv.expandos["count"])
    np.testing.assert_array_equal(back.wv.expandos["sample_int"], g.wv.expandos["sample_int"])
    if m.negative:
        np.testing.assert_array_equal(back.cum_table, g.cum_table)
        np.testing.assert_array_equal(back.syn1neg, g.syn1neg)
    if m.hs:
        np.testing.assert_array_equal(back.syn1, g.syn1)
    # seqcore trains the converted model on
    before = m.wv.vectors.copy()
    m.train(lee[:50], total_examples=50, epochs=1)
    assert not np.array_equal(before, m.wv.vectors)


def test_to_gensim_saved_and_loaded_back(lee, tmp_path):
    m = Word2Vec(lee, vector_size=12, window=3, min_count=2, sg=1, hs=1, negative=2,
                 seed=4, workers=1, epochs=1, progress=False)
    m.build_vocab(lee[:30] + [["brandnew", "words"]] * 3, update=True)
    lockf = np.ones(len(m.wv), np.float32)
    lockf[5] = 0
    m.wv.vectors_lockf = lockf
    g = m.to_gensim()
    _same_tree(m, g)
    # gensim trains the converted model (its own loop; the frozen word stays put)
    start = g.wv.vectors.copy()
    g.train(lee[:50], total_examples=50, epochs=1)
    assert not np.array_equal(start, g.wv.vectors)
    np.testing.assert_array_equal(g.wv.vectors[5], start[5])
    g = m.to_gensim()
    path = tmp_path / "converted.model"
    g.save(str(path))
    back = Word2Vec.from_gensim(str(path))
    _same_model(back, m)
    np.testing.assert_array_equal(back.wv.vectors_lockf, lockf)
    assert back.corpus_count == m.corpus_count


def test_save_load_keeps_update_state_and_old_syn1_files(lee, tmp_path):
    m = Word2Vec(lee[:100], vector_size=8, min_count=2, hs=1, negative=2, seed=1, workers=1,
                 epochs=1, progress=False)
    m.build_vocab(lee[100:160], update=True)
    m.wv.vectors_lockf = np.full(len(m.wv), 0.5, np.float32)
    m.save(tmp_path / "m.npz")
    back = Word2Vec.load(tmp_path / "m.npz")
    _same_model(back, m)
    np.testing.assert_array_equal(back.wv.vectors_lockf, m.wv.vectors_lockf)
    assert (back.corpus_count, back.corpus_total_words) == (m.corpus_count,
                                                            m.corpus_total_words)
    # a file from before syn1 took gensim's [V, D]: V - 1 rows, read with a zero last row
    with np.load(tmp_path / "m.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["syn1"] = arrays["syn1"][:-1]
    np.savez(tmp_path / "old.npz", **arrays)
    old = Word2Vec.load(tmp_path / "old.npz")
    assert old.syn1.shape == m.syn1.shape and not old.syn1[-1].any()
    np.testing.assert_array_equal(old.syn1[:-1], m.syn1[:-1])

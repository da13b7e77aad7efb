"""KeyedVectors: nearest-neighbour kernel vs NumPy, gensim's semantics on gensim's own
fixtures, word2vec file formats (byte-compatible with gensim), evaluations, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import seqcore
from seqcore import KeyedVectors, _core


def _datapath(name):
    utils = pytest.importorskip("gensim.test.utils")
    return utils.datapath(name)


def _gensim_kv(path, binary):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    return gensim_kv.KeyedVectors.load_word2vec_format(path, binary=binary)


@pytest.fixture(scope="module")
def lee_pair():
    """(ours, gensim's) on gensim's euclidean_vectors.bin (2747 Lee-corpus words, D=10)."""
    path = _datapath("euclidean_vectors.bin")
    return KeyedVectors.load_word2vec_format(path, binary=True), _gensim_kv(path, True)


def _rand_kv(rng, V, D, dtype=np.float32):
    keys = [f"w{i}" for i in range(V)]
    return KeyedVectors(keys, rng.standard_normal((V, D)).astype(dtype))


# ---- nearest-neighbour kernel ---------------------------------------------------------------

def _ref_top_k(vectors, queries, k):
    """NumPy float64 reference: scores, then a stable sort on (-score, index)."""
    s = queries.astype(np.float64) @ vectors.astype(np.float64).T
    idx = np.argsort(-s, axis=1, kind="stable")[:, :k]
    return idx, np.take_along_axis(s, idx, axis=1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("V,D,Q,k", [(1, 1, 1, 1), (7, 3, 2, 7), (33, 17, 3, 5),
                                     (5000, 10, 4, 12), (2049, 9, 1, 1), (2100, 3, 2, 2100)])
def test_top_k_matches_numpy(rng, dtype, V, D, Q, k):
    # Integer-valued entries make every dot product exact in float32, so the ranking (and
    # the tie-break among the many equal scores) must equal the float64 reference exactly.
    vectors = rng.integers(-3, 4, size=(V, D)).astype(dtype)
    queries = rng.integers(-3, 4, size=(Q, D)).astype(dtype)
    idx, sc = _core.top_k_dot(vectors, queries, k)
    ref_idx, ref_sc = _ref_top_k(vectors, queries, k)
    np.testing.assert_array_equal(idx, ref_idx)
    np.testing.assert_array_equal(sc, ref_sc.astype(dtype))
    assert idx.dtype == np.int64 and sc.dtype == dtype


def test_top_k_thread_invariant_and_nan(rng, restore_num_threads):
    vectors = rng.standard_normal((6000, 13)).astype(np.float32)
    vectors[5] = np.nan  # ranks as -inf
    queries = rng.standard_normal((3, 13)).astype(np.float32)
    seqcore.set_num_threads(1)
    a = _core.top_k_dot(vectors, queries, 6000)
    seqcore.set_num_threads(2)
    b = _core.top_k_dot(vectors, queries, 6000)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[0][:, -1] == 5).all()


def test_top_k_bad_input(rng):
    v = rng.standard_normal((4, 3)).astype(np.float32)
    with pytest.raises(ValueError, match="topn"):
        _core.top_k_dot(v, v[:1], 5)
    with pytest.raises(ValueError, match="topn"):
        _core.top_k_dot(v, v[:1], 0)
    with pytest.raises(ValueError, match="queries"):
        _core.top_k_dot(v, v[:1, :2], 1)
    with pytest.raises(TypeError):
        _core.top_k_dot(v, v[:1].astype(np.float64), 1)
    with pytest.raises(TypeError):
        _core.top_k_dot(v.astype(np.int32), v[:1], 1)
    with pytest.raises(ValueError, match="vectors"):
        _core.top_k_dot(v[0], v[:1], 1)


# ---- basic API --------------------------------------------------------------------------------

def test_basic_access(rng):
    kv = _rand_kv(rng, 5, 4)
    assert len(kv) == 5 and "w3" in kv and "zz" not in kv and kv.vector_size == 4
    assert kv.index_to_key[2] == "w2" and kv.key_to_index["w2"] == 2
    np.testing.assert_array_equal(kv["w1"], kv.vectors[1])
    np.testing.assert_array_equal(kv[["w1", "w0"]], kv.vectors[[1, 0]])
    n = kv.get_vector("w1", norm=True)
    np.testing.assert_allclose(n, kv.vectors[1] / np.linalg.norm(kv.vectors[1]), rtol=1e-6)
    with pytest.raises(ValueError):
        kv.get_vector("w1")[0] = 1.0  # read-only, as gensim
    ref = kv.vectors[1] @ kv.vectors[3] / np.linalg.norm(kv.vectors[1]) / np.linalg.norm(
        kv.vectors[3])
    assert kv.similarity("w1", "w3") == pytest.approx(ref, abs=1e-6)


def test_unknown_word_keyerror(rng):
    kv = _rand_kv(rng, 5, 4)
    for call in (lambda: kv["nope"], lambda: kv.get_vector("nope"),
                 lambda: kv[["w1", "nope"]], lambda: kv.similarity("w1", "nope"),
                 lambda: kv.most_similar("nope"), lambda: kv.most_similar(["w1"], ["nope"]),
                 lambda: kv.most_similar_cosmul(["nope"])):
        with pytest.raises(KeyError, match="nope"):
            call()


def test_constructor_bad_input(rng):
    with pytest.raises(ValueError, match="duplicate"):
        KeyedVectors(["a", "a"], np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="keys"):
        KeyedVectors(["a"], np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="vectors"):
        KeyedVectors(["a"], np.zeros(3, np.float32))
    with pytest.raises(TypeError, match="float32"):
        KeyedVectors(["a"], np.zeros((1, 3), np.int64))
    with pytest.raises(ValueError, match="counts"):
        KeyedVectors(["a"], np.zeros((1, 3), np.float32), counts=[1, 2])


def test_most_similar_numpy_reference(rng):
    kv = _rand_kv(rng, 300, 7, np.float64)
    u = kv.vectors / np.linalg.norm(kv.vectors, axis=1, keepdims=True)
    mean = u[3] + u[10] - u[7]
    mean /= np.linalg.norm(mean)
    sims = u @ mean.astype(np.float32)  # gensim casts the unit mean to float32 (REAL)
    order = [i for i in np.argsort(-sims, kind="stable") if i not in (3, 10, 7)][:5]
    got = kv.most_similar(positive=["w3", "w10"], negative=["w7"], topn=5)
    assert [k for k, _ in got] == [f"w{i}" for i in order]
    np.testing.assert_allclose([s for _, s in got], sims[order], rtol=1e-12)
    np.testing.assert_allclose(kv.most_similar(["w3", "w10"], ["w7"], topn=None), sims,
                               rtol=1e-12)
    assert kv.most_similar("w1", topn=0) == []
    # restrict_vocab: only the first 50 keys are searched
    got = kv.most_similar("w1", topn=60, restrict_vocab=50)
    assert len(got) == 49 and all(kv.key_to_index[k] < 50 for k, _ in got)


# ---- against gensim ---------------------------------------------------------------------------

def test_loads_gensim_fixtures():
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    for name, binary, kw in [
            ("euclidean_vectors.bin", True, {}), ("high_precision.kv.bin", True, {}),
            ("high_precision.kv.txt", False, {}), ("toy-model.vec", False, {}),
            ("lee_fasttext.vec", False, {}), ("crime-and-punishment.vec", False, {}),
            # keys cut inside a UTF-8 character, as word2vec.c may write them
            ("w2v_keyedvectors_load_test.modeldata", False, dict(unicode_errors="ignore")),
            ("w2v_keyedvectors_load_test.modeldata", False, dict(unicode_errors="replace"))]:
        path = _datapath(name)
        ours = KeyedVectors.load_word2vec_format(path, binary=binary, **kw)
        ref = gensim_kv.KeyedVectors.load_word2vec_format(path, binary=binary, **kw)
        assert ours.index_to_key == ref.index_to_key, name
        np.testing.assert_array_equal(ours.vectors, ref.vectors, err_msg=name)
        limited = KeyedVectors.load_word2vec_format(path, binary=binary, limit=2, **kw)
        assert limited.index_to_key == ref.index_to_key[:2]
    with pytest.raises(UnicodeDecodeError):
        KeyedVectors.load_word2vec_format(_datapath("w2v_keyedvectors_load_test.modeldata"))


def test_most_similar_vs_gensim(lee_pair):
    ours, ref = lee_pair
    queries = [dict(positive=["government"]), dict(positive=["president", "police"]),
               dict(positive=["australia", "world"], negative=["people"]),
               dict(positive=[("fire", 2.0), "police"], negative=[("man", -0.5)]),
               dict(positive=["israel"], restrict_vocab=500),
               dict(positive=[ref["israel"]])]
    for q in queries:
        got, exp = ours.most_similar(topn=10, **q), ref.most_similar(topn=10, **q)
        assert [k for k, _ in got] == [k for k, _ in exp], q
        np.testing.assert_allclose([s for _, s in got], [s for _, s in exp], atol=2e-6)
        np.testing.assert_allclose(ours.most_similar(topn=None, **q),
                                   ref.most_similar(topn=None, **q), atol=2e-6)
    for q in queries[:3] + queries[5:]:  # gensim 4.4 ignores restrict_vocab here
        got, exp = ours.most_similar_cosmul(topn=10, **q), ref.most_similar_cosmul(topn=10, **q)
        assert [k for k, _ in got] == [k for k, _ in exp], q
        np.testing.assert_allclose([s for _, s in got], [s for _, s in exp], rtol=2e-5)
    for words in (["israel", "palestinian", "arafat", "australia"],
                  ["fire", "firefighters", "blaze", "government", "wind"]):
        assert ours.doesnt_match(words) == ref.doesnt_match(words)
    assert ours.similarity("israel", "arafat") == pytest.approx(
        float(ref.similarity("israel", "arafat")), abs=1e-6)


def test_evaluate_word_pairs_vs_gensim(lee_pair):
    ours, ref = lee_pair
    path = _datapath("wordsim353.tsv")
    for kw in ({}, dict(dummy4unknown=True), dict(case_insensitive=False),
               dict(restrict_vocab=1000)):
        got, exp = ours.evaluate_word_pairs(path, **kw), ref.evaluate_word_pairs(path, **kw)
        for i in range(2):  # (statistic, p-value), indexable as gensim's
            np.testing.assert_allclose([got[i][0], got[i][1]], [exp[i][0], exp[i][1]],
                                       rtol=1e-4, atol=1e-6)
        assert got[2] == pytest.approx(exp[2])
        assert got[1].statistic == pytest.approx(exp[1].statistic, abs=1e-4)


def test_evaluate_word_analogies_vs_gensim(lee_pair):
    ours, ref = lee_pair
    path = _datapath("questions-words.txt")
    for kw in (dict(restrict_vocab=30000), dict(restrict_vocab=1000, dummy4unknown=True)):
        score, sections = ours.evaluate_word_analogies(path, **kw)
        exp_score, exp_sections = ref.evaluate_word_analogies(path, **kw)
        assert score == pytest.approx(exp_score)
        assert [s["section"] for s in sections] == [s["section"] for s in exp_sections]
        for s, e in zip(sections, exp_sections):
            assert s["correct"] == e["correct"] and s["incorrect"] == e["incorrect"]
    assert len(sections[-1]["correct"]) + len(sections[-1]["incorrect"]) > 0


def test_evaluate_bad_files(tmp_path, rng):
    kv = _rand_kv(rng, 5, 4)
    p = tmp_path / "pairs.tsv"
    p.write_text("# comment\nfoo\tbar\t1.0\n")
    with pytest.raises(ValueError, match="No valid similarity"):
        kv.evaluate_word_pairs(str(p))
    q = tmp_path / "an.txt"
    q.write_text("w0 w1 w2 w3\n")
    with pytest.raises(ValueError, match="section header"):
        kv.evaluate_word_analogies(str(q))


# ---- word2vec format ---------------------------------------------------------------------------

@pytest.mark.parametrize("binary", [False, True])
def test_save_byte_identical_to_gensim_and_roundtrip(tmp_path, rng, binary):
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    keys = ["the", "ä_ü", "x" * 300, "a1"]
    vectors = (rng.standard_normal((4, 6)) * 10.0 ** rng.integers(-8, 8, (4, 6))).astype(
        np.float32)
    ours = KeyedVectors(keys, vectors)
    ref = gensim_kv.KeyedVectors(6)
    ref.add_vectors(keys, vectors)
    a, b = tmp_path / "ours", tmp_path / "gensim"
    ours.save_word2vec_format(str(a), binary=binary)
    ref.save_word2vec_format(str(b), binary=binary)
    assert a.read_bytes() == b.read_bytes()
    back = KeyedVectors.load_word2vec_format(str(a), binary=binary)
    assert back.index_to_key == keys
    np.testing.assert_array_equal(back.vectors, vectors)  # str(float32) round-trips exactly
    g = gensim_kv.KeyedVectors.load_word2vec_format(str(a), binary=binary)
    np.testing.assert_array_equal(g.vectors, vectors)


def test_save_orders_by_count_and_fvocab(tmp_path, rng):
    kv = KeyedVectors(["a", "b", "c"], rng.standard_normal((3, 2)).astype(np.float32),
                      counts=[1, 5, 3])
    kv.save_word2vec_format(str(tmp_path / "v.txt"), fvocab=str(tmp_path / "vocab.txt"))
    assert (tmp_path / "vocab.txt").read_text() == "b 5\nc 3\na 1\n"
    back = KeyedVectors.load_word2vec_format(str(tmp_path / "v.txt"),
                                             fvocab=str(tmp_path / "vocab.txt"))
    assert back.index_to_key == ["b", "c", "a"] and list(back.counts) == [5, 3, 1]
    np.testing.assert_array_equal(back["a"], kv["a"])


def test_word2vec_c_binary_with_newlines(tmp_path):
    # word2vec.c writes '\n' after each binary vector; the reader must strip it from keys.
    v = np.array([[1, 2], [3, 4]], np.float32)
    data = b"2 2\n" + b"ab " + v[0].tobytes() + b"\n" + b"cd " + v[1].tobytes() + b"\n"
    (tmp_path / "c.bin").write_bytes(data)
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "c.bin"), binary=True)
    assert kv.index_to_key == ["ab", "cd"]
    np.testing.assert_array_equal(kv.vectors, v)


def test_unicode_errors(tmp_path):
    v = np.array([1.0, 2.0], np.float32)
    (tmp_path / "u.bin").write_bytes(b"1 2\n" + b"ab\xc3 " + v.tobytes())
    with pytest.raises(UnicodeDecodeError):
        KeyedVectors.load_word2vec_format(str(tmp_path / "u.bin"), binary=True)
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "u.bin"), binary=True,
                                           unicode_errors="ignore")
    assert kv.index_to_key == ["ab"]


@pytest.mark.parametrize("content,binary,match", [
    (b"", False, "empty"),
    (b"hello world\nx 1 2\n", False, "header"),
    (b"2 2\nx 1 2\n", False, "end of text"),
    (b"1 3\nx 1 2\n", False, "line 2"),
    (b"1 2\nx 1 abc\n", False, "not a number"),
    (b"2 2\nx " + np.zeros(2, np.float32).tobytes(), True, "end of binary"),
    (b"2 2 7\n", True, "header"),
    (b"no header at all", True, "header"),
])
def test_malformed_files(tmp_path, content, binary, match):
    p = tmp_path / "bad"
    p.write_bytes(content)
    with pytest.raises(ValueError, match=match):
        KeyedVectors.load_word2vec_format(str(p), binary=binary)


def test_many_queries_are_blocked(rng):
    # more than one block of queries (512) gives the same as one call per query
    kv = _rand_kv(rng, 300, 5)
    q = rng.standard_normal((1100, 5)).astype(np.float32)
    idx, sc = kv._top_k(q, 4, 300)
    assert idx.shape == (1100, 4)
    for r in (0, 511, 512, 1099):
        i1, s1 = _core.top_k_dot(kv.get_normed_vectors(), q[r:r + 1], 4)
        np.testing.assert_array_equal(idx[r], i1[0])
        np.testing.assert_allclose(sc[r], s1[0], rtol=1e-6)


def test_word2vec_c_text_format(tmp_path):
    # word2vec.c's text writer: "%s " then "%lf " per value (a trailing space), "\n"
    (tmp_path / "c.txt").write_bytes(b"2 3\n</s> 0.100000 -0.200000 0.300000 \n"
                                     b"word 1.000000 2.000000 3.000000 \n")
    kv = KeyedVectors.load_word2vec_format(str(tmp_path / "c.txt"))
    assert kv.index_to_key == ["</s>", "word"]
    np.testing.assert_array_equal(kv.vectors, np.array([[0.1, -0.2, 0.3], [1, 2, 3]],
                                                       np.float32))
    no_header = tmp_path / "n.txt"
    no_header.write_bytes(b"a 1 2\nb 3 4\n")
    kv = KeyedVectors.load_word2vec_format(str(no_header), no_header=True)
    assert kv.index_to_key == ["a", "b"] and kv.vectors.shape == (2, 2)


def test_analogies_with_3cosmul_vs_gensim_per_question(lee_pair):
    # gensim 4.4 accepts similarity_function and always runs most_similar; the reference
    # for 3CosMul is gensim's most_similar_cosmul asked question by question with its rule
    # for picking the prediction (the first of the top 5 that is no input word)
    ours, full = lee_pair
    path = _datapath("questions-words.txt")
    restrict = 1000
    # gensim's most_similar_cosmul ignores restrict_vocab: search a copy of the first keys
    ref = type(full)(full.vector_size)
    ref.add_vectors(full.index_to_key[:restrict], full.vectors[:restrict])
    ok = {k.upper(): k for k in reversed(ref.index_to_key)}
    expected = {"correct": [], "incorrect": []}
    with open(path, encoding="utf8") as f:
        for line in f:
            if line.startswith(": "):
                continue
            a, b, c, d = line.upper().split()
            if not all(w in ok for w in (a, b, c, d)):
                continue
            sims = ref.most_similar_cosmul(positive=[ok[b], ok[c]], negative=[ok[a]], topn=5)
            predicted = None
            for key, _ in sims:
                predicted = key.upper()
                if predicted in ok and predicted not in (a, b, c):
                    break
            expected["correct" if predicted == d else "incorrect"].append((a, b, c, d))
    assert len(expected["correct"]) + len(expected["incorrect"]) > 20
    score, sections = ours.evaluate_word_analogies(path, restrict_vocab=restrict,
                                                   similarity_function="most_similar_cosmul")
    assert sections[-1]["correct"] == expected["correct"]
    assert sections[-1]["incorrect"] == expected["incorrect"]
    # the default is gensim's 3CosAdd, also when named
    assert ours.evaluate_word_analogies(path, restrict_vocab=restrict,
                                        similarity_function="most_similar") == \
        ours.evaluate_word_analogies(path, restrict_vocab=restrict)
    with pytest.raises(ValueError, match="similarity_function"):
        ours.evaluate_word_analogies(path, similarity_function="cosine")


def test_n_similarity_vs_gensim(lee_pair):
    ours, ref = lee_pair
    for ws1, ws2 in ((["israel", "palestinian"], ["arafat"]),
                     (["fire", "blaze", "wind"], ["government", "police"]),
                     (["fire", "notaword"], ["blaze"])):  # unknown keys are ignored
        assert ours.n_similarity(ws1, ws2) == pytest.approx(float(ref.n_similarity(ws1, ws2)),
                                                            abs=2e-6)
    for args in (([], ["fire"]), (["fire"], [])):
        with pytest.raises(ZeroDivisionError):
            ref.n_similarity(*args)
        with pytest.raises(ZeroDivisionError):
            ours.n_similarity(*args)


def test_vecattr_count_vs_gensim():
    gensim = pytest.importorskip("gensim")
    sentences = [["a", "b", "a", "c"], ["a", "b", "d"]]
    g = gensim.models.Word2Vec(sentences, vector_size=4, min_count=1, epochs=1, workers=1)
    ours = seqcore.Word2Vec(sentences, vector_size=4, min_count=1, epochs=1, workers=1,
                            progress=False).wv
    for key in ("a", "b", "c", "d"):
        assert ours.get_vecattr(key, "count") == g.wv.get_vecattr(key, "count")
    ours.set_vecattr("c", "count", 7)
    g.wv.set_vecattr("c", "count", 7)
    assert ours.get_vecattr("c", "count") == g.wv.get_vecattr("c", "count") == 7
    assert ours.counts[ours.get_index("c")] == 7  # the same array
    # a new attribute: zero for the other keys, as gensim's allocate_vecattrs
    ours.set_vecattr("a", "tag", 2.5)
    g.wv.set_vecattr("a", "tag", 2.5)
    for key in ("a", "b"):
        assert ours.get_vecattr(key, "tag") == g.wv.get_vecattr(key, "tag")
    with pytest.raises(KeyError, match="zzz"):
        ours.get_vecattr("zzz", "count")
    with pytest.raises(KeyError, match="nosuch"):
        ours.get_vecattr("a", "nosuch")


def test_complete_analogy_vs_brute_force(rng):
    kv = _rand_kv(rng, 60, 7)
    X = kv.vectors.astype(np.float64)
    for a, b, c in ((0, 1, 2), (5, 9, 30), (59, 3, 4)):
        offset = X[b] - X[a]
        best, best_cos = None, -np.inf
        for w in range(60):   # the course's loop
            if w in (a, b, c):
                continue
            d = X[w] - X[c]
            cos = offset @ d / (np.linalg.norm(offset) * np.linalg.norm(d))
            if cos > best_cos:
                best, best_cos = w, cos
        word, cos = kv.complete_analogy(f"w{a}", f"w{b}", f"w{c}")
        assert word == f"w{best}" and cos == pytest.approx(best_cos, abs=1e-12)
    assert kv.complete_analogy("w0", "w1", "w2", restrict_vocab=10)[0] in \
        {f"w{i}" for i in range(3, 10)}
    with pytest.raises(KeyError, match="zzz"):
        kv.complete_analogy("w0", "zzz", "w2")
    with pytest.raises(ValueError, match="same vector"):
        kv.complete_analogy("w0", "w0", "w2")

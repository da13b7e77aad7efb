"""Regression tests for the file readers' bugs found by the atheris harnesses (tests/fuzz/)
and the binary word2vec layout checks: every malformed file is a ValueError naming the
problem, a file seqcore wrote loads back unchanged, nothing is allocated beyond a small
multiple of the file's size."""
from __future__ import annotations

import io
import json
import resource
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import seqcore
from seqcore import KeyedVectors

from conftest import not_sanitized

TEXT = b"2 3\nthe 0.1 0.2 0.3\nof 1.5 2.5 3.5\n"  # each line's values are exactly 12 bytes


def _write(tmp_path, data, name="f"):
    p = tmp_path / name
    p.write_bytes(data)
    return str(p)


# ---- word2vec text file read with binary=True (was: garbage vectors) -----------------------
@pytest.mark.parametrize("content", [
    TEXT,  # aligned: each binary record would fit exactly, giving garbage vectors
    b"3 2\nthe 0.1 0.2\nof -1.25 3\nking 1e-3 2\n",  # misaligned
    b"2 3\nthe 0.1 0.2 0.3\r\nof 1.5 2.5 3.5\r\n",  # CRLF
    b"3 3\na 1 2 3\nb 4 5 6\nc 7 8 9\n",  # shorter than the binary records would be
])
def test_text_file_read_as_binary_is_a_value_error(tmp_path, content):
    p = _write(tmp_path, content)
    with pytest.raises(ValueError, match="text word2vec file.*binary=False"):
        KeyedVectors.load_word2vec_format(p, binary=True)
    with pytest.raises(ValueError, match="text word2vec file"):
        KeyedVectors.load_word2vec_format(p, binary=True, limit=1)
    assert len(KeyedVectors.load_word2vec_format(p, binary=False)) >= 2


def test_gensim_returns_garbage_for_text_read_as_binary(tmp_path):
    """What the check fixes (gensim 4 has no such check: the vectors are the ASCII bytes)."""
    gensim_kv = pytest.importorskip("gensim.models.keyedvectors")
    g = gensim_kv.KeyedVectors.load_word2vec_format(_write(tmp_path, TEXT), binary=True)
    assert g.index_to_key == ["the", "of"]
    assert not np.allclose(g["the"], [0.1, 0.2, 0.3])


def test_binary_files_still_load(tmp_path, rng=np.random.default_rng(0)):
    for V, D in ((1, 1), (3, 2), (4, 7)):
        kv = KeyedVectors([f"w{i}" for i in range(V)], rng.standard_normal((V, D)))
        p = str(tmp_path / "v.bin")
        kv.save_word2vec_format(p, binary=True)
        back = KeyedVectors.load_word2vec_format(p, binary=True)
        assert back.index_to_key == kv.index_to_key
        np.testing.assert_array_equal(back.vectors, kv.vectors.astype(np.float32))
        data = open(p, "rb").read()
        for extra in (b"\n", b"\r\n", b"  \n"):  # trailing whitespace is harmless
            assert len(KeyedVectors.load_word2vec_format(_write(tmp_path, data + extra),
                                                         binary=True)) == V


def test_binary_record_layout_must_fit(tmp_path):
    v = np.array([1.0, 2.0], np.float32)
    # bytes beyond the declared vectors: a wrong count or vector size
    p = _write(tmp_path, b"1 2\nab " + v.tobytes() + b"cd " + v.tobytes())
    with pytest.raises(ValueError, match="1 binary vectors of 2 values but 11 bytes follow"):
        KeyedVectors.load_word2vec_format(p, binary=True)
    assert KeyedVectors.load_word2vec_format(p, binary=True, limit=1).index_to_key == ["ab"]
    # vector size declared too small: the next key starts inside the previous vector
    p = _write(tmp_path, b"2 1\nab " + v.tobytes() + b"\ncd " + v.tobytes() + b"\n")
    with pytest.raises(ValueError, match="do not line up|bytes follow"):
        KeyedVectors.load_word2vec_format(p, binary=True)
    # a newline inside a key: the records do not line up
    p = _write(tmp_path, b"2 2\nab " + v.tobytes() + b"x\ny " + v.tobytes())
    with pytest.raises(ValueError, match="holds a newline"):
        KeyedVectors.load_word2vec_format(p, binary=True)


def test_binary_empty_key_round_trips(tmp_path):
    """gensim's writer writes an empty key as just the space; the size pre-check allowed
    only keys of >= 1 byte (found by fuzz_w2v_text: ' 0' read with no_header)."""
    kv = KeyedVectors.load_word2vec_format(_write(tmp_path, b" 0\n"), no_header=True)
    assert kv.index_to_key == [""]
    p = str(tmp_path / "e.bin")
    kv.save_word2vec_format(p, binary=True)
    assert open(p, "rb").read() == b"1 1\n " + np.zeros(1, np.float32).tobytes()
    assert KeyedVectors.load_word2vec_format(p, binary=True).index_to_key == [""]


def test_no_header_empty_text_file(tmp_path):
    """Was a KeyedVectors with vector_size 0 (found by fuzz_w2v_text)."""
    with pytest.raises(ValueError, match="empty"):
        KeyedVectors.load_word2vec_format(_write(tmp_path, b""), no_header=True)


@pytest.mark.parametrize("line,match", [
    (b"the 99999999999999999999999\n", "out of range"),  # was OverflowError
    (b"the -1\n", "out of range"),
    (b"the 1 2\n", "expected 'word count'"),
    (b"the x\n", "expected 'word count'"),
])
def test_fvocab_counts(tmp_path, line, match):
    vec = _write(tmp_path, b"1 2\nthe 1 2\n", "v.txt")
    with pytest.raises(ValueError, match=match):
        KeyedVectors.load_word2vec_format(vec, fvocab=_write(tmp_path, line, "vocab"))


# ---- Word2Vec.save / Word2Vec.load ---------------------------------------------------------
def _model(sentences=None, **kw):
    return seqcore.Word2Vec(sentences or [["a", "b", "c"]] * 5, vector_size=4, min_count=1,
                            epochs=1, workers=1, progress=False, **kw)


def _members(path):
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def test_keys_with_nul_round_trip(tmp_path):
    """A numpy str array drops trailing NULs: 'a\\0' came back as 'a' (a duplicate key:
    the file save wrote did not load). Found by fuzz_corpus_file."""
    corpus = _write(tmp_path, b"a a\x00 b\n\x00 a\n", "c.txt")
    m = seqcore.Word2Vec(corpus_file=corpus, vector_size=2, min_count=1, epochs=1,
                         workers=1, progress=False)
    assert sorted(m.wv.index_to_key) == ["\x00", "a", "a\x00", "b"]
    m.save(tmp_path / "m.npz")
    back = seqcore.Word2Vec.load(tmp_path / "m.npz")
    assert back.wv.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(back.wv.vectors, m.wv.vectors)
    odd = _model([["x\n y", "é", "x\x00\x00", "x"]] * 3)  # any str
    odd.save(tmp_path / "o.npz")
    assert seqcore.Word2Vec.load(tmp_path / "o.npz").wv.index_to_key == odd.wv.index_to_key


def test_load_reads_files_with_str_keys(tmp_path):
    """Files written before key_bytes/key_ends hold the keys as a str array."""
    m = _model(hs=1, negative=0)
    m.save(tmp_path / "m.npz")
    arrays = {k: v for k, v in _members(tmp_path / "m.npz").items() if not k.startswith("key_")}
    np.savez(tmp_path / "old.npz", keys=np.array(m.wv.index_to_key), **arrays)
    back = seqcore.Word2Vec.load(tmp_path / "old.npz")
    assert back.wv.index_to_key == m.wv.index_to_key
    np.testing.assert_array_equal(back.syn1, m.syn1)


def _rewrite(path, out, **replace):
    """Copy the zip at path to out, member bytes replaced by replace[name](bytes)."""
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(out, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            fn = replace.get(info.filename[:-4])
            zout.writestr(info.filename, fn(data) if fn else data)
    return out


@not_sanitized  # the address-space limit it sets cannot hold ASan's shadow memory
def test_load_does_not_allocate_what_a_header_declares(tmp_path):
    """np.load allocates the shape an .npy header declares before reading its data: a
    4 KiB file declaring 10^12 floats was a MemoryError (not ValueError), 10^8 an untouched
    800 MB allocation. The declared size must match the member's."""
    m = _model()
    m.save(tmp_path / "m.npz")
    shape = repr(m.wv.vectors.shape).encode()
    for big in (b"(1000000000000, 4)", b"(100000000, 4)", b"(-3, -4)"):
        bad = _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz",
                       syn0=lambda d: d.replace(shape, big.ljust(len(shape))[:max(len(shape),
                                                                                  len(big))]))
        code = textwrap.dedent(f"""
            import resource, seqcore
            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, resource.RLIM_INFINITY))
            try:
                seqcore.Word2Vec.load({str(bad)!r})
            except ValueError as e:
                print("ValueError", e)
        """)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             timeout=120)
        assert "ValueError" in out.stdout and "not a seqcore Word2Vec file" in out.stdout, \
            out.stdout + out.stderr


@pytest.mark.filterwarnings("ignore:Duplicate name")
def test_load_rejects_compressed_and_malformed_members(tmp_path):
    m = _model()
    m.save(tmp_path / "m.npz")
    arrays = _members(tmp_path / "m.npz")
    np.savez_compressed(tmp_path / "z.npz", **arrays)
    with pytest.raises(ValueError, match="uncompressed"):
        seqcore.Word2Vec.load(tmp_path / "z.npz")
    meta = json.loads(str(arrays["meta"]))
    cases = {
        "deep_json": dict(meta=np.array("[" * 100000 + "]" * 100000)),
        "meta_list": dict(meta=np.array("[1, 2]")),
        "zero_count": dict(counts=np.zeros_like(arrays["counts"])),
        "huge_count": dict(counts=np.full_like(arrays["counts"], 2**62)),
        "counts_shape": dict(counts=arrays["counts"][:1]),
        "syn0_dtype": dict(syn0=arrays["syn0"].astype(np.float64)),
        "syn0_shape": dict(syn0=arrays["syn0"][:, :2]),
        "syn1neg_missing": dict(syn1neg=None),
        "key_ends": dict(key_ends=arrays["key_ends"] + 1),
        "object_keys": dict(keys=np.array(["a", 1], dtype=object), key_bytes=None),
        "loss": dict(meta=np.array(json.dumps(dict(meta, loss="abc")))),
        "epochs_trained": dict(meta=np.array(json.dumps(dict(meta, epochs_trained=-1)))),
        "dtype": dict(meta=np.array(json.dumps(dict(meta, dtype="object")))),
        "max_vocab_size": dict(meta=np.array(json.dumps(dict(meta, max_vocab_size="x")))),
    }
    for name, change in cases.items():
        bad = {k: v for k, v in {**arrays, **change}.items() if v is not None}
        p = tmp_path / f"{name}.npz"
        with open(p, "wb") as f:
            np.savez(f, **bad)
        with pytest.raises(ValueError, match="not a seqcore Word2Vec file"):
            seqcore.Word2Vec.load(p)
    # a zip member stored twice, and one marked encrypted
    buf = io.BytesIO()
    with zipfile.ZipFile(tmp_path / "m.npz") as zin, zipfile.ZipFile(buf, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
        zout.writestr("syn0.npy", zin.read("syn0.npy"))
    (tmp_path / "twice.npz").write_bytes(buf.getvalue())
    with pytest.raises(ValueError, match="twice"):
        seqcore.Word2Vec.load(tmp_path / "twice.npz")


@pytest.mark.parametrize("member,old,new", [
    ("syn0", b"'shape': (", b"'shape': (("),  # was tokenize.TokenError, out of numpy
    ("key_bytes", b"'descr': '|u1'", b"'descr': '|01'"),  # was SyntaxError, idem
    ("syn0", b"'shape': (3", b"'shape': (03"),
])
def test_load_malformed_npy_header(tmp_path, member, old, new):
    m = _model()
    m.save(tmp_path / "m.npz")
    bad = _rewrite(tmp_path / "m.npz", tmp_path / "bad.npz",
                   **{member: lambda d: d.replace(old, new)})
    with pytest.raises(ValueError, match="header"):
        seqcore.Word2Vec.load(bad)


def test_load_counts_beyond_total_words_train_bounded(tmp_path):
    """After build_vocab(update=True) the counts may exceed the last corpus's total_words (a
    file may hold any such pair). Training such a model reserves its token array from the
    corpus given, not from the counts: a file claiming counts of 2**40 trains a 3-word
    corpus without a large allocation."""
    m = _model()
    m.save(tmp_path / "m.npz")
    arrays = _members(tmp_path / "m.npz")
    meta = json.loads(str(arrays["meta"]))
    np.savez(tmp_path / "big.npz", **dict(arrays, counts=np.full(3, 2**40, np.int64),
                                          meta=np.array(json.dumps(dict(meta, total_words=3)))))
    big = seqcore.Word2Vec.load(tmp_path / "big.npz")
    np.testing.assert_array_equal(big.vocab.counts, [2**40] * 3)
    assert big.train([["a", "b", "c"]], total_examples=1, epochs=1)[1] == 3


def test_load_str_keys_beyond_unicode(tmp_path):
    """A str-array key with a code point above U+10FFFF became an invalid Python str
    (SystemError when used; found by fuzz_w2v_load)."""
    m = _model()
    m.save(tmp_path / "m.npz")
    arrays = {k: v for k, v in _members(tmp_path / "m.npz").items() if not k.startswith("key_")}
    keys = np.array(m.wv.index_to_key)
    keys.view(np.uint32)[0] = 0xFFFFFFFF
    np.savez(tmp_path / "bad.npz", keys=keys, **arrays)
    with pytest.raises(ValueError, match="U\\+10FFFF"):
        seqcore.Word2Vec.load(tmp_path / "bad.npz")


def test_parsing_load_strings_beyond_unicode(tmp_path):
    """A model file's vocabulary or metadata string with a code point above U+10FFFF (found by
    fuzz_conllu: a Tagger file's vocabulary) gives ValueError, not SystemError."""
    from seqcore import parsing
    from seqcore._validate import unicode_strings
    vocab = np.array(["ab", "c"])
    vocab.view(np.uint32)[1] = 0x110000
    with pytest.raises(ValueError, match="vocab:form.*U\\+10FFFF"):
        unicode_strings(vocab, "vocab:form")
    big_endian = np.array(["ab", "c"]).astype(">U2")
    assert unicode_strings(big_endian, "x") == ["ab", "c"]
    meta = np.array("{}")
    bad = meta.reshape(1).view(np.uint32).copy()
    bad[0] = 0xFFFFFFFF
    np.savez(tmp_path / "bad.npz", meta=bad.view("<U2").reshape(()))
    for cls in (parsing.Tagger, parsing.Parser):
        with pytest.raises(ValueError, match="metadata"):
            cls.load(tmp_path / "bad.npz")

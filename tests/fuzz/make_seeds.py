"""Write the seed corpus of the atheris harnesses: tests/fuzz/corpus/<harness>/<seed>.

Small synthetic files only (each < 4 KiB), made here so they can be regenerated:
``python tests/fuzz/make_seeds.py``. The mode byte that most harnesses read first (see each
harness's docstring) is prepended.
"""
from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
import zipfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
KEYS = ["the", "of", "king", "queen", "x"]


def _vectors(n, d, seed=0):
    return np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)


def _kv_files():
    """(name, text bytes, binary bytes) of small word2vec files written by seqcore."""
    from seqcore import KeyedVectors
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for n, d in ((3, 2), (5, 4), (4, 1)):
            kv = KeyedVectors(KEYS[:n], _vectors(n, d, n))
            files = []
            for binary in (False, True):
                p = os.path.join(tmp, "v")
                kv.save_word2vec_format(p, binary=binary)
                with open(p, "rb") as f:
                    files.append(f.read())
            out.append((f"v{n}d{d}", *files))
    return out


def _word2vec_files():
    import seqcore
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        sentences = [["the", "king", "of", "x"], ["the", "queen", "of", "x"]] * 3
        for name, kw in (("ns", dict(negative=2)), ("hs", dict(hs=1, negative=0, sg=1))):
            m = seqcore.Word2Vec(sentences, vector_size=2, window=2, min_count=1, epochs=1,
                                 workers=1, seed=3, progress=False, **kw)
            p = os.path.join(tmp, "m.npz")
            m.save(p)
            with open(p, "rb") as f:
                out.append((name, f.read()))
        # the layout of files written before key_bytes/key_ends: keys as a numpy str array
        with np.load(p) as z:
            arrays = {k: z[k] for k in z.files if not k.startswith("key_")}
        np.savez(p, keys=np.array(m.wv.index_to_key), **arrays)
        with open(p, "rb") as f:
            out.append(("hs_keys_str", f.read()))
    return out


def seeds():
    """{harness: {seed name: bytes}}"""
    s = {h: {} for h in ("fuzz_w2v_text", "fuzz_w2v_binary", "fuzz_w2v_fvocab",
                         "fuzz_w2v_load", "fuzz_evaluate", "fuzz_corpus_file",
                         "fuzz_charlm_corpus")}
    for name, text, binary in _kv_files():
        s["fuzz_w2v_text"][name] = b"\x00" + text
        s["fuzz_w2v_text"][name + "_noheader_f64"] = b"\x09" + text.split(b"\n", 1)[1]
        s["fuzz_w2v_text"][name + "_limit1"] = b"\x02" + text
        s["fuzz_w2v_binary"][name] = b"\x00" + binary
        s["fuzz_w2v_binary"][name + "_limit2"] = b"\x02" + binary
        # word2vec.c's layout: a '\n' after each vector
        header, body = binary.split(b"\n", 1)
        n, d = (int(x) for x in header.split())
        records, pos = [], 0
        for _ in range(n):
            end = body.index(b" ", pos) + 1 + 4 * d
            records.append(body[pos:end] + b"\n")
            pos = end
        s["fuzz_w2v_binary"][name + "_newlines"] = b"\x00" + header + b"\n" + b"".join(records)
    s["fuzz_w2v_binary"]["text_as_binary"] = b"\x00" + _kv_files()[0][1]
    s["fuzz_w2v_fvocab"]["counts"] = b"the 10\nof 7\nand 3\nking 1\n"
    s["fuzz_w2v_fvocab"]["partial"] = b"of 2\nqueen 5\n"
    sys.path.insert(0, HERE)
    from fuzz_w2v_load import MEMBERS, SEPARATOR
    for name, data in _word2vec_files():
        s["fuzz_w2v_load"][name] = data
        # the same members in the harness's unzipped form
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = {i.filename[:-4]: z.read(i) for i in z.infolist()}
        assert not any(SEPARATOR in p for p in parts.values())
        s["fuzz_w2v_load"][name + "_members"] = SEPARATOR.join(parts.get(m, b"")
                                                               for m in MEMBERS)
    s["fuzz_evaluate"]["pairs"] = (b"\x00# word1\tword2\tscore\nthe\tof\t1.5\nking\tqueen\t8.5\n"
                                   b"man\twoman\t8.3\nparis\tfrance\t7\nthe\tunknown\t2\n")
    s["fuzz_evaluate"]["pairs_dummy_space"] = (b"\x16the of 1.5\nking queen 8.5\nman woman 8\n"
                                               b"x y 1\n")
    s["fuzz_evaluate"]["analogies"] = (b"\x03: capital\nking queen man woman\nparis france "
                                       b"king queen\n: other\nthe of x the\nthe of unknown x\n")
    s["fuzz_evaluate"]["analogies_dummy"] = b"\x05: s\nKING queen man woman\nthe of y x\n"
    text = b"the king of x\nthe queen of x\n\n  the  x\tof\r\nking\n"
    s["fuzz_corpus_file"]["vocab"] = b"\x00" + text
    s["fuzz_corpus_file"]["w2v_save"] = b"\x0c" + text
    s["fuzz_corpus_file"]["w2v_hs_glove_pruned"] = b"\x36" + text * 2
    s["fuzz_corpus_file"]["min_count2"] = b"\x01" + text + b"queen queen"
    s["fuzz_charlm_corpus"]["text"] = b"\x00The cat sat.\nOn the mat, \xc3\xa9t\xc3\xa9.\r\n"
    s["fuzz_charlm_corpus"]["short_streams"] = b"\x2bab\tc\n"
    return s


def main():
    all_seeds = seeds()
    for harness, files in all_seeds.items():
        folder = os.path.join(CORPUS, harness)
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)
        for name, data in files.items():
            assert len(data) < 4096, (harness, name, len(data))
            with open(os.path.join(folder, name), "wb") as f:
                f.write(data)
    print(f"wrote {sum(map(len, all_seeds.values()))} seeds under {CORPUS}", file=sys.stderr)


if __name__ == "__main__":
    main()

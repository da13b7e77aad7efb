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


def _fixed_zip(data, compression=zipfile.ZIP_DEFLATED):
    """An .npz archive rewritten with fixed member timestamps (np.savez stamps the current
    time), so that the seed is the same bytes on every run."""
    buf = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = compression
            dst.writestr(fixed, src.read(info))
    return buf.getvalue()


def _parsing_files():
    """(name, .npz bytes) of tiny Parser and Tagger models saved by seqcore (fit with 0
    epochs: the seeded initial weights), and the sentences they were built from."""
    sys.path.insert(0, HERE)
    from fuzz_conllu import SENTENCE

    from seqcore.datasets import read_conllu
    from seqcore.parsing import Parser, Tagger
    sentences = read_conllu(SENTENCE)
    models = {
        "parser": Parser(attributes=("form", "upos"), dims={"form": 1, "upos": 1},
                         label_dim=1, hidden=2, min_count=1),
        "parser_suffix_feats": Parser(attributes=("suffix", "feats", "xpos"),
                                      dims={"suffix": 1, "feats": 1, "xpos": 1}, label_dim=1,
                                      hidden=1, min_count=1),
        "tagger_window": Tagger(kind="window", columns=("upos", "feats"), form_dim=1,
                                affix_dim=1, hidden=1, window=1, min_count=1),
        "tagger_bilstm": Tagger(kind="bilstm", columns=("xpos",), form_dim=1, affix_dim=1,
                                hidden=1, min_count=2, dtype="float64"),
    }
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in models.items():
            model.fit(sentences, epochs=0, progress=False)
            p = os.path.join(tmp, "m.npz")
            model.save(p)
            with open(p, "rb") as f:
                out.append((name, f.read()))
    return out


def seeds():
    """{harness: {seed name: bytes}}"""
    s = {h: {} for h in ("fuzz_w2v_text", "fuzz_w2v_binary", "fuzz_w2v_fvocab",
                         "fuzz_w2v_load", "fuzz_evaluate", "fuzz_corpus_file",
                         "fuzz_charlm_corpus", "fuzz_conllu")}
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
    from fuzz_conllu import PARSER_MEMBERS, SENTENCE, SEPARATOR as NPY_SEP, TAGGER_MEMBERS
    conllu = SENTENCE.encode("utf-8")
    nonprojective = ("# sent_id = np\n1\tA\t_\tX\t_\t_\t3\ta\t_\t_\n"
                     "2\tB\t_\tX\t_\t_\t0\troot\t_\t_\n3\tC\t_\tX\t_\t_\t2\tb\t_\t_\n"
                     "4\tD\t_\tX\t_\t_\t1\tc\t_\t_\n\n").encode("utf-8")
    s["fuzz_conllu"]["sentence_path"] = b"\x00" + conllu
    s["fuzz_conllu"]["sentence_binary_file"] = b"\x01" + conllu
    s["fuzz_conllu"]["two_sentences_str"] = b"\x02" + conllu + nonprojective
    s["fuzz_conllu"]["bom_crlf_path"] = (b"\x00\xef\xbb\xbf"
                                         + (nonprojective + conllu).replace(b"\n", b"\r\n"))
    for name, data in _parsing_files():
        tagger = name.startswith("tagger")
        mode = b"\x07" if tagger else b"\x0b"
        s["fuzz_conllu"][name] = mode + _fixed_zip(data)
        # the same members in the harness's unzipped form
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            parts = {i.filename[:-4]: z.read(i) for i in z.infolist()}
        members = TAGGER_MEMBERS if tagger else PARSER_MEMBERS
        assert set(parts) <= set(members), sorted(set(parts) - set(members))
        assert not any(NPY_SEP in p for p in parts.values())
        s["fuzz_conllu"][name + "_members"] = (b"\x07" if tagger else b"\x03") + \
            NPY_SEP.join(parts.get(m, b"") for m in members)
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

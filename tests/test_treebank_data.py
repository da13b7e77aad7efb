"""seqcore.datasets.treebank: the CoNLL-U reader (ranges and empty nodes skipped, every kind of
broken tree rejected with the sentence named), projectivity against the crossing-arcs
definition on random trees, Nivre & Nilsson's lifting, and the Turkish treebanks of the
turkish-treebanks wheel (split, counts, lossless FEATS, checksum)."""
from __future__ import annotations

import io
from importlib import metadata

import numpy as np
import pytest

pytest.importorskip("conllu", reason="conllu is not installed (pip install conllu==6.0.0 or "
                                     "pip install 'seqcore[data]')")

from seqcore.datasets import DatasetError  # noqa: E402
from seqcore.datasets import treebank as tb  # noqa: E402

N_SENTENCES = {"data/web.conllu": 2541, "data/wiki.conllu": 2310}


def _have_turkish_treebanks():
    try:
        metadata.distribution("turkish-treebanks")
    except metadata.PackageNotFoundError:
        return False
    return True


@pytest.fixture(scope="module")
def files():
    """The two files of the wheel, read in file order: {relpath: [Sentence]}."""
    if not _have_turkish_treebanks():
        pytest.skip("turkish-treebanks is not installed (pip install turkish-treebanks==1.0.0 "
                    "or pip install 'seqcore[data]')")
    return {rel: tb.read_conllu(tb._locate(rel), name=rel) for rel, _ in tb._TT_FILES}


@pytest.fixture(scope="module")
def turkish(files):
    return tb.turkish_treebank()


# ---- the Turkish treebanks -------------------------------------------------------------------

def test_split_counts_and_rule(files, turkish):
    assert [len(s) for s in turkish] == [3880, 485, 486]
    assert [sum(len(x.form) for x in s) for s in turkish] == [65279, 8000, 8091]
    ids = [s.sent_id for rel, _ in tb._TT_FILES for s in files[rel]]   # web then wiki
    assert [s.sent_id for s in turkish.test] == [x for i, x in enumerate(ids) if i % 10 == 0]
    assert [s.sent_id for s in turkish.dev] == [x for i, x in enumerate(ids) if i % 10 == 1]
    assert [s.sent_id for s in turkish.train] == [x for i, x in enumerate(ids) if i % 10 >= 2]
    assert turkish.test[0].sent_id == "tr-forum:00000222:S023"


def test_every_sentence_is_read(files):
    for rel, n in N_SENTENCES.items():
        sents = files[rel]
        assert len(sents) == n
        # every sentence block of the file became a Sentence, in order
        with open(tb._locate(rel), encoding="utf-8") as f:
            text = f.read()
        assert [s.sent_id for s in sents] == [line[len("# sent_id = "):] for line in
                                              text.split("\n") if line.startswith("# sent_id")]
        assert sum(len(s.form) for s in sents) == sum(
            1 for line in text.split("\n") if line and not line.startswith("#"))
    sents = files["data/web.conllu"] + files["data/wiki.conllu"]
    assert len({s.sent_id for s in sents}) == 4851
    for s in sents:
        n = len(s.form)
        assert s.head.dtype == np.int64 and s.head.shape == (n,)
        assert len(s.upos) == len(s.deprel) == n == len(s.tokens)
        assert (s.head == 0).sum() == 1
    # the older Google universal tags and the Stanford-style labels, kept as written
    upos = {u for s in sents for u in s.upos}
    assert {"PRT", "CONJ", "ONOM", "AFFIX"} <= upos and len(upos) == 14
    deprel = {d for s in sents for d in s.deprel}
    assert {"ig", "root", "nsubj", "dobj", "nn", "p"} <= deprel and len(deprel) == 44
    first = files["data/web.conllu"][0]
    assert first.form == ["Burda", "da", "öylemi", "yoksa", "kiloyla", "mı", "?"]
    assert first.upos == ["PRON", "PRT", "VERB", "CONJ", "VERB", "PRT", "PUNCT"]
    assert first.head.tolist() == [3, 1, 5, 5, 0, 5, 5]
    assert first.deprel == ["npadvmod", "prt", "conj", "cc", "root", "prt", "p"]


def test_repeated_feats_are_kept_and_the_files_round_trip(files):
    # FEATS repeats PersonNumber (noun agreement and copula): a dict would drop the first
    tok = files["data/web.conllu"][0].tokens[2]
    assert tok["feats"] == ("PersonNumber=A3sg|Possessive=Pnon|Case=Bare|Copula=PresCop|"
                            "PersonNumber=V3sg|Proper=False")
    assert tok["lemma"] == "öyle" and tok["xpos"] == "NOMP"
    for rel, _ in tb._TT_FILES:
        with open(tb._locate(rel), encoding="utf-8") as f:
            text = f.read()
        out = "".join(s.tokens.serialize() for s in files[rel])
        assert out.rstrip("\n") == text.rstrip("\n")


def test_projectivize_on_the_treebank(files):
    sents = files["data/web.conllu"] + files["data/wiki.conllu"]
    nonproj = 0
    for s in sents:
        p = tb.projectivize(s.head)
        proj = tb.is_projective(s.head)
        nonproj += not proj
        assert tb.is_projective(p) and (p == 0).sum() == 1
        assert np.array_equal(p, s.head) == proj
    assert nonproj == 315                          # 6.5%: 93.5% of the trees are unchanged
    assert 0.92 < 1 - nonproj / len(sents) < 0.96


def test_damaged_file_raises(monkeypatch, tmp_path, files):
    real = tb._locate("data/web.conllu")
    bad = tmp_path / "web.conllu"
    data = bytearray(real.read_bytes())
    data[-1:] = b"X"
    bad.write_bytes(bytes(data))
    monkeypatch.setattr(tb, "_locate", lambda rel: bad)
    with pytest.raises(DatasetError, match="sha256.*pip install --force-reinstall "
                                           "turkish-treebanks==1.0.0"):
        tb.turkish_treebank()
    monkeypatch.setattr(tb, "_locate", lambda rel: tmp_path / "missing.conllu")
    with pytest.raises(DatasetError, match="cannot read"):
        tb.turkish_treebank()


def test_missing_package_raises(monkeypatch):
    def no_dist(name):
        raise metadata.PackageNotFoundError(name)
    monkeypatch.setattr(tb.metadata, "files", no_dist)
    with pytest.raises(DatasetError, match="pip install turkish-treebanks==1.0.0"):
        tb.turkish_treebank()
    monkeypatch.setattr(tb.metadata, "files", lambda name: [])
    with pytest.raises(DatasetError, match="lists no data/web.conllu"):
        tb.turkish_treebank()

    def no_conllu():
        raise ImportError("no conllu")
    monkeypatch.setattr(tb, "_conllu", no_conllu)
    with pytest.raises(DatasetError, match="conllu package is not installed"):
        tb.turkish_treebank()


# ---- read_conllu -----------------------------------------------------------------------------

# A multiword token (1-2, 4-5) is a range over words; 2.1 is an empty node (enhanced UD):
# neither is a syntactic word.
HAND = """\
# sent_id = es-1
# text = Vámonos al mar
1-2\tVámonos\t_\t_\t_\t_\t_\t_\t_\t_
1\tVamos\tir\tVERB\t_\tMood=Imp|Number=Plur\t0\troot\t_\t_
2\tnos\tnosotros\tPRON\t_\tCase=Acc\t1\tobj\t_\t_
2.1\tvamos\tir\tVERB\t_\t_\t_\t_\t1:conj\t_
3\ta\ta\tADP\t_\t_\t5\tcase\t_\t_
4-5\tal\t_\t_\t_\t_\t_\t_\t_\t_
4\tel\tel\tDET\t_\t_\t5\tdet\t_\t_
5\tmar\tmar\tNOUN\t_\t_\t1\tobl\t_\tSpaceAfter=No
6\t.\t.\tPUNCT\t_\t_\t1\tpunct\t_\t_

1\tHola\thola\tINTJ\t_\t_\t0\troot\t_\t_
"""


def _check_hand(sents):
    assert len(sents) == 2
    s = sents[0]
    assert s.form == ["Vamos", "nos", "a", "el", "mar", "."]
    assert s.upos == ["VERB", "PRON", "ADP", "DET", "NOUN", "PUNCT"]
    assert s.head.dtype == np.int64 and s.head.tolist() == [0, 1, 5, 5, 1, 1]
    assert s.deprel == ["root", "obj", "case", "det", "obl", "punct"]
    assert s.sent_id == "es-1"
    assert len(s.tokens) == 9                        # ranges and the empty node are kept
    assert sents[1].sent_id == "" and sents[1].form == ["Hola"]
    assert sents[1].head.tolist() == [0]


def test_hand_written_conllu(tmp_path):
    _check_hand(tb.read_conllu(HAND))
    path = tmp_path / "hand.conllu"
    path.write_text(HAND, encoding="utf-8")
    _check_hand(tb.read_conllu(path))
    _check_hand(tb.read_conllu(str(path)))
    with open(path, encoding="utf-8") as f:
        _check_hand(tb.read_conllu(f))
    with open(path, "rb") as f:
        _check_hand(tb.read_conllu(f))
        assert not f.closed                      # the caller's file is left open
    _check_hand(tb.read_conllu(io.BytesIO(HAND.encode("utf-8"))))
    _check_hand(tb.read_conllu(io.StringIO(HAND)))
    _check_hand(tb.read_conllu(HAND.replace("\n", "\r\n")))
    # written back unchanged, FEATS included
    assert "".join(s.tokens.serialize() for s in tb.read_conllu(HAND)) == HAND + "\n"


def test_bad_source_type_missing_file_and_bad_utf8(tmp_path):
    with pytest.raises(TypeError, match="mytb: expected a path"):
        tb.read_conllu(3, name="mytb")
    with pytest.raises(FileNotFoundError):
        tb.read_conllu(tmp_path / "nope.conllu", name="mytb")
    path = tmp_path / "latin1.conllu"
    path.write_bytes(HAND.encode("latin-1"))
    with pytest.raises(ValueError, match="^mytb: sentence 1: not UTF-8"):
        tb.read_conllu(path, name="mytb")


def _sentence(*lines, sent_id="bad"):
    meta = [f"# sent_id = {sent_id}"] if sent_id else []
    return "\n".join(meta + ["\t".join(line.split()) for line in lines]) + "\n"


def _w(i, head, deprel="dep"):
    """A word line (fields separated by spaces here, tabs in the text)."""
    return f"{i} w{i} _ NOUN _ _ {head} {deprel} _ _"


GOOD = _sentence(_w(1, 0, "root"), _w(2, 1), sent_id="ok")

BAD = {
    "empty sentence": (["# text = nothing here"], r"no words"),
    "only a range": (["1-2 al _ _ _ _ _ _ _ _"], r"no words"),
    "ids start at 2": ([_w(2, 0, "root")], r"not 1\.\.n in order: ID 2 where 1"),
    "id skipped": ([_w(1, 0, "root"), _w(3, 1)], r"not 1\.\.n in order: ID 3 where 2"),
    "id repeated": ([_w(1, 0, "root"), _w(1, 1)], r"not 1\.\.n in order: ID 1 where 2"),
    "id zero": ([_w(0, 0, "root")], r"not 1\.\.n in order: ID 0 where 1"),
    "id not a number": ([_w(1, 0, "root"), "x w _ NOUN _ _ 1 dep _ _"],
                        r"ID 'x' after word 1 is not a word number"),
    "id missing": ([_w(1, 0, "root"), "_ w _ NOUN _ _ 1 dep _ _"], r"ID _ after word 1"),
    "backwards range": (["2-1 al _ _ _ _ _ _ _ _", _w(1, 0, "root"), _w(2, 1)],
                        r"ID '2-1'"),
    "range not at next word": ([_w(1, 0, "root"), "1-2 al _ _ _ _ _ _ _ _", _w(2, 1)],
                               r"multiword token 1-2 does not start at the next word \(2\)"),
    "range past the end": ([_w(1, 0, "root"), "2-3 al _ _ _ _ _ _ _ _", _w(2, 1)],
                           r"multiword token 2-3 goes past the last word \(2\)"),
    "empty node misplaced": ([_w(1, 0, "root"), "2.1 w _ NOUN _ _ _ _ _ _", _w(2, 1)],
                             r"empty node 2\.1 does not follow word 2"),
    "head missing": ([_w(1, 0, "root"), _w(2, "_")], r"word 2 has HEAD _, not an integer in "
                                                     r"0\.\.2"),
    "head not a number": ([_w(1, 0, "root"), _w(2, "x")], r"word 2 has HEAD 'x'"),
    "head fractional": ([_w(1, 0, "root"), _w(2, "1.5")], r"word 2 has HEAD '1\.5'"),
    "head negative": ([_w(1, 0, "root"), _w(2, -1)], r"word 2 has HEAD -1, not an integer"),
    "head past the end": ([_w(1, 0, "root"), _w(2, 3)], r"word 2 has HEAD 3, not an integer "
                                                        r"in 0\.\.2"),
    "own head": ([_w(1, 0, "root"), _w(2, 2)], r"word 2 is its own head"),
    "no root": ([_w(1, 2), _w(2, 1)], r"no word is attached to the root"),
    "two roots": ([_w(1, 0, "root"), _w(2, 0, "root"), _w(3, 1)],
                  r"2 words \(1, 2\) are attached to the root"),
    "cycle": ([_w(1, 0, "root"), _w(2, 3), _w(3, 4), _w(4, 2)],
              r"words 2 -> 3 -> 4 -> 2 form a cycle"),
    "short line": ([_w(1, 0, "root"), "2 w2 _ NOUN _"], r"word 2 has no HEAD column"),
    "no tabs": ([_w(1, 0, "root"), "2"], r"not CoNLL-U"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sentences_raise_naming_the_sentence(case):
    lines, problem = BAD[case]
    text = GOOD + "\n" + _sentence(*lines) + "\n" + GOOD
    if case == "no tabs":           # conllu fails before it has read the sentence's comments
        pattern = r"^mytb: sentence 2: .*" + problem
    else:
        pattern = r"^mytb: sentence 2 \(sent_id 'bad'\): .*" + problem
    with pytest.raises(ValueError, match=pattern):
        tb.read_conllu(text, name="mytb")
    if case not in ("no tabs", "empty sentence"):
        with pytest.raises(ValueError, match=r"^source: sentence 1 \(no sent_id\): "):
            tb.read_conllu(_sentence(*lines, sent_id=""))
    assert len(tb.read_conllu(GOOD + "\n" + GOOD)) == 2


# ---- projectivity ----------------------------------------------------------------------------

def _crossing(head):
    """Brute force: some two arcs cross (root arcs are arcs from position 0)."""
    arcs = [(min(h, d), max(h, d)) for d, h in enumerate(np.asarray(head).tolist(), 1)]
    for a, b in arcs:
        for c, d in arcs:
            if a < c < b < d:          # c strictly inside (a, b), d strictly outside [a, b]
                return True
    return False


def _is_tree(head):
    head = np.asarray(head).tolist()
    n = len(head)
    for d in range(1, n + 1):
        v, steps = d, 0
        while v != 0:
            v, steps = head[v - 1], steps + 1
            if steps > n:
                return False
    return True


def _ancestors(head, d):
    out, v = [], head[d - 1]
    while v != 0:
        out.append(v)
        v = head[v - 1]
    return out + [0]


def _random_tree(rng, n, multi_root=False):
    """Random attachment in a random order: word perm[j] hangs from one of perm[:j] (or,
    with ``multi_root``, sometimes from the root)."""
    perm = rng.permutation(np.arange(1, n + 1))
    head = np.zeros(n, np.int64)
    for j in range(1, n):
        if multi_root and rng.random() < 0.2:
            continue
        head[perm[j] - 1] = perm[rng.integers(0, j)]
    return head


def _random_trees(seed, count=600):
    rng = np.random.default_rng(seed)
    return [_random_tree(rng, int(rng.integers(1, 13)), multi_root=bool(i % 3 == 2))
            for i in range(count)]


def test_is_projective_matches_crossing_arcs():
    trees = _random_trees(20240607)
    results = [tb.is_projective(h) for h in trees]
    assert results == [not _crossing(h) for h in trees]
    assert 100 < sum(results) < len(trees) - 100        # both kinds well represented
    # the definitions agree on every tree of 4 words (4^... over all head arrays)
    grid = np.stack(np.meshgrid(*[np.arange(5)] * 4, indexing="ij"), -1).reshape(-1, 4)
    checked = 0
    for h in grid:
        if _is_tree(h) and not (h == np.arange(1, 5)).any():
            checked += 1
            assert tb.is_projective(h) == (not _crossing(h)), h
    assert checked == 125                                 # (n + 1)^(n - 1) rooted trees


def test_is_projective_small_cases():
    assert tb.is_projective([]) and tb.is_projective(np.zeros(0, np.int32))
    assert tb.is_projective([0])
    assert tb.is_projective([2, 0, 2])
    assert not tb.is_projective([3, 0, 2])           # 3 -> 1 passes over 2, 3's head
    assert not tb.is_projective([0, 4, 1, 1])        # 4 -> 2 passes over 3, 4's sibling
    assert tb.is_projective(np.array([0, 1, 2], np.uint8))
    assert not tb.is_projective(np.array([3, 4, 0, 3], np.int32))   # 4 -> 2 over 3


def test_projectivize_random_trees():
    for h in _random_trees(7):
        before = h.copy()
        p = tb.projectivize(h)
        np.testing.assert_array_equal(h, before)             # input untouched
        assert p.dtype == np.int64 and p.shape == h.shape and p is not h
        assert _is_tree(p) and not _crossing(p) and tb.is_projective(p)
        if (h == 0).sum() == 1:     # the root word dominates every word: never lifted to 0
            assert (p == 0).sum() == 1 and p[h == 0][0] == 0
        for d in np.flatnonzero(p != h) + 1:               # lifted to one of its ancestors
            assert p[d - 1] in _ancestors(h, d)
        if not _crossing(h):
            np.testing.assert_array_equal(p, h)


def test_projectivize_hand_computed():
    # 4 -> 1 (span 3) and 2 -> 4 (span 2) are non-projective: the shorter is lifted first
    # (4 under 3), then 1 under 4's new head 3; lifting the longer first would give [2,3,0,3]
    np.testing.assert_array_equal(tb.projectivize([4, 3, 0, 2]), [3, 3, 0, 3])
    # a tie: 5 -> 2 and 1 -> 4 both span 3; the leftmost dependent (2) goes first, up to 4,
    # then (span 2) up to 1, then 4 under 3
    np.testing.assert_array_equal(tb.projectivize([3, 5, 0, 1, 4]), [3, 1, 0, 3, 4])
    np.testing.assert_array_equal(tb.projectivize([3, 0, 2]), [2, 0, 2])
    np.testing.assert_array_equal(tb.projectivize([0, 1, 2]), [0, 1, 2])
    assert tb.projectivize([]).shape == (0,)


@pytest.mark.parametrize("fn", [tb.is_projective, tb.projectivize])
def test_projectivity_bad_heads(fn):
    with pytest.raises(ValueError, match=r"head: expected a 1-D array \[n\], got shape \(2, 1\)"):
        fn(np.zeros((2, 1), np.int64))
    with pytest.raises(ValueError, match="head: expected a 1-D array"):
        fn(np.int64(0))
    with pytest.raises(TypeError, match="head: expected an integer array, got dtype float64"):
        fn([0.0, 1.0])
    with pytest.raises(TypeError, match="head: expected an integer array"):
        fn(np.array([False, True]))
    with pytest.raises(ValueError, match=r"head: word 2 \(head\[1\]\) has head 3, expected "
                                         r"0\.\.2"):
        fn([0, 3])
    with pytest.raises(ValueError, match=r"head: word 2 \(head\[1\]\) has head -1"):
        fn([0, -1])
    with pytest.raises(ValueError, match=r"head: word 2 \(head\[1\]\) is its own head"):
        fn([0, 2])
    with pytest.raises(ValueError, match=r"head: not a tree: words 2 -> 3 -> 2 form a cycle"):
        fn([0, 3, 2])
    with pytest.raises(ValueError, match=r"head: not a tree: words 1 -> 2 -> 1"):
        fn([2, 1])


def test_exports():
    import seqcore.datasets as ds
    for name in tb.__all__:
        assert name in ds.__all__ and getattr(ds, name) is getattr(tb, name)

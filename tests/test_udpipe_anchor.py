"""seqcore.bench_ops.udpipe_anchor: the UDPipe 1 anchor of the parser benchmark, on a tiny
model (60 training sentences, cheap options): trained once into a temporary cache and loaded
from it afterwards, trees of the input's lengths, gold tags kept with ``tag=False``, no gold
column reaching the tagger's or the parser's output, UDPipe's training errors and a missing
ufal.udpipe reported."""
from __future__ import annotations

import sys

import numpy as np
import pytest

udpipe = pytest.importorskip("ufal.udpipe", reason="ufal.udpipe is not installed "
                             "(pip install ufal.udpipe==1.4.0.1 or pip install 'seqcore[bench]')")
pytest.importorskip("conllu", reason="conllu is not installed (pip install conllu==6.0.0)")

from seqcore.bench_ops import udpipe_anchor as ua  # noqa: E402
from seqcore.datasets import DatasetError, Treebank, read_conllu, turkish_treebank  # noqa: E402

# Cheap options UDPipe accepts: one tagger iteration, a tiny one-iteration parser.
TAGGER = "iterations=1"
PARSER = ("iterations=1;hidden_layer=20;embedding_form=16;embedding_feats=8;"
          "embedding_upostag=8;embedding_deprel=8")


@pytest.fixture(scope="module")
def small():
    try:
        full = turkish_treebank()
    except DatasetError as err:
        pytest.skip(f"the Turkish treebanks are not available: {err}")
    return Treebank(full.train[:60], full.dev[:20], full.test[:40])


@pytest.fixture(scope="module")
def env(small, tmp_path_factory):
    """A temporary cache folder and the cheap options, for the whole module."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SEQCORE_DATA", str(tmp_path_factory.mktemp("seqcore_data")))
        mp.setattr(ua, "UDPIPE_TAGGER", TAGGER)
        mp.setattr(ua, "UDPIPE_PARSER", PARSER)
        yield mp


@pytest.fixture(scope="module")
def model(env, small):
    return ua.udpipe_model(small, progress=False)


def _is_tree(head):
    n = len(head)
    if not (np.all((head >= 0) & (head <= n)) and np.sum(head == 0) == 1):
        return False
    for i in range(1, n + 1):          # every word reaches the root within n steps
        j = i
        for _ in range(n + 1):
            j = int(head[j - 1])
            if j == 0:
                break
        if j != 0:
            return False
    return True


def test_trains_once_then_loads_from_the_cache(env, small, model, monkeypatch):
    path = ua.udpipe_model_path(small)
    assert path.parent.name == "udpipe" and path.name.startswith("turkish-")
    assert path.suffix == ".udpipe" and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]      # no temporary left
    mtime = path.stat().st_mtime_ns

    class NoTraining:
        """ufal.udpipe whose Trainer fails (the SWIG class itself is read-only)."""
        class Trainer:
            @staticmethod
            def train(*args, **kwargs):
                raise AssertionError("the cached model was trained again")

        def __getattr__(self, name):
            return getattr(udpipe, name)

    monkeypatch.setattr(ua, "_udpipe", NoTraining)
    again = ua.udpipe_model(small)
    assert path.stat().st_mtime_ns == mtime
    preds, _ = ua.udpipe_parse(again, small.test[:5])      # loaded and usable
    assert len(preds) == 5 and all(_is_tree(h) for _, h, _ in preds)
    path.unlink()                                          # gone: it would train
    with pytest.raises(AssertionError, match="trained again"):
        ua.udpipe_model(small, progress=False)
    assert not path.exists()


def test_cache_key_follows_options_and_data(env, small, model, monkeypatch):
    path = ua.udpipe_model_path(small)
    monkeypatch.setattr(ua, "UDPIPE_TAGGER", "iterations=2")
    assert ua.udpipe_model_path(small) != path
    monkeypatch.setattr(ua, "UDPIPE_TAGGER", TAGGER)
    assert ua.udpipe_model_path(small) == path
    other = Treebank(small.train[:59], small.dev, small.test)
    assert ua.udpipe_model_path(other) != path
    monkeypatch.setattr(udpipe, "__version__", "0.0.0")
    assert ua.udpipe_model_path(small) != path


@pytest.mark.parametrize("tag", [True, False])
def test_predictions_are_trees_of_the_input_lengths(model, small, tag):
    preds, seconds = ua.udpipe_parse(model, small.test, tag=tag)
    assert seconds > 0
    assert len(preds) == len(small.test)
    for s, (upos, head, deprel) in zip(small.test, preds):
        n = len(s.form)
        assert len(upos) == len(deprel) == n
        assert head.dtype == np.int64 and head.shape == (n,)
        assert _is_tree(head)
        assert all(isinstance(x, str) and x not in ("", "_") for x in deprel)


def test_gold_tags_are_kept_without_the_tagger(model, small):
    preds, _ = ua.udpipe_parse(model, small.test, tag=False)
    assert [p[0] for p in preds] == [list(s.upos) for s in small.test]
    tagged, _ = ua.udpipe_parse(model, small.test, tag=True)
    # the one-iteration tagger gets some tags wrong: it did tag
    assert [p[0] for p in tagged] != [list(s.upos) for s in small.test]


def _blanked(sentences, columns):
    """The sentences with the given CoNLL-U columns (0-based) set to ``_``."""
    out = []
    for line in "".join(s.tokens.serialize() for s in sentences).split("\n"):
        cols = line.split("\t")
        if len(cols) == 10:
            for c in columns:
                cols[c] = "_"
            if 6 in columns:     # read_conllu needs a tree: a chain to word 1
                cols[6] = "0" if cols[0] == "1" else "1"
        out.append("\t".join(cols))
    return read_conllu("\n".join(out))


def test_no_gold_column_leaks(model, small):
    text = ua._input_text(small.test)
    for line in text.splitlines():
        if line and not line.startswith("#"):
            cols = line.split("\t")
            assert cols[6] == cols[7] == cols[8] == "_"
    # the tagger overwrites LEMMA/UPOS/XPOS/FEATS: the same output without them in the input
    tagged, _ = ua.udpipe_parse(model, small.test, tag=True)
    blind, _ = ua.udpipe_parse(model, _blanked(small.test, (2, 3, 4, 5)), tag=True)
    for (u1, h1, d1), (u2, h2, d2) in zip(tagged, blind):
        assert u1 == u2 and d1 == d2
        np.testing.assert_array_equal(h1, h2)
    # and the parser's output does not depend on the gold HEAD / DEPREL
    other, _ = ua.udpipe_parse(model, _blanked(small.test, (6, 7)), tag=False)
    gold, _ = ua.udpipe_parse(model, small.test, tag=False)
    for (_, h1, d1), (_, h2, d2) in zip(gold, other):
        assert d1 == d2
        np.testing.assert_array_equal(h1, h2)


def test_scores(model, small):
    s = ua.udpipe_scores(model, small.test)
    words = sum(len(x.form) for x in small.test)
    assert s["words"] == words and s["sentences"] == len(small.test)
    for k in ("upos", "uas", "las", "uas_gold_tags", "las_gold_tags"):
        assert 0 <= s[k] <= 100
    assert s["las"] <= s["uas"] and s["las_gold_tags"] <= s["uas_gold_tags"]
    assert s["upos"] > 30                                  # better than chance on 14 tags
    assert s["tokens_per_s_parse"] == pytest.approx(words / s["seconds_parse"])
    assert s["tokens_per_s_tag_parse"] == pytest.approx(words / s["seconds_tag_parse"])
    with pytest.raises(ValueError, match="no sentences"):
        ua.udpipe_scores(model, [])


def test_training_error_is_raised_and_nothing_cached(env, small, model, monkeypatch):
    monkeypatch.setattr(ua, "UDPIPE_TAGGER", "iterations=1;order=7")
    path = ua.udpipe_model_path(small)
    with pytest.raises(RuntimeError, match="UDPipe training failed: .*tagger_order"):
        ua.udpipe_model(small, progress=False)
    assert not path.exists()
    assert not list(path.parent.glob("*.tmp"))


def test_options_recorded():
    assert (ua.UDPIPE_METHOD, ua.UDPIPE_TOKENIZER) == ("morphodita_parsito", "none")
    opts = ua.udpipe_options()
    assert opts["version"] == udpipe.__version__
    assert set(opts) == {"method", "tokenizer", "tagger", "parser", "version"}


def test_missing_udpipe_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "ufal.udpipe", None)
    with pytest.raises(ImportError, match=r"pip install ufal\.udpipe==1\.4\.0\.1"):
        ua.udpipe_options()

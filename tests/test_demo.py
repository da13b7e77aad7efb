"""The character-level LSTM language model demo (seqcore.demo.charlm)."""
import argparse
import math

import numpy as np
import pytest

from seqcore.demo import charlm


def _args(*argv):
    parser = argparse.ArgumentParser()
    charlm.add_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture(scope="module")
def quick():
    return charlm.run(_args("--quick", "--no-progress"))


def test_quick_run_learns(quick):
    history, V = quick["history"], quick["vocab_size"]
    assert [h["epoch"] for h in history] == list(range(len(history)))
    assert len(history) >= 2 and history[0]["train_ppl"] is None
    start, end = history[0]["val_ppl"], history[-1]["val_ppl"]
    assert 0.5 * V < start < 2 * V  # an untrained model is close to uniform
    assert end < 0.5 * start and end < V / 4
    train = [h["train_ppl"] for h in history[1:]]
    assert all(math.isfinite(p) and p > 1 for p in train)
    assert train[-1] < train[0]


def test_quick_run_samples_requested_length(quick):
    text, _ = charlm.load_corpus(max_chars=quick["config"]["max_chars"])
    assert isinstance(quick["sample"], str)
    assert len(quick["sample"]) == quick["config"]["sample_length"]
    assert set(quick["sample"]) <= set(text)


def test_sample_length_determinism_and_errors():
    _, vocab = charlm.encode("hello world")
    model = charlm.CharLM(len(vocab), hidden=8, embed=4, seed=0)
    a = charlm.sample(model, vocab, 25, temperature=0.5, seed_text="hex?", rng=1)
    assert len(a) == 25 and set(a) <= set(vocab)
    assert charlm.sample(model, vocab, 25, temperature=0.5, seed_text="hex?", rng=1) == a
    assert charlm.sample(model, vocab, 0, seed_text="") == ""
    with pytest.raises(ValueError, match="temperature"):
        charlm.sample(model, vocab, 5, temperature=0.0)


@pytest.mark.parametrize("embed", [3, 0])
def test_model_gradients_finite_differences(embed):
    # The NumPy parts (embedding or one-hot input, output layer, softmax cross-entropy)
    # around the LSTM, in float64.
    rng = np.random.default_rng(0)
    V, T, N = 7, 4, 3
    model = charlm.CharLM(V, hidden=5, layers=2, embed=embed, seed=1, dtype=np.float64)
    ids, targets = rng.integers(0, V, (T, N)), rng.integers(0, V, (T, N))
    state = tuple(0.3 * rng.standard_normal((2, N, 5)) for _ in range(2))
    nll, count, grads, _ = model.loss_and_grads(ids, targets, state)
    assert count == T * N and list(grads) == list(model.params)
    eps = 1e-6
    for name, p in model.params.items():
        for flat in rng.choice(p.size, size=min(3, p.size), replace=False):
            idx = np.unravel_index(flat, p.shape)
            if name == "embedding":  # only rows that were looked up have a gradient
                idx = (ids.ravel()[flat % ids.size],) + idx[1:]
            old = p[idx]
            p[idx] = old + eps
            up = model.loss_and_grads(ids, targets, state)[0]
            p[idx] = old - eps
            down = model.loss_and_grads(ids, targets, state)[0]
            p[idx] = old
            numeric = (up - down) / (2 * eps) / count
            np.testing.assert_allclose(grads[name][idx], numeric, rtol=1e-5, atol=1e-8,
                                       err_msg=f"{name}{idx}")


def test_one_hot_sgd_run_on_a_text_file(tmp_path):
    path = tmp_path / "tiny.txt"
    path.write_text("the cat sat on the mat. " * 40, encoding="utf-8")
    result = charlm.run(_args("--text", str(path), "--embed", "0", "--optimizer", "sgd",
                              "--hidden", "16", "--epochs", "2", "--batch", "4",
                              "--seq-len", "8", "--sample-length", "12", "--no-progress"))
    assert result["corpus"] == str(path) and result["vocab_size"] == len(set(path.read_text()))
    assert result["history"][-1]["val_ppl"] < result["history"][0]["val_ppl"]
    assert len(result["sample"]) == 12


def test_defaults_quick_overrides_and_bad_options():
    full = charlm._resolve(_args())
    assert (full.hidden, full.seq_len, full.batch, full.max_chars) == (256, 64, 32, 0)
    quick = charlm._resolve(_args("--quick", "--hidden", "48"))
    assert quick.hidden == 48 and quick.max_chars > 0 and quick.lr == 1e-2
    assert charlm._resolve(_args("--optimizer", "sgd")).lr == 1.0
    with pytest.raises(ValueError, match="--seq-len"):
        charlm._resolve(_args("--seq-len", "0"))
    with pytest.raises(ValueError, match="--temperature"):
        charlm._resolve(_args("--temperature", "0"))


def test_corpus_and_encoding():
    text, source = charlm.load_corpus(max_chars=2000)
    assert len(text) == 2000 and source
    ids, vocab = charlm.encode(text)
    assert vocab == sorted(set(text)) and ids.dtype == np.int64
    assert "".join(vocab[i] for i in ids) == text

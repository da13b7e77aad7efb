"""The trigger-word model (seqcore.models.TriggerWordDetector): the same network written with
torch.nn gives the same logits, loss, gradients and running statistics; finite differences;
streaming equals the offline pass; detection rules; bad input; the demo's quick run.

Tolerances: float64 model against torch float64: 1e-10 (the same sums in other orders, through
a few layers). Streaming against offline: float32 probabilities agree to 2e-7 (measured 6e-8,
one unit in the last place of a probability; the conv outputs are bit-identical by
construction, the GRU's and the dense layer's products may round differently by row count).
"""
from __future__ import annotations

import argparse

import numpy as np
import pytest

from conftest import fd_pairs  # noqa: E402  (tests/ is on sys.path)
from seqcore.models import TriggerWordDetector, detect, detection_errors
from seqcore.output_layers import binary_cross_entropy_with_logits

SMALL = dict(n_freq=7, conv_channels=5, kernel_size=3, stride=2, hidden_size=4)


def _small(dtype=np.float64, dropout=0.0, seed=0):
    return TriggerWordDetector(**SMALL, dropout=dropout, seed=seed, dtype=dtype)


def test_matches_torch_training_step(rng):
    torch = pytest.importorskip("torch")
    from seqcore.demo.trigger import torch_model
    model = _small()
    tm = torch_model(model).train()
    x = rng.standard_normal((3, 31, 7))
    y = (rng.random((3, 15)) < 0.3).astype(np.float64)
    loss, grads = model.loss_and_grads(x, y)
    z = tm(torch.tensor(x))
    lt = torch.nn.functional.binary_cross_entropy_with_logits(z, torch.tensor(y))
    lt.backward()
    np.testing.assert_allclose(loss, lt.item(), rtol=1e-10)
    named = dict(tm.named_parameters())
    assert list(grads) == list(model.params)
    for name, g in grads.items():
        np.testing.assert_allclose(g, named[name].grad.numpy(), rtol=1e-8, atol=1e-10,
                                   err_msg=name)
    sd = tm.state_dict()
    for name, buf in model.buffers.items():   # running averages after one training batch
        np.testing.assert_allclose(buf, sd[name].numpy(), rtol=1e-10, err_msg=name)
    tm.eval()
    np.testing.assert_allclose(model.logits(x), tm(torch.tensor(x)).detach().numpy(),
                               rtol=1e-9, atol=1e-10)


def test_gradients_finite_differences(rng):
    """(A training forward normalises with the batch's statistics: the running averages it
    updates do not enter the loss.)"""
    model = _small()
    x = rng.standard_normal((2, 25, 7))
    y = (rng.random((2, 12)) < 0.3).astype(np.float64)
    _, grads = model.loss_and_grads(x, y)

    def loss():
        return float(binary_cross_entropy_with_logits(model.forward(x)[0], y).loss)
    names = ["conv.weight", "conv.bias", "bn0.bias", "gru1.weight_hh_l0", "bn1.weight",
             "gru2.bias_ih_l0", "bn2.weight", "dense.weight", "dense.bias"]
    num, ana = fd_pairs(loss, [model.params[n] for n in names], [grads[n] for n in names],
                        rng, n=4)
    assert np.abs(num).max() > 0
    np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-9)


def test_state_dict_round_trip_and_errors(rng):
    a, b = _small(seed=1), _small(seed=2)
    assert not np.array_equal(a.params["conv.weight"], b.params["conv.weight"])
    b.load_state_dict(a.state_dict())
    x = rng.standard_normal((2, 20, 7))
    np.testing.assert_array_equal(a.logits(x), b.logits(x))
    bad = a.state_dict()
    bad["conv.weight"] = np.zeros((1, 1, 1))
    with pytest.raises(ValueError, match="conv.weight"):
        b.load_state_dict(bad)


def test_streaming_equals_offline(rng):
    """Audio fed in chunks (one hop, 50 hops, one odd multiple, all at once) gives the
    offline model's probabilities on the whole audio's spectrogram."""
    from seqcore.datasets.speech import spectrogram
    model = TriggerWordDetector(hidden_size=16, conv_channels=24, seed=0, dtype=np.float32)
    for name, buf in model.buffers.items():        # a trained model's statistics
        buf[...] = rng.uniform(0.5, 1.5, buf.shape) if "var" in name else \
            rng.normal(0, 0.3, buf.shape)
    audio = (rng.standard_normal(80 * 700) * 0.1).astype(np.float32)
    audio[20000:24000] += np.sin(np.arange(4000) * 0.3).astype(np.float32)
    offline = model.predict(spectrogram(audio))
    for chunk in (80, 4000, 80 * 37, len(audio)):
        s = model.stream(threshold=0.0)
        for i in range(0, len(audio), chunk):
            s.feed(audio[i:i + chunk])
        p = s.probabilities
        assert len(p) == len(offline) == (len(audio) // 80 - 2 - 15) // 4 + 1
        np.testing.assert_allclose(p, offline, rtol=0, atol=2e-7)
    s.reset()
    assert len(s.probabilities) == 0


def _streamable():
    return TriggerWordDetector(**{**SMALL, "n_freq": 101}, dtype=np.float32, seed=0)


def test_stream_detections_have_timestamps(rng):
    model = _streamable()
    model.params["dense.bias"][...] = 100.0        # every step above any threshold
    s = model.stream(threshold=0.5, refractory=10)
    found = []
    for i in range(8):
        found += s.feed(rng.standard_normal(800).astype(np.float32))
    steps = [d.step for d in found]
    assert steps == list(range(0, len(s.probabilities), 10))
    for d in found:
        assert d.time == pytest.approx(d.step * 2 * 80 / 44100) and d.probability == 1.0


@pytest.mark.parametrize("chunk, sample_rate, exc, match", [
    (np.zeros(800, np.float32), 16000, ValueError, "sample_rate"),
    (np.zeros(0, np.float32), 44100, ValueError, "chunk"),
    (np.zeros(100, np.float32), 44100, ValueError, "multiple of 80"),
    (np.zeros((2, 80), np.float32), 44100, ValueError, "1-D"),
    (np.full(80, np.nan, np.float32), 44100, ValueError, "NaN"),
    (np.zeros(80, np.int16), 44100, TypeError, "float"),
])
def test_stream_bad_input(chunk, sample_rate, exc, match):
    s = _streamable().stream()
    with pytest.raises(exc, match=match):
        s.feed(chunk, sample_rate=sample_rate)


def test_detect_refractory_and_errors():
    p = np.zeros(300)
    p[[10, 11, 50, 200, 201]] = 0.9
    steps, last = detect(p, 0.5, refractory=75)
    assert steps == [10, 200] and last == 200
    more, last = detect(np.full(5, 0.9), 0.5, 75, start=250, last=last)   # a later piece
    assert more == [] and last == 200
    assert detect(np.full(10, 0.9), 0.5, 75, start=270, last=200)[0] == [275]
    assert detect(p, 0.95)[0] == []
    assert detect(p, 0.5, refractory=0)[0] == [10, 11, 50, 200, 201]
    assert detect(p, 0.5, refractory=40, last=-25)[0] == [50, 200]   # 10, 11 too soon
    with pytest.raises(ValueError, match="refractory"):
        detect(p, 0.5, refractory=-1)
    # triggers ending at 5 and 180: 10 is a hit, 200 a hit, 260 a false accept
    assert detection_errors([10, 200, 260], [5, 180]) == (0, 1)
    assert detection_errors([], [5]) == (1, 0)
    assert detection_errors([10], [5, 7]) == (1, 0)   # one detection finds one trigger


def test_predict_shapes_and_bad_input(rng):
    model = _small(dtype=np.float32)
    x = rng.standard_normal((2, 25, 7)).astype(np.float32)
    p = model.predict(x)
    assert p.shape == (2, 12) and ((0 <= p) & (p <= 1)).all()
    np.testing.assert_array_equal(model.predict(x[1]), p[1])
    with pytest.raises(ValueError, match=r"spectrograms: expected shape \[N, Tx, F\]"):
        model.predict(np.zeros((2, 25, 6)))
    with pytest.raises(ValueError, match="at least 3 frames"):
        model.predict(np.zeros((1, 2, 7)))
    with pytest.raises(TypeError, match="spectrograms"):
        model.predict(np.zeros((1, 9, 7), np.int64))
    with pytest.raises(ValueError, match="labels"):
        model.loss_and_grads(x, np.zeros((2, 11)))
    with pytest.raises(ValueError, match="n_freq=7"):
        model.stream()
    with pytest.raises(ValueError, match="dropout"):
        TriggerWordDetector(dropout=1.0)
    with pytest.raises(ValueError, match="hidden_size"):
        TriggerWordDetector(hidden_size=0)


def test_fit_learns_and_restores_the_best(rng):
    """A learnable toy task (the label is 1 where the first bin was high a few frames
    before): the training loss falls and fit keeps the weights of the best dev loss."""
    from types import SimpleNamespace
    x = rng.standard_normal((24, 41, 7)).astype(np.float32)
    y = (x[:, 1:40:2, 0] > 0.5).astype(np.float32)       # step t sees frames 2t .. 2t+2
    data = SimpleNamespace(spectrograms=x, labels=y)
    model = _small(dtype=np.float32, seed=3)
    history = model.fit(data, data, epochs=6, batch_size=8, lr=1e-2, progress=False)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    best = min(h["dev_loss"] for h in history)
    assert model.loss(x, y) == pytest.approx(best, rel=1e-6)


def test_fit_lr_decay(rng):
    """Epoch e runs at lr * lr_decay ** max(0, e - decay_after): with a vanishing decay after
    epoch 1, epoch 2 leaves epoch 1's weights (Adam's step scales with the rate), while
    without it they move on."""
    from types import SimpleNamespace
    x = rng.standard_normal((16, 41, 7)).astype(np.float32)
    data = SimpleNamespace(spectrograms=x, labels=(x[:, 1:40:2, 0] > 0.5).astype(np.float32))

    def weights(epochs, **kw):
        model = _small(dtype=np.float32, seed=3)
        history = model.fit(data, epochs=epochs, batch_size=8, lr=1e-2, patience=5,
                            progress=False, **kw)
        return model.params["gru1.weight_hh_l0"].copy(), [h["lr"] for h in history]

    w1, _ = weights(1)
    w2, lrs = weights(2, lr_decay=1e-9, decay_after=1)
    assert lrs == [1e-2, pytest.approx(1e-11)]
    np.testing.assert_allclose(w2, w1, rtol=0, atol=1e-7)
    w2_flat, _ = weights(2)
    assert np.abs(w2_flat - w1).max() > 1e-3
    for bad in ({"lr_decay": 0.0}, {"lr_decay": 1.5}, {"decay_after": -1}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            _small(seed=3).fit(data, epochs=1, progress=False, **bad)


def test_demo_quick_run(tmp_path):
    pytest.importorskip("espeakng_loader")
    from seqcore.demo import trigger
    parser = argparse.ArgumentParser()
    trigger.add_arguments(parser)
    args = parser.parse_args(["--quick", "--no-progress", "--plot", str(tmp_path / "t.png"),
                              "--wav", str(tmp_path / "t.wav"), "--save",
                              str(tmp_path / "m.npz")])
    res = trigger.run(args)
    assert res["triggers"] > 0 and 0 <= res["miss_rate"] <= 1 and res["fa_per_hour"] >= 0
    assert 0 <= res["false_accepts_stream"] <= res["false_accepts"]
    assert len(res["roc"]) > 10 and (tmp_path / "t.wav").stat().st_size > 800_000
    saved = TriggerWordDetector(seed=1)
    saved.load_state_dict(np.load(tmp_path / "m.npz"))     # the trained weights come back
    assert saved.num_parameters() == 522_425

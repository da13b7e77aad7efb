"""Side-by-side runs (seqcore._parallel): the two directions of a bidirectional layer run
from two threads, each on its share of the threads. Results must be bit-identical to the
directions run one after the other (the kernels are thread-count invariant)."""
import threading

import numpy as np
import pytest

import seqcore
from seqcore import _core, _parallel


@pytest.fixture
def two_threads(monkeypatch):
    saved = seqcore.get_num_threads()
    seqcore.set_num_threads(2)
    yield
    seqcore.set_num_threads(saved)


def test_thread_share_is_per_thread(two_threads):
    seen = {}

    def worker():
        _core._set_thread_share(1)
        seen["worker"] = seqcore.get_num_threads()
        _core._set_thread_share(0)
        seen["worker after"] = seqcore.get_num_threads()

    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen == {"worker": 1, "worker after": 2}
    assert seqcore.get_num_threads() == 2
    with pytest.raises(ValueError, match="n must be >= 0"):
        _core._set_thread_share(-1)


def test_side_by_side_order_threads_and_errors(two_threads, monkeypatch):
    idents = []

    def call(v):
        idents.append((v, threading.get_ident(), seqcore.get_num_threads()))
        return v

    assert _parallel.side_by_side([lambda: call(1), lambda: call(2)]) == [1, 2]
    by_value = {v: (ident, n) for v, ident, n in idents}
    assert by_value[1][0] == threading.get_ident() != by_value[2][0]
    assert by_value[1][1] == by_value[2][1] == 1          # each its share of 2 threads
    assert seqcore.get_num_threads() == 2                 # restored in this thread

    idents.clear()                                        # small work: one after the other
    assert _parallel.side_by_side([lambda: call(3), lambda: call(4)], flops_each=1.0) == [3, 4]
    assert {ident for _, ident, _ in idents} == {threading.get_ident()}
    assert all(n == 2 for _, _, n in idents)

    def fail():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        _parallel.side_by_side([lambda: 1, fail])
    with pytest.raises(RuntimeError, match="boom"):
        _parallel.side_by_side([fail, lambda: 1])


@pytest.mark.parametrize("cls", ["LSTM", "GRU", "RNN"])
def test_bidirectional_layer_side_by_side_bit_identical(two_threads, monkeypatch, cls):
    rng = np.random.default_rng(0)
    T, N, I, H = 12, 9, 20, 24
    x = rng.standard_normal((T, N, I), dtype=np.float32)
    lengths = rng.integers(1, T + 1, N)
    dy = rng.standard_normal((T, N, 2 * H), dtype=np.float32)
    layer = getattr(seqcore, cls)(I, H, num_layers=2, bidirectional=True, seed=3)

    def run(min_flops):
        monkeypatch.setattr(_parallel, "MIN_FLOPS", min_flops)
        y, state, cache = layer.forward(x, lengths=lengths)
        dx, dstate, grads = layer.backward(cache, dy)
        return y, state, dx, dstate, grads

    seq, par = run(float("inf")), run(0.0)
    for a, b in zip(seq[:4], par[:4]):
        for u, v in zip(a if isinstance(a, tuple) else (a,), b if isinstance(b, tuple) else (b,)):
            np.testing.assert_array_equal(u, v)
    assert seq[4].keys() == par[4].keys()
    for name in seq[4]:
        np.testing.assert_array_equal(seq[4][name], par[4][name])


def test_torch_bilstm_side_by_side_bit_identical(two_threads, monkeypatch):
    torch = pytest.importorskip("torch")
    import seqcore.torch as st

    torch.manual_seed(0)
    lstm = st.LSTM(10, 16, num_layers=2, bidirectional=True, batch_first=True)
    x = torch.randn(5, 7, 10)

    def run(min_flops):
        monkeypatch.setattr(_parallel, "MIN_FLOPS", min_flops)
        xi = x.clone().requires_grad_(True)
        lstm.zero_grad(set_to_none=True)
        out, (h, c) = lstm(xi)
        (out.square().sum() + h.sum() + 2 * c.sum()).backward()
        return [out, h, c, xi.grad] + [p.grad for p in lstm.parameters()]

    for a, b in zip(run(float("inf")), run(0.0)):
        assert torch.equal(a, b)

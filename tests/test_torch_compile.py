"""seqcore.torch under torch.compile: the custom operators pass torch.library.opcheck
(schema, autograd registration, fake tensors, AOT dispatch with dynamic shapes), and models
built from seqcore.torch modules compile with fullgraph=True and give eager's loss and
gradients."""
from __future__ import annotations

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("seqcore.torch")
from seqcore.torch import _ops  # noqa: E402

from conftest import _sanitized  # noqa: E402

# inductor compiles C++ with g++ and loads it: under the sanitizer job's preloaded ASan
# runtime that would instrument the compiler's processes, not seqcore
not_under_asan = pytest.mark.skipif(_sanitized(), reason="inductor's C++ toolchain under "
                                                         "a preloaded ASan runtime")


def _t(rng, *shape, requires_grad=True, dtype=torch.float32):
    return torch.tensor(rng.standard_normal(shape), dtype=dtype, requires_grad=requires_grad)


PASSED = {"test_schema": "SUCCESS", "test_autograd_registration": "SUCCESS",
          "test_faketensor": "SUCCESS", "test_aot_dispatch_dynamic": "SUCCESS"}


def _opcheck(op, args):
    """torch.library.opcheck's verdict per test (schema, autograd registration, fake tensors,
    AOT dispatch with dynamic shapes)."""
    return torch.library.opcheck(op, args)


# ---- opcheck on every operator -----------------------------------------------------------

@pytest.mark.parametrize("cell,D,with_lengths", [("lstm", 2, False), ("gru", 1, True),
                                                 ("rnn", 2, True), ("lstm", 1, True)])
def test_opcheck_rnn_layer(rng, cell, D, with_lengths):
    T, N, I, H = 5, 3, 4, 6
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    per_dir = []
    for _ in range(D):
        per_dir += [_t(rng, N, H), _t(rng, N, H) if cell == "lstm" else None,
                    _t(rng, G * H, I), _t(rng, G * H, H), _t(rng, G * H), _t(rng, G * H)]
    lengths = torch.tensor([5, 2, 4]) if with_lengths else None
    training = (cell, False, True, "tanh", lengths, _t(rng, T, N, I),
                _ops.placeholders(per_dir), True)
    assert _opcheck(_ops.rnn_layer, training) == PASSED
    inference = (cell, D == 1, True, "tanh", lengths, _t(rng, T, N, I, requires_grad=False),
                 _ops.placeholders([p if p is None else p.detach() for p in per_dir]), False)
    assert _opcheck(_ops.rnn_layer, inference) == PASSED


@pytest.mark.parametrize("causal,masked", [(False, False), (True, False), (False, True)])
def test_opcheck_sdpa(rng, causal, masked):
    q, k, v = _t(rng, 2, 3, 5, 4), _t(rng, 2, 3, 6, 4), _t(rng, 2, 3, 6, 4)
    mask = torch.tensor(rng.random((1, 1, 5, 6)) > 0.3) if masked else None
    if masked:
        mask[..., 0] = True   # every query attends to something
    assert _opcheck(_ops.sdpa, (q, k, v, mask, causal, None if causal else 0.4, True)) == PASSED


@pytest.mark.parametrize("with_lengths", [False, True])
def test_opcheck_mha(rng, with_lengths):
    L, S, N, E, h = 4, 5, 2, 8, 2
    lengths = torch.tensor([5, 3]) if with_lengths else None
    args = (_t(rng, L, N, E), _t(rng, S, N, E), _t(rng, S, N, E), _t(rng, 3 * E, E),
            _t(rng, 3 * E), _t(rng, E, E), _t(rng, E), h, None, False, lengths, True)
    assert _opcheck(_ops.mha, args) == PASSED


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_opcheck_losses(rng, reduction):
    logits = _t(rng, 6, 5)
    target = torch.tensor([0, 4, 1, -100, 2, 2])
    assert _opcheck(_ops.cross_entropy, (logits, target, reduction, -100, 0.1)) == PASSED
    T, N, C = 8, 2, 5
    x = _t(rng, T, N, C)
    args = (torch.tensor([[1, 2, 3], [4, 4, 0]]), torch.tensor([8, 6]), torch.tensor([3, 2]),
            0, reduction, False)
    assert _opcheck(_ops.ctc_loss, (x, *args, True)) == PASSED
    log_probs = torch.log_softmax(x.detach(), -1).requires_grad_()
    assert _opcheck(_ops.ctc_loss, (log_probs, *args, False)) == PASSED


# ---- whole models, fullgraph --------------------------------------------------------------

class Tagger(torch.nn.Module):
    """A 2-layer bidirectional LSTM tagger: embedding, seqcore LSTM, linear, seqcore CE."""

    def __init__(self, V=50, E=16, H=24, C=7):
        super().__init__()
        self.emb = torch.nn.Embedding(V, E)
        self.lstm = st.LSTM(E, H, num_layers=2, bidirectional=True, batch_first=True)
        self.out = torch.nn.Linear(2 * H, C)

    def forward(self, ids, tags):
        h, _ = self.lstm(self.emb(ids))
        logits = self.out(h)
        return st.cross_entropy(logits.reshape(-1, logits.shape[-1]), tags.reshape(-1))


def _eager_vs_compiled(model, args, backend="inductor", atol=1e-6):
    """One forward and backward of ``model`` compiled (fullgraph) and eager, from the same
    weights: {"loss": |loss difference|, "grad": the largest gradient error relative to the
    tolerance, "stats": the operators' cache hits / recomputations}."""
    compiled_model = copy.deepcopy(model)
    compiled = torch.compile(compiled_model, fullgraph=True, backend=backend)
    before = dict(_ops.STATS)
    got = compiled(*args)
    got.backward()
    want = model(*args)
    want.backward()
    # each gradient's largest error in units of atol + 1e-5 |eager| (<= 1: within tolerance)
    grad_err = max(float(((q.grad - p.grad).abs() / (atol + 1e-5 * p.grad.abs())).max())
                   for p, q in zip(model.parameters(), compiled_model.parameters()))
    return {"loss": float((got - want).abs()), "grad": grad_err,
            "stats": {k: _ops.STATS[k] - before[k] for k in before}}


@not_under_asan
def test_bilstm_tagger_compiles_fullgraph_and_equals_eager():
    torch.manual_seed(0)
    model = Tagger()
    ids, tags = torch.randint(0, 50, (4, 9)), torch.randint(0, 7, (4, 9))
    out = _eager_vs_compiled(model, (ids, tags))
    assert out["loss"] <= 1e-6 and out["grad"] <= 1, out
    stats = out["stats"]
    # the compiled backward found the forward's saved activations (no recomputation)
    assert stats == {"cached": 2, "recomputed": 0}
    # a second step reuses the compiled graph (no recompilation error under fullgraph)
    compiled = torch.compile(copy.deepcopy(model), fullgraph=True, backend="aot_eager")
    for _ in range(2):
        compiled(ids, tags).backward()
    assert not _ops._CTXS  # every ctx was taken by its backward


@pytest.mark.parametrize("cls,kw", [(st.GRU, dict(linear_before_reset=False)),
                                    (st.RNN, dict(nonlinearity="relu"))])
def test_gru_and_rnn_compile(cls, kw):
    torch.manual_seed(1)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = cls(5, 7, num_layers=2, bidirectional=True, **kw)

        def forward(self, x):
            y, h = self.rnn(x)
            return (y ** 2).sum() + h.sum()

    out = _eager_vs_compiled(Model(), (torch.randn(6, 3, 5),), backend="aot_eager", atol=1e-5)
    assert out["loss"] <= 1e-5 and out["grad"] <= 1, out


def test_attention_and_ctc_compile():
    torch.manual_seed(2)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.mha = st.MultiheadAttention(8, 2, batch_first=True)
            self.proj = torch.nn.Linear(8, 5)

        def forward(self, x, targets, in_lens, tgt_lens):
            a, _ = self.mha(x, x, x, need_weights=False)
            b = st.scaled_dot_product_attention(a[:, None], a[:, None], a[:, None],
                                                is_causal=True)[:, 0]
            logits = self.proj(a + b).transpose(0, 1)       # [T, N, C]
            return st.ctc_loss_from_logits(logits, targets, in_lens, tgt_lens)

    x = torch.randn(2, 7, 8)
    args = (x, torch.tensor([[1, 2, 3], [4, 4, 0]]), torch.tensor([7, 6]), torch.tensor([3, 2]))
    out = _eager_vs_compiled(Model(), args, backend="aot_eager", atol=1e-5)
    assert out["loss"] <= 1e-5 and out["grad"] <= 1, out


def test_modules_are_rnnbase_not_torch_lstm():
    # Dynamo refuses instances of torch.nn.LSTM/GRU/RNN; seqcore's modules are RNNBase with
    # torch's constructor, parameters and state dict
    for ours, theirs, kw in ((st.LSTM, torch.nn.LSTM, {}), (st.GRU, torch.nn.GRU, {}),
                             (st.RNN, torch.nn.RNN, {"nonlinearity": "relu"})):
        torch.manual_seed(3)
        a = ours(4, 6, 2, bidirectional=True, **kw)
        torch.manual_seed(3)
        b = theirs(4, 6, 2, bidirectional=True, **kw)
        assert isinstance(a, torch.nn.RNNBase) and not isinstance(a, theirs)
        assert a.state_dict().keys() == b.state_dict().keys()
        for k in b.state_dict():
            torch.testing.assert_close(a.state_dict()[k], b.state_dict()[k], rtol=0, atol=0)
        assert repr(a).split("(", 1)[1] == repr(b).split("(", 1)[1]
    assert st.RNN(3, 4, 1, "relu").nonlinearity == "relu"
    with pytest.raises(ValueError, match="nonlinearity"):
        st.RNN(3, 4, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="proj_size"):
        st.GRU(3, 4, proj_size=2)


def test_opcheck_sparse_output_layers(rng):
    counts = np.arange(1, 13)
    ns = st.NegativeSamplingLoss(counts, 4, num_negatives=3, seed=1)
    hs = st.HierarchicalSoftmax(counts, 4)
    w = torch.tensor(rng.standard_normal((12, 4)) * 0.1, dtype=torch.float32,
                     requires_grad=True)
    h, targets = _t(rng, 5, 4), torch.tensor([0, 3, 11, 3, 7])
    for shared in (False, True):
        args = (h, w, targets, _ops.register_object(ns.sampler), torch.tensor(4), 3, shared,
                "mean")
        assert _opcheck(_ops.negative_sampling, args) == PASSED
    args = (h, w[:11].detach().requires_grad_(), targets, _ops.register_object(hs.tree), "sum")
    assert _opcheck(_ops.hierarchical_softmax, args) == PASSED


def test_sparse_output_layers_compile():
    torch.manual_seed(4)
    counts = np.arange(1, 21)

    class Model(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = torch.nn.Embedding(20, 6)
            self.ns = st.NegativeSamplingLoss(counts, 6, num_negatives=4, seed=3)
            self.hs = st.HierarchicalSoftmax(counts, 6)
            for layer in (self.ns, self.hs):
                torch.nn.init.normal_(layer.weight, 0, 0.1)

        def forward(self, ids, targets):
            h = self.emb(ids)
            return self.ns(h, targets) + self.hs(h, targets)

    model = Model()
    args = (torch.randint(0, 20, (8,)), torch.randint(0, 20, (8,)))
    out = _eager_vs_compiled(model, args, backend="aot_eager", atol=1e-6)
    assert out["loss"] <= 1e-6 and out["grad"] <= 1, out
    # the sampler's stream advanced once per call in both (the same negatives next time)
    assert int(model.ns._stream) == 1

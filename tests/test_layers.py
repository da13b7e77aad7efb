"""Layer classes (seqcore.LSTM/GRU/RNN) and the optimisers of seqcore.optim.

The layers are compared with seqcore.reference (NumPy float64), with torch.nn.LSTM/GRU/RNN
(state dicts loaded both ways; outputs, final states and every gradient via autograd) and,
for the GRU form torch lacks (linear_before_reset=False), with finite differences.
"""
import numpy as np
import pytest

import seqcore
from seqcore import GRU, LSTM, RNN
from seqcore.optim import SGD, Adam, clip_grad_norm
from conftest import fd_pairs  # noqa: E402  (tests/ is on sys.path)

# kind -> (class, constructor options)
KINDS = {
    "lstm": (LSTM, {}),
    "gru": (GRU, {}),
    "rnn_tanh": (RNN, {}),
    "rnn_relu": (RNN, {"nonlinearity": "relu"}),
}
T, N, I, H = 5, 3, 4, 6
LENGTHS = np.array([5, 2, 4])  # unsorted, includes T


def _tol(dtype):
    return dict(rtol=1e-9, atol=1e-11) if dtype == np.float64 else dict(rtol=1e-4, atol=2e-5)


def _make(kind, input_size=I, hidden=H, **kw):
    cls, opts = KINDS[kind]
    return cls(input_size, hidden, **opts, **kw)


def _random_state(layer, n, rng):
    shape = (layer.num_layers * layer.num_directions, n, layer.hidden_size)
    h = (0.5 * rng.standard_normal(shape)).astype(layer.dtype)
    if isinstance(layer, LSTM):
        return h, (0.5 * rng.standard_normal(shape)).astype(layer.dtype)
    return h


def _as_tuple(state):
    return state if isinstance(state, tuple) else (state,)


def _loss_weights(layer, y_shape, n, rng):
    """Random dy and dstate, so that loss = sum(y*dy) + sum(state_n*dstate)."""
    return rng.standard_normal(y_shape).astype(layer.dtype), _random_state(layer, n, rng)


# ---------------------------------------------------------------------------- torch
def _torch_module(torch, layer):
    cls = {LSTM: torch.nn.LSTM, GRU: torch.nn.GRU, RNN: torch.nn.RNN}[type(layer)]
    kw = {"nonlinearity": layer.nonlinearity} if isinstance(layer, RNN) else {}
    return cls(layer.input_size, layer.hidden_size, num_layers=layer.num_layers,
               bias=layer.bias, batch_first=layer.batch_first,
               bidirectional=layer.bidirectional,
               dtype=torch.float64 if layer.dtype == np.float64 else torch.float32, **kw)


def _torch_forward_backward(torch, mod, x, state, lengths, dy, dstate, batch_first):
    from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

    xt = torch.tensor(x, requires_grad=True)
    st = tuple(torch.tensor(s, requires_grad=True) for s in _as_tuple(state))
    inp = xt
    if lengths is not None:
        inp = pack_padded_sequence(xt, torch.tensor(lengths), batch_first=batch_first,
                                   enforce_sorted=False)
    out, st_n = mod(inp, st if len(st) == 2 else st[0])
    if lengths is not None:
        out, _ = pad_packed_sequence(out, batch_first=batch_first,
                                     total_length=x.shape[1 if batch_first else 0])
    st_n = _as_tuple(st_n)
    loss = (out * torch.tensor(dy)).sum()
    for s, g in zip(st_n, _as_tuple(dstate)):
        loss = loss + (s * torch.tensor(g)).sum()
    loss.backward()
    return (out.detach().numpy(), [s.detach().numpy() for s in st_n], xt.grad.numpy(),
            [s.grad.numpy() for s in st], {k: p.grad.numpy() for k, p in mod.named_parameters()})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_first,with_lengths", [(False, False), (False, True), (True, True)])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("kind", list(KINDS))
def test_matches_torch(kind, num_layers, bidirectional, batch_first, with_lengths, dtype):
    torch = pytest.importorskip("torch")
    layer = _make(kind, num_layers=num_layers, bidirectional=bidirectional,
                  batch_first=batch_first, dtype=dtype, seed=1)
    torch.manual_seed(0)
    mod = _torch_module(torch, layer)
    layer.load_state_dict(mod.state_dict())  # torch -> ours

    rng = np.random.default_rng(2)
    x = rng.standard_normal((N, T, I) if batch_first else (T, N, I)).astype(dtype)
    state0 = _random_state(layer, N, rng)
    lengths = LENGTHS if with_lengths else None
    y_shape = (N, T, layer.num_directions * H) if batch_first else (T, N, layer.num_directions * H)
    dy, dstate = _loss_weights(layer, y_shape, N, rng)

    y, state_n, cache = layer(x, state0, lengths=lengths)
    dx, dstate0, grads = layer.backward(cache, dy, dstate)
    ty, tstate_n, tdx, tdstate0, tgrads = _torch_forward_backward(
        torch, mod, x, state0, lengths, dy, dstate, batch_first)

    tol = _tol(dtype)
    assert y.shape == y_shape and y.dtype == dtype
    np.testing.assert_allclose(y, ty, **tol)
    for ours, theirs in zip(_as_tuple(state_n), tstate_n):
        np.testing.assert_allclose(ours, theirs, **tol)
    assert dx.shape == x.shape and dx.dtype == dtype
    np.testing.assert_allclose(dx, tdx, **tol)
    for ours, theirs in zip(_as_tuple(dstate0), tdstate0):
        np.testing.assert_allclose(ours, theirs, **tol)
    assert list(grads) == list(tgrads)
    for name, g in grads.items():
        assert g.dtype == dtype, name
        np.testing.assert_allclose(g, tgrads[name], err_msg=name, **tol)


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_names_and_shapes_match_torch(kind, bias):
    torch = pytest.importorskip("torch")
    layer = _make(kind, num_layers=3, bidirectional=True, bias=bias)
    theirs = _torch_module(torch, layer).state_dict()
    ours = layer.state_dict()
    assert list(ours) == list(theirs)
    assert [k for k, _ in layer.named_parameters()] == list(theirs)
    for name, value in ours.items():
        assert value.shape == tuple(theirs[name].shape), name
        assert value.dtype == np.float32


@pytest.mark.parametrize("kind", list(KINDS))
def test_ours_loads_into_torch(kind):
    torch = pytest.importorskip("torch")
    layer = _make(kind, num_layers=2, bidirectional=True, dtype=np.float64, seed=3)
    mod = _torch_module(torch, layer)
    mod.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    x = np.random.default_rng(4).standard_normal((T, N, I))
    y, state_n, _ = layer(x, training=False)
    with torch.no_grad():
        ty, tstate_n = mod(torch.from_numpy(x))
    np.testing.assert_allclose(y, ty.numpy(), rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(_as_tuple(state_n), _as_tuple(tstate_n)):
        np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------- reference
@pytest.mark.parametrize("with_lengths", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("kind", list(KINDS) + ["gru_cho"])
def test_matches_reference(kind, bidirectional, with_lengths):
    from seqcore import reference

    opts = {"linear_before_reset": False} if kind == "gru_cho" else {}
    layer = _make("gru" if kind == "gru_cho" else kind, num_layers=2,
                  bidirectional=bidirectional, dtype=np.float64, seed=5, **opts)
    rng = np.random.default_rng(6)
    x = rng.standard_normal((T, N, I))
    state0 = _random_state(layer, N, rng)
    lengths = np.array([5, 0, 3]) if with_lengths else None
    y, state_n, _ = layer(x, state0, lengths=lengths, training=False)
    ry, rstate_n = _reference_forward(reference, layer, x, state0, lengths)
    np.testing.assert_allclose(y, ry, rtol=1e-10, atol=1e-12)
    for ours, theirs in zip(_as_tuple(state_n), _as_tuple(rstate_n)):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def _reference_forward(reference, layer, x, state0, lengths):
    mode = {LSTM: "lstm", GRU: "gru", RNN: "rnn"}[type(layer)]
    kw = {}
    if isinstance(layer, GRU):
        kw["linear_before_reset"] = layer.linear_before_reset
    if isinstance(layer, RNN):
        kw["nonlinearity"] = layer.nonlinearity
    h0, c0 = (state0 if isinstance(layer, LSTM) else (state0, None))
    y, h_n, c_n = reference.stacked_rnn_forward(
        mode, x, layer.state_dict(), num_layers=layer.num_layers,
        bidirectional=layer.bidirectional, h0=h0, c0=c0, lengths=lengths, **kw)
    return y, ((h_n, c_n) if isinstance(layer, LSTM) else h_n)


# ---------------------------------------------------------------------------- gradients
def test_gru_cho_gradients_finite_differences():
    # torch has no linear_before_reset=False GRU: check that form by central differences.
    layer = GRU(3, 4, num_layers=2, bidirectional=True, batch_first=True,
                linear_before_reset=False, dtype=np.float64, seed=7)
    rng = np.random.default_rng(8)
    x = rng.standard_normal((2, 4, 3))
    h0 = _random_state(layer, 2, rng)
    lengths = np.array([3, 4])
    dy, dh = _loss_weights(layer, (2, 4, 8), 2, rng)

    def loss():
        y, h_n, _ = layer(x, h0, lengths=lengths, training=False)
        return float((y * dy).sum() + (h_n * dh).sum())

    _, _, cache = layer(x, h0, lengths=lengths)
    dx, dh0, grads = layer.backward(cache, dy, dh)
    checks = [(x, dx, "x"), (h0, dh0, "h0")] + [
        (p, grads[name], name) for name, p in layer.named_parameters()]
    for array, grad, name in checks:
        num, ana = fd_pairs(loss, [array], [grad], rng, n=4)
        np.testing.assert_allclose(ana, num, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize("kind", list(KINDS))
def test_zero_length_sequence_passes_state_through(kind):
    layer = _make(kind, num_layers=2, bidirectional=True, dtype=np.float64, seed=9)
    rng = np.random.default_rng(10)
    x = rng.standard_normal((T, 2, I))
    state0 = _random_state(layer, 2, rng)
    y, state_n, cache = layer(x, state0, lengths=np.array([0, T]))
    dy, dstate = _loss_weights(layer, y.shape, 2, rng)
    dx, dstate0, _ = layer.backward(cache, dy, dstate)
    assert np.all(y[:, 0] == 0) and np.all(dx[:, 0] == 0)
    for s0, sn in zip(_as_tuple(state0), _as_tuple(state_n)):
        np.testing.assert_array_equal(sn[:, 0], s0[:, 0])
    for d0, dn in zip(_as_tuple(dstate0), _as_tuple(dstate)):
        np.testing.assert_array_equal(d0[:, 0], dn[:, 0])


@pytest.mark.parametrize("kind", list(KINDS))
def test_none_state_and_gradients_mean_zeros(kind):
    layer = _make(kind, bidirectional=True, dtype=np.float64, seed=11)
    x = np.random.default_rng(12).standard_normal((T, N, I))
    shape = (2, N, H)
    zeros = (np.zeros(shape), np.zeros(shape)) if kind == "lstm" else np.zeros(shape)
    y1, s1, c1 = layer(x)
    y2, s2, c2 = layer(x, zeros)
    np.testing.assert_array_equal(y1, y2)
    dy = np.ones_like(y1)
    g1 = layer.backward(c1, dy)
    g2 = layer.backward(c2, dy, zeros)
    np.testing.assert_array_equal(g1[0], g2[0])
    for a, b in zip(_as_tuple(g1[1]), _as_tuple(g2[1])):
        assert a.shape == (2, N, H)
        np.testing.assert_array_equal(a, b)
    for name in g1[2]:
        np.testing.assert_array_equal(g1[2][name], g2[2][name])


def test_float32_matches_float64():
    l64 = LSTM(I, H, num_layers=2, bidirectional=True, dtype=np.float64, seed=13)
    l32 = LSTM(I, H, num_layers=2, bidirectional=True, dtype=np.float32)
    l32.load_state_dict(l64.state_dict())
    x = np.random.default_rng(14).standard_normal((T, N, I))
    y64, _, c64 = l64(x)
    y32, _, c32 = l32(x)
    assert y32.dtype == np.float32
    np.testing.assert_allclose(y32, y64, rtol=1e-4, atol=1e-5)
    g64 = l64.backward(c64, np.ones_like(y64))[2]
    g32 = l32.backward(c32, np.ones_like(y32))[2]
    for name in g64:
        np.testing.assert_allclose(g32[name], g64[name], rtol=1e-4, atol=1e-4, err_msg=name)


# ---------------------------------------------------------------------------- parameters
def test_initialisation_is_seeded_uniform():
    a = GRU(8, 50, num_layers=2, bidirectional=True, seed=0)
    b = GRU(8, 50, num_layers=2, bidirectional=True, seed=0)
    c = GRU(8, 50, num_layers=2, bidirectional=True, seed=1)
    bound = 1 / np.sqrt(50)
    for (name, p), q, r in zip(a.named_parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(p, q)
        assert not np.array_equal(p, r), name
        assert p.dtype == np.float32
        assert np.all(np.abs(p) <= bound), name
    w = a.weight_hh_l1_reverse
    assert w.shape == (150, 50) and w.min() < -0.9 * bound and w.max() > 0.9 * bound
    assert abs(w.mean()) < 0.1 * bound


def test_load_state_dict_casts_copies_in_place():
    layer = LSTM(I, H, bidirectional=True)
    src = LSTM(I, H, bidirectional=True, dtype=np.float64, seed=15).state_dict()
    live = layer.weight_ih_l0_reverse
    layer.load_state_dict(src)
    assert layer.weight_ih_l0_reverse is live  # optimisers holding the arrays see the load
    for name, value in layer.state_dict().items():
        assert value.dtype == np.float32
        np.testing.assert_allclose(value, src[name], rtol=1e-6)
    sd = layer.state_dict()
    sd["weight_ih_l0"][...] = 0  # state_dict returns copies
    assert np.any(layer.weight_ih_l0 != 0)


@pytest.mark.parametrize("corrupt,key", [
    (lambda sd: sd.pop("bias_hh_l1"), "bias_hh_l1"),
    (lambda sd: sd.__setitem__("weight_ih_l2", np.zeros((24, 12))), "weight_ih_l2"),
    (lambda sd: sd.__setitem__("weight_hh_l1_reverse", np.zeros((24, 5))), "weight_hh_l1_reverse"),
    (lambda sd: sd.__setitem__("bias_ih_l0", np.zeros(25)), "bias_ih_l0"),
])
def test_load_state_dict_rejects_bad_input(corrupt, key):
    layer = LSTM(I, H, num_layers=2, bidirectional=True, seed=16)
    before = layer.state_dict()
    sd = LSTM(I, H, num_layers=2, bidirectional=True, seed=17).state_dict()
    corrupt(sd)
    with pytest.raises(ValueError, match=key):
        layer.load_state_dict(sd)
    for name, value in layer.state_dict().items():  # nothing was loaded
        np.testing.assert_array_equal(value, before[name])


def test_load_state_dict_rejects_non_numeric():
    layer = RNN(2, 3)
    sd = layer.state_dict()
    sd["bias_hh_l0"] = np.array(["a", "b", "c"])
    with pytest.raises(TypeError, match="bias_hh_l0"):
        layer.load_state_dict(sd)


# ---------------------------------------------------------------------------- cache and errors
def test_inference_has_no_cache_and_backward_consumes():
    layer = LSTM(I, H, num_layers=2)
    x = np.ones((T, N, I), np.float32)
    assert layer(x, training=False)[2] is None
    y, _, cache = layer(x)
    assert not cache.consumed
    with pytest.raises(ValueError, match="dy"):  # a bad dy leaves the cache usable
        layer.backward(cache, np.ones((T, N, H + 1), np.float32))
    layer.backward(cache, np.ones_like(y))
    assert cache.consumed
    with pytest.raises(ValueError, match="consumed"):
        layer.backward(cache, np.ones_like(y))
    with pytest.raises(ValueError, match="cache"):
        LSTM(I, H, num_layers=2).backward(layer(x)[2], np.ones_like(y))


def test_bad_inputs_raise():
    lstm = LSTM(I, H, num_layers=2)
    gru = GRU(I, H)
    x = np.zeros((T, N, I), np.float32)
    with pytest.raises(ValueError, match="x"):
        lstm(x[0])
    with pytest.raises(ValueError, match="x"):
        lstm(np.zeros((T, N, I + 1), np.float32))
    with pytest.raises(TypeError, match="x"):
        lstm(np.zeros((T, N, I), np.int32))
    with pytest.raises(ValueError, match="state"):
        lstm(x, np.zeros((2, N, H), np.float32))
    with pytest.raises(ValueError, match="state"):
        lstm(x, (np.zeros((1, N, H), np.float32), None))
    with pytest.raises(ValueError, match="state"):
        gru(x, (np.zeros((1, N, H), np.float32),) * 2)
    with pytest.raises(ValueError, match="state"):
        gru(x, np.zeros((1, N + 1, H), np.float32))
    with pytest.raises(ValueError, match="lengths"):
        gru(x, lengths=np.array([1, 2]))
    with pytest.raises(ValueError, match="lengths"):
        gru(x, lengths=np.array([1, 2, T + 1]))
    with pytest.raises(ValueError, match="dstate"):
        _, _, cache = gru(x)
        gru.backward(cache, None, np.zeros((2, N, H), np.float32))
    with pytest.raises(ValueError, match="hidden_size"):
        LSTM(I, 0)
    with pytest.raises(TypeError, match="dtype"):
        GRU(I, H, dtype=np.int32)
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(I, H, nonlinearity="sigmoid")


def test_public_exports_and_repr():
    assert seqcore.LSTM is LSTM and seqcore.GRU is GRU and seqcore.RNN is RNN
    assert repr(GRU(3, 4, num_layers=2, bidirectional=True, linear_before_reset=False)) == \
        "GRU(3, 4, num_layers=2, bidirectional=True, linear_before_reset=False)"


# ---------------------------------------------------------------------------- optimisers
def _optimizer_pair(torch, kind, dtype, rng):
    params = {"w": rng.standard_normal((3, 4)).astype(dtype),
              "b": rng.standard_normal(5).astype(dtype)}
    tparams = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
    kw = {
        "adam": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        "sgd": dict(lr=0.1),
        "sgd_momentum": dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01),
        "sgd_nesterov": dict(lr=0.1, momentum=0.9, nesterov=True),
    }[kind]
    ours = (Adam if kind == "adam" else SGD)(params, **kw)
    theirs = (torch.optim.Adam if kind == "adam" else torch.optim.SGD)(tparams.values(), **kw)
    return params, tparams, ours, theirs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["adam", "sgd", "sgd_momentum", "sgd_nesterov"])
def test_optimizers_match_torch(kind, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(18)
    params, tparams, ours, theirs = _optimizer_pair(torch, kind, dtype, rng)
    live = params["w"]
    for step in range(4):
        grads = {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        if step == 2:
            grads["b"] = None  # skipped this step, as a torch parameter with grad None
        for k, p in tparams.items():
            p.grad = None if grads[k] is None else torch.tensor(grads[k])
        ours.step(grads)
        theirs.step()
    assert params["w"] is live and live.dtype == dtype  # in place, dtype kept
    tol = dict(rtol=1e-12, atol=1e-14) if dtype == np.float64 else dict(rtol=1e-5, atol=1e-6)
    for k, p in params.items():
        np.testing.assert_allclose(p, tparams[k].detach().numpy(), err_msg=k, **tol)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(max_norm, norm_type):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(19)
    grads = {"a": rng.standard_normal((3, 4)), "b": rng.standard_normal(5).astype(np.float32),
             "c": None}
    tensors = []
    for g in (grads["a"], grads["b"]):
        t = torch.zeros(g.shape, dtype=torch.float64 if g.dtype == np.float64 else torch.float32)
        t.grad = torch.tensor(g)
        tensors.append(t)
    total = clip_grad_norm(grads, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(tensors, max_norm, norm_type)
    assert total == pytest.approx(float(ttotal), rel=1e-6)
    for g, t in zip((grads["a"], grads["b"]), tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=1e-6)
    assert grads["b"].dtype == np.float32


def test_clip_grad_norm_and_optimizer_errors():
    g = {"a": np.array([3.0, 4.0])}
    assert clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    np.testing.assert_allclose(g["a"], [0.6, 0.8], rtol=1e-6)
    assert clip_grad_norm({}, 1.0) == 0.0
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm(g, 0.0)
    with pytest.raises(ValueError, match="non-finite"):
        clip_grad_norm({"a": np.array([np.inf])}, 1.0, error_if_nonfinite=True)
    params = {"w": np.zeros(3)}
    opt = Adam(params)
    with pytest.raises(ValueError, match="'v'"):
        opt.step({"v": np.zeros(3)})
    with pytest.raises(ValueError, match="'w'"):
        opt.step({"w": np.zeros(4)})
    with pytest.raises(TypeError, match="'i'"):
        SGD({"i": np.zeros(3, np.int64)})
    with pytest.raises(ValueError, match="nesterov"):
        SGD(params, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        Adam(params, betas=(1.0, 0.9))


def test_training_a_layer_with_adam_reduces_the_loss():
    # The layer, its grads dict and the optimiser fit together without glue code.
    rng = np.random.default_rng(20)
    layer = GRU(I, H, bidirectional=True, seed=21)
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    target = 0.5 * np.tanh(rng.standard_normal((T, N, 2 * H))).astype(np.float32)
    opt = Adam(dict(layer.named_parameters()), lr=1e-2)
    losses = []
    for _ in range(30):
        y, _, cache = layer(x)
        losses.append(float(((y - target) ** 2).mean()))
        _, _, grads = layer.backward(cache, 2 * (y - target) / y.size)
        clip_grad_norm(grads, 1.0)
        opt.step(grads)
    assert losses[-1] < 0.5 * losses[0]

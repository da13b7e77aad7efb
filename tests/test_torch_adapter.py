"""seqcore.torch: drop-in torch.nn recurrent modules against torch.nn with the same state dict."""
import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("seqcore.torch")
from torch.nn.utils.rnn import pack_padded_sequence  # noqa: E402

from seqcore import reference  # noqa: E402

TOL = {torch.float32: dict(rtol=2e-5, atol=2e-6), torch.float64: dict(rtol=1e-10, atol=1e-12)}

MODULES = [("lstm", {}), ("gru", {}), ("rnn", {"nonlinearity": "tanh"}),
           ("rnn", {"nonlinearity": "relu"})]


def _pair(cell, kw, dtype, seed=0, **module_kw):
    torch.manual_seed(seed)
    cls_ref = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    cls = {"lstm": st.LSTM, "gru": st.GRU, "rnn": st.RNN}[cell]
    ref = cls_ref(**kw, **module_kw).to(dtype)
    ours = cls(**kw, **module_kw).to(dtype)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def _run(module, x, hx, cell):
    out, state = module(x, hx)
    h, c = state if cell == "lstm" else (state, None)
    return out, h, c


def _loss(out, h, c, w):
    data = out.data if hasattr(out, "batch_sizes") else out
    loss = (data * w[: data.numel()].view_as(data)).sum() + (h ** 2).sum()
    return loss + (c.sum() if c is not None else 0)


def _outputs_and_grads(module, x, hx, cell, leaves, dtype):
    """(output, [output data, h_n, (c_n,) then the gradients of a fixed random loss w.r.t.
    leaves and every parameter]) of one module: the same list for torch's and ours."""
    out, h, c = _run(module, x, hx, cell)
    data = out.data if hasattr(out, "batch_sizes") else out
    w = torch.randn(data.numel(), dtype=dtype, generator=torch.Generator().manual_seed(1))
    grads = torch.autograd.grad(_loss(out, h, c, w), leaves + list(module.parameters()))
    return out, [data, h] + ([c] if cell == "lstm" else []) + list(grads)


@pytest.mark.parametrize("cell, extra", MODULES)
@pytest.mark.parametrize("num_layers, bidirectional", [(1, False), (2, True)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("with_hx", [False, True])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_module_matches_torch(cell, extra, num_layers, bidirectional, batch_first, bias,
                              with_hx, dtype):
    kw = dict(input_size=5, hidden_size=7, num_layers=num_layers, bidirectional=bidirectional,
              bias=bias, batch_first=batch_first, **extra)
    ref, ours = _pair(cell, kw, dtype)
    T, N, D = 4, 3, 2 if bidirectional else 1
    g = torch.Generator().manual_seed(2)
    x = torch.randn((N, T, 5) if batch_first else (T, N, 5), dtype=dtype, generator=g)
    leaves = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    hx = [None, None]
    if with_hx:
        h0 = torch.randn(num_layers * D, N, 7, dtype=dtype, generator=g)
        c0 = torch.randn(num_layers * D, N, 7, dtype=dtype, generator=g)
        pairs = [(h0.clone().requires_grad_(), c0.clone().requires_grad_()) for _ in range(2)]
        hx = [p if cell == "lstm" else p[0] for p in pairs]
        extra_leaves = [list(p) if cell == "lstm" else [p[0]] for p in pairs]
    else:
        extra_leaves = [[], []]
    _, want = _outputs_and_grads(ref, leaves[0], hx[0], cell, [leaves[0]] + extra_leaves[0],
                                 dtype)
    _, got = _outputs_and_grads(ours, leaves[1], hx[1], cell, [leaves[1]] + extra_leaves[1],
                                dtype)
    assert len(got) == len(want) == 2 + (cell == "lstm") + len(extra_leaves[0]) + 1 + \
        len(list(ref.parameters()))
    for a, b in zip(got, want):       # outputs, final states, then every gradient
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("cell, extra", MODULES)
@pytest.mark.parametrize("enforce_sorted", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_packed_sequence_matches_torch(cell, extra, enforce_sorted, bidirectional):
    dtype = torch.float64
    kw = dict(input_size=4, hidden_size=6, num_layers=2, bidirectional=bidirectional, **extra)
    ref, ours = _pair(cell, kw, dtype, seed=3)
    lengths = torch.tensor([5, 5, 3, 1] if enforce_sorted else [2, 5, 0 + 1, 4])
    x = torch.randn(5, 4, 4, dtype=dtype, generator=torch.Generator().manual_seed(4))
    xs = [x.clone().requires_grad_() for _ in range(2)]
    packed = [pack_padded_sequence(v, lengths, enforce_sorted=enforce_sorted) for v in xs]
    o1, want = _outputs_and_grads(ref, packed[0], None, cell, [xs[0]], dtype)
    o2, got = _outputs_and_grads(ours, packed[1], None, cell, [xs[1]], dtype)
    for a, b in zip(got, want):       # packed data, final states, then every gradient
        torch.testing.assert_close(a, b, **TOL[dtype])
    assert torch.equal(o1.batch_sizes, o2.batch_sizes)
    for a, b in ((o1.sorted_indices, o2.sorted_indices),
                 (o1.unsorted_indices, o2.unsorted_indices)):
        assert (a is None and b is None) or torch.equal(a, b)


@pytest.mark.parametrize("cell, extra", MODULES[:2])
def test_unbatched_input(cell, extra):
    dtype = torch.float64
    ref, ours = _pair(cell, dict(input_size=3, hidden_size=4, **extra), dtype)
    x = torch.randn(6, 3, dtype=dtype)
    o1, s1 = ref(x)
    o2, s2 = ours(x)
    torch.testing.assert_close(o2, o1, **TOL[dtype])
    for a, b in zip(s2 if cell == "lstm" else [s2], s1 if cell == "lstm" else [s1]):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_dropout_between_layers_follows_torch_rng():
    dtype = torch.float64
    ref, ours = _pair("lstm", dict(input_size=4, hidden_size=8, num_layers=3, dropout=0.5),
                      dtype)
    x = torch.randn(5, 2, 4, dtype=dtype)
    torch.manual_seed(11)
    o1, _ = ref(x)
    torch.manual_seed(11)
    o2, _ = ours(x)
    torch.testing.assert_close(o2, o1, **TOL[dtype])   # same masks, same RNG draws
    ours.eval()
    ref.eval()
    torch.testing.assert_close(ours(x)[0], ref(x)[0], **TOL[dtype])


@pytest.mark.parametrize("cell, options", [("lstm", {}), ("gru", {}),
                                            ("gru", {"linear_before_reset": False}),
                                            ("rnn", {"nonlinearity": "relu"})])
def test_gradcheck_float64(cell, options):
    g = torch.Generator().manual_seed(5)
    T, N, I, H = 3, 2, 3, 4
    G = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    args = [torch.randn(*s, dtype=torch.float64, generator=g, requires_grad=True)
            for s in ((T, N, I), (N, H), (N, H), (G * H, I), (G * H, H), (G * H,), (G * H,))]
    if cell != "lstm":
        args[2] = None

    def f(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        y, h, c = st.rnn_layer(cell, x, h0, c0, w_ih, w_hh, b_ih, b_hh,
                               lengths=np.array([3, 2]), **options)
        return y, h, c

    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-6)


def test_cho_gru_matches_reference():
    # linear_before_reset=False is absent from torch: compare with seqcore.reference.
    torch.manual_seed(0)
    m = st.GRU(3, 5, linear_before_reset=False).double()
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    y, h = m(x)
    sd = {k: v.detach().numpy() for k, v in m.state_dict().items()}
    y_ref, h_ref = reference.gru_forward(x.numpy(), sd["weight_ih_l0"], sd["weight_hh_l0"],
                                         sd["bias_ih_l0"], sd["bias_hh_l0"],
                                         linear_before_reset=False)[:2]
    np.testing.assert_allclose(y.detach().numpy(), y_ref, rtol=1e-12, atol=1e-12)
    assert "linear_before_reset=False" in repr(m)


def test_training_with_adam_gives_torch_losses():
    def train(cls):
        torch.manual_seed(0)
        lstm = cls(6, 16, num_layers=2, bidirectional=True, batch_first=True)
        head = torch.nn.Linear(32, 5)
        params = list(lstm.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-2)
        g = torch.Generator().manual_seed(1)
        x = torch.randn(8, 10, 6, generator=g)
        y = torch.randint(0, 5, (8, 10), generator=g)
        losses = []
        for _ in range(5):
            opt.zero_grad()
            out, _ = lstm(x)
            loss = torch.nn.functional.cross_entropy(head(out).reshape(-1, 5), y.reshape(-1))
            loss.backward()
            opt.step()
            losses.append(loss.item())
        return losses

    ref, ours = train(torch.nn.LSTM), train(st.LSTM)
    # float32 kernels in a different summation order; Adam amplifies nothing in 5 steps.
    np.testing.assert_allclose(ours, ref, rtol=1e-4)
    assert ours[-1] < ours[0]


def test_unsupported_cases_raise():
    with pytest.raises(ValueError, match="proj_size"):
        st.LSTM(3, 4, proj_size=2)(torch.randn(2, 1, 3))
    with pytest.raises(TypeError, match="float16"):
        st.GRU(3, 4).half()(torch.randn(2, 1, 3).half())
    with pytest.raises(ValueError, match="meta"):
        st.RNN(3, 4).to("meta")(torch.randn(2, 1, 3, device="meta"))
    with pytest.raises(TypeError, match="dtype"):
        st.LSTM(3, 4)(torch.randn(2, 1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="h0"):
        st.GRU(3, 4)(torch.randn(2, 1, 3), torch.zeros(2, 1, 4))
    with pytest.raises(ValueError, match="cell"):
        st.rnn_layer("lru", *[torch.zeros(1)] * 5)


def test_second_backward_recomputes_the_cache():
    torch.manual_seed(0)
    m = st.LSTM(3, 4)
    x = torch.randn(2, 1, 3, requires_grad=True)
    y, _ = m(x)
    loss = (y ** 2).sum()
    g1 = torch.autograd.grad(loss, [x, m.weight_hh_l0], retain_graph=True)
    g2 = torch.autograd.grad(loss, [x, m.weight_hh_l0])
    for a, b in zip(g1, g2):
        assert torch.equal(a, b)

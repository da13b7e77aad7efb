"""seqcore.torch attention, cross-entropy, CTC and sparse output layers against torch."""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
st = pytest.importorskip("seqcore.torch")
F = torch.nn.functional

TOL = {torch.float32: dict(rtol=1e-4, atol=2e-5), torch.float64: dict(rtol=1e-9, atol=1e-11)}


def _grads(fn, *leaves):
    out = fn(*leaves)
    w = torch.randn(out.shape, dtype=out.dtype, generator=torch.Generator().manual_seed(9))
    return out, torch.autograd.grad((out * w).sum(), leaves)


def _leaves(*shapes, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*s, dtype=dtype, generator=g, requires_grad=True) for s in shapes]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("is_causal, mask", [(False, None), (False, "bool"), (False, "float"),
                                             (True, None)])   # torch forbids mask + causal
@pytest.mark.parametrize("shape", [(2, 3, 5, 7, 8), (3, 6, 6, 4), (5, 4, 16)])
def test_sdpa_matches_torch(dtype, is_causal, mask, shape):
    *lead, L, S, D = shape
    q, k, v = _leaves((*lead, L, D), (*lead, S, D), (*lead, S, D), dtype=dtype)
    m = None
    if mask == "bool":
        m = torch.rand(L, S, generator=torch.Generator().manual_seed(1)) > 0.3
        m[:, 0] = True
    elif mask == "float":
        m = torch.randn(L, S, dtype=dtype)
    ref, gr = _grads(lambda *a: F.scaled_dot_product_attention(*a, attn_mask=m,
                                                               is_causal=is_causal), q, k, v)
    out, go = _grads(lambda *a: st.scaled_dot_product_attention(*a, attn_mask=m,
                                                                is_causal=is_causal), q, k, v)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    for a, b in zip(go, gr):
        torch.testing.assert_close(a, b, **TOL[dtype])


def test_sdpa_gqa_and_unsupported():
    q, k, v = _leaves((2, 4, 5, 8), (2, 2, 6, 8), (2, 2, 6, 8), dtype=torch.float64)
    ref = F.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    out = st.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    torch.testing.assert_close(out, ref, **TOL[torch.float64])
    with pytest.raises(ValueError, match="enable_gqa"):
        st.scaled_dot_product_attention(q, k, v)
    with pytest.raises(ValueError, match="dropout"):
        st.scaled_dot_product_attention(q, q, q, dropout_p=0.1)


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("padding", [False, True])
def test_multihead_attention_matches_torch(batch_first, bias, need_weights, padding):
    dtype = torch.float64
    torch.manual_seed(0)
    ref = torch.nn.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first).to(dtype)
    ours = st.MultiheadAttention(16, 4, bias=bias, batch_first=batch_first).to(dtype)
    ours.load_state_dict(ref.state_dict())
    L, S, N = 5, 7, 3
    shape_q, shape_k = ((N, L, 16), (N, S, 16)) if batch_first else ((L, N, 16), (S, N, 16))
    leaves = [_leaves(shape_q, shape_k, shape_k, dtype=dtype, seed=3) for _ in range(2)]
    kpm = None
    if padding:
        kpm = torch.arange(S)[None, :] >= torch.tensor([7, 4, 1])[:, None]
    results = []
    for mod, (q, k, v) in ((ref, leaves[0]), (ours, leaves[1])):
        out, w = mod(q, k, v, key_padding_mask=kpm, need_weights=need_weights)
        g = torch.autograd.grad(out.pow(2).sum(), [q, k, v, *mod.parameters()])
        results.append((out, w, g))
    (o1, w1, g1), (o2, w2, g2) = results
    torch.testing.assert_close(o2, o1, **TOL[dtype])
    if need_weights:
        torch.testing.assert_close(w2, w1, **TOL[dtype])
    else:
        assert w2 is None
    for a, b in zip(g2, g1):
        torch.testing.assert_close(a, b, **TOL[dtype])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_cross_entropy_matches_torch(dtype, reduction, label_smoothing):
    (x,) = _leaves((9, 11), dtype=dtype)
    t = torch.tensor([0, 3, 10, -100, 5, 5, 1, 2, 7])
    kw = dict(reduction=reduction, label_smoothing=label_smoothing)
    ref, gr = _grads(lambda a: F.cross_entropy(a, t, **kw).reshape(-1), x)
    out, go = _grads(lambda a: st.cross_entropy(a, t, **kw).reshape(-1), x)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    torch.testing.assert_close(go[0], gr[0], **TOL[dtype])
    with pytest.raises(ValueError, match="weight"):
        st.cross_entropy(x, t, weight=torch.ones(11, dtype=dtype))


def test_sparse_output_layers_train_and_match_numpy_gradients():
    from seqcore import output_layers as ol
    counts = np.arange(50, 0, -1)
    for cls in (st.HierarchicalSoftmax, st.NegativeSamplingLoss):
        torch.manual_seed(0)
        layer = cls(counts, 8, dtype=torch.float64)
        with torch.no_grad():
            layer.weight.normal_(0, 0.1)
        h = torch.randn(6, 8, dtype=torch.float64, requires_grad=True)
        t = torch.tensor([0, 1, 5, 20, 49, 3])
        loss = layer(h, t)
        loss.backward()
        if cls is st.HierarchicalSoftmax:
            ref = ol.hierarchical_softmax_loss(h.detach().numpy(), layer.weight.detach().numpy(),
                                               t.numpy(), layer.tree)
            np.testing.assert_allclose(loss.item(), ref.loss, rtol=1e-12)
            np.testing.assert_allclose(h.grad.numpy(), ref.dh, rtol=1e-10, atol=1e-14)
            dense = np.zeros(layer.weight.shape)
            np.add.at(dense, ref.rows, ref.drows)
            np.testing.assert_allclose(layer.weight.grad.numpy(), dense, atol=1e-14)
            lp = layer.log_probs(h.detach())
            np.testing.assert_allclose(lp.exp().sum(1).numpy(), 1.0, rtol=1e-10)
        opt = torch.optim.SGD([layer.weight, h], lr=0.5)
        first = None
        for _ in range(20):
            opt.zero_grad()
            loss = layer(h, t)
            first = loss.item() if first is None else first
            loss.backward()
            opt.step()
        assert loss.item() < first


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_ctc_loss_matches_torch(reduction, layout, dtype):
    g = torch.Generator().manual_seed(0)
    T, N, C = 12, 3, 6
    x = torch.randn(T, N, C, dtype=dtype, generator=g)
    lengths_in = torch.tensor([12, 9, 7])
    lengths_t = torch.tensor([4, 2, 0])
    padded = torch.randint(1, C, (N, 4), generator=g)
    targets = padded if layout == "padded" else torch.cat([padded[n, :l] for n, l in
                                                           enumerate(lengths_t)])
    lp = [x.log_softmax(2).detach().requires_grad_() for _ in range(2)]
    ref = F.ctc_loss(lp[0], targets, lengths_in, lengths_t, reduction=reduction)
    out = st.ctc_loss(lp[1], targets, lengths_in, lengths_t, reduction=reduction)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    w = torch.rand(ref.shape, dtype=dtype, generator=g)
    (ref * w).sum().backward()
    (out * w).sum().backward()
    # torch's CTC gradient assumes normalised inputs (pytorch#52241): compare through the
    # log-softmax, where both are exact.
    z = [x.clone().requires_grad_() for _ in range(2)]
    F.ctc_loss(z[0].log_softmax(2), targets, lengths_in, lengths_t,
               reduction=reduction).mul(w).sum().backward()
    st.ctc_loss_from_logits(z[1], targets, lengths_in, lengths_t,
                            reduction=reduction).mul(w).sum().backward()
    torch.testing.assert_close(z[1].grad, z[0].grad, **TOL[dtype])
    module = st.CTCLoss(reduction=reduction)
    torch.testing.assert_close(module(lp[1].detach(), targets, lengths_in, lengths_t), ref.detach(),
                               **TOL[dtype])

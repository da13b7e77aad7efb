"""Tests of seqcore.ctc: CTC loss and gradient against brute-force enumeration of
alignments, finite differences, seqcore.reference and PyTorch's F.ctc_loss; decoders
against hand-built cases and exhaustive search; bad input."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import seqcore
from seqcore import reference as ref

F64 = dict(rtol=1e-10, atol=1e-12)
# float32 loss/gradient: sums of T log-sum-exps in float32 (torch float32 shows the same
# ~1e-6 relative error on these shapes)
F32 = dict(rtol=2e-5, atol=2e-6)


# ------------------------------------------------------------------------- helpers


def log_softmax(x):
    m = x.max(-1, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(-1, keepdims=True))


def make_case(rng, T, N, C, S, blank=0, dtype=np.float64, normalised=True, repeats=False):
    """Random scores [T,N,C], padded targets [N,S] (labels != blank), lengths: every
    utterance feasible (input length >= target length + adjacent repeats)."""
    x = rng.standard_normal((T, N, C)) * 2
    lp = log_softmax(x) if normalised else x
    labels = [c for c in range(C) if c != blank]
    tg = rng.choice(labels, size=(N, S))
    if repeats and S >= 2:
        tg[:, 1] = tg[:, 0]
    tl = rng.integers(0, S + 1, size=N)
    il = np.empty(N, np.int64)
    for n in range(N):
        need = tl[n] + int(np.sum(tg[n, 1:tl[n]] == tg[n, :tl[n] - 1])) if tl[n] else 0
        il[n] = rng.integers(max(need, 1), T + 1) if need <= T else T
        if need > T:
            tl[n] = 0
    if N >= 2:
        il[0] = T
    return lp.astype(dtype), tg, il, tl


def brute_force(lp, target, blank):
    """-log p(target | lp) and its gradient w.r.t. lp [T, C] by enumerating all C^T paths."""
    T, C = lp.shape
    if T == 0:
        return (0.0 if len(target) == 0 else np.inf), np.zeros_like(lp)
    paths = np.array(list(itertools.product(range(C), repeat=T)))
    keep = []
    for p in paths:
        collapsed = [c for i, c in enumerate(p) if c != blank and (i == 0 or c != p[i - 1])]
        keep.append(collapsed == list(target))
    paths = paths[np.array(keep, bool)]
    if len(paths) == 0:
        return np.inf, np.zeros_like(lp)
    scores = lp[np.arange(T), paths].sum(1)
    logp = np.logaddexp.reduce(scores)
    w = np.exp(scores - logp)
    grad = np.zeros_like(lp)
    for t in range(T):
        np.add.at(grad[t], paths[:, t], -w)
    return -logp, grad


def concat(tg, tl):
    return np.concatenate([tg[n, :tl[n]] for n in range(len(tl))]).astype(tg.dtype)


# ------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("T,C,S,blank", [(1, 2, 1, 0), (3, 3, 2, 0), (4, 3, 2, 2),
                                         (5, 3, 3, 1), (5, 4, 2, 3), (4, 2, 3, 0)])
@pytest.mark.parametrize("normalised", [True, False])
def test_brute_force_loss_and_grad(rng, T, C, S, blank, normalised):
    N = 4
    lp, tg, il, tl = make_case(rng, T, N, C, S, blank, normalised=normalised, repeats=True)
    tl[-1] = 0                                # an empty target
    losses, grad = seqcore.ctc_loss(lp, tg, il, tl, blank=blank, reduction="none")
    for n in range(N):
        loss_bf, grad_bf = brute_force(lp[:il[n], n], tg[n, :tl[n]], blank)
        np.testing.assert_allclose(losses[n], loss_bf, **F64)
        np.testing.assert_allclose(grad[:il[n], n], grad_bf, **F64)
        assert np.all(grad[il[n]:, n] == 0)
    np.testing.assert_allclose(losses, ref.ctc_loss(lp, tg, il, tl, blank), **F64)


def test_impossible_alignment_is_inf(rng):
    # target [1, 1] needs 3 frames (a blank between the repeats); [1, 2] needs 2
    lp = log_softmax(rng.standard_normal((2, 3, 3)))
    tg = np.array([[1, 1], [1, 2], [2, 2]])
    il = np.array([2, 2, 1])
    tl = np.array([2, 2, 1])
    losses, grad = seqcore.ctc_loss(lp, tg, il, tl, reduction="none")
    assert np.isinf(losses[0]) and losses[0] > 0 and np.isfinite(losses[1:]).all()
    assert np.all(grad[:, 0] == 0) and np.any(grad[:, 1] != 0)
    for n in range(3):
        np.testing.assert_allclose(losses[n], brute_force(lp[:il[n], n], tg[n, :tl[n]], 0)[0],
                                   **F64)
    losses0, grad0 = seqcore.ctc_loss(lp, tg, il, tl, reduction="none", zero_infinity=True)
    assert losses0[0] == 0 and np.all(grad0[:, 0] == 0)
    np.testing.assert_array_equal(losses0[1:], losses[1:])
    assert np.isinf(seqcore.ctc_loss(lp, tg, il, tl, reduction="sum")[0])
    s, g = seqcore.ctc_loss(lp, tg, il, tl, reduction="sum", zero_infinity=True)
    np.testing.assert_allclose(s, losses[1:].sum(), **F64)
    np.testing.assert_array_equal(g, grad0)


def test_zero_length_input():
    lp = np.zeros((3, 2, 4))
    losses, grad = seqcore.ctc_loss(lp, np.array([[1], [1]]), np.array([0, 0]),
                                    np.array([0, 1]), reduction="none")
    assert losses[0] == 0 and np.isinf(losses[1]) and np.all(grad == 0)


# ------------------------------------------------------------------------- finite differences


@pytest.mark.parametrize("from_logits", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_finite_differences(rng, from_logits, reduction):
    T, N, C, S = 6, 3, 5, 3
    x, tg, il, tl = make_case(rng, T, N, C, S, blank=1, normalised=False, repeats=True)
    fn = seqcore.ctc_loss_from_logits if from_logits else seqcore.ctc_loss
    loss, grad = fn(x, tg, il, tl, blank=1, reduction=reduction)
    eps = 1e-6
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        num[idx] = (fn(xp, tg, il, tl, blank=1, reduction=reduction)[0]
                    - fn(xm, tg, il, tl, blank=1, reduction=reduction)[0]) / (2 * eps)
    np.testing.assert_allclose(grad, num, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------------- float32, threads


@pytest.mark.parametrize("T,N,C,S", [(1, 1, 2, 1), (17, 5, 7, 6), (40, 3, 33, 17)])
@pytest.mark.parametrize("from_logits", [False, True])
def test_float32_matches_float64(rng, T, N, C, S, from_logits):
    x, tg, il, tl = make_case(rng, T, N, C, S, repeats=True)
    fn = seqcore.ctc_loss_from_logits if from_logits else seqcore.ctc_loss
    l64, g64 = fn(x, tg, il, tl, reduction="none")
    l32, g32 = fn(x.astype(np.float32), tg.astype(np.int32), il.astype(np.int32),
                  tl.astype(np.int32), reduction="none")
    assert l32.dtype == np.float32 and g32.dtype == np.float32
    np.testing.assert_allclose(l32, l64, **F32)
    # The gradient is exp(alpha + beta - log p) with alpha, beta ~ -100 here: float32 keeps
    # them to ~1e-5 absolute, so occupancies carry ~1e-5 relative error. torch float32 vs
    # float64 shows up to 5e-5 on these shapes; a wrong gradient is off by O(0.1).
    np.testing.assert_allclose(g32, g64, rtol=0, atol=1e-4)


def test_bit_identical_across_threads(rng, restore_num_threads):
    # big enough for 3 threads (a call uses one per ~2e4 state-frames)
    x, tg, il, tl = make_case(rng, 120, 9, 13, 30, dtype=np.float32, repeats=True)
    out = []
    for threads in (1, 2, 3):
        seqcore.set_num_threads(threads)
        out.append(seqcore.ctc_loss_from_logits(x, tg, il, tl, reduction="none"))
    for losses, grad in out[1:]:
        np.testing.assert_array_equal(losses, out[0][0])
        np.testing.assert_array_equal(grad, out[0][1])


def test_padded_and_concatenated_agree(rng):
    x, tg, il, tl = make_case(rng, 12, 4, 6, 5, blank=5)
    a = seqcore.ctc_loss(x, tg, il, tl, blank=5)
    b = seqcore.ctc_loss(x, concat(tg, tl), il, tl, blank=5)
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])


def test_workspace_bytes(rng):
    x, tg, il, tl = make_case(rng, 200, 4, 6, 50)
    tl[:] = 50
    il[:] = 200
    one = seqcore.ctc_workspace_bytes(x, tg, il, tl, threads=1)
    # the linear-space path keeps alpha before emission and the emissions in float64 for
    # either dtype: two tables of T * (2 S + 1) doubles
    assert one >= 2 * 200 * 101 * 8
    assert one < 3 * 200 * 128 * 8                # and a few rows, not a third table
    assert seqcore.ctc_workspace_bytes(x, tg, il, tl, threads=2) == 2 * one
    assert seqcore.ctc_workspace_bytes(x.astype(np.float32), tg, il, tl, threads=1) == one
    tiny = seqcore.ctc_workspace_bytes(x[:5], tg[:, :1], np.full(4, 5), np.ones(4, int), threads=2)
    assert tiny == seqcore.ctc_workspace_bytes(x[:5], tg[:, :1], np.full(4, 5), np.ones(4, int),
                                               threads=1)       # too small for two threads
    assert seqcore.ctc_workspace_bytes(x, tg, il, tl, from_logits=True, threads=1) > one


# ------------------------------------------------------------------------- PyTorch


def _torch_ctc(torch, x, tg, il, tl, blank, reduction, zero_infinity, from_logits):
    xt = torch.tensor(x, requires_grad=True)
    lp = torch.log_softmax(xt, -1) if from_logits else xt
    loss = torch.nn.functional.ctc_loss(lp, torch.tensor(tg), torch.tensor(il),
                                        torch.tensor(tl), blank=blank, reduction=reduction,
                                        zero_infinity=zero_infinity)
    loss.sum().backward()
    return loss.detach().numpy(), xt.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("layout", ["padded", "concatenated"])
@pytest.mark.parametrize("blank", [0, 3])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_vs_torch(rng, reduction, layout, blank, zero_infinity):
    torch = pytest.importorskip("torch")
    T, N, C, S = 15, 5, 6, 6
    x, tg, il, tl = make_case(rng, T, N, C, S, blank=blank, normalised=False, repeats=True)
    tl[1] = 0                                       # empty target
    tg[2, :3] = [c for c in range(C) if c != blank][:1] * 3   # "aaa" needs 5 frames
    tl[2], il[2] = 3, 5                             # T = S + repeats exactly
    if zero_infinity:
        tl[3], il[3] = 4, 2                         # impossible
    if layout == "concatenated":
        tg = concat(tg, tl)
    tl, il = tl.astype(np.int32), il.astype(np.int64)
    loss, grad = seqcore.ctc_loss_from_logits(x, tg, il, tl, blank=blank, reduction=reduction,
                                              zero_infinity=zero_infinity)
    tloss, tgrad = _torch_ctc(torch, x, tg, il, tl, blank, reduction, zero_infinity, True)
    np.testing.assert_allclose(loss, tloss, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, tgrad, rtol=1e-9, atol=1e-12)
    # log_probs entry: torch's gradient assumes normalised input (it is the gradient
    # w.r.t. the logits); for normalised input it is ours plus exp(log_probs) * weight.
    lp = log_softmax(x)
    loss2, grad2 = seqcore.ctc_loss(lp, tg, il, tl, blank=blank, reduction=reduction,
                                    zero_infinity=zero_infinity)
    tloss2, tgrad2 = _torch_ctc(torch, lp, tg, il, tl, blank, reduction, zero_infinity, False)
    np.testing.assert_allclose(loss2, tloss2, rtol=1e-10, atol=1e-12)
    losses = seqcore.ctc_loss(lp, tg, il, tl, blank=blank, reduction="none")[0]
    w = np.ones(N) if reduction != "mean" else 1.0 / (np.maximum(tl, 1) * N)
    w = np.where(np.isfinite(losses), w, 0.0)
    valid = (np.arange(T)[:, None] < il[None, :])[..., None]
    np.testing.assert_allclose(grad2 + np.exp(lp) * w[None, :, None] * valid, tgrad2,
                               rtol=1e-9, atol=1e-12)


def test_vs_torch_float32(rng):
    torch = pytest.importorskip("torch")
    x, tg, il, tl = make_case(rng, 60, 6, 20, 15, dtype=np.float32, normalised=False,
                              repeats=True)
    loss, grad = seqcore.ctc_loss_from_logits(x, tg, il, tl)
    tloss, tgrad = _torch_ctc(torch, x, tg, il, tl, 0, "mean", False, True)
    np.testing.assert_allclose(loss, tloss, **F32)
    np.testing.assert_allclose(grad, tgrad, rtol=0, atol=2e-6)


# (seed, T, S, score scale); the paths the 8 utterances take were checked offline with a
# float64 simulation of both recursions
@pytest.mark.parametrize("seed,T,S,scale", [
    (0, 40, 12, 2.0),     # all in linear space
    (1, 300, 60, 2.0),    # long: some linear, some sent to log space by the spread probe
    (2, 12, 4, 400.0),    # emissions or alpha below double's range within 3 frames
    (3, 14, 5, 80.0),     # linear; alpha underflow at frame 7; beta underflow at frame 5
])
@pytest.mark.parametrize("from_logits", [False, True])
def test_linear_space_and_log_space_agree_with_torch(seed, T, S, scale, from_logits):
    """The kernel runs an utterance in linear space (per-frame rescaling) while every value
    stays in double's normal range, and in log space otherwise (also after a failed
    backward pass, whose gradient rows it had started to write); every case must give
    torch's float64 loss and gradient."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    N, C = 8, 9
    x = rng.standard_normal((T, N, C)) * scale
    tg = rng.integers(1, C, size=(N, S))
    il = np.array([T, T, T - 2, T // 2 + 2] * 2)
    tl = np.array([S, S // 2, S, S // 3] * 2)
    tg[1, 1] = tg[1, 0]                              # a repeat
    lp = log_softmax(x)
    fn = seqcore.ctc_loss_from_logits if from_logits else seqcore.ctc_loss
    losses, grad = fn(x if from_logits else lp, tg, il, tl, reduction="none")
    tloss, tgrad = _torch_ctc(torch, x, tg, il, tl, 0, "none", False, True)
    np.testing.assert_allclose(losses, tloss, rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(losses, ref.ctc_loss(lp, tg, il, tl), rtol=1e-11)
    if not from_logits:   # torch's gradient is w.r.t. the logits: ours + softmax * valid
        valid = (np.arange(T)[:, None] < il[None, :])[..., None]
        grad = grad + np.exp(lp) * valid
    np.testing.assert_allclose(grad, tgrad, rtol=1e-9, atol=1e-11)


# ------------------------------------------------------------------------- greedy


def test_greedy_hand_cases():
    # classes: 0 blank, 1 a, 2 b. Frames' arg-max: a a _ a b b _ -> a a b at frames 0, 3, 4
    best = [1, 1, 0, 1, 2, 2, 0]
    lp = np.full((7, 2, 3), -5.0)
    lp[np.arange(7), 0, best] = -0.1
    lp[:, 1, 0] = -0.1                               # all blank -> empty
    out = seqcore.ctc_greedy_decode(lp, np.array([7, 7]))
    np.testing.assert_array_equal(out[0][0], [1, 1, 2])
    np.testing.assert_array_equal(out[0][1], [0, 3, 4])
    assert out[1][0].size == 0 and out[1][1].size == 0
    # a length cut: only the first 4 frames -> a a
    out = seqcore.ctc_greedy_decode(lp.astype(np.float32), np.array([4, 0], np.int32))
    np.testing.assert_array_equal(out[0][0], [1, 1])
    assert out[1][0].size == 0
    # blank = 2: class 2 is dropped, class 0 kept
    out = seqcore.ctc_greedy_decode(lp, np.array([7, 7]), blank=2)
    np.testing.assert_array_equal(out[0][0], [1, 0, 1, 0])
    np.testing.assert_array_equal(out[1][0], [0])


# ------------------------------------------------------------------------- bad input


def _good():
    lp = np.zeros((5, 2, 4))
    return lp, np.array([[1, 2], [3, 0]]), np.array([5, 4]), np.array([2, 1])


@pytest.mark.parametrize("fn", [seqcore.ctc_loss, seqcore.ctc_loss_from_logits,
                                seqcore.ctc_workspace_bytes])
@pytest.mark.parametrize("change,exc,match", [
    (dict(il=np.array([6, 4])), ValueError, "input_lengths"),
    (dict(il=np.array([-1, 4])), ValueError, "input_lengths"),
    (dict(tl=np.array([-1, 1])), ValueError, "target_lengths"),
    (dict(tl=np.array([3, 1])), ValueError, "target_lengths"),
    (dict(tg=np.array([[1, 4], [3, 0]])), ValueError, "targets"),
    (dict(tg=np.array([[1, -1], [3, 0]])), ValueError, "targets"),
    (dict(tg=np.array([[1, 0], [3, 0]])), ValueError, "blank"),
    (dict(tg=np.array([1, 2])), ValueError, "targets"),
    (dict(tg=np.array([[1, 2]])), ValueError, "targets"),
    (dict(tg=np.zeros((2, 2, 1), np.int64)), ValueError, "targets"),
    (dict(il=np.array([5, 4, 4])), ValueError, "input_lengths"),
    (dict(tl=np.array([2])), ValueError, "target_lengths"),
    (dict(lp=np.zeros((5, 2))), ValueError, "T, N, C"),
    (dict(lp=np.zeros((5, 2, 4), np.int64)), TypeError, "float32"),
    (dict(lp=np.zeros((5, 2, 4), np.float16)), TypeError, "float32"),
    (dict(tg=np.array([[1.0, 2.0], [3.0, 0.0]])), TypeError, "targets"),
    (dict(il=np.array([5.0, 4.0])), TypeError, "input_lengths"),
    (dict(blank=4), ValueError, "blank"),
    (dict(blank=-1), ValueError, "blank"),
    (dict(blank=1.0), TypeError, "blank"),
])
def test_bad_input(fn, change, exc, match):
    lp, tg, il, tl = _good()
    kw = dict(lp=lp, tg=tg, il=il, tl=tl, blank=0)
    kw.update(change)
    with pytest.raises(exc, match=match):
        fn(kw["lp"], kw["tg"], kw["il"], kw["tl"], blank=kw["blank"])


def test_bad_reduction_and_greedy_input():
    lp, tg, il, tl = _good()
    with pytest.raises(ValueError, match="reduction"):
        seqcore.ctc_loss(lp, tg, il, tl, reduction="avg")
    with pytest.raises(ValueError, match="input_lengths"):
        seqcore.ctc_greedy_decode(lp, np.array([6, 1]))
    with pytest.raises(ValueError, match="input_lengths"):
        seqcore.ctc_greedy_decode(lp, np.array([1, 1, 1]))
    with pytest.raises(TypeError, match="log_probs"):
        seqcore.ctc_greedy_decode(lp.astype(int), il)
    with pytest.raises(ValueError, match="blank"):
        seqcore.ctc_greedy_decode(lp, il, blank=4)
    with pytest.raises(ValueError, match="log_probs"):
        seqcore.ctc_greedy_decode(lp[0], il)


def test_nan_input_gives_nan_loss():
    lp, tg, il, tl = _good()
    lp[0, 0, 0] = np.nan
    losses, _ = seqcore.ctc_loss(lp, tg, il, tl, reduction="none")
    assert np.isnan(losses[0]) and np.isfinite(losses[1])


# ------------------------------------------------------------------------- beam search


def exhaustive_labelings(lp, blank, lm=None, lm_weight=0.0, word_score=0.0):
    """{label tuple: score} over all label sequences by summing all C^T alignments."""
    T, C = lp.shape
    scores = {}
    for p in itertools.product(range(C), repeat=T):
        lab = tuple(c for i, c in enumerate(p) if c != blank and (i == 0 or c != p[i - 1]))
        s = lp[np.arange(T), list(p)].sum()
        scores[lab] = np.logaddexp(scores.get(lab, -np.inf), s)
    if lm is not None or word_score:
        for lab in scores:
            bonus = word_score * len(lab)
            if lm is not None:
                state, tot = lm.start(), 0.0
                for c in lab:
                    state, l = lm.score(state, c)
                    tot += l
                bonus += lm_weight * (tot + lm.finish(state))
            scores[lab] += bonus
    return sorted(scores.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize("T,C,blank", [(1, 3, 0), (4, 3, 0), (5, 3, 2), (4, 4, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_beam_equals_exhaustive_search(rng, T, C, blank, dtype):
    N = 2
    lp = log_softmax(rng.standard_normal((T, N, C)) * 1.5).astype(dtype)
    il = np.array([T, max(T - 1, 0)])
    out = seqcore.ctc_beam_search(lp, il, beam_width=500, blank=blank, n_best=4)
    for n in range(N):
        best = exhaustive_labelings(lp[:il[n], n].astype(np.float64), blank)[:len(out[n])]
        assert len(out[n]) == min(4, len(exhaustive_labelings(lp[:il[n], n], blank)))
        for (tokens, score), (lab, ref_score) in zip(out[n], best):
            assert tuple(tokens) == lab
            np.testing.assert_allclose(score, ref_score, rtol=1e-6 if dtype == np.float32
                                       else 1e-12)


def test_beam_with_lm_equals_exhaustive_search(rng):
    lm = seqcore.NGramLM("ab ba\nabba\nbab", [None, "a", "b", " "], order=2)
    lp = log_softmax(rng.standard_normal((4, 1, 4)))
    out = seqcore.ctc_beam_search(lp, np.array([4]), beam_width=500, n_best=5, lm=lm,
                                  lm_weight=0.7, word_score=0.3)
    best = exhaustive_labelings(lp[:, 0], 0, lm, 0.7, 0.3)[:5]
    for (tokens, score), (lab, ref_score) in zip(out[0], best):
        assert tuple(tokens) == lab
        np.testing.assert_allclose(score, ref_score, rtol=1e-12)
    # word_delimiter: a word bonus per run of non-delimiters
    out = seqcore.ctc_beam_search(lp, np.array([4]), beam_width=500, n_best=5,
                                  word_score=1.0, word_delimiter=3)
    plain = dict(exhaustive_labelings(lp[:, 0], 0))
    for tokens, score in out[0]:
        words = sum(1 for i, c in enumerate(tokens) if c != 3 and (i == 0 or tokens[i - 1] == 3))
        np.testing.assert_allclose(score, plain[tuple(tokens)] + words, rtol=1e-12)


def test_beam_pruning_knobs(rng, restore_num_threads):
    lp = log_softmax(rng.standard_normal((8, 5, 6)) * 2)
    il = np.array([8, 7, 0, 3, 8])
    full = seqcore.ctc_beam_search(lp, il, beam_width=8, n_best=3)
    assert full[2] == [(full[2][0][0], 0.0)] and full[2][0][0].size == 0  # no frames
    top1 = seqcore.ctc_beam_search(lp, il, beam_width=8, token_top_k=1)
    for n in range(5):     # only each frame's best label may extend: a subsequence of greedy
        allowed = set(np.argmax(lp[:il[n], n], axis=1).tolist())
        assert set(top1[n][0][0].tolist()) <= allowed
    none = seqcore.ctc_beam_search(lp, il, token_min_logp=np.inf)
    assert all(h[0][0].size == 0 for h in none)
    narrow = seqcore.ctc_beam_search(lp, il, beam_width=8, n_best=8, beam_threshold=1e-9)
    assert all(len(h) == 1 for h in narrow)


def test_beam_threads_identical(rng, restore_num_threads):
    lp = log_softmax(rng.standard_normal((40, 6, 6)) * 2)     # 240 frames x beam 16: 2 threads
    il = np.array([40, 31, 0, 3, 40, 17])
    out = []
    for threads in (1, 2):
        seqcore.set_num_threads(threads)
        out.append(seqcore.ctc_beam_search(lp, il, beam_width=16, n_best=3))
    for a, b in zip(*out):
        assert [(tuple(t), s) for t, s in a] == [(tuple(t), s) for t, s in b]


def test_beam_lm_hook_errors_propagate(rng):
    class Broken:
        def start(self):
            return 0

        def score(self, state, token):
            raise RuntimeError("lm failed")

        def finish(self, state):
            return 0.0

    lp = log_softmax(rng.standard_normal((3, 1, 3)))
    with pytest.raises(RuntimeError, match="lm failed"):
        seqcore.ctc_beam_search(lp, np.array([3]), lm=Broken())
    with pytest.raises(TypeError, match="lm"):
        seqcore.ctc_beam_search(lp, np.array([3]), lm=object())


@pytest.mark.parametrize("kw,exc,match", [
    (dict(beam_width=0), ValueError, "beam_width"),
    (dict(beam_width=2, n_best=3), ValueError, "n_best"),
    (dict(token_top_k=0), ValueError, "token_top_k"),
    (dict(beam_threshold=-1.0), ValueError, "beam_threshold"),
    (dict(word_delimiter=0), ValueError, "word_delimiter"),
    (dict(word_delimiter=3), ValueError, "word_delimiter"),
    (dict(blank=3), ValueError, "blank"),
    (dict(input_lengths=np.array([4])), ValueError, "input_lengths"),
    (dict(input_lengths=np.array([1, 1])), ValueError, "input_lengths"),
    (dict(log_probs=np.zeros((3, 1, 3), np.int32)), TypeError, "log_probs"),
    (dict(log_probs=np.zeros((3, 3))), ValueError, "log_probs"),
])
def test_beam_bad_input(kw, exc, match):
    args = dict(log_probs=np.zeros((3, 1, 3)), input_lengths=np.array([3]))
    args.update(kw)
    with pytest.raises(exc, match=match):
        seqcore.ctc_beam_search(**args)


# ------------------------------------------------------------------------- n-gram LM

TEXT = "the cat sat on the mat\nthe dog sat\na cat and a dog\n"
ALPHABET = [None] + list("abcdefghijklmnopqrstuvwxyz ")


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("smoothing", ["kneser-ney", "add-k"])
def test_ngram_sums_to_one(order, smoothing):
    lm = seqcore.NGramLM(TEXT, ALPHABET, order=order, smoothing=smoothing)
    states = [lm.start()]
    for text in ("th", "the c", "zq", "xyz ", "a"):        # seen and unseen contexts
        s = lm.start()
        for tok in lm.encode(text):
            s, _ = lm.score(s, tok)
        states.append(s)
    for s in states:
        total = sum(np.exp(lm.score(s, t)[1]) for t in lm.tokens) + np.exp(lm.finish(s))
        np.testing.assert_allclose(total, 1.0, rtol=1e-12)


def test_ngram_values():
    # add-k by hand: order 1, counts of "ab\nb" = a:1 b:2 end:2, V = 2 + end, k = 1
    lm = seqcore.NGramLM("ab\nb", [None, "a", "b"], order=1, smoothing="add-k", k=1.0)
    np.testing.assert_allclose(np.exp(lm.score((), 1)[1]), (1 + 1) / (5 + 3))
    np.testing.assert_allclose(np.exp(lm.finish(())), (2 + 1) / (5 + 3))
    # Kneser-Ney bigram by hand on "ab\nb": D = 0.5, vocab {a, b, end}
    lm = seqcore.NGramLM("ab\nb", [None, "a", "b"], order=2, discount=0.5)
    # continuation counts of the unigrams: a after {BOS}, b after {a, BOS}, end after {b}
    p1 = {1: (1 - .5) / 4 + .5 * 3 / 4 / 3, 2: (2 - .5) / 4 + .5 * 3 / 4 / 3,
          -2: (1 - .5) / 4 + .5 * 3 / 4 / 3}
    # context "a": seen once, followed by b
    np.testing.assert_allclose(np.exp(lm.score((1,), 2)[1]), (1 - .5) / 1 + .5 * 1 / 1 * p1[2])
    np.testing.assert_allclose(np.exp(lm.score((1,), 1)[1]), .5 * p1[1])
    # a text of the training set scores higher than a shuffled one
    lm = seqcore.NGramLM(TEXT, ALPHABET, order=3)
    assert lm.log_prob("the cat") > lm.log_prob("tca eht")


def test_ngram_bad_input():
    with pytest.raises(ValueError, match="order"):
        seqcore.NGramLM(TEXT, ALPHABET, order=0)
    with pytest.raises(ValueError, match="smoothing"):
        seqcore.NGramLM(TEXT, ALPHABET, smoothing="good-turing")
    with pytest.raises(ValueError, match="alphabet"):
        seqcore.NGramLM(TEXT, [None, "a", "a"])
    with pytest.raises(ValueError, match="discount"):
        seqcore.NGramLM(TEXT, ALPHABET, discount=1.5)
    lm = seqcore.NGramLM(TEXT, ALPHABET)
    with pytest.raises(ValueError, match="token"):
        lm.score(lm.start(), 0)                               # the blank


def test_empty_shapes():
    loss, grad = seqcore.ctc_loss(np.zeros((0, 2, 3)), np.zeros((2, 0), int), np.array([0, 0]),
                                  np.array([0, 0]))
    assert loss == 0 and grad.shape == (0, 2, 3)
    loss, grad = seqcore.ctc_loss(np.zeros((4, 0, 3)), np.zeros(0, int), np.zeros(0, int),
                                  np.zeros(0, int), reduction="sum")
    assert loss == 0 and grad.shape == (4, 0, 3)
    # C = 1 (only blank): the one alignment, d loss / d log_probs = -1 on every frame
    loss, grad = seqcore.ctc_loss(np.full((4, 1, 1), -0.5), np.zeros((1, 0), int),
                                  np.array([3]), np.array([0]), reduction="sum")
    assert loss == pytest.approx(1.5)
    np.testing.assert_array_equal(grad[:, 0, 0], [-1, -1, -1, 0])
    assert seqcore.ctc_greedy_decode(np.zeros((4, 0, 3)), np.zeros(0, int)) == []
    out = seqcore.ctc_beam_search(np.zeros((0, 2, 3)), np.array([0, 0]))
    assert [h[0][0].size for h in out] == [0, 0] and [h[0][1] for h in out] == [0.0, 0.0]


def test_beam_prefixes_unique_with_small_beams(rng):
    # a prefix can leave the beam and be re-created later; it must still be one hypothesis
    lp = log_softmax(rng.standard_normal((30, 8, 4)) * 3)
    for width in (2, 3, 5):
        out = seqcore.ctc_beam_search(lp, np.full(8, 30), beam_width=width, n_best=width)
        for hyps in out:
            seqs = [tuple(t) for t, _ in hyps]
            assert len(set(seqs)) == len(seqs)
            scores = [s for _, s in hyps]
            assert scores == sorted(scores, reverse=True)

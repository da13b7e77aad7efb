"""Seq2Seq: finite-difference gradients, native translation == Python-driven beam search,
score == teacher-forced loss, error analysis, bad input."""
import itertools

import numpy as np
import pytest

from seqcore import beam_search
from seqcore.seq2seq import Seq2Seq, error_analysis

CONFIGS = list(itertools.product(["lstm", "gru"], ["additive", "general"], [True, False]))


def _batch(rng, Vs=7, Vt=8, Ts=5, Tt=4, N=3):
    src = rng.integers(0, Vs, (Ts, N))
    sl = np.array([Ts, 2, 3][:N])
    tgt = rng.integers(3, Vt, (Tt, N))
    tl = np.array([Tt, 0, 2][:N])
    return src, sl, tgt, tl


@pytest.mark.parametrize("cell, attention, bi", CONFIGS)
def test_gradients_by_finite_differences(cell, attention, bi):
    m = Seq2Seq(7, 8, 3, 4, attention=attention, cell=cell, bidirectional_encoder=bi,
                attention_size=5, dtype=np.float64, seed=1)
    rng = np.random.default_rng(0)
    src, sl, tgt, tl = _batch(rng)
    loss, g = m.forward_backward(src, sl, tgt, tl)
    assert set(g) == {k for k, _ in m.named_parameters()}
    for name, arr in m.named_parameters():
        flat = arr.reshape(-1)
        for i in rng.choice(flat.size, min(4, flat.size), replace=False):
            old = flat[i]
            flat[i] = old + 1e-6
            lp, _ = m.forward_backward(src, sl, tgt, tl, grad=False)
            flat[i] = old - 1e-6
            lm, _ = m.forward_backward(src, sl, tgt, tl, grad=False)
            flat[i] = old
            fd = (lp - lm) / 2e-6
            assert abs(fd - g[name].reshape(-1)[i]) < 1e-7 + 1e-5 * abs(fd), (name, i)


@pytest.mark.parametrize("cell, attention, bi", CONFIGS)
def test_score_is_the_teacher_forced_log_likelihood(cell, attention, bi):
    m = Seq2Seq(7, 8, 3, 4, attention=attention, cell=cell, bidirectional_encoder=bi,
                dtype=np.float64, seed=3)
    src, sl, tgt, tl = _batch(np.random.default_rng(4))
    loss, _ = m.forward_backward(src, sl, tgt, tl, grad=False)
    scores = m.score(src, sl, tgt, tl)
    assert -scores.sum() / (tl + 1).sum() == pytest.approx(loss, rel=1e-12)


@pytest.mark.parametrize("cell, attention, bi", CONFIGS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_translate_equals_python_beam_search(cell, attention, bi, dtype):
    m = Seq2Seq(11, 13, 6, 8, attention=attention, cell=cell, bidirectional_encoder=bi,
                dtype=dtype, seed=2)
    rng = np.random.default_rng(1)
    src = rng.integers(0, 11, (7, 4))
    sl = np.array([7, 3, 5, 1])
    kw = dict(beam_width=4, max_length=9, n_best=3, length_penalty=0.6,
              no_repeat_ngram_size=3)
    native = m.translate(src, sl, **kw)
    step, init = m.step_function(src, sl)
    ref = beam_search(step, 4, m.bos_id, m.eos_id, init_state=init, **kw)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(native, ref):
        assert [list(h.tokens) for h in a] == [list(h.tokens) for h in b]
        np.testing.assert_allclose([h.score for h in a], [h.score for h in b], atol=tol)
        np.testing.assert_allclose([h.log_prob for h in a], [h.log_prob for h in b], atol=tol)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_native_translate_is_thread_count_invariant(cell, restore_num_threads):
    # big enough that the output layer's panels are split over two threads
    import seqcore
    m = Seq2Seq(50, 5001, 32, 96, cell=cell, seed=4)
    src = np.random.default_rng(3).integers(0, 50, (6, 4))
    sl = np.array([6, 4, 5, 2])
    out = []
    for nt in (1, 2):
        seqcore.set_num_threads(nt)
        out.append(m.translate(src, sl, beam_width=6, max_length=5, n_best=2))
    for a, b in zip(*out):
        assert [list(h.tokens) for h in a] == [list(h.tokens) for h in b]
        assert [h.score for h in a] == [h.score for h in b]
        assert [h.log_prob for h in a] == [h.log_prob for h in b]


def test_beam_log_prob_equals_score_of_its_output():
    m = Seq2Seq(9, 10, 5, 6, dtype=np.float64, seed=5)
    src = np.random.default_rng(2).integers(0, 9, (6, 2))
    sl = np.array([6, 4])
    best = [item[0] for item in m.translate(src, sl, beam_width=3, max_length=8)]
    L = max(len(h.tokens) for h in best)
    tgt = np.zeros((max(L, 1), 2), np.int64)
    for n, h in enumerate(best):
        tgt[:len(h.tokens), n] = h.tokens
    ended = [len(h.tokens) < 8 for h in best]      # hit max_length without EOS otherwise
    scores = m.score(src, sl, tgt, np.array([len(h.tokens) for h in best]))
    for n, h in enumerate(best):
        if ended[n]:
            assert h.log_prob == pytest.approx(scores[n], rel=1e-10)


def test_training_reduces_loss_and_copy_task_is_learnt():
    from seqcore.optim import Adam
    rng = np.random.default_rng(0)
    V = 8                                   # tokens 3..7; the task: copy the source
    m = Seq2Seq(V, V, 16, 32, dtype=np.float32, seed=0)
    params = dict(m.named_parameters())
    opt = Adam(params, lr=0.02)
    first = None
    for it in range(150):
        src = rng.integers(3, V, (5, 16))
        loss, g = m.forward_backward(src, np.full(16, 5), src, np.full(16, 5))
        first = loss if first is None else first
        opt.step(g)
    assert loss < 0.2 * first
    src = rng.integers(3, V, (5, 8))
    out = m.translate(src, np.full(8, 5), beam_width=3, max_length=8)
    acc = np.mean([list(o[0].tokens) == list(src[:, n]) for n, o in enumerate(out)])
    assert acc >= 0.75


def test_error_analysis():
    m = Seq2Seq(6, 7, 4, 5, dtype=np.float64, seed=1)
    src = np.array([3, 4, 5])
    hyp = list(m.translate(src[:, None], np.array([3]), beam_width=4, max_length=6)[0][0].tokens)
    worse = [3, 3, 3, 3]
    # the beam's output is more likely than an arbitrary sequence: blame the model
    assert error_analysis(m, src, reference=worse, hypothesis=hyp) == "model"
    assert error_analysis(m, src, reference=hyp, hypothesis=worse) == "search"


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(src_vocab=2), ValueError, "src_vocab"),
    (dict(attention="dot"), ValueError, "attention"),
    (dict(cell="rnn"), ValueError, "cell"),
    (dict(bos_id=99), ValueError, "bos_id"),
    (dict(embed_dim=0), ValueError, "embed_dim"),
    (dict(dtype=np.int32), TypeError, "dtype"),
])
def test_bad_construction(kwargs, exc, match):
    args = dict(src_vocab=5, tgt_vocab=6, embed_dim=3, hidden_size=4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        Seq2Seq(**args)


def test_bad_batches():
    m = Seq2Seq(5, 6, 3, 4)
    src = np.zeros((3, 2), np.int64)
    with pytest.raises(ValueError, match="src_lengths"):
        m.forward_backward(src, np.array([4, 1]), src, np.array([1, 1]))
    with pytest.raises(ValueError, match="src:"):
        m.forward_backward(src + 9, np.array([3, 1]), src, np.array([1, 1]))
    with pytest.raises(ValueError, match="tgt:"):
        m.forward_backward(src, np.array([3, 1]), src + 9, np.array([1, 1]))
    with pytest.raises(ValueError, match="tgt_lengths"):
        m.forward_backward(src, np.array([3, 1]), src, np.array([5, 1]))
    with pytest.raises(ValueError, match="beam_width"):
        m.translate(src, np.array([3, 1]), beam_width=0)
    with pytest.raises(TypeError, match="unexpected"):
        m.translate(src, np.array([3, 1]), temperature=2.0)

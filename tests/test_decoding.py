"""Beam search, greedy search, sampling and perplexity against exhaustive enumeration and
hand-computed cases."""
import itertools
import math

import numpy as np
import pytest

import seqcore
from seqcore.decoding import beam_search, greedy_search, perplexity, sample

BOS, EOS = 0, 1


class PrefixModel:
    """A language model whose next-token distribution is a seeded random function of the
    whole prefix; the state is the list of prefixes of the rows (gathered by beam_origin)."""

    def __init__(self, V, seed=0, batch_size=1, sharp=1.0):
        self.V, self.seed, self.sharp, self.cache = V, seed, sharp, {}
        self.init_state = [(b,) for b in range(batch_size)]

    def log_probs(self, prefix):
        if prefix not in self.cache:
            rng = np.random.default_rng([self.seed, len(prefix)] + list(prefix))
            z = rng.normal(size=self.V) * self.sharp
            z[BOS] = -1e9                      # BOS is never generated
            self.cache[prefix] = z - np.logaddexp.reduce(z)
        return self.cache[prefix]

    def step(self, tokens, state, origin):
        assert tokens.dtype == np.int64 and origin.dtype == np.int64
        if state is None:   # first call after init_state=None
            state = self.init_state
        new = [state[o] + ((int(t),) if int(t) != BOS or len(state[o]) > 1 else ())
               for o, t in zip(origin, tokens)]
        return np.stack([self.log_probs(p) for p in new]), new


def _lp(mode, alpha, n):
    if mode == "none" or alpha == 0:
        return 1.0
    return n ** alpha if mode == "avg" else ((5 + n) / 6) ** alpha


def exhaustive(model, item, max_length, mode, alpha, min_length=0):
    """Every finished sequence (tokens, score, log_prob) by enumeration."""
    out = []
    words = [v for v in range(model.V) if v not in (BOS, EOS)]
    for n in range(0, max_length + 1):
        for seq in itertools.product(words, repeat=n):
            logp, prefix = 0.0, (item,)
            for t in seq:
                logp += model.log_probs(prefix)[t]
                prefix += (t,)
            if n == max_length:            # reached max_length without EOS
                out.append((seq, logp / _lp(mode, alpha, n), logp))
            elif n >= min_length:
                logp += model.log_probs(prefix)[EOS]
                out.append((seq, logp / _lp(mode, alpha, n + 1), logp))
    return sorted(out, key=lambda x: -x[1])


@pytest.mark.parametrize("mode, alpha", [("none", 0.0), ("avg", 0.7), ("avg", 1.0),
                                         ("gnmt", 0.6), ("avg", -0.5)])
@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("min_length", [0, 2])
def test_beam_equals_exhaustive_search(mode, alpha, seed, min_length):
    V, L, batch = 4, 4, 2
    model = PrefixModel(V, seed, batch)
    res = beam_search(model.step, batch, BOS, EOS, init_state=model.init_state,
                      beam_width=V ** L, max_length=L, min_length=min_length,
                      length_penalty=alpha, length_penalty_mode=mode, n_best=5,
                      stopping="exhaustive")
    for b in range(batch):
        ref = exhaustive(model, b, L, mode, alpha, min_length)[:5]
        got = res[b]
        assert [tuple(h.tokens) for h in got] == [r[0] for r in ref]
        np.testing.assert_allclose([h.score for h in got], [r[1] for r in ref], rtol=1e-12)
        np.testing.assert_allclose([h.log_prob for h in got], [r[2] for r in ref], rtol=1e-12)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_beam_width_one_equals_greedy(seed, dtype):
    model = PrefixModel(7, seed, batch_size=3, sharp=0.5)

    def step(tokens, state, origin):
        lp, state = model.step(tokens, state, origin)
        return lp.astype(dtype), state

    beam = beam_search(step, 3, BOS, EOS, init_state=model.init_state, beam_width=1,
                       max_length=12)
    greedy = greedy_search(step, 3, BOS, EOS, init_state=model.init_state, max_length=12)
    for b in range(3):
        np.testing.assert_array_equal(beam[b][0].tokens, greedy[b].tokens)
        assert beam[b][0].log_prob == pytest.approx(greedy[b].log_prob, rel=1e-6)


class TwoPathModel:
    """V=3 (BOS, EOS, a): P(EOS | start) = 0.5, P(a | start) = 0.5, P(EOS | a) = 0.6,
    P(a | a) = 0.4. Candidates: [] (log .5, len 1) and [a] (log .5 + log .6, len 2)."""
    table = {0: [-np.inf, math.log(0.5), math.log(0.5)],
             1: [-np.inf, math.log(0.6), math.log(0.4)]}

    def step(self, tokens, state, origin):
        depth = 0 if state is None else state + 1
        return np.array([self.table[min(depth, 1)]] * len(tokens)), depth


@pytest.mark.parametrize("mode, alpha, best", [
    ("none", 0.0, ()),            # -0.693 vs -1.204
    ("avg", 1.0, (2,)),           # -0.693 vs -1.204 / 2 = -0.602
    ("gnmt", 1.0, ()),            # -0.693 vs -1.204 / (7/6) = -1.032
    ("avg", 0.0, ()),             # alpha 0: no normalisation
])
def test_length_penalty_hand_cases(mode, alpha, best):
    res = beam_search(TwoPathModel().step, 1, BOS, EOS, beam_width=2, max_length=2,
                      length_penalty=alpha, length_penalty_mode=mode, n_best=2,
                      stopping="exhaustive")[0]
    assert tuple(res[0].tokens) == best
    short, long_ = math.log(0.5), math.log(0.5) + math.log(0.6)
    want = {(): short / _lp(mode, alpha, 1), (2,): long_ / _lp(mode, alpha, 2)}
    for h in res:
        assert h.score == pytest.approx(want[tuple(h.tokens)], rel=1e-12)


@pytest.mark.parametrize("stopping", ["early", "patience", "exhaustive"])
def test_n_best_sorted_distinct_and_length_rules(stopping):
    model = PrefixModel(9, 3, batch_size=2, sharp=0.3)
    res = beam_search(model.step, 2, BOS, EOS, init_state=model.init_state, beam_width=6,
                      max_length=7, min_length=3, n_best=6, stopping=stopping, patience=1.5,
                      length_penalty=0.7)
    for item in res:
        assert 1 <= len(item) <= 6
        scores = [h.score for h in item]
        assert scores == sorted(scores, reverse=True)
        assert len({tuple(h.tokens) for h in item}) == len(item)
        for h in item:
            assert 3 <= len(h.tokens) <= 7
            assert EOS not in h.tokens and BOS not in h.tokens


def test_max_length_without_eos_finishes_as_is():
    V = 4

    def step(tokens, state, origin):   # EOS is impossible: every hypothesis hits max_length
        lp = np.log(np.array([[0.0, 0.0, 0.7, 0.3]] * len(tokens)))
        return lp, None

    with np.errstate(divide="ignore"):
        res = beam_search(step, 1, BOS, EOS, beam_width=2, max_length=3, n_best=2)[0]
    assert [tuple(h.tokens) for h in res] == [(2, 2, 2), (2, 2, 3)]
    assert res[0].log_prob == pytest.approx(3 * math.log(0.7))


def test_no_repeat_ngram_and_repetition_penalty():
    V = 6

    def step(tokens, state, origin):   # loves to repeat "2 3 2 3 ..."
        lp = np.full((len(tokens), V), math.log(0.02))
        lp[:, EOS] = math.log(0.001)
        lp[tokens == 2, 3] = math.log(0.9)
        lp[tokens != 2, 2] = math.log(0.9)
        return lp, None

    plain = beam_search(step, 1, BOS, EOS, beam_width=3, max_length=8)[0][0].tokens
    assert list(plain[:4]) == [2, 3, 2, 3]
    for n in (1, 2, 3):
        toks = list(beam_search(step, 1, BOS, EOS, beam_width=3, max_length=8,
                                no_repeat_ngram_size=n)[0][0].tokens)
        grams = [tuple(toks[i:i + n]) for i in range(len(toks) - n + 1)]
        assert len(grams) == len(set(grams)), (n, toks)
    pen = beam_search(step, 1, BOS, EOS, beam_width=3, max_length=8,
                      repetition_penalty=100.0)[0][0]
    assert len(set(pen.tokens)) == len(pen.tokens)   # a repeat now costs more than EOS


def test_prefix_is_forced_and_items_are_independent():
    model = PrefixModel(8, 5, batch_size=3, sharp=1.0)
    res = beam_search(model.step, 3, BOS, EOS, init_state=model.init_state, beam_width=4,
                      max_length=6, prefix=[[5, 6], [], [7]], n_best=2)
    assert list(res[0][0].tokens[:2]) == [5, 6]
    assert list(res[2][0].tokens[:1]) == [7]
    # item 1 has no prefix: equal to searching it alone
    alone = PrefixModel(8, 5, batch_size=3, sharp=1.0)

    def step1(tokens, state, origin):
        return alone.step(tokens, state if state is not None else [(1,)], origin)

    solo = beam_search(step1, 1, BOS, EOS, beam_width=4, max_length=6, n_best=2)[0]
    assert [tuple(h.tokens) for h in solo] == [tuple(h.tokens) for h in res[1]]


def test_sample_reproducible_and_distribution():
    V = 5
    p = np.array([0.0, 0.1, 0.2, 0.3, 0.4])

    def step(tokens, state, origin):
        with np.errstate(divide="ignore"):
            return np.log(np.tile(p, (len(tokens), 1))), None

    a = sample(step, 4000, BOS, EOS, max_length=1, seed=3)
    b = sample(step, 4000, BOS, EOS, max_length=1, seed=3)
    assert all(np.array_equal(x.tokens, y.tokens) for x, y in zip(a, b))
    first = np.array([x.tokens[0] if len(x.tokens) else EOS for x in a])
    counts = np.bincount(first, minlength=V)[1:]
    expected = 4000 * p[1:]
    chi2 = ((counts - expected) ** 2 / expected).sum()
    assert chi2 < 16.27      # chi-square 3 dof, p = 0.001
    top1 = sample(step, 50, BOS, EOS, max_length=3, top_k=1, seed=0)
    assert all(list(h.tokens) == [4, 4, 4] for h in top1)
    nucleus = sample(step, 2000, BOS, EOS, max_length=1, top_p=0.65, seed=1)
    seen = {int(h.tokens[0]) if len(h.tokens) else EOS for h in nucleus}
    assert seen == {3, 4}    # 0.4 + 0.3 >= 0.65: only the two most likely tokens
    hot = sample(step, 4000, BOS, EOS, max_length=1, temperature=1e-3, seed=2)
    assert all(list(h.tokens) == [4] for h in hot)


def test_perplexity():
    rng = np.random.default_rng(0)
    T, N, V = 6, 3, 7
    z = rng.normal(size=(T, N, V))
    lp = z - np.logaddexp.reduce(z, axis=2, keepdims=True)
    y = rng.integers(0, V, size=(T, N))
    lengths = np.array([6, 2, 4])
    nll = -sum(lp[t, n, y[t, n]] for n in range(N) for t in range(lengths[n]))
    assert perplexity(lp, y, lengths) == pytest.approx(math.exp(nll / lengths.sum()))
    uniform = np.full((T, N, V), -math.log(V))
    assert perplexity(uniform, y) == pytest.approx(V)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(eos_id=9), ValueError, "eos_id"),
    (dict(bos_id=7), ValueError, "bos_id"),
    (dict(eos_id=-1), ValueError, "eos_id"),
    (dict(beam_width=0), ValueError, "beam_width"),
    (dict(n_best=5, beam_width=4), ValueError, "n_best"),
    (dict(max_length=0), ValueError, "max_length"),
    (dict(min_length=5, max_length=5), ValueError, "min_length"),
    (dict(length_penalty_mode="wu"), ValueError, "length_penalty_mode"),
    (dict(stopping="never"), ValueError, "stopping"),
    (dict(patience=0.0, stopping="patience"), ValueError, "patience"),
    (dict(prefix=[[1]]), ValueError, "prefix"),
    (dict(beam_width=2.5), TypeError, "beam_width"),
])
def test_beam_bad_options(kwargs, exc, match):
    model = PrefixModel(5)
    args = dict(bos_id=BOS, eos_id=EOS, init_state=model.init_state, max_length=4)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        beam_search(model.step, 1, **args)


@pytest.mark.parametrize("search", ["beam", "greedy"])
def test_bad_step_outputs(search):
    run = (lambda step: beam_search(step, 2, BOS, EOS, max_length=3)) if search == "beam" \
        else (lambda step: greedy_search(step, 2, BOS, EOS, max_length=3))
    with pytest.raises(ValueError, match="shape"):
        run(lambda t, s, o: (np.zeros((len(t) + 1, 4)), None))
    with pytest.raises(ValueError, match="NaN"):
        run(lambda t, s, o: (np.full((len(t), 4), np.nan), None))
    with pytest.raises(TypeError, match="float32 or float64"):
        run(lambda t, s, o: (np.zeros((len(t), 4), np.int64), None))
    with pytest.raises(TypeError, match="log_probs, state"):
        run(lambda t, s, o: np.zeros((len(t), 4)))
    with pytest.raises(ValueError, match="eos_id"):
        run(lambda t, s, o: (np.zeros((len(t), 1)), None))


def test_sample_and_perplexity_bad_input():
    step = PrefixModel(5).step
    with pytest.raises(ValueError, match="temperature"):
        sample(step, 1, BOS, EOS, temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        sample(step, 1, BOS, EOS, top_p=0)
    with pytest.raises(ValueError, match="targets"):
        perplexity(np.zeros((2, 1, 3)), np.array([[0], [3]]))
    with pytest.raises(ValueError, match="lengths"):
        perplexity(np.zeros((2, 1, 3)), np.zeros((2, 1), int), np.array([3]))
    with pytest.raises(TypeError, match="targets"):
        perplexity(np.zeros((2, 1, 3)), np.zeros((2, 1)))


def test_exported():
    assert seqcore.beam_search is beam_search and seqcore.bleu.corpus_bleu

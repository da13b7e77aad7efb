"""Arc-standard parsing: the C++ state machine (legal moves, features, oracle, beam, global
loss) against the plain-Python machine of seqcore.reference, exhaustive search, finite
differences and hand-computed scores; the Parser on the Turkish treebank."""
import copy

import numpy as np
import pytest

from conftest import fd_pairs
from seqcore import _core, parsing
from seqcore import reference as ref


def random_parse(n, L, rng):
    """A random legal transition sequence and the (projective) tree it builds."""
    c = ref.ArcStandard(n, L)
    seq = []
    while not c.terminal():
        a = int(rng.choice(np.flatnonzero(c.legal())))
        c.apply(a)
        seq.append(a)
    return (seq, np.array([c.head[d] for d in range(1, n + 1)]),
            np.array([c.label[d] for d in range(1, n + 1)]))


def batch(rng, N=6, L=3, max_n=9):
    lengths = rng.integers(1, max_n + 1, N)
    trees = [random_parse(int(n), L, rng) for n in lengths]
    W = int(lengths.sum())
    attrs = np.stack([rng.integers(3, 50, W), rng.integers(3, 9, W), rng.integers(3, 20, W)])
    return lengths, trees, attrs


def theta_scores(theta):
    """A linear scorer on feature ids: score[m, a] = sum_j theta[j, f[m, j], a]."""
    def fn(f):
        return theta[np.arange(f.shape[1]), f].sum(axis=1)
    return fn


def sequence_score(theta, n, L, seq, attrs):
    c = ref.ArcStandard(n, L)
    total = 0.0
    for a in seq:
        f = np.array(c.features(attrs))
        total += theta[np.arange(len(f)), f, a].sum()
        c.apply(a)
    return total


def test_oracle_reproduces_random_projective_trees():
    rng = np.random.default_rng(0)
    lengths, trees, attrs = batch(rng, N=40, L=3, max_n=12)
    heads = np.concatenate([t[1] for t in trees])
    labels = np.concatenate([t[2] for t in trees])
    o = parsing.oracle(lengths, heads, labels, 3, attrs)
    assert o.features.shape == (2 * attrs.shape[1], parsing.num_features(3))
    off = 0
    for n, (_, head, label) in zip(lengths, trees):
        c = ref.ArcStandard(int(n), 3)
        for t in range(2 * n):
            a = int(o.transitions[2 * off + t])
            assert c.legal()[a]
            np.testing.assert_array_equal(o.features[2 * off + t],
                                          c.features(attrs[:, off:off + n]))
            c.apply(a)
        assert c.terminal()
        np.testing.assert_array_equal([c.head[d] for d in range(1, n + 1)], head)
        np.testing.assert_array_equal([c.label[d] for d in range(1, n + 1)], label)
        off += n


def test_features_and_legal_moves_match_the_python_machine():
    rng = np.random.default_rng(1)
    L = 2
    lengths, trees, attrs = batch(rng, N=8, L=L)
    beam = _core.ArcStandardBeam(lengths, L, 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    configs = [ref.ArcStandard(int(n), L) for n in lengths]
    while not beam.done():
        sent = beam.row_sentence()
        f, legal = beam.features(attrs), beam.legal()
        scores = rng.standard_normal(legal.shape)
        for m, s in enumerate(sent):
            c = configs[s]
            np.testing.assert_array_equal(legal[m], c.legal())
            np.testing.assert_array_equal(f[m], c.features(attrs[:, offsets[s]:offsets[s + 1]]))
            c.apply(int(np.flatnonzero(legal[m])[np.argmax(scores[m][legal[m]])]))
        beam.advance(scores)
    for s, parses in enumerate(beam.results()):
        head, label, _ = parses[0]
        np.testing.assert_array_equal(head, [configs[s].head[d] for d in range(1, lengths[s] + 1)])
        np.testing.assert_array_equal(label, [configs[s].label[d] for d in range(1, lengths[s] + 1)])


def test_greedy_with_oracle_scores_reproduces_the_gold_trees():
    rng = np.random.default_rng(2)
    lengths, trees, _ = batch(rng, N=20, L=4, max_n=15)
    heads = np.concatenate([t[1] for t in trees])
    labels = np.concatenate([t[2] for t in trees])
    gold = parsing.oracle(lengths, heads, labels, 4).transitions
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    beam = _core.ArcStandardBeam(lengths, 4, 1)
    while not beam.done():
        # Every row is still on its gold path: score its oracle transition 0, the rest -1.
        s = np.full((beam.num_rows(), 9), -1.0)
        for m, sent in enumerate(beam.row_sentence()):
            s[m, gold[2 * offsets[sent] + beam.step()]] = 0.0
        beam.advance(s)
    for (seq, head, label), parses in zip(trees, beam.results()):
        np.testing.assert_array_equal(parses[0][0], head)
        np.testing.assert_array_equal(parses[0][1], label)
        assert parses[0][2] == 0.0


@pytest.mark.parametrize("n,L", [(1, 2), (2, 2), (3, 2), (4, 1)])
def test_beam_equals_exhaustive_search(n, L):
    rng = np.random.default_rng(n * 10 + L)
    A = 1 + 2 * L
    attrs = np.stack([rng.integers(3, 12, n), rng.integers(3, 6, n)])
    theta = rng.standard_normal((48, 60, A))
    seqs = ref.arc_standard_parses(n, L)
    scored = sorted(((sequence_score(theta, n, L, s, attrs), s) for s in seqs),
                    key=lambda x: -x[0])
    K = len(seqs)
    got = parsing.parse(theta_scores(theta), [n], L, attrs, beam_width=K, k_best=K)[0]
    assert len(got) == K
    for (score, seq), p in zip(scored, got):
        c = ref.ArcStandard(n, L)
        for a in seq:
            c.apply(a)
        np.testing.assert_array_equal(p.head, [c.head[d] for d in range(1, n + 1)])
        np.testing.assert_array_equal(p.label, [c.label[d] for d in range(1, n + 1)])
        assert p.score == pytest.approx(score, rel=1e-12, abs=1e-12)
    # A narrower beam's best is never better than the exact best; K=1 is greedy.
    for k in (1, 2):
        best = parsing.parse(theta_scores(theta), [n], L, attrs, beam_width=k)[0][0]
        assert best.score <= scored[0][0] + 1e-12


def run_global(theta, lengths, L, gold, attrs, K):
    beam = _core.ArcStandardBeam(lengths, L, K, gold)
    feats = []
    while not beam.done():
        f = beam.features(attrs)
        feats.append(f)
        beam.advance(theta_scores(theta)(f))
    loss, stop, d = beam.global_loss()
    return loss, stop, d, feats


def test_global_loss_with_a_full_beam_is_the_exact_crf_loss():
    rng = np.random.default_rng(3)
    n, L = 3, 2
    attrs = np.stack([rng.integers(3, 12, n), rng.integers(3, 6, n)])
    theta = rng.standard_normal((48, 60, 5))
    seq, head, label = random_parse(n, L, rng)
    seqs = ref.arc_standard_parses(n, L)
    scores = np.array([sequence_score(theta, n, L, s, attrs) for s in seqs])
    z = np.log(np.exp(scores - scores.max()).sum()) + scores.max()
    gold_score = sequence_score(theta, n, L, seq, attrs)
    loss, stop, _, _ = run_global(theta, [n], L, np.array(seq), attrs, len(seqs))
    assert stop[0] == 2 * n
    assert loss[0] == pytest.approx(z - gold_score, rel=1e-12)


def test_global_loss_gradient_against_finite_differences():
    rng = np.random.default_rng(4)
    L = 2
    lengths, trees, attrs = batch(rng, N=5, L=L, max_n=7)
    attrs = attrs[:2]
    gold = np.concatenate([t[0] for t in trees])
    theta = rng.standard_normal((48, 60, 1 + 2 * L))
    K = 3
    loss, stop, d, feats = run_global(theta, lengths, L, gold, attrs, K)
    assert (stop < 2 * lengths).any(), "no early update exercised"
    grad = np.zeros_like(theta)
    for f, ds in zip(feats, d):
        for j in range(48):
            np.add.at(grad[j], f[:, j], ds)
    # Entries the search touched: the beam's selection is piecewise constant in theta, so a
    # small step leaves it unchanged and the loss is smooth there.
    touched = np.argwhere(grad != 0)
    assert len(touched) > 20
    eps = 1e-6
    for idx in touched[rng.choice(len(touched), 20, replace=False)]:
        idx = tuple(idx)
        tp, tm = theta.copy(), theta.copy()
        tp[idx] += eps
        tm[idx] -= eps
        fd = (run_global(tp, lengths, L, gold, attrs, K)[0].sum()
              - run_global(tm, lengths, L, gold, attrs, K)[0].sum()) / (2 * eps)
        assert fd == pytest.approx(grad[idx], rel=1e-5, abs=1e-7)


def test_attachment_scores_hand_computed():
    gold_h = [np.array([2, 0, 2]), np.array([0, 1])]
    gold_l = [np.array(["nsubj", "root", "obj"]), np.array(["root", "p"])]
    pred_h = [np.array([2, 0, 1]), np.array([0, 1])]
    pred_l = [np.array(["nsubj", "root", "obj"]), np.array(["root", "obj"])]
    # heads right: 2 + 2 of 5; heads and labels right: 2 + 1 of 5.
    r = parsing.attachment_scores(gold_h, gold_l, pred_h, pred_l)
    assert r == (80.0, 60.0, 5)


def test_bad_input():
    with pytest.raises(ValueError, match="not a projective tree"):
        parsing.oracle([4], [3, 4, 0, 2], [0, 0, 0, 0], 1)   # arcs 1<-3 and 2<-4 cross
    with pytest.raises(ValueError, match="not a projective tree"):
        parsing.oracle([3], [2, 0, 0], [0, 0, 0], 1)          # two words on ROOT
    with pytest.raises(ValueError, match="heads: word 2 .* head 5"):
        parsing.oracle([3], [2, 5, 0], [0, 0, 0], 1)
    with pytest.raises(ValueError, match="heads: word 1 .* head 1"):
        parsing.oracle([2], [1, 0], [0, 0], 1)
    with pytest.raises(ValueError, match="not a projective tree"):
        parsing.oracle([3], [2, 1, 0], [0, 0, 0], 1)          # a cycle 1 <-> 2
    with pytest.raises(ValueError, match="labels: word 1"):
        parsing.oracle([2], [2, 0], [3, 0], 2)
    with pytest.raises(ValueError, match="lengths: sentence 1"):
        parsing.oracle([2, 0], [2, 0], [0, 0], 1)
    with pytest.raises(TypeError, match="heads"):
        parsing.oracle([2], [2.0, 0.0], [0, 0], 1)
    fn = theta_scores(np.zeros((48, 10, 3)))
    two = np.array([[3, 4], [3, 3]])
    with pytest.raises(ValueError, match="k_best: expected at most beam_width=2"):
        parsing.parse(fn, [2], 1, two, beam_width=2, k_best=3)
    with pytest.raises(ValueError, match="lengths: sentence 0"):
        parsing.parse(fn, [0], 1, np.zeros((2, 0), int), beam_width=1)
    with pytest.raises(ValueError, match="attrs: expected 2 columns"):
        parsing.parse(fn, [2], 1, two[:, :1], beam_width=1)
    with pytest.raises(ValueError, match="attrs: expected a 2-D array"):
        parsing.parse(fn, [2], 1, two[0], beam_width=1)
    with pytest.raises(ValueError, match="attrs: expected shape"):
        parsing.oracle([2], [2, 0], [0, 0], 1, two[:, :1])
    with pytest.raises(ValueError, match="scores: expected 3 columns"):
        parsing.parse(lambda f: np.zeros((len(f), 4)), [2], 1, two)
    with pytest.raises(ValueError, match=r"NaN or \+inf"):
        parsing.parse(lambda f: np.full((len(f), 3), np.nan), [2], 1, two)
    with pytest.raises(ValueError, match="gold: transition 0 of sentence 0 is not legal"):
        _core.ArcStandardBeam([2], 1, 2, [1, 0, 0, 0])
    with pytest.raises(ValueError, match="gold: expected 4"):
        _core.ArcStandardBeam([2], 1, 2, [0, 0, 1])
    beam = _core.ArcStandardBeam([2], 1, 2, [0, 0, 1, 2])
    with pytest.raises(ValueError, match="not finished"):
        beam.global_loss()
    with pytest.raises(ValueError, match="without gold"):
        b = _core.ArcStandardBeam([1], 1, 1)
        b.advance(np.zeros((1, 3)))
        b.advance(np.zeros((1, 3)))
        b.global_loss()
    with pytest.raises(ValueError, match="after every sentence finished"):
        b.advance(np.zeros((0, 3)))


def test_attachment_scores_bad_input():
    with pytest.raises(ValueError, match="pred_heads: expected 1 sentences"):
        parsing.attachment_scores([[0]], [["root"]], [], [])
    with pytest.raises(ValueError, match="pred_heads: sentence 0"):
        parsing.attachment_scores([[0]], [["root"]], [[0, 1]], [["root", "x"]])


# ---- the Parser on real data ---------------------------------------------------------------

@pytest.fixture(scope="module")
def treebank():
    pytest.importorskip("conllu")
    from seqcore.datasets import DatasetError
    from seqcore.datasets.treebank import turkish_treebank
    try:
        return turkish_treebank()
    except DatasetError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def trained(treebank):
    p = parsing.Parser(("form", "suffix", "upos", "xpos"), dims={"form": 16}, label_dim=8,
                       hidden=32, seed=1)
    return p.fit(treebank.train[:300], epochs=2, global_epochs=1, global_batch=32,
                 progress=False)


def test_parser_predictions_are_trees_and_kbest_is_sorted(trained, treebank):
    from seqcore.datasets.treebank import is_projective
    dev = treebank.dev[:40]
    greedy = trained.predict(dev)
    kbest = trained.predict(dev, beam_width=4, k_best=4)
    for s, g, kb in zip(dev, greedy, kbest):
        n = len(s.form)
        assert len(g) == 1 and len(kb) == 4 or (len(kb) < 4 and n == 1)
        for p in g + kb:
            assert p.head.shape == (n,) and (p.head == 0).sum() == 1
            assert is_projective(p.head)
            assert ((p.label >= 0) & (p.label < trained.num_labels)).all()
        scores = [p.score for p in kb]
        assert scores == sorted(scores, reverse=True)
    # The locally normalised scores are log-probabilities; summed over a parse, <= 0.
    assert all(p.score <= 0 for g in greedy for p in g)
    lp = trained.scores(np.zeros((3, parsing.num_features(4)), np.int64))
    np.testing.assert_allclose(np.exp(lp.astype(np.float64)).sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("limit", [0, 20_000, 1 << 30])
def test_precomputed_hidden_layer_equals_the_network(trained, treebank, monkeypatch, limit):
    # Chen & Manning's pre-computed sums (inference) against the embedding + GEMM forward:
    # no table pre-computed, the small ones only, all of them.
    monkeypatch.setattr(parsing, "_PRECOMPUTED_BYTES", limit)
    feats = parsing.oracle(*_oracle_args(trained, treebank.dev[:20])).features
    trained._pre = None
    direct = trained._forward(feats)[0]
    pre = trained._precomputed()
    assert (len(pre.small_cols), len(pre.big_cols)) in {(0, feats.shape[1]),
                                                       (feats.shape[1], 0)} or 0 < limit < 1e6
    np.testing.assert_allclose(trained._raw_scores(feats), direct, rtol=1e-4, atol=1e-5)
    trained._pre = None


def test_parser_greedy_is_argmax_of_legal_log_probs(trained, treebank):
    s = treebank.dev[3]
    lengths, attrs = trained._ids(parsing._trees([s], trained.attributes, None, "s", False))
    beam = _core.ArcStandardBeam(lengths, trained.num_labels, 1)
    while not beam.done():
        lp = trained.scores(beam.features(attrs)).astype(np.float64)
        lp[~beam.legal()] = -np.inf
        onehot = np.full_like(lp, -1.0)
        onehot[0, np.argmax(lp[0])] = 0.0
        beam.advance(onehot)
    np.testing.assert_array_equal(beam.results()[0][0][0], trained.predict([s])[0][0].head)


def test_parser_save_load_and_conllu_round_trip(trained, treebank, tmp_path):
    from seqcore.datasets.treebank import read_conllu
    dev = treebank.dev[:25]
    path = tmp_path / "parser.npz"
    trained.save(path)
    again = parsing.Parser.load(path)
    a, b = trained.predict(dev, beam_width=2), again.predict(dev, beam_width=2)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x[0].head, y[0].head)
        np.testing.assert_array_equal(x[0].label, y[0].label)
    back = read_conllu(trained.to_conllu(dev, a))
    for s, x, r in zip(dev, a, back):
        assert r.form == s.form and r.upos == s.upos and r.sent_id == s.sent_id
        np.testing.assert_array_equal(r.head, x[0].head)
        assert r.deprel == [trained.labels[i] for i in x[0].label]
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.array("{}"))
    with pytest.raises(ValueError, match="path: .* not a saved Parser|has no matching"):
        parsing.Parser.load(bad)


def test_parser_backward_against_finite_differences(trained, treebank):
    p = copy.copy(trained)
    p.params = {k: v.astype(np.float64) for k, v in trained.params.items()}
    rng = np.random.default_rng(0)
    feats = np.asarray(parsing.oracle(*_oracle_args(trained, treebank.train[:3])).features)
    feats = feats[:7]
    target = rng.integers(0, 1 + 2 * p.num_labels, len(feats))

    def loss():
        s, _ = p._forward(feats)
        return parsing.softmax_cross_entropy(s, target, grad=False).loss

    s, cache = p._forward(feats)
    grads = p._backward(cache, parsing.softmax_cross_entropy(s, target).dlogits)
    names = sorted(p.params)
    num, ana = fd_pairs(loss, [p.params[k] for k in names], [grads[k] for k in names], rng,
                        n=4, nonzero=True)
    np.testing.assert_allclose(num, ana, rtol=1e-5, atol=1e-9)


def _oracle_args(p, sentences):
    from seqcore.datasets.treebank import projectivize
    trees = [t._replace(head=projectivize(t.head))
             for t in parsing._trees(sentences, p.attributes, None, "s", True)]
    lengths, attrs = p._ids(trees)
    return (lengths, np.concatenate([t.head for t in trees]), p._label_ids(trees, "s"),
            p.num_labels, attrs)


def test_parser_bad_input(trained, treebank):
    with pytest.raises(ValueError, match="not trained"):
        parsing.Parser().predict(treebank.dev[:1])
    with pytest.raises(ValueError, match="sentences: sentence 0 is empty"):
        trained.predict([treebank.dev[0]._replace(form=[])])
    with pytest.raises(ValueError, match="tags: sentence 0 has"):
        trained.predict(treebank.dev[:1], tags=[["NOUN"]])
    with pytest.raises(ValueError, match="tags: expected 1 upos lists"):
        trained.predict(treebank.dev[:1], tags=[])
    with pytest.raises(ValueError, match="'form' is not a tag column"):
        trained.predict(treebank.dev[:1], tags={"form": [["x"]]})
    with pytest.raises(ValueError, match="no CoNLL-U tokens"):
        trained.predict([treebank.dev[0]._replace(tokens=None)])
    with pytest.raises(ValueError, match="attributes"):
        parsing.Parser(("form", "lemma"))
    with pytest.raises(ValueError, match="dims"):
        parsing.Parser(("form",), dims={"upos": 3})
    with pytest.raises(ValueError, match="k_best"):
        trained.predict(treebank.dev[:1], beam_width=2, k_best=3)
    # A label not seen in training: an error when training on it; when evaluating, a word
    # with it counts as labelled wrong (documented in evaluate).
    s = treebank.dev[0]
    odd = s._replace(deprel=["nolabel"] * len(s.form))
    with pytest.raises(ValueError, match="sentence 0 has the label 'nolabel'"):
        copy.deepcopy(trained).fit([odd], epochs=1, warm_start=True, progress=False)
    assert trained.evaluate([odd]).las == 0.0
    with pytest.raises(TypeError, match="item 0"):
        copy.deepcopy(trained).fit([1, 2], progress=False)
    with pytest.raises(ValueError, match="no sentences"):
        trained.predict([])
    for kw, match in (({"global_averaging": 1.0}, "global_averaging"),
                      ({"self_normalization": -0.5}, "self_normalization")):
        with pytest.raises(ValueError, match=match):
            copy.deepcopy(trained).fit(treebank.train[:5], epochs=0, progress=False, **kw)


def test_self_normalization_gradient_against_finite_differences():
    from scipy.special import logsumexp
    from seqcore import softmax_cross_entropy
    rng = np.random.default_rng(3)
    s = rng.normal(0, 2, (7, 5)) + 3.0      # log Z far from 0: the penalty matters
    y = rng.integers(0, 5, 7)
    alpha = 0.7

    def loss():
        lse = logsumexp(s, axis=1)
        return float(np.mean(lse - s[np.arange(7), y]) + alpha * np.mean(lse ** 2))

    grad = parsing._self_normalization_grad(s, softmax_cross_entropy(s, y).dlogits, alpha)
    assert grad.dtype == np.float64
    num, ana = fd_pairs(loss, [s], [grad], rng, n=20)
    np.testing.assert_allclose(ana, num, rtol=1e-6, atol=1e-8)


def test_self_normalization_drives_log_z_towards_zero(treebank):
    from scipy.special import logsumexp
    from seqcore.datasets.treebank import projectivize
    train, dev = treebank.train[:300], treebank.dev[:40]
    feats = None
    mean_abs_log_z = []
    for alpha in (0.0, 1.0):
        p = parsing.Parser(("form", "upos"), dims={"form": 16}, hidden=32, seed=2)
        p.fit(train, epochs=3, self_normalization=alpha, progress=False)
        if feats is None:       # the oracle configurations of dev, as this parser's ids
            lengths, attrs = p._ids(parsing._trees(dev, p.attributes, None, "dev", gold=True))
            heads = np.concatenate([projectivize(s.head) for s in dev])
            labels = p._label_ids(parsing._trees(dev, (), None, "dev", gold=True), "dev")
            feats = parsing.oracle(lengths, heads, labels, p.num_labels, attrs).features
        z = logsumexp(p._raw_scores(feats).astype(np.float64), axis=1)
        mean_abs_log_z.append(np.abs(z).mean())
    assert mean_abs_log_z[1] < 0.25 * mean_abs_log_z[0], mean_abs_log_z


def test_parameter_average_is_the_weighted_sum_of_the_iterates():
    rng = np.random.default_rng(4)
    decay, T = 0.8, 12
    iterates = [{"w": rng.normal(size=(3, 2)), "b": rng.normal(size=4)} for _ in range(T + 1)]
    params = {k: v.copy() for k, v in iterates[0].items()}
    avg = parsing._ParameterAverage(params, decay)
    for t in range(1, T + 1):
        for k in params:
            params[k][...] = iterates[t][k]
        avg.update(params)
    # Closed form: iterate t has weight (1 - d_t) * prod_{s > t} d_s (d_0 = 0: the start).
    d = [0.0] + [min(decay, (1 + t) / (10 + t)) for t in range(1, T + 1)]
    w = [(1 - d[t]) * np.prod(d[t + 1:]) for t in range(T + 1)]
    assert abs(sum(w) - 1) < 1e-12
    with avg.swapped_in(params):
        for k in params:
            np.testing.assert_allclose(params[k], sum(wt * it[k] for wt, it in zip(w, iterates)),
                                       rtol=1e-12)
    for k in params:    # put back
        np.testing.assert_array_equal(params[k], iterates[T][k])
    none = parsing._ParameterAverage(params, 0.0)
    none.update(params)
    with none.swapped_in(params):
        np.testing.assert_array_equal(params["w"], iterates[T]["w"])


# ---- the Tagger ------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bilstm", "window"])
def test_tagger_learns_saves_and_loads(kind, treebank, tmp_path):
    t = parsing.Tagger(kind, columns=("upos", "xpos"), form_dim=16, affix_dim=8, hidden=24,
                       seed=2)
    t.fit(treebank.train[:400], epochs=2, dev=treebank.dev[:50], progress=False)
    assert [e for e, _ in t.history] == [1, 2]
    dev = treebank.dev[50:110]
    pred = t.predict(dev)
    assert set(pred) == {"upos", "xpos"}
    for s, u in zip(dev, pred["upos"]):
        assert len(u) == len(s.form) and set(u) <= set(t.vocab["upos"])
    # Accuracy against a count written here; the majority tag is the floor to beat.
    acc = t.evaluate(dev)
    ok = sum(a == b for s, u in zip(dev, pred["upos"]) for a, b in zip(s.upos, u))
    words = sum(len(s.form) for s in dev)
    assert acc["upos"] == pytest.approx(100.0 * ok / words)
    majority = max(sum(u == tag for s in dev for u in s.upos) for tag in t.vocab["upos"])
    assert acc["upos"] > 100.0 * majority / words
    t.save(tmp_path / "t.npz")
    again = parsing.Tagger.load(tmp_path / "t.npz")
    assert again.predict(dev) == pred
    # The parser takes the predicted tags.
    p = parsing.Parser(("form", "upos"), hidden=16).fit(treebank.train[:50], epochs=1,
                                                         progress=False)
    r = p.evaluate(dev, tags=pred)
    assert 0.0 <= r.las <= r.uas <= 100.0 and r.words == words


@pytest.mark.parametrize("kind", ["bilstm", "window"])
def test_tagger_backward_against_finite_differences(kind, treebank):
    t = parsing.Tagger(kind, columns=("upos", "feats"), form_dim=5, affix_dim=3, hidden=6,
                       window=1, dropout=0.0, dtype=np.float64, seed=3)
    t.fit(treebank.train[:30], epochs=0, progress=False)
    trees = parsing._trees(treebank.train[:3], t._INPUTS + t.columns, None, "s", False)
    ids, lengths = t._batch(trees)
    rng = np.random.default_rng(1)
    T, N = ids["form"].shape
    targets = {c: np.where(np.arange(T)[:, None] < lengths, rng.integers(0, len(t.vocab[c]),
                                                                         (T, N)), -1)
               for c in t.columns}

    def loss_and_grad():
        logits, cache = t._forward(ids, lengths, True)
        total, d = 0.0, {}
        for c in t.columns:
            V = logits[c].shape[2]
            r = parsing.softmax_cross_entropy(logits[c].reshape(T * N, V), targets[c].ravel(),
                                              ignore_index=-1)
            total += float(r.loss)
            d[c] = r.dlogits.reshape(T, N, V)
        return total, cache, d

    _, cache, d = loss_and_grad()
    grads = t._backward(cache, d)
    names = sorted(grads)
    # eps 1e-5: the loss sums a few units, so roundoff of 1e-15 / 1e-6 would be ~1e-9
    num, ana = fd_pairs(lambda: loss_and_grad()[0], [t.params[k] for k in names],
                        [grads[k] for k in names], rng, n=3, eps=1e-5, nonzero=True)
    np.testing.assert_allclose(num, ana, rtol=1e-5, atol=1e-9)


def test_tagger_bad_input(treebank, tmp_path):
    with pytest.raises(ValueError, match="kind"):
        parsing.Tagger("crf")
    with pytest.raises(ValueError, match="columns"):
        parsing.Tagger(columns=("form",))
    with pytest.raises(TypeError, match="dtype"):
        parsing.Tagger(dtype=np.int32)
    with pytest.raises(ValueError, match="not trained"):
        parsing.Tagger().predict(treebank.dev[:1])
    with pytest.raises(ValueError, match="sentence 0 is empty"):
        parsing.Tagger().fit([treebank.dev[0]._replace(form=[])], progress=False)
    np.savez(tmp_path / "x.npz", meta=np.array("{'kind': 'bilstm'}"))
    with pytest.raises(ValueError, match="not a saved Tagger|has no matching"):
        parsing.Tagger.load(tmp_path / "x.npz")


def test_demo_quick_run(treebank, tmp_path):
    import argparse

    from seqcore.demo import parse as demo
    ap = argparse.ArgumentParser()
    demo.add_arguments(ap)
    args = ap.parse_args(["--quick", "--no-progress", "--plot", str(tmp_path / "tree.png"),
                          "--save", str(tmp_path / "m"), "--beam", "2", "--hidden", "32"])
    res = demo.run(args)
    for name in ("greedy", "beam 2", "beam 2 global"):
        for split in ("dev", "test"):
            r = res[name][split]
            assert 0 <= r["las"] <= r["uas"] <= 100 and r["words"] > 0
    assert res["speed"]["greedy"]["tokens_per_s"] > 0
    assert (tmp_path / "tree.png").stat().st_size > 5000
    again = parsing.Parser.load(tmp_path / "m.parser.npz")
    assert again.attributes == demo._ATTRIBUTES

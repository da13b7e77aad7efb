"""Hypothesis property tests over every public function and class of seqcore.

Each group of specs (tests/property_specs.py) runs in its own interpreter
(tests/property_runner.py, started with sys.executable), so a segfault, an abort or a hang
fails that group's test and names the input that caused it, instead of killing pytest.

Profiles: by default (CI) the "ci" profile, derandomize=True (the same examples every run,
60 per spec). The long profile draws fresh random examples, 400 per spec (more than 10**4
inputs in all; about 15 minutes on 2 cores):

    SEQCORE_HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py -q

or one group / spec directly: ``python tests/property_runner.py --profile long --group ctc``.

Below the parametrised test: regression tests of the validation bugs the suite found.
"""
from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import seqcore as sc

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import property_specs as ps  # noqa: E402

PROFILE = os.environ.get("SEQCORE_HYPOTHESIS_PROFILE", "ci")
GROUP_TIMEOUT_S = {"ci": 300, "long": 3600}.get(PROFILE, 3600)


@pytest.mark.parametrize("group", sorted(ps.groups()))
def test_property_group(group, tmp_path):
    trace = tmp_path / "last_input.txt"
    cmd = [sys.executable, os.path.join(HERE, "property_runner.py"), "--profile", PROFILE,
           "--group", group, "--trace", str(trace)]
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=GROUP_TIMEOUT_S,
                              env=env)
    except subprocess.TimeoutExpired as e:
        last = trace.read_text() if trace.exists() else "?"
        pytest.fail(f"group {group}: hang, no result after {e.timeout} s; last input: {last}")
    out = proc.stdout + proc.stderr
    stats = [json.loads(line.split(" ", 1)[1]) for line in proc.stdout.splitlines()
             if line.startswith("PROPERTY_STATS ")]
    if proc.returncode != 0:
        last = trace.read_text().strip() if trace.exists() else "(none)"
        how = (f"killed by signal {signal.Signals(-proc.returncode).name}"
               if proc.returncode < 0 else f"exit status {proc.returncode}")
        pytest.fail(f"group {group}: {how}; last input: {last}\n{out[-6000:]}")
    assert {s["spec"] for s in stats} == set(ps.groups()[group])
    assert all(s["examples"] >= 1 and not s["failed"] for s in stats)
    # every spec reached a successful valid call at least once: the builders are honest
    for s in stats:
        assert s["outcomes"].get("valid:ok", 0) + s["outcomes"].get("layout:ok", 0) >= 1, s


def _public_names():
    names = set(sc.__all__)
    for mod in (sc.bleu, sc.corpus, sc.debias, sc.optim, ps.sc_models):
        names.update(mod.__all__)
    return names


def test_every_public_name_has_a_spec():
    covered = set()
    for s in ps.SPECS.values():
        covered.update(c.split(".")[0] for c in s.covers)
        covered.update(s.covers)
    # constants and an exception class: nothing to call
    missing = _public_names() - covered - {"BLEUScore", "SMOOTH_DEFAULTS", "EncodedCorpus",
                                           "RULE_DEFAULT", "RULE_DISCARD", "RULE_KEEP",
                                           "VocabularyError"}
    assert not missing, f"public names without a property spec: {sorted(missing)}"


def test_layout_helpers_keep_values_and_change_layout():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    for f in (ps._noncontig, ps._negstride, ps._offset):
        b = f(a)
        assert np.array_equal(a, b)
    assert not ps._noncontig(a).flags.c_contiguous
    assert ps._negstride(a).strides[0] < 0
    assert not ps._offset(a).flags.aligned


# --------------------------------------------------------------------------- regressions

def test_softmax_cross_entropy_validates_options():
    x, y = np.zeros((2, 3), np.float32), np.array([0, 1])
    with pytest.raises(TypeError, match="ignore_index"):
        sc.softmax_cross_entropy(x, y, ignore_index="a")      # was RuntimeError
    with pytest.raises(ValueError, match="ignore_index"):
        sc.softmax_cross_entropy(x, y, ignore_index=2**64)    # was RuntimeError
    with pytest.raises(ValueError, match="reduction"):
        sc.softmax_cross_entropy(x, y, reduction=None)        # was pybind11 TypeError
    with pytest.raises(TypeError, match="label_smoothing"):
        sc.softmax_cross_entropy(x, y, label_smoothing="0.1")  # was accepted
    assert sc.softmax_cross_entropy(x, y, ignore_index=np.int64(0)).loss > 0


@pytest.mark.parametrize("fn", ["ctc_loss", "ctc_loss_from_logits"])
def test_ctc_reduction_and_blank_validated(fn):
    lp = sc.log_softmax(np.zeros((3, 1, 3), np.float32))
    args = (lp, np.array([1]), np.array([3]), np.array([1]))
    with pytest.raises(ValueError, match="reduction"):
        getattr(sc, fn)(*args, reduction=None)
    with pytest.raises(ValueError, match="blank"):
        getattr(sc, fn)(*args, blank=2**64)


def test_ctc_int_options_validated():
    lp = sc.log_softmax(np.zeros((3, 1, 3), np.float32))
    with pytest.raises(TypeError, match="threads"):
        sc.ctc_workspace_bytes(lp, np.array([1]), np.array([3]), np.array([1]), threads=1.5)
    with pytest.raises(ValueError, match="n_best"):
        sc.ctc_beam_search(lp, np.array([3]), beam_width=2, n_best=2**64)
    with pytest.raises(TypeError, match="lm_weight"):
        sc.ctc_beam_search(lp, np.array([3]), lm_weight="1")
    with pytest.raises(ValueError, match="beam_threshold"):
        sc.ctc_beam_search(lp, np.array([3]), beam_threshold=math.nan)


def test_sdpa_int_and_cache_arguments_validated():
    q = np.zeros((1, 1, 2, 2), np.float32)
    with pytest.raises(ValueError, match="causal_offset"):
        sc.sdpa_forward(q, q, q, causal_offset=2**64)         # was pybind11 TypeError
    with pytest.raises(TypeError, match="block_q"):
        sc.sdpa_forward(q, q, q, block_q=math.inf)            # was OverflowError
    with pytest.raises(TypeError, match="block_q"):
        sc.sdpa_forward(q, q, q, block_q=1.5)                 # was truncated to 1
    with pytest.raises(TypeError, match="cache"):
        sc.sdpa_backward("abc", q)                            # was pybind11 TypeError
    with pytest.raises(TypeError, match="cache"):
        sc.luong_attention_backward(None, q[0, 0])
    with pytest.raises(TypeError, match="cache"):
        sc.additive_attention_backward(None, q[0, 0])
    with pytest.raises(TypeError, match="cache"):
        sc.multi_head_attention_backward(None, q[0])
    x = np.zeros((1, 1, 2), np.float32)
    w = np.zeros((6, 2), np.float32)
    with pytest.raises(TypeError, match="num_heads"):
        sc.multi_head_attention_forward(x, x, x, w, None, w[:2], None, 1.0)


def test_set_num_threads_validates():
    old = sc.get_num_threads()
    try:
        with pytest.raises(TypeError, match="n:"):
            sc.set_num_threads(True)                          # was taken as 1
        with pytest.raises(TypeError, match="n:"):
            sc.set_num_threads(1.5)                           # was pybind11 TypeError
        with pytest.raises(ValueError, match="n:"):
            sc.set_num_threads(2**64)                         # was pybind11 TypeError
        sc.set_num_threads(np.int64(1))
        assert sc.get_num_threads() == 1
    finally:
        sc.set_num_threads(old)


def test_sampled_losses_validate_reduction_and_counts():
    h, w = np.ones((2, 3), np.float32), np.ones((4, 3), np.float32)
    t = np.array([0, 1])
    s = sc.UnigramSampler(np.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        sc.negative_sampling_loss(h, w, t, np.array([[2], [3]]), reduction=None)
    with pytest.raises(ValueError, match="reduction"):
        sc.sampled_softmax_loss(h, w, None, t, s, 2, reduction=b"mean")
    with pytest.raises(TypeError, match="num_negatives"):
        sc.negative_sampling_loss(h, w, t, sampler=s, num_negatives=1.5)   # was truncated
    with pytest.raises(TypeError, match="num_sampled"):
        sc.sampled_softmax_loss(h, w, None, t, s, 2.7)                       # was truncated
    tree = sc.HuffmanTree(np.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        sc.hierarchical_softmax_loss(h, w[:3], t, tree, reduction="MEAN")


def test_unigram_sampler_validates_seed_shape_stream():
    with pytest.raises(TypeError, match="seed"):
        sc.UnigramSampler([1, 2], seed="3")                   # was int("3")
    with pytest.raises(TypeError, match="power"):
        sc.UnigramSampler([1, 2], power="1")
    s = sc.UnigramSampler([1, 2])
    with pytest.raises(TypeError, match="shape"):
        s.sample(2.5)                                          # was truncated to 2
    with pytest.raises(ValueError, match="shape"):
        s.sample((2**40, 2**40))                               # product beyond int64
    with pytest.raises(TypeError, match="stream"):
        s.sample(2, stream=1.5)
    assert s.sample((np.int64(2), 3)).shape == (2, 3)


def test_log_softmax_axis_must_be_int():
    with pytest.raises(TypeError, match="axis"):
        sc.log_softmax(np.zeros((2, 3)), axis=1.0)


def test_beam_search_options_validated():
    def step(tokens, state, origin):
        return np.log(np.full((len(tokens), 3), 1 / 3)), state
    with pytest.raises(ValueError, match="stopping"):
        sc.beam_search(step, 1, 0, 1, stopping=None)          # was pybind11 TypeError
    with pytest.raises(TypeError, match="length_penalty"):
        sc.beam_search(step, 1, 0, 1, length_penalty="0.5")   # was float("0.5")
    with pytest.raises(ValueError, match="max_length"):
        sc.beam_search(step, 1, 0, 1, max_length=2**64)       # was pybind11 TypeError
    with pytest.raises(TypeError, match="prefix"):
        sc.beam_search(step, 1, 0, 1, prefix=[[1.5]])         # was truncated to 1


def test_seq2seq_validates_sizes_and_translate_options():
    with pytest.raises(ValueError, match="attention_size"):
        sc.Seq2Seq(5, 5, 2, 2, attention_size=0.5)            # was ZeroDivisionError
    with pytest.raises(ValueError, match="bos_id"):
        sc.Seq2Seq(5, 5, 2, 2, bos_id=1.5)                    # was truncated to 1
    m = sc.Seq2Seq(5, 5, 2, 2)
    src, sl = np.array([[1], [2]]), np.array([2])
    with pytest.raises(TypeError, match="beam_width"):
        m.translate(src, sl, beam_width=2.5)                  # was truncated to 2
    with pytest.raises(ValueError, match="max_length"):
        m.translate(src, sl, max_length=2**64)
    with pytest.raises(ValueError, match="stopping"):
        m.translate(src, sl, stopping=None)


def test_build_vocab_bounds_min_count():
    with pytest.raises(ValueError, match="min_count"):
        sc.corpus.build_vocab([["a", "b"]], min_count=2**63)  # was pybind11 TypeError
    with pytest.raises(ValueError, match="max_vocab_size"):
        sc.corpus.build_vocab([["a", "b"]], min_count=1, max_vocab_size=2**64)


def test_bleu_accepts_numpy_ints_and_checks_tokenizer_input():
    s = sc.bleu.sentence_bleu("a b c", ["a b c"], max_order=np.int64(2))   # was ValueError
    assert s.score == pytest.approx(100.0)
    with pytest.raises(TypeError, match="line"):
        sc.bleu.tokenize_13a(None)                            # was AttributeError
    sc.bleu.tokenize_13a.cache_clear()                        # the benchmark's hook


def test_shared_int_helper_keeps_both_callers_behaviour():
    from seqcore import decoding, word2vec
    with pytest.raises(TypeError):
        decoding._int_arg("beam_width", True, 1)
    with pytest.raises(ValueError):
        decoding._int_arg("beam_width", 0, 1)
    assert decoding._int_arg("beam_width", np.int32(3), 1) == 3
    with pytest.raises(ValueError):                           # word2vec: ValueError for both
        word2vec._int_param("window", 1.5, 1)
    with pytest.raises(ValueError):
        word2vec._int_param("window", 0, 1)
    assert word2vec._int_param("window", np.int64(2), 1, 4) == 2


@pytest.mark.parametrize("fn", ["lstm_backward", "gru_backward", "rnn_backward"])
def test_rnn_backward_checks_the_cache_type(fn):
    with pytest.raises(TypeError, match="cache"):
        getattr(sc, fn)("abc", None)                          # was pybind11 TypeError


def test_ngram_order_and_bleu_order_bounded():
    with pytest.raises(ValueError, match="order"):
        sc.NGramLM("ab", ["a", "b"], order=True)              # was accepted as 1
    with pytest.raises(ValueError, match="order"):
        sc.NGramLM("ab", ["a", "b"], order=2**62)             # was OverflowError
    with pytest.raises(ValueError, match="max_order"):
        sc.bleu.corpus_bleu(["a"], [["a"]], max_order=2**62)  # was OverflowError


def test_ctc_beam_search_n_best_required_and_num_sampled_checked():
    lp = sc.log_softmax(np.zeros((3, 1, 3), np.float32))
    with pytest.raises(TypeError, match="n_best"):
        sc.ctc_beam_search(lp, np.array([3]), n_best=None)   # was pybind11 TypeError
    h, w = np.ones((1, 2), np.float32), np.ones((3, 2), np.float32)
    s = sc.UnigramSampler(np.ones(3))
    with pytest.raises(TypeError, match="num_sampled"):
        sc.sampled_softmax_loss(h, w, None, np.array([0]), s, True, sampled=np.array([1]))


@pytest.mark.parametrize("fn, args", [("bias_direction", ([("a", "b")],)),
                                      ("neutralize", (["a"], np.ones(2))),
                                      ("equalize", ([("a", "b")], np.ones(2)))])
def test_debias_checks_kv(fn, args):
    with pytest.raises(TypeError, match="kv"):
        getattr(sc.debias, fn)(None, *args)                   # was AttributeError


def test_clip_grad_norm_rejects_non_arrays():
    with pytest.raises(TypeError, match="grads"):
        sc.optim.clip_grad_norm({"w": [[1.0, 2.0]]}, 1.0)     # was AttributeError
    g = {"w": np.array([3.0, 4.0])}
    assert sc.optim.clip_grad_norm(g, 1.0) == pytest.approx(5.0)
    assert np.linalg.norm(g["w"]) == pytest.approx(1.0, rel=1e-5)


def test_seq2seq_uint64_padding_in_targets():
    m = sc.Seq2Seq(5, 5, 2, 2)
    tgt = np.array([[2**64 - 1]], np.uint64)                  # padding: never read
    loss, _ = m.forward_backward(np.array([[1]]), np.array([1]), tgt, np.array([0]))
    assert math.isfinite(loss)                                # was IndexError


def test_error_analysis_checks_model():
    with pytest.raises(TypeError, match="model"):
        sc.error_analysis(None, [1], [1], [2])                # was AttributeError


def test_seq2seq_targets_required():
    m = sc.Seq2Seq(5, 5, 2, 2)
    with pytest.raises(TypeError, match="tgt"):
        m.forward_backward(np.array([[1]]), np.array([1]), None, np.array([0]))  # AttributeError
    with pytest.raises(TypeError, match="tgt_lengths"):
        m.score(np.array([[1]]), np.array([1]), np.array([[1]]), None)

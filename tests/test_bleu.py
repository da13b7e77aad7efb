"""BLEU: hand-computed course examples, and equality with sacrebleu on random and real text."""
import math
import random

import pytest

from seqcore import bleu

SMOOTHS = ("exp", "floor", "add-k", "none")
WORDS = ("the cat is on mat a there dog sat 3.5 1,000 U.S. e-mail well-known "
         "Hello , . ! ? ; : ( ) \" ' & &amp; &quot; 12-13 -- x-ray 2/28/01 <skipped> "
         "THE Cat ÉTÉ naïve 東京").split()


def _random_sentence(rng, lo=0, hi=14):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def _random_corpus(seed, n_seg, n_refs):
    rng = random.Random(seed)
    hyps = [_random_sentence(rng) for _ in range(n_seg)]
    refs = [[_random_sentence(rng, 1) for _ in range(n_seg)] for _ in range(n_refs)]
    # Let hypotheses share n-grams with a reference so higher orders match too.
    for i in range(0, n_seg, 2):
        words = refs[0][i].split()
        cut = rng.randint(0, len(words))
        hyps[i] = " ".join(words[:cut] + hyps[i].split()[:3])
    return hyps, refs


def test_course_example_modified_precision():
    # Sequence Models, week 3: "the the the the the the the" against two references has
    # modified unigram precision 2/7 (the appears at most twice in a reference).
    r = bleu.corpus_bleu(["the the the the the the the"],
                         [["The cat is on the mat"], ["There is a cat on the mat"]],
                         smooth="none", lowercase=True)
    assert r.counts[0] == 2 and r.totals[0] == 7
    assert r.precisions[0] == pytest.approx(100 * 2 / 7)
    assert r.counts[1] == 0 and r.score == 0.0   # no bigram matches, no smoothing


def test_perfect_match_and_brevity_penalty():
    ref = "the cat is on the mat today"
    assert bleu.corpus_bleu([ref], [[ref]]).score == pytest.approx(100.0)
    r = bleu.corpus_bleu(["the cat is on"], [[ref]], smooth="none")
    # c = 4 < r = 7: BP = exp(1 - 7/4); precisions 4/4, 3/3, 2/2, 1/1.
    assert r.bp == pytest.approx(math.exp(1 - 7 / 4))
    assert r.score == pytest.approx(100 * math.exp(1 - 7 / 4))


def test_closest_reference_length_ties_to_shorter():
    r = bleu.corpus_bleu(["a b c d"], [["a b c"], ["a b c d e"]])
    assert r.ref_len == 3


def test_tokenize_13a_examples():
    assert bleu.tokenize_13a("Hello, world! It costs $3.50 (1,000 U.S.)") == \
        "Hello , world ! It costs $ 3.50 ( 1,000 U . S . )"
    assert bleu.tokenize_13a("well-known 12-13 &amp; &quot;x&quot;") == \
        'well-known 12 - 13 & " x "'
    sacrebleu = pytest.importorskip("sacrebleu")
    from sacrebleu.tokenizers.tokenizer_13a import Tokenizer13a
    rng, tok = random.Random(3), Tokenizer13a()
    for _ in range(300):
        s = _random_sentence(rng).replace(" ", rng.choice([" ", "", "\n", "-\n"]))
        assert bleu.tokenize_13a(s) == tok(s), s


@pytest.mark.parametrize("smooth", SMOOTHS)
@pytest.mark.parametrize("tokenize", ("13a", "none"))
@pytest.mark.parametrize("lowercase", (False, True))
@pytest.mark.parametrize("n_refs", (1, 3))
@pytest.mark.parametrize("seed", range(2))
def test_corpus_bleu_equals_sacrebleu(smooth, tokenize, lowercase, n_refs, seed):
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = _random_corpus(seed, 40, n_refs)
    ours = bleu.corpus_bleu(hyps, refs, smooth=smooth, tokenize=tokenize, lowercase=lowercase)
    theirs = sacrebleu.corpus_bleu(hyps, refs, smooth_method=smooth, tokenize=tokenize,
                                   lowercase=lowercase, force=True)
    assert ours.score == pytest.approx(theirs.score, abs=1e-9)
    assert ours.sys_len == theirs.sys_len and ours.ref_len == theirs.ref_len
    assert ours.totals == [int(t) for t in theirs.totals] or smooth == "add-k"
    assert ours.precisions == pytest.approx(theirs.precisions, abs=1e-9)
    if smooth != "add-k":   # sacrebleu reports add-k counts after adding k
        assert ours.counts == list(theirs.counts)


@pytest.mark.parametrize("smooth", SMOOTHS)
@pytest.mark.parametrize("seed", range(4))
def test_sentence_bleu_equals_sacrebleu(smooth, seed):
    sacrebleu = pytest.importorskip("sacrebleu")
    rng = random.Random(100 + seed)
    for _ in range(25):
        hyp = _random_sentence(rng)
        refs = [_random_sentence(rng, 1) for _ in range(rng.randint(1, 3))]
        ours = bleu.sentence_bleu(hyp, refs, smooth=smooth)
        theirs = sacrebleu.sentence_bleu(hyp, refs, smooth_method=smooth)
        assert ours.score == pytest.approx(theirs.score, abs=1e-9), (hyp, refs)


def test_real_text_equals_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    datapath = pytest.importorskip("gensim.test.utils").datapath
    with open(datapath("lee_background.cor"), encoding="utf8") as f:
        lines = [ln.strip() for ln in f if ln.strip()][:120]
    rng = random.Random(7)
    # Hypotheses: each line with words dropped / swapped; references: the original lines.
    hyps = []
    for ln in lines:
        w = ln.split()
        w = [x for x in w if rng.random() > 0.15]
        if len(w) > 3:
            i = rng.randrange(len(w) - 1)
            w[i], w[i + 1] = w[i + 1], w[i]
        hyps.append(" ".join(w))
    for smooth in SMOOTHS:
        ours = bleu.corpus_bleu(hyps, [lines], smooth=smooth)
        theirs = sacrebleu.corpus_bleu(hyps, [lines], smooth_method=smooth)
        assert ours.score == pytest.approx(theirs.score, abs=1e-9)
        assert 0 < ours.score < 100


def test_none_reference_segments_equal_sacrebleu():
    sacrebleu = pytest.importorskip("sacrebleu")
    hyps, refs = _random_corpus(11, 20, 2)
    refs[1] = [r if i % 3 else None for i, r in enumerate(refs[1])]
    assert bleu.corpus_bleu(hyps, refs).score == pytest.approx(
        sacrebleu.corpus_bleu(hyps, refs).score, abs=1e-9)


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(hypotheses="a b", references=[["a b"]]), TypeError, "hypotheses"),
    (dict(hypotheses=["a"], references=["a"]), TypeError, "references"),
    (dict(hypotheses=["a", "b"], references=[["a"]]), ValueError, r"references\[0\]"),
    (dict(hypotheses=["a"], references=[[None]]), ValueError, "no reference"),
    (dict(hypotheses=["a"], references=[["a"]], smooth="laplace"), ValueError, "smooth"),
    (dict(hypotheses=["a"], references=[["a"]], tokenize="intl"), ValueError, "tokenize"),
    (dict(hypotheses=["a"], references=[["a"]], max_order=0), ValueError, "max_order"),
])
def test_bad_input(kwargs, exc, match):
    with pytest.raises(exc, match=match):
        bleu.corpus_bleu(**kwargs)
    with pytest.raises(TypeError, match="references"):
        bleu.sentence_bleu("a", "a")

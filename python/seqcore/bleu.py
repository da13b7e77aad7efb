"""BLEU (Papineni et al., 2002) with sacrebleu's exact statistics, smoothing and tokenizers.

``corpus_bleu(hypotheses, references)`` takes ``references`` as sacrebleu does: a list of
reference *streams*, each a list of strings parallel to ``hypotheses`` (a stream may hold
``None`` for a segment with fewer references). Per segment: the hypothesis' n-gram counts
(orders 1..max_order) are clipped by the maximum count of that n-gram in any reference; the
reference length is the one closest to the hypothesis length (ties go to the shorter). The
corpus score sums these statistics over segments, then::

    BLEU = BP * exp(mean_n log p_n),   BP = 1 if c >= r else exp(1 - r / c)

with ``p_n`` the (smoothed) precisions in percent, ``c`` the total hypothesis length and
``r`` the total reference length. Smoothing (Chen & Cherry, WMT 2014, as sacrebleu):
``"none"``; ``"floor"`` (a zero count becomes ``smooth_value``, default 0.1); ``"add-k"``
(``k = smooth_value``, default 1, added to the counts and totals of orders n >= 2);
``"exp"`` (NIST/mteval: the k-th zero precision becomes ``1 / (2^k * total_n)``; default).
Tokenizers: ``"13a"`` (mteval-v13a, sacrebleu's default) and ``"none"`` (split on
whitespace). Scores are in [0, 100] and equal sacrebleu 2.x's to 1e-9.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from typing import List, NamedTuple, Optional, Sequence

import numpy as np

__all__ = ["BLEUScore", "corpus_bleu", "sentence_bleu", "tokenize_13a", "SMOOTH_DEFAULTS"]

#: Default ``smooth_value`` per method (None: the method takes no value).
SMOOTH_DEFAULTS = {"none": None, "floor": 0.1, "add-k": 1.0, "exp": None}
_TOKENIZERS = ("13a", "none")
#: Highest n-gram order accepted (the statistics hold 2 entries per order; 2**62 orders
#: raised OverflowError / MemoryError).
MAX_ORDER = 2**16

# mteval-v13a's language-dependent rules (Western languages), as sacrebleu's Tokenizer13a.
# The first rule, re.sub(r"([\{-\~\[-\` -\&\(-\+\:-\@\/])", r" \1 "), pads every ASCII
# symbol except ' , . - with spaces; str.translate does it ~10x faster than re.sub.
_PAD_13A = {c: f" {chr(c)} " for r in ((0x7B, 0x7E), (0x5B, 0x60), (0x20, 0x26), (0x28, 0x2B),
                                       (0x3A, 0x40), (0x2F, 0x2F))
            for c in range(r[0], r[1] + 1)}
_RULES_13A = (
    (re.compile(r"([^0-9])([\.,])"), r"\1 \2 "),                # . , unless after a digit
    (re.compile(r"([\.,])([^0-9])"), r" \1 \2"),                # . , unless before a digit
    (re.compile(r"([0-9])(-)"), r"\1 \2 "),                     # - after a digit
)


class BLEUScore(NamedTuple):
    """A BLEU result. ``score`` and ``precisions`` in percent (0..100).

    ``counts[n-1]``: clipped matches of n-grams; ``totals[n-1]``: n-grams in the hypotheses
    (both before add-k smoothing); ``bp``: brevity penalty; ``sys_len``/``ref_len``: total
    hypothesis and (closest) reference lengths in tokens.
    """
    score: float
    counts: List[int]
    totals: List[int]
    precisions: List[float]
    bp: float
    sys_len: int
    ref_len: int

    @property
    def ratio(self) -> float:
        """Hypothesis / reference length (0 when there is no reference token)."""
        return self.sys_len / self.ref_len if self.ref_len else 0.0

    def __str__(self) -> str:
        prec = "/".join(f"{p:.1f}" for p in self.precisions)
        return (f"BLEU = {self.score:.2f} {prec} (BP = {self.bp:.3f} ratio = {self.ratio:.3f} "
                f"hyp_len = {self.sys_len} ref_len = {self.ref_len})")


def tokenize_13a(line: str) -> str:
    """mteval-v13a tokenization (sacrebleu's ``"13a"``): returns space-joined tokens.

    Raises TypeError if ``line`` is not a str."""
    if not isinstance(line, str):
        raise TypeError(f"line: expected a str, got {type(line).__name__}")
    return _tokenize_13a(line)


@lru_cache(maxsize=2 ** 16)
def _tokenize_13a(line: str) -> str:
    line = line.replace("<skipped>", "").replace("-\n", "").replace("\n", " ")
    if "&" in line:
        line = (line.replace("&quot;", '"').replace("&amp;", "&")
                .replace("&lt;", "<").replace("&gt;", ">"))
    line = f" {line} ".translate(_PAD_13A)
    for pattern, repl in _RULES_13A:
        line = pattern.sub(repl, line)
    return " ".join(line.split())


# the cache of the tokenizer, reachable as before (the benchmark clears it between runs)
tokenize_13a.cache_clear = _tokenize_13a.cache_clear  # type: ignore[attr-defined]
tokenize_13a.cache_info = _tokenize_13a.cache_info  # type: ignore[attr-defined]


def _ngrams(tokens: Sequence[str], max_order: int) -> Counter:
    counts: Counter = Counter()
    for n in range(1, max_order + 1):
        counts.update(zip(*[tokens[i:] for i in range(n)]))
    return counts


def _closest_ref_len(hyp_len: int, ref_lens: Sequence[int]) -> int:
    return min(ref_lens, key=lambda r: (abs(hyp_len - r), r))


def _check_options(max_order, smooth, tokenize):
    if (isinstance(max_order, (bool, np.bool_)) or not isinstance(max_order, (int, np.integer))
            or not 1 <= max_order <= MAX_ORDER):
        raise ValueError(f"max_order: expected an int in [1, {MAX_ORDER}], got {max_order!r}")
    if smooth not in SMOOTH_DEFAULTS:
        raise ValueError(f"smooth: expected one of {tuple(SMOOTH_DEFAULTS)}, got {smooth!r}")
    if tokenize not in _TOKENIZERS:
        raise ValueError(f"tokenize: expected one of {_TOKENIZERS}, got {tokenize!r}")


def _segment_stats(hypotheses, streams, max_order, tokenize, lowercase):
    """Summed [sys_len, ref_len, counts..., totals...] over segments."""
    def prep(s: str) -> List[str]:
        if lowercase:
            s = s.lower()
        s = s.rstrip()
        return (_tokenize_13a(s) if tokenize == "13a" else s).split()

    stats = [0] * (2 + 2 * max_order)
    for i, hyp in enumerate(hypotheses):
        refs = [prep(stream[i]) for stream in streams if stream[i] is not None]
        if not refs:
            raise ValueError(f"references: segment {i} has no reference (all streams None)")
        ref_ngrams = _ngrams(refs[0], max_order)
        for ref in refs[1:]:        # clip by the max count over references
            for g, c in _ngrams(ref, max_order).items():
                if c > ref_ngrams[g]:
                    ref_ngrams[g] = c
        h = prep(hyp)
        stats[0] += len(h)
        stats[1] += _closest_ref_len(len(h), [len(r) for r in refs])
        for g, c in _ngrams(h, max_order).items():
            n = len(g) - 1
            stats[2 + max_order + n] += c
            m = ref_ngrams.get(g)
            if m:
                stats[2 + n] += min(c, m)
    return stats


def _score(stats, max_order, smooth, smooth_value, effective_order) -> BLEUScore:
    sys_len, ref_len = stats[0], stats[1]
    counts = list(stats[2:2 + max_order])
    totals = list(stats[2 + max_order:])
    if smooth_value is None:
        smooth_value = SMOOTH_DEFAULTS[smooth]
    bp = 1.0
    if sys_len < ref_len:
        bp = math.exp(1 - ref_len / sys_len) if sys_len > 0 else 0.0
    precisions = [0.0] * max_order
    if not any(counts):
        return BLEUScore(0.0, counts, totals, precisions, bp, sys_len, ref_len)
    mteval, order = 1.0, max_order
    for n in range(1, max_order + 1):
        c, t = counts[n - 1], totals[n - 1]
        if smooth == "add-k" and n > 1:
            c, t = c + smooth_value, t + smooth_value
        if t == 0:
            break
        if effective_order:
            order = n
        if c == 0:
            if smooth == "exp":
                mteval *= 2
                precisions[n - 1] = 100.0 / (mteval * t)
            elif smooth == "floor":
                precisions[n - 1] = 100.0 * smooth_value / t
        else:
            precisions[n - 1] = 100.0 * c / t
    # A zero precision contributes log 0 := -1e10 (sacrebleu's my_log): the score is 0.
    log_sum = sum(math.log(p) if p > 0 else -9999999999.0 for p in precisions[:order])
    return BLEUScore(bp * math.exp(log_sum / order), counts, totals, precisions, bp,
                     sys_len, ref_len)


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[Optional[str]]],
                max_order: int = 4, smooth: str = "exp", smooth_value: Optional[float] = None,
                tokenize: str = "13a", lowercase: bool = False,
                effective_order: bool = False) -> BLEUScore:
    """Corpus BLEU of ``hypotheses`` against one or more reference streams.

    Args:
        hypotheses: list of S detokenised hypothesis strings.
        references: list of R reference streams, each a list of S strings (``None`` where a
            segment has no reference in that stream), as ``sacrebleu.corpus_bleu``.
        max_order: highest n-gram order (4).
        smooth: ``"exp"`` (default), ``"floor"``, ``"add-k"`` or ``"none"``.
        smooth_value: the floor / k (defaults 0.1 / 1).
        tokenize: ``"13a"`` (default) or ``"none"``.
        lowercase: lowercase both sides first.
        effective_order: average only over the orders that have hypothesis n-grams.

    Returns:
        :class:`BLEUScore` (score 0..100), equal to ``sacrebleu.corpus_bleu`` with the same
        options (``smooth_method``/``smooth_value``/``tokenize``/``lowercase``/
        ``use_effective_order``), except that counts are reported before add-k smoothing.

    Raises:
        TypeError: hypotheses or a reference is not a string.
        ValueError: a stream's length differs from the number of hypotheses, a segment has
            no reference, or an unknown option.
    """
    _check_options(max_order, smooth, tokenize)
    if isinstance(hypotheses, str) or not all(isinstance(h, str) for h in hypotheses):
        raise TypeError("hypotheses: expected a list of strings")
    if isinstance(references, str) or not references or isinstance(references[0], str):
        raise TypeError("references: expected a list of reference streams (lists of strings), "
                        "e.g. [refs] for a single reference per segment")
    for k, stream in enumerate(references):
        if len(stream) != len(hypotheses):
            raise ValueError(f"references[{k}]: expected {len(hypotheses)} segments (one per "
                             f"hypothesis), got {len(stream)}")
        if not all(r is None or isinstance(r, str) for r in stream):
            raise TypeError(f"references[{k}]: expected strings (or None)")
    stats = _segment_stats(hypotheses, references, max_order, tokenize, lowercase)
    return _score(stats, max_order, smooth, smooth_value, effective_order)


def sentence_bleu(hypothesis: str, references: Sequence[str], max_order: int = 4,
                  smooth: str = "exp", smooth_value: Optional[float] = None,
                  tokenize: str = "13a", lowercase: bool = False,
                  effective_order: bool = True) -> BLEUScore:
    """BLEU of one hypothesis against its references (a list of strings).

    As ``sacrebleu.sentence_bleu``: ``effective_order=True`` by default, so a short sentence
    with no 4-gram is scored over the orders it has. Other arguments as :func:`corpus_bleu`.
    """
    if not isinstance(hypothesis, str):
        raise TypeError(f"hypothesis: expected a string, got {type(hypothesis).__name__}")
    if isinstance(references, str):
        raise TypeError("references: expected a list of reference strings, got a string")
    return corpus_bleu([hypothesis], [[r] for r in references], max_order, smooth,
                       smooth_value, tokenize, lowercase, effective_order)

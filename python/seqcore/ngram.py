"""A character n-gram language model for :func:`seqcore.ctc_beam_search`.

:class:`NGramLM` is trained from plain text with add-k or interpolated Kneser–Ney
smoothing and scores class indices, so a CTC beam search can use it without KenLM.

Sources: Chen & Goodman 1998, "An Empirical Study of Smoothing Techniques for Language
Modeling" (interpolated Kneser–Ney, eq. 26, continuation counts for the lower orders);
Jurafsky & Martin, "Speech and Language Processing", ch. 3 (add-k smoothing).
"""
from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Dict, Iterable, Optional, Sequence, Tuple, Union

from ._validate import int_arg

__all__ = ["NGramLM"]

#: Highest n-gram order accepted.
MAX_ORDER = 1024

_BOS = -1   # sentence-start padding of contexts (never predicted)
_END = -2   # end of sentence (predicted by finish())


class NGramLM:
    """Character n-gram language model over class indices.

    Parameters
    ----------
    text : str or iterable of str
        Training text; a string is split into lines. Each line is one sentence: its
        characters are mapped to tokens through ``alphabet`` (characters outside it are
        skipped), then an end symbol is appended.
    alphabet : sequence of str or None
        ``alphabet[i]`` is the character of class ``i``; ``None`` marks a class that is not
        text (the CTC blank): it cannot be scored.
    order : int in [1, 1024]
        n of the n-gram (contexts of n - 1 tokens, padded with a start symbol).
    smoothing : "kneser-ney" | "add-k"
        Interpolated Kneser–Ney with absolute ``discount`` (Chen & Goodman 1998), bottoming
        out in the uniform distribution; or add-k on the order-n counts.
    k : float > 0
        Pseudo-count of add-k.
    discount : float in (0, 1)
        Kneser–Ney absolute discount D.

    For every state the probabilities of the ``V`` modelled characters plus the end symbol
    sum to 1. States are tuples of the last ``order - 1`` tokens (``-1`` = start).

    The beam-search hook: ``start() -> state``, ``score(state, token) -> (state, logp)``,
    ``finish(state) -> logp`` (natural log). ``log_prob(text)`` scores a whole sentence.

    Raises ValueError for a bad order/smoothing/k/discount, an alphabet with repeated
    characters or none at all, and from score() for a token that is not modelled.
    """

    def __init__(self, text: Union[str, Iterable[str]], alphabet: Sequence[Optional[str]],
                 order: int = 3, smoothing: str = "kneser-ney", k: float = 0.1,
                 discount: float = 0.75):
        # contexts are padded with order - 1 start symbols per line: bounded (2**62 raised
        # OverflowError / MemoryError); a bool is not an order
        order = int_arg("order", order, 1, MAX_ORDER, type_error=ValueError)
        if smoothing not in ("kneser-ney", "add-k"):
            raise ValueError(f"smoothing: expected 'kneser-ney' or 'add-k', got {smoothing!r}")
        if not k > 0:
            raise ValueError(f"k: expected > 0, got {k}")
        if not 0 < discount < 1:
            raise ValueError(f"discount: expected in (0, 1), got {discount}")
        chars = [a for a in alphabet if a is not None]
        if not chars or len(set(chars)) != len(chars):
            raise ValueError("alphabet: expected distinct characters (None for non-text classes)")
        self.order, self.smoothing, self.k, self.discount = order, smoothing, k, discount
        self.alphabet = list(alphabet)
        self._index: Dict[str, int] = {a: i for i, a in enumerate(alphabet) if a is not None}
        self.tokens = sorted(self._index.values())          # modelled class indices
        self._token_set = frozenset(self.tokens)
        self._vocab = self.tokens + [_END]
        self._V = len(self._vocab)
        lines = text.splitlines() if isinstance(text, str) else list(text)
        # counts[m][context of m-1 tokens][token]: raw counts at the top order, and for
        # Kneser-Ney continuation counts (distinct left extensions) below it
        top: Dict[tuple, Counter] = defaultdict(Counter)
        for line in lines:
            seq = [_BOS] * (order - 1) + self.encode(line) + [_END]
            for i in range(order - 1, len(seq)):
                top[tuple(seq[i - order + 1:i])][seq[i]] += 1
        self._counts = {order: top}
        if smoothing == "kneser-ney":
            for m in range(order - 1, 0, -1):
                lower: Dict[tuple, Counter] = defaultdict(Counter)
                for ctx, ws in self._counts[m + 1].items():
                    for w in ws:
                        lower[ctx[1:]][w] += 1          # one more distinct left context
                self._counts[m] = lower
        self._totals = {m: {ctx: (sum(ws.values()), len(ws)) for ctx, ws in c.items()}
                        for m, c in self._counts.items()}
        self._cache: Dict[Tuple[tuple, int], float] = {}

    # -- text -----------------------------------------------------------------------------

    def encode(self, text: str):
        """Class indices of the characters of ``text`` found in the alphabet."""
        return [self._index[ch] for ch in text if ch in self._index]

    # -- probabilities ---------------------------------------------------------------------

    def _prob(self, ctx: tuple, w: int) -> float:
        if self.smoothing == "add-k":
            c = self._counts[self.order].get(ctx)
            total = self._totals[self.order].get(ctx, (0, 0))[0]
            return ((c[w] if c else 0) + self.k) / (total + self.k * self._V)
        D = self.discount
        p = 1.0 / self._V
        for m in range(1, self.order + 1):               # lowest order first
            h = ctx[len(ctx) - (m - 1):] if m > 1 else ()
            c = self._counts[m].get(h)
            if not c:
                continue                                # unseen context: keep the lower order
            total, types = self._totals[m][h]
            p = max(c[w] - D, 0.0) / total + D * types / total * p
        return p

    def logp(self, state: tuple, token: int) -> float:
        """``log p(token | state)``; ``token`` is a modelled class index or -2 (end)."""
        key = (state, token)
        v = self._cache.get(key)
        if v is None:
            v = math.log(self._prob(state, token))
            self._cache[key] = v
        return v

    def start(self) -> tuple:
        return (_BOS,) * (self.order - 1)

    def score(self, state: tuple, token) -> Tuple[tuple, float]:
        token = int(token)
        if token not in self._token_set:
            raise ValueError(f"token: class {token} is not a character of this model")
        return (state + (token,))[1:] if self.order > 1 else state, self.logp(state, token)

    def finish(self, state: tuple) -> float:
        return self.logp(state, _END)

    def log_prob(self, text: str) -> float:
        """Natural-log probability of ``text`` as one sentence (end symbol included)."""
        state, total = self.start(), 0.0
        for tok in self.encode(text):
            state, lp = self.score(state, tok)
            total += lp
        return total + self.finish(state)

    def __repr__(self):
        return (f"NGramLM(order={self.order}, smoothing={self.smoothing!r}, "
                f"V={self._V - 1} characters + end)")

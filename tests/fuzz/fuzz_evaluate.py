"""atheris harness: the evaluation files of KeyedVectors, evaluate_word_pairs (``a<TAB>b<TAB>
score`` lines) and evaluate_word_analogies (``: section`` and ``a b c d`` lines), with a
fixed small set of vectors.

Input: one mode byte (bit 0: analogies, else pairs; bit 1: case_insensitive; bit 2:
dummy4unknown; bit 3: restrict_vocab 3 instead of the default; bit 4, pairs: delimiter ' '),
then the file. Accepted: ValueError (UnicodeDecodeError included).
"""
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    from seqcore import KeyedVectors

ACCEPTED = (ValueError,)
KEYS = ["the", "of", "king", "queen", "man", "woman", "King", "paris", "france", "x"]
_KV = KeyedVectors(KEYS, np.random.default_rng(0).standard_normal((len(KEYS), 4))
                   .astype(np.float32))


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode, path = _harness.mode_and_file(data)
    kwargs = dict(case_insensitive=bool(mode & 2), dummy4unknown=bool(mode & 4))
    if mode & 8:
        kwargs["restrict_vocab"] = 3
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy: constant input, too few points
        try:
            if mode & 1:
                score, sections = _KV.evaluate_word_analogies(path, **kwargs)
                assert 0.0 <= score <= 1.0 and sections[-1]["section"] == "Total accuracy"
            else:
                _KV.evaluate_word_pairs(path, delimiter=" " if mode & 16 else "\t", **kwargs)
        except ACCEPTED:
            return


if __name__ == "__main__":
    _harness.main(TestOneInput)

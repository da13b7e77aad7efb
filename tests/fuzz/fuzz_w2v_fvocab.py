"""atheris harness: the ``fvocab`` file (``word count`` lines, word2vec.c -save-vocab) of
KeyedVectors.load_word2vec_format, next to a fixed valid vectors file.

Input: the fvocab file. Accepted: ValueError (UnicodeDecodeError included).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    from seqcore import KeyedVectors

ACCEPTED = (ValueError,)
VECTORS = b"4 3\nthe 0.1 0.2 0.3\nof -0.5 0.25 1\nand 1e-3 2 -3\nking 0 0 0\n"


def TestOneInput(data: bytes) -> None:
    vectors = _harness.write_input(VECTORS, ".vectors")
    fvocab = _harness.write_input(data)
    try:
        kv = KeyedVectors.load_word2vec_format(vectors, fvocab=fvocab)
    except ACCEPTED:
        return
    assert kv.counts is not None and kv.counts.shape == (len(kv),)
    # the counts order the output, and come back from the written fvocab file
    out, out_vocab = _harness.input_path(".out"), _harness.input_path(".outvocab")
    kv.save_word2vec_format(out, fvocab=out_vocab)
    back = KeyedVectors.load_word2vec_format(out, fvocab=out_vocab)
    order = np.argsort(-kv.counts, kind="stable")
    assert back.index_to_key == [kv.index_to_key[i] for i in order]
    assert np.array_equal(back.counts, kv.counts[order])


if __name__ == "__main__":
    _harness.main(TestOneInput)

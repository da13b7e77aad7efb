"""atheris harness: KeyedVectors.load_word2vec_format(binary=False) on arbitrary bytes.

Input: one mode byte (bit 0: no_header; bits 1-2: limit None/1/2/3; bit 3: datatype float64),
then the file. Accepted: ValueError (UnicodeDecodeError included).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    from seqcore import KeyedVectors

def _load(mode, path):
    return KeyedVectors.load_word2vec_format(
        path, binary=False, no_header=bool(mode & 1), limit=(mode >> 1) & 3 or None,
        datatype=np.float64 if mode & 8 else np.float32)


@_harness.file_input(_load)
def TestOneInput(mode, path, kv):
    _harness.exercise_keyedvectors(kv)


if __name__ == "__main__":
    _harness.main(TestOneInput)

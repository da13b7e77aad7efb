"""atheris harness: KeyedVectors.load_word2vec_format(binary=True) on arbitrary bytes.

Input: one mode byte (bits 0-1: limit None/1/2/3; bit 2: unicode_errors 'replace'), then
the file. Accepted: ValueError (UnicodeDecodeError included).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    from seqcore import KeyedVectors

def _load(mode, path):
    return KeyedVectors.load_word2vec_format(path, binary=True, limit=(mode & 3) or None,
                                             unicode_errors="replace" if mode & 4 else "strict")


@_harness.file_input(_load)
def TestOneInput(mode, path, kv):
    _harness.exercise_keyedvectors(kv)


if __name__ == "__main__":
    _harness.main(TestOneInput)

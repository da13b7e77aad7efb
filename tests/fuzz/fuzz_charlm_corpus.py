"""atheris harness: the text file reader of the character LM demo (``seqcore.demo.charlm``:
load_corpus, then encode to character ids and cut into training streams).

Input: one mode byte (max_chars: 0 = all, else that many; low 2 bits + 1: streams), then
the file. Accepted: ValueError (UnicodeDecodeError for a file that is not UTF-8, a text too
short for the streams).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    from seqcore.demo import charlm

def _load(mode, path):
    text, source = charlm.load_corpus(path, max_chars=mode >> 2)
    ids, vocab = charlm.encode(text)
    charlm._streams(ids, (mode & 3) + 1)   # ValueError: too short for the streams
    return text, ids, vocab


@_harness.file_input(_load)
def TestOneInput(mode, path, loaded):
    text, ids, vocab = loaded
    assert "".join(vocab[i] for i in ids) == text and vocab == sorted(set(text))


if __name__ == "__main__":
    _harness.main(TestOneInput)

"""atheris harness: the ``corpus_file`` readers (C++ VocabCounter.add_file and
encode_corpus through seqcore.corpus.build_vocab / Vocabulary.encode, then Word2Vec and
GloVe trained from the file, and a Word2Vec save/load round trip).

Input: one mode byte (bit 0: min_count 2; bit 1: max_vocab_size 3; bit 2: Word2Vec; bit 3:
its save/load round trip; bit 4: GloVe; bit 5: Word2Vec sg=1 hs=1), then the file.
The vocabulary and encoding are compared with a plain Python reading of the file (lines
split on '\\n', tokens on ASCII whitespace). Accepted: ValueError (UnicodeDecodeError, an
empty corpus, no word reaching min_count), FloatingPointError (divergence).
"""
import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import numpy as np  # noqa: E402

import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    import seqcore
    from seqcore.corpus import build_vocab

ACCEPTED = (ValueError, FloatingPointError)


def _python_reading(body):
    lines = body.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    # invalid UTF-8 raises in build_vocab unless max_vocab_size pruned the word first: such
    # words (surrogate-escaped here) are never in the vocabulary
    return [[w.decode("utf8", "surrogateescape") for w in line.split()] for line in lines]


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    mode, path = _harness.mode_and_file(data)
    min_count = 2 if mode & 1 else 1
    max_vocab_size = 3 if mode & 2 else None
    try:
        vocab = build_vocab(corpus_file=path, min_count=min_count,
                            max_vocab_size=max_vocab_size)
    except ACCEPTED:
        return
    enc = vocab.encode(corpus_file=path)
    V = len(vocab)
    sentences = _python_reading(data[1:])
    assert vocab.corpus_count == len(sentences) == enc.num_sentences
    assert vocab.total_words == sum(map(len, sentences))
    assert enc.offsets[0] == 0 and enc.offsets[-1] == len(enc.tokens)
    assert np.all(np.diff(enc.offsets) >= 0)
    assert np.all((enc.tokens >= 0) & (enc.tokens < V))
    expect = [vocab.key_to_index[w] for s in sentences for w in s if w in vocab.key_to_index]
    assert enc.tokens.tolist() == expect, "file encoding differs from the Python reading"
    if max_vocab_size is None:
        counts = collections.Counter(w for s in sentences for w in s)
        kept = {w: c for w, c in counts.items() if c >= min_count}
        assert dict(zip(vocab.index_to_key, vocab.counts.tolist())) == kept
    if mode & 4:
        hs = bool(mode & 32)
        try:
            model = seqcore.Word2Vec(corpus_file=path, vector_size=4, window=2,
                                     min_count=min_count, max_vocab_size=max_vocab_size,
                                     epochs=1, workers=1, sg=int(hs), hs=int(hs),
                                     negative=0 if hs else 2, progress=False)
        except ACCEPTED:
            return
        assert model.wv.index_to_key == vocab.index_to_key
        if mode & 8:
            out = _harness.input_path(".npz")
            model.save(out)
            back = seqcore.Word2Vec.load(out)
            assert back.wv.index_to_key == model.wv.index_to_key, "keys changed in save/load"
            assert _harness.same_vectors(back.wv.vectors, model.wv.vectors)
    if mode & 16:
        try:
            seqcore.GloVe(corpus_file=path, vector_size=3, window=2, min_count=min_count,
                          max_vocab_size=max_vocab_size, epochs=1, progress=False)
        except ACCEPTED:
            return


if __name__ == "__main__":
    _harness.main(TestOneInput)

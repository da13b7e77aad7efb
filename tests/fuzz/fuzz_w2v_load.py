"""atheris harness: Word2Vec.load (a NumPy .npz archive written by Word2Vec.save) on
arbitrary bytes; a model that loads is then queried, saved and loaded again, and trained
one epoch on a few of its words.

Input: a file starting with ``PK`` is the archive itself (the zip layer: a mutation of a
member mostly fails its CRC). Anything else is the members' .npy bytes separated by
``SEPARATOR``, in the order of ``MEMBERS`` (an empty part: no such member), zipped here
with valid CRCs: this reaches the .npy headers, the metadata and the consistency checks.
Accepted: ValueError only (Word2Vec.load documents ValueError for any file that is not a
model; training may also raise FloatingPointError on diverging weights).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _harness  # noqa: E402

with _harness.instrumented(__name__ == "__main__"):
    import seqcore

ACCEPTED = (ValueError,)
SEPARATOR = _harness.NPY_MEMBER_SEPARATOR
MEMBERS = ("meta", "key_bytes", "key_ends", "counts", "syn0", "syn1", "syn1neg", "keys")




def TestOneInput(data: bytes) -> None:
    if not data.startswith(b"PK"):
        data = _harness.members_to_zip(data, MEMBERS)
    path = _harness.write_input(data, ".npz")
    try:
        model = seqcore.Word2Vec.load(path)
    except ACCEPTED:
        return
    keys = model.wv.index_to_key
    assert model.wv.vectors.shape == (len(keys), model.vector_size)
    model.wv.most_similar(keys[0], topn=2)
    out = _harness.input_path(".out.npz")
    model.save(out)
    back = seqcore.Word2Vec.load(out)
    assert back.wv.index_to_key == keys, "keys changed in a save/load round trip"
    assert _harness.same_vectors(back.wv.vectors, model.wv.vectors)
    # the loaded settings and weights reach the C++ training kernels: one small epoch, one
    # thread (the file's workers count is a setting, not an input to test here), at most 8
    # negatives (negative=2**20, a valid setting, makes an epoch take minutes, not a bug)
    model.workers = 1
    model.negative = min(model.negative, 8)
    try:
        model.train([keys[:8], keys[:8][::-1]], total_examples=2, epochs=1,
                    progress=False)
    except (ValueError, FloatingPointError):
        pass


if __name__ == "__main__":
    _harness.main(TestOneInput)

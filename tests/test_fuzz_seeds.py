"""Replay the seed corpus of every atheris harness (tests/fuzz/) in-process, without atheris.

Each seed must pass through its harness's ``TestOneInput`` (the documented exceptions are
swallowed there; anything else fails here). The fuzzing itself is ``tests/fuzz/run.py``.
"""
import glob
import importlib
import os
import sys

import pytest

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
HARNESSES = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(FUZZ, "fuzz_*.py")))
SEEDS = [(h, os.path.basename(p)) for h in HARNESSES
         for p in sorted(glob.glob(os.path.join(FUZZ, "corpus", h, "*")))]


def _harness(name):
    if FUZZ not in sys.path:
        sys.path.insert(0, FUZZ)
    return importlib.import_module(name)


def test_every_harness_has_seeds():
    assert HARNESSES
    for h in HARNESSES:
        assert any(s[0] == h for s in SEEDS), f"{h} has no seed corpus"


@pytest.mark.parametrize("harness,seed", SEEDS)
def test_seed_replays(harness, seed):
    with open(os.path.join(FUZZ, "corpus", harness, seed), "rb") as f:
        data = f.read()
    assert len(data) < 4096
    _harness(harness).TestOneInput(data)


def test_seeds_are_generated_by_make_seeds():
    """The checked-in corpus is what make_seeds.py writes (regenerate it after a format
    change), and all of it is small synthetic data."""
    seeds = _harness("make_seeds").seeds()
    for harness, files in seeds.items():
        on_disk = sorted(os.path.basename(p)
                         for p in glob.glob(os.path.join(FUZZ, "corpus", harness, "*")))
        assert on_disk == sorted(files), harness
        for name, data in files.items():
            if harness == "fuzz_w2v_load":  # zip timestamps differ run to run
                continue
            with open(os.path.join(FUZZ, "corpus", harness, name), "rb") as f:
                assert f.read() == data, (harness, name)


def test_runner_needs_atheris_and_runs_a_harness(tmp_path):
    pytest.importorskip("atheris")
    import subprocess
    out = subprocess.run([sys.executable, os.path.join(FUZZ, "run.py"), "--seconds", "2",
                          "--artifacts", str(tmp_path), "-runs=50", "fuzz_w2v_fvocab"],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "fuzz_w2v_fvocab:" in out.stdout

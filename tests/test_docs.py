"""docs/ builds without a warning (Sphinx -W: every docstring in the API reference parses,
every cross-reference resolves) and its Python code blocks run, as the README's do."""
import pathlib
import re
import subprocess
import sys

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"


def test_docs_build_without_warnings(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b",
                           "html", "-d", str(tmp_path / "doctrees"), str(DOCS),
                           str(tmp_path / "html")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert (tmp_path / "html" / "api.html").stat().st_size > 100_000  # the API was generated


def test_docs_code_blocks_run(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    blocks = 0
    for page in sorted(DOCS.glob("*.md")):
        for code in re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S):
            exec(compile(code, str(page), "exec"), {"__name__": "docs"})
            blocks += 1
    assert blocks >= 1

"""Tests of ``seqcore bench`` (seqcore.bench) and of the ``seqcore`` command (seqcore.cli).

Speed is never asserted here (DESIGN.md): only that the benchmark runs, writes the JSON it
promises, lists its cases and rejects bad options with a clear message.
"""
import json
import math
import subprocess
import sys

import pytest

seqcore = pytest.importorskip("seqcore")
from seqcore import bench, cli  # noqa: E402

ROW_KEYS = set(bench.COLUMNS)


def _run_cli(argv):
    return cli.main(list(argv))


def test_quick_lstm_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    status = _run_cli(["bench", "--quick", "--ops", "lstm", "--json", str(path),
                       "--no-progress"])
    out = capsys.readouterr().out
    assert status == 0, out
    for column in ("op", "shape", "seqcore ms", "reference", "ref ms", "speed-up", "GFLOP/s",
                   "max abs err"):
        assert column in out
    doc = json.loads(path.read_text())
    assert doc["suite"] == "quick"
    assert doc["columns"] == list(bench.COLUMNS)
    assert doc["settings"]["ops"] == ["lstm"]
    for key in ("machine", "versions", "build_info", "threads"):
        assert key in doc
    assert doc["versions"]["seqcore"] == seqcore.__version__
    assert doc["threads"] == seqcore.get_num_threads()
    expected = bench.cases(["lstm"], "quick")
    assert len(doc["rows"]) == len(expected) > 0
    for row, case in zip(doc["rows"], expected):
        assert set(row) == ROW_KEYS
        assert row["status"] == "ok"
        assert row["family"] == "lstm" and row["op"] == case.op
        assert row["shape"] == case.shape
        assert row["seqcore_ms"] > 0 and row["gflops"] > 0
        assert row["flops"] == pytest.approx(case.flops)
        if row["reference"] != "-":
            assert row["reference_ms"] > 0
            assert row["speedup"] == pytest.approx(row["reference_ms"] / row["seqcore_ms"])
        # float32 kernel vs float64 reference on tiny shapes: close
        assert math.isfinite(row["max_abs_err"]) and row["max_abs_err"] < 1e-4
        if row["max_abs_err_dw_hh"] is not None:
            assert row["max_abs_err_dw_hh"] < 1e-3


def test_quick_without_torch(monkeypatch, capsys):
    """Without torch: NumPy times inference rows; fwd+bwd rows have no timed reference."""
    monkeypatch.setattr(bench, "_TORCH", [None])
    args = ["bench", "--quick", "--ops", "gru", "--no-progress", "--repeat", "1"]
    assert _run_cli(args) == 0
    out = capsys.readouterr().out
    assert "torch not importable" in out
    for case in bench.cases(["gru"], "quick"):
        assert case.reference_name == ("-" if "fwd+bwd" in case.variant else "numpy")


def test_list(capsys):
    assert _run_cli(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    for case in bench.cases(None, "default"):
        assert case.op in out and case.shape in out
    assert f"{len(bench.cases(None, 'default'))} case(s)" in out


def test_list_filters(capsys):
    assert _run_cli(["bench", "--list", "--quick", "--ops", "rnn,gru", "-k", "infer"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:-1]
    assert lines and all(line.split()[0] in ("rnn", "gru") and "infer" in line
                         for line in lines)


def test_default_cases_cover_the_targets():
    ops = {(c.op, c.shape.split(" len")[0]) for c in bench.cases(None, "default")}
    for target in [("lstm fwd+bwd", "N=64 T=50 I=512 H=512"),
                   ("lstm fwd+bwd", "N=32 T=25 I=1024 H=1024"),
                   ("lstm infer", "N=64 T=50 I=512 H=512"),
                   ("lstm infer", "N=1 T=50 I=64 H=64"),
                   ("lstm fwd+bwd", "N=1 T=50 I=64 H=64"),
                   ("lstm fwd+bwd lengths", "N=64 T=100 I=256 H=256"),
                   ("gru fwd+bwd", "N=64 T=50 I=512 H=512"),
                   ("gru infer", "N=64 T=50 I=512 H=512"),
                   ("rnn fwd+bwd", "N=64 T=50 I=512 H=512")]:
        assert target in ops
    assert any(c.variant.startswith("cho") for c in bench.cases(["gru"], "default"))


def test_rnn_flops():
    assert bench.rnn_flops("lstm", 50, 64, 512, 512) == 2 * 50 * 64 * 4 * 512 * 1024
    assert bench.rnn_flops("gru", 2, 3, 4, 5, backward=True) == 3 * 2 * 6 * 3 * 5 * 9
    assert bench.rnn_flops("rnn", 10, 10, 4, 4, steps=7) == 2 * 7 * 1 * 4 * 8


@pytest.mark.parametrize("ops", ["foo", "lstm,foo", ","])
def test_unknown_op(ops, capsys):
    with pytest.raises(SystemExit) as exc:
        _run_cli(["bench", "--ops", ops])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "--ops" in err
    assert "lstm" in err          # the message lists the valid choices


def test_unknown_op_module_entry(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--ops", "nope", "--list"])
    assert "--ops" in capsys.readouterr().err
    with pytest.raises(ValueError, match="ops"):
        bench.cases(["nope"])


@pytest.mark.parametrize("argv", [["--repeat", "0"], ["--threads", "-1"], ["--quick", "--full"]])
def test_bad_options(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        _run_cli(["bench", *argv])
    assert exc.value.code == 2


def test_failure_is_reported(monkeypatch, capsys, tmp_path):
    """A case that raises is reported as FAILED (table, JSON) and the exit status is 1."""
    def boom():
        raise RuntimeError("kaboom")

    def fake_cases():
        return [bench.Case("fake", "ok", "N=1", 1e6, lambda: bench.Bound(lambda: 1),
                           suites=("quick",)),
                bench.Case("fake", "bad", "N=2", 1e6, lambda: bench.Bound(boom),
                           suites=("quick",))]

    monkeypatch.setitem(bench._REGISTRY, "fake", [fake_cases])
    path = tmp_path / "f.json"
    status = bench.main(["--ops", "fake", "--quick", "--json", str(path), "--no-progress"])
    out = capsys.readouterr().out
    assert status == 1
    assert "FAILED" in out and "kaboom" in out
    rows = json.loads(path.read_text())["rows"]
    assert rows[0]["status"] == "ok" and rows[0]["reference"] == "-"
    assert rows[1]["status"].startswith("FAILED in seqcore: RuntimeError: kaboom")


def test_measure_loops_fast_calls():
    calls = []
    timing, out = bench.measure(lambda: calls.append(1) or len(calls), repeat=3,
                                min_time=0.001, max_time=1.0)
    assert len(timing.samples) == 3 and timing.loops > 1
    assert out == len(calls) and timing.median > 0


def test_format_table_aligned():
    rows = [dict.fromkeys(bench.COLUMNS) for _ in range(2)]
    for r, op in zip(rows, ["lstm fwd+bwd", "rnn infer"]):
        r.update(op=op, shape="N=1 T=2 I=3 H=4", seqcore_ms=1.5, reference="torch",
                 reference_ms=3.0, speedup=2.0, gflops=10.0, max_abs_err=1e-7, status="ok")
    lines = bench.format_table(rows).splitlines()
    assert len(lines) == 4
    assert lines[0].index("seqcore ms") + len("seqcore ms") == lines[2].index("1.50") + 4
    assert "2.00x" in lines[2]


def test_cli_info(capsys):
    assert _run_cli(["info"]) == 0
    out = capsys.readouterr().out
    assert seqcore.__version__ in out
    assert f"threads: {seqcore.get_num_threads()}" in out


def test_cli_no_command(capsys):
    assert _run_cli([]) == 2
    assert "bench" in capsys.readouterr().out


def test_cli_demo_unknown(capsys):
    with pytest.raises(SystemExit) as exc:
        _run_cli(["demo", "no-such-demo"])
    assert exc.value.code == 2


def test_cli_demo_help_lists_demos(capsys):
    with pytest.raises(SystemExit) as exc:
        _run_cli(["demo", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name in cli.demo_names():
        assert name in out


def test_module_entry_point_lists():
    r = subprocess.run([sys.executable, "-m", "seqcore.bench", "--list", "--quick"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "lstm fwd+bwd" in r.stdout

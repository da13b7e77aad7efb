"""Tests of ``seqcore bench`` (seqcore.bench) and of the ``seqcore`` command (seqcore.cli).

Speed is never asserted here (DESIGN.md): only that the benchmark runs, writes the JSON it
promises, lists its cases and rejects bad options with a clear message.
"""
import json
import math
import os
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
                   "% roof", "max abs err"):
        assert column in out
    # the footer's roof line: CPU model, ISA path, FMA roof, both GEMM rates as % of it
    roof_lines = [ln for ln in out.splitlines() if ln.startswith("roof: ")]
    assert len(roof_lines) == 1, out
    roof_line = roof_lines[0]
    assert seqcore.build_info()["simd"] in roof_line
    assert bench._cpu_model() in roof_line
    assert "FMA peak" in roof_line and "seqcore GEMM 512^3" in roof_line
    assert roof_line.count("GFLOP/s") >= 2 and "%)" in roof_line
    assert ("torch.mm" in roof_line) == (bench._torch() is not None)
    doc = json.loads(path.read_text())
    roof = doc["roofline"]
    assert set(roof) == {"fma_peak_gflops", "seqcore_gemm_gflops", "torch_gemm_gflops",
                         "gemm_shape", "isa", "cpu", "threads"}
    assert roof["fma_peak_gflops"] > 0 and roof["seqcore_gemm_gflops"] > 0
    if bench._torch() is not None:
        assert roof["torch_gemm_gflops"] > 0
    else:
        assert roof["torch_gemm_gflops"] is None
    assert roof["gemm_shape"] == "512x512x512"          # --quick: a small GEMM
    assert roof["isa"] == "{simd} ({isa_path})".format(**seqcore.build_info())
    assert roof["threads"] == seqcore.get_num_threads()
    assert set(doc["environment"]) == {"removed", "present", "note", "malloc"}
    assert doc["environment"]["malloc"] is None    # called from Python: malloc left alone
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
        # lstm is GEMM-bound: % roof = GFLOP/s / FMA peak, from the roof of the same run
        assert row["roof_pct"] == pytest.approx(
            100 * row["gflops"] / roof["fma_peak_gflops"])
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


def test_quick_without_torch_skips_the_torch_rows(monkeypatch, capsys, tmp_path):
    """The main job runs on the base install: a row that needs torch is skipped with its
    reason, and the run still exits 0 (issue: `pip install .` then `seqcore bench --quick`)."""
    monkeypatch.setattr(bench, "_TORCH", [None])
    path = tmp_path / "b.json"
    args = ["bench", "--quick", "--ops", "torch", "--no-progress", "--json", str(path)]
    assert _run_cli(args) == 0
    out = capsys.readouterr().out
    assert "skipped torch tagger train step" in out and "torch is not importable" in out
    rows = json.loads(path.read_text())["rows"]
    assert rows and all(r["status"].startswith("skipped: ") for r in rows)


def test_a_failing_row_still_fails_the_run(monkeypatch, capsys):
    def broken():
        raise RuntimeError("boom")
    case = bench.Case("rnn", "broken", "N=1", 1.0, broken, suites=("quick",))
    row = bench.run_case(case, bench.Settings(repeat=1, min_time=0.0, max_time=1.0))
    assert row["status"].startswith("FAILED in setup: RuntimeError: boom")


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


def _fake_case(family, flops=1e6):
    return bench.Case(family, "ok", "N=1", flops, lambda: bench.Bound(lambda: 1),
                      suites=("quick",))


def test_roof_pct_only_for_gemm_bound_rows(monkeypatch):
    """roof_pct = 100 * gflops / fma_peak for GEMM-bound families with known flops; None for
    the others, for unknown flops and without a roof."""
    monkeypatch.setattr(bench, "_SETTLE_S", 0.0)
    assert bench.GEMM_BOUND_FAMILIES == {"lstm", "gru", "rnn", "attention", "torch", "wordlm",
                                           "transformer", "trigger"}
    fast = bench.Settings(repeat=1, min_time=0.001, max_time=1.0, fma_peak_gflops=50.0)
    for family in ("lstm", "gru", "rnn", "attention", "torch", "wordlm", "transformer",
                   "trigger"):
        row = bench.run_case(_fake_case(family), fast)
        assert row["status"] == "ok" and row["gflops"] > 0
        assert row["roof_pct"] == pytest.approx(100 * row["gflops"] / 50.0)
    for family in ("word2vec", "ctc", "output", "decoding", "glove", "embeddings"):
        row = bench.run_case(_fake_case(family), fast)
        assert row["gflops"] > 0 and row["roof_pct"] is None
    assert bench.run_case(_fake_case("lstm", flops=0), fast)["roof_pct"] is None
    no_roof = bench.Settings(repeat=1, min_time=0.001, max_time=1.0)
    assert bench.run_case(_fake_case("lstm"), no_roof)["roof_pct"] is None


def test_quick_non_gemm_family_has_no_roof_pct(tmp_path, capsys):
    path = tmp_path / "ctc.json"
    assert bench.main(["--quick", "--ops", "ctc", "--repeat", "1", "--no-progress",
                       "--json", str(path)]) == 0
    rows = json.loads(path.read_text())["rows"]
    assert rows and all(r["roof_pct"] is None for r in rows)


def test_roofline_small():
    torch = bench._torch()
    roof = bench.roofline(1, torch, size=64, fma_seconds=0.02, repeat=1)
    assert roof["fma_peak_gflops"] > 0 and roof["seqcore_gemm_gflops"] > 0
    assert (roof["torch_gemm_gflops"] is None) == (torch is None)
    assert roof["gemm_shape"] == "64x64x64" and roof["threads"] == 1
    assert roof["isa"] == "{simd} ({isa_path})".format(**seqcore.build_info())
    assert bench.roofline.__name__ in bench.__all__
    with pytest.raises(ValueError, match="threads"):
        bench.roofline(0)


def test_roofline_restores_thread_counts(restore_num_threads):
    torch = bench._torch()
    seqcore.set_num_threads(2)
    if torch is not None:
        torch_threads = torch.get_num_threads()
    bench.roofline(1, torch, size=32, fma_seconds=0.01, repeat=1)
    assert seqcore.get_num_threads() == 2
    if torch is not None:
        assert torch.get_num_threads() == torch_threads


def test_roof_line_format():
    roof = {"fma_peak_gflops": 200.0, "seqcore_gemm_gflops": 176.0, "torch_gemm_gflops": 150.0,
            "gemm_shape": "2048x2048x2048", "isa": "AVX2+FMA", "cpu": "AMD EPYC", "threads": 2}
    assert bench._roof_line(roof) == (
        "roof: AMD EPYC, AVX2+FMA, 2 thread(s): FMA peak 200 GFLOP/s; seqcore GEMM 2048^3 "
        "176 GFLOP/s (88%); torch.mm 150 GFLOP/s (75%)")
    assert "torch not importable" in bench._roof_line(dict(roof, torch_gemm_gflops=None))
    assert bench._roof_line({"error": "RuntimeError: x"}) == "roof: not measured (RuntimeError: x)"


def test_roof_failure_does_not_fail_the_run(monkeypatch, capsys, tmp_path):
    def broken(*args, **kw):
        raise RuntimeError("no roof here")
    monkeypatch.setattr(bench, "roofline", broken)
    monkeypatch.setitem(bench._REGISTRY, "lstm", [lambda: [_fake_case("lstm")]])
    path = tmp_path / "r.json"
    assert bench.main(["--ops", "lstm", "--quick", "--no-progress", "--json", str(path)]) == 0
    assert "roof: not measured (RuntimeError: no roof here)" in capsys.readouterr().out
    doc = json.loads(path.read_text())
    assert doc["roofline"] == {"error": "RuntimeError: no roof here"}
    assert doc["rows"][0]["roof_pct"] is None


# -- references at their best: OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE ----------------------

def test_reference_env():
    env = {"PATH": "/bin", "OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "262144",
           "OPENBLAS_NUM_THREADS": "2"}
    clean, removed = bench.reference_env(env)
    assert removed == {"OPENBLAS_CORETYPE": "Haswell", "OPENBLAS_L2_SIZE": "262144"}
    assert clean == {"PATH": "/bin", "OPENBLAS_NUM_THREADS": "2"}
    assert "OPENBLAS_CORETYPE" in env                  # the input is not modified
    assert bench.reference_env({"PATH": "/bin"}) == ({"PATH": "/bin"}, {})


def test_reference_env_defaults_to_os_environ(monkeypatch):
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    clean, removed = bench.reference_env()
    assert removed == {"OPENBLAS_CORETYPE": "Haswell"} and "OPENBLAS_CORETYPE" not in clean


class _Execve(Exception):
    pass


def _capture_execve(monkeypatch):
    calls = []

    def fake_execve(path, argv, env):
        calls.append((path, list(argv), dict(env)))
        raise _Execve()
    monkeypatch.setattr(bench.os, "execve", fake_execve)
    return calls


def test_reexec_without_slow_env(monkeypatch):
    calls = _capture_execve(monkeypatch)
    monkeypatch.delenv(bench._REEXEC_MARKER, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.delenv("OPENBLAS_L2_SIZE", raising=False)
    command = [sys.executable, "-m", "seqcore.cli", "bench", "--quick"]
    bench._reexec_without_slow_env(None)               # not from the command line: no-op
    assert not calls
    with pytest.raises(_Execve):
        bench._reexec_without_slow_env(command)
    (path, argv, env), = calls
    assert path == sys.executable and argv == command
    assert "OPENBLAS_CORETYPE" not in env
    assert json.loads(env[bench._REEXEC_MARKER]) == {"OPENBLAS_CORETYPE": "Haswell"}
    # the re-executed process (marker set) never re-executes again
    monkeypatch.setenv(bench._REEXEC_MARKER, env[bench._REEXEC_MARKER])
    bench._reexec_without_slow_env(command)
    assert len(calls) == 1
    # nothing to remove: no re-execution
    monkeypatch.delenv(bench._REEXEC_MARKER)
    monkeypatch.delenv("OPENBLAS_CORETYPE")
    bench._reexec_without_slow_env(command)
    assert len(calls) == 1


def test_environment_report(monkeypatch):
    rep = bench._environment_report({"SEQCORE_BENCH_REEXEC": '{"OPENBLAS_CORETYPE": "Haswell"}'})
    assert rep["removed"] == {"OPENBLAS_CORETYPE": "Haswell"} and rep["present"] == {}
    assert rep["note"] == ("environment: removed OPENBLAS_CORETYPE=Haswell from the "
                           "references' environment (slows current OpenBLAS)")
    rep = bench._environment_report({"OPENBLAS_L2_SIZE": "1"})
    assert rep["removed"] == {} and rep["present"] == {"OPENBLAS_L2_SIZE": "1"}
    assert "OPENBLAS_L2_SIZE=1 set" in rep["note"]
    assert bench._environment_report({"PATH": "/bin"})["note"] is None
    assert bench._environment_report({"SEQCORE_BENCH_REEXEC": "garbage"})["note"] is None


def test_no_reexec_when_called_from_python(monkeypatch, capsys):
    """cli.main(argv) / bench.main(argv) from Python never re-execute the process (it is a
    test runner, a notebook...): the footer names the variable instead."""
    calls = _capture_execve(monkeypatch)
    monkeypatch.delenv(bench._REEXEC_MARKER, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setitem(bench._REGISTRY, "fake", [lambda: [_fake_case("fake")]])
    assert _run_cli(["bench", "--ops", "fake", "--quick", "--no-progress"]) == 0
    assert bench.main(["--ops", "fake", "--quick", "--no-progress"]) == 0
    assert not calls
    out = " ".join(capsys.readouterr().out.split())
    assert out.count("environment: OPENBLAS_CORETYPE=Haswell set") == 2


@pytest.mark.parametrize("entry,argv0,module", [
    (cli.main, "seqcore", ["seqcore.cli", "bench"]),
    (bench.main, "bench.py", ["seqcore.bench"])])
def test_command_line_reexecs(monkeypatch, entry, argv0, module):
    """From the process's own command line (argv None), `seqcore bench` and `python -m
    seqcore.bench` re-execute `python -m <module> <args>` without OPENBLAS_CORETYPE."""
    calls = _capture_execve(monkeypatch)
    monkeypatch.delenv(bench._REEXEC_MARKER, raising=False)
    monkeypatch.setenv("OPENBLAS_CORETYPE", "Haswell")
    monkeypatch.setitem(bench._REGISTRY, "fake", [lambda: [_fake_case("fake")]])
    args = ["--ops", "fake", "--quick", "--no-progress"]
    monkeypatch.setattr(sys, "argv", [argv0, *module[1:], *args])
    with pytest.raises(_Execve):
        entry()
    (path, argv, env), = calls
    assert argv == [sys.executable, "-m", *module, *args]
    assert "OPENBLAS_CORETYPE" not in env and bench._REEXEC_MARKER in env


def test_module_entry_point_removes_slow_openblas_env(tmp_path):
    """`python -m seqcore.bench` started with OPENBLAS_CORETYPE set re-executes itself
    without it and says so in the footer and the JSON."""
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    env.pop("OPENBLAS_L2_SIZE", None)
    env.pop(bench._REEXEC_MARKER, None)
    path = tmp_path / "rnn.json"
    r = subprocess.run([sys.executable, "-m", "seqcore.bench", "--quick", "--ops", "rnn",
                        "--no-progress", "--repeat", "1", "--json", str(path)],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    footer = " ".join(r.stdout.split())       # the note is wrapped at 100 columns
    assert ("environment: removed OPENBLAS_CORETYPE=Haswell from the references' "
            "environment (slows current OpenBLAS)") in footer
    doc = json.loads(path.read_text())
    assert doc["environment"]["removed"] == {"OPENBLAS_CORETYPE": "Haswell"}
    assert doc["environment"]["present"] == {}
    malloc = doc["environment"]["malloc"]    # the command line tunes glibc's malloc
    assert malloc is None or " ".join(malloc.split()) in footer


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
    rows[0]["roof_pct"] = 12.3
    lines = bench.format_table(rows).splitlines()
    assert len(lines) == 4
    assert "% roof" in lines[0] and "12%" in lines[2]
    assert lines[3].split()[-2] == "-"            # rnn row without roof_pct: "-"
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


def test_train_step_bound_and_require_torch(monkeypatch):
    """train_step_bound takes one untimed step of each side and reports |loss difference| of
    that first step (NaN when asked not to compare); the timed callables are the steps given.
    require_torch skips a case without torch."""
    losses = {"ours": iter([0.75, 0.5]), "theirs": iter([0.5, 0.25])}

    def ours():
        return next(losses["ours"])

    def theirs():
        return next(losses["theirs"])

    b = bench.train_step_bound(ours, theirs)
    assert b.seqcore is ours and b.reference is theirs
    assert b.error(None, None) == {"y": 0.25}
    assert (b.seqcore(), b.reference()) == (0.5, 0.25)   # the first step was taken
    nan = bench.train_step_bound(lambda: 1.0, lambda: 3.0, compare_loss=False)
    assert math.isnan(nan.error(None, None)["y"])
    monkeypatch.setattr(bench, "_torch", lambda: None)
    with pytest.raises(bench.SkipCase, match="torch"):
        bench.require_torch()


# -- references at their best: glibc's malloc keeps freed memory -------------------------

_MALLOC_PROBE = """
import resource, sys
import numpy as np
from seqcore import bench
if bench.tune_malloc() is None:
    print("untuned")
    sys.exit()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
def step():   # 16 + 20 + 8 MB temporaries, as a training step's logits and gradients
    a = np.ones(4 << 20, np.float32); b = np.ones(5 << 20, np.float32); c = np.ones(1 << 20)
    del a, b, c
step()
f0 = faults()
for _ in range(20):
    step()
print(faults() - f0)
"""


def test_tune_malloc_keeps_freed_memory():
    """After tune_malloc, 20 rounds of 44 MB of temporaries (225k pages written) fault
    almost no page afresh: freed blocks are reused, not returned to the OS. Run in a child
    process, which the setting would outlive."""
    out = subprocess.run([sys.executable, "-c", _MALLOC_PROBE], capture_output=True, text=True,
                         check=True).stdout.split()
    if out == ["untuned"]:
        pytest.skip("not glibc's malloc (e.g. a sanitizer's): mallopt refused")
    assert int(out[-1]) < 4_500, out       # 2% of the pages written


def test_tune_malloc_not_glibc(monkeypatch):
    monkeypatch.setattr(bench.platform, "libc_ver", lambda *a, **k: ("", ""))
    assert bench.tune_malloc() is None


def test_footer_names_malloc_setting():
    info = bench.machine_info()
    env = {"note": None, "malloc": "malloc: glibc set to keep freed memory"}
    assert "malloc: glibc set to keep freed memory" in bench._footer([], info, None, env)
    assert "malloc" not in bench._footer([], info, None, {"note": None, "malloc": None})

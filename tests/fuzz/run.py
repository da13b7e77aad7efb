"""Run the atheris harnesses of this folder, one after another, each for a bounded time.

    python tests/fuzz/run.py --seconds N [harness ...]

Each harness (default: every ``fuzz_*.py`` here) runs as a subprocess on a COPY of its seed
corpus ``corpus/<harness>/`` (so nothing is written into the repository) with
``-max_total_time=N -rss_limit_mb=2048 -timeout=10``: a crash, an exception the reader does
not document, a hang (> 10 s on one input) or a memory blow-up is a failure. Prints the
executions of each harness; exits 1 naming the crashing inputs (kept under --artifacts),
0 when every harness ran its time without one. Needs ``pip install atheris``.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LEN = {"fuzz_w2v_load": 8192}  # its seeds (tiny models) are ~3.5 KiB already


def harnesses():
    return sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(HERE, "fuzz_*.py")))


def run_one(name, seconds, workdir, artifacts, extra):
    corpus = os.path.join(workdir, name)
    shutil.copytree(os.path.join(HERE, "corpus", name), corpus)
    prefix = os.path.join(artifacts, name + "-")
    cmd = [sys.executable, os.path.join(HERE, name + ".py"), corpus,
           f"-max_total_time={seconds}", "-rss_limit_mb=2048", "-timeout=10",
           f"-max_len={MAX_LEN.get(name, 4096)}", f"-artifact_prefix={prefix}",
           "-print_final_stats=1", *extra]
    log_path = os.path.join(artifacts, name + ".log")
    start = time.monotonic()
    with open(log_path, "wb") as log:
        try:  # libFuzzer stops itself; this only guards against a wedged interpreter
            rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=workdir,
                                 timeout=seconds + 300)
        except subprocess.TimeoutExpired:
            rc = "timeout"
    elapsed = time.monotonic() - start
    with open(log_path, "rb") as f:
        text = f.read().decode("utf8", "replace")
    m = re.search(r"stat::number_of_executed_units:\s*(\d+)", text) or \
        re.search(r"Done (\d+) runs", text)
    execs = int(m.group(1)) if m else None
    crashes = sorted(glob.glob(prefix + "*"))
    return rc, execs, elapsed, crashes, log_path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="per harness (default 60)")
    parser.add_argument("--artifacts", default=None,
                        help="folder for crash inputs and logs (default: a new temp folder)")
    parser.add_argument("harness", nargs="*", help=f"default all: {' '.join(harnesses())}")
    args, extra = parser.parse_known_args(argv)
    names = args.harness or harnesses()
    unknown = [n for n in names if n not in harnesses()]
    if unknown:
        parser.error(f"unknown harness {unknown}; known: {harnesses()}")
    try:
        import atheris  # noqa: F401
    except ImportError:
        parser.error("atheris is not installed (pip install atheris)")
    artifacts = os.path.abspath(args.artifacts or tempfile.mkdtemp(prefix="seqcore-fuzz-out-"))
    os.makedirs(artifacts, exist_ok=True)
    failed = []
    with tempfile.TemporaryDirectory(prefix="seqcore-fuzz-corpus-") as workdir:
        for name in names:
            rc, execs, elapsed, crashes, log = run_one(name, args.seconds, workdir, artifacts,
                                                       extra)
            status = "ok" if rc == 0 and not crashes else f"FAILED (exit {rc})"
            print(f"{name}: {execs if execs is not None else '?'} executions in "
                  f"{elapsed:.0f} s, {len(crashes)} crash inputs: {status}", flush=True)
            if status != "ok":
                failed.append(name)
                for c in crashes:
                    print(f"  crash input: {c}", flush=True)
                print(f"  log: {log}", flush=True)
                with open(log, "rb") as f:
                    tail = f.read()[-3000:].decode("utf8", "replace")
                print("  " + tail.replace("\n", "\n  "), flush=True)
    if failed:
        print(f"fuzz: {len(failed)} harness(es) failed: {' '.join(failed)}; inputs and logs in "
              f"{artifacts}", flush=True)
        return 1
    print(f"fuzz: {len(names)} harness(es) ran {args.seconds} s each without a crash "
          f"(logs in {artifacts})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The ISA path chosen at import (seqcore._isa): native builds have one extension module,
the portable x86-64 build two (x86-64-v3 and x86-64-v4), chosen from the CPU's flags or
SEQCORE_ISA. The subprocess tests start a fresh interpreter so that the choice is made
again under the given environment."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import seqcore
from seqcore import _isa

PORTABLE = seqcore.build_info()["isa_path"] != "native"
PROBE = ("import json, seqcore; i = seqcore.build_info(); "
         "print(json.dumps({k: i[k] for k in ('isa_path', 'module', 'isa_reason', 'simd')}))")


def _run(code, **env):
    e = dict(os.environ)
    e.pop("SEQCORE_ISA", None)
    e.update(env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True,
                          timeout=120)


def test_build_info_names_the_path():
    info = seqcore.build_info()
    assert info["isa_path"] in ("native", "x86-64-v3", "x86-64-v4")
    assert info["module"] in ("seqcore._core", "seqcore._core_avx512")
    assert info["isa_reason"]
    assert sys.modules["seqcore._core"] is seqcore._core
    assert seqcore._core.__name__ == info["module"]
    if info["isa_path"] == "x86-64-v4":
        assert info["simd"] == "AVX-512" and _isa.cpu_has_avx512()
    if info["isa_path"] == "x86-64-v3":
        assert info["simd"] == "AVX2+FMA"


def test_cpu_flags_parsed():
    flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    expected = all(f in flags.split() for f in ("avx512f", "avx512bw", "avx512cd", "avx512dq",
                                                "avx512vl"))
    assert _isa.cpu_has_avx512() == expected


def test_bad_isa_value_is_a_clear_import_error():
    r = _run("import seqcore", SEQCORE_ISA="sse9")
    assert r.returncode != 0
    assert "SEQCORE_ISA='sse9'" in r.stderr and "expected 'avx2', 'avx512'" in r.stderr


def test_forced_avx2():
    r = _run(PROBE, SEQCORE_ISA="avx2")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    if PORTABLE:
        assert info["isa_path"] == "x86-64-v3" and info["module"] == "seqcore._core"
        assert info["simd"] == "AVX2+FMA" and "SEQCORE_ISA=avx2" in info["isa_reason"]
    else:  # one module: the variable is ignored, with a warning
        assert info["isa_path"] == "native"
        assert "SEQCORE_ISA=avx2 ignored" in r.stderr


@pytest.mark.skipif(not PORTABLE, reason="native build: one ISA path")
def test_forced_avx512_without_the_cpu_fails_clearly():
    if _isa.cpu_has_avx512():
        pytest.skip("this CPU has AVX-512")
    r = _run("import seqcore", SEQCORE_ISA="avx512")
    assert r.returncode != 0 and "this CPU lacks AVX-512" in r.stderr


@pytest.mark.skipif(not (PORTABLE and _isa.cpu_has_avx512()),
                    reason="needs the portable build on an AVX-512 CPU")
def test_avx2_path_matches_avx512_path():
    """The two paths round differently (vector widths, tile shapes) but agree within float32
    tolerance: LSTM forward + backward and SDPA, run in one process per path."""
    code = """
import json, numpy as np, seqcore
rng = np.random.default_rng(0)
T, N, I, H = 9, 5, 24, 40
x = rng.standard_normal((T, N, I), dtype=np.float32)
w_ih = rng.standard_normal((4 * H, I), dtype=np.float32) * 0.2
w_hh = rng.standard_normal((4 * H, H), dtype=np.float32) * 0.2
y, h, c, cache = seqcore.lstm_forward(x, w_ih, w_hh)
g = seqcore.lstm_backward(cache, dy=np.ones_like(y))
q = rng.standard_normal((2, 3, 33, 16), dtype=np.float32)
o = seqcore.scaled_dot_product_attention(q, q, q)
print(json.dumps({"y": y.tolist(), "dw_hh": g.dw_hh.tolist(), "dx": g.dx.tolist(),
                  "sdpa": np.asarray(o).tolist(), "path": seqcore.build_info()["isa_path"]}))
"""
    out = {}
    for isa in ("avx2", "avx512"):
        r = _run(code, SEQCORE_ISA=isa)
        assert r.returncode == 0, r.stderr
        out[isa] = json.loads(r.stdout)
    assert out["avx2"]["path"] == "x86-64-v3" and out["avx512"]["path"] == "x86-64-v4"
    for key in ("y", "dw_hh", "dx", "sdpa"):
        np.testing.assert_allclose(out["avx2"][key], out["avx512"][key], rtol=1e-5, atol=1e-5,
                                   err_msg=key)

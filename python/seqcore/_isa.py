"""Which compiled extension this process runs: the ISA path, chosen once at import.

A native build (``pip install .``, the default) has one extension module, ``_core``,
compiled with ``-march=native``. The portable x86-64 build (``-Ccmake.define.
SEQCORE_NATIVE=OFF``, what a wheel to distribute is built with) has two, with the same API:
``_core`` for x86-64-v3 (AVX2 + FMA) and ``_core_avx512`` for x86-64-v4 (AVX-512 F, BW,
CD, DQ, VL). The second is imported where the CPU has those extensions, unless the
environment variable ``SEQCORE_ISA`` says otherwise:

``SEQCORE_ISA=avx2``    the x86-64-v3 module (tests compare the two paths with it);
``SEQCORE_ISA=avx512``  the x86-64-v4 module; ImportError if the CPU or the build lacks it;
unset or ``auto``       the best the CPU runs.

Only one of the two modules is ever loaded in a process; it is registered as
``seqcore._core``, so every ``from . import _core`` gets it. :func:`build_info` reports the
choice.
"""
from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import warnings
from typing import Dict, Tuple

__all__ = ["core", "build_info", "cpu_has_avx512", "ISA_ENV"]

ISA_ENV = "SEQCORE_ISA"

#: CPU flags x86-64-v4 requires (as /proc/cpuinfo names them).
_V4_FLAGS = frozenset({"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"})


def cpu_has_avx512() -> bool:
    """True when the CPU (as the Linux kernel reports it) has every x86-64-v4 extension.

    Elsewhere (no /proc/cpuinfo) False: the portable AVX2 path is then always safe."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return _V4_FLAGS <= set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return False


def _choose() -> Tuple[str, str]:
    """(module name, why)."""
    want = os.environ.get(ISA_ENV, "").strip().lower()
    if want not in ("", "auto", "avx2", "avx512"):
        raise ImportError(f"{ISA_ENV}={want!r}: expected 'avx2', 'avx512' or 'auto' (or unset)")
    portable = importlib.util.find_spec("seqcore._core_avx512") is not None
    if not portable:
        if want in ("avx2", "avx512"):
            warnings.warn(f"{ISA_ENV}={want} ignored: this seqcore is a native build with one "
                          "ISA path (rebuild with -Ccmake.define.SEQCORE_NATIVE=OFF for both)",
                          RuntimeWarning, stacklevel=3)
        return "_core", "the only module of this build"
    if want == "avx2":
        return "_core", f"{ISA_ENV}=avx2"
    if cpu_has_avx512():
        return "_core_avx512", (f"{ISA_ENV}=avx512" if want == "avx512"
                                else "the CPU has AVX-512 (x86-64-v4)")
    if want == "avx512":
        raise ImportError(f"{ISA_ENV}=avx512: this CPU lacks AVX-512 "
                          f"({', '.join(sorted(_V4_FLAGS))}); unset it to run the AVX2 path")
    return "_core", "the CPU lacks AVX-512: x86-64-v3 (AVX2 + FMA)"


_NAME, _WHY = _choose()
core = importlib.import_module(f"seqcore.{_NAME}")
sys.modules["seqcore._core"] = core


def build_info() -> Dict[str, object]:
    """Facts about the running build: compiler, SIMD level (``simd``), whether it was tuned
    for the build machine (``native``), OpenMP and Eigen versions, CUDA on/off and visible
    devices; and the ISA path chosen at import: ``isa_path`` (``"native"``,
    ``"x86-64-v3"`` or ``"x86-64-v4"``), ``module`` (the extension module) and
    ``isa_reason`` (why it was chosen; see :mod:`seqcore._isa`)."""
    info = dict(core.build_info())
    if info.get("native"):
        path = "native"
    else:
        path = "x86-64-v4" if _NAME == "_core_avx512" else "x86-64-v3"
    info.update(isa_path=path, module=f"seqcore.{_NAME}", isa_reason=_WHY)
    return info

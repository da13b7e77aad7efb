"""``seqcore bench``: time seqcore's kernels against reference implementations.

Run it as ``seqcore bench [options]`` or ``python -m seqcore.bench [options]``. Every case is
timed for seqcore and for a reference in the same run (PyTorch CPU when it is importable,
otherwise the NumPy float64 code of :mod:`seqcore.reference` where it covers the case), and
checked once, untimed, against the NumPy float64 reference on the same inputs. The result
is one table on stdout (and with ``--json PATH`` a JSON file with every row plus machine,
build and version information); progress goes to stderr.

Columns
-------
``op``           family and variant (``lstm fwd+bwd``, ``gru infer``, ...).
``shape``        with the legend of DESIGN.md: ``N`` batch, ``T`` steps, ``I`` input,
                 ``H`` hidden size.
``seqcore ms``   median wall time of one call (``time.perf_counter``), after a warm-up.
``reference``    what seqcore is compared with; ``ref ms`` its median time.
``speed-up``     ``ref ms / seqcore ms`` measured in the same run (> 1: seqcore faster).
``GFLOP/s``      nominal FLOPs of the case (below) / seqcore's time.
``% roof``       ``100 * GFLOP/s / FMA peak`` (the float32 FMA roof measured in the same run,
                 below) for the rows of the GEMM-bound families (:data:`GEMM_BOUND_FAMILIES`:
                 lstm, gru, rnn, attention, torch, wordlm, transformer) whose FLOPs are known; ``-``
                 for the others (word2vec, ctc, output layers, decoding, embeddings), whose
                 time goes to memory traffic, lookups or search rather than to products.
``max abs err``  ``max |y - y_ref|`` of seqcore's forward output vs the NumPy float64
                 reference (:mod:`seqcore.reference`) on the same float32 inputs; for
                 fwd+bwd rows timed against torch a second figure follows the slash:
                 ``max |dW_hh - dW_hh(torch autograd)|`` from the same timed calls
                 (not for ``torch padded``, which also runs the padded steps).

FLOP counts (recurrent families)
--------------------------------
Forward of an LSTM/GRU/RNN layer: ``2 * T * N * G * H * (I + H)`` (the input and recurrent
GEMMs; pointwise work ignored), ``G`` = 4 (LSTM), 3 (GRU), 1 (RNN). Forward + backward
(BPTT with all weight, bias, input and initial-state gradients) counts ``3 x`` the forward.
With ``lengths``, ``sum(lengths)`` replaces ``T * N`` (the work actually required), also
when the reference (torch on padded input) does more.

References (recurrent families)
-------------------------------
``torch``: ``torch.nn.LSTM/GRU/RNN`` with the same weights, ``torch.set_num_threads`` equal to
seqcore's thread count; fwd+bwd runs ``y.backward(dy)`` with grads for x, h0 (c0) and all
parameters; inference runs under ``torch.no_grad()``. ``torch packed``: the same through
``pack_padded_sequence(enforce_sorted=False)`` and ``pad_packed_sequence``. ``torch
padded``: torch on the whole padded input, ignoring lengths (context). ``torch loop``: the
GRU of Cho et al. (``linear_before_reset=False``, absent from torch.nn) as a Python loop of
torch ops under autograd. ``numpy``: :mod:`seqcore.reference` (float64, forward only, so it
times inference cases only; without torch, fwd+bwd rows have no timed reference).

Timing
------
Per case and side: one warm-up call (more for calls shorter than ``min_time``), then
``--repeat`` samples; a sample of a fast call loops it enough times to last ``min_time`` and
reports the mean per call; the median of the samples is reported. A slow side (the NumPy
reference at large shapes) gets fewer samples so as to stay within ``--max-time`` seconds;
a call slower than that is timed once, by its warm-up. After both sides are warmed up
(seqcore first), their samples are taken in turn (seqcore, reference, seqcore, ...) so
that a drift of the machine's speed hits both alike; except against NumPy, whose BLAS
threads spin for ~0.1 s after each call and would slow seqcore's next sample: then all of
seqcore's samples come first. Each case starts after a 0.2 s pause for the same reason.
The garbage collector is off while sampling.

Roofline
--------
Each run (not ``--list``) measures before and after its cases (the best of both is kept, so
that one disturbed measurement does not lower the roof), with seqcore's thread count
(:func:`roofline`): the float32 FMA roof of the machine (``_core.fma_peak_gflops``: every
thread runs independent FMA chains in registers with the widest vectors of the build, best
of 3 runs of 0.1 s), the best of 5 runs of a
2048x2048x2048 float32 ``_core.gemm`` (seqcore's blocked GEMM, the micro-kernels behind every
recurrent and attention kernel) and, when torch is importable, of ``torch.mm`` on the same
shapes with the same thread count (both write into a preallocated output). With ``--quick``:
once, 512^3, best of 3. The footer prints the CPU model, the ISA path in use
(``seqcore.build_info()``'s ``simd`` and ``isa_path``), the roof and both GEMM rates as a %
of it; ``--json`` has
them under ``"roofline"``. The roof bounds every float32 kernel: a row's ``% roof`` says how
far it is from it, and the GEMM's % how far the best product seqcore reaches is.

Environment
-----------
References are timed at their best. ``OPENBLAS_CORETYPE`` and ``OPENBLAS_L2_SIZE`` (set by
workarounds for old OpenBLAS builds) slow current OpenBLAS, which NumPy and gensim use. OpenBLAS
reads them when it is loaded, at the import of NumPy: when ``seqcore bench`` (or ``python -m
seqcore.bench``) starts with one of them set, it re-executes itself once without them,
saying so on stderr (``SEQCORE_BENCH_REEXEC`` in the new process's environment records what
was removed and stops a second re-execution), and the footer and ``--json``
(``"environment"``) say what was removed.
:func:`run` called from Python does not re-execute; the footer then names the variables that
are set.

The command line also sets glibc's malloc to keep freed memory for reuse (:func:`tune_malloc`:
``mallopt`` trim threshold 1 GiB, top pad 64 MiB, mmap threshold 32 MiB), for both sides, as
jemalloc or tcmalloc would (PyTorch's CPU performance-tuning guide recommends them). Under
glibc's defaults every multi-MB temporary torch frees goes back to the OS and page-faults
again on the next call: the PTB word-LM training step of ``--ops wordlm`` took 84-103 ms in
torch (600k page faults in 45 steps) against 57-62 ms tuned (90k), AMD EPYC Zen 3. The
footer and ``--json`` (``"environment"``, ``"malloc"``) say whether it was set.

Adding a family
---------------
Decorate a function returning a list of :class:`Case` with ``@register("<family>")`` in a
module of the :mod:`seqcore.bench_ops` package (``bench_ops/<family>.py``; every module there is
imported on first use of the registry; the recurrent families live in this module). Creating a case is cheap: its inputs are built by ``Case.setup()``, which returns a
:class:`Bound` holding the zero-argument callables that are timed (seqcore, reference) and
the error function. ``suites`` says in which runs a case appears: ``"quick"`` (tiny smoke
shapes: ``--quick``, the CI smoke run of ``benchmarks/``), ``"default"`` (plain ``seqcore
bench``) and ``"full"`` (``--full``: the default cases plus extended DeepBench-style shapes;
what ``benchmarks/`` times).
"""
from __future__ import annotations

import argparse
import ctypes
import gc
import json
import math
import os
import platform
import statistics
import sys
import textwrap
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

__all__ = [
    "Case", "Bound", "Timing", "Settings", "SkipCase", "register", "families", "cases",
    "measure", "run_case", "run_cases", "format_table", "machine_info", "add_arguments", "run",
    "main",
    "rnn_flops", "COLUMNS", "SUITES", "roofline", "reference_env", "GEMM_BOUND_FAMILIES",
    "REFERENCE_ENV_VARS", "require_torch", "train_step_bound", "one_thread",
]

SUITES = ("quick", "default", "full")

DESCRIPTION = ("Time seqcore's kernels against PyTorch (or the NumPy reference) and check "
               "their outputs against the NumPy float64 reference; prints one table.")

#: Keys of every row (:func:`run_case`, ``--json``). Times in milliseconds.
COLUMNS = (
    "family", "op", "variant", "shape", "flops",
    "seqcore_ms", "seqcore_samples_ms", "seqcore_loops",
    "reference", "reference_ms", "reference_samples_ms", "reference_loops",
    "speedup", "gflops", "roof_pct", "max_abs_err", "max_abs_err_dw_hh", "status", "rate",
    "unit",
)

#: Families whose time is spent in matrix products (seqcore's GEMM micro-kernels): their
#: rows get ``roof_pct`` = 100 * GFLOP/s / FMA peak. The others (word2vec, ctc, output,
#: decoding, glove/embeddings) are bound by memory traffic, lookups or search, or report
#: another rate in the GFLOP/s column (word2vec: M words/s).
GEMM_BOUND_FAMILIES = frozenset({"lstm", "gru", "rnn", "attention", "torch", "wordlm",
                                 "transformer", "trigger"})


# --------------------------------------------------------------------------------------
# Cases and registry
# --------------------------------------------------------------------------------------

@dataclass
class Bound:
    """The callables of one case, its inputs built.

    ``seqcore`` and ``reference`` take no argument and return whatever ``error`` needs.
    ``error(seqcore_out, reference_out)`` (``reference_out`` is None when the reference did
    not run) returns a dict with ``"y"`` (max abs error of the forward output vs the NumPy
    float64 reference) and optionally ``"dw_hh"``; it is called once, untimed, with the
    outputs of the last timed calls.
    """
    seqcore: Callable[[], Any]
    reference: Optional[Callable[[], Any]] = None
    error: Optional[Callable[[Any, Any], Dict[str, float]]] = None
    #: Take seqcore's and the reference's samples in turn. Set False when the reference
    #: runs on another thread pool than seqcore's OpenMP one (NumPy's BLAS): its workers
    #: keep spinning for ~0.1 s after each call and would slow the next seqcore sample.
    interleave: bool = True


@dataclass
class Case:
    """One benchmark case: how it is labelled, and ``setup`` to build it."""
    family: str                      # registry key: "lstm", "gru", ...
    variant: str                     # "fwd+bwd", "infer", "fwd+bwd lengths", ...
    shape: str                       # "N=64 T=50 I=512 H=512"
    flops: float                     # nominal FLOPs of one seqcore call (0: unknown)
    setup: Callable[[], Bound]       # builds inputs and callables (not timed)
    reference_name: str = "-"        # "torch", "torch packed", "numpy", "-" (none)
    suites: Sequence[str] = ("default", "full")
    #: Throughput: ``items`` processed per seqcore call, in ``unit`` (e.g. 6400, "frames"):
    #: the footer then reports ``items / seqcore time`` (and the reference's) per second.
    items: float = 0.0
    unit: str = ""

    @property
    def op(self) -> str:
        return f"{self.family} {self.variant}"

    @property
    def id(self) -> str:
        """Compact identifier (pytest ids), e.g. ``lstm-fwd+bwd-N64-T50-I512-H512``."""
        shape = self.shape.split(" len")[0].replace("=", "").replace(" ", "-")
        variant = self.variant.replace("(", "").replace(")", "").replace(" ", "-")
        return f"{self.family}-{variant}-{shape}"


class SkipCase(Exception):
    """Raised by a case's ``setup`` when an optional library it needs (torch, gensim,
    sacrebleu) is missing: the row is reported as skipped, with the reason, and does not
    fail the run."""


_REGISTRY: Dict[str, List[Callable[[], List[Case]]]] = {}


_NOTES: Dict[str, str] = {}


def register(family: str, note: Optional[str] = None):
    """Decorator: ``@register('lstm')`` on a function returning a list of Case.

    ``note``: what the family's FLOP count, reference and error column mean; printed under
    the table when the family's rows are in it.
    """
    def deco(fn):
        _REGISTRY.setdefault(family, []).append(fn)
        if note:
            _NOTES[family] = note
        return fn
    return deco


_LOADED: List[bool] = []


def _load_families() -> None:
    """Import every module of seqcore.bench_ops once: each registers its families."""
    if _LOADED:
        return
    _LOADED.append(True)
    import importlib
    import pkgutil
    from seqcore import bench_ops
    for m in sorted(pkgutil.iter_modules(bench_ops.__path__), key=lambda m: m.name):
        if not m.name.startswith("_"):
            importlib.import_module(f"seqcore.bench_ops.{m.name}")


def families() -> List[str]:
    """Registered family names, in registration order."""
    _load_families()
    return list(_REGISTRY)


def cases(ops: Optional[Sequence[str]] = None, suite: str = "default",
          pattern: Optional[str] = None) -> List[Case]:
    """The cases of ``ops`` (default: every family) that belong to ``suite``.

    ``pattern``: keep only cases whose op or shape contains it (case-insensitive).
    Raises ValueError for an unknown suite or op.
    """
    if suite not in SUITES:
        raise ValueError(f"suite: expected one of {SUITES}, got {suite!r}")
    _load_families()
    ops = families() if ops is None else list(ops)
    unknown = [o for o in ops if o not in _REGISTRY]
    if unknown:
        raise ValueError(f"ops: unknown {unknown}; registered: {families()}")
    out: List[Case] = []
    for op in ops:
        for fn in _REGISTRY[op]:
            out.extend(c for c in fn() if suite in c.suites)
    if pattern:
        p = pattern.lower()
        out = [c for c in out if p in c.op.lower() or p in c.shape.lower()]
    return out


# --------------------------------------------------------------------------------------
# Timing and running
# --------------------------------------------------------------------------------------

@dataclass
class Timing:
    median: float                                       # seconds per call
    samples: List[float] = field(default_factory=list)  # seconds per call, per sample
    loops: int = 1                                      # calls per sample


class _Sampler:
    """Warm-up and calibration of one side; then ``sample()`` adds one timed sample."""

    def __init__(self, fn: Callable[[], Any], repeat: int, min_time: float,
                 max_time: float):
        self.fn = fn
        t0 = time.perf_counter()
        self.out = fn()
        first = time.perf_counter() - t0
        self.samples: List[float] = []
        self.loops = 1
        if first >= max_time:        # too slow to repeat: the warm-up is the sample
            self.samples.append(first)
            self.target = 1
            return
        est = first
        if first < min_time:         # short call: warm up for about min_time
            t0, n = time.perf_counter(), 0
            while True:
                self.out = fn()
                n += 1
                elapsed = time.perf_counter() - t0
                if elapsed >= min_time or n >= 100000:
                    break
            est = elapsed / n
        self.loops = 1 if est >= min_time else max(1, int(math.ceil(min_time / max(est, 1e-9))))
        self.target = max(1, min(int(repeat), int(max_time / max(est * self.loops, 1e-9))))

    @property
    def done(self) -> bool:
        return len(self.samples) >= self.target

    def sample(self) -> None:
        fn, loops = self.fn, self.loops
        t0 = time.perf_counter()
        for _ in range(loops):
            self.out = fn()
        self.samples.append((time.perf_counter() - t0) / loops)

    def timing(self) -> Timing:
        return Timing(statistics.median(self.samples), list(self.samples), self.loops)


def _sample_interleaved(samplers: Sequence[_Sampler]) -> None:
    """Take the samples of several sides in turn (A B A B ...), so that a drift of the
    machine's speed (other load, clocks) affects both sides of a ratio alike."""
    gc.collect()
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        while not all(sm.done for sm in samplers):
            for sm in samplers:
                if not sm.done:
                    sm.sample()
    finally:
        if gc_was_enabled:
            gc.enable()


def measure(fn: Callable[[], Any], repeat: int = 5, *, min_time: float = 0.02,
            max_time: float = 10.0):
    """Time ``fn()``: warm-up, then ``repeat`` samples (fewer when slow).

    A sample of a call shorter than ``min_time`` loops it and reports the mean per call;
    a side whose samples would exceed ``max_time`` seconds gets fewer of them (one at
    least; a call slower than ``max_time`` is timed once, by its warm-up).
    Returns ``(Timing, out)`` with ``out`` the result of the last call.
    """
    sm = _Sampler(fn, repeat, min_time, max_time)
    _sample_interleaved([sm])
    return sm.timing(), sm.out


#: Pause before timing a case: NumPy's OpenBLAS workers spin for about 0.1 s after a BLAS
#: call (the previous case's error check), taking the cores from seqcore's threads.
_SETTLE_S = 0.2


@dataclass
class Settings:
    repeat: int = 5            # samples per side
    min_time: float = 0.02     # seconds a sample lasts at least (fast calls are looped)
    max_time: float = 10.0     # seconds budget per side and case
    reference: bool = True     # time the reference
    #: float32 FMA roof in GFLOP/s (:func:`roofline`); None: rows get no ``roof_pct``
    fma_peak_gflops: Optional[float] = None


def run_case(case: Case, settings: Optional[Settings] = None) -> Dict[str, Any]:
    """Set up, time and check one case; returns its row (keys: :data:`COLUMNS`).

    ``roof_pct`` is ``100 * gflops / settings.fma_peak_gflops`` for a case of
    :data:`GEMM_BOUND_FAMILIES` with known FLOPs when the roof is given, else None.

    A failure (exception in setup, seqcore, the reference or the check) is caught and
    reported in ``status`` (``"ok"`` otherwise); a :class:`SkipCase` from setup (an optional
    library missing) gives ``"skipped: <reason>"``, which does not fail the run; fields not
    measured are None.
    """
    settings = settings or Settings()
    row: Dict[str, Any] = dict.fromkeys(COLUMNS)
    row.update(family=case.family, op=case.op, variant=case.variant, shape=case.shape,
               flops=case.flops, reference=case.reference_name, status="ok")
    if not settings.reference:
        row["reference"] = "-"
    stage = "setup"
    bound = sc_out = ref_out = None
    try:
        bound = case.setup()
        time.sleep(_SETTLE_S)   # let BLAS workers of the previous check stop spinning
        stage = "seqcore"
        args = (settings.repeat, settings.min_time, settings.max_time)
        sc = _Sampler(bound.seqcore, *args)
        ref = None
        if bound.interleave:
            if bound.reference is not None and settings.reference:
                stage = "reference"
                ref = _Sampler(bound.reference, *args)
            stage = "timing"
            _sample_interleaved([sc] if ref is None else [sc, ref])
        else:
            _sample_interleaved([sc])
            if bound.reference is not None and settings.reference:
                stage = "reference"
                ref = _Sampler(bound.reference, *args)
                _sample_interleaved([ref])
        t = sc.timing()
        sc_out = sc.out
        row.update(seqcore_ms=t.median * 1e3, seqcore_loops=t.loops,
                   seqcore_samples_ms=[x * 1e3 for x in t.samples])
        if case.flops:
            row["gflops"] = case.flops / t.median / 1e9
            row["roof_pct"] = _roof_pct(case.family, row["gflops"], settings.fma_peak_gflops)
        if case.items:
            row.update(rate=case.items / t.median, unit=case.unit)
        if ref is not None:
            tr = ref.timing()
            ref_out = ref.out
            row.update(reference_ms=tr.median * 1e3, reference_loops=tr.loops,
                       reference_samples_ms=[x * 1e3 for x in tr.samples],
                       speedup=tr.median / t.median)
        del sc, ref  # their outputs and inputs are not needed any more
        if bound.error is not None:
            stage = "error check"
            err = bound.error(sc_out, ref_out)
            row["max_abs_err"] = err.get("y")
            row["max_abs_err_dw_hh"] = err.get("dw_hh")
    except SkipCase as e:
        row["status"] = f"skipped: {e}"
    except Exception as e:  # report it in the table and go on with the other cases
        row["status"] = f"FAILED in {stage}: {type(e).__name__}: {e}"
    finally:
        del bound, sc_out, ref_out      # free this case's inputs before the next one
        gc.collect()
    return row


def _roof_pct(family: str, gflops: Optional[float],
              fma_peak: Optional[float]) -> Optional[float]:
    """``100 * gflops / fma_peak`` for a GEMM-bound family, else None."""
    if family not in GEMM_BOUND_FAMILIES or not gflops or not fma_peak or fma_peak <= 0:
        return None
    return 100.0 * gflops / fma_peak


def run_cases(case_list: Sequence[Case], settings: Optional[Settings] = None,
              progress: Optional[bool] = None) -> List[Dict[str, Any]]:
    """Run cases in order and return their rows.

    ``progress``: a tqdm bar on stderr (None: only when stderr is a terminal and tqdm is
    importable); without a bar, one line per finished case goes to stderr.
    """
    if progress is None:
        progress = sys.stderr.isatty()
    bar = None
    if progress:
        try:
            from tqdm import tqdm
            bar = tqdm(total=len(case_list), file=sys.stderr, unit="case", leave=False)
        except ImportError:
            bar = None
    rows = []
    for k, case in enumerate(case_list):
        if bar is not None:
            bar.set_description(f"{case.op} {case.shape}"[:60])
        row = run_case(case, settings)
        rows.append(row)
        if bar is not None:
            bar.update(1)
            if row["status"] != "ok":
                bar.write(f"{case.op} {case.shape}: {row['status']}", file=sys.stderr)
        else:
            msg = (f"{_fmt_ms(row['seqcore_ms'])} ms (ref {_fmt_ms(row['reference_ms'])} ms)"
                   if row["status"] == "ok" else row["status"])
            print(f"[{k + 1}/{len(case_list)}] {case.op} {case.shape}: {msg}",
                  file=sys.stderr, flush=True)
    if bar is not None:
        bar.close()
    return rows


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------

def _skipped(row) -> bool:
    return str(row.get("status", "")).startswith("skipped: ")


def _fmt_ms(v) -> str:
    if v is None:
        return "-"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    if v >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _fmt_pct(v) -> str:
    if v is None:
        return "-"
    return "<1%" if v < 0.5 else f"{v:.0f}%"


def _fmt_err(row) -> str:
    e, d = row.get("max_abs_err"), row.get("max_abs_err_dw_hh")
    s = "-" if e is None else f"{e:.1e}"
    if d is not None:
        s += f" / {d:.1e}"
    return s


def format_table(rows: Sequence[Dict[str, Any]]) -> str:
    """Plain-text table with aligned columns (text left-aligned, numbers right-aligned)."""
    header = ["op", "shape", "seqcore ms", "reference", "ref ms", "speed-up", "GFLOP/s",
              "% roof", "max abs err"]
    right = [False, False, True, False, True, True, True, True, True]
    body = []
    for r in rows:
        skipped = _skipped(r)
        failed = r["status"] != "ok" and not skipped
        body.append([
            r["op"], r["shape"],
            "skipped" if skipped else
            "FAILED" if failed and r["seqcore_ms"] is None else _fmt_ms(r["seqcore_ms"]),
            r["reference"] or "-", _fmt_ms(r["reference_ms"]),
            "-" if r["speedup"] is None else f"{r['speedup']:.2f}x",
            "-" if r["gflops"] is None else f"{r['gflops']:.1f}",
            _fmt_pct(r.get("roof_pct")),
            "FAILED" if failed else _fmt_err(r),
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]

    def line(cells):
        return "  ".join((str(c).rjust(w) if rj else str(c).ljust(w))
                         for c, w, rj in zip(cells, widths, right)).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths)]
                     + [line(b) for b in body])


def _fmt_gflops(v: float) -> str:
    return f"{v:.0f}" if v >= 10 else f"{v:.3g}"


def _gemm_label(shape: str) -> str:
    """``"2048x2048x2048"`` -> ``"2048^3"``; other shapes unchanged."""
    dims = shape.split("x")
    return f"{dims[0]}^3" if len(dims) == 3 and len(set(dims)) == 1 else shape


def _roof_line(roof: Optional[Dict[str, Any]]) -> Optional[str]:
    """The footer's roof line, e.g. ``roof: AMD EPYC ..., AVX2+FMA, 2 threads: FMA peak 203
    GFLOP/s; seqcore GEMM 2048^3 178 GFLOP/s (88%); torch.mm 150 GFLOP/s (74%)``."""
    if roof is None:
        return None
    if roof.get("error"):
        return f"roof: not measured ({roof['error']})"
    peak = roof["fma_peak_gflops"]

    def rate(v):
        if v is None:
            return "not measured"
        pct = f" ({100.0 * v / peak:.0f}%)" if peak and peak > 0 else ""
        return f"{_fmt_gflops(v)} GFLOP/s{pct}"

    torch_part = ("torch not importable" if roof.get("torch_gemm_gflops") is None
                  else f"torch.mm {rate(roof['torch_gemm_gflops'])}")
    return (f"roof: {roof.get('cpu') or 'unknown CPU'}, {roof.get('isa') or 'unknown ISA'}, "
            f"{roof['threads']} thread(s): FMA peak {_fmt_gflops(peak)} GFLOP/s; "
            f"seqcore GEMM {_gemm_label(roof['gemm_shape'])} "
            f"{rate(roof['seqcore_gemm_gflops'])}; {torch_part}")


def _footer(rows, info, roof: Optional[Dict[str, Any]] = None,
            env: Optional[Dict[str, Any]] = None) -> str:
    torch_v = info["versions"].get("torch")
    lines = [
        f"seqcore {info['versions'].get('seqcore')} with {info['threads']} thread(s); "
        + (f"torch {torch_v} with {info['torch_threads']} thread(s)" if torch_v
           else "torch not importable: references are NumPy float64 (inference only)")
        + f"; {info['machine'].get('cpu') or 'unknown CPU'}",
        textwrap.fill("ms: median wall time per call; speed-up = ref ms / seqcore ms (same "
                      "run); GFLOP/s: nominal flops / seqcore time; % roof: 100 * GFLOP/s / "
                      "FMA peak (GEMM-bound families)", 100, subsequent_indent="  "),
    ]
    roof_line = _roof_line(roof)
    if roof_line:
        lines.append(roof_line)
    for key in ("note", "malloc"):
        if env and env.get(key):
            lines.append(textwrap.fill(env[key], 100, subsequent_indent="  "))
    for r in rows:
        if r.get("rate"):
            ref = (f" (reference {r['rate'] / r['speedup']:,.0f})" if r.get("speedup") else "")
            lines.append(f"{r['op']} {r['shape']}: {r['rate']:,.0f} {r['unit']}/s{ref}")
    by_note: Dict[str, List[str]] = {}
    for family in dict.fromkeys(r["family"] for r in rows):
        if family in _NOTES:
            by_note.setdefault(_NOTES[family], []).append(family)
    lines += [textwrap.fill(f"{', '.join(fams)}: {note}", 100, subsequent_indent="  ")
              for note, fams in by_note.items()]
    for r in rows:
        if _skipped(r):
            lines.append(f"skipped {r['op']} {r['shape']}: {r['status'][len('skipped: '):]}")
        elif r["status"] != "ok":
            lines.append(f"FAILED {r['op']} {r['shape']}: {r['status']}")
    return "\n".join(lines)


def _cpu_model() -> Optional[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for ln in f:
                if ln.lower().startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def machine_info() -> Dict[str, Any]:
    """Machine, versions, ``seqcore.build_info()`` and thread counts."""
    import seqcore
    torch = _torch()
    versions = {"seqcore": getattr(seqcore, "__version__", None), "numpy": np.__version__,
                "python": platform.python_version(),
                "torch": torch.__version__ if torch is not None else None}
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:   # not on Linux
        affinity = None
    build: object
    try:
        build = seqcore.build_info()
    except Exception as e:   # report it, don't fail the benchmark on it
        build = f"unavailable: {type(e).__name__}: {e}"
    return {
        "machine": {"platform": platform.platform(), "machine": platform.machine(),
                    "cpu": _cpu_model(), "cpu_count": os.cpu_count(),
                    "cpus_available": affinity},
        "versions": versions,
        "build_info": build,
        "threads": seqcore.get_num_threads(),
        "torch_threads": torch.get_num_threads() if torch is not None else None,
    }


def _best_time(fn: Callable[[], Any], repeat: int) -> float:
    """Seconds of the fastest of ``repeat`` calls of ``fn`` (after one warm-up call)."""
    fn()
    best = math.inf
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(1, int(repeat))):
            t0 = time.perf_counter()
            fn()
            best = min(best, time.perf_counter() - t0)
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def roofline(threads: int, torch=None, *, size: int = 2048, fma_seconds: float = 0.3,
             repeat: int = 5) -> Dict[str, Any]:
    """Measure the machine's float32 roof and the best GEMM rates with ``threads`` threads.

    * ``fma_peak_gflops``: ``_core.fma_peak_gflops(threads, fma_seconds)``, every thread
      running independent FMA chains in registers (the roof no float32 kernel passes);
    * ``seqcore_gemm_gflops``: ``2 * size**3`` FLOPs / the best of ``repeat`` runs of
      ``_core.gemm`` on float32 ``[size, size]`` operands (seqcore's blocked GEMM, run with
      ``seqcore.set_num_threads(threads)``), added into a preallocated output;
    * ``torch_gemm_gflops``: the same for ``torch.mm(a, b, out=c)`` with
      ``torch.set_num_threads(threads)``; None when ``torch`` (the module) is None.

    Thread counts are restored afterwards. Returns a dict with those three figures and
    ``gemm_shape`` (``"2048x2048x2048"``), ``isa`` (``seqcore.build_info()``'s ``simd`` and
    ``isa_path``, e.g. ``"AVX2+FMA (native)"``),
    ``cpu`` (CPU model) and ``threads``. Raises ValueError for ``threads < 1``.
    """
    import seqcore
    from seqcore import _core
    threads, size = int(threads), int(size)
    if threads < 1:
        raise ValueError(f"threads: expected >= 1, got {threads}")
    if size < 1:
        raise ValueError(f"size: expected >= 1, got {size}")
    try:
        build = seqcore.build_info()
        isa = f"{build.get('simd')} ({build.get('isa_path')})"
    except Exception:   # build_info unavailable: the roof is still measured
        isa = None
    flops = 2.0 * size ** 3
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    c = np.zeros((size, size), np.float32)

    saved = seqcore.get_num_threads()
    seqcore.set_num_threads(threads)
    try:
        # best of three: a roof measured while another process held a core is too low
        fma = max(float(_core.fma_peak_gflops(threads, fma_seconds / 3)) for _ in range(3))
        # out=: C += A B into one buffer (no 16 MB allocation per call in the timing)
        sc = flops / _best_time(lambda: _core.gemm(a, b, out=c), repeat) / 1e9
    finally:
        seqcore.set_num_threads(saved)
    tg = None
    if torch is not None:
        saved_torch = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            tc = torch.empty((size, size), dtype=torch.float32)
            tg = flops / _best_time(lambda: torch.mm(ta, tb, out=tc), repeat) / 1e9
        finally:
            torch.set_num_threads(saved_torch)
        time.sleep(_SETTLE_S)   # torch's OpenMP workers spin after the last call
    return {
        "fma_peak_gflops": fma,
        "seqcore_gemm_gflops": sc,
        "torch_gemm_gflops": tg,
        "gemm_shape": f"{size}x{size}x{size}",
        "isa": isa,
        "cpu": _cpu_model(),
        "threads": threads,
    }


#: Environment variables that slow current OpenBLAS builds (NumPy's, gensim's) when set:
#: ``seqcore bench`` re-executes itself without them so that references run at their best.
REFERENCE_ENV_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

#: Set in the environment of the re-executed process: a JSON object of the removed
#: variables (name: value). Its presence stops any further re-execution.
_REEXEC_MARKER = "SEQCORE_BENCH_REEXEC"


def reference_env(environ: Optional[Mapping[str, str]] = None
                  ) -> Tuple[Dict[str, str], Dict[str, str]]:
    """``(clean, removed)``: a copy of ``environ`` (default ``os.environ``) without the
    variables of :data:`REFERENCE_ENV_VARS`, and those removed (name: value)."""
    environ = os.environ if environ is None else environ
    clean = dict(environ)
    removed = {name: clean.pop(name) for name in REFERENCE_ENV_VARS if name in clean}
    return clean, removed


def _reexec_without_slow_env(command: Optional[Sequence[str]]) -> None:
    """Re-execute ``command`` (``[sys.executable, "-m", module, *args]``) without the
    variables of :data:`REFERENCE_ENV_VARS` when one is set, once (the marker variable stops
    a loop), saying so in one line on stderr. Returns (does nothing) when ``command`` is
    None, nothing is set, or this process is already the re-executed one."""
    if not command or _REEXEC_MARKER in os.environ:
        return
    clean, removed = reference_env()
    if not removed:
        return
    clean[_REEXEC_MARKER] = json.dumps(removed, sort_keys=True)
    print("seqcore bench: re-executing without "
          + ", ".join(f"{k}={v}" for k, v in removed.items())
          + (": it slows" if len(removed) == 1 else ": they slow")
          + " current OpenBLAS builds used by the references (NumPy, gensim), which read "
            "the environment when loaded", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(command[0], list(command), clean)


#: glibc ``mallopt`` parameters set by :func:`tune_malloc`: (name, number, value).
MALLOPT_SETTINGS = (("M_TRIM_THRESHOLD", -1, 1 << 30), ("M_TOP_PAD", -2, 64 << 20),
                    ("M_MMAP_THRESHOLD", -3, 32 << 20))


def tune_malloc() -> Optional[str]:
    """Make glibc's malloc keep freed memory for reuse in this process (the settings of
    :data:`MALLOPT_SETTINGS`: no trimming below 1 GiB free, the heap grown 64 MiB at a time,
    blocks up to 32 MiB (the largest glibc allows) from the heap, not fresh mmaps), so that
    neither side of a comparison page-faults its temporaries afresh on every call. Returns
    what was set, for the footer, or None where the C library is not glibc or refuses."""
    if platform.libc_ver()[0] != "glibc":
        return None
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not all(mallopt(number, value) == 1 for _, number, value in MALLOPT_SETTINGS):
        return None
    return ("malloc: glibc set to keep freed memory for reuse (mallopt "
            + ", ".join(f"{name} {value >> 20} MiB" for name, _, value in MALLOPT_SETTINGS)
            + "), both sides")


def _environment_report(environ: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """What this run's environment did to the references: ``removed`` (by the
    re-execution: name -> value), ``present`` (still set: run() called from Python, or set
    again by hand) and the footer's ``note`` (None when there is nothing to say)."""
    environ = os.environ if environ is None else environ
    removed: Dict[str, str] = {}
    marker = environ.get(_REEXEC_MARKER)
    if marker:
        try:
            parsed = json.loads(marker)
            if isinstance(parsed, dict):
                removed = {str(k): str(v) for k, v in parsed.items()}
        except ValueError:
            removed = {}
    present = {name: environ[name] for name in REFERENCE_ENV_VARS if name in environ}
    notes = []
    if removed:
        notes.append("removed " + ", ".join(f"{k}={v}" for k, v in removed.items())
                     + " from the references' environment ("
                     + ("slows" if len(removed) == 1 else "slow") + " current OpenBLAS)")
    if present:
        notes.append(", ".join(f"{k}={v}" for k, v in present.items())
                     + " set: the NumPy/gensim references may run slower (current OpenBLAS); "
                       "`seqcore bench` run from the command line removes "
                     + ("it" if len(present) == 1 else "them"))
    return {"removed": removed, "present": present,
            "note": ("environment: " + "; ".join(notes)) if notes else None}


def _jsonable(v):
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else str(v)   # JSON has no NaN / inf
    return str(v)


# --------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------

def _ops_type(text: str) -> List[str]:
    ops = [o.strip().lower() for o in text.split(",") if o.strip()]
    if not ops:
        raise argparse.ArgumentTypeError(
            f"expected a comma-separated list of ops from: {', '.join(families())}")
    unknown = [o for o in ops if o not in _REGISTRY]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown op {', '.join(repr(o) for o in unknown)} "
            f"(choose from: {', '.join(families())})")
    return list(dict.fromkeys(ops))


def _positive(kind):
    def parse(text: str):
        try:
            v = kind(text)
        except ValueError:
            v = None
        if v is None or not v > 0:
            raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
        return v
    parse.__name__ = kind.__name__
    return parse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Register the options of ``seqcore bench`` on ``parser``."""
    parser.add_argument("--ops", type=_ops_type, default=None, metavar="OP[,OP...]",
                        help="comma-separated op families to run (default: all of "
                             f"{','.join(families())})")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true",
                      help="tiny shapes, few repeats: a smoke run of a few seconds")
    size.add_argument("--full", action="store_true",
                      help="the default cases plus extended DeepBench-style shapes")
    parser.add_argument("-k", "--filter", default=None, metavar="TEXT",
                        help="only the cases whose op or shape contains TEXT")
    parser.add_argument("--repeat", type=_positive(int), default=None, metavar="N",
                        help="timed samples per side and case (default 7; 3 with --quick)")
    parser.add_argument("--max-time", type=_positive(float), default=None, metavar="SEC",
                        help="time budget per side and case: a slow side gets fewer samples "
                             "(default 10; 1 with --quick)")
    parser.add_argument("--threads", type=_positive(int), default=None, metavar="N",
                        help="seqcore.set_num_threads(N); torch gets the same count")
    parser.add_argument("--no-reference", action="store_true",
                        help="time seqcore only (the error check still runs)")
    parser.add_argument("--json", default=None, metavar="PATH",
                        help="also write every row, machine and build info to PATH as JSON")
    parser.add_argument("--list", action="store_true",
                        help="list the selected cases and exit")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (one line per case on stderr instead)")


def run(args: argparse.Namespace, reexec: Optional[Sequence[str]] = None) -> int:
    """Run ``seqcore bench`` with parsed ``args``; returns the exit status (1 on failure).

    ``reexec``: the command line that re-runs this process (``[sys.executable, "-m",
    "seqcore.cli", "bench", ...]``), passed by :func:`main` and ``seqcore.cli.main`` when
    they parse the process's own command line. With it, a process started with a variable of
    :data:`REFERENCE_ENV_VARS` set re-executes itself without them (once) before timing
    anything, and sets the malloc of :func:`tune_malloc`; without it (calls from Python,
    tests) the footer only names the variables, and the process's malloc is left as it is.
    """
    import seqcore
    suite = "quick" if args.quick else "full" if args.full else "default"
    selected = cases(args.ops, suite, args.filter)
    if args.list:
        table = [[c.op, c.shape, f"{c.flops / 1e9:.3g}" if c.flops else "-",
                  c.reference_name, ",".join(c.suites)] for c in selected]
        header = ["op", "shape", "GFLOP", "reference", "suites"]
        widths = [max(len(x) for x in col) for col in zip(header, *table)]
        for r in [header] + table:
            print("  ".join(x.ljust(w) for x, w in zip(r, widths)).rstrip())
        print(f"{len(selected)} case(s) in suite {suite!r}")
        return 0
    if not selected:
        print(f"seqcore bench: no case matches (suite {suite!r}, filter {args.filter!r})",
              file=sys.stderr)
        return 1
    _reexec_without_slow_env(reexec)     # returns unless it re-executes
    env = _environment_report()
    env["malloc"] = tune_malloc() if reexec else None
    if args.threads is not None:
        seqcore.set_num_threads(args.threads)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(seqcore.get_num_threads())
    info = machine_info()
    print("measuring the roof (FMA peak, GEMM)...", file=sys.stderr, flush=True)
    quick: Dict[str, Any] = dict(size=512, fma_seconds=0.05, repeat=3) if args.quick else {}
    roof: Dict[str, Any]
    try:
        roof = roofline(info["threads"], torch, **quick)
    except Exception as e:   # report it, don't fail the benchmark on it
        roof = {"error": f"{type(e).__name__}: {e}"}
    settings = Settings(
        repeat=args.repeat or (3 if args.quick else 7),
        min_time=0.002 if args.quick else 0.02,
        max_time=args.max_time or (1.0 if args.quick else 10.0),
        reference=not args.no_reference,
        fma_peak_gflops=roof.get("fma_peak_gflops"),
    )
    t0 = time.perf_counter()
    rows = run_cases(selected, settings, progress=False if args.no_progress else None)
    elapsed = time.perf_counter() - t0
    if not args.quick and "error" not in roof:
        # Measured again after the cases, best of both: one disturbed measurement (another
        # process on a core for a second) must not lower the roof of the whole table.
        try:
            again: Dict[str, Any] = roofline(info["threads"], torch)
            roof = {k: (max(v, again[k]) if k.endswith("_gflops") and v is not None
                        and again[k] is not None else v) for k, v in roof.items()}
            for row in rows:
                row["roof_pct"] = _roof_pct(row["family"], row["gflops"],
                                            roof["fma_peak_gflops"])
        except Exception:   # keep the first measurement
            pass
    print(format_table(rows))
    print()
    print(_footer(rows, info, roof, env))
    print(f"{len(rows)} case(s) in {elapsed:.1f} s")
    sys.stdout.flush()
    if args.json:
        doc = {
            "schema": 1,
            "suite": suite,
            "columns": list(COLUMNS),
            "settings": {"repeat": settings.repeat, "min_time": settings.min_time,
                         "max_time": settings.max_time, "reference": settings.reference,
                         "ops": args.ops or families(), "filter": args.filter},
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "elapsed_s": elapsed,
            **info,
            "roofline": roof,
            "environment": env,
            "rows": rows,
        }
        with open(args.json, "w") as f:
            json.dump(_jsonable(doc), f, indent=1, allow_nan=False)
            f.write("\n")
    return 0 if all(r["status"] == "ok" or _skipped(r) for r in rows) else 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``python -m seqcore.bench``."""
    parser = argparse.ArgumentParser(
        prog="python -m seqcore.bench", description=DESCRIPTION)
    add_arguments(parser)
    # The process's own command line (argv None) may be re-executed (see run()).
    reexec = None if argv is not None else [sys.executable, "-m", "seqcore.bench",
                                            *sys.argv[1:]]
    return run(parser.parse_args(argv), reexec=reexec)


# --------------------------------------------------------------------------------------
# Helpers shared by families
# --------------------------------------------------------------------------------------

_TORCH: List[Any] = []


def _torch():
    """The torch module, or None when not importable (or SEQCORE_BENCH_NO_TORCH is set)."""
    if not _TORCH:
        mod = None
        if not os.environ.get("SEQCORE_BENCH_NO_TORCH"):
            try:
                import torch as mod
            except Exception:   # ImportError, or a broken install
                mod = None
        _TORCH.append(mod)
    return _TORCH[0]


def require_torch():
    """The torch module for a case that needs it; raises SkipCase when it is not importable."""
    torch = _torch()
    if torch is None:
        raise SkipCase("torch is not importable (pip install torch==2.13.0)")
    return torch


def one_thread(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with seqcore (and torch, when it is loaded) on one thread, the thread
    counts restored after: for the cases that report single-thread speed."""
    def run():
        import seqcore
        torch = sys.modules.get("torch")
        saved = seqcore.get_num_threads()
        saved_torch = torch.get_num_threads() if torch is not None else None
        seqcore.set_num_threads(1)
        if torch is not None:
            torch.set_num_threads(1)
        try:
            return fn()
        finally:
            seqcore.set_num_threads(saved)
            if torch is not None:
                torch.set_num_threads(saved_torch)
    return run


def train_step_bound(ours, theirs, compare_loss=True) -> Bound:
    """The Bound of a training-step case: ``ours`` and ``theirs`` each run one step of the
    same model from the same weights and return its loss. Both take a first, untimed step
    here; the error column is ``|our first loss - theirs|`` (NaN with ``compare_loss=False``:
    different output layers)."""
    first = abs(ours() - theirs()) if compare_loss else float("nan")

    def error(a, b):
        return {"y": first}

    return Bound(ours, theirs, error)


def _reference():
    """seqcore.reference, or None when it is not available."""
    try:
        from seqcore import reference
    except ImportError:
        return None
    return reference


def _maxabs(a, b) -> float:
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch in the error check: {a.shape} vs {b.shape}")
    return float(np.max(np.abs(a - b))) if a.size else 0.0


# --------------------------------------------------------------------------------------
# Recurrent families: lstm, gru, rnn
# --------------------------------------------------------------------------------------

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def rnn_flops(cell: str, T: int, N: int, I: int, H: int, backward: bool = False,
              steps: Optional[int] = None) -> float:
    """Nominal FLOPs of one LSTM/GRU/RNN layer call: ``2·steps·G·H·(I+H)``, ×3 with backward.

    ``steps`` is ``sum(lengths)`` when lengths are given, else ``T·N``.
    """
    steps = T * N if steps is None else steps
    f = 2.0 * steps * _GATES[cell] * H * (I + H)
    return 3.0 * f if backward else f


def _rnn_case(cell: str, N: int, T: int, I: int, H: int, *, backward: bool,
              ref: str = "auto", lengths: Optional[str] = None,
              linear_before_reset: bool = True, nonlinearity: str = "tanh",
              suites=("default", "full"), seed: int = 0, label: str = "") -> Optional[Case]:
    """One recurrent case (None when its reference needs torch and torch is missing).

    ``ref``: "auto" picks "torch" ("torch packed" with lengths, "torch loop" for the Cho
    GRU) when torch is importable, else "numpy" for inference and "-" (no timed reference)
    for fwd+bwd. Or name one: "torch", "torch packed", "torch padded", "torch loop",
    "numpy" (inference only: seqcore.reference has no backward).
    ``lengths``: None, or "uniform": lengths ~ U{max(1, T//10) .. T}, seeded.
    """
    torch = _torch()
    cho = cell == "gru" and not linear_before_reset
    if ref == "auto":
        if torch is not None:
            ref = "torch loop" if cho else "torch packed" if lengths else "torch"
        else:
            ref = "-" if backward else "numpy"
    if ref.startswith("torch") and torch is None:
        return None
    if cho and ref in ("torch", "torch packed", "torch padded"):
        raise ValueError("torch.nn.GRU has no linear_before_reset=False; use ref='torch loop'")
    if ref == "torch loop" and (not cho or lengths):
        raise ValueError("ref='torch loop' is only defined for the Cho GRU without lengths")
    if ref == "numpy" and backward:
        raise ValueError("seqcore.reference has no backward: ref='numpy' is inference only")

    lo = max(1, T // 10)
    lens = None
    if lengths == "uniform":
        lens = np.random.default_rng(1000 + seed).integers(lo, T + 1, size=N).astype(np.int64)
    elif lengths is not None:
        raise ValueError(f"lengths: expected None or 'uniform', got {lengths!r}")
    steps = int(lens.sum()) if lens is not None else T * N
    variant = "fwd+bwd" if backward else "infer"
    if cho:
        variant = "cho " + variant
    if cell == "rnn" and nonlinearity != "tanh":
        variant = f"{nonlinearity} {variant}"
    if lens is not None:
        variant += " lengths"
    if label:
        variant += f" ({label})"
    shape = f"N={N} T={T} I={I} H={H}"
    if lens is not None:
        shape += f" len~U[{lo},{T}] sum={steps}"

    def setup() -> Bound:
        return _rnn_bound(cell, N, T, I, H, backward, ref, lens, linear_before_reset,
                          nonlinearity, seed)

    return Case(cell, variant, shape, rnn_flops(cell, T, N, I, H, backward, steps), setup,
                ref, tuple(suites))


def _rnn_inputs(cell, N, T, I, H, seed):
    """Seeded float32 inputs; weights in torch's default init range ±1/sqrt(H)."""
    rng = np.random.default_rng(seed)
    G = _GATES[cell]
    k = 1.0 / math.sqrt(H)
    f32 = np.float32
    return {
        "x": rng.standard_normal((T, N, I)).astype(f32),
        "w_ih": rng.uniform(-k, k, (G * H, I)).astype(f32),
        "w_hh": rng.uniform(-k, k, (G * H, H)).astype(f32),
        "b_ih": rng.uniform(-k, k, G * H).astype(f32),
        "b_hh": rng.uniform(-k, k, G * H).astype(f32),
        "h0": (0.5 * rng.standard_normal((N, H))).astype(f32),
        "c0": (0.5 * rng.standard_normal((N, H))).astype(f32) if cell == "lstm" else None,
        "dy": rng.uniform(0.5, 1.5, (T, N, H)).astype(f32),    # "ones-ish" upstream grad
    }


def _rnn_bound(cell, N, T, I, H, backward, ref, lens, lbr, nonlinearity, seed) -> Bound:
    import seqcore
    a = _rnn_inputs(cell, N, T, I, H, seed)
    x, w_ih, w_hh, b_ih, b_hh, h0, c0, dy = (a[k] for k in ("x", "w_ih", "w_hh", "b_ih",
                                                           "b_hh", "h0", "c0", "dy"))

    # -- seqcore: returns (y, grads or None) ---------------------------------------------
    sc_bwd: Callable[..., Any]
    if cell == "lstm":
        def sc_fwd(training):
            out = seqcore.lstm_forward(x, w_ih, w_hh, b_ih, b_hh, h0=h0, c0=c0, lengths=lens,
                                       training=training)
            return out[0], out[3]
        sc_bwd = seqcore.lstm_backward
    elif cell == "gru":
        def sc_fwd(training):
            out = seqcore.gru_forward(x, w_ih, w_hh, b_ih, b_hh, h0=h0, lengths=lens,
                                      training=training, linear_before_reset=lbr)
            return out[0], out[2]
        sc_bwd = seqcore.gru_backward
    else:
        def sc_fwd(training):
            out = seqcore.rnn_forward(x, w_ih, w_hh, b_ih, b_hh, h0=h0, lengths=lens,
                                      training=training, nonlinearity=nonlinearity)
            return out[0], out[2]
        sc_bwd = seqcore.rnn_backward

    if backward:
        def sc_call():
            y, cache = sc_fwd(True)
            return y, sc_bwd(cache, dy)
    else:
        def sc_call():
            return sc_fwd(False)[0], None

    # -- NumPy float64 reference: the error check; timed when ref == "numpy" -------------
    npref = _reference()
    np_call = None
    if npref is not None:
        a64 = {k: (None if v is None else v.astype(np.float64)) for k, v in a.items()}
        if cell == "lstm":
            def np_call():
                return npref.lstm_forward(a64["x"], a64["w_ih"], a64["w_hh"], a64["b_ih"],
                                          a64["b_hh"], h0=a64["h0"], c0=a64["c0"],
                                          lengths=lens, reverse=False)[0]
        elif cell == "gru":
            def np_call():
                return npref.gru_forward(a64["x"], a64["w_ih"], a64["w_hh"], a64["b_ih"],
                                         a64["b_hh"], h0=a64["h0"], lengths=lens,
                                         linear_before_reset=lbr, reverse=False)[0]
        else:
            def np_call():
                return npref.rnn_forward(a64["x"], a64["w_ih"], a64["w_hh"], a64["b_ih"],
                                         a64["b_hh"], h0=a64["h0"], lengths=lens,
                                         nonlinearity=nonlinearity, reverse=False)[0]

    ref_call = None
    if ref.startswith("torch"):
        ref_call = _torch_rnn_call(cell, a, T, I, H, backward, ref, lens, nonlinearity)
    elif ref == "numpy":
        ref_call = np_call

    def error(sc_out, ref_out):
        err = {}
        if np_call is not None:
            y_ref = ref_out if (ref == "numpy" and ref_out is not None) else np_call()
            err["y"] = _maxabs(sc_out[0], y_ref)
        # (torch padded runs the padded steps too: its gradients differ by design)
        if backward and ref.startswith("torch") and ref != "torch padded" \
                and ref_out is not None:
            err["dw_hh"] = _maxabs(sc_out[1].dw_hh, ref_out[1].numpy())
        return err

    return Bound(sc_call, ref_call, error, interleave=ref != "numpy")


def _torch_rnn_call(cell, a, T, I, H, backward, ref, lens, nonlinearity):
    """The timed torch callable; it returns (y, dW_hh grad or None) as torch tensors."""
    torch = _torch()
    if ref == "torch loop":
        return _torch_cho_gru_call(a, T, I, H, backward)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[cell]
    kw = {"nonlinearity": nonlinearity} if cell == "rnn" else {}
    mod = cls(I, H, **kw)
    names = {"w_ih": "weight_ih_l0", "w_hh": "weight_hh_l0", "b_ih": "bias_ih_l0",
             "b_hh": "bias_hh_l0"}
    with torch.no_grad():
        for name, tname in names.items():
            getattr(mod, tname).copy_(torch.from_numpy(a[name]))
    x = torch.from_numpy(a["x"].copy())
    h0 = torch.from_numpy(a["h0"][None].copy())
    c0 = torch.from_numpy(a["c0"][None].copy()) if cell == "lstm" else None
    dy = torch.from_numpy(a["dy"].copy())
    leaves = [p for p in (x, h0, c0) if p is not None]
    if backward:
        for p in leaves:
            p.requires_grad_(True)
    leaves += list(mod.parameters())
    hx = (h0, c0) if cell == "lstm" else h0
    if ref == "torch packed":
        from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
        lt = torch.from_numpy(np.asarray(lens, np.int64))

        def forward():
            packed = pack_padded_sequence(x, lt, enforce_sorted=False)
            out, _ = mod(packed, hx)
            return pad_packed_sequence(out, total_length=T)[0]
    else:    # "torch", "torch padded": the whole padded [T, N, I] input
        def forward():
            return mod(x, hx)[0]
    return _torch_wrap(forward, leaves, dy, backward, lambda: mod.weight_hh_l0.grad)


def _torch_cho_gru_call(a, T, I, H, backward):
    """GRU with linear_before_reset=False (absent from torch.nn) as a Python loop of torch
    ops: the input GEMM for all steps at once, then per step the r/z GEMM and the dependent
    ``W_hn (r * h)`` GEMM."""
    torch = _torch()
    t = {k: torch.from_numpy(a[k].copy())
         for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0", "dy")}
    leaves = [t[k] for k in ("x", "w_ih", "w_hh", "b_ih", "b_hh", "h0")]
    if backward:
        for p in leaves:
            p.requires_grad_(True)
    x, w_ih, w_hh, b_ih, b_hh, h0 = leaves
    N = x.shape[1]

    def forward():
        gi = torch.addmm(b_ih, x.reshape(T * N, I), w_ih.t()).view(T, N, 3 * H)
        w_rz, w_n = w_hh[:2 * H], w_hh[2 * H:]
        b_rz, b_n = b_hh[:2 * H], b_hh[2 * H:]
        h, ys = h0, []
        for s in range(T):
            g = gi[s]
            rz = torch.sigmoid(g[:, :2 * H] + torch.addmm(b_rz, h, w_rz.t()))
            r, z = rz[:, :H], rz[:, H:]
            n = torch.tanh(g[:, 2 * H:] + torch.addmm(b_n, r * h, w_n.t()))
            h = n + z * (h - n)                      # (1 - z) * n + z * h
            ys.append(h)
        return torch.stack(ys)

    return _torch_wrap(forward, leaves, t["dy"], backward, lambda: w_hh.grad)


def _torch_wrap(forward, leaves, dy, backward, dw_hh):
    torch = _torch()
    if backward:
        def call():
            for p in leaves:
                p.grad = None
            y = forward()
            y.backward(dy)
            return y.detach(), dw_hh()
    else:
        def call():
            with torch.no_grad():
                return forward(), None
    return call


_RNN_NOTE = ("flops = 2*T*N*G*H*(I+H) forward (sum(lengths) replaces T*N), x3 for fwd+bwd; "
             "max abs err: max|y - y_ref| of the forward output vs NumPy float64 "
             "(seqcore.reference), after '/': max|dW_hh - dW_hh(torch autograd)| (fwd+bwd rows "
             "timed against torch, except torch padded)")


@register("lstm", note=_RNN_NOTE)
def _lstm_cases() -> List[Case]:
    c = [
        # quick: smoke shapes
        _rnn_case("lstm", 4, 8, 16, 32, backward=True, suites=("quick",)),
        _rnn_case("lstm", 4, 8, 16, 32, backward=False, suites=("quick",)),
        _rnn_case("lstm", 5, 9, 12, 16, backward=True, lengths="uniform", suites=("quick",)),
        # default: the targets (also in "full")
        _rnn_case("lstm", 64, 50, 512, 512, backward=True),
        _rnn_case("lstm", 32, 25, 1024, 1024, backward=True),
        _rnn_case("lstm", 64, 50, 512, 512, backward=False),
        _rnn_case("lstm", 1, 50, 64, 64, backward=False),
        _rnn_case("lstm", 1, 50, 64, 64, backward=True),
        _rnn_case("lstm", 64, 100, 256, 256, backward=True, lengths="uniform"),
        _rnn_case("lstm", 64, 100, 256, 256, backward=True, lengths="uniform",
                  ref="torch padded", label="vs padded"),
        # full: DeepBench training, PyTorch word language model, small latency
        _rnn_case("lstm", 16, 25, 512, 512, backward=True, suites=("full",)),
        _rnn_case("lstm", 128, 25, 512, 512, backward=True, suites=("full",)),
        _rnn_case("lstm", 16, 25, 2048, 2048, backward=True, suites=("full",)),
        _rnn_case("lstm", 16, 150, 256, 256, backward=True, suites=("full",)),
        _rnn_case("lstm", 32, 35, 800, 800, backward=True, suites=("full",)),
        _rnn_case("lstm", 32, 35, 800, 800, backward=False, suites=("full",)),
        _rnn_case("lstm", 64, 100, 256, 256, backward=False, lengths="uniform",
                  suites=("full",)),
        _rnn_case("lstm", 1, 50, 32, 32, backward=False, suites=("full",)),
        _rnn_case("lstm", 1, 50, 128, 128, backward=False, suites=("full",)),
        _rnn_case("lstm", 1, 50, 128, 128, backward=True, suites=("full",)),
    ]
    return [x for x in c if x is not None]


@register("gru", note=_RNN_NOTE)
def _gru_cases() -> List[Case]:
    c = [
        _rnn_case("gru", 4, 8, 16, 32, backward=True, suites=("quick",)),
        _rnn_case("gru", 4, 8, 16, 32, backward=False, suites=("quick",)),
        _rnn_case("gru", 3, 6, 8, 16, backward=True, linear_before_reset=False,
                  suites=("quick",)),
        _rnn_case("gru", 64, 50, 512, 512, backward=True),
        _rnn_case("gru", 64, 50, 512, 512, backward=False),
        _rnn_case("gru", 16, 25, 256, 256, backward=True, linear_before_reset=False),
        _rnn_case("gru", 16, 25, 256, 256, backward=False, linear_before_reset=False,
                  ref="numpy"),
        _rnn_case("gru", 1, 50, 64, 64, backward=False),
        _rnn_case("gru", 32, 25, 1024, 1024, backward=True, suites=("full",)),
        _rnn_case("gru", 16, 150, 256, 256, backward=True, suites=("full",)),
        _rnn_case("gru", 64, 100, 256, 256, backward=True, lengths="uniform",
                  suites=("full",)),
        _rnn_case("gru", 1, 50, 64, 64, backward=True, suites=("full",)),
    ]
    return [x for x in c if x is not None]


@register("rnn", note=_RNN_NOTE)
def _rnn_cases() -> List[Case]:
    c = [
        _rnn_case("rnn", 4, 8, 16, 32, backward=True, suites=("quick",)),
        _rnn_case("rnn", 4, 8, 16, 32, backward=False, suites=("quick",)),
        _rnn_case("rnn", 64, 50, 512, 512, backward=True),
        _rnn_case("rnn", 64, 50, 512, 512, backward=False),
        _rnn_case("rnn", 1, 50, 64, 64, backward=False),
        _rnn_case("rnn", 1, 50, 64, 64, backward=True),
        _rnn_case("rnn", 32, 25, 1024, 1024, backward=True, suites=("full",)),
        _rnn_case("rnn", 64, 50, 512, 512, backward=True, nonlinearity="relu",
                  suites=("full",)),
    ]
    return [x for x in c if x is not None]


if __name__ == "__main__":
    # Run the imported module's main: the bench_ops families register into seqcore.bench,
    # not into this __main__ copy of it.
    from seqcore.bench import main as _main
    sys.exit(_main())

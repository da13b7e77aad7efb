"""Run seqcore's hypothesis property specs (tests/property_specs.py) in this process.

    python tests/property_runner.py [--profile ci|long] [--group G ...] [SPEC ...]
                                    [--trace FILE] [--list]

Prints one ``PROPERTY_STATS {json}`` line per spec (examples tried, outcomes) and a
``PROPERTY_TOTAL`` line; exits 1 if a property failed. With ``--trace FILE`` the input about
to be called is written to FILE first, so a crash (segfault, abort) or a hang (an example
running over 60 s is stopped by faulthandler) can be traced to its input.
``tests/test_properties.py`` runs this script in a subprocess.

Profiles (hypothesis ``settings.register_profile``; default from the environment variable
``SEQCORE_HYPOTHESIS_PROFILE``, else "ci"):

* ``ci``: ``derandomize=True`` (the same examples on every run), 60 examples per spec
  (scaled by the spec's cost), no example database;
* ``long``: random, 400 examples per spec (scaled by cost): more than 10**4 inputs in all.
"""
from __future__ import annotations

import argparse
import faulthandler
import json
import os
import sys
import time
import warnings
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import property_specs as ps  # noqa: E402

EXAMPLE_TIMEOUT_S = 60
BASE_EXAMPLES = {"ci": 60, "long": 400}

_COMMON = dict(deadline=None, suppress_health_check=list(HealthCheck), print_blob=False)
settings.register_profile("ci", derandomize=True, database=None, **_COMMON)
settings.register_profile("long", database=None, **_COMMON)


class PropertyFailure(AssertionError):
    pass


def _limit_memory(gib=8):
    """Bound the address space: a huge size request then fails cleanly (MemoryError or
    std::bad_alloc) instead of waking the OOM killer on a shared machine. Not under the
    sanitizer build: ASan's shadow memory needs terabytes of address space (the CI job caps
    allocations with ASAN_OPTIONS=max_allocation_size_mb instead)."""
    try:
        with open("/proc/self/maps") as f:
            if "libasan" in f.read():
                return
    except OSError:
        pass
    try:
        import resource
        limit = gib * 2**30
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass


def one_example(spec, data, stats, trace):
    stats["examples"] += 1
    call = spec.build(data.draw)
    args = call.make()
    choices = [(name, kind) for name, value in args.items() if name not in call.frozen
               for kind in ps.kinds_for(value) if not ps.is_known(spec.name, name, kind)]
    pick = None
    if choices and data.draw(st.integers(0, 3), label="perturb?") > 0:
        pick = data.draw(st.sampled_from(choices), label="perturbation")
    desc = "none"
    if pick is not None:
        name, kind = pick
        args[name], detail = ps.perturb(args[name], kind, data.draw)
        desc = f"{name} <- {kind}: {detail}"
    if pick is None:
        category = "valid"
    elif pick[1] == "readonly" and pick[0] in call.inplace:
        category = "other"
    elif pick[1] in ps.LAYOUT:
        category = "layout"
    elif pick[1] in ps.STRICT and pick[0] not in call.lenient:
        category = "strict"
    else:
        category = "other"
    where = f"{spec.name}: perturbation {desc}; call({ps.describe(args)})"
    if trace is not None:
        trace.seek(0)
        trace.write(where + "\n")
        trace.truncate()
        trace.flush()

    faulthandler.dump_traceback_later(EXAMPLE_TIMEOUT_S, exit=True)
    try:
        out, exc = call.fn(**args), None
    except Exception as e:  # noqa: BLE001 - classified below
        out, exc = None, e
    finally:
        faulthandler.cancel_dump_traceback_later()

    stats[f"{category}:{'ok' if exc is None else type(exc).__name__}"] += 1
    if exc is None:
        if category == "strict":
            raise PropertyFailure(f"accepted invalid input (expected ValueError/TypeError): "
                                  f"{where}; returned {type(out).__name__}")
        if category == "valid" and call.check is not None:
            try:
                call.check(out, args)
            except AssertionError as e:
                raise PropertyFailure(f"wrong result for valid input: {e}: {where}") from None
        if category == "layout" and call.compare:
            base = call.fn(**call.make())
            if not ps.same(base, out, call.rtol):
                raise PropertyFailure(f"result differs from the contiguous call: {where}")
        return
    allowed = (ValueError, TypeError) + spec.allowed
    if pick is not None and pick[1] in ps.HUGE:
        allowed += (MemoryError,)
    msg = f"{type(exc).__name__}: {str(exc)[:300]}"
    if not isinstance(exc, allowed):
        raise PropertyFailure(f"undocumented exception {msg}: {where}") from exc
    if any(noise in str(exc) for noise in ps.PYBIND_NOISE):
        raise PropertyFailure(f"pybind11 error instead of a message naming the argument: "
                              f"{msg}: {where}")
    if category in ("valid", "layout") and not call.may_raise:
        raise PropertyFailure(f"valid input rejected: {msg}: {where}") from exc


def run_spec(spec, profile, trace):
    stats = Counter()
    n = max(3, int(round(BASE_EXAMPLES[profile] * spec.cost)))

    @settings(settings.get_profile(profile), max_examples=n)
    @given(data=st.data())
    def prop(data):
        one_example(spec, data, stats, trace)

    t0 = time.perf_counter()
    failure = None
    try:
        prop()
    except Exception as e:  # noqa: BLE001 - reported
        parts = list(getattr(e, "exceptions", ())) or [e]
        failure = "\n".join(f"- {type(x).__name__}: {x}" for x in parts)
    stats_out = {"spec": spec.name, "examples": stats.pop("examples", 0),
                 "seconds": round(time.perf_counter() - t0, 2), "failed": failure is not None,
                 "outcomes": dict(sorted(stats.items()))}
    print("PROPERTY_STATS " + json.dumps(stats_out), flush=True)
    if failure:
        print(f"PROPERTY_FAILURE {spec.name}:\n{failure}\n", flush=True)
    return stats_out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("specs", nargs="*")
    p.add_argument("--group", action="append", default=[])
    p.add_argument("--profile", default=os.environ.get("SEQCORE_HYPOTHESIS_PROFILE", "ci"),
                   choices=sorted(BASE_EXAMPLES))
    p.add_argument("--trace")
    p.add_argument("--list", action="store_true")
    a = p.parse_args(argv)
    if a.list:
        for g, names in ps.groups().items():
            print(g, " ".join(names))
        return 0
    names = list(a.specs)
    for g in a.group:
        names += ps.groups()[g]
    if not names:
        names = list(ps.SPECS)
    unknown = [n for n in names if n not in ps.SPECS]
    if unknown:
        p.error(f"unknown spec(s) {unknown}")
    warnings.simplefilter("ignore")
    _limit_memory()
    faulthandler.enable()
    trace = open(a.trace, "w") if a.trace else None
    results = [run_spec(ps.SPECS[n], a.profile, trace) for n in names]
    total = {"specs": len(results), "examples": sum(r["examples"] for r in results),
             "failed": [r["spec"] for r in results if r["failed"]]}
    print("PROPERTY_TOTAL " + json.dumps(total), flush=True)
    if trace is not None:
        trace.close()
        os.unlink(a.trace)   # nothing crashed: no input to point at
    return 1 if total["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

"""Independent kernel calls side by side, each on its share of seqcore's threads.

The two directions of a bidirectional recurrent layer are independent: run one after the
other (as PyTorch does), each splits every time step over all threads and meets them at a
barrier per step; run side by side, each gets its own share of the threads (one thread each
with two): no barrier in its time loop and no cache line shared between the cores. The
kernels release the GIL, so a Python thread per call is enough; ``_core._set_thread_share``
gives the kernels called from that thread its share. Results are those of the calls run one
after the other (the kernels' results do not depend on their thread count).
"""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, List, Sequence

from . import _core

__all__ = ["side_by_side", "MIN_FLOPS", "set_num_threads"]


def set_num_threads(n):
    """Use ``n`` threads (>= 1) in seqcore's kernels (OpenMP); see ``get_num_threads()``.

    Raises TypeError for a non-int ``n`` (a bool or float is not silently converted),
    ValueError for ``n < 1`` or beyond the C++ int range.
    """
    from ._validate import int_arg
    _core.set_num_threads(int_arg("n", n, 1, 2**31 - 1))

#: Below this many FLOPs per call, handing a call to another thread (~20-50 us) costs more
#: than the barriers it saves: the calls then run one after the other.
MIN_FLOPS = 2e7

_lock = threading.Lock()
_pool: List[ThreadPoolExecutor] = []


def _executor(workers: int) -> ThreadPoolExecutor:
    with _lock:
        if not _pool or _pool[0]._max_workers < workers:   # grow (rare): replace
            if _pool:
                _pool.pop().shutdown(wait=False)
            _pool.append(ThreadPoolExecutor(max_workers=workers,
                                            thread_name_prefix="seqcore-side"))
        return _pool[0]


def side_by_side(calls: Sequence[Callable[[], Any]], flops_each: float = float("inf")) -> list:
    """Results of the zero-argument ``calls``, run side by side when worth it.

    With ``k = len(calls) >= 2``, at least ``k`` seqcore threads (``get_num_threads()``) and
    ``flops_each >= MIN_FLOPS``, call 0 runs in this thread and the others in worker
    threads, each with ``get_num_threads() // k`` threads for its kernels; otherwise one
    after the other with all threads. Exceptions propagate (the first call's first).
    """
    k = len(calls)
    n = _core.get_num_threads()
    if k < 2 or n < k or flops_each < MIN_FLOPS:
        return [c() for c in calls]
    share = n // k

    def shared(call):
        _core._set_thread_share(share)
        try:
            return call()
        finally:
            _core._set_thread_share(0)

    futures = [_executor(k - 1).submit(shared, c) for c in calls[1:]]
    try:
        first = shared(calls[0])
    except BaseException:
        for f in futures:   # let them finish: they may read the same arrays
            f.exception()
        raise
    return [first] + [f.result() for f in futures]

"""Worker threads for the vectorized ops: chunks of a batch run in parallel, BLAS single-threaded meanwhile.

The ops split a batch into chunks of a few images (so each chunk's im2col matrix stays in cache) and hand
the chunks to a small thread pool; NumPy releases the GIL in the copies, ufuncs and matmuls that do the
work. While chunks run, OpenBLAS is set to one thread: a multi-threaded BLAS call on a small chunk costs
more in synchronisation than it gains, and on a busy machine (other processes on the cores) every such
call waits for its slowest thread -- measured here, 5-10x slower than one thread. The previous BLAS
thread count is restored when the last running op finishes.

``CNNLAB_OPS_THREADS`` sets the number of workers (default: the CPUs this process may use, at most 8;
``1`` runs everything in the calling thread and leaves BLAS alone). Without the OpenBLAS that NumPy's
wheels bundle, chunks run in the calling thread. Results do not depend on the number of threads: chunks
are fixed by size alone and partial sums are added in chunk order (BLAS itself may round differently
with a different number of its own threads).
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

MAX_THREADS = 8


def _find_openblas() -> tuple[Callable[[], int], Callable[[int], None]] | None:
    """get/set functions for the thread count of the OpenBLAS bundled with NumPy's wheels, if present."""
    try:
        import numpy as np

        here = os.path.dirname(np.__file__)
        paths = glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas*")) + glob.glob(
            os.path.join(here, ".dylibs", "*openblas*")
        )
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for prefix in ("scipy_openblas", "openblas"):
                for suffix in ("64_", ""):
                    get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                    set_ = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                    if get is not None and set_ is not None:
                        get.restype, get.argtypes = ctypes.c_int, []
                        set_.restype, set_.argtypes = None, [ctypes.c_int]
                        return get, set_
    except (OSError, AttributeError, ImportError):  # pragma: no cover - depends on the NumPy build
        pass
    return None  # pragma: no cover - depends on the NumPy build


_BLAS = _find_openblas()
_lock = threading.Lock()
_active = 0
_saved_blas_threads: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_key: tuple[int, int] | None = None


def num_threads() -> int:
    """Worker threads the ops use: ``$CNNLAB_OPS_THREADS`` or the CPUs available (at most 8)."""
    env = os.environ.get("CNNLAB_OPS_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise ValueError(f"CNNLAB_OPS_THREADS must be a positive integer, got {env!r}") from None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(MAX_THREADS, cpus))


@contextmanager
def blas_single_threaded():
    """OpenBLAS at one thread while any op runs chunks in parallel; restored by the last one to finish."""
    global _active, _saved_blas_threads
    if _BLAS is None:  # pragma: no cover - depends on the NumPy build
        yield
        return
    get, set_ = _BLAS
    with _lock:
        if _active == 0:
            _saved_blas_threads = get()
            if _saved_blas_threads != 1:
                set_(1)
        _active += 1
    try:
        yield
    finally:
        with _lock:
            _active -= 1
            if _active == 0 and _saved_blas_threads not in (None, 1):
                set_(_saved_blas_threads)


def _executor(n: int) -> ThreadPoolExecutor:
    """The shared pool of ``n`` workers (a new one after ``fork``, whose child has no worker threads)."""
    global _pool, _pool_key
    key = (os.getpid(), n)
    with _lock:
        if _pool is None or _pool_key != key:
            if _pool is not None and _pool_key[0] == os.getpid():
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="cnnlab-ops")
            _pool_key = key
        return _pool


def run_chunks(fn: Callable[[Any], Any], items: Iterable[Any]) -> list[Any]:
    """``[fn(item) for item in items]``, in the worker threads when there are several items and workers.

    ``fn`` must only write to memory that no other item writes (each chunk its own slice of the output).
    """
    items = list(items)
    workers = num_threads()
    if workers <= 1 or len(items) <= 1 or _BLAS is None:
        return [fn(item) for item in items]
    with blas_single_threaded():
        return list(_executor(workers).map(fn, items))

"""The threads nii's own thread pools use in this process.

Chunk decoding (HDF5 Blosc), compressing DICOS frames and other work that releases the GIL runs on one
shared pool of :func:`thread_count` threads. The default is the number of cores this process
may run on; ``NII_THREADS`` sets it for a process, :func:`set_thread_count` at run time. The
conversion pipeline gives each of its worker processes its share of the cores, so nii never
runs more threads than there are cores.

With one thread, work runs in the calling thread: code that is parallel is also correct
(and tested) on one core.

Examples
--------
>>> set_thread_count(2)
>>> map_threads(lambda n: n * n, [1, 2, 3])
[1, 4, 9]
>>> set_thread_count(None)
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

from nii.errors import ConfigurationError

__all__ = ["map_threads", "set_thread_count", "thread_count"]

_T = TypeVar("_T")
_R = TypeVar("_R")

_count: int | None = None
_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_lock = threading.Lock()


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_count() -> int:
    """Threads nii's pools use: :func:`set_thread_count`, else ``NII_THREADS``, else the cores."""
    if _count is not None:
        return _count
    text = os.environ.get("NII_THREADS")
    if text:
        try:
            value = int(text)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigurationError(f"NII_THREADS must be a positive whole number, got {text!r}")
        return value
    return _cores()


def set_thread_count(count: int | None) -> None:
    """Use ``count`` threads from now on (``None``: back to ``NII_THREADS`` or the cores)."""
    global _count
    if count is not None and count < 1:
        raise ConfigurationError(f"thread count must be at least 1, got {count}")
    _count = count


def map_threads(function: Callable[[_T], _R], items: Iterable[_T]) -> list[_R]:
    """``[function(item) for item in items]`` on the shared pool, results in order.

    Items are handed to the pool as ``items`` yields them, so a generator that builds the
    next item overlaps with the work on the previous ones. The first exception (from
    ``function`` or from ``items``) is raised here, after every call started has ended.
    With one thread, and inside a call already on the pool, the calls run in the calling
    thread (so nested use cannot exhaust the pool).
    """
    threads = thread_count()
    if threads <= 1 or getattr(_inside, "pool", False):
        return [function(item) for item in items]
    pool = _shared_pool(threads)
    futures: list[Future[_R]] = []
    try:
        for item in items:
            futures.append(pool.submit(_on_pool, function, item))
            time.sleep(0)  # let the pool thread take the GIL now, not after the switch interval
    finally:
        errors = [future.exception() for future in futures]  # waits for all: none left running
    for error in errors:
        if error is not None:
            raise error
    return [future.result() for future in futures]


_inside = threading.local()


def _on_pool(function: Callable[[_T], _R], item: _T) -> _R:
    _inside.pool = True
    return function(item)


def _shared_pool(threads: int) -> ThreadPoolExecutor:
    global _pool, _pool_size
    with _lock:
        if _pool is None or _pool_size != threads:
            if _pool is not None:
                _pool.shutdown(wait=False)
            _pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="nii")
            _pool_size = threads
        return _pool


def _forget_pool_in_child() -> None:
    """A forked child has none of its parent's threads: the pool (and a lock a pool thread may
    have held) are the parent's; the child makes its own when it needs one."""
    global _pool, _pool_size, _lock, _inside
    _pool, _pool_size = None, 0
    _lock = threading.Lock()
    _inside = threading.local()


os.register_at_fork(after_in_child=_forget_pool_in_child)

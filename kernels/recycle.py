"""Output frames in memory that earlier frames, now gone, were written to: no page faults on the next scan.

A new frame of a few megabytes comes from the operating system as untouched pages: the kernel that writes
it first takes one page fault per 4 KiB page (about 2.5 µs each on the benchmark machine, the page zeroed
in it), and the C library gives the memory back when the frame is freed, so every scan pays again: 0.9 ms
per 700 × 1200 uint16 frame, about a quarter of a two-view baggage conversion. :func:`recycled_empty`
hands out a frame in a block of memory kept from frame to frame, once nothing uses that block any more.

Nothing uses a block when nothing refers to it: every numpy array sharing its memory (the frame given
out, views and slices of it, arrays made from its buffer) holds a reference to it, since numpy keeps the
block as the ``base`` of every view. A block whose reference count is back to the pool's own is free;
one still referred to is never handed out again, so a frame kept by its caller is never overwritten.

Examples
--------
>>> import numpy as np
>>> a = recycled_empty((4, 6), np.uint16)
>>> a.shape, a.dtype.name
((4, 6), 'uint16')
>>> b = recycled_empty((4, 6), np.uint16)  # a is alive: another block
>>> np.shares_memory(a, b)
False
>>> address = a.__array_interface__["data"][0]
>>> del a
>>> recycled_empty((4, 6), np.uint16).__array_interface__["data"][0] == address  # a's block, reused
True
"""

from __future__ import annotations

import sys
import threading
from typing import Any

import numpy as np

__all__ = ["MAX_FREE_BYTES", "recycled_empty"]

MAX_FREE_BYTES = 512 << 20
"""At most this many bytes of blocks are kept (the pool's memory stays with the process, used or not);
beyond it, the oldest free blocks are let go."""

_blocks: list[np.ndarray] = []
"""Blocks (1-D uint8), oldest first."""
_lock = threading.Lock()


def _references(block: np.ndarray) -> int:
    return sys.getrefcount(block)


def _references_when_free() -> int:
    """:func:`_references` of a block nothing else refers to, asked as :func:`recycled_empty` asks (a list's
    reference, a loop variable's, the arguments'), so that it holds on any interpreter."""
    for block in [np.empty(0, np.uint8)]:
        return _references(block)
    raise AssertionError("unreachable")


_FREE_REFERENCES = _references_when_free()


def recycled_empty(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    """A C-contiguous uninitialised array, as ``np.empty(shape, dtype)``, in a free block of the same size
    when there is one (see the module's notes)."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    with _lock:
        for block in reversed(_blocks):  # the most recently used first: its pages are the likeliest in the cache
            if block.nbytes == nbytes and _references(block) <= _FREE_REFERENCES:
                # The most recently used last (by identity: == compares arrays element by element).
                _blocks[:] = [other for other in _blocks if other is not block] + [block]
                return block.view(dtype).reshape(shape)
        block = np.empty(nbytes, np.uint8)
        kept = [block] if nbytes <= MAX_FREE_BYTES else []
        total = block.nbytes
        for old in reversed(_blocks):  # the newest blocks within the limit, and every one in use
            if total + old.nbytes <= MAX_FREE_BYTES or _references(old) > _FREE_REFERENCES:
                kept.append(old)
                total += old.nbytes
        _blocks[:] = kept[::-1]
        return block.view(dtype).reshape(shape)

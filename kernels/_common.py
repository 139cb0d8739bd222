"""What the kernels share: option enums, checks at the boundary (raising :class:`ValidationError`) and how
parallel kernels are called (on how many threads)."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any, TypeVar

import numba
import numpy as np

from nii.errors import ValidationError

FAST = {"contract", "arcp", "nsz", "reassoc", "afn"}
"""numba fast-math flags without "nnan" and "ninf": the kernels mark invalid pixels with NaN and must still
see them."""

PARALLEL_PIXELS = 1 << 20
"""Below this many pixels a parallel kernel runs on one thread: waking the others costs more than it
saves, and much more on a busy machine, where a parallel loop waits for a thread that lost its core."""


def free_cores(loadavg: str, cores: int) -> int:
    """Cores no other thread is running on, from the text of ``/proc/loadavg`` (its fourth field,
    ``running/total``, counts the threads running or ready to run now, the caller among them).

    Examples
    --------
    >>> free_cores("0.50 0.40 0.30 1/120 4242", 2)  # only the caller runs
    2
    >>> free_cores("3.10 2.90 2.50 2/130 4242", 2)  # another process holds a core
    1
    """
    running = int(loadavg.split()[3].split("/")[0])
    return max(0, cores - max(running - 1, 0))


def _free_cores() -> int:
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        with open("/proc/loadavg") as file:
            return free_cores(file.read(), cores)
    except (OSError, IndexError, ValueError):  # not Linux: assume the cores are free
        return cores


def threads_for(pixels: int) -> int:
    """Threads for a parallel kernel over ``pixels`` pixels: one for small work (see
    :data:`PARALLEL_PIXELS`), else numba's threads, but no more than the cores other processes leave
    free (at least one). A parallel loop split evenly over two threads, one of which shares its core with
    another process, ends when the slow half does: no sooner than on one thread, and it takes a core
    from the other process on top."""
    allowed = numba.get_num_threads()
    if pixels < PARALLEL_PIXELS or allowed == 1:
        return 1
    return max(1, min(allowed, _free_cores()))


def run(kernel: Any, pixels: int, *args: Any) -> Any:
    """Call a parallel kernel on :func:`threads_for` ``pixels`` threads."""
    threads = threads_for(pixels)
    previous = numba.get_num_threads()
    if threads == previous:
        return kernel(*args)
    numba.set_num_threads(threads)
    try:
        return kernel(*args)
    finally:
        numba.set_num_threads(previous)


class Option(StrEnum):
    """A keyword option whose members are built from their value, case-insensitively."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value == value.strip().lower():
                    return member
        return None


E = TypeVar("E", bound=Option)


def option(kind: type[E], value: object, what: str) -> E:
    """``kind(value)``, or a :class:`ValidationError` that lists the choices."""
    if isinstance(value, kind):
        return value
    if isinstance(value, str):
        try:
            return kind(value)
        except ValueError:
            pass
    choices = ", ".join(member.value for member in kind)
    raise ValidationError(f"{what} must be one of {choices}, got {value!r}")


def image(array: Any, what: str, *, min_size: int = 1) -> np.ndarray:
    """A 2-D real numeric array of at least ``min_size`` × ``min_size`` pixels (no copy for ndarrays)."""
    result = array if isinstance(array, np.ndarray) else np.asarray(array)
    if result.ndim != 2:
        raise ValidationError(f"{what} must be a 2-D array, got shape {result.shape}")
    if result.dtype.kind not in "uif":
        raise ValidationError(f"{what} must hold real numbers, got dtype {result.dtype}")
    if min(result.shape) < min_size:
        raise ValidationError(f"{what} must be at least {min_size} × {min_size} pixels, got shape {result.shape}")
    return result


def mask(array: Any, shape: tuple[int, ...], what: str) -> np.ndarray:
    """A boolean mask of ``shape`` (True marks pixels to use)."""
    result = np.asarray(array)
    if result.dtype != np.bool_:
        raise ValidationError(f"{what} must be a boolean array, got dtype {result.dtype}")
    if result.shape != shape:
        raise ValidationError(f"{what} has shape {result.shape}, its image has {shape}")
    return result

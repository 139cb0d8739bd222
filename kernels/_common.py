"""What the registration and comparison kernels share: option enums, checks at the boundary (raising
:class:`ValidationError`) and how parallel kernels are called."""

from __future__ import annotations

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


def run(kernel: Any, pixels: int, *args: Any) -> Any:
    """Call a parallel kernel, on one thread when the work is small (see :data:`PARALLEL_PIXELS`)."""
    if pixels >= PARALLEL_PIXELS:
        return kernel(*args)
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
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

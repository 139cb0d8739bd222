"""Size limits checked before any allocation driven by untrusted input.

A header that claims 10^12 pixels must be refused before numpy tries to allocate them.
Readers call :func:`check_image_size` with the dimensions they are about to allocate.
The limits are process-wide and configurable with :func:`set_limits` or the environment
variables ``NII_MAX_PIXELS`` and ``NII_MAX_DIMENSION``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from nii.errors import CorruptFileError, LimitExceededError

__all__ = ["Limits", "check_image_size", "get_limits", "set_limits"]


@dataclass(frozen=True)
class Limits:
    """Largest sizes nii accepts from input files.

    The defaults admit the biggest cargo scans in service (about 2500 detector rows ×
    20 000 lines × 4 channels) with a wide margin, and refuse what would exhaust memory.
    """

    max_pixels: int = 2_000_000_000
    """Total elements of one array (all frames or channels it holds)."""
    max_dimension: int = 1_000_000
    """Largest single dimension."""


def _from_environment() -> Limits:
    limits = Limits()
    if value := os.environ.get("NII_MAX_PIXELS"):
        limits = replace(limits, max_pixels=int(value))
    if value := os.environ.get("NII_MAX_DIMENSION"):
        limits = replace(limits, max_dimension=int(value))
    return limits


_limits = _from_environment()


def get_limits() -> Limits:
    """Return the limits in force."""
    return _limits


def set_limits(limits: Limits) -> Limits:
    """Install new limits and return the previous ones (so tests can restore them)."""
    global _limits
    previous, _limits = _limits, limits
    return previous


def check_image_size(shape: Sequence[int], dtype: np.dtype | type | str, *, path: str | os.PathLike[str] | None) -> int:
    """Refuse sizes that are impossible or over the limits; return the size in bytes.

    Parameters
    ----------
    shape
        The dimensions the input announces.
    dtype
        The element type that will be allocated.
    path
        The file the dimensions come from, for the error message.

    Raises
    ------
    CorruptFileError
        A dimension is zero or negative.
    LimitExceededError
        A dimension or the element count is over the limit.

    Examples
    --------
    >>> check_image_size((2048, 8192), "uint16", path="scan.raw")
    33554432
    """
    dims = [int(d) for d in shape]
    if any(d <= 0 for d in dims):
        raise CorruptFileError(f"invalid dimensions {tuple(dims)}: every size must be positive", path=path)
    limits = get_limits()
    if max(dims) > limits.max_dimension:
        raise LimitExceededError(
            f"dimension {max(dims)} in {tuple(dims)} exceeds the limit of {limits.max_dimension}", path=path
        )
    count = math.prod(dims)
    if count > limits.max_pixels:
        raise LimitExceededError(
            f"{tuple(dims)} is {count} pixels, over the limit of {limits.max_pixels} (NII_MAX_PIXELS)",
            path=Path(path) if path is not None else None,
        )
    return count * np.dtype(dtype).itemsize

"""Calibration of raw counts with starved and saturated pixels flagged in the same pass.

A pixel whose counts do not exceed its element's dark level is *starved* (:data:`~nii.kernels.air.STARVED`), one
at the ADC maximum *saturated* (:data:`~nii.kernels.air.SATURATED`); a repaired (dead) element carries the flags
of the elements its value is interpolated from (their bitwise or). Flagged pixels do not keep the extreme
their clipped counts give: starved ones take the largest attenuation (smallest transmission) measured among the
unflagged pixels, saturated ones open beam — the rule of :func:`~nii.kernels.air.replace_flagged`.

One kernel does it all row by row: the calibrated values of a row (the vectorised loop of
:func:`~nii.kernels.calibrated_attenuation`), then, while the row is in the cache, its flags, their counts and
the row's extreme unflagged value, each a loop without branches that LLVM vectorises; a second pass touches only
rows holding flagged pixels. Small frames run on one thread (:data:`~nii.kernels._common.PARALLEL_PIXELS`).
Separate kernels took four passes over the frame (each a parallel region, which a
busy machine makes wait for a descheduled thread) and two more in numpy to count the flags.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from nii.errors import ValidationError
from nii.kernels._common import run
from nii.kernels.air import SATURATED, STARVED, pixel_flags_reference, replace_flagged_reference
from nii.kernels.attenuation import attenuate_row, attenuation_code_reference, attenuation_reference
from nii.kernels.calibrate import Calibration, clipped_transmission, transmission_reference
from nii.kernels.recycle import recycled_empty

__all__ = ["calibrated_flagged", "calibrated_flagged_reference"]

_TWO = np.float32(2.0)
_DTYPES = {"transmission": (np.dtype(np.float32),), "attenuation": (np.dtype(np.float32), np.dtype(np.uint16))}


@numba.njit(inline="always", cache=True)
def _flag(value: Any, offset: Any, saturation: Any) -> Any:  # pragma: no cover - compiled
    """STARVED (1) at or below the dark level, SATURATED (2) at the ADC maximum (even when also starved):
    arithmetic instead of branches, so that the loops over a row vectorise."""
    count = np.float32(value)  # exact; compared with the float32 saturation as is (not both widened to float64)
    starved = np.uint16(count <= offset)
    saturated = np.uint16(count >= saturation)
    return max(starved, saturated + saturated)


@numba.njit(inline="always", cache=True)
def _flag_row(raw, r, lower, upper, offset, saturation, flags, counts):  # pragma: no cover - compiled
    """Flags of row ``r`` (of the elements its values come from) and their counts."""
    lines = raw.shape[1]
    lo, hi = lower[r], upper[r]
    if lo == hi:
        for j in range(lines):
            flags[r, j] = _flag(raw[lo, j], offset[lo], saturation)
    else:  # a repaired element carries the flags of both its sources
        for j in range(lines):
            flags[r, j] = _flag(raw[lo, j], offset[lo], saturation) | _flag(raw[hi, j], offset[hi], saturation)
    highest = np.uint16(0)
    for j in range(lines):  # in 16-bit lanes, where counting takes 64-bit ones: most rows have no flags
        highest = max(highest, flags[r, j])
    starved = np.int64(0)
    saturated = np.int64(0)
    if highest:
        for j in range(lines):
            starved += np.int64(flags[r, j] == STARVED)
            saturated += np.int64(flags[r, j] == SATURATED)
    counts[r, 0] = starved
    counts[r, 1] = saturated


@numba.njit(parallel=True, cache=True)
def _attenuation_flagged(
    raw, offset, inverse_gain, line_scale, lower, upper, weight, saturation, out, flags, counts, best
):  # pragma: no cover - compiled
    for r in numba.prange(raw.shape[0]):
        attenuate_row(raw, r, offset, inverse_gain, line_scale, lower, upper, weight, out)  # calibrated_attenuation's
        _flag_row(raw, r, lower, upper, offset, saturation, flags, counts)  # the row again, from the cache
        zero = out[r, 0] - out[r, 0]  # of out's type; attenuation is never negative: flagged pixels count as 0
        largest = zero
        for j in range(raw.shape[1]):
            largest = max(largest, out[r, j] if flags[r, j] == 0 else zero)
        best[r] = largest


@numba.njit(parallel=True, cache=True)
def _transmission_flagged(
    raw, offset, inverse_gain, line_scale, lower, upper, weight, saturation, out, flags, counts, best
):  # pragma: no cover - compiled
    for r in numba.prange(raw.shape[0]):
        for j in range(raw.shape[1]):
            out[r, j] = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)
        _flag_row(raw, r, lower, upper, offset, saturation, flags, counts)
        least = _TWO  # transmission is at most 1: flagged pixels count as 2
        for j in range(raw.shape[1]):
            least = min(least, out[r, j] if flags[r, j] == 0 else _TWO)
        best[r] = least


@numba.njit(parallel=True, cache=True)
def _fill_rows(values, flags, rows, starved, saturated):  # pragma: no cover - compiled
    for index in numba.prange(rows.shape[0]):
        r = rows[index]
        for j in range(values.shape[1]):
            if flags[r, j] == STARVED:
                values[r, j] = starved
            elif flags[r, j] == SATURATED:
                values[r, j] = saturated


def calibrated_flagged(
    raw: np.ndarray, calibration: Calibration, *, saturation: float, quantity: str = "attenuation", dtype: Any = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Calibrated values of raw counts with their starved and saturated pixels flagged and replaced.

    Parameters
    ----------
    raw
        Raw counts, C-contiguous uint16 ``(rows, lines)``.
    calibration
        The view channel's prepared references; its offset is the dark level below which a pixel starves.
    saturation
        The ADC maximum.
    quantity
        ``"attenuation"`` (``−ln T``) or ``"transmission"`` (``T``).
    dtype
        float32 (the default), or uint16 codes of attenuation (:data:`~nii.kernels.ATTENUATION_SCALE`).

    Returns
    -------
    values, flags, (starved, saturated)
        The calibrated frame, the uint16 flags of every pixel and the numbers of starved and saturated pixels.

    Examples
    --------
    >>> import numpy as np
    >>> calibration = Calibration.from_references(np.full(1, 100.0), np.full(1, 10100.0))
    >>> codes, flags, counts = calibrated_flagged(
    ...     np.array([[10100, 5100, 60, 2700]], np.uint16), calibration, saturation=10100, dtype=np.uint16
    ... )
    >>> codes.tolist(), flags.tolist(), counts
    ([[0, 2839, 5518, 5518]], [[2, 0, 1, 0]], (1, 1))
    """
    raw = calibration.check_raw(raw)
    if quantity not in _DTYPES:
        raise ValidationError(f"quantity must be one of {sorted(_DTYPES)}, got {quantity!r}")
    result_dtype = np.dtype(np.float32 if dtype is None else dtype)
    if result_dtype not in _DTYPES[quantity]:
        raise ValidationError(f"{quantity} cannot be stored as {result_dtype}")
    # In memory kept from earlier frames: a new frame's first writes would take a page fault per page.
    out = recycled_empty(raw.shape, result_dtype)
    flags = recycled_empty(raw.shape, np.uint16)
    counts = np.empty((raw.shape[0], 2), np.int64)
    best = np.empty(raw.shape[0], out.dtype)
    attenuate = quantity == "attenuation"
    c = calibration
    line_scale = c.line_scale_for(raw.shape[1])
    arguments = (c.offset, c.inverse_gain, line_scale, c.lower, c.upper, c.weight, np.float32(saturation))
    kernel = _attenuation_flagged if attenuate else _transmission_flagged
    run(kernel, raw.size, raw, *arguments, out, flags, counts, best)
    starved, saturated = (int(n) for n in counts.sum(axis=0))
    if starved or saturated:
        # With nothing measured at all: attenuation 0 (the rows' start), transmission 1 (not the rows' 2).
        extreme = float(best.max()) if attenuate else min(float(best.min()), 1.0)
        rows = np.flatnonzero(counts.any(axis=1))
        filled = (out.dtype.type(extreme), out.dtype.type(0.0 if attenuate else 1.0))
        run(_fill_rows, rows.size * raw.shape[1], out, flags, rows, *filled)
    return out, flags, (starved, saturated)


def calibrated_flagged_reference(
    raw: np.ndarray, calibration: Calibration, *, saturation: float, quantity: str = "attenuation", dtype: Any = None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """Plain-numpy :func:`calibrated_flagged`: the separate references of calibration, flags and replacement."""
    t = transmission_reference(raw, calibration)
    if quantity == "transmission":
        values = t
    elif np.dtype(np.float32 if dtype is None else dtype) == np.uint16:
        values = attenuation_code_reference(t)
    else:
        values = attenuation_reference(t)
    flags = pixel_flags_reference(raw, dark=calibration.offset, saturation=saturation)
    repaired = calibration.repaired
    flags[repaired] = flags[calibration.lower[repaired]] | flags[calibration.upper[repaired]]
    counts = (int(np.count_nonzero(flags == STARVED)), int(np.count_nonzero(flags == SATURATED)))
    if any(counts):
        replace_flagged_reference(values, flags, attenuation=quantity == "attenuation")
    return values, flags, counts

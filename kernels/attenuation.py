"""Attenuation ``A = −ln T`` and its mapping to an equivalent thickness.

``A`` comes as float32, or as uint16 *codes* ``round(A × ATTENUATION_SCALE)`` (to nearest, ties to even, as
``np.rint``): with the scale 4096 a code step is 2.4e-4 (far below the noise of any detector) and the range
``[0, 16)`` holds every attenuation the calibration can produce (at most ``−ln TRANSMISSION_FLOOR`` = 13.8, code
56 588).

Tolerances: float32 ``A`` is within 1.2e-6 absolute and 3e-7 relative of ``−ln T`` computed in float64
(:mod:`nii.kernels._core` explains the vectorised logarithm); uint16 codes equal those of the numpy
reference exactly.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import types
from numba.extending import overload

from nii.errors import ValidationError
from nii.kernels._common import run
from nii.kernels._core import check_array, code_ln, code_ln_reference, fast_ln, nearest_int32, output_array, prefetch
from nii.kernels.calibrate import TRANSMISSION_FLOOR, Calibration, clipped_transmission, transmission_reference

__all__ = [
    "ATTENUATION_SCALE",
    "QUANTIZATION",
    "attenuation",
    "attenuation_code_reference",
    "attenuation_reference",
    "calibrated_attenuation",
    "calibrated_attenuation_reference",
    "equivalent_thickness",
    "equivalent_thickness_reference",
]

ATTENUATION_SCALE = np.float32(4096.0)
"""uint16 attenuation codes are ``round(A × ATTENUATION_SCALE)``."""

QUANTIZATION: dict[str, float] = {
    "TRANSMISSION": 1.0 / 65535.0,
    "ATTENUATION": 1.0 / float(ATTENUATION_SCALE),
    "steel_mm": 0.1,
    "zeff": 0.01,
    "material": 1.0,
    "pixel_flags": 1.0,
}
"""Value of one code of each 16-bit representation of the kernels' results (value = code × scale):
measured channels by what they hold (``"TRANSMISSION"``, ``"ATTENUATION"``: the values of
:class:`nii.model.CalibrationState`), derived channels by name. Formats (DICOS) and processing share it."""

_ONE = np.float32(1.0)
_ZERO = np.float32(0.0)
_DTYPES = (np.dtype(np.float32), np.dtype(np.uint16))
_MINUS_SCALE = -ATTENUATION_SCALE
_CHUNK = np.uint64(32)
"""Pixels of a row between two prefetches: one 64-byte cache line of uint16 raw counts."""
_AHEAD = np.uint64(2048)
"""How far ahead of the pixel it computes :func:`attenuate_row` asks for raw counts: 4 KiB (codes of a cargo
frame: 2, 4 and 8 KiB alike, 1 KiB 5 % slower, no prefetch 25–30 % slower, on one thread and on two)."""


@numba.njit(inline="always", cache=True)
def attenuation_code(t: np.float32) -> np.uint16:  # pragma: no cover - compiled
    """uint16 code ``round(−ln t × ATTENUATION_SCALE)`` of a transmission in ``[TRANSMISSION_FLOOR, 1]``.

    ``code_ln`` takes the scale ``−ATTENUATION_SCALE`` into its coefficients (one multiplication less) and
    its shorter series is as accurate as the codes need; rounding to nearest (ties to even) is one
    instruction where adding ½ and truncating took two.
    """
    return np.uint16(nearest_int32(code_ln(t, _MINUS_SCALE)))


def store_attenuation(out: np.ndarray, r: int, j: int, t: np.float32) -> None:
    """Store the attenuation of transmission ``t`` at ``out[r, j]``: ``−ln t`` into float32, its code into
    uint16 (chosen at compile time)."""
    raise NotImplementedError("only callable from numba kernels")


@overload(store_attenuation, inline="always")
def _store_attenuation_overload(out, r, j, t):
    if out.dtype == types.uint16:

        def store_code(out, r, j, t):  # pragma: no cover
            out[r, j] = attenuation_code(t)

        return store_code

    def store_value(out, r, j, t):  # pragma: no cover
        out[r, j] = -fast_ln(t)

    return store_value


@numba.njit(inline="always", cache=True)
def attenuate_row(raw, r, offset, inverse_gain, line_scale, lower, upper, weight, out):  # pragma: no cover - compiled
    """Row ``r`` of :func:`calibrated_attenuation`, into ``out[r]`` (float32, or uint16 codes).

    The row goes in chunks of one cache line of raw counts, each preceded by a prefetch of the raw counts
    :data:`_AHEAD` pixels on: the vectorised loop computes for so long per load that it otherwise waits on
    memory for a quarter of its time. Chunk indices are unsigned, which spares each access numba's
    wraparound of negative indices (with it, LLVM gathers and scatters element by element).
    """
    lines = raw.shape[1]
    lo, hi = lower[r], upper[r]
    for chunk in range(lines // _CHUNK):
        start = np.uint64(chunk) * _CHUNK
        prefetch(raw, lo, start + _AHEAD)
        prefetch(raw, hi, start + _AHEAD)  # the same line again unless row r is repaired
        for j in range(start, start + _CHUNK):
            t = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)
            store_attenuation(out, r, j, t)
    for j in range(lines - lines % _CHUNK, lines):
        t = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)
        store_attenuation(out, r, j, t)


@numba.njit(parallel=True, cache=True)
def _attenuation_kernel(t, out):  # pragma: no cover
    rows, lines = t.shape
    for r in numba.prange(rows):
        for j in range(lines):
            store_attenuation(out, r, j, min(max(t[r, j], TRANSMISSION_FLOOR), _ONE))


@numba.njit(parallel=True, cache=True)
def _calibrated_attenuation_kernel(
    raw, offset, inverse_gain, line_scale, lower, upper, weight, out
):  # pragma: no cover
    for r in numba.prange(raw.shape[0]):
        attenuate_row(raw, r, offset, inverse_gain, line_scale, lower, upper, weight, out)


def _result_dtype(dtype: Any) -> np.dtype:
    result = np.dtype(dtype)
    if result not in _DTYPES:
        raise ValidationError(f"attenuation dtype must be float32 or uint16, got {result}")
    return result


def attenuation(transmission: np.ndarray, *, dtype: Any = np.float32, out: np.ndarray | None = None) -> np.ndarray:
    """``A = −ln T`` with ``T`` clipped to ``[TRANSMISSION_FLOOR, 1]``.

    Parameters
    ----------
    transmission
        C-contiguous float32 ``(rows, lines)``.
    dtype
        float32 for ``A`` itself, uint16 for codes ``round(A × ATTENUATION_SCALE)``.
    out
        Optional result array of that dtype and the input's shape.

    Examples
    --------
    >>> import numpy as np
    >>> attenuation(np.array([[1.0, 0.5]], np.float32), dtype=np.uint16).tolist()
    [[0, 2839]]
    """
    t = check_array(transmission, "transmission", dtype=np.float32, ndim=2)
    result = output_array(out, t.shape, _result_dtype(dtype))
    run(_attenuation_kernel, t.size, t, result)
    return result


def calibrated_attenuation(
    raw: np.ndarray, calibration: Calibration, *, dtype: Any = np.float32, out: np.ndarray | None = None
) -> np.ndarray:
    """Raw counts to attenuation in one pass: :func:`~nii.kernels.transmission` then :func:`attenuation`.

    Examples
    --------
    >>> import numpy as np
    >>> calibration = Calibration.from_references(np.full(1, 100.0), np.full(1, 10100.0))
    >>> calibrated_attenuation(np.array([[10100, 5100]], np.uint16), calibration, dtype=np.uint16).tolist()
    [[0, 2839]]
    """
    raw = calibration.check_raw(raw)
    result = output_array(out, raw.shape, _result_dtype(dtype))
    run(_calibrated_attenuation_kernel, raw.size, raw, *calibration.kernel_arguments(raw.shape[1]), result)
    return result


def attenuation_reference(transmission: np.ndarray) -> np.ndarray:
    """Plain-numpy float32 :func:`attenuation`, through float64 ``np.log`` (the exact value)."""
    t = np.clip(transmission, TRANSMISSION_FLOOR, _ONE).astype(np.float64)
    return (-np.log(t)).astype(np.float32)


def attenuation_code_reference(transmission: np.ndarray) -> np.ndarray:
    """Plain-numpy uint16 :func:`attenuation` (the kernel's float32 logarithm and rounding, so equal codes)."""
    t = np.clip(transmission, TRANSMISSION_FLOOR, _ONE)
    return np.rint(code_ln_reference(t, _MINUS_SCALE)).astype(np.uint16)


def calibrated_attenuation_reference(
    raw: np.ndarray, calibration: Calibration, *, dtype: Any = np.float32
) -> np.ndarray:
    """Plain-numpy :func:`calibrated_attenuation`."""
    t = transmission_reference(raw, calibration)
    if _result_dtype(dtype) == np.uint16:
        return attenuation_code_reference(t)
    return attenuation_reference(t)


@numba.njit(parallel=True, cache=True)
def _equivalent_thickness_kernel(a, curve, inverse_step, out):  # pragma: no cover
    rows, lines = a.shape
    last = np.float32(curve.shape[0] - 1)
    for r in numba.prange(rows):
        for j in range(lines):
            x = min(max(a[r, j] * inverse_step, _ZERO), last)
            i = min(np.int32(x), curve.shape[0] - 2)
            f = x - np.float32(i)
            out[r, j] = curve[i] + f * (curve[i + 1] - curve[i])


def _check_curve(curve: np.ndarray, step: float) -> float:
    check_array(curve, "thickness curve", dtype=np.float32, ndim=1)
    if curve.shape[0] < 2:
        raise ValidationError("thickness curve needs at least two points")
    if not (np.isfinite(step) and step > 0):
        raise ValidationError(f"attenuation step of the curve must be positive, got {step}")
    return float(step)


def equivalent_thickness(
    attenuation: np.ndarray, curve: np.ndarray, *, step: float, out: np.ndarray | None = None
) -> np.ndarray:
    """Thickness of a reference material (for example steel) that has the same attenuation.

    Parameters
    ----------
    attenuation
        float32 ``A`` ``(rows, lines)``.
    curve
        float32 thickness at ``A = 0, step, 2·step, …`` (a per-scanner calibration curve, see
        :mod:`nii.calibration`); linear between points, clamped to the first and last value outside.
    step
        Attenuation between curve points.
    out
        Optional float32 result.

    Examples
    --------
    >>> import numpy as np
    >>> equivalent_thickness(np.array([[0.25, 9.0]], np.float32), np.array([0, 10, 30], np.float32), step=0.5).tolist()
    [[5.0, 30.0]]
    """
    a = check_array(attenuation, "attenuation", dtype=np.float32, ndim=2)
    inverse_step = np.float32(1.0 / _check_curve(curve, step))
    result = output_array(out, a.shape, np.float32)
    _equivalent_thickness_kernel(a, curve, inverse_step, result)
    return result


def equivalent_thickness_reference(attenuation: np.ndarray, curve: np.ndarray, *, step: float) -> np.ndarray:
    """Plain-numpy :func:`equivalent_thickness` (``np.interp`` in float64)."""
    grid = np.arange(curve.shape[0]) * float(step)
    return np.interp(attenuation.astype(np.float64), grid, curve.astype(np.float64)).astype(np.float32)

"""Display: window/level from uint16 to uint8 through a look-up table, gamma, local contrast.

A :class:`Window` is defined on uint16 input values (raw counts, attenuation codes, ...) and turned into
a 65 536-entry uint8 table; :func:`apply_window` applies it, :func:`render` goes from raw counts to the
displayed uint8 image in one pass (calibrate, attenuate, window) and equals
``apply_window(calibrated_attenuation(raw, calibration, dtype=np.uint16), window)`` bit for bit.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from functools import cached_property

import cv2
import numba
import numpy as np
from nii.kernels._core import check_array, fast_ln, output_array
from nii.kernels.attenuation import ATTENUATION_SCALE, attenuation_code, calibrated_attenuation_reference
from nii.kernels.calibrate import Calibration, clipped_transmission

from nii.errors import UnsupportedError, ValidationError

__all__ = [
    "Window",
    "apply_window",
    "apply_window_reference",
    "area_resample",
    "area_resample_reference",
    "area_taps",
    "grey_levels",
    "grey_levels_reference",
    "local_contrast",
    "render",
    "render_reference",
]

_LUT_SIZE = 65536
_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_MAX = np.float32(255.0)


@dataclass(frozen=True)
class Window:
    """Window/level with optional gamma, mapping uint16 values to uint8 grey levels.

    Values at or below ``low`` become 0, at or above ``high`` 255, linearly in between, then raised to
    ``gamma`` (below 1 brightens the dark end). ``invert`` makes ``low`` white and ``high`` black, the
    usual way to show attenuation (open air white).

    Parameters
    ----------
    low, high
        Window edges in input units (0..65535), ``low < high``.
    gamma
        Exponent applied to the windowed fraction, positive.
    invert
        Black and white swapped.

    Examples
    --------
    >>> window = Window.for_attenuation(0.0, 8.0, invert=True)
    >>> int(window.lut[0]), int(window.lut[65535])
    (255, 0)
    """

    low: float
    high: float
    gamma: float = 1.0
    invert: bool = False

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and 0 <= self.low < self.high <= 65535):
            raise ValidationError(f"window needs 0 <= low < high <= 65535, got low={self.low}, high={self.high}")
        if not (math.isfinite(self.gamma) and self.gamma > 0):
            raise ValidationError(f"window gamma must be a positive number, got {self.gamma}")

    @classmethod
    def for_attenuation(cls, low: float, high: float, *, gamma: float = 1.0, invert: bool = False) -> Window:
        """A window given in attenuation units, for uint16 attenuation codes (see ``ATTENUATION_SCALE``)."""
        scale = float(ATTENUATION_SCALE)
        return cls(min(low * scale, 65535.0), min(high * scale, 65535.0), gamma=gamma, invert=invert)

    @property
    def is_linear(self) -> bool:
        """True when ``gamma`` is 1, so kernels may compute the table's values instead of looking them up."""
        return self.gamma == 1.0

    @property
    def slope(self) -> np.float32:
        """Grey levels per input unit, as the float32 the kernels use."""
        return np.float32(255.0 / (self.high - self.low))

    @cached_property
    def lut(self) -> np.ndarray:
        """The uint8 table of all 65 536 input values (read-only)."""
        values = np.arange(_LUT_SIZE, dtype=np.float32)
        if self.is_linear:
            # The float32 operations of _linear_level, so the computed and looked-up paths agree bit for bit.
            levels = np.clip((values - np.float32(self.low)) * self.slope, _ZERO, _MAX)
            table = (levels + _HALF).astype(np.uint8)
        else:
            fraction = np.clip((values.astype(np.float64) - self.low) / (self.high - self.low), 0.0, 1.0)
            table = np.floor(255.0 * fraction**self.gamma + 0.5).astype(np.uint8)
        if self.invert:
            table = np.uint8(255) - table
        table.flags.writeable = False
        return table


@numba.njit(inline="always", cache=True)
def _linear_level(value, low, slope, invert):  # pragma: no cover
    level = np.uint8(min(max((np.float32(value) - low) * slope, _ZERO), _MAX) + _HALF)
    return np.uint8(255) - level if invert else level


_U64 = np.uint64


@numba.njit(parallel=True, cache=True)
def _apply_lut_kernel(image, lut, out):  # pragma: no cover
    rows, lines = image.shape
    packed = lines // 8
    for r in numba.prange(rows):
        # Eight pixels per step: two 64-bit loads of four uint16 each, one 64-bit store of eight uint8
        # (little-endian lanes). Half the memory operations of a pixel loop; cv2.LUT's speed needs it.
        source = image[r, : 8 * packed].view(np.uint64)
        target = out[r, : 8 * packed].view(np.uint64)
        for j in range(packed):
            first = source[2 * j]
            second = source[2 * j + 1]
            word = _U64(0)
            for lane in range(4):
                shift = _U64(16 * lane)
                word |= _U64(lut[(first >> shift) & _U64(0xFFFF)]) << _U64(8 * lane)
                word |= _U64(lut[(second >> shift) & _U64(0xFFFF)]) << _U64(8 * lane + 32)
            target[j] = word
        for j in range(8 * packed, lines):
            out[r, j] = lut[np.uint32(image[r, j])]


def apply_window(image: np.ndarray, window: Window, *, out: np.ndarray | None = None) -> np.ndarray:
    """Window a uint16 image to uint8 through the window's table.

    Examples
    --------
    >>> import numpy as np
    >>> apply_window(np.array([[0, 100, 200]], np.uint16), Window(0, 200)).tolist()
    [[0, 128, 255]]
    """
    image = check_array(image, "image", dtype=np.uint16, ndim=2)
    result = output_array(out, image.shape, np.uint8)
    if sys.byteorder != "little":
        raise UnsupportedError("apply_window packs pixels into 64-bit words and needs a little-endian machine")
    _apply_lut_kernel(image, window.lut, result)
    return result


def apply_window_reference(image: np.ndarray, window: Window) -> np.ndarray:
    """Plain-numpy :func:`apply_window`."""
    return window.lut[image]


@numba.njit(parallel=True, cache=True)
def _render_linear_kernel(
    raw, offset, inverse_gain, line_scale, lower, upper, weight, low, slope, invert, out
):  # pragma: no cover
    rows, lines = raw.shape
    for r in numba.prange(rows):
        for j in range(lines):
            t = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)
            out[r, j] = _linear_level(attenuation_code(-fast_ln(t)), low, slope, invert)


@numba.njit(parallel=True, cache=True)
def _render_lut_kernel(raw, offset, inverse_gain, line_scale, lower, upper, weight, lut, out):  # pragma: no cover
    rows, lines = raw.shape
    for r in numba.prange(rows):
        for j in range(lines):
            t = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)
            out[r, j] = lut[np.uint32(attenuation_code(-fast_ln(t)))]


def render(raw: np.ndarray, calibration: Calibration, window: Window, *, out: np.ndarray | None = None) -> np.ndarray:
    """Raw counts to a displayed uint8 image in one pass: calibrate, attenuate, window.

    ``window`` applies to uint16 attenuation codes (build it with :meth:`Window.for_attenuation`). A
    linear window is computed instead of looked up (the table's own float32 arithmetic, so the same
    values), which keeps the pass at memory speed.

    Examples
    --------
    >>> import numpy as np
    >>> calibration = Calibration.from_references(np.full(1, 100.0), np.full(1, 10100.0))
    >>> window = Window.for_attenuation(0.0, 2.0, invert=True)
    >>> render(np.array([[10100, 5100, 100]], np.uint16), calibration, window).tolist()
    [[255, 167, 0]]
    """
    raw = calibration.check_raw(raw)
    result = output_array(out, raw.shape, np.uint8)
    c = calibration
    arguments = (raw, c.offset, c.inverse_gain, c.line_scale_for(raw.shape[1]), c.lower, c.upper, c.weight)
    if window.is_linear:
        _render_linear_kernel(*arguments, np.float32(window.low), window.slope, window.invert, result)
    else:
        _render_lut_kernel(*arguments, window.lut, result)
    return result


def render_reference(raw: np.ndarray, calibration: Calibration, window: Window) -> np.ndarray:
    """Plain-numpy :func:`render`: attenuation codes, then the window's table."""
    return apply_window_reference(calibrated_attenuation_reference(raw, calibration, dtype=np.uint16), window)


def local_contrast(
    image: np.ndarray,
    *,
    clip_limit: float = 2.0,
    tiles: tuple[int, int] = (8, 8),
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (OpenCV's CLAHE) of a uint8 or uint16 image.

    Parameters
    ----------
    image
        C-contiguous 2-D uint8 or uint16.
    clip_limit
        Histogram clip limit relative to a flat histogram; larger means more contrast (and noise).
    tiles
        Number of tiles along ``(rows, columns)``.
    out
        Optional result of the input's dtype and shape.

    Examples
    --------
    >>> import numpy as np
    >>> flat = np.tile(np.arange(100, 132, dtype=np.uint8), (32, 1))  # grey levels 100..131
    >>> bool(local_contrast(flat, tiles=(2, 2)).std() > 1.5 * flat.std())
    True
    """
    if not isinstance(image, np.ndarray) or image.dtype not in (np.uint8, np.uint16):
        raise ValidationError(f"local contrast needs a uint8 or uint16 image, got {getattr(image, 'dtype', image)}")
    image = check_array(image, "image", dtype=image.dtype, ndim=2)
    if not (math.isfinite(clip_limit) and clip_limit > 0):
        raise ValidationError(f"clip_limit must be positive, got {clip_limit}")
    tile_rows, tile_columns = (int(n) for n in tiles)
    if tile_rows < 1 or tile_columns < 1:
        raise ValidationError(f"tiles must be positive counts, got {tiles}")
    result = output_array(out, image.shape, image.dtype)
    cv2.createCLAHE(clipLimit=float(clip_limit), tileGridSize=(tile_columns, tile_rows)).apply(image, dst=result)
    return result


def area_taps(edges: np.ndarray, start: float, pixel: float, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Source cells and weights of ``count`` output pixels of size ``pixel`` from ``start`` on one axis.

    Output pixel ``k`` covers ``[start + k·pixel, start + (k+1)·pixel)``; its value is the mean of the
    source cells (``edges[i]`` to ``edges[i+1]``) weighted by how much of each the pixel covers. Each
    pixel's taps depend on its own position only, so any run of pixels resamples exactly as the same
    run of the whole axis. Pixels outside the source take the nearest cell.

    Parameters
    ----------
    edges
        Increasing float64 edges of the source cells (one more than cells).
    start, pixel, count
        Position of the first output pixel's edge, the output pixel size (same units) and how many.

    Returns
    -------
    (index, weight)
        int32 ``(count, taps)`` cell indices and float32 weights summing to 1 per row (unused taps
        have weight 0 and repeat a used index).

    Examples
    --------
    >>> index, weight = area_taps(np.arange(5.0), 0.0, 2.0, 2)
    >>> index.tolist(), weight.tolist()
    ([[0, 1], [2, 3]], [[0.5, 0.5], [0.5, 0.5]])
    """
    edges = np.asarray(edges, np.float64)
    if edges.ndim != 1 or edges.size < 2 or not np.all(np.diff(edges) > 0):
        raise ValidationError("edges must be a 1-D increasing array of at least 2 values")
    if not (math.isfinite(start) and math.isfinite(pixel) and pixel > 0 and count >= 0):
        raise ValidationError(f"need a finite start, a positive pixel size and a count >= 0, got {start}, {pixel}")
    cells = edges.size - 1
    low = start + pixel * np.arange(count, dtype=np.float64)
    high = low + pixel
    first = np.clip(np.searchsorted(edges, low, side="right") - 1, 0, cells - 1)
    last = np.clip(np.searchsorted(edges, high, side="left") - 1, 0, cells - 1)
    last = np.maximum(last, first)
    taps = int((last - first).max(initial=0)) + 1
    index = np.minimum(first[:, None] + np.arange(taps)[None, :], last[:, None])
    overlap = np.minimum(edges[index + 1], high[:, None]) - np.maximum(edges[index], low[:, None])
    overlap[np.arange(taps)[None, :] > (last - first)[:, None]] = 0.0
    np.maximum(overlap, 0.0, out=overlap)
    total = overlap.sum(axis=1)
    outside = total <= 0  # beyond the source: the nearest cell
    overlap[outside, 0], total[outside] = 1.0, 1.0
    return index.astype(np.int32), (overlap / total[:, None]).astype(np.float32)


@numba.njit(inline="always", cache=True)
def _area_resample_row(values, row_index, row_weight, column_index, column_weight, out, r):  # pragma: no cover
    # Rows first, over every source column, then columns: the order of additions is fixed per pixel.
    lines = values.shape[1]
    line = np.zeros(lines, np.float32)
    for k in range(row_index.shape[1]):
        w = row_weight[r, k]
        source = values[row_index[r, k]]
        for j in range(lines):
            line[j] += w * source[j]
    for c in range(column_index.shape[0]):
        total = np.float32(0.0)
        for k in range(column_index.shape[1]):
            total += column_weight[c, k] * line[column_index[c, k]]
        out[r, c] = total


@numba.njit(parallel=True, cache=True)
def _area_resample_parallel(values, row_index, row_weight, column_index, column_weight, out):  # pragma: no cover
    for r in numba.prange(row_index.shape[0]):
        _area_resample_row(values, row_index, row_weight, column_index, column_weight, out, r)


@numba.njit(cache=True)
def _area_resample_serial(values, row_index, row_weight, column_index, column_weight, out):  # pragma: no cover
    for r in range(row_index.shape[0]):
        _area_resample_row(values, row_index, row_weight, column_index, column_weight, out, r)


PARALLEL_MIN_WORK = 4_000_000
"""Multiply-adds below which a kernel runs on the calling thread: waking numba's worker threads costs more
than a viewer's tile (a few hundred thousand operations) takes alone, most of all on a busy machine."""


def _check_taps(values: np.ndarray, index: np.ndarray, weight: np.ndarray, axis: int, what: str) -> None:
    check_array(index, f"{what} index", dtype=np.int32, ndim=2)
    check_array(weight, f"{what} weight", dtype=np.float32, shape=index.shape)
    if index.size and not 0 <= int(index.min()) <= int(index.max()) < values.shape[axis]:
        raise ValidationError(f"{what} indices outside the {values.shape[axis]} source {what}s")


def area_resample(
    values: np.ndarray,
    row_taps: tuple[np.ndarray, np.ndarray],
    column_taps: tuple[np.ndarray, np.ndarray],
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Resample a float32 image through the taps of :func:`area_taps` on each axis (rows first).

    Every output pixel is summed in the same order whatever part of the image is computed, so a tile
    equals the same crop of the whole picture bit for bit.

    Examples
    --------
    >>> image = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> taps = area_taps(np.arange(5.0), 0.0, 2.0, 2)
    >>> area_resample(image, taps, taps).tolist()
    [[2.5, 4.5], [10.5, 12.5]]
    """
    values = check_array(values, "values", dtype=np.float32, ndim=2)
    _check_taps(values, *row_taps, 0, "row")
    _check_taps(values, *column_taps, 1, "column")
    result = output_array(out, (row_taps[0].shape[0], column_taps[0].shape[0]), np.float32)
    work = row_taps[0].shape[0] * (row_taps[0].shape[1] * values.shape[1] + column_taps[0].size)
    kernel = _area_resample_parallel if work >= PARALLEL_MIN_WORK else _area_resample_serial
    kernel(values, *row_taps, *column_taps, result)
    return result


def area_resample_reference(
    values: np.ndarray, row_taps: tuple[np.ndarray, np.ndarray], column_taps: tuple[np.ndarray, np.ndarray]
) -> np.ndarray:
    """Plain-numpy :func:`area_resample` (the same additions in the same order)."""
    (row_index, row_weight), (column_index, column_weight) = row_taps, column_taps
    lines = np.zeros((row_index.shape[0], values.shape[1]), np.float32)
    for k in range(row_index.shape[1]):
        lines += row_weight[:, k, None] * values[row_index[:, k]]
    result = np.zeros((row_index.shape[0], column_index.shape[0]), np.float32)
    for k in range(column_index.shape[1]):
        result += column_weight[None, :, k] * lines[:, column_index[:, k]]
    return result


@numba.njit(inline="always", cache=True)
def _grey_row(values, low, scale, gamma, invert, out, r):  # pragma: no cover
    for c in range(values.shape[1]):
        fraction = (values[r, c] - low) * scale
        if not fraction > _ZERO:  # also NaN
            fraction = _ZERO
        elif fraction > np.float32(1.0):
            fraction = np.float32(1.0)
        if gamma != np.float32(1.0):
            fraction = fraction**gamma
        level = np.uint8(fraction * _MAX + _HALF)
        out[r, c] = np.uint8(255) - level if invert else level


@numba.njit(parallel=True, cache=True)
def _grey_parallel(values, low, scale, gamma, invert, out):  # pragma: no cover
    for r in numba.prange(values.shape[0]):
        _grey_row(values, low, scale, gamma, invert, out, r)


@numba.njit(cache=True)
def _grey_serial(values, low, scale, gamma, invert, out):  # pragma: no cover
    for r in range(values.shape[0]):
        _grey_row(values, low, scale, gamma, invert, out, r)


def grey_levels(
    values: np.ndarray,
    low: float,
    high: float,
    *,
    gamma: float = 1.0,
    invert: bool = False,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Window a float32 image to uint8: ``low`` black, ``high`` white, ``gamma`` on the fraction between.

    NaN counts as ``low``. ``invert`` swaps black and white (attenuation: dense matter dark).

    Examples
    --------
    >>> grey_levels(np.array([[0.0, 0.5, 1.0, 2.0]], np.float32), 0.0, 1.0).tolist()
    [[0, 128, 255, 255]]
    """
    values = check_array(values, "values", dtype=np.float32, ndim=2)
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise ValidationError(f"window needs finite low < high, got {low}, {high}")
    if not (math.isfinite(gamma) and gamma > 0):
        raise ValidationError(f"gamma must be a positive number, got {gamma}")
    result = output_array(out, values.shape, np.uint8)
    scale = np.float32(1.0 / (np.float64(high) - np.float64(low)))
    kernel = _grey_parallel if values.size >= PARALLEL_MIN_WORK else _grey_serial
    kernel(values, np.float32(low), scale, np.float32(gamma), bool(invert), result)
    return result


def grey_levels_reference(
    values: np.ndarray, low: float, high: float, *, gamma: float = 1.0, invert: bool = False
) -> np.ndarray:
    """Plain-numpy :func:`grey_levels`."""
    scale = np.float32(1.0 / (np.float64(high) - np.float64(low)))
    fraction = np.nan_to_num((values - np.float32(low)) * scale, nan=0.0)
    fraction = np.clip(fraction, _ZERO, np.float32(1.0))
    if gamma != 1.0:
        fraction = fraction ** np.float32(gamma)
    levels = (fraction * _MAX + _HALF).astype(np.uint8)
    return np.uint8(255) - levels if invert else levels

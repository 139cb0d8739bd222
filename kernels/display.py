"""Display: area resampling to any pixel size, windowing to grey levels, local contrast.

The renderer (:mod:`nii.render`) computes a picture as :func:`area_resample` of a quantity (each picture
pixel the area-weighted mean of the samples it covers, taps from :func:`area_taps`), then
:func:`grey_levels` (window, gamma, invert) and optionally :func:`local_contrast`. Every picture pixel
is computed from its own taps in a fixed order, so any part of a picture equals the same crop of the
whole bit for bit.
"""

from __future__ import annotations

import math

import cv2
import numba
import numpy as np

from nii.errors import ValidationError
from nii.kernels._core import check_array, output_array

__all__ = [
    "area_resample",
    "area_resample_reference",
    "area_taps",
    "grey_levels",
    "grey_levels_reference",
    "local_contrast",
]

_ZERO = np.float32(0.0)
_HALF = np.float32(0.5)
_MAX = np.float32(255.0)


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

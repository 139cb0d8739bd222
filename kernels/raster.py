"""Rasterising simulated objects: interval lengths per pixel, dominant material per pixel.

A scan line crossing a polygon is inside it over a few intervals; a pixel's coverage is the
length of those intervals between its left and right edge. The numba kernel visits only the
pixels each interval touches, so its cost follows the footprint's area; the numpy reference
compares every interval with every pixel.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["dominant_material", "dominant_material_numpy", "interval_lengths", "interval_lengths_numpy"]


def _check(entering: np.ndarray, leaving: np.ndarray, left: np.ndarray, right: np.ndarray) -> None:
    if entering.shape != leaving.shape or entering.ndim != 2:
        raise ValueError(f"entering and leaving must be (lines, k) of one shape, got {entering.shape}, {leaving.shape}")
    if left.shape != right.shape or left.ndim != 1:
        raise ValueError(f"pixel edges must be 1-D of one length, got {left.shape}, {right.shape}")


def interval_lengths_numpy(
    entering: np.ndarray, leaving: np.ndarray, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Plain-numpy reference of :func:`interval_lengths`.

    Examples
    --------
    >>> left, right = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    >>> interval_lengths_numpy(np.array([[0.5]]), np.array([[2.0]]), left, right)
    array([[0.5, 1. , 0. ]])
    """
    _check(entering, leaving, left, right)
    overlap = np.minimum(leaving[:, None, :], right[None, :, None]) - np.maximum(
        entering[:, None, :], left[None, :, None]
    )
    return np.clip(overlap, 0.0, None).sum(axis=2)


@numba.njit(cache=True, nogil=True)
def _lengths(entering, leaving, left, right):
    lines, count = entering.shape
    pixels = left.shape[0]
    out = np.zeros((lines, pixels), np.float64)
    for line in range(lines):
        for k in range(count):
            start, stop = entering[line, k], leaving[line, k]
            if not stop > start:
                continue
            pixel = np.searchsorted(right, start, side="right")
            while pixel < pixels and left[pixel] < stop:
                overlap = min(stop, right[pixel]) - max(start, left[pixel])
                if overlap > 0:
                    out[line, pixel] += overlap
                pixel += 1
    return out


def interval_lengths(entering: np.ndarray, leaving: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Length of the intervals of each line inside each pixel.

    Parameters
    ----------
    entering, leaving
        ``(lines, k)`` interval ends of every line (empty intervals, ``leaving <= entering``, are skipped).
    left, right
        ``(pixels,)`` pixel edges, each increasing.

    Returns
    -------
    numpy.ndarray
        ``(lines, pixels)`` float64.

    Examples
    --------
    >>> left, right = np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])
    >>> interval_lengths(np.array([[0.5]]), np.array([[2.0]]), left, right)
    array([[0.5, 1. , 0. ]])
    """
    _check(entering, leaving, left, right)
    return _lengths(
        np.ascontiguousarray(entering, dtype=np.float64),
        np.ascontiguousarray(leaving, dtype=np.float64),
        np.ascontiguousarray(left, dtype=np.float64),
        np.ascontiguousarray(right, dtype=np.float64),
    )


def dominant_material_numpy(area_densities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Plain-numpy reference of :func:`dominant_material`."""
    total = area_densities.sum(axis=0, dtype=np.float32)
    label = np.where(total > 0, np.argmax(area_densities, axis=0) + 1, 0).astype(np.uint8)
    return label, total


@numba.njit(cache=True, nogil=True)
def _dominant(area_densities):
    materials, rows, columns = area_densities.shape
    label = np.zeros((rows, columns), np.uint8)
    total = np.zeros((rows, columns), np.float32)
    for row in range(rows):
        for column in range(columns):
            best, best_value, summed = 0, np.float32(0.0), np.float32(0.0)
            for m in range(materials):
                value = area_densities[m, row, column]
                summed += value
                if value > best_value:
                    best, best_value = m + 1, value
            label[row, column] = best
            total[row, column] = summed
    return label, total


def dominant_material(area_densities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, the material with the largest area density (1-based, 0 for none) and the total.

    Parameters
    ----------
    area_densities
        ``(materials, rows, columns)`` float32, ≥ 0.

    Returns
    -------
    (label, total)
        uint8 ``(rows, columns)`` labels and float32 total area densities.

    Examples
    --------
    >>> label, total = dominant_material(np.array([[[0.0, 1.0]], [[0.0, 3.0]]], np.float32))
    >>> label.tolist(), total.tolist()
    ([[0, 2]], [[0.0, 4.0]])
    """
    if area_densities.ndim != 3 or area_densities.shape[0] > 255:
        raise ValueError(f"need (materials ≤ 255, rows, columns) area densities, got {area_densities.shape}")
    return _dominant(np.ascontiguousarray(area_densities, dtype=np.float32))

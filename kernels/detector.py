"""Digitising detector signals: quanta to noisy, offset, gained, rounded and saturated counts.

One fused pass over the pixels: ``counts = dark + k q + sqrt(k² q + σ²) z`` rounded and
clipped to the ADC range, where ``q`` is the expected number of detected quanta, ``k`` the
counts per quantum of the element, ``σ`` the electronic noise and ``z`` a standard normal
draw. This is the normal approximation of Poisson quanta plus Gaussian electronic noise;
callers redo the few pixels with small ``q`` with true Poisson draws.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["digitise", "digitise_numpy"]


def digitise_numpy(
    quanta: np.ndarray,
    normal: np.ndarray,
    dark: np.ndarray,
    counts_per_quantum: np.ndarray,
    *,
    electronic_noise: float,
    full_scale: int,
) -> np.ndarray:
    """Plain-numpy reference of :func:`digitise`.

    Examples
    --------
    >>> digitise_numpy(np.array([[100.0]]), np.zeros((1, 1)), np.array([10.0]), np.array([2.0]),
    ...                electronic_noise=1.0, full_scale=4095)
    array([[210]], dtype=uint16)
    """
    gain = counts_per_quantum[:, None].astype(np.float64)
    sigma = np.sqrt(gain * gain * quanta + electronic_noise**2)
    counts = np.rint(dark[:, None] + gain * quanta + sigma * normal)
    return np.clip(counts, 0, full_scale).astype(np.uint16)


@numba.njit(cache=True, nogil=True)
def _digitise(quanta, normal, dark, counts_per_quantum, electronic_noise, full_scale):
    rows, columns = quanta.shape
    out = np.empty((rows, columns), np.uint16)
    variance_electronic = electronic_noise * electronic_noise
    for row in range(rows):
        gain = np.float64(counts_per_quantum[row])
        offset = np.float64(dark[row])
        for column in range(columns):
            q = np.float64(quanta[row, column])
            value = np.rint(offset + gain * q + np.sqrt(gain * gain * q + variance_electronic) * normal[row, column])
            out[row, column] = min(max(value, 0.0), full_scale)
    return out


def digitise(
    quanta: np.ndarray,
    normal: np.ndarray,
    dark: np.ndarray,
    counts_per_quantum: np.ndarray,
    *,
    electronic_noise: float,
    full_scale: int,
) -> np.ndarray:
    """ADC counts of ``(rows, columns)`` pixels from expected quanta and standard normal draws.

    Parameters
    ----------
    quanta
        Expected detected quanta per pixel.
    normal
        Standard normal draws, one per pixel.
    dark, counts_per_quantum
        Per-row dark offset (counts) and gain (counts per quantum).
    electronic_noise
        Standard deviation of the electronic noise (counts).
    full_scale
        Largest ADC count (saturation).

    Examples
    --------
    >>> digitise(np.array([[100.0]]), np.zeros((1, 1)), np.array([10.0]), np.array([2.0]),
    ...          electronic_noise=1.0, full_scale=4095)
    array([[210]], dtype=uint16)
    """
    if quanta.shape != normal.shape or quanta.ndim != 2:
        raise ValueError(f"quanta and normal draws must be 2-D of one shape, got {quanta.shape}, {normal.shape}")
    if dark.shape != (quanta.shape[0],) or counts_per_quantum.shape != dark.shape:
        raise ValueError("dark and counts_per_quantum need one value per row")
    return _digitise(
        np.ascontiguousarray(quanta),
        np.ascontiguousarray(normal),
        np.ascontiguousarray(dark),
        np.ascontiguousarray(counts_per_quantum),
        float(electronic_noise),
        float(full_scale),
    )

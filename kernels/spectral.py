"""Polychromatic transmission of rays through several materials (the simulator's inner loop).

A ray crosses area densities ``a[m]`` (g/cm²) of materials ``m``; the detector integrates
the spectrum weights ``w[e]`` over energies ``e``::

    T = sum_e w[e] * exp(-sum_m mu[m, e] * a[m])

Materials along one ray cannot be treated one at a time: the first one hardens the beam
the next one sees, so per-material lookup tables would be wrong for mixed rays. The numba
kernel therefore sums the spectrum per ray, and saves most of the work by reusing the
previous ray's result when its area densities are identical (simulated objects are
piecewise constant, so neighbouring pixels along a line usually are). It runs on one core
and releases the GIL, so callers parallelise over tiles with threads.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["polychromatic_transmission", "polychromatic_transmission_numpy"]


def _check(area_densities: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> None:
    if area_densities.ndim != 2 or mu.ndim != 2 or weights.ndim != 1:
        raise ValueError("need area_densities (materials, rays), mu (materials, energies), weights (energies,)")
    if area_densities.shape[0] != mu.shape[0] or mu.shape[1] != weights.shape[0]:
        raise ValueError(
            f"shapes disagree: area_densities {area_densities.shape}, mu {mu.shape}, weights {weights.shape}"
        )


def polychromatic_transmission_numpy(area_densities: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of :func:`polychromatic_transmission` (one matrix product, one exp per ray and energy).

    Examples
    --------
    >>> mu = np.array([[0.2, 0.1]])
    >>> polychromatic_transmission_numpy(np.array([[0.0, 10.0]]), mu, np.array([0.5, 0.5])).round(4)
    array([1.    , 0.2516])
    """
    _check(area_densities, mu, weights)
    exponents = mu.T.astype(np.float64) @ area_densities.astype(np.float64)
    return np.asarray(weights, np.float64) @ np.exp(-exponents)


@numba.njit(cache=True, nogil=True)
def _transmission(area_densities, mu, weights):
    materials, rays = area_densities.shape
    energies = weights.shape[0]
    out = np.empty(rays, np.float64)
    exponent = np.empty(energies, np.float64)
    previous = np.full(materials, np.nan)  # NaN is never equal: the first ray is always computed
    previous_value = 0.0
    for ray in range(rays):
        same = True
        for m in range(materials):
            if area_densities[m, ray] != previous[m]:
                same = False
                break
        if same:
            out[ray] = previous_value
            continue
        exponent[:] = 0.0
        for m in range(materials):
            a = area_densities[m, ray]
            previous[m] = a
            if a != 0.0:
                for e in range(energies):
                    exponent[e] += mu[m, e] * a
        total = 0.0
        for e in range(energies):
            total += weights[e] * np.exp(-exponent[e])
        out[ray] = total
        previous_value = total
    return out


def polychromatic_transmission(area_densities: np.ndarray, mu: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Spectrum-weighted transmission of every ray through its mix of materials.

    Parameters
    ----------
    area_densities
        ``(materials, rays)`` area density of each material along each ray, g/cm² (float32 or float64).
    mu
        ``(materials, energies)`` mass attenuation coefficients, cm²/g.
    weights
        ``(energies,)`` spectrum weights (what the detector integrates), summing to 1.

    Returns
    -------
    numpy.ndarray
        ``(rays,)`` float64 transmission in [0, 1].

    Examples
    --------
    >>> mu = np.array([[0.2, 0.1]])
    >>> polychromatic_transmission(np.array([[0.0, 10.0]]), mu, np.array([0.5, 0.5])).round(4)
    array([1.    , 0.2516])
    """
    _check(area_densities, mu, weights)
    return _transmission(
        np.ascontiguousarray(area_densities),
        np.ascontiguousarray(mu, dtype=np.float64),
        np.ascontiguousarray(weights, dtype=np.float64),
    )

"""Detector electronics: per-element offsets and gains, dead elements, source fluctuation, noise, ADC.

The model is the one documented on :class:`~nii.physics.DetectorModel`: detected
quanta are Poisson distributed, the electronics add an offset, a gain and Gaussian noise,
and the ADC rounds and saturates. Where more than :data:`POISSON_LIMIT` quanta are expected
the Poisson law is replaced by its normal approximation (same mean and variance), which is
exact to far better than the noise itself and much faster to draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nii.kernels.detector import digitise
from nii.physics import DetectorModel

__all__ = [
    "POISSON_LIMIT",
    "Elements",
    "draw_dead_elements",
    "draw_elements",
    "draw_intensity",
    "expected_variance",
    "expose",
]

POISSON_LIMIT = 1000.0
"""Expected quanta above which the normal approximation of the Poisson law is used."""


@dataclass(frozen=True, eq=False)
class Elements:
    """Per-element electronics of one channel: dark offset (counts) and counts per detected quantum."""

    dark: np.ndarray
    counts_per_quantum: np.ndarray

    @property
    def dead(self) -> np.ndarray:
        return self.counts_per_quantum == 0


def draw_dead_elements(model: DetectorModel, rows: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) of the dead elements of one detector column."""
    count = round(model.dead_fraction * rows)
    return np.sort(rng.choice(rows, size=count, replace=False)) if count else np.zeros(0, dtype=np.int64)


def draw_elements(model: DetectorModel, rows: int, dead: np.ndarray, rng: np.random.Generator) -> Elements:
    """Dark offsets and gains of ``rows`` elements; ``dead`` elements get no signal."""
    full = model.full_scale
    dark = full * (model.dark_fraction + model.dark_spread * rng.standard_normal(rows))
    gain = np.clip(1.0 + model.gain_spread * rng.standard_normal(rows), 0.5, 1.5)
    counts_per_quantum = gain * model.air_fraction * full / model.air_quanta
    counts_per_quantum[dead] = 0.0
    return Elements(np.clip(dark, 0, full).astype(np.float32), counts_per_quantum.astype(np.float32))


def draw_intensity(model: DetectorModel, lines: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Source intensity of each line (relative to nominal) and the reference detector's reading of it."""
    intensity = 1.0 + model.source_fluctuation * rng.standard_normal(lines)
    reading = intensity * (1.0 + model.reference_noise * rng.standard_normal(lines))
    return intensity.astype(np.float32), reading.astype(np.float32)


def expose(
    transmission: np.ndarray,
    intensity: np.ndarray,
    elements: Elements,
    model: DetectorModel,
    rng: np.random.Generator,
) -> np.ndarray:
    """Raw counts of an exposure: ``transmission`` is ``(rows, lines)``, ``intensity`` ``(lines,)``.

    Returns
    -------
    numpy.ndarray
        uint16 counts, rounded and clipped to ``[0, 2**bits - 1]``.

    Examples
    --------
    >>> model = DetectorModel(bits=12, dead_fraction=0.0)
    >>> elements = draw_elements(model, 2, np.zeros(0, int), np.random.default_rng(0))
    >>> counts = expose(np.ones((2, 3)), np.ones(3, np.float32), elements, model, np.random.default_rng(1))
    >>> counts.dtype, counts.shape
    (dtype('uint16'), (2, 3))
    """
    quanta = (np.float32(model.air_quanta) * intensity[None, :]) * np.asarray(transmission, dtype=np.float32)
    normal = rng.standard_normal(quanta.shape, dtype=np.float32)
    counts = digitise(
        quanta,
        normal,
        elements.dark,
        elements.counts_per_quantum,
        electronic_noise=model.electronic_noise_counts,
        full_scale=model.full_scale,
    )
    few = quanta < POISSON_LIMIT
    if few.any():
        # Few quanta: true Poisson draws, the same normal draw for the electronic noise.
        rows = np.nonzero(few)[0]
        detected = rng.poisson(quanta[few])
        values = elements.dark[rows] + elements.counts_per_quantum[rows] * detected
        values = np.rint(values + model.electronic_noise_counts * normal[few])
        counts[few] = np.clip(values, 0, model.full_scale).astype(np.uint16)
    return counts


def expected_variance(
    model: DetectorModel, transmission: float, *, counts_per_quantum: float, intensity_spread: float = 0.0
) -> float:
    """Variance of the counts of one element under the model (the test of the noise).

    ``k² (q T + (q T σ)²) + σ_e² + 1/12``: Poisson quanta ``q T`` scaled by the element's
    ``counts_per_quantum`` ``k``, the line-to-line source fluctuation ``σ``
    (``intensity_spread``), electronic noise and rounding.

    Examples
    --------
    >>> expected_variance(DetectorModel(electronic_noise_counts=0.0), 0.5, counts_per_quantum=1.0)
    100000.08333333333
    """
    quanta = model.air_quanta * transmission
    quantum = counts_per_quantum**2 * (quanta + (quanta * intensity_spread) ** 2)
    return float(quantum + model.electronic_noise_counts**2 + 1.0 / 12.0)

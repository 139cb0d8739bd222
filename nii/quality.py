"""Objective image-quality figures of a scanner, measured on scans of the test objects.

Arrays in, numbers out. Every figure is computed from a canonically oriented attenuation image of
the ``test-objects`` scenario (:mod:`nii.simulate.targets`) or, for materials, from a ``materials``
image of the ``steps`` wedges; each also has a *prediction* from physics alone (the noise-free
transmission of the simulator's truth and the detector's noise model, or the detector aperture), so
a measurement can be checked against what it should be.

Definitions (stated once, used by the measurement and the prediction alike):

detectability
    Rose's index ``d = ΔA / σ_A × √N``: the difference of mean attenuation between a target and its
    background, over the per-pixel noise of the background, times the square root of the target's
    pixels. A target is detected when ``d ≥`` :data:`DETECTABILITY_THRESHOLD` (Rose's 5).
penetration (mm of steel)
    The steel wall thickness at which the 20 mm steel test block's ``d`` falls to the threshold
    (log-linear interpolation between walls).
wire detection (mm)
    The thinnest wire whose matched-filter score across the detector (the profile averaged along the
    wire, less a straight background, correlated with the wire's projected shape) is at least
    :data:`DETECTABILITY_THRESHOLD` standard deviations of the background profile's noise.
contrast sensitivity (%)
    The thinnest plate, in per cent of the wall it lies on, whose ``d`` reaches the threshold
    (log-log interpolation).
spatial resolution
    MTF50 (cycles/mm) from a slanted edge (ISO 12233's method: edge spread function binned at a
    quarter pixel, differentiated, Hann-windowed, Fourier transformed), along the travel and down the
    detector.
material discrimination
    The confusion matrix of the material classes against the class of each wedge's material, over the
    pixels thick enough (and thin enough) for the classifier to decide.

Examples
--------
>>> summarise([1.0, 2.0, 3.0])
{'mean': 2.0, 'std': 1.0, 'n': 3}
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from nii.errors import ValidationError
from nii.kernels import TRANSMISSION_FLOOR, MaterialClass
from nii.materials import Material, effective_z
from nii.model import Geometry
from nii.physics import DetectorModel
from nii.simulate.simulator import REFERENCE_LINES
from nii.simulate.targets import LAYOUT, Region, TestObjectLayout

__all__ = [
    "DETECTABILITY_THRESHOLD",
    "DetectionCurve",
    "EdgeResult",
    "WireResult",
    "aperture_mtf50",
    "attenuation_statistics",
    "contrast_sensitivity",
    "detectability",
    "edge_mtf",
    "expected_class",
    "interior",
    "material_confusion",
    "penetration",
    "resolution",
    "row_noise",
    "summarise",
    "wire_detection",
]

DETECTABILITY_THRESHOLD = 5.0
"""Rose's criterion: a target is seen when its detectability index reaches 5."""


def summarise(values: Sequence[float]) -> dict[str, Any]:
    """Mean, sample standard deviation (0 for one value) and count of repeated measurements (finite ones)."""
    finite = np.asarray([v for v in values if v is not None and math.isfinite(v)], np.float64)
    if finite.size == 0:
        return {"mean": None, "std": None, "n": 0}
    spread = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    return {"mean": float(finite.mean()), "std": spread, "n": int(finite.size)}


def attenuation_statistics(
    model: DetectorModel, transmission: float, *, samples: int = 40000, seed: int = 0
) -> tuple[float, float]:
    """Mean and standard deviation of the calibrated attenuation of pixels whose noise-free transmission
    is ``transmission``, by drawing pixels from the detector's noise model (Monte Carlo).

    The model is :class:`nii.physics.DetectorModel`'s: Poisson quanta, the reference detector's residual
    after the source-fluctuation correction, electronic noise, rounding, and each element's dark offset
    known from :data:`nii.simulate.simulator.REFERENCE_LINES` dark lines; then the calibration
    ``T = (counts - dark) / (air - dark)`` clipped to ``[TRANSMISSION_FLOOR, 1]`` and ``A = -ln T``. Drawn,
    not propagated to first order, because deep behind steel few quanta arrive, the logarithm is biased
    and the floor catches readings at or below the dark level.

    Examples
    --------
    >>> mean, std = attenuation_statistics(DetectorModel(), 0.5)
    >>> round(mean, 2), round(std, 4)
    (0.69, 0.0033)
    """
    rng = np.random.default_rng(seed)
    gain = model.air_fraction * model.full_scale / model.air_quanta
    dark = model.dark_fraction * model.full_scale
    electronic = math.sqrt(model.electronic_noise_counts**2 + 1 / 12)
    quanta = model.air_quanta * transmission * (1 + model.reference_noise * rng.standard_normal(samples))
    detected = rng.poisson(np.maximum(quanta, 0.0))
    counts = np.rint(dark + gain * detected + model.electronic_noise_counts * rng.standard_normal(samples))
    counts = np.clip(counts, 0, model.full_scale)
    dark_estimate = dark + electronic / math.sqrt(REFERENCE_LINES) * rng.standard_normal(samples)
    air_estimate = gain * model.air_quanta * (1 + _air_error(model) * rng.standard_normal(samples))
    measured = np.clip((counts - dark_estimate) / air_estimate, float(TRANSMISSION_FLOOR), 1.0)
    attenuation = -np.log(measured)
    return float(attenuation.mean()), float(attenuation.std(ddof=1))


def _air_error(model: DetectorModel) -> float:
    """Relative error of an element's open-beam level averaged over the reference lines."""
    gain = model.air_fraction * model.full_scale / model.air_quanta
    quanta = model.air_quanta
    variance = gain**2 * (quanta + (quanta * model.reference_noise) ** 2) + model.electronic_noise_counts**2
    return math.sqrt(variance / REFERENCE_LINES) / (gain * quanta)


def row_noise(model: DetectorModel, transmission: float) -> float:
    """Standard deviation of the attenuation error that is fixed along a detector row: the element's dark
    and open-beam levels, each known from :data:`~nii.simulate.simulator.REFERENCE_LINES` lines.

    Averaging along the travel does not reduce it (it limits the detection of thin wires).

    Examples
    --------
    >>> round(row_noise(DetectorModel(), 1.0), 5)
    0.00043
    """
    gain = model.air_fraction * model.full_scale / model.air_quanta
    dark = math.sqrt((model.electronic_noise_counts**2 + 1 / 12) / REFERENCE_LINES) / (
        gain * model.air_quanta * transmission
    )
    return math.hypot(dark, _air_error(model))


def _pixels(
    image: np.ndarray, region: Region, geometry: Geometry, layout: TestObjectLayout, margin_px: int = 1
) -> np.ndarray:
    rows, columns = layout.pixels(region, geometry, image.shape)
    block = image[rows, columns]
    if min(block.shape) > 2 * margin_px + 1:
        block = block[margin_px:-margin_px, margin_px:-margin_px]
    return np.asarray(block, np.float64)


def _statistics(pixels: np.ndarray, noise_model: DetectorModel | None) -> tuple[float, float]:
    """Mean and per-pixel standard deviation: measured, or predicted for the region's noise-free transmission."""
    if noise_model is None:
        return float(pixels.mean()), float(pixels.std(ddof=1))
    return attenuation_statistics(noise_model, math.exp(-float(pixels.mean())))


def detectability(
    image: np.ndarray,
    target: Region,
    background: Sequence[Region],
    geometry: Geometry,
    *,
    noise_model: DetectorModel | None = None,
    layout: TestObjectLayout = LAYOUT,
) -> float:
    """Rose's index of ``target`` against ``background`` on an attenuation image (see the module docstring).

    With ``noise_model``, ``image`` is the noise-free attenuation of the truth and the index is the one
    predicted by the detector's noise model (:func:`attenuation_statistics`).
    """
    inside = _pixels(image, target, geometry, layout)
    around = np.concatenate([_pixels(image, region, geometry, layout).ravel() for region in background])
    target_mean, _ = _statistics(inside, noise_model)
    background_mean, sigma = _statistics(around, noise_model)
    if not sigma > 0:
        return math.inf
    return float((target_mean - background_mean) / sigma * math.sqrt(inside.size))


def _crossing(x: np.ndarray, d: np.ndarray, *, log_x: bool) -> float:
    """Where ``d`` (falling with x) last reaches the threshold, interpolated in log d (and log x)."""
    above = np.nonzero(d >= DETECTABILITY_THRESHOLD)[0]
    if above.size == 0:
        return math.nan
    k = int(above.max())
    if k == x.size - 1:
        return float(x[-1])
    left, right = math.log(max(d[k], 1e-9)), math.log(max(d[k + 1], 1e-9))
    fraction = (left - math.log(DETECTABILITY_THRESHOLD)) / (left - right) if left != right else 0.0
    if log_x:
        return float(math.exp(math.log(x[k]) + fraction * (math.log(x[k + 1]) - math.log(x[k]))))
    return float(x[k] + fraction * (x[k + 1] - x[k]))


@dataclass(frozen=True)
class DetectionCurve:
    """Detectability of a series of targets of falling visibility, and where it reaches the threshold.

    Attributes
    ----------
    sizes
        What varies from target to target: the steel wall's thickness (mm) for penetration, the plate's
        share of the wall (%) for contrast sensitivity.
    detectability
        Rose's index of each target.
    limit
        The size at which the index falls to :data:`DETECTABILITY_THRESHOLD` (NaN when no target reaches it):
        the penetration in mm of steel, or the contrast sensitivity in %.
    """

    sizes: np.ndarray
    detectability: np.ndarray
    limit: float


def _detection_curve(
    attenuation: np.ndarray,
    geometry: Geometry,
    targets: Sequence[tuple[float, Region, Sequence[Region]]],
    *,
    noise_model: DetectorModel | None,
    layout: TestObjectLayout,
    log_sizes: bool,
) -> DetectionCurve:
    scores = [
        detectability(attenuation, target, background, geometry, noise_model=noise_model, layout=layout)
        for _, target, background in targets
    ]
    sizes = np.array([size for size, _, _ in targets])
    d = np.abs(np.array(scores))
    return DetectionCurve(sizes, d, _crossing(sizes, d, log_x=log_sizes))


def penetration(
    attenuation: np.ndarray,
    geometry: Geometry,
    *,
    noise_model: DetectorModel | None = None,
    layout: TestObjectLayout = LAYOUT,
) -> DetectionCurve:
    """Penetration (mm of steel) measured on a scan's attenuation image, or predicted on the truth's
    noise-free attenuation when ``noise_model`` is given."""
    targets = [(step.steel_mm, step.block, step.background) for step in layout.penetration]
    return _detection_curve(attenuation, geometry, targets, noise_model=noise_model, layout=layout, log_sizes=False)


def contrast_sensitivity(
    attenuation: np.ndarray,
    geometry: Geometry,
    *,
    noise_model: DetectorModel | None = None,
    layout: TestObjectLayout = LAYOUT,
) -> DetectionCurve:
    """Contrast sensitivity (%) measured, or with ``noise_model`` predicted on the noise-free truth."""
    plates = sorted(layout.contrast, key=lambda plate: -plate.percent)  # thinner plates later
    targets = [(plate.percent, plate.plate, [plate.background]) for plate in plates]
    return _detection_curve(attenuation, geometry, targets, noise_model=noise_model, layout=layout, log_sizes=True)


@dataclass(frozen=True)
class WireResult:
    """Matched-filter score of each wire and the thinnest wire detected (mm; NaN if none)."""

    diameter_mm: np.ndarray
    score: np.ndarray
    thinnest_mm: float


def _wire_template(centres_mm: np.ndarray, pitch: float, z: float, side: float) -> np.ndarray:
    """Mean chord of the wire's square section over each row's aperture (mm): side × overlap / pitch."""
    low = np.maximum(centres_mm - pitch / 2, z - side / 2)
    high = np.minimum(centres_mm + pitch / 2, z + side / 2)
    return side * np.clip(high - low, 0.0, None) / pitch


def wire_detection(
    attenuation: np.ndarray,
    geometry: Geometry,
    *,
    noise_model: DetectorModel | None = None,
    layout: TestObjectLayout = LAYOUT,
) -> WireResult:
    """Matched-filter detection of the wires behind steel (see the module docstring); with ``noise_model``
    the profile's noise is predicted (per-pixel noise over √columns) instead of measured."""
    pitch, _ = geometry.known_spacing("wire detection")
    scores = []
    for wire in layout.wires:
        half = max(6 * pitch, 60.0 * layout.size)
        region = Region((wire.x[0] + 50 * layout.size, wire.x[1] - 50 * layout.size), (wire.z - half, wire.z + half))
        rows, columns = layout.pixels(region, geometry, attenuation.shape)
        block = np.asarray(attenuation[rows, columns], np.float64)
        profile = block.mean(axis=1)
        centres = (attenuation.shape[0] - np.arange(rows.start, rows.stop) - 0.5) * pitch
        template = _wire_template(centres, pitch, wire.z, wire.side_mm)
        quiet = np.abs(centres - wire.z) > wire.side_mm / 2 + 2 * pitch
        fit = np.polyfit(centres[quiet], profile[quiet], 1)
        residual = profile - np.polyval(fit, centres)
        if noise_model is None:
            sigma = float(residual[quiet].std(ddof=2))
        else:
            transmission = math.exp(-float(profile[quiet].mean()))
            _, pixel_noise = attenuation_statistics(noise_model, transmission)
            fixed = row_noise(noise_model, transmission)
            sigma = math.sqrt(max(pixel_noise**2 - fixed**2, 0.0) / block.shape[1] + fixed**2)
        norm = math.sqrt(float(template @ template))
        scores.append(float(template @ residual) / (sigma * norm) if sigma > 0 and norm > 0 else 0.0)
    diameters = np.array([wire.diameter_mm for wire in layout.wires])
    score = np.array(scores)
    seen = diameters[score >= DETECTABILITY_THRESHOLD]
    return WireResult(diameters, score, float(seen.min()) if seen.size else math.nan)


@dataclass(frozen=True)
class EdgeResult:
    """Modulation transfer function from a slanted edge: frequencies (cycles/mm), MTF, and MTF50."""

    frequency: np.ndarray
    mtf: np.ndarray
    mtf50: float


def edge_mtf(block: np.ndarray, spacing_mm: float, *, oversampling: int = 4) -> EdgeResult:
    """MTF of a region holding one straight edge that runs nearly down its columns (rows × columns).

    The edge's position in every row is the centroid of the row's derivative; a line fitted through
    them gives every pixel's distance to the edge; the pixels' values, binned by distance at
    ``1 / oversampling`` pixel, give the edge spread function.
    """
    values = np.asarray(block, np.float64)
    if values.ndim != 2 or min(values.shape) < 8:
        raise ValidationError(f"an edge region needs at least 8 × 8 pixels, got {values.shape}")
    derivative = np.abs(np.diff(values, axis=1))
    # Centroid of the derivative near its peak only: the noise elsewhere in the row would pull it to the middle.
    peak = np.argmax(derivative, axis=1)
    window = np.abs(np.arange(derivative.shape[1])[None, :] - peak[:, None]) <= 4
    weighted = np.where(window, derivative, 0.0)
    positions = (weighted * (np.arange(derivative.shape[1]) + 0.5)).sum(axis=1) / np.maximum(
        weighted.sum(axis=1), 1e-12
    )
    rows = np.arange(values.shape[0])
    slope, intercept = np.polyfit(rows, positions, 1)
    cosine = 1 / math.sqrt(1 + slope**2)
    distance = (np.arange(values.shape[1])[None, :] - (intercept + slope * rows)[:, None]) * cosine
    bins = np.round(distance * oversampling).astype(np.int64)
    bins -= bins.min()
    counts = np.bincount(bins.ravel())
    sums = np.bincount(bins.ravel(), weights=values.ravel())
    filled = counts > 0
    esf = np.interp(np.arange(counts.size), np.nonzero(filled)[0], sums[filled] / counts[filled])
    lsf = np.diff(esf)
    lsf *= np.hanning(lsf.size)
    spectrum = np.abs(np.fft.rfft(lsf))
    mtf = spectrum / spectrum[0]
    frequency = np.fft.rfftfreq(lsf.size, d=1.0 / oversampling) / spacing_mm
    below = np.nonzero(mtf < 0.5)[0]
    if below.size == 0:
        return EdgeResult(frequency, mtf, math.nan)
    k = int(below[0])
    f50 = frequency[k - 1] + (mtf[k - 1] - 0.5) / (mtf[k - 1] - mtf[k]) * (frequency[k] - frequency[k - 1])
    return EdgeResult(frequency, mtf, float(f50))


def aperture_mtf50(aperture_mm: float, *, samples: int = 1) -> float:
    """MTF50 (cycles/mm) of a box aperture of ``aperture_mm``, averaged at ``samples`` evenly spaced points
    (``samples=1``: a continuous box, |sinc|; the simulator samples each pixel at a few points).

    Examples
    --------
    >>> round(aperture_mtf50(1.0), 3)
    0.603
    """
    x = np.linspace(1e-6, 1.0, 20001)
    if samples <= 1:
        response = np.abs(np.sinc(x))
    else:
        response = np.abs(np.sin(np.pi * x) / (samples * np.sin(np.pi * x / samples)))
    return float(np.interp(0.5, response[::-1], x[::-1]) / aperture_mm)


def resolution(
    attenuation: np.ndarray, geometry: Geometry, *, layout: TestObjectLayout = LAYOUT
) -> dict[str, EdgeResult]:
    """MTF along the travel (edge across it) and down the detector (edge along the travel)."""
    detector_mm, travel_mm = geometry.known_spacing("spatial resolution")
    rows, columns = layout.pixels(layout.edge_across_travel, geometry, attenuation.shape)
    along_travel = edge_mtf(attenuation[rows, columns], travel_mm)
    rows, columns = layout.pixels(layout.edge_along_travel, geometry, attenuation.shape)
    down_detector = edge_mtf(np.asarray(attenuation[rows, columns]).T, detector_mm)
    return {"travel": along_travel, "detector": down_detector}


def expected_class(
    material: Material,
    z_boundaries: Sequence[float] = (10.0, 17.0, 40.0),
    *,
    highest: MaterialClass = MaterialClass.HIGH_Z,
) -> MaterialClass:
    """The class a material should get: its effective Z against the class boundaries, at most ``highest``
    (a kV tube's table ends at copper, so it names lead metal: see :mod:`nii.calibration`).

    Examples
    --------
    >>> from nii.physics import MATERIALS
    >>> [expected_class(MATERIALS[name]).name for name in ("polyethylene", "aluminium", "iron", "lead")]
    ['ORGANIC', 'INORGANIC', 'METAL', 'HIGH_Z']
    """
    z = effective_z(material)
    for boundary, member in zip(
        z_boundaries, (MaterialClass.ORGANIC, MaterialClass.INORGANIC, MaterialClass.METAL), strict=True
    ):
        if z <= boundary:
            return min(member, highest)
    return highest


def material_confusion(
    classes: np.ndarray, truth_label: np.ndarray, truth_classes: Sequence[MaterialClass], decidable: np.ndarray
) -> np.ndarray:
    """Confusion matrix ``(5, 5)`` of pixel counts: row = expected class, column = class found.

    Parameters
    ----------
    classes
        uint8 :class:`nii.kernels.MaterialClass` per pixel (the ``material`` channel).
    truth_label
        The truth's material label per pixel (1-based; 0 nothing).
    truth_classes
        Expected class of each label (index ``label - 1``).
    decidable
        Pixels to count (thick enough, thin enough, away from the wedges' edges).

    Examples
    --------
    >>> found = np.array([[1, 1, 3]], np.uint8)
    >>> material_confusion(found, np.array([[1, 1, 2]]), [MaterialClass.ORGANIC, MaterialClass.METAL],
    ...                    np.ones((1, 3), bool))[1:4, 1:4]
    array([[2, 0, 0],
           [0, 0, 0],
           [0, 0, 1]])
    """
    lookup = np.zeros(len(truth_classes) + 1, np.int64)
    lookup[1:] = [int(c) for c in truth_classes]
    chosen = decidable & (truth_label > 0)
    expected = lookup[truth_label[chosen]]
    found = classes[chosen].astype(np.int64)
    matrix = np.zeros((len(MaterialClass), len(MaterialClass)), np.int64)
    np.add.at(matrix, (expected, found), 1)
    return matrix


def interior(label: np.ndarray, margin_px: int) -> np.ndarray:
    """Pixels whose neighbourhood of ``margin_px`` on every side holds one truth label (not 0): away from
    the edges that the classifier's smoothing and the channels' offset blur."""
    kernel = np.ones((2 * margin_px + 1, 2 * margin_px + 1), np.uint8)
    values = np.ascontiguousarray(label, np.uint8)
    return (cv2.dilate(values, kernel) == cv2.erode(values, kernel)) & (values > 0)

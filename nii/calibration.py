"""Calibration tables computed from the physics of a scanner, for the kernels to apply.

The kernels (:mod:`nii.kernels`) know nothing about spectra or materials; they apply tables. The tables
here are computed from the simulator's physics (:mod:`nii.physics`: NIST XCOM attenuation,
bremsstrahlung or tube spectra, detector response) for one scanner:

* :class:`SteelEquivalentCurve`: attenuation of one channel → thickness of steel (mm) with the same
  attenuation. Beam hardening makes ``A`` grow less than linearly with thickness, and differently for
  each spectrum; through their curves, scans of 4, 6 and 9 MV machines land on one scale.
* :class:`ZeffTable`: ``(A_high, A_low)`` of an energy pair → effective Z (a :class:`nii.kernels.ZeffGrid`),
  with the :class:`nii.kernels.MaterialTable` that says when a pixel is too thin or too thick to decide.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from nii.errors import ValidationError
from nii.kernels import MaterialTable, ZeffGrid, equivalent_thickness, material_classes
from nii.materials import MATERIALS, effective_z
from nii.model import SourceKind
from nii.physics import SCANNERS, ScannerModel, Spectrum, transmission

__all__ = [
    "TUBE_ZEFF_REFERENCE_MATERIALS",
    "ZEFF_REFERENCE_MATERIALS",
    "SteelEquivalentCurve",
    "ZeffTable",
    "scanner_model",
]

ZEFF_REFERENCE_MATERIALS = ("polyethylene", "water", "aluminium", "iron", "copper", "tin", "lead")
"""Materials whose dual-energy ratios anchor the effective-Z table of a linac pair (Z 5.4 to 82)."""

TUBE_ZEFF_REFERENCE_MATERIALS = ("polyethylene", "water", "aluminium", "iron", "copper")
"""The same for kV tubes, without the high-Z anchors: below about 200 kV the K edges of tin, tungsten
and lead make their ratios fold back among lighter materials, so a kV pair cannot name high Z and its
table stops at copper (Z 29): heavier metals show as metal."""


MATERIAL_SMOOTHING_PX = 5
"""Box average (pixels) of both attenuation images before material classification (the materials step, the
renderer): per-pixel ratios are too noisy to classify near the thickness limits."""
DECIDABLE_NOISE = 0.016
"""Largest standard deviation of a pixel's ratio ``A_low / A_high``, as a fraction of the reference materials'
ratio span, at which its class is still told (:meth:`ZeffTable.decidable_attenuation`): with it, classes are
right on at least 95 % of each reference block of every simulated scanner up to the limit
(``tests/nii/test_calibration.py``). Chosen so that the 6/4 MV linac keeps about the limit of the earlier rule,
1000 quanta per pixel (5.15 against 5.30)."""
COVERAGE_MARGIN = 0.02
"""Ratio ``A_low / A_high`` a pixel may lie beyond the reference materials' span and still be classified."""


def scanner_model(scanner: ScannerModel | str) -> ScannerModel:
    """The :class:`~nii.physics.ScannerModel` itself, or the one of that name in ``SCANNERS``."""
    if isinstance(scanner, ScannerModel):
        return scanner
    if scanner not in SCANNERS:
        raise ValidationError(f"unknown scanner {scanner!r}; known: {sorted(SCANNERS)}")
    return SCANNERS[scanner]


def _spectrum(scanner: ScannerModel, channel: str) -> Spectrum:
    if channel not in scanner.spectra:
        raise ValidationError(f"scanner {scanner.name!r} has no channel {channel!r}; channels: {scanner.channels}")
    return scanner.spectra[channel]


def _attenuation(spectrum: Spectrum, material: str, area_density: np.ndarray) -> np.ndarray:
    return -np.log(transmission(spectrum, material, area_density))


@dataclass(frozen=True, eq=False)
class SteelEquivalentCurve:
    """Steel thickness (mm) as a function of the attenuation of one scanner channel.

    Attributes
    ----------
    scanner, channel
        Where the curve comes from.
    step
        Attenuation between points.
    thickness_mm
        float32 thickness at ``A = 0, step, 2·step, …`` (:func:`nii.kernels.equivalent_thickness`'s curve).

    Examples
    --------
    >>> curve = SteelEquivalentCurve.from_scanner("linac-6")
    >>> a = np.array([[0.0, 2.0]], np.float32)
    >>> curve.apply(a).round(0).tolist()  # millimetres of steel
    [[0.0, 57.0]]
    """

    scanner: str
    channel: str
    step: float
    thickness_mm: np.ndarray

    @classmethod
    def from_scanner(
        cls,
        scanner: ScannerModel | str,
        channel: str | None = None,
        *,
        max_thickness_mm: float = 500.0,
        points: int = 2048,
    ) -> SteelEquivalentCurve:
        """Compute the curve from the channel's detected spectrum and steel's NIST attenuation.

        Parameters
        ----------
        scanner
            A scanner model or its name in ``SCANNERS`` (``"linac-6"``, ``"linac-6/4"``, …).
        channel
            Channel name; by default the scanner's only channel, or ``"high"``.
        max_thickness_mm
            Thickest steel tabulated; thicker attenuation clamps to it.
        points
            Curve points (uniform in attenuation).
        """
        model = scanner_model(scanner)
        name = channel if channel is not None else ("high" if "high" in model.spectra else model.channels[0])
        spectrum = _spectrum(model, name)
        if not (math.isfinite(max_thickness_mm) and max_thickness_mm > 0) or points < 2:
            raise ValidationError("need a positive max_thickness_mm and at least 2 points")
        thickness = np.linspace(0.0, max_thickness_mm, 4 * points)
        density = MATERIALS["steel"].density_g_cm3
        a = _attenuation(spectrum, "steel", density * thickness / 10.0)
        step = float(a[-1]) / (points - 1)
        curve = np.interp(step * np.arange(points), a, thickness).astype(np.float32)
        return cls(model.name, name, step, curve)

    def apply(self, attenuation: np.ndarray, *, out: np.ndarray | None = None) -> np.ndarray:
        """Steel-equivalent thickness (mm, float32) of a float32 attenuation image of this channel."""
        return equivalent_thickness(attenuation, self.thickness_mm, step=self.step, out=out)


@dataclass(frozen=True, eq=False)
class ZeffTable:
    """Effective-Z calibration of one dual-energy scanner (``high`` and ``low`` channels).

    For each reference material, area densities from thin to thick give a curve of the ratio
    ``A_low / A_high`` against ``A_high``. At every ``A_high`` node of the grid the materials' ratios,
    taken in order of Z, are kept while they move monotonically (very thin high-Z layers fold back
    among light materials and are dropped there, which is the physical limit of dual energy), and Z is
    interpolated linearly between them along the ratio axis, clamped beyond the first and last.

    Attributes
    ----------
    scanner
        The scanner's name.
    grid
        The :class:`nii.kernels.ZeffGrid` the kernels apply.
    materials
        The reference materials used.
    """

    scanner: str
    grid: ZeffGrid
    materials: tuple[str, ...]
    lowest: np.ndarray
    """Smallest reference ratio at each ``A_high`` node of the grid (the span :meth:`misfit` checks)."""
    highest: np.ndarray
    """Largest reference ratio at each node."""

    @classmethod
    def from_scanner(
        cls,
        scanner: ScannerModel | str,
        *,
        materials: Sequence[str] | None = None,
        a_high_max: float = 12.0,
        nodes: tuple[int, int] = (97, 257),
    ) -> ZeffTable:
        """Compute the table from the scanner's two detected spectra and the NIST data.

        Parameters
        ----------
        scanner
            A dual-energy scanner model or its name (``"linac-6/4"``, ``"linac-9/6"``, ``"tube-160/80"``, …).
        materials
            Reference materials (names in ``MATERIALS``), at least two; by default
            :data:`ZEFF_REFERENCE_MATERIALS` for a linac, :data:`TUBE_ZEFF_REFERENCE_MATERIALS` for a tube.
        a_high_max
            Largest high-energy attenuation tabulated.
        nodes
            Grid nodes along ``A_high`` and along the ratio.
        """
        model = scanner_model(scanner)
        high, low = _spectrum(model, "high"), _spectrum(model, "low")
        if materials is None:
            materials = TUBE_ZEFF_REFERENCE_MATERIALS if model.source is SourceKind.TUBE else ZEFF_REFERENCE_MATERIALS
        if len(materials) < 2 or any(m not in MATERIALS for m in materials):
            raise ValidationError(f"need at least two known reference materials, got {list(materials)}")
        a_nodes = np.linspace(0.0, a_high_max, nodes[0])
        ratios = {}
        for material in materials:
            # Area densities from a trace to past a_high_max, so every node is inside the material's curve.
            area = np.geomspace(1e-3, 1.0, 400)
            while _attenuation(high, material, area[-1:])[0] < a_high_max:
                area = np.concatenate([area, area[-1] * np.geomspace(1.0, 4.0, 100)[1:]])
            a_high, a_low = _attenuation(high, material, area), _attenuation(low, material, area)
            ratios[material] = np.interp(a_nodes, a_high, a_low / a_high)
        return cls.from_ratios(model.name, a_nodes, ratios, nodes=nodes[1])

    @classmethod
    def from_ratios(
        cls, scanner: str, a_nodes: np.ndarray, ratios: Mapping[str, np.ndarray], *, nodes: int = 257
    ) -> ZeffTable:
        """The table of reference materials' ratio curves ``A_low / A_high`` sampled at ``a_nodes`` (from 0).

        Used for curves computed from physics (:meth:`from_scanner`) and for measured ones
        (:class:`nii.material_calibration.MaterialCalibration`).
        """
        ordered = sorted(ratios, key=effective_z)
        z = np.array([effective_z(m) for m in ordered])
        curves = np.array([ratios[m] for m in ordered])
        ratio_min, ratio_max = float(curves.min()) - COVERAGE_MARGIN, float(curves.max()) + COVERAGE_MARGIN
        ratio_nodes = np.linspace(ratio_min, ratio_max, nodes)
        zeff = np.empty((a_nodes.size, ratio_nodes.size), np.float32)
        for i in range(a_nodes.size):
            kept_ratio, kept_z = _monotone_in_z(curves[:, i], z)
            zeff[i] = np.interp(ratio_nodes, kept_ratio, kept_z)
        grid = ZeffGrid(zeff, a_high_max=float(a_nodes[-1]), ratio_min=ratio_min, ratio_max=ratio_max)
        return cls(scanner, grid, tuple(ordered), curves.min(axis=0), curves.max(axis=0))

    def misfit(self, a_high: np.ndarray, a_low: np.ndarray, decided: np.ndarray) -> np.ndarray:
        """How far each pixel's ratio lies outside the reference materials' span at its ``A_high``
        (0 inside, with :data:`COVERAGE_MARGIN`), where ``decided``; NaN elsewhere."""
        a_nodes = np.linspace(0.0, self.grid.a_high_max, self.lowest.size)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = a_low / a_high
        low = np.interp(a_high, a_nodes, self.lowest) - COVERAGE_MARGIN
        high = np.interp(a_high, a_nodes, self.highest) + COVERAGE_MARGIN
        outside = np.maximum(low - ratio, ratio - high).clip(0.0)
        beyond = a_high > self.grid.a_high_max  # thicker than any reference measured
        return np.where(decided, np.where(beyond, np.inf, outside), np.nan)

    def material_table(
        self,
        *,
        min_attenuation: float = 0.5,
        max_attenuation: float | None = None,
        averaged_pixels: int = MATERIAL_SMOOTHING_PX**2,
    ) -> MaterialTable:
        """The :class:`nii.kernels.MaterialTable` for this scanner.

        ``max_attenuation`` defaults to the thickest a pixel's class can be told at
        (:meth:`decidable_attenuation`, with the noise of ``averaged_pixels`` pixels averaged: by default the
        :data:`MATERIAL_SMOOTHING_PX` square the materials step and the renderer average). For a measured
        table (no scanner model) it is the thickest reference measured.
        """
        if averaged_pixels < 1:
            raise ValidationError(f"averaged_pixels must be at least 1, got {averaged_pixels}")
        if max_attenuation is None:
            max_attenuation = self.grid.a_high_max
            if self.scanner in SCANNERS:
                max_attenuation = min(self.decidable_attenuation(averaged_pixels), max_attenuation)
                if max_attenuation <= min_attenuation:
                    raise ValidationError(
                        f"{self.scanner}: averaged over {averaged_pixels} pixel(s), no attenuation above "
                        f"{min_attenuation} is decidable (the ratio's noise stays over {DECIDABLE_NOISE:.1%} of the "
                        "reference materials' span); average more pixels"
                    )
        return MaterialTable(min_attenuation=min_attenuation, max_attenuation=max_attenuation)

    def decidable_attenuation(self, averaged_pixels: int) -> float:
        """The largest attenuation (of either channel) at which the ratio's noise stays below
        :data:`DECIDABLE_NOISE` of the reference materials' ratio span, for the material of the largest
        ratio (the first to starve in the low channel), values averaged over ``averaged_pixels`` pixels.

        The noise of a pixel's attenuation comes from the scanner's detector model: Poisson quanta and the
        electronic noise (in quanta), ``sqrt((n + s²) / m) / n`` with ``n = air_quanta × e^−A``. The
        material table caps both channels with one value, so it is the low channel's attenuation at
        the last ``A_high`` where the noise is small enough.
        """
        detector = SCANNERS[self.scanner].detector
        quanta = detector.air_quanta
        electronic = detector.electronic_noise_counts * quanta / (detector.air_fraction * (2**detector.bits - 1))
        a_nodes = np.linspace(0.0, self.grid.a_high_max, self.highest.size)[1:]
        ratio, span = self.highest[1:], (self.highest - self.lowest)[1:]

        def noise(a: np.ndarray) -> np.ndarray:
            detected = quanta * np.exp(-a)
            return np.sqrt((detected + electronic**2) / averaged_pixels) / detected

        ratio_noise = np.hypot(noise(ratio * a_nodes), ratio * noise(a_nodes)) / a_nodes
        decidable = np.flatnonzero(ratio_noise <= DECIDABLE_NOISE * span)
        if not decidable.size:
            return float(a_nodes[0])
        last = decidable[-1]
        return float(ratio[last] * a_nodes[last])

    def classify(self, a_high: np.ndarray, a_low: np.ndarray, table: MaterialTable | None = None) -> np.ndarray:
        """Material classes (uint8 :class:`nii.kernels.MaterialClass`) of float32 attenuation images."""
        return material_classes(a_high, a_low, self.grid, table if table is not None else self.material_table())


def _monotone_in_z(ratio: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The reference points, in order of Z, that keep the ratio moving one way, sorted by ratio."""
    # Judged against the middle material: thin high-Z layers can reverse the ends' order.
    direction = np.sign(ratio[ratio.size // 2] - ratio[0]) or 1.0
    keep = [0]
    for index in range(1, ratio.size):
        if (ratio[index] - ratio[keep[-1]]) * direction > 0:
            keep.append(index)
    kept_ratio, kept_z = ratio[keep], z[keep]
    order = np.argsort(kept_ratio)
    return kept_ratio[order], kept_z[order]

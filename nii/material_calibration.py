"""A scanner's dual-energy response measured on step wedges, instead of computed from a nominal model.

A real scanner's spectra differ from any model (filtration, detector depth, target), and the ratio
``A_low / A_high`` of a material moves with them: a table computed from the nominal model then
names steel as lead. Scans of step wedges of known materials and area densities measure the
response itself:

* :class:`WedgeSet` (``wedges.toml``): the wedges of a scan, top to bottom, each a material and its
  steps' area densities from left to right;
* :func:`measure_wedges`: the median ``(A_high, A_low)`` of every step found in a calibrated scan;
* :class:`MaterialCalibration`: the measured curve ``A_low / A_high`` against ``A_high`` of every
  material, saved as ``scanner.toml``; it gives the :class:`~nii.calibration.ZeffTable` of the
  ``materials`` step and, from an iron or steel wedge, the :class:`~nii.calibration.SteelEquivalentCurve`
  of the ``steel`` step (``materials=scanner.toml``, ``steel=scanner.toml``).

Examples
--------
>>> calibration = MaterialCalibration.fit([scan], WedgeSet.load("wedges.toml"))  # doctest: +SKIP
>>> calibration.save("scanner.toml")  # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nii.calibration import SteelEquivalentCurve, ZeffTable
from nii.errors import ConfigurationError, ValidationError
from nii.io import atomic_output
from nii.materials import MATERIALS, effective_z

__all__ = ["MaterialCalibration", "Wedge", "WedgeSet", "measure_wedges", "plateaus"]

MIN_STEP_PIXELS = 30
"""Smallest step (pixels after erosion) measured: smaller blobs are edges or noise."""


@dataclass(frozen=True)
class Wedge:
    """One step wedge: its material (a name of :data:`nii.physics.MATERIALS`) and its steps' area densities."""

    material: str
    area_density_g_cm2: tuple[float, ...]

    def __post_init__(self) -> None:
        if self.material not in MATERIALS:
            raise ValidationError(f"unknown wedge material {self.material!r}; known: {sorted(MATERIALS)}")
        if not self.area_density_g_cm2 or not all(v > 0 for v in self.area_density_g_cm2):
            raise ValidationError(f"wedge {self.material}: area densities must be positive numbers")


@dataclass(frozen=True)
class WedgeSet:
    """The wedges of a calibration scan, from the top of the image down (``wedges.toml``)::

    [[wedge]]
    material = "polyethylene"
    area_density_g_cm2 = [5.0, 8.9, 15.9]
    """

    wedges: tuple[Wedge, ...]

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> WedgeSet:
        source = Path(path)
        try:
            data = tomllib.loads(source.read_text(encoding="utf-8"))
            wedges = tuple(
                Wedge(entry["material"], tuple(float(v) for v in entry["area_density_g_cm2"]))
                for entry in data["wedge"]
            )
        except OSError as error:
            raise ConfigurationError(f"cannot read wedges: {error.strerror}", path=source) from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
            problem = f"wedges need [[wedge]] material and area_density_g_cm2: {error}"
            raise ConfigurationError(problem, path=source) from error
        if not wedges:
            raise ConfigurationError("no [[wedge]] given", path=source)
        return cls(wedges)


def plateaus(a_high: np.ndarray) -> np.ndarray:
    """True on pixels of matter (not air) close to their neighbourhood's mean: not on an edge, where
    the two channels (half a line apart) and the blur mix two materials into a ratio of neither."""
    smooth = cv2.blur(a_high, (9, 9))
    flat = (smooth > 0.04) & (np.abs(cv2.blur(a_high, (3, 3)) - smooth) < 0.03 + 0.03 * smooth)
    return cv2.erode(flat.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)


def measure_wedges(a_high: np.ndarray, a_low: np.ndarray, wedges: WedgeSet) -> list[tuple[str, float, float, float]]:
    """``(material, area density, A_high, A_low)`` of every step: medians over its inner pixels.

    Steps are the plateaus of the object (``A_high`` above the air noise, flat), grouped into as
    many bands as there are wedges by their height, then taken left to right as the wedges list
    them; steps too thick to give a plateau (photon-starved) must be the last of a wedge and are
    left out.
    """
    inner = plateaus(a_high).astype(np.uint8)
    count, labels, stats, centres = cv2.connectedComponentsWithStats(inner)
    blocks = [k for k in range(1, count) if stats[k, cv2.CC_STAT_AREA] >= MIN_STEP_PIXELS]
    bands = len(wedges.wedges)
    if len(blocks) < bands:
        raise ValidationError(f"found {len(blocks)} blocks in the scan, the wedges need {bands} bands")
    by_height = sorted(blocks, key=lambda k: centres[k][1])
    gaps = np.diff([centres[k][1] for k in by_height])
    cuts = sorted(np.argsort(gaps)[::-1][: bands - 1] + 1)
    points = []
    for wedge, band in zip(wedges.wedges, np.split(np.array(by_height), cuts), strict=True):
        steps = sorted(band, key=lambda k: centres[k][0])
        given = wedge.area_density_g_cm2
        if not 2 <= len(steps) <= len(given):
            raise ValidationError(f"wedge {wedge.material}: found {len(steps)} steps, wedges.toml gives {len(given)}")
        # Steps too thick to measure (starved: noise, not a plateau) are the last ones, left out.
        for k, area in zip(steps, given[: len(steps)], strict=True):
            pixels = labels == k
            points.append((wedge.material, area, float(np.median(a_high[pixels])), float(np.median(a_low[pixels]))))
    return points


@dataclass(frozen=True)
class MaterialCalibration:
    """Measured dual-energy curves of one scanner: per material, ``A_high`` and ``A_low`` of its steps."""

    scanner: str
    curves: Mapping[str, tuple[np.ndarray, np.ndarray, np.ndarray]]
    """material → (area densities g/cm², A_high, A_low), sorted by A_high."""

    @classmethod
    def fit(
        cls, points: Sequence[tuple[str, float, float, float]], *, scanner: str = "measured"
    ) -> MaterialCalibration:
        """Collect measured steps (from :func:`measure_wedges`, of one or more scans) into curves."""
        curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        for material in sorted({p[0] for p in points}, key=effective_z):
            rows = np.array(sorted((p[2], p[1], p[3]) for p in points if p[0] == material))
            usable = rows[(rows[:, 0] > 0.05) & np.isfinite(rows).all(axis=1)]
            if len(usable) < 2:
                raise ValidationError(f"material {material}: fewer than two usable steps measured")
            curves[material] = (usable[:, 1], usable[:, 0], usable[:, 2])
        if len(curves) < 2:
            raise ValidationError("a material calibration needs wedges of at least two materials")
        return cls(scanner, curves)

    def zeff_table(self, *, nodes: tuple[int, int] = (97, 257)) -> ZeffTable:
        """The effective-Z table of the measured curves (ratios held constant beyond a curve's ends)."""
        a_high_max = max(float(a_high[-1]) for _, a_high, _ in self.curves.values())
        a_nodes = np.linspace(0.0, a_high_max, nodes[0])
        ratios = {
            material: np.interp(a_nodes, a_high, a_low / a_high) for material, (_, a_high, a_low) in self.curves.items()
        }
        return ZeffTable.from_ratios(self.scanner, a_nodes, ratios, nodes=nodes[1])

    def steel_curve(self, channel: str = "high") -> SteelEquivalentCurve:
        """Steel-equivalent thickness from the iron (or steel) wedge's measured attenuation of ``channel``."""
        name = next((m for m in ("steel", "iron") if m in self.curves), None)
        if name is None:
            raise ValidationError(f"calibration {self.scanner!r} has no iron or steel wedge for steel equivalents")
        area, a_high, a_low = self.curves[name]
        attenuation = np.concatenate([[0.0], a_high if channel == "high" else a_low])
        thickness = np.concatenate([[0.0], 10.0 * area / MATERIALS[name].density_g_cm3])
        order = np.argsort(attenuation)
        points = 2048
        step = float(attenuation.max()) / (points - 1)
        curve = np.interp(step * np.arange(points), attenuation[order], thickness[order]).astype(np.float32)
        return SteelEquivalentCurve(self.scanner, channel, step, curve)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write ``scanner.toml`` atomically."""
        lines = [f"[scanner]\nname = {self.scanner!r}\n".replace("'", '"')]
        for material, (area, a_high, a_low) in self.curves.items():
            lines.append(
                f"[material.{material}]\nz = {effective_z(material):.4g}\n"
                f"area_density_g_cm2 = {_floats(area)}\na_high = {_floats(a_high)}\na_low = {_floats(a_low)}\n"
            )
        target = Path(path)
        with atomic_output(target) as temporary:
            temporary.write_text("\n".join(lines), encoding="utf-8")
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> MaterialCalibration:
        source = Path(path)
        try:
            data: dict[str, Any] = tomllib.loads(source.read_text(encoding="utf-8"))
            curves = {
                name: tuple(np.asarray(entry[key], np.float64) for key in ("area_density_g_cm2", "a_high", "a_low"))
                for name, entry in data["material"].items()
            }
            return cls(str(data["scanner"]["name"]), curves)  # type: ignore[arg-type]
        except OSError as error:
            raise ConfigurationError(f"cannot read material calibration: {error.strerror}", path=source) from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError, KeyError, TypeError, ValueError) as error:
            raise ConfigurationError(f"not a material calibration: {error}", path=source) from error


def _floats(values: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.6g}" if math.isfinite(v) else "nan" for v in values) + "]"

"""The figures of a pilot, from its converted scans: interoperability, image quality, agreement."""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

import nii
from nii import quality
from nii.calibration import ZeffTable
from nii.compare import compare_scans, material_agreement, write_pictures
from nii.errors import NiiError
from nii.formats.dicos.validate import validate_paths
from nii.model import Scan
from nii.pilot.config import PilotConfig
from nii.pilot.reference import reference_toolkit_reads
from nii.pilot.run import Record, finite_or_none
from nii.pipeline import Recipe, convert_scan
from nii.progress import progress
from nii.simulate.solids import SUPERSAMPLING
from nii.simulate.targets import layout_for
from nii.steps import STEPS, OrientParameters
from nii.values import attenuation_of

__all__ = ["METADATA_FIELDS", "agreement", "interoperability", "lost_metadata", "quality_figures"]

METADATA_FIELDS: dict[str, Any] = {
    "acquired_at": lambda s: s.acquired_at,
    "scan_uid": lambda s: s.scan_uid,
    "scanner.manufacturer": lambda s: s.scanner.manufacturer,
    "scanner.model": lambda s: s.scanner.model,
    "scanner.serial_number": lambda s: s.scanner.serial_number,
    "scanner.software_version": lambda s: s.scanner.software_version,
    "scanner.energies_kv": lambda s: dict(s.scanner.energies_kv or {}),
    "scanner.line_rate_hz": lambda s: s.scanner.line_rate_hz,
    "scanner.speed_mm_s": lambda s: s.scanner.speed_mm_s,
    "object.type": lambda s: str(s.inspected_object.type),
    "object.container_numbers": lambda s: tuple(s.inspected_object.container_numbers),
    "object.licence_plate": lambda s: s.inspected_object.licence_plate,
    "object.identifier": lambda s: s.inspected_object.identifier,
    "site.name": lambda s: s.site.name,
    "views": lambda s: [v.name for v in s.views],
    "pixel spacing": lambda s: [
        (round(v.geometry.detector_spacing_mm, 6), round(v.geometry.travel_spacing_mm, 6)) for v in s.views
    ],
    "line positions": lambda s: [v.geometry.line_positions_mm is not None for v in s.views],
    "dark/air references": lambda s: [sorted(v.dark) for v in s.views],
    "reference detector": lambda s: [sorted(v.reference) for v in s.views],
    "threats": lambda s: len(s.threats),
    "threat masks": lambda s: [t.mask is not None for t in s.threats],
    "processing history": lambda s: [step.name for step in s.provenance.steps],
}
"""Metadata a vendor file should carry, and how to read it from a scan."""


def lost_metadata(original: Scan, read_back: Scan) -> list[str]:
    """Names of :data:`METADATA_FIELDS` that differ between the simulated scan and its vendor file read back."""
    lost = []
    for name, get in METADATA_FIELDS.items():
        try:
            same = get(original) == get(read_back)
        except (AttributeError, TypeError):
            same = False
        if not same:
            lost.append(name)
    return lost


def _round_trip(record: Record, recipe: Recipe) -> bool:
    """True when every channel read back from the DICOS equals the converted scan's, bit for bit."""
    expected = convert_scan(nii.read(record.vendor_path), recipe)
    found = nii.read(record.dicos_path)
    for view in expected.views:
        other = found.view(view.name)
        for name, array in view.channels.items():
            if name not in other.channels or not np.array_equal(np.asarray(array), np.asarray(other.channels[name])):
                return False
    return True


def interoperability(records: list[Record], recipe: Recipe) -> dict[str, Any]:
    """Per scanner: DICOS files validated (and their errors), exact round trips, metadata its format lost."""
    result: dict[str, Any] = {}
    for scanner in sorted({r.scanner for r in records}):
        mine = [r for r in records if r.scanner == scanner]
        reports = validate_paths([r.dicos_path for r in mine])
        errors = [f"{report.path.name}: {finding.message}" for report in reports for finding in report.errors]
        trips = [_round_trip(r, recipe) for r in progress(mine, desc=f"round trip {scanner}", unit="scan")]
        lost: set[str] = set()
        for record in mine:
            if record.simulated is not None:
                lost.update(lost_metadata(record.simulated, nii.read(record.vendor_path)))
        result[scanner] = {
            "dicos_files": len(reports),
            "dicos_valid": sum(report.ok for report in reports),
            "reference_toolkit": reference_toolkit_reads([report.path for report in reports]),
            "errors": errors[:20],
            "round_trips_exact": sum(trips),
            "round_trips": len(trips),
            "metadata_not_carried": sorted(lost),
        }
    return result


def _oriented_view(path: Path) -> Any:
    scan, _ = STEPS["orient"](nii.read(path), OrientParameters())
    return scan.views[0]


def _test_object_figures(record: Record) -> dict[str, Any]:
    """Measured and predicted figures of one test-object scan (read from its DICOS)."""
    assert record.truth is not None and record.model is not None
    view = _oriented_view(record.dicos_path)
    channel = "high" if "high" in view.channels else "single"
    measured = attenuation_of(view, channel)
    geometry = view.geometry
    noise_free = -np.log(record.truth.views["side"].transmission[channel]).astype(np.float32)
    detector = record.model.detector
    layout = layout_for(record.model.source)  # cargo or baggage size
    penetration = quality.penetration(measured, geometry, layout=layout)
    wires = quality.wire_detection(measured, geometry, layout=layout)
    contrast = quality.contrast_sensitivity(measured, geometry, layout=layout)
    penetration_physics = quality.penetration(noise_free, geometry, noise_model=detector, layout=layout)
    wires_physics = quality.wire_detection(noise_free, geometry, noise_model=detector, layout=layout)
    contrast_physics = quality.contrast_sensitivity(noise_free, geometry, noise_model=detector, layout=layout)
    edges = quality.resolution(measured, geometry, layout=layout)
    return {
        "penetration_mm": (penetration.limit, penetration_physics.limit),
        "penetration_curve": {
            "steel_mm": penetration.sizes.tolist(),
            "measured": penetration.detectability.tolist(),
            "predicted": penetration_physics.detectability.tolist(),
        },
        "wire_mm": (wires.thinnest_mm, wires_physics.thinnest_mm),
        "wire_scores": {"diameter_mm": wires.diameter_mm.tolist(), "measured": wires.score.tolist()},
        "contrast_percent": (contrast.limit, contrast_physics.limit),
        "mtf50_travel": (
            edges["travel"].mtf50,
            quality.aperture_mtf50(geometry.travel_spacing_mm, samples=SUPERSAMPLING),
        ),
        "mtf50_detector": (
            edges["detector"].mtf50,
            quality.aperture_mtf50(geometry.detector_spacing_mm, samples=SUPERSAMPLING),
        ),
        "mtf_curve": {  # up to the sampling frequency (twice Nyquist)
            "frequency": edges["travel"]
            .frequency[edges["travel"].frequency <= 1 / geometry.travel_spacing_mm]
            .tolist(),
            "travel": edges["travel"].mtf[edges["travel"].frequency <= 1 / geometry.travel_spacing_mm].tolist(),
        },
    }


def _confusion(record: Record, minimum_g_cm2: float) -> np.ndarray:
    """Material confusion of one steps scan (classes from the DICOS, expected classes from the truth)."""
    assert record.truth is not None
    scan = nii.read(record.dicos_path)
    view = convert_scan(scan, Recipe.parse("orient,materials", target="npz")).views[0]  # the truth is canonical
    side = record.truth.views["side"]
    table = ZeffTable.from_scanner(record.truth.scanner).material_table()
    thick = np.maximum(-np.log(side.transmission["high"]), -np.log(side.transmission["low"]))
    chosen = (
        quality.interior(side.label, 3) & (side.area_density_g_cm2 >= minimum_g_cm2) & (thick <= table.max_attenuation)
    )
    expected = [quality.expected_class(material) for material in record.truth.materials]
    return quality.material_confusion(np.asarray(view.channels["material"]), side.label, expected, chosen)


def quality_figures(config: PilotConfig, records: list[Record]) -> dict[str, Any]:
    """Per simulated scanner: each figure's mean and spread over the repeated scans, with its prediction."""
    result: dict[str, Any] = {}
    for scanner in config.scanners:
        runs = [r for r in records if r.scanner == scanner.name and r.kind == "test-objects"]
        if not runs:
            continue
        figures = [_test_object_figures(r) for r in progress(runs, desc=f"quality {scanner.name}", unit="scan")]
        entry: dict[str, Any] = {}
        for key in ("penetration_mm", "wire_mm", "contrast_percent", "mtf50_travel", "mtf50_detector"):
            entry[key] = {
                "measured": quality.summarise([f[key][0] for f in figures]),
                "predicted": finite_or_none(figures[0][key][1]),
            }
        entry["penetration_curve"] = figures[0]["penetration_curve"]
        entry["wire_scores"] = figures[0]["wire_scores"]
        entry["mtf_curve"] = figures[0]["mtf_curve"]
        steps = [r for r in records if r.scanner == scanner.name and r.kind == "steps"]
        if steps:
            matrix = np.sum([_confusion(r, config.quality.material_min_g_cm2) for r in steps], axis=0)
            present = [c for c in range(1, matrix.shape[0]) if matrix[c].sum() > 0]
            entry["materials"] = {
                "confusion": np.asarray(matrix).tolist(),
                "min_area_density_g_cm2": config.quality.material_min_g_cm2,
                "correct_by_class": {str(c): float(matrix[c, c] / matrix[c].sum()) for c in present},
                "correct": float(sum(matrix[c, c] for c in present) / max(1, sum(matrix[c].sum() for c in present))),
            }
        result[scanner.name] = entry
    return result


def _pair_figures(reference: Scan, moving: Scan, view: str, pictures: Path | None) -> dict[str, Any]:
    comparison = compare_scans(reference, moving, view=view)
    figures = {
        "view": view,
        "confidence": comparison.confidence,
        "converged": comparison.registration.converged,
        "ncc": comparison.ncc,
        "ssim": comparison.ssim,
        "psnr_db": comparison.psnr_db,
        "offset_mm": comparison.parameters["offset_mm"],
        "scale_travel": comparison.parameters["scale_travel"],
        "rotation_deg": comparison.parameters["rotation_deg"],
        "steel_difference_mm": comparison.steel_difference_mm,
        "material_agreement": material_agreement(reference, moving, comparison),
    }
    if pictures is not None:
        figures["pictures"] = {path.stem: str(path) for path in write_pictures(comparison, pictures)}
    return figures


def agreement(config: PilotConfig, records: list[Record], out: Path) -> dict[str, Any]:
    """Every object across every pair of scanners (every view both have), and unrelated objects as a contrast."""
    scans = {(r.scanner, r.object): r for r in records if r.kind == "object"}
    names = [s.name for s in config.scanners]
    same: list[dict[str, Any]] = []
    unrelated: list[dict[str, Any]] = []
    pairs = list(itertools.combinations(names, 2)) or [(names[0], names[0])]
    objects = [o.name for o in config.objects]
    tasks = [(a, b, o, o) for a, b in pairs for o in objects]
    if len(objects) > 1:
        tasks += [(a, b, o, objects[(i + 1) % len(objects)]) for a, b in pairs for i, o in enumerate(objects)]
    for a, b, first, second in progress(tasks, desc="comparing", unit="pair"):
        reference = nii.read(scans[(a, first)].dicos_path)
        moving = nii.read(scans[(b, second)].dicos_path)
        moving_views = {view.name for view in moving.views}
        for view in [v.name for v in reference.views if v.name in moving_views]:
            row: dict[str, Any] = {"reference": a, "moving": b, "reference_object": first, "moving_object": second}
            if first == second:
                pictures = out / "comparisons" / first / f"{a}-vs-{b}-{view}"
                same.append(row | _pair_figures(reference, moving, view, pictures))
                continue
            try:
                unrelated.append(row | _pair_figures(reference, moving, view, None))
            except NiiError as error:  # unrelated scans may share too little to compare: that is a result too
                unrelated.append(row | {"view": view, "confidence": 0.0, "error": str(error)})
    confidences = [row["confidence"] for row in same]
    others = [row["confidence"] for row in unrelated]
    return {
        "same_object": same,
        "unrelated": unrelated,
        "summary": {
            "same_object_confidence": quality.summarise(confidences),
            "unrelated_confidence": quality.summarise(others),
            "separation": finite_or_none(min(confidences) - max(others)) if confidences and others else None,
        },
    }


def figure_text(value: Any, digits: int = 2) -> str:
    """A number for a table (``—`` when missing)."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    return f"{value:.{digits}f}"

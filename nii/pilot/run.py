"""Run a pilot: produce or collect every scanner's files, convert them to DICOS, and measure.

:func:`run_pilot` writes under ``out``::

    scans/SCANNER/OBJECT.EXT          each simulated scanner's files, in its vendor format
    dicos/SCANNER/OBJECT/             every scan converted to DICOS with the pilot's normalisation
    comparisons/OBJECT/A-vs-B/        difference, checkerboard and flicker pictures
    results.json, report.html         every figure, computed in this run (see :mod:`nii.pilot.report`)

Figures: image quality per simulated scanner (:mod:`nii.quality` on the test objects, measured on the
DICOS files and predicted from the simulator's truth), agreement across scanners (:mod:`nii.compare`),
interoperability (DICOS validation, exact pixel round trip, metadata the vendor format did not carry)
and conversion throughput (scans/s, MB/s over rounds).
"""

from __future__ import annotations

import logging
import math
import sys
import time
import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

import nii
from nii.errors import ConfigurationError, NiiError
from nii.model import Box, Geometry, Scan, SourceKind, TravelDirection
from nii.physics import SCANNERS, ScannerModel
from nii.pilot.config import ObjectSpec, PilotConfig, ScannerSpec
from nii.pipeline import Job, Recipe, run_job
from nii.progress import progress
from nii.registry import get_format
from nii.simulate import SCENARIOS, Truth, simulate

__all__ = ["Record", "produce", "run_pilot", "travelling_right_to_left"]

log = logging.getLogger(__name__)

QUALITY_SEED = 1000
"""Seeds of the repeated test-object scans start here (the steps wedges at twice this)."""


@dataclass
class Record:
    """One scan of the pilot: which scanner saw what, where its files are, and the truth when simulated."""

    scanner: str
    object: str
    kind: str  # "object", "test-objects" or "steps"
    vendor_path: Path
    dicos_path: Path
    simulated: Scan | None = None
    truth: Truth | None = None
    model: ScannerModel | None = None
    conversions: list[dict[str, Any]] = field(default_factory=list)


def _say(message: str) -> None:
    print(f"pilot: {message}", file=sys.stderr, flush=True)


def _suffix(scanner: ScannerSpec) -> str:
    extensions = get_format(scanner.format).extensions
    return extensions[0] if extensions else ".dat"


def scanner_model(scanner: ScannerSpec) -> ScannerModel:
    """The physics model of a simulated scanner, with its ADC's bits when the pilot sets them (electronic
    noise kept in proportion to the full scale)."""
    if scanner.model is None:
        raise ConfigurationError(f"scanner {scanner.name!r} is not simulated")
    model = SCANNERS[scanner.model]
    if scanner.bits is None or scanner.bits == model.detector.bits:
        return model
    detector = model.detector
    noise = detector.electronic_noise_counts * (2**scanner.bits - 1) / detector.full_scale
    return replace(model, detector=replace(detector, bits=scanner.bits, electronic_noise_counts=noise))


def _simulate_one(
    scanner: ScannerSpec, scenario: str, seed: int, scale: float, out: Path, name: str, kind: str
) -> Record:
    model = scanner_model(scanner)
    # One object for every scanner (its layout drawn from the object's seed, as `nii simulate` does); each
    # scanner's own noise (seeded by the scanner's name too).
    phantom = SCENARIOS[scenario].build(np.random.default_rng(seed), model)
    noise_seed = seed * 1000 + zlib.crc32(scanner.name.encode()) % 1000
    scan, truth = simulate(
        phantom,
        scanner=model,
        seed=noise_seed,
        scale=scale,
        speed_variation=scanner.speed_variation,
        threats_in_scan=kind == "object",  # as a scanner with automatic threat recognition writes them
    )
    if scanner.travel is TravelDirection.RIGHT_TO_LEFT:
        scan = travelling_right_to_left(scan)
    path = out / "scans" / scanner.name / f"{name}{_suffix(scanner)}"
    path.parent.mkdir(parents=True, exist_ok=True)
    nii.write(scan, path, format=scanner.format)
    return Record(scanner.name, name, kind, path, out / "dicos" / scanner.name / name, scan, truth, model)


def travelling_right_to_left(scan: Scan) -> Scan:
    """The scan as a scanner whose lines run against the travel writes it: columns, line references, line
    positions and threat boxes mirrored, the geometry saying so (the ``orient`` step undoes it)."""
    views = []
    for view in scan.views:
        g = view.geometry
        positions = None if g.line_positions_mm is None else g.line_positions_mm[-1] - g.line_positions_mm[::-1]
        geometry = Geometry(
            g.detector_spacing_mm, g.travel_spacing_mm, TravelDirection.RIGHT_TO_LEFT, g.row_order, positions
        )
        channels = {name: np.ascontiguousarray(np.asarray(array)[:, ::-1]) for name, array in view.channels.items()}
        references = {name: values[::-1] for name, values in view.reference.items()}
        views.append(view.with_channels(channels, geometry=geometry, reference=references))
    lines = {view.name: view.shape[1] for view in scan.views}
    threats = [
        replace(
            threat,
            box=Box(
                lines[threat.view] - threat.box.x - threat.box.width, threat.box.y, threat.box.width, threat.box.height
            ),
            mask=None if threat.mask is None else threat.mask[:, ::-1],
            polygon=None,
        )
        for threat in scan.threats
    ]
    return replace(scan, views=views, threats=threats)


def _quality_runs(config: PilotConfig, scanner: ScannerSpec) -> list[tuple[str, str, int, float, str]]:
    """(scenario, name, seed, scale, kind) of the test-object scans of one simulated scanner."""
    model = SCANNERS.get(scanner.model or "")
    if not config.quality.enabled or not scanner.simulated or model is None:
        return []
    repeats = range(config.quality.repeats)
    runs = [("test-objects", f"test-objects-{r + 1}", QUALITY_SEED + r, 1.0, "test-objects") for r in repeats]
    # Material discrimination is scored on linacs' wedges; a kV tube's table cannot name lead high Z.
    if "low" in model.channels and model.source is SourceKind.LINAC:
        runs += [
            ("steps", f"steps-{r + 1}", 2 * QUALITY_SEED + r, config.quality.steps_scale, "steps")
            for r in range(config.quality.repeats)
        ]
    return runs


def produce(config: PilotConfig, out: Path) -> list[Record]:
    """Simulate each simulated scanner's scans (objects, then test objects) and collect the real files."""
    tasks: list[tuple[ScannerSpec, ObjectSpec | None, tuple[str, str, int, float, str] | None]] = []
    for scanner in config.scanners:
        tasks += [(scanner, obj, None) for obj in config.objects]
        tasks += [(scanner, None, run) for run in _quality_runs(config, scanner)]
    records = []
    for scanner, obj, run in progress(tasks, desc="scanning", unit="scan"):
        if obj is not None and not scanner.simulated:
            path = obj.files[scanner.name]
            records.append(Record(scanner.name, obj.name, "object", path, out / "dicos" / scanner.name / obj.name))
        elif obj is not None:
            assert obj.scenario is not None
            scale = obj.scale if obj.scale is not None else scanner.scale
            records.append(_simulate_one(scanner, obj.scenario, obj.seed, scale, out, obj.name, "object"))
        elif run is not None:
            scenario, name, seed, scale, kind = run
            records.append(_simulate_one(scanner, scenario, seed, scale, out, name, kind))
    return records


def convert_all(config: PilotConfig, records: list[Record]) -> Recipe:
    """Convert every record to DICOS ``throughput_rounds`` times (timed; outputs replaced atomically)."""
    options: dict[str, Any] = {"compression": config.compression} if config.compression != "none" else {}
    recipe = Recipe.parse(config.normalize, target="dicos", **options)
    for round_index in progress(range(config.throughput_rounds), desc="converting", unit="round"):
        for record in records:
            record.dicos_path.parent.mkdir(parents=True, exist_ok=True)
            result = run_job(Job(record.vendor_path, record.dicos_path), recipe)
            if result.status != "ok":
                raise NiiError(f"conversion of {record.vendor_path} failed: {result.error}")
            record.conversions.append(
                {"round": round_index, "seconds": result.seconds, "input_bytes": _size(record.vendor_path)}
            )
    return recipe


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


def throughput(records: list[Record], rounds: int) -> dict[str, Any]:
    """Scans/s and MB/s (input bytes) of each scanner's conversion, mean and spread over the rounds."""
    result = {}
    for scanner in sorted({r.scanner for r in records}):
        mine = [r for r in records if r.scanner == scanner]
        rates, speeds = [], []
        for round_index in range(rounds):
            rows = [c for r in mine for c in r.conversions if c["round"] == round_index]
            seconds = sum(c["seconds"] for c in rows)
            rates.append(len(rows) / seconds)
            speeds.append(sum(c["input_bytes"] for c in rows) / 1e6 / seconds)
        result[scanner] = {
            "scans": len(mine),
            "rounds": rounds,
            "scans_per_s": _spread(rates),
            "mb_per_s": _spread(speeds),
            "first_round_scans_per_s": rates[0],
        }
    return result


def _spread(values: list[float]) -> dict[str, float]:
    array = np.asarray(values, np.float64)
    return {
        "mean": float(array.mean()),
        "std": float(array.std(ddof=1)) if array.size > 1 else 0.0,
        "min": float(array.min()),
        "max": float(array.max()),
    }


def run_pilot(config: PilotConfig, out: str | Path) -> dict[str, Any]:
    """Run every stage of a pilot into ``out``; return the results (also written as results.json and report.html)."""
    from nii.pilot.measure import agreement, interoperability, quality_figures
    from nii.pilot.report import write_report, write_results

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    _say(f"{config.title}: {len(config.scanners)} scanners, {len(config.objects)} objects")
    records = produce(config, folder)
    _say(f"{len(records)} scans produced or collected; converting to DICOS ({config.normalize})")
    recipe = convert_all(config, records)
    results: dict[str, Any] = {
        "pilot": {
            "name": config.name,
            "title": config.title,
            "description": config.description,
            "normalize": config.normalize,
            "compression": config.compression,
            "nii_version": nii.__version__,
            "scanners": [
                {
                    "name": s.name,
                    "model": s.model,
                    "format": s.format if s.simulated else "real files",
                    "simulated": s.simulated,
                }
                for s in config.scanners
            ],
            "objects": [{"name": o.name, "scenario": o.scenario, "seed": o.seed} for o in config.objects],
        },
        "throughput": throughput(records, config.throughput_rounds),
    }
    _say("checking interoperability (validation, round trip, metadata)")
    results["interoperability"] = interoperability(records, recipe)
    _say("measuring image quality on the test objects")
    results["quality"] = quality_figures(config, records)
    _say("registering and comparing the scanners' scans")
    results["agreement"] = agreement(config, records, folder)
    results["seconds"] = time.perf_counter() - started
    write_results(results, folder / "results.json")
    write_report(results, records, folder / "report.html")
    _say(f"done in {results['seconds']:.1f} s: {folder / 'report.html'}")
    return results


def finite_or_none(value: float | None) -> float | None:
    """JSON has no NaN: a missing figure is null."""
    return None if value is None or not math.isfinite(value) else float(value)

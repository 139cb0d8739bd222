"""Simulate a scan: project a phantom, apply the physics and the detector, and keep the truth.

:func:`simulate` returns a :class:`~nii.model.Scan` in RAW calibration state (detector
counts with their dark and air references and the reference-detector values of every
line) and a :class:`Truth`: per pixel the dominant material, the area density and the
thickness crossed, the noise-free transmission of every channel, the dead elements, and
the known threats as :class:`~nii.model.Threat` with origin GROUND TRUTH.

The truth is given on the nominal sampling of each view (the lines' own positions);
channels displaced by a fraction of a line (interlaced pulses, offset detector layers)
sample the object at their own positions, as a real scanner does, and their noise-free
transmission in the truth is at those positions.

Results depend only on the arguments: the same seed gives the same bytes.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

import nii
from nii.errors import CorruptFileError, FileAccessError, ValidationError
from nii.io import atomic_output
from nii.kernels.raster import dominant_material
from nii.kernels.spectral import polychromatic_transmission
from nii.limits import check_image_size
from nii.materials import Material, effective_z, mass_attenuation
from nii.model import Box, CalibrationState, Geometry, Scan, Scanner, Site, Threat, ThreatOrigin, View
from nii.physics import SCANNERS, ScannerModel
from nii.progress import progress
from nii.provenance import ProcessingStep, Provenance
from nii.simulate.assembly import Phantom
from nii.simulate.detector import draw_dead_elements, draw_elements, draw_intensity, expose
from nii.simulate.phantoms import SCENARIOS
from nii.simulate.solids import Grid

__all__ = ["REFERENCE_LINES", "TILE_LINES", "WORKERS", "Projection", "Truth", "ViewTruth", "project", "simulate"]

TILE_LINES = 256
"""Lines simulated at a time (bounds memory; fixed so results never depend on it)."""
WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads simulating tiles at once."""
REFERENCE_LINES = 32
"""Dark and air reference lines recorded per channel."""
ACQUIRED_AT = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
"""Nominal acquisition time of simulated scans (plus one second per seed)."""
_UID_NAMESPACE = uuid.UUID("6f1c3f5e-1d9b-4a57-9a0e-3b2d7c9e5a10")

_PURPOSE_ELEMENTS, _PURPOSE_INTENSITY, _PURPOSE_PIXELS, _PURPOSE_REFERENCES, _PURPOSE_SPEED = range(5)


@dataclass(frozen=True, eq=False)
class Projection:
    """Area density of every material (``(materials, rows, lines)``, g/cm²) and geometric thickness (mm)."""

    area_density: np.ndarray
    thickness: np.ndarray


def project(phantom: Phantom, grid: Grid, solids: Iterable[int] | None = None) -> Projection:
    """Project the phantom's solids (all, or the given indices) onto a grid.

    Examples
    --------
    >>> from nii.simulate.phantoms import steps_phantom
    >>> phantom = steps_phantom("LINAC", steps=2)
    >>> grid = Grid("side", np.array([250.0]), np.array([10.0]), np.array([650.0]), 10.0)
    >>> projection = project(phantom, grid)
    >>> float(projection.area_density.sum()).__round__(6)  # the first step of polyethylene
    5.0
    """
    materials = phantom.material_names
    rows, lines = grid.shape
    area = np.zeros((len(materials), rows, lines), dtype=np.float32)
    thickness = np.zeros((rows, lines), dtype=np.float32)
    if lines == 0:
        return Projection(area, thickness)
    reach = float(np.max(grid.column_width_mm))
    x_low, x_high = grid.columns_mm[0] - reach, grid.columns_mm[-1] + reach
    selected = range(len(phantom.solids)) if solids is None else solids
    index = {name: i for i, name in enumerate(materials)}
    for position in selected:
        solid = phantom.solids[position]
        bounds = solid.bounds()
        if bounds[0, 1] < x_low or bounds[0, 0] > x_high:
            continue
        block = solid.project(grid)
        if block is None:
            continue
        row_span, column_span, chords = block
        density = phantom.materials[solid.material].density_g_cm3
        area[index[solid.material], row_span, column_span] += chords * np.float32(density * solid.fill / 10.0)
        thickness[row_span, column_span] += chords * np.float32(math.copysign(1.0, solid.fill))
    # Cavities cut exactly what was there; clear the rounding residue.
    np.maximum(area, 0, out=area)
    np.maximum(thickness, 0, out=thickness)
    return Projection(area, thickness)


@dataclass
class ViewTruth:
    """Ground truth of one view, on its nominal pixel grid.

    Parameters
    ----------
    label
        uint8 index of the material with the largest area density along the ray (1-based into
        :attr:`Truth.materials`; 0 where the ray crosses nothing).
    area_density_g_cm2, thickness_mm
        Total area density and geometric thickness of everything crossed (float32).
    transmission
        Noise-free I/I0 of every channel (float32), at that channel's own sampling positions.
    dead_elements
        Detector rows that give no signal.
    """

    label: np.ndarray
    area_density_g_cm2: np.ndarray
    thickness_mm: np.ndarray
    transmission: dict[str, np.ndarray]
    dead_elements: np.ndarray


@dataclass
class Truth:
    """Ground truth of a simulated scan; written as ``NAME.npz`` (arrays) plus ``NAME.json`` (the rest)."""

    scenario: str
    scanner: str
    seed: int
    scan_uid: str
    materials: tuple[Material, ...]
    views: dict[str, ViewTruth]
    threats: list[Threat] = field(default_factory=list)
    channel_offsets_lines: dict[str, float] = field(default_factory=dict)

    def material(self, label: int) -> Material | None:
        """The material of a label value (``None`` for 0)."""
        return self.materials[label - 1] if label else None

    def to_dict(self) -> dict[str, Any]:
        """Everything but the arrays, JSON-compatible."""
        return {
            "schema": 1,
            "scenario": self.scenario,
            "scanner": self.scanner,
            "seed": self.seed,
            "scan_uid": self.scan_uid,
            "labels": {"0": "nothing"} | {str(i + 1): m.name for i, m in enumerate(self.materials)},
            "materials": [
                {
                    "label": i + 1,
                    "name": m.name,
                    "density_g_cm3": m.density_g_cm3,
                    "composition": dict(m.composition),
                    "effective_z": effective_z(m),
                }
                for i, m in enumerate(self.materials)
            ],
            "views": {
                name: {
                    "shape": list(view.label.shape),
                    "channels": sorted(view.transmission),
                    "dead_elements": view.dead_elements.tolist(),
                }
                for name, view in self.views.items()
            },
            "channel_offsets_lines": dict(self.channel_offsets_lines),
            "threats": [
                {
                    "view": t.view,
                    "box": [t.box.x, t.box.y, t.box.width, t.box.height],
                    "category": str(t.category),
                    "assessment": str(t.assessment),
                    "description": t.description,
                }
                for t in self.threats
            ],
        }

    def arrays(self) -> dict[str, np.ndarray]:
        """The arrays by key, as stored in the ``.npz`` file."""
        result: dict[str, np.ndarray] = {}
        for name, view in self.views.items():
            result[f"{name}/label"] = view.label
            result[f"{name}/area_density_g_cm2"] = view.area_density_g_cm2
            result[f"{name}/thickness_mm"] = view.thickness_mm
            for channel, transmission in view.transmission.items():
                result[f"{name}/transmission/{channel}"] = transmission
        for index, threat in enumerate(self.threats):
            if threat.mask is not None:
                result[f"threats/{index}/mask"] = threat.mask
        return result

    def save(self, stem: str | Path) -> list[Path]:
        """Write ``stem.npz`` and ``stem.json`` atomically; return both paths."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        with atomic_output(npz) as temporary, open(temporary, "wb") as handle:
            np.savez_compressed(handle, **self.arrays())  # type: ignore[arg-type]
        with atomic_output(meta) as temporary:
            temporary.write_text(json.dumps(self.to_dict(), indent=1))
        return [npz, meta]

    @classmethod
    def load(cls, stem: str | Path) -> Truth:
        """Read a truth written by :meth:`save` (``stem`` without extension)."""
        stem = Path(stem)
        npz, meta = stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")
        for path in (npz, meta):
            if not path.is_file():
                raise FileAccessError("truth file not found", path=path)
        try:
            info = json.loads(meta.read_text())
            with np.load(npz, allow_pickle=False) as data:
                arrays = {key: data[key] for key in data.files}
            materials = tuple(Material(m["name"], m["composition"], m["density_g_cm3"]) for m in info["materials"])
            views = {
                name: ViewTruth(
                    arrays[f"{name}/label"],
                    arrays[f"{name}/area_density_g_cm2"],
                    arrays[f"{name}/thickness_mm"],
                    {c: arrays[f"{name}/transmission/{c}"] for c in entry["channels"]},
                    np.asarray(entry["dead_elements"], dtype=np.int64),
                )
                for name, entry in info["views"].items()
            }
            threats = [
                Threat(
                    view=t["view"],
                    box=Box(*t["box"]),
                    category=t["category"],
                    assessment=t["assessment"],
                    origin=ThreatOrigin.GROUND_TRUTH,
                    algorithm="nii.simulate",
                    description=t["description"],
                    mask=arrays.get(f"threats/{index}/mask"),
                )
                for index, t in enumerate(info["threats"])
            ]
            return cls(
                info["scenario"],
                info["scanner"],
                int(info["seed"]),
                info["scan_uid"],
                materials,
                views,
                threats,
                {str(k): float(v) for k, v in info["channel_offsets_lines"].items()},
            )
        except (KeyError, TypeError, ValueError) as error:
            raise CorruptFileError(
                f"malformed simulation truth ({type(error).__name__}: {error})", path=meta
            ) from error


def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _line_steps(lines: int, step: float, variation: float, rng: np.random.Generator) -> np.ndarray:
    """Distance travelled during each line: constant, or varying slowly around ``step`` (never below half of it)."""
    if variation == 0:
        return np.full(lines, step)
    t = np.linspace(0.0, 1.0, lines)
    profile = np.zeros(lines)
    for harmonic in (1, 2, 3):
        profile += rng.uniform(-1, 1) / harmonic * np.sin(2 * np.pi * harmonic * t + rng.uniform(0, 2 * np.pi))
    profile /= max(float(np.max(np.abs(profile))), 1e-12)
    steps = step * (1.0 + variation * profile)
    return steps * (step * lines / steps.sum())


def _uid(*parts: object) -> str:
    return f"2.25.{uuid.uuid5(_UID_NAMESPACE, '|'.join(map(str, parts))).int}"


def _resolve(scenario: str | Phantom, scanner: str | ScannerModel | None, seed: int) -> tuple[Phantom, ScannerModel]:
    if isinstance(scanner, str):
        if scanner not in SCANNERS:
            raise ValidationError(f"unknown scanner {scanner!r}; known: {', '.join(SCANNERS)}")
        scanner = SCANNERS[scanner]
    if isinstance(scenario, Phantom):
        if scanner is None:
            raise ValidationError("simulating a custom phantom needs a scanner")
        return scenario, scanner
    if scenario not in SCENARIOS:
        raise ValidationError(f"unknown scenario {scenario!r}; known: {', '.join(SCENARIOS)}")
    entry = SCENARIOS[scenario]
    model = scanner if scanner is not None else SCANNERS[entry.default_scanner]
    return entry.build(np.random.default_rng(seed), model), model


def simulate(
    scenario: str | Phantom,
    *,
    scanner: str | ScannerModel | None = None,
    seed: int = 0,
    rows: int | None = None,
    lines: int | None = None,
    scale: float = 1.0,
    speed_variation: float | None = None,
    threats_in_scan: bool = False,
) -> tuple[Scan, Truth]:
    """Simulate one scan of a scenario (or of a custom phantom) on a scanner.

    Parameters
    ----------
    scenario
        A name of :data:`~nii.simulate.phantoms.SCENARIOS` (``"cargo"``, ``"truck"``,
        ``"suitcase"``, ``"steps"``) or a :class:`~nii.simulate.phantoms.Phantom`.
    scanner
        A name of :data:`~nii.physics.SCANNERS` or a model; the scenario's usual scanner by default.
    seed
        Draws the layout of the scenario and all the noise; the same seed gives the same bytes.
    rows, lines
        Image size. The field of view stays the scanner's and the object's, so fewer rows
        mean a coarser pitch and fewer lines a longer step. By default the scanner's detector
        rows and as many lines as its speed and line rate give, both times ``scale``.
    scale
        Factor on the default size (``0.25`` for a quick small scan).
    speed_variation
        Relative amplitude of slow speed changes along the scan; the scanner's by default.
        When it is not 0 the view geometry carries every line's position.
    threats_in_scan
        Also put the known threats into the scan (origin GROUND TRUTH), not only into the truth.

    Returns
    -------
    (Scan, Truth)

    Examples
    --------
    >>> scan, truth = simulate("steps", seed=1, rows=64, lines=96)
    >>> scan.views[0].channels["high"].shape, scan.views[0].calibration.value
    ((64, 96), 'RAW')
    """
    phantom, model = _resolve(scenario, scanner, seed)
    rows, lines, variation = _scan_size(phantom, model, rows, lines, scale, speed_variation)

    pitch = model.rows * model.detector_pitch_mm / rows
    step = phantom.scan_length_mm / lines
    steps = _line_steps(lines, step, variation, _rng(seed, _PURPOSE_SPEED))
    positions = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    centres = positions + steps / 2 - phantom.margin_mm

    geometry = Geometry(pitch, step, line_positions_mm=positions if variation else None)
    views, view_truths = [], {}
    threats: list[Threat] = []
    for view_index, view_name in enumerate(model.views):
        view, view_truth, view_threats = _simulate_view(
            phantom, model, view_name, view_index, seed, rows, geometry, centres, steps
        )
        views.append(view)
        view_truths[view_name] = view_truth
        threats.extend(view_threats)

    name = phantom.name
    uid = _uid(name, model.name, seed, rows, lines, variation)
    parameters = {"scenario": name, "scanner": model.name, "seed": seed, "rows": rows, "lines": lines}
    scan = Scan(
        views=views,
        acquired_at=ACQUIRED_AT + timedelta(seconds=seed),
        inspected_object=phantom.inspected_object,
        scanner=_simulated_scanner(model, seed, pitch, step),
        site=Site(name="nii simulator"),
        threats=threats if threats_in_scan else [],
        scan_uid=uid,
        frame_of_reference_uid=_uid(uid, "frame"),
        provenance=Provenance(steps=(ProcessingStep("simulate", parameters, software=f"nii {nii.__version__}"),)),
    )
    truth = Truth(
        name,
        model.name,
        seed,
        uid,
        tuple(phantom.materials[m] for m in phantom.material_names),
        view_truths,
        threats,
        dict(model.channel_offsets_lines),
    )
    return scan, truth


def _scan_size(
    phantom: Phantom,
    model: ScannerModel,
    rows: int | None,
    lines: int | None,
    scale: float,
    speed_variation: float | None,
) -> tuple[int, int, float]:
    """Rows, lines and speed variation of a simulated scan, checked (see :func:`simulate`)."""
    if not (math.isfinite(scale) and scale > 0):
        raise ValidationError(f"scale must be positive, got {scale!r}")
    rows = rows if rows is not None else max(8, round(model.rows * scale))
    default_lines = math.ceil(phantom.scan_length_mm / model.line_step_mm)
    lines = lines if lines is not None else max(8, round(default_lines * scale))
    if rows < 8 or lines < 8:
        raise ValidationError(f"a simulated scan needs at least 8 rows and 8 lines, got {rows} × {lines}")
    variation = model.speed_variation if speed_variation is None else speed_variation
    if not 0 <= variation < 0.5:
        raise ValidationError(f"speed variation must be in [0, 0.5), got {variation!r}")
    check_image_size((len(model.views) * len(model.channels), rows, lines), np.uint16, path=None)
    return rows, lines, variation


def _simulated_scanner(model: ScannerModel, seed: int, pitch: float, step: float) -> Scanner:
    return Scanner(
        manufacturer="nii simulator",
        model=model.name,
        serial_number=f"SIM-{seed}",
        software_version=nii.__version__,
        source=model.source,
        energies_kv=model.energies_kv,
        detector_pitch_mm=pitch,
        line_rate_hz=model.line_rate_hz,
        speed_mm_s=step * model.line_rate_hz,
    )


def _view_grid(view: str, rows: int, pitch: float, centres: np.ndarray, steps: np.ndarray) -> Grid:
    # Side: the column of detectors stands on the ground (or belt) and rows run top down.
    # Top: the column lies across the travel, centred, row 0 on the far side (+y).
    heights = (rows - np.arange(rows) - 0.5) * pitch
    rows_mm = heights if view == "side" else heights - rows * pitch / 2
    return Grid(view, centres, steps, rows_mm, pitch)  # type: ignore[arg-type]


def _attenuation_tables(phantom: Phantom, model: ScannerModel) -> dict[str, np.ndarray]:
    """Per channel: the mass attenuation of each phantom material at the spectrum's energies."""
    return {
        channel: np.stack(
            [
                mass_attenuation(phantom.materials[m], model.spectra[channel].energies_mev)
                for m in phantom.material_names
            ]
        )
        for channel in model.channels
    }


def _reference_lines(
    model: ScannerModel, seed: int, view_index: int, rows: int, electronics: dict[str, Any]
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Dark (source off) and air (open beam) lines of every channel, through the same electronics."""
    dark, air = {}, {}
    for channel_index, channel in enumerate(model.channels):
        rng = _rng(seed, view_index, channel_index, _PURPOSE_REFERENCES)
        no_source = np.zeros(REFERENCE_LINES, dtype=np.float32)
        dark[channel] = expose(np.zeros((rows, REFERENCE_LINES)), no_source, electronics[channel], model.detector, rng)
        air_intensity, _ = draw_intensity(model.detector, REFERENCE_LINES, rng)
        air[channel] = expose(
            np.ones((rows, REFERENCE_LINES)), air_intensity, electronics[channel], model.detector, rng
        )
    return dark, air


def _simulate_view(
    phantom: Phantom,
    model: ScannerModel,
    view_name: str,
    view_index: int,
    seed: int,
    rows: int,
    geometry: Geometry,
    centres: np.ndarray,
    steps: np.ndarray,
) -> tuple[View, ViewTruth, list[Threat]]:
    lines = centres.size
    pitch = geometry.detector_spacing_mm
    assert pitch is not None  # the simulator always knows its geometry
    channels = model.channels
    nominal = _view_grid(view_name, rows, pitch, centres, steps)
    grids = {
        channel: _view_grid(view_name, rows, pitch, centres + model.channel_offsets_lines[channel] * steps, steps)
        for channel in channels
    }
    materials = phantom.material_names
    mu = _attenuation_tables(phantom, model)
    dead = draw_dead_elements(model.detector, rows, _rng(seed, view_index, _PURPOSE_ELEMENTS))
    electronics, intensities, readings = {}, {}, {}
    for channel_index, channel in enumerate(channels):
        electronics[channel] = draw_elements(
            model.detector, rows, dead, _rng(seed, view_index, channel_index, _PURPOSE_ELEMENTS)
        )
        intensities[channel], readings[channel] = draw_intensity(
            model.detector, lines, _rng(seed, view_index, channel_index, _PURPOSE_INTENSITY)
        )

    counts = {channel: np.empty((rows, lines), dtype=np.uint16) for channel in channels}
    transmissions = {channel: np.empty((rows, lines), dtype=np.float32) for channel in channels}
    label = np.empty((rows, lines), dtype=np.uint8)
    area_total = np.empty((rows, lines), dtype=np.float32)
    thickness = np.empty((rows, lines), dtype=np.float32)

    def simulate_tile(tile: int) -> None:
        start, stop = tile * TILE_LINES, min((tile + 1) * TILE_LINES, lines)
        truth = project(phantom, nominal.columns(start, stop))
        label[:, start:stop], area_total[:, start:stop] = dominant_material(truth.area_density)
        thickness[:, start:stop] = truth.thickness
        for channel_index, channel in enumerate(channels):
            if model.channel_offsets_lines[channel] == 0:
                seen = truth
            else:
                seen = project(phantom, grids[channel].columns(start, stop))
            flat = seen.area_density.reshape(len(materials), -1)
            transmission = polychromatic_transmission(flat, mu[channel], model.spectra[channel].weights)
            transmission = transmission.reshape(rows, stop - start).astype(np.float32)
            transmissions[channel][:, start:stop] = transmission
            counts[channel][:, start:stop] = expose(
                transmission,
                intensities[channel][start:stop],
                electronics[channel],
                model.detector,
                _rng(seed, view_index, channel_index, _PURPOSE_PIXELS, tile),
            )

    # Tiles write disjoint columns and draw from their own generators, so the result does
    # not depend on how many threads run them (the kernels release the GIL).
    tiles = math.ceil(lines / TILE_LINES)
    with ThreadPoolExecutor(max_workers=min(WORKERS, tiles)) as pool:
        done = pool.map(simulate_tile, range(tiles))
        for _ in progress(done, total=tiles, desc=f"simulating {view_name}", unit="tile"):
            pass

    dark, air = _reference_lines(model, seed, view_index, rows, electronics)
    view = View(
        view_name,
        counts,
        geometry,
        CalibrationState.RAW,
        dark=dark,
        air=air,
        reference=readings,
    )
    view_truth = ViewTruth(label, area_total, thickness, transmissions, dead)
    return view, view_truth, _threats(phantom, nominal, view_name)


def _threats(phantom: Phantom, grid: Grid, view_name: str) -> list[Threat]:
    found = []
    for spec in phantom.threats:
        bounds = np.stack([phantom.solids[i].bounds() for i in spec.solids])
        first, last = np.searchsorted(grid.columns_mm, [bounds[:, 0, 0].min(), bounds[:, 0, 1].max()])
        first, last = max(int(first) - 1, 0), min(int(last) + 1, grid.columns_mm.size)
        footprint = project(phantom, grid.columns(first, last), spec.solids).thickness
        rows, columns = np.nonzero(footprint > 0)
        if rows.size == 0:
            continue  # outside this view's field
        top, left = int(rows.min()), int(columns.min())
        height, width = int(rows.max()) - top + 1, int(columns.max()) - left + 1
        mask = footprint[top : top + height, left : left + width] > 0
        box = Box(first + left, top, width, height)
        found.append(
            Threat(
                view=view_name,
                box=box,
                category=spec.category,
                assessment=spec.assessment,
                origin=ThreatOrigin.GROUND_TRUTH,
                algorithm="nii.simulate",
                description=spec.description,
                mask=mask,
            )
        )
    return found

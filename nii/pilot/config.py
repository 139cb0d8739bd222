"""``pilot.toml``: what an interoperability pilot scans, with which scanners, and how it converts.

A pilot folder holds one ``pilot.toml``::

    [pilot]
    title = "Quick start: one container, two cargo scanners"
    normalize = "attenuate=uint16"      # nii convert --normalize: the conversion to DICOS
    compression = "none"                # DICOS transfer syntax
    throughput_rounds = 3               # conversion rounds timed per scanner

    [quality]                           # image quality on simulated test objects (simulated scanners)
    repeats = 2                         # scans of the test objects per scanner (uncertainties)
    material_min_g_cm2 = 40             # area density above which materials are scored

    [[scanners]]
    name = "north-gate"
    model = "linac-6/4"                 # a model of nii.physics.SCANNERS: simulated
    format = "ref-rawxml"               # what the vendor writes
    scale = 0.25                        # size of the cargo scans (1: the scanner's full size)
    travel = "right-to-left"            # how its files run (default left-to-right)
    speed_variation = 0.05              # slow speed changes along the scan (default: the model's)
    bits = 12                           # the detector's ADC (default: the model's)

    [[scanners]]
    name = "portal"
    folder = "files/portal"             # real files (paths relative to the pilot folder), any readable format
    model = "linac-6"                   # optional: the physics model behind steel equivalents

    [[objects]]
    name = "container-1"
    scenario = "cargo"                  # simulated on every simulated scanner
    seed = 3
    files = { portal = "container-1.bin" }   # the real scanners' file of this object, in their folder

Every key is checked when the file is read; a mistake is a :class:`~nii.errors.ConfigurationError`
naming the file and the key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nii.errors import ConfigurationError
from nii.model import TravelDirection
from nii.physics import SCANNERS
from nii.simulate import SCENARIOS

__all__ = ["ObjectSpec", "PilotConfig", "QualitySpec", "ScannerSpec", "load_pilot"]

_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789-_")


@dataclass(frozen=True)
class ScannerSpec:
    """One scanner of the pilot: simulated (``model``) or given as a ``folder`` of real files."""

    name: str
    model: str | None = None
    format: str = "npz"
    scale: float = 1.0
    speed_variation: float | None = None
    travel: TravelDirection = TravelDirection.LEFT_TO_RIGHT
    bits: int | None = None
    folder: Path | None = None

    @property
    def simulated(self) -> bool:
        return self.folder is None


@dataclass(frozen=True)
class ObjectSpec:
    """One object scanned by every scanner: a simulated scenario and/or each real scanner's file."""

    name: str
    scenario: str | None = None
    seed: int = 0
    scale: float | None = None
    files: Mapping[str, Path] = field(default_factory=dict)


@dataclass(frozen=True)
class QualitySpec:
    """Image quality on the simulated test objects (``test-objects`` and the ``steps`` wedges)."""

    enabled: bool = True
    repeats: int = 2
    material_min_g_cm2: float = 40.0
    steps_scale: float = 0.5


@dataclass(frozen=True)
class PilotConfig:
    """A whole pilot (see the module docstring)."""

    folder: Path
    name: str
    title: str
    description: str
    scanners: tuple[ScannerSpec, ...]
    objects: tuple[ObjectSpec, ...]
    normalize: str
    compression: str
    throughput_rounds: int
    quality: QualitySpec

    def scanner(self, name: str) -> ScannerSpec:
        for scanner in self.scanners:
            if scanner.name == name:
                return scanner
        raise ConfigurationError(f"no scanner {name!r} in the pilot", path=self.folder / "pilot.toml")


class _Table:
    """Reads keys of one TOML table, checking types, and complains about keys it was not asked for."""

    def __init__(self, data: Any, where: str, path: Path) -> None:
        if not isinstance(data, dict):
            raise ConfigurationError(f"{where} must be a table", path=path)
        self.data, self.where, self.path = data, where, path
        self.used: set[str] = set()

    def get(self, key: str, kind: type | tuple[type, ...], default: Any = None, *, required: bool = False) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                raise ConfigurationError(f"{self.where}: {key!r} is required", path=self.path)
            return default
        value = self.data[key]
        if isinstance(value, bool) and kind in (int, float, (int, float)):
            raise ConfigurationError(f"{self.where}.{key} must be a number, got {value!r}", path=self.path)
        if not isinstance(value, kind):
            raise ConfigurationError(f"{self.where}.{key} has the wrong type: {value!r}", path=self.path)
        return value

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            raise ConfigurationError(f"{self.where}: unknown keys {unknown}", path=self.path)


def _name(table: _Table) -> str:
    name = table.get("name", str, required=True)
    if not name or not set(name) <= _NAME_CHARACTERS:
        raise ConfigurationError(f"{table.where}: name {name!r} must use a-z, 0-9, - and _", path=table.path)
    return name


def _travel(table: _Table) -> TravelDirection:
    value = table.get("travel", str, "left-to-right")
    try:
        return TravelDirection(value)
    except ValueError:
        raise ConfigurationError(
            f"{table.where}.travel must be left-to-right or right-to-left", path=table.path
        ) from None


def _scanner(data: Any, index: int, folder: Path, path: Path) -> ScannerSpec:
    table = _Table(data, f"scanners[{index}]", path)
    name = _name(table)
    model = table.get("model", str)
    if model is not None and model not in SCANNERS:
        raise ConfigurationError(f"scanner {name!r}: unknown model {model!r}; models: {', '.join(SCANNERS)}", path=path)
    files = table.get("folder", str)
    spec = ScannerSpec(
        name,
        model,
        table.get("format", str, "npz"),
        float(table.get("scale", (int, float), 1.0)),
        table.get("speed_variation", (int, float)),
        _travel(table),
        table.get("bits", int),
        folder / files if files is not None else None,
    )
    table.done()
    if spec.simulated and model is None:
        raise ConfigurationError(f"scanner {name!r} needs a model (simulated) or a folder (real files)", path=path)
    if spec.bits not in (None, 12, 14, 16):
        raise ConfigurationError(f"scanner {name!r}: bits must be 12, 14 or 16", path=path)
    if not spec.scale > 0:
        raise ConfigurationError(f"scanner {name!r}: scale must be positive", path=path)
    return spec


def _object(data: Any, index: int, scanners: Mapping[str, ScannerSpec], path: Path) -> ObjectSpec:
    table = _Table(data, f"objects[{index}]", path)
    name = _name(table)
    scenario = table.get("scenario", str)
    if scenario is not None and scenario not in SCENARIOS:
        raise ConfigurationError(f"object {name!r}: unknown scenario {scenario!r}", path=path)
    files = table.get("files", dict, {})
    scale = table.get("scale", (int, float))
    spec = ObjectSpec(name, scenario, int(table.get("seed", int, 0)), None if scale is None else float(scale), {})
    table.done()
    resolved = {}
    for scanner, relative in files.items():
        if scanner not in scanners or scanners[scanner].simulated:
            raise ConfigurationError(
                f"object {name!r}: files given for {scanner!r}, not a real-file scanner", path=path
            )
        if not isinstance(relative, str):
            raise ConfigurationError(f"object {name!r}: file of {scanner!r} must be a path", path=path)
        folder = scanners[scanner].folder
        assert folder is not None
        resolved[scanner] = folder / relative
    for scanner in scanners.values():
        if not scanner.simulated and scanner.name not in resolved:
            raise ConfigurationError(f"object {name!r}: no file for real-file scanner {scanner.name!r}", path=path)
    if scenario is None and any(s.simulated for s in scanners.values()):
        raise ConfigurationError(f"object {name!r}: simulated scanners need a scenario", path=path)
    return ObjectSpec(spec.name, spec.scenario, spec.seed, spec.scale, resolved)


def load_pilot(location: str | Path) -> PilotConfig:
    """Read and check a pilot: a folder holding ``pilot.toml``, or the file itself."""
    path = Path(location)
    path = path / "pilot.toml" if path.is_dir() else path
    if not path.is_file():
        raise ConfigurationError("pilot.toml not found", path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigurationError(f"not valid TOML: {error}", path=path) from None
    root = _Table(data, "pilot.toml", path)
    pilot = _Table(root.get("pilot", dict, {}), "pilot", path)
    quality = _Table(root.get("quality", dict, {}), "quality", path)
    scanner_tables = root.get("scanners", list, required=True)
    object_tables = root.get("objects", list, required=True)
    root.done()
    scanners = tuple(_scanner(table, i, path.parent, path) for i, table in enumerate(scanner_tables))
    by_name = {scanner.name: scanner for scanner in scanners}
    if len(by_name) != len(scanners) or not scanners:
        raise ConfigurationError("scanners need distinct names (and at least one scanner)", path=path)
    objects = tuple(_object(table, i, by_name, path) for i, table in enumerate(object_tables))
    if len({o.name for o in objects}) != len(objects) or not objects:
        raise ConfigurationError("objects need distinct names (and at least one object)", path=path)
    config = PilotConfig(
        folder=path.parent,
        name=path.parent.name,
        title=pilot.get("title", str, path.parent.name),
        description=pilot.get("description", str, ""),
        scanners=scanners,
        objects=objects,
        normalize=pilot.get("normalize", str, "attenuate=uint16"),
        compression=pilot.get("compression", str, "none"),
        throughput_rounds=int(pilot.get("throughput_rounds", int, 3)),
        quality=QualitySpec(
            enabled=bool(quality.get("enabled", bool, True)),
            repeats=int(quality.get("repeats", int, 2)),
            material_min_g_cm2=float(quality.get("material_min_g_cm2", (int, float), 40.0)),
            steps_scale=float(quality.get("steps_scale", (int, float), 0.5)),
        ),
    )
    pilot.done()
    quality.done()
    if not 1 <= config.throughput_rounds <= 100 or not 1 <= config.quality.repeats <= 100:
        raise ConfigurationError("throughput_rounds and quality.repeats must be between 1 and 100", path=path)
    return config

"""A pilot's output folder (``nii pilot run … --out DIR``) as the viewer shows it.

The folder holds every scanner's vendor files (``scans/``) and the same scans converted to DICOS
(``dicos/SCANNER/OBJECT/``), with ``results.json`` and a self-contained ``report.html``. The viewer
lists the DICOS scans only (the vendor files would show every scan twice), grouped by scanner in the
pilot's order, objects before test objects, and serves the report as one fixed file.

Examples
--------
>>> is_pilot_output(Path("no-such-folder"))
False
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nii.pipeline import find_scans

__all__ = ["MAX_RESULTS_BYTES", "PilotReport", "PilotScan", "is_pilot_output", "pilot_scans"]

MAX_RESULTS_BYTES = 64 << 20
"""Largest ``results.json`` read for the pilot's title and order (a bigger one is not a pilot's)."""


@dataclass(frozen=True)
class PilotReport:
    """A pilot's ``report.html``: the file served, the pilot's title, the number of its scans listed."""

    path: Path
    title: str
    scans: int


@dataclass(frozen=True)
class PilotScan:
    """One DICOS scan of a pilot: its folder, the scanner that made it, the object scanned."""

    path: Path
    scanner: str
    object: str


def is_pilot_output(path: Path) -> bool:
    """True for a folder written by ``nii pilot run``: ``results.json``, ``report.html`` and ``dicos/``."""
    return (
        path.is_dir()
        and (path / "results.json").is_file()
        and (path / "report.html").is_file()
        and not (path / "report.html").is_symlink()
        and (path / "dicos").is_dir()
    )


def _summary(folder: Path) -> dict[str, Any]:
    """The ``pilot`` table of results.json; empty when it cannot be read (the scans still show)."""
    path = folder / "results.json"
    try:
        if path.stat().st_size > MAX_RESULTS_BYTES:
            return {}
        pilot = json.loads(path.read_text(encoding="utf-8")).get("pilot", {})
    except (OSError, ValueError, AttributeError):
        return {}
    return pilot if isinstance(pilot, dict) else {}


def _names(items: Any) -> list[str]:
    if not isinstance(items, list):
        return []
    return [item["name"] for item in items if isinstance(item, dict) and isinstance(item.get("name"), str)]


def pilot_scans(folder: Path) -> tuple[list[PilotScan], PilotReport]:
    """The DICOS scans of a pilot's output folder in the pilot's order, and its report."""
    pilot = _summary(folder)
    scanners, objects = _names(pilot.get("scanners")), _names(pilot.get("objects"))
    dicos = folder / "dicos"
    found = []
    for path in find_scans([dicos]):
        parts = path.relative_to(dicos).parts
        if len(parts) >= 2:
            found.append(PilotScan(path, parts[0], "/".join(parts[1:])))

    def order(scan: PilotScan) -> tuple[int, str, int, str]:
        scanner = scanners.index(scan.scanner) if scan.scanner in scanners else len(scanners)
        obj = objects.index(scan.object) if scan.object in objects else len(objects)
        return scanner, scan.scanner, obj, scan.object

    found.sort(key=order)
    title = pilot.get("title") if isinstance(pilot.get("title"), str) else folder.name
    return found, PilotReport(folder / "report.html", str(title), len(found))

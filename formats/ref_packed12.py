"""``ref-packed12``: drive-through portal export, C-struct header and 12-bit packed lines.

A reference vendor-style format (specification: ``docs/formats/ref-packed12.md``): a
512-byte little-endian header, then one record per scan line holding a line counter, the
vehicle speed measured at that line and the 12-bit samples of every channel, two samples in
three bytes. The per-line speeds become :attr:`nii.model.Geometry.line_positions_mm`.
"""

from __future__ import annotations

import math
import struct
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import CorruptFileError, TruncatedFileError, UnsupportedError
from nii.formats._vendor import finite_or_none, reading, require_integers, warn_unstored
from nii.io import atomic_output, read_exactly
from nii.kernels.decode import pack12, packed12_size, unpack12
from nii.limits import check_image_size
from nii.model import (
    CalibrationState,
    Geometry,
    InspectedObject,
    ObjectType,
    RowOrder,
    Scan,
    Scanner,
    Site,
    SourceKind,
    TravelDirection,
    View,
)
from nii.registry import Format, declare, library_errors, register

MAGIC = b"NIIREF12"
VERSION = 1
HEADER_SIZE = 512
MAX_CHANNELS = 4
LINE_HEADER_SIZE = 8
"""``uint32`` line counter and ``float32`` speed (mm/s) before the samples of each line."""

HEADER_FIELDS: tuple[tuple[str, str], ...] = (
    ("magic", "8s"),
    ("version", "H"),
    ("header_size", "H"),
    ("rows", "I"),
    ("lines", "I"),
    ("channels", "H"),
    ("bits", "H"),
    ("flags", "I"),
    ("calibration", "B"),
    ("object_type", "B"),
    ("source", "B"),
    ("_reserved1", "x"),
    ("acquired_us", "q"),
    ("utc_offset_min", "h"),
    ("_reserved2", "6x"),
    ("line_rate_hz", "d"),
    ("speed_mm_s", "d"),
    ("detector_pitch_mm", "d"),
    ("detector_spacing_mm", "d"),
    ("travel_spacing_mm", "d"),
    *((f"channel_name_{i}", "8s") for i in range(1, MAX_CHANNELS + 1)),
    *((f"energy_kv_{i}", "f") for i in range(1, MAX_CHANNELS + 1)),
    ("view_name", "16s"),
    ("container_1", "12s"),
    ("container_2", "12s"),
    ("licence_plate", "16s"),
    ("manufacturer", "32s"),
    ("model", "32s"),
    ("serial_number", "32s"),
    ("software_version", "32s"),
    ("site_name", "64s"),
    ("machine_id", "32s"),
    ("country", "8s"),
    ("_reserved3", "88x"),
)
"""The header, in order: (name, :mod:`struct` code). Names starting with ``_`` are zero padding."""

_HEADER = struct.Struct("<" + "".join(code for _, code in HEADER_FIELDS))
_VALUE_NAMES = [name for name, _ in HEADER_FIELDS if not name.startswith("_")]
assert _HEADER.size == HEADER_SIZE

FLAG_RIGHT_TO_LEFT = 1
FLAG_BOTTOM_UP = 2
CALIBRATIONS = (CalibrationState.RAW, CalibrationState.TRANSMISSION, CalibrationState.ATTENUATION)
OBJECT_TYPES = (ObjectType.OTHER, ObjectType.CARGO, ObjectType.VEHICLE, ObjectType.BAGGAGE)
SOURCES = (None, SourceKind.LINAC, SourceKind.TUBE)


def _text(raw: bytes) -> str | None:
    return raw.rstrip(b"\0").decode("utf-8", errors="replace") or None


def _code(table: tuple[Any, ...], index: int, what: str, path: Path) -> Any:
    if index >= len(table):
        raise CorruptFileError(f"unknown {what} code {index}", path=path)
    return table[index]


def _record_dtype(channels: int, rows: int) -> np.dtype:
    return np.dtype([("line", "<u4"), ("speed_mm_s", "<f4"), ("samples", "u1", (channels * packed12_size(rows),))])


def _known(value: float) -> float | None:
    """A header number, None for the NaN that marks it unknown."""
    return None if math.isnan(value) else float(value)


class RefPacked12Format(Format):
    """Portal export: 512-byte C-struct header, 12-bit packed samples, vehicle speed per line."""

    name = "ref-packed12"
    extensions = (".p12",)
    description = "reference portal format: C-struct header, 12-bit packed lines, speed per line"
    capabilities = frozenset({"dual-energy", "variable-speed"})
    version = "1"
    read_errors = library_errors("struct.error")
    read_options = declare()
    write_options = declare()

    def can_read(self, head: bytes, path: Path) -> bool:
        return head.startswith(MAGIC)

    def read(self, path: Path, **options: Any) -> Scan:
        with open(path, "rb") as handle:
            header = dict(
                zip(
                    _VALUE_NAMES,
                    _HEADER.unpack(read_exactly(handle, HEADER_SIZE, path=path, what="header")),
                    strict=True,
                )
            )
        if header["magic"] != MAGIC:
            raise CorruptFileError(f"not a {self.name} file: magic {header['magic']!r}, expected {MAGIC!r}", path=path)
        if header["version"] != VERSION or header["bits"] != 12:
            raise UnsupportedError(
                f"{self.name} version {header['version']} with {header['bits']}-bit samples (reads version 1, 12-bit)",
                path=path,
            )
        if header["header_size"] < HEADER_SIZE:
            raise CorruptFileError(f"header size {header['header_size']} is below {HEADER_SIZE}", path=path)
        rows, lines, channels = header["rows"], header["lines"], header["channels"]
        slots = [_text(header[f"channel_name_{i}"]) for i in range(1, MAX_CHANNELS + 1)]
        names = [name for name in slots if name]
        if not 1 <= channels <= MAX_CHANNELS or slots[:channels] != names or len(set(names)) != channels:
            raise CorruptFileError(
                f"header announces {channels} channels but names {names}: inconsistent channel count", path=path
            )
        check_image_size((channels, rows, lines), np.uint16, path=path)
        record = _record_dtype(channels, rows)
        expected = header["header_size"] + lines * record.itemsize
        size = path.stat().st_size
        if size < expected:
            raise TruncatedFileError(
                f"header announces {lines} lines of {record.itemsize} bytes ({expected} bytes), file holds {size}",
                path=path,
            )
        if size > expected:
            raise CorruptFileError(f"{size - expected} bytes after the last of {lines} lines", path=path)
        records = np.memmap(path, dtype=record, mode="r", offset=header["header_size"], shape=(lines,))
        counters = np.asarray(records["line"])
        jumps = np.flatnonzero(counters != np.arange(lines, dtype=np.uint32))
        if jumps.size:
            raise CorruptFileError(f"line counter is {counters[jumps[0]]} at line {jumps[0]} (lines lost?)", path=path)
        samples = records["samples"]
        width = packed12_size(rows)
        channel_arrays = {
            name: unpack12(samples[:, index * width : (index + 1) * width], rows).T for index, name in enumerate(names)
        }
        speeds = np.asarray(records["speed_mm_s"], dtype=np.float64)
        del records, samples  # the unpacked channels are copies: release the map
        return self._scan(path, header, channel_arrays, speeds)

    def _scan(self, path: Path, header: dict[str, Any], channels: dict[str, np.ndarray], speeds: np.ndarray) -> Scan:
        line_rate = finite_or_none(header["line_rate_hz"])
        positions = None
        # Positions need the speed of every line after the first (the first line is at 0 mm).
        if line_rate is not None and speeds.size > 1 and bool(np.all(np.isfinite(speeds[1:]))):
            steps = speeds[1:] / line_rate
            if steps.size and float(steps.min()) <= 0:
                line = 1 + int(np.argmin(steps))
                raise CorruptFileError(f"vehicle speed {speeds[line]} mm/s at line {line} is not positive", path=path)
            positions = np.concatenate([[0.0], np.cumsum(steps)])
        flags = header["flags"]
        with reading(path, self.name):
            offset = timezone(timedelta(minutes=header["utc_offset_min"]))
            acquired = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=header["acquired_us"])
            energies = {
                name: float(header[f"energy_kv_{i}"])
                for i, name in enumerate(channels, start=1)
                if math.isfinite(header[f"energy_kv_{i}"])
            }
            geometry = Geometry(
                detector_spacing_mm=_known(header["detector_spacing_mm"]),
                travel_spacing_mm=_known(header["travel_spacing_mm"]),
                travel_direction=TravelDirection.RIGHT_TO_LEFT
                if flags & FLAG_RIGHT_TO_LEFT
                else TravelDirection.LEFT_TO_RIGHT,
                row_order=RowOrder.BOTTOM_UP if flags & FLAG_BOTTOM_UP else RowOrder.TOP_DOWN,
                line_positions_mm=positions,
            )
            view = View(
                _text(header["view_name"]) or "side",
                channels,
                geometry,
                calibration=_code(CALIBRATIONS, header["calibration"], "calibration", path),
            )
            containers = tuple(c for c in (_text(header["container_1"]), _text(header["container_2"])) if c)
            return Scan(
                views=[view],
                acquired_at=acquired.astimezone(offset),
                inspected_object=InspectedObject(
                    _code(OBJECT_TYPES, header["object_type"], "object type", path),
                    container_numbers=containers,
                    licence_plate=_text(header["licence_plate"]),
                ),
                scanner=Scanner(
                    manufacturer=_text(header["manufacturer"]),
                    model=_text(header["model"]),
                    serial_number=_text(header["serial_number"]),
                    software_version=_text(header["software_version"]),
                    source=_code(SOURCES, header["source"], "source", path),
                    energies_kv=energies,
                    detector_pitch_mm=finite_or_none(header["detector_pitch_mm"]),
                    line_rate_hz=line_rate,
                    speed_mm_s=finite_or_none(header["speed_mm_s"]),
                ),
                site=Site(
                    name=_text(header["site_name"]),
                    machine_id=_text(header["machine_id"]),
                    country=_text(header["country"]),
                ),
            )

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        if len(scan.views) != 1:
            raise UnsupportedError(f"{self.name} stores one view, the scan has {len(scan.views)}", path=path)
        view = scan.views[0]
        if len(view.channels) > MAX_CHANNELS:
            raise UnsupportedError(f"{self.name} stores at most {MAX_CHANNELS} channels", path=path)
        channels = require_integers(view, self.name, path, maximum=4095)
        warn_unstored(scan, self.name, path, stores={"line_positions"})
        header = self._header(scan, view, path)
        rows, lines = view.shape
        records = np.zeros(lines, dtype=_record_dtype(len(channels), rows))
        records["line"] = np.arange(lines, dtype=np.uint32)
        records["speed_mm_s"] = self._speeds(scan, view)
        width = packed12_size(rows)
        for index, channel in enumerate(channels.values()):
            # Lines are stored one after the other: pack the transposed (lines, rows) samples.
            records["samples"][:, index * width : (index + 1) * width] = pack12(np.ascontiguousarray(channel.T))
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            handle.write(header)
            records.tofile(handle)
        return [path]

    @staticmethod
    def _speeds(scan: Scan, view: View) -> np.ndarray:
        """Per-line speeds from the line positions (NaN where unknown)."""
        speeds = np.full(view.shape[1], np.nan)
        positions = view.geometry.line_positions_mm
        if positions is not None and scan.scanner.line_rate_hz is not None:
            speeds[1:] = np.diff(positions) * scan.scanner.line_rate_hz
        return speeds

    def _header(self, scan: Scan, view: View, path: Path) -> bytes:
        def text(value: str | None, size: int, what: str) -> bytes:
            raw = (value or "").encode("utf-8")
            if len(raw) > size:
                raise UnsupportedError(f"{self.name} stores {what} in {size} bytes; {value!r} is longer", path=path)
            return raw

        def number(value: float | None) -> float:
            return math.nan if value is None else value

        acquired = scan.acquired_at
        offset = acquired.utcoffset()
        assert offset is not None  # the model refuses naive times
        if offset % timedelta(minutes=1):
            raise UnsupportedError(f"{self.name} stores whole-minute UTC offsets, not {offset}", path=path)
        obj, scanner, site = scan.inspected_object, scan.scanner, scan.site
        if len(obj.container_numbers) > 2:
            raise UnsupportedError(
                f"{self.name} stores two container numbers, the scan has {len(obj.container_numbers)}", path=path
            )
        names = list(view.channels)
        rows, lines = view.shape
        geometry = view.geometry
        values: dict[str, Any] = {
            "magic": MAGIC,
            "version": VERSION,
            "header_size": HEADER_SIZE,
            "rows": rows,
            "lines": lines,
            "channels": len(names),
            "bits": 12,
            "flags": (FLAG_RIGHT_TO_LEFT if geometry.travel_direction is TravelDirection.RIGHT_TO_LEFT else 0)
            | (FLAG_BOTTOM_UP if geometry.row_order is RowOrder.BOTTOM_UP else 0),
            "calibration": CALIBRATIONS.index(view.calibration),
            "object_type": OBJECT_TYPES.index(obj.type),
            "source": SOURCES.index(scanner.source),
            "acquired_us": (acquired - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1),
            "utc_offset_min": offset // timedelta(minutes=1),
            "line_rate_hz": number(scanner.line_rate_hz),
            "speed_mm_s": number(scanner.speed_mm_s),
            "detector_pitch_mm": number(scanner.detector_pitch_mm),
            "detector_spacing_mm": number(geometry.detector_spacing_mm),
            "travel_spacing_mm": number(geometry.travel_spacing_mm),
            "view_name": text(view.name, 16, "the view name"),
            "container_1": text(obj.container_numbers[0] if obj.container_numbers else None, 12, "a container number"),
            "container_2": text(
                obj.container_numbers[1] if len(obj.container_numbers) > 1 else None, 12, "a container number"
            ),
            "licence_plate": text(obj.licence_plate, 16, "the licence plate"),
            "manufacturer": text(scanner.manufacturer, 32, "the manufacturer"),
            "model": text(scanner.model, 32, "the model"),
            "serial_number": text(scanner.serial_number, 32, "the serial number"),
            "software_version": text(scanner.software_version, 32, "the software version"),
            "site_name": text(site.name, 64, "the site name"),
            "machine_id": text(site.machine_id, 32, "the machine id"),
            "country": text(site.country, 8, "the country"),
        }
        for i in range(1, MAX_CHANNELS + 1):
            name = names[i - 1] if i <= len(names) else None
            values[f"channel_name_{i}"] = text(name, 8, "a channel name")
            values[f"energy_kv_{i}"] = number(scanner.energies_kv.get(name)) if name else math.nan
        return _HEADER.pack(*(values[name] for name in _VALUE_NAMES))


FORMAT = register(RefPacked12Format)

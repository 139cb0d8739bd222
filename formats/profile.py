"""``profile``: headerless or simply-headered raw exports described by a TOML profile.

Many scanners export plain sample arrays with at most a small binary header. Instead of code,
a :class:`RawProfile` (a TOML file, see ``docs/formats/raw-profile.md`` and the example
``docs/formats/example-profile.toml``) says where the samples start, their type and byte
order, the image size (fixed or read from the header), how channels are laid out, how many
calibration lines come first, and the constant metadata. Then::

    scan = nii.read("export.bin", format="profile", profile="portal.toml")

and ``nii profile check portal.toml export.bin`` lists every mismatch between the profile
and a file before converting it (:func:`check_file`).
"""

from __future__ import annotations

import os
import stat
import sys
import tomllib
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np

from nii.errors import (
    ConfigurationError,
    CorruptFileError,
    FileAccessError,
    LimitExceededError,
    TruncatedFileError,
    UnsupportedError,
    ValidationError,
)
from nii.formats._vendor import reading
from nii.kernels.decode import deinterleave_lines, packed12_size, unpack12
from nii.limits import check_image_size
from nii.model import CalibrationState, Geometry, InspectedObject, Scan, Scanner, Site, View
from nii.provenance import ProcessingStep, Provenance
from nii.registry import Format, Option, declare, library_errors, register

__all__ = ["ContainerAxis", "HeaderValue", "ProfileReport", "RawProfile", "check_file", "fits", "for_file"]

SAMPLE_TYPES = {
    "uint8": "u1",
    "uint12": "u1",  # packed two samples in three bytes, decoded to uint16
    "uint16": "u2",
    "int16": "i2",
    "uint32": "u4",
    "int32": "i4",
    "float32": "f4",
    "float64": "f8",
}
HEADER_TYPES = {
    "uint8": "u1",
    "uint16": "u2",
    "uint32": "u4",
    "uint64": "u8",
    "int16": "i2",
    "int32": "i4",
    "int64": "i8",
}
TIME_UNITS = {"s": 1_000_000, "ms": 1_000, "us": 1}
Layout = Literal["planar", "line", "pixel"]
Order = Literal["line", "row"]


def _fail(source: Path | None, message: str) -> ConfigurationError:
    return ConfigurationError(f"profile: {message}", path=source)


_DATA_KEYS = frozenset(
    (
        "dtype",
        "endian",
        "layout",
        "order",
        "channels",
        "rows",
        "lines",
        "dark_lines",
        "air_lines",
        "valid_range",
        "container",
    )
)
"""Keys of a profile's ``[data]`` table."""


def _valid_range(value: Any, source: Path | None) -> tuple[float, float] | None:
    """``[data] valid_range`` as ``(low, high)``, None when absent."""
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, int | float) for v in value):
        raise _fail(source, f"[data] valid_range must be [low, high], got {value!r}")
    return float(value[0]), float(value[1])


def _table(data: Mapping[str, Any], key: str, allowed: AbstractSet[str], source: Path | None) -> dict[str, Any]:
    table = data.get(key, {})
    if not isinstance(table, dict):
        raise _fail(source, f"[{key}] must be a table")
    unknown = set(table) - allowed
    if unknown:
        raise _fail(source, f"[{key}] has unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    return dict(table)


def _choice(value: Any, allowed: tuple[str, ...] | Mapping[str, Any], what: str, source: Path | None) -> str:
    if value not in allowed:
        raise _fail(source, f"{what} must be one of {sorted(allowed)}, got {value!r}")
    return str(value)


@dataclass(frozen=True)
class HeaderValue:
    """An integer read from the file's header: byte ``offset`` and ``type`` (``uint32``, ...)."""

    offset: int
    type: str
    unit: str | None = None
    """For a time: ``s``, ``ms`` or ``us`` since 1970-01-01 UTC."""

    @classmethod
    def parse(cls, value: Any, what: str, source: Path | None, *, time: bool = False) -> HeaderValue:
        if not isinstance(value, dict) or set(value) - {"offset", "type", "unit"} or "offset" not in value:
            raise _fail(source, f'{what} must be a number or {{ offset = N, type = "uint32" }}, got {value!r}')
        offset = value["offset"]
        if not isinstance(offset, int) or offset < 0:
            raise _fail(source, f"{what}: offset must be a non-negative integer, got {offset!r}")
        kind = _choice(value.get("type", "uint32"), HEADER_TYPES, f"{what}: type", source)
        unit = _choice(value.get("unit", "s"), TIME_UNITS, f"{what}: unit", source) if time else None
        if not time and "unit" in value:
            raise _fail(source, f"{what}: only a time has a unit")
        return cls(offset, kind, unit)

    @property
    def end(self) -> int:
        return self.offset + np.dtype(HEADER_TYPES[self.type]).itemsize

    def read(self, header: bytes, endian: str) -> int:
        order = "<" if endian == "little" else ">"
        return int(np.frombuffer(header, dtype=order + HEADER_TYPES[self.type], count=1, offset=self.offset)[0])


@dataclass(frozen=True)
class ContainerAxis:
    """A size taken from the shape a self-describing container declares: its axis ``axis``."""

    axis: int


Size = int | HeaderValue | ContainerAxis
CONTAINERS = ("npy", "tiff")
"""Self-describing files a profile can take its sizes, sample type and data offset from."""


def _size(value: Any, what: str, source: Path | None) -> Size:
    if isinstance(value, bool):
        raise _fail(source, f"{what} must be a number, got {value!r}")
    if isinstance(value, int):
        if value < 0:
            raise _fail(source, f"{what} must not be negative, got {value}")
        return value
    if isinstance(value, dict) and set(value) == {"axis"}:
        if not isinstance(value["axis"], int) or value["axis"] < 0:
            raise _fail(source, f"{what}: axis must be a non-negative integer, got {value['axis']!r}")
        return ContainerAxis(value["axis"])
    return HeaderValue.parse(value, what, source)


@dataclass(frozen=True)
class RawProfile:
    """How to read one kind of raw export; build it with :meth:`load` from a TOML file.

    Every option is checked at construction; a wrong key, type or value is a
    :class:`~nii.errors.ConfigurationError` naming the profile file.

    Examples
    --------
    >>> profile = RawProfile.from_dict(
    ...     {
    ...         "data": {"dtype": "uint16", "endian": "big", "layout": "line", "channels": ["high", "low"],
    ...                  "rows": 1024, "lines": "auto"},
    ...         "scan": {"view": "side", "acquired_at": "file-mtime"},
    ...         "geometry": {"detector_spacing_mm": 5.0, "travel_spacing_mm": 4.0},
    ...     }
    ... )
    >>> profile.layout, profile.channels
    ('line', ('high', 'low'))
    """

    dtype: str
    endian: str
    layout: Layout
    channels: tuple[str, ...]
    rows: Size
    lines: Size | Literal["auto"]
    geometry: Geometry
    acquired_at: HeaderValue | Literal["file-mtime"]
    order: Order = "line"
    dark_lines: Size = 0
    air_lines: Size = 0
    header_size: int = 0
    header_endian: str = "little"
    magic: bytes | None = None
    valid_range: tuple[float, float] | None = None
    view: str = "side"
    calibration: CalibrationState = CalibrationState.RAW
    inspected_object: InspectedObject = field(default_factory=InspectedObject)
    scanner: Scanner = field(default_factory=Scanner)
    site: Site = field(default_factory=Site)
    name: str | None = None
    container: str | None = None
    """``npy`` or ``tiff``: the file declares its data offset, sample type and shape; the profile
    takes them from it (``dtype = "container"``, ``rows = { axis = 0 }``)."""
    source: Path | None = None
    """The TOML file the profile came from (for messages)."""

    def __post_init__(self) -> None:
        source = self.source
        if self.container is not None:
            _choice(self.container, CONTAINERS, "[data] container", source)
            if self.header_size or self.magic is not None:
                raise _fail(source, "a container declares its own header: no [header] size or magic")
        if self.dtype != "container":
            _choice(self.dtype, SAMPLE_TYPES, "[data] dtype", source)
        elif self.container is None:
            raise _fail(source, 'dtype = "container" needs [data] container = "npy" or "tiff"')
        _choice(self.endian, ("little", "big"), "[data] endian", source)
        _choice(self.header_endian, ("little", "big"), "[header] endian", source)
        _choice(self.layout, ("planar", "line", "pixel"), "[data] layout", source)
        _choice(self.order, ("line", "row"), "[data] order", source)
        if self.layout == "line" and self.order != "line":
            raise _fail(source, 'layout = "line" stores whole scan lines: order must be "line"')
        if not self.channels or len(set(self.channels)) != len(self.channels):
            raise _fail(source, f"[data] channels must be distinct names, got {list(self.channels)}")
        if self.header_size < 0:
            raise _fail(source, f"[header] size must not be negative, got {self.header_size}")
        for what, value in (("rows", self.rows), ("lines", self.lines), ("dark_lines", self.dark_lines),
                            ("air_lines", self.air_lines), ("acquired_at", self.acquired_at)):  # fmt: skip
            if isinstance(value, ContainerAxis) and self.container is None:
                raise _fail(source, f"{what} = {{ axis = {value.axis} }} needs [data] container")
            if isinstance(value, HeaderValue) and self.container is not None:
                raise _fail(source, f"{what}: a container's header is not read by offset; use {{ axis = N }}")
            if isinstance(value, HeaderValue) and value.end > self.header_size:
                raise _fail(
                    source,
                    f"{what} is read at bytes {value.offset}..{value.end}, past the {self.header_size}-byte header",
                )
        if self.magic is not None and len(self.magic) > self.header_size:
            raise _fail(source, "[header] magic is longer than the header")
        if self.valid_range is not None and not self.valid_range[0] <= self.valid_range[1]:
            raise _fail(source, f"[data] valid_range must be [low, high], got {list(self.valid_range)}")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RawProfile:
        """Read and check a TOML profile."""
        source = Path(path)
        try:
            if not stat.S_ISREG(source.stat().st_mode):  # opening a FIFO would wait for a writer forever
                raise ConfigurationError("profile is not a regular file (a pipe, socket or device)", path=source)
            data = tomllib.loads(source.read_text(encoding="utf-8"))
        except OSError as error:
            raise ConfigurationError(f"cannot read profile: {error.strerror}", path=source) from error
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
            raise ConfigurationError(f"profile is not valid TOML: {error}", path=source) from error
        return cls.from_dict(data, source=source)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: Path | None = None) -> RawProfile:
        """Build a profile from parsed TOML (the tables of ``docs/formats/raw-profile.md``)."""
        sections = {"profile", "header", "data", "scan", "geometry", "object", "scanner", "site"}
        unknown = set(data) - sections
        if unknown:
            raise _fail(source, f"unknown tables {sorted(unknown)}; allowed: {sorted(sections)}")
        about = _table(data, "profile", {"name", "description"}, source)
        header = _table(data, "header", {"size", "endian", "magic"}, source)
        sample = _table(data, "data", _DATA_KEYS, source)
        scan = _table(data, "scan", {"view", "calibration", "acquired_at"}, source)
        if "container" in sample:
            sample.setdefault("dtype", "container")
        missing = [f"[data] {key}" for key in ("dtype", "layout", "channels", "rows", "lines") if key not in sample]
        missing += ["[scan] acquired_at"] if "acquired_at" not in scan else []
        if missing:
            raise _fail(source, f"missing {', '.join(missing)}")
        acquired = scan["acquired_at"]
        if acquired != "file-mtime":
            acquired = HeaderValue.parse(acquired, "[scan] acquired_at", source, time=True)
        magic = header.get("magic")
        try:
            return cls(
                dtype=sample["dtype"],
                endian=sample.get("endian", "little"),
                layout=sample["layout"],
                order=sample.get("order", "line"),
                channels=tuple(sample["channels"]),
                rows=_size(sample["rows"], "[data] rows", source),
                lines="auto" if sample["lines"] == "auto" else _size(sample["lines"], "[data] lines", source),
                dark_lines=_size(sample.get("dark_lines", 0), "[data] dark_lines", source),
                air_lines=_size(sample.get("air_lines", 0), "[data] air_lines", source),
                valid_range=_valid_range(sample.get("valid_range"), source),
                header_size=int(header.get("size", 0)),
                header_endian=header.get("endian", sample.get("endian", "little")),
                magic=magic.encode("latin-1") if isinstance(magic, str) else None,
                view=scan.get("view", "side"),
                calibration=CalibrationState(scan.get("calibration", "RAW")),
                acquired_at=acquired,
                geometry=Geometry(
                    **_table(
                        data,
                        "geometry",
                        {"detector_spacing_mm", "travel_spacing_mm", "travel_direction", "row_order"},
                        source,
                    )
                ),
                inspected_object=InspectedObject(**_object(data, source)),
                scanner=Scanner(**_table(data, "scanner", set(Scanner.__dataclass_fields__), source)),
                site=Site(**_table(data, "site", set(Site.__dataclass_fields__), source)),
                name=about.get("name"),
                container=sample.get("container"),
                source=source,
            )
        except (ValidationError, TypeError, ValueError) as error:
            if isinstance(error, ConfigurationError):
                raise
            problem = error.problem if isinstance(error, ValidationError) else str(error)
            raise _fail(source, problem) from error

    @property
    def sample_dtype(self) -> np.dtype:
        """The decoded sample type (native byte order; uint12 decodes to uint16)."""
        return np.dtype("u2" if self.dtype == "uint12" else SAMPLE_TYPES[self.dtype])

    @property
    def stored_dtype(self) -> np.dtype:
        """The type of the stored samples, with the file's byte order."""
        return np.dtype(("<" if self.endian == "little" else ">") + SAMPLE_TYPES[self.dtype])


def _object(data: Mapping[str, Any], source: Path | None) -> dict[str, Any]:
    values = _table(data, "object", set(InspectedObject.__dataclass_fields__), source)
    if "container_numbers" in values:
        values["container_numbers"] = tuple(values["container_numbers"])
    return values


@dataclass(frozen=True)
class _Plan:
    """A profile resolved against one file: the actual sizes and where the samples are."""

    rows: int
    lines: int
    dark: int
    air: int
    samples: int
    data_bytes: int
    acquired_at: datetime

    @property
    def total_lines(self) -> int:
        return self.dark + self.air + self.lines


_SAMPLE_NAMES = {np.dtype(code).str[1:]: name for name, code in SAMPLE_TYPES.items() if name != "uint12"}


def _container_layout(profile: RawProfile, path: Path) -> tuple[int, np.dtype, tuple[int, ...]]:
    """Data offset, stored sample type and array shape the file's container declares."""
    if profile.container == "npy":
        from nii.formats.npy import read_npy_header

        header = read_npy_header(path)
        if header.fortran_order and len(header.shape) > 1:
            raise UnsupportedError("the .npy array is stored column-major; read it without a profile", path=path)
        return header.data_offset, header.dtype, header.shape
    import tifffile

    try:
        with tifffile.TiffFile(path) as tiff:
            series = tiff.series[0]
            offset, dtype, shape = series.dataoffset, series.dtype.newbyteorder(tiff.byteorder), series.shape
    except (tifffile.TiffFileError, TypeError, ValueError, IndexError, OSError) as error:  # tifffile on odd tags
        raise CorruptFileError(f"not a readable TIFF: {error}", path=path) from error
    if offset is None:
        raise UnsupportedError(
            "the TIFF's samples are compressed or not contiguous; a profile reads plain ones", path=path
        )
    return int(offset), dtype, tuple(int(n) for n in shape)


def for_file(profile: RawProfile, path: str | os.PathLike[str]) -> RawProfile:
    """The profile with what the file's container declares filled in (itself without a container)."""
    if profile.container is None:
        return profile
    path = Path(path)
    offset, dtype, shape = _container_layout(profile, path)
    name = _SAMPLE_NAMES.get(dtype.str[1:])
    if name is None:
        raise UnsupportedError(f"samples of type {dtype} are not a raw profile sample type", path=path)
    if profile.dtype not in ("container", name):
        raise CorruptFileError(f"samples are {name}, the profile expects {profile.dtype}", path=path)

    def size(value: Any) -> Any:
        if not isinstance(value, ContainerAxis):
            return value
        if value.axis >= len(shape):
            raise CorruptFileError(f"the profile reads axis {value.axis} of an array of shape {shape}", path=path)
        return shape[value.axis]

    endian = {"<": "little", ">": "big"}.get(dtype.byteorder, sys.byteorder)
    return replace(
        profile,
        container=None,
        dtype=name,
        endian=endian,
        header_size=offset,
        rows=size(profile.rows),
        lines=size(profile.lines),
        dark_lines=size(profile.dark_lines),
        air_lines=size(profile.air_lines),
    )


def _plan(profile: RawProfile, path: Path) -> _Plan:
    """Resolve sizes from the header and the file size; raise on the first mismatch."""
    size = path.stat().st_size
    with open(path, "rb") as handle:  # a header size past the file is not read (2**63 does not even fit a read)
        header = handle.read(profile.header_size) if profile.header_size <= size else b""
    if len(header) < profile.header_size:
        raise TruncatedFileError(
            f"file has {size} bytes, the profile's header alone is {profile.header_size}", path=path
        )
    if profile.magic is not None and not header.startswith(profile.magic):
        raise CorruptFileError(
            f"header starts {header[: len(profile.magic)]!r}, the profile expects {profile.magic!r}", path=path
        )

    def value(size_value: Size) -> int:
        if isinstance(size_value, ContainerAxis):  # for_file resolves these first
            raise ConfigurationError("profile has container sizes left unresolved", path=path)
        return size_value if isinstance(size_value, int) else size_value.read(header, profile.header_endian)

    rows, dark, air = value(profile.rows), value(profile.dark_lines), value(profile.air_lines)
    channels = len(profile.channels)
    if dark < 0 or air < 0:
        raise CorruptFileError(f"negative calibration line counts (dark {dark}, air {air})", path=path)
    check_image_size((channels, rows), profile.sample_dtype, path=path)
    available = size - profile.header_size
    if profile.lines == "auto":
        if profile.dtype == "uint12" and channels * rows % 2:
            raise CorruptFileError(
                f'lines = "auto" with uint12 needs an even number of samples per line, not {channels * rows}', path=path
            )
        bits_per_line = channels * rows * (12 if profile.dtype == "uint12" else 8 * profile.stored_dtype.itemsize)
        total_lines, rest = divmod(available * 8, bits_per_line)
        if rest:
            raise CorruptFileError(
                f"{available} data bytes are not a whole number of lines of {bits_per_line // 8} bytes "
                f"({rest // 8} bytes left)",
                path=path,
            )
        lines = total_lines - dark - air
    else:
        lines = value(profile.lines)
    check_image_size((channels, rows, lines + dark + air), profile.sample_dtype, path=path)
    check_image_size((channels, rows, lines), profile.sample_dtype, path=path)
    samples = channels * rows * (lines + dark + air)
    data_bytes = packed12_size(samples) if profile.dtype == "uint12" else samples * profile.stored_dtype.itemsize
    expected = profile.header_size + data_bytes
    layout = (
        f"{profile.header_size} header bytes + {channels} channels × {dark + air + lines} lines × {rows} rows "
        f"of {profile.dtype}"
    )
    if size < expected:
        raise TruncatedFileError(f"file has {size} bytes, the profile expects {expected} ({layout})", path=path)
    if size > expected:
        raise CorruptFileError(f"file has {size} bytes, the profile expects {expected} ({layout})", path=path)
    if profile.acquired_at == "file-mtime":
        acquired = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
    else:
        stamp = profile.acquired_at.read(header, profile.header_endian)
        assert profile.acquired_at.unit is not None
        try:
            acquired = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(
                microseconds=stamp * TIME_UNITS[profile.acquired_at.unit]
            )
        except OverflowError:
            raise CorruptFileError(f"scan time {stamp} {profile.acquired_at.unit} is out of range", path=path) from None
    return _Plan(rows, lines, dark, air, samples, data_bytes, acquired)


def _decode(profile: RawProfile, path: Path, plan: _Plan) -> np.ndarray:
    """All samples as one native-order block, calibration lines first along the line axis.

    The block is ``(channels, lines, rows)`` for line order and ``(channels, rows, lines)`` for
    row order, so that no transposing copy is made.
    """
    channels, total, rows = len(profile.channels), plan.total_lines, plan.rows
    if profile.dtype == "uint12":
        packed = np.memmap(path, dtype=np.uint8, mode="r", offset=profile.header_size, shape=(plan.data_bytes,))
        stream = unpack12(packed, plan.samples, big_endian=profile.endian == "big")
        swap = False
    else:
        stream = np.memmap(
            path, dtype=profile.stored_dtype, mode="r", offset=profile.header_size, shape=(plan.samples,)
        )
        swap = not profile.stored_dtype.isnative
    native = profile.sample_dtype
    if profile.layout == "line":
        records = stream.reshape(total, channels, rows)
        if native.itemsize == 2 and native.kind in "ui":
            return deinterleave_lines(records.view(native), swap_bytes=swap)
        return records.transpose(1, 0, 2).astype(native, order="C")
    if profile.layout == "planar":
        grid = (
            stream.reshape(channels, total, rows) if profile.order == "line" else stream.reshape(channels, rows, total)
        )
    elif profile.order == "line":
        grid = stream.reshape(total, rows, channels).transpose(2, 0, 1)
    else:
        grid = stream.reshape(rows, total, channels).transpose(2, 0, 1)
    return grid.astype(native, order="C")


def _images(profile: RawProfile, block: np.ndarray, start: int, stop: int) -> dict[str, np.ndarray]:
    """``(rows, lines)`` views of lines ``start:stop`` of every channel."""
    if profile.order == "line":
        return {name: block[index, start:stop].T for index, name in enumerate(profile.channels)}
    return {name: block[index, :, start:stop] for index, name in enumerate(profile.channels)}


@dataclass
class ProfileReport:
    """What :func:`check_file` found: facts about the file and mismatches with the profile."""

    facts: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches


def check_file(profile: RawProfile, path: str | os.PathLike[str]) -> ProfileReport:
    """Compare a file with a profile before converting it.

    Reports a header that does not match (magic, sizes), a file size other than the profile
    gives, and samples outside ``valid_range`` (or not finite).

    Examples
    --------
    >>> report = check_file(RawProfile.load("portal.toml"), "export.bin")  # doctest: +SKIP
    >>> report.ok, report.mismatches  # doctest: +SKIP
    (False, ['file has 1000 bytes, the profile expects 1064 (...)'])
    """
    path = Path(path)
    if not path.is_file():
        raise FileAccessError("no such file", path=path)
    report = ProfileReport()
    try:
        profile = for_file(profile, path)
        plan = _plan(profile, path)
    except (CorruptFileError, LimitExceededError, UnsupportedError) as error:
        report.mismatches.append(error.problem)
        return report
    report.facts.append(
        f"{len(profile.channels)} channels × {plan.rows} rows × {plan.lines} lines "
        f"(+ {plan.dark} dark, {plan.air} air lines), {profile.dtype} {profile.endian}-endian, {profile.layout} layout"
    )
    block = _decode(profile, path, plan)
    for name, image in _images(profile, block, 0, plan.total_lines).items():
        values = np.asarray(image)
        problems = []
        if values.dtype.kind == "f" and not bool(np.isfinite(values).all()):
            problems.append(f"{int(values.size - np.isfinite(values).sum())} samples are not finite")
        if profile.valid_range is not None:
            low, high = profile.valid_range
            outside = (values < low) | (values > high)
            count = int(outside.sum())
            if count:
                row, line = (int(i) for i in np.argwhere(outside)[0])
                problems.append(
                    f"{count} samples outside [{low:g}, {high:g}] (range {values.min():g}..{values.max():g}; "
                    f"first at row {row}, line {line})"
                )
        report.mismatches += [f"channel {name!r}: {problem}" for problem in problems]
        report.facts.append(f"channel {name!r}: values {values.min():g}..{values.max():g}")
    return report


def fits(profile: RawProfile | str | os.PathLike[str], path: str | os.PathLike[str]) -> bool:
    """Whether the file's header and size match the profile (no samples read): to pick files from a folder."""
    if not isinstance(profile, RawProfile):
        profile = RawProfile.load(profile)
    try:
        _plan(for_file(profile, Path(path)), Path(path))
    except (CorruptFileError, TruncatedFileError, LimitExceededError, UnsupportedError):
        return False
    return True


class ProfileFormat(Format):
    """Raw exports read through a TOML :class:`RawProfile` (``profile=`` option; never sniffed)."""

    name = "profile"
    description = "raw export described by a TOML profile: nii.read(path, format='profile', profile='x.toml')"
    capabilities = frozenset({"dual-energy", "calibration-lines"})
    version = "1"
    read_errors = library_errors("tifffile.tifffile.TiffFileError", "struct.error", "zlib.error")
    read_options = declare(
        profile=Option("the TOML profile (a path) or a RawProfile; required", kind=(str, os.PathLike, RawProfile))
    )

    def read(self, path: Path, **options: Any) -> Scan:
        profile = options["profile"]
        if profile is None:
            raise ConfigurationError("format 'profile' needs profile=PATH_TO_TOML (or a RawProfile)", path=path)
        if not isinstance(profile, RawProfile):
            profile = RawProfile.load(profile)
        profile = for_file(profile, path)
        plan = _plan(profile, path)
        block = _decode(profile, path, plan)
        calibrated = plan.dark + plan.air
        with reading(path, self.name):
            view = View(
                profile.view,
                _images(profile, block, calibrated, plan.total_lines),
                profile.geometry,
                calibration=profile.calibration,
                dark=_images(profile, block, 0, plan.dark) if plan.dark else {},
                air=_images(profile, block, plan.dark, calibrated) if plan.air else {},
            )
            return Scan(
                views=[view],
                acquired_at=plan.acquired_at,
                inspected_object=profile.inspected_object,
                scanner=profile.scanner,
                site=profile.site,
                provenance=Provenance(
                    steps=(
                        ProcessingStep(
                            "decode with raw profile", {"profile": str(profile.source), "name": profile.name}
                        ),
                    ),
                ),
            )


FORMAT = register(ProfileFormat)

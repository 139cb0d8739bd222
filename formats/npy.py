"""``npy``: one NumPy array per file (``numpy.save``), as scanners' Python exports write them.

A ``.npy`` file holds one array and its shape and sample type, nothing else; this reader maps
the array to one view by a fixed, documented convention (``docs/formats/npy.md``):

* 2-D ``(rows, lines)``: one channel, ``single``; with ``channels="high,low"`` the channels
  alternate sample by sample along the last axis (``(rows, lines × 2)``, pixel-interleaved).
* 3-D ``(rows, lines, channels)``: the channels in the last axis: two are ``high``, ``low``
  (in that order), one is ``single``; other counts need ``channels=``.
* ``axes="lines,rows,channels"`` (any order of ``rows``, ``lines`` and, for 3-D, ``channels``)
  says how the array's axes are stored, when not as above.

The file carries no time, geometry or scanner: the scan time is the file's modification time
(recorded as such in the provenance), and the rest stays unknown. A raw profile
(``docs/formats/raw-profile.md``, ``container = "npy"``) adds what one scanner's files share.

Examples
--------
>>> import numpy, nii
>>> numpy.save("export.npy", numpy.full((8, 20, 2), 1000, numpy.uint16))  # doctest: +SKIP
>>> nii.read("export.npy").views[0].channels["low"].shape  # doctest: +SKIP
(8, 20)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import ConfigurationError, CorruptFileError, TruncatedFileError, UnsupportedError
from nii.limits import check_image_size
from nii.model import CalibrationState, Scan, View
from nii.provenance import ProcessingStep, Provenance
from nii.registry import Format, Option, declare, register

__all__ = ["NPY_MAGIC", "NpyFormat", "NpyHeader", "read_npy_header"]

NPY_MAGIC = b"\x93NUMPY"
MAX_HEADER_BYTES = 10_000
"""Longest array header accepted (numpy's own limit for untrusted files)."""
SAMPLE_KINDS = "uif"
"""Unsigned and signed integers and floats: what a detector export holds."""


@dataclass(frozen=True)
class NpyHeader:
    """What the header of a ``.npy`` file says: where the samples start and how they are stored."""

    data_offset: int
    dtype: np.dtype
    shape: tuple[int, ...]
    fortran_order: bool


def read_npy_header(path: Path) -> NpyHeader:
    """Parse and check the header of a ``.npy`` file (no samples read).

    Raises
    ------
    CorruptFileError
        Not a ``.npy`` file, a header numpy cannot parse, or samples that are not numbers.
    TruncatedFileError
        The file is shorter than its header announces.
    """
    try:
        with open(path, "rb") as handle:
            major, _minor = np.lib.format.read_magic(handle)
            reader = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            shape, fortran_order, dtype = reader(handle, max_header_size=MAX_HEADER_BYTES)
            offset = handle.tell()
    except (ValueError, OSError, SyntaxError, EOFError) as error:
        raise CorruptFileError(f"not a readable .npy header: {error}", path=path) from error
    if dtype.kind not in SAMPLE_KINDS or dtype.fields is not None or dtype.subdtype is not None:
        raise CorruptFileError(f".npy samples are {dtype}, not plain numbers", path=path)
    shape = tuple(int(n) for n in shape)
    if any(n <= 0 for n in shape):
        raise CorruptFileError(f".npy array has an empty axis: shape {shape}", path=path)
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size < expected:
        raise TruncatedFileError(f"file has {size} bytes, its .npy header announces {expected}", path=path)
    if size > expected:
        raise CorruptFileError(f"file has {size} bytes, its .npy header announces {expected}", path=path)
    return NpyHeader(offset, dtype, shape, bool(fortran_order))


def _channel_names(channels: str | tuple[str, ...] | None, count: int | None, path: Path) -> tuple[str, ...]:
    if channels is not None:
        names = tuple(name.strip() for name in channels.split(",")) if isinstance(channels, str) else tuple(channels)
        if not all(names) or len(set(names)) != len(names):
            raise ConfigurationError(f"channels must be distinct names, got {list(names)}", path=path)
        if count is not None and len(names) != count:
            raise ConfigurationError(f"channels names {len(names)} channels, the array holds {count}", path=path)
        return names
    if count in (None, 1):
        return ("single",)
    if count == 2:
        return ("high", "low")
    raise ConfigurationError(f"the array holds {count} channels: name them with channels=a,b,...", path=path)


def _axes(axes: str | None, ndim: int, path: Path) -> tuple[str, ...]:
    default = ("rows", "lines", "channels")[:ndim]
    names = tuple(name.strip() for name in axes.split(",")) if axes else default
    if sorted(names) != sorted(default):
        raise ConfigurationError(f"axes of a {ndim}-D array must order {', '.join(default)}, got {axes!r}", path=path)
    return names


def channel_images(
    array: np.ndarray, *, channels: str | tuple[str, ...] | None = None, axes: str | None = None, path: Path
) -> dict[str, np.ndarray]:
    """The ``(rows, lines)`` image of every channel of a 2-D or 3-D array, by the module's convention."""
    if array.ndim not in (2, 3):
        raise UnsupportedError(f"a scan is a 2-D or 3-D array, this one has shape {array.shape}", path=path)
    order = _axes(axes, array.ndim, path)
    # Bring the axes to (rows, lines[, channels]); transposing a memory map costs nothing.
    array = array.transpose([order.index(name) for name in ("rows", "lines", "channels")[: array.ndim]])
    if array.ndim == 3:
        names = _channel_names(channels, array.shape[2], path)
        return {name: np.ascontiguousarray(array[:, :, index]) for index, name in enumerate(names)}
    names = _channel_names(channels, None, path)
    if len(names) == 1:
        return {names[0]: array}
    if array.shape[1] % len(names):
        raise CorruptFileError(
            f"{array.shape[1]} samples per row do not interleave {len(names)} channels evenly", path=path
        )
    return {name: np.ascontiguousarray(array[:, index :: len(names)]) for index, name in enumerate(names)}


class NpyFormat(Format):
    """NumPy `.npy` arrays: 2-D `(rows, lines)` or 3-D `(rows, lines, channels)`; options `channels`, `axes`."""

    name = "npy"
    extensions = (".npy",)
    description = "one NumPy array per file: (rows, lines) or (rows, lines, channels), high/low in the last axis"
    capabilities = frozenset({"dual-energy"})
    version = "1"
    read_options = declare(
        channels=Option("channel names, comma-separated (high,low); default: by channel count", kind=(str, tuple)),
        axes=Option("the array's axes in order, comma-separated (lines,rows); default rows,lines[,channels]"),
        calibration=Option("what the values are", default=CalibrationState.RAW, kind=CalibrationState),
        view=Option("the view's name", default="side"),
    )

    def can_read(self, head: bytes, path: Path) -> bool:
        return head.startswith(NPY_MAGIC)

    def read(self, path: Path, **options: Any) -> Scan:
        channels, axes = options["channels"], options["axes"]
        header = read_npy_header(path)
        check_image_size(header.shape, header.dtype, path=path)
        array: np.ndarray = np.memmap(
            path,
            dtype=header.dtype,
            mode="r",
            offset=header.data_offset,
            shape=header.shape,
            order="F" if header.fortran_order else "C",
        )
        if not header.dtype.isnative:
            array = array.astype(header.dtype.newbyteorder("="))
        images = channel_images(array, channels=channels, axes=axes, path=path)
        acquired = datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)
        step = ProcessingStep(
            "decode npy",
            {"shape": list(header.shape), "dtype": str(header.dtype), "channels": list(images), "axes": axes},
        )
        return Scan(
            views=[View(options["view"], images, calibration=options["calibration"])],
            acquired_at=acquired,
            provenance=Provenance(steps=(step, ProcessingStep("scan time from file modification time", {}))),
        )


FORMAT = register(NpyFormat)

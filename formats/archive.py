"""``nii-archive``: many scans, their ground truth and threats in one HDF5 file.

The archive is for image libraries and machine learning: one file holds one scan or
thousands, each with the full scan metadata, its threats and, optionally, ground truth (any
named arrays plus a JSON document). Pixels are chunked in 512 × 512 tiles and compressed
losslessly; one scan is read without touching the bytes of the others. The byte-level
layout is specified in ``docs/formats/nii-archive.md``.

Writing and reading::

    >>> from nii.formats.archive import append_archive, open_archive, write_archive
    >>> write_archive("lib.niih5", [scan, (other, {"material": labels}, {"source": "sim"})])  # doctest: +SKIP
    range(0, 2)
    >>> with open_archive("lib.niih5") as archive:  # doctest: +SKIP
    ...     [entry.scan_uid for entry in archive.entries]
    ...     second = archive.read(1)
    ...     arrays, metadata = archive.truth(1)

``nii.read(path)`` returns the first scan, ``nii.read(path, scan=k)`` (an index or a scan
UID) another. :func:`append_archive` adds scans to an existing archive atomically: it writes
a copy and renames it over the original, so an interrupted append leaves the original intact.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, NamedTuple

import numpy as np

from nii.errors import (
    ConfigurationError,
    CorruptFileError,
    FileAccessError,
    NiiError,
    TruncatedFileError,
    UnknownFormatError,
    UnsupportedError,
    ValidationError,
)
from nii.formats._hdf5 import read_whole
from nii.formats._hdf5_checks import HDF5_ERRORS, CheckedFile, check_storage
from nii.imports import lazy_module
from nii.io import atomic_output
from nii.limits import check_image_size
from nii.metadata import scan_arrays, scan_from_dict, scan_to_dict
from nii.model import LenientStrEnum, Scan
from nii.registry import Format, Option, declare, register
from nii.version import __version__

if TYPE_CHECKING:
    import h5py
    import hdf5plugin
else:
    h5py = lazy_module("h5py", also=["hdf5plugin"])  # hdf5plugin registers the Blosc filters used on reading
    hdf5plugin = lazy_module("hdf5plugin")

__all__ = [
    "ARCHIVE_VERSION",
    "EXTENSION",
    "Archive",
    "ArchiveEntry",
    "ArchiveFormat",
    "Compression",
    "Truth",
    "append_archive",
    "open_archive",
    "write_archive",
]

FORMAT_NAME = "nii-archive"
EXTENSION = ".niih5"
"""File name ending; distinct from NIfTI's ``.nii`` and from generic ``.h5``."""
ARCHIVE_VERSION = 1
"""Layout version written to the root attribute ``nii_archive_version``."""

FORMAT_ATTRIBUTE = "nii_format"
VERSION_ATTRIBUTE = "nii_archive_version"
WRITER_ATTRIBUTE = "nii_writer"
SCANS_GROUP = "scans"
METADATA_DATASET = "metadata.json"
TRUTH_METADATA_DATASET = "truth.json"
TRUTH_GROUP = "truth"

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
# The writer stores the root attributes as fixed-length strings, so name and value sit in
# the root object header within the first bytes of the file; other HDF5 writers may place
# them elsewhere, which the sniffer then checks by opening the file.
_FORMAT_MARKS = (FORMAT_ATTRIBUTE.encode(), FORMAT_NAME.encode())
_TILE = 512
"""Chunk edge of 2-D (and higher) arrays: tiles suit both whole-view reads and ML patches.
Measured (``benchmarks/test_archive.py``): whole reads of 512 × 512 tiles run at about 1.5×
the speed of 256 × 256 ones, as each chunk costs a fixed decode and copy overhead."""
_CHUNK_THRESHOLD_BYTES = 16 * 1024
"""Arrays smaller than this are stored contiguous and uncompressed: a chunk index costs
more than compression saves on them."""
_TRUTH_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,63}")
_PIXEL_KINDS = "biuf"
"""Array element kinds an archive holds: bool, signed, unsigned, float."""


class Compression(LenientStrEnum):
    """Lossless filter for the pixel arrays, chosen by ``benchmarks/test_archive.py``.

    ``BLOSC_LZ4`` (Blosc with LZ4 level 5 and bit shuffle, through ``hdf5plugin``) is the
    default: on simulated dual-energy cargo counts it stores within 3 % of Blosc/Zstandard and
    of gzip, writes several times faster than either, and nii reads it at about 0.8 of the
    speed of ``numpy.fromfile`` on the raw pixels (Zstandard about 0.5; gzip 0.1).
    ``BLOSC_ZSTD`` (Zstandard level 3, bit shuffle) stores a few per cent smaller for
    libraries kept long and read seldom. Readers outside nii need the Blosc HDF5 plug-in for
    both (in Python, ``import hdf5plugin``). ``GZIP`` (deflate level 4 after byte shuffle)
    is readable by every HDF5 installation; ``NONE`` stores raw bytes, contiguous.
    """

    BLOSC_LZ4 = "blosc-lz4"
    BLOSC_ZSTD = "blosc-zstd"
    GZIP = "gzip"
    NONE = "none"

    @property
    def filter_options(self) -> dict[str, Any]:
        """Keyword arguments for :meth:`h5py.Group.create_dataset`."""
        if self is Compression.BLOSC_LZ4:
            return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
        if self is Compression.BLOSC_ZSTD:
            return dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE))
        if self is Compression.GZIP:
            return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
        return {}


class Truth(NamedTuple):
    """Ground truth stored with one scan: named arrays and a JSON-compatible document."""

    arrays: dict[str, np.ndarray]
    metadata: Any


@dataclass(frozen=True)
class ArchiveEntry:
    """What an archive says about one of its scans, read without loading any pixels.

    Attributes
    ----------
    index
        Position in the archive (0 is the first scan written).
    metadata
        The scan's :func:`nii.metadata.scan_to_dict` document.
    truth_names
        Names of the scan's ground-truth arrays.
    """

    index: int
    metadata: dict[str, Any]
    truth_names: tuple[str, ...]

    @property
    def scan_uid(self) -> str:
        return str(self.metadata["scan_uid"])

    @property
    def acquired_at(self) -> datetime:
        return datetime.fromisoformat(self.metadata["acquired_at"])

    @property
    def views(self) -> dict[str, tuple[int, int]]:
        """View name → ``(detector rows, scan lines)``."""
        return {view["name"]: (int(view["shape"][0]), int(view["shape"][1])) for view in self.metadata["views"]}

    @property
    def threat_count(self) -> int:
        return len(self.metadata["threats"])


ArchiveItem = Scan | tuple[Scan, Mapping[str, Any], Any]
"""What :func:`write_archive` takes per scan: a scan, or ``(scan, truth_arrays, truth_json)``."""


# --------------------------------------------------------------------------- errors


def _source_name(source: str | os.PathLike[str] | IO[bytes]) -> str:
    if isinstance(source, str | os.PathLike):
        return os.fspath(source)
    return str(getattr(source, "name", "<stream>"))


@contextmanager
def _hdf5_errors(path: str, what: str) -> Iterator[None]:
    """Turn what h5py raises on a damaged file into :mod:`nii.errors` types naming ``path``."""
    try:
        yield
    except NiiError:
        raise
    except (OSError, KeyError, RuntimeError, TypeError, ValueError) as error:
        message = f"{what}: {error}"
        if "truncated" in str(error).lower():
            raise TruncatedFileError(message, path=path) from error
        raise CorruptFileError(message, path=path) from error


# --------------------------------------------------------------------------- writing


def _chunk_shape(shape: tuple[int, ...]) -> tuple[int, ...]:
    if len(shape) == 1:
        return (min(shape[0], _TILE * _TILE),)
    return (*(1 for _ in shape[:-2]), min(shape[-2], _TILE), min(shape[-1], _TILE))


def _store_array(group: h5py.Group, key: str, array: Any, filters: dict[str, Any], what: str) -> None:
    data = np.asarray(array)
    if data.dtype.kind not in _PIXEL_KINDS:
        raise ValidationError(f"{what} has element type {data.dtype}; an archive holds bool, integer or float arrays")
    if data.ndim >= 1 and data.size and data.nbytes >= _CHUNK_THRESHOLD_BYTES and filters:
        group.create_dataset(key, data=data, chunks=_chunk_shape(data.shape), **filters)
    else:
        group.create_dataset(key, data=data)


def _store_json(group: h5py.Group, name: str, document: Any, what: str) -> None:
    try:
        text = json.dumps(document, ensure_ascii=True)
    except (TypeError, ValueError) as error:
        raise ValidationError(f"{what} is not JSON-serialisable: {error}") from error
    # A scalar fixed-length ASCII string: any HDF5 tool shows it as text.
    group.create_dataset(name, data=np.bytes_(text.encode("ascii")))


def _unpack(item: ArchiveItem, index: int) -> tuple[Scan, Mapping[str, Any], Any]:
    if isinstance(item, Scan):
        return item, {}, None
    if isinstance(item, tuple) and len(item) == 3 and isinstance(item[0], Scan) and isinstance(item[1], Mapping):
        return item
    raise ValidationError(
        f"archive item {index} is {type(item).__name__}; give a Scan or (scan, truth_arrays, truth_json)"
    )


def _add_scans(
    scans: h5py.Group, items: Iterable[ArchiveItem], known_uids: dict[str, int], filters: dict[str, Any], path: Path
) -> int:
    """Write each item as the next numbered group of ``scans``; return how many were written.

    Raises
    ------
    ValidationError
        An item cannot be stored; the message names ``path``.
    """
    try:
        return _store_items(scans, items, known_uids, filters)
    except ValidationError as error:
        raise ValidationError(error.problem, path=path) from error


def _store_items(
    scans: h5py.Group, items: Iterable[ArchiveItem], known_uids: dict[str, int], filters: dict[str, Any]
) -> int:
    start = len(known_uids)
    count = 0
    for index, item in enumerate(items, start):
        scan, truth_arrays, truth_json = _unpack(item, index)
        if scan.scan_uid in known_uids:
            raise ValidationError(
                f"scan UID {scan.scan_uid} is already in the archive (scan {known_uids[scan.scan_uid]})"
            )
        known_uids[scan.scan_uid] = index
        group = scans.create_group(str(index))
        _store_json(group, METADATA_DATASET, scan_to_dict(scan), f"metadata of scan {index}")
        for key, array in scan_arrays(scan).items():
            _store_array(group, key, array, filters, f"array {key} of scan {index}")
        if truth_json is not None:
            _store_json(group, TRUTH_METADATA_DATASET, truth_json, f"truth JSON of scan {index}")
        if truth_arrays:
            truth = group.create_group(TRUTH_GROUP)
            for name, array in truth_arrays.items():
                if not isinstance(name, str) or _TRUTH_NAME.fullmatch(name) is None:
                    raise ValidationError(f"truth array name {name!r} of scan {index} must match {_TRUTH_NAME.pattern}")
                _store_array(truth, name, array, filters, f"truth array {name!r} of scan {index}")
        count += 1
    return count


def write_archive(
    path: str | os.PathLike[str],
    items: Iterable[ArchiveItem],
    *,
    compression: Compression | str = Compression.BLOSC_LZ4,
) -> range:
    """Write scans (with optional ground truth) to a new NII archive, atomically.

    Parameters
    ----------
    path
        The archive to create (``.niih5`` by convention); an existing file is replaced.
    items
        Each a :class:`~nii.model.Scan` or ``(scan, truth_arrays, truth_json)``: truth arrays
        are named numeric arrays of any shape (names ``[A-Za-z0-9_][A-Za-z0-9_.-]*``), the
        truth JSON any JSON-compatible value (``None``: none). A generator is consumed once,
        so archives larger than memory can be written scan by scan.
    compression
        Lossless filter of the pixel arrays (see :class:`Compression`).

    Returns
    -------
    range
        The indices of the scans written.

    Raises
    ------
    ValidationError
        No scans, a duplicate scan UID, a bad truth name or a non-numeric array; nothing is
        written.

    Examples
    --------
    >>> write_archive("one.niih5", [scan])  # doctest: +SKIP
    range(0, 1)
    """
    path = Path(path)
    filters = Compression(compression).filter_options
    with atomic_output(path) as temporary, h5py.File(temporary, "w", libver="earliest") as file:
        file.attrs[FORMAT_ATTRIBUTE] = np.bytes_(FORMAT_NAME.encode())
        file.attrs[VERSION_ATTRIBUTE] = np.int32(ARCHIVE_VERSION)
        file.attrs[WRITER_ATTRIBUTE] = np.bytes_(f"nii {__version__}".encode())
        count = _add_scans(file.create_group(SCANS_GROUP), items, {}, filters, path)
        if count == 0:
            raise ValidationError("an archive needs at least one scan", path=path)
    return range(count)


def append_archive(
    path: str | os.PathLike[str],
    items: Iterable[ArchiveItem],
    *,
    compression: Compression | str = Compression.BLOSC_LZ4,
) -> range:
    """Add scans to an existing archive without risking it.

    The archive is copied beside itself, the scans are added to the copy, and the copy is
    renamed over the original. An error or interruption at any point leaves the original
    file byte-for-byte as it was (a process killed outright may leave a hidden
    ``.NAME.*.partial`` file next to it, which can be deleted). The cost is one copy of the
    archive per call, so add many scans per call rather than one call per scan.

    Parameters
    ----------
    path
        An existing NII archive.
    items, compression
        As for :func:`write_archive`.

    Returns
    -------
    range
        The indices the new scans received.

    Examples
    --------
    >>> append_archive("lib.niih5", [another_scan])  # doctest: +SKIP
    range(2, 3)
    """
    path = Path(path)
    filters = Compression(compression).filter_options
    with open_archive(path) as archive:
        known_uids = {entry.scan_uid: entry.index for entry in archive.entries}
    start = len(known_uids)
    with atomic_output(path) as temporary:
        shutil.copy(path, temporary)  # content and permission bits
        with (
            _hdf5_errors(str(path), "cannot append"),
            h5py.File(temporary, "r+") as file,
        ):
            count = _add_scans(file[SCANS_GROUP], items, known_uids, filters, path)
    return range(start, start + count)


# --------------------------------------------------------------------------- reading


class _ScanArrays(Mapping[str, np.ndarray]):
    """The arrays of one scan group, each read only when :func:`scan_from_dict` asks for it.

    Every dataset is checked before allocation: element type, size limits, the shape and
    type the metadata announces, and for chunked datasets that every chunk is present.
    """

    def __init__(self, group: h5py.Group, path: str, index: int, expected: Mapping[str, tuple[tuple[int, ...], str]]):
        self._group = group
        self._path = path
        self._index = index
        self._expected = expected

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self._group

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._group:
            raise KeyError(key)
        what = f"dataset {key} of scan {self._index}"
        dataset = self._group[key]
        if key in self._expected:
            shape, dtype = self._expected[key]
            if isinstance(dataset, h5py.Dataset) and (dataset.shape != shape or str(dataset.dtype) != dtype):
                raise CorruptFileError(
                    f"{what} is {dataset.dtype} {dataset.shape}, the metadata announces {dtype} {shape}",
                    path=self._path,
                )
        return _read_dataset(dataset, self._path, what)

    def __iter__(self) -> Iterator[str]:
        keys: list[str] = []
        self._group.visit(lambda name: keys.append(name) if isinstance(self._group[name], h5py.Dataset) else None)
        return iter(keys)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _read_dataset(dataset: Any, path: str, what: str) -> np.ndarray:
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"{what} is a group, not a dataset", path=path)
    with _hdf5_errors(path, f"cannot read {what}"):
        check_storage(dataset, path=path)
        dtype, shape = dataset.dtype, dataset.shape
        if shape is None or dtype.kind not in _PIXEL_KINDS:
            raise CorruptFileError(f"{what} holds {dtype} {shape}, not a numeric array", path=path)
        check_image_size(shape or (1,), dtype, path=path)
        if dataset.chunks is not None and dataset.size:
            needed = int(np.prod([-(-n // c) for n, c in zip(shape, dataset.chunks, strict=True)]))
            present = dataset.id.get_num_chunks()
            if present != needed:
                raise TruncatedFileError(
                    f"{what} announces {needed} chunks of data, the file holds {present}", path=path
                )
        return read_whole(dataset, path=path)


def _read_json(group: h5py.Group, name: str, path: str, what: str) -> Any:
    dataset = group.get(name)
    if not isinstance(dataset, h5py.Dataset):
        raise CorruptFileError(f"{what} ({group.name}/{name}) is missing", path=path)
    with _hdf5_errors(path, f"cannot read {what}"):
        if dataset.shape != () or dataset.dtype.kind != "S":
            raise CorruptFileError(f"{what} is {dataset.dtype} {dataset.shape}, not a JSON string", path=path)
        check_image_size((dataset.dtype.itemsize,), np.uint8, path=path)
        text = dataset[()]
    try:
        return json.loads(text)
    except ValueError as error:
        raise CorruptFileError(f"{what} is not valid JSON: {error}", path=path) from error


class Archive:
    """An open NII archive: list its scans and read any one without touching the others.

    Use :func:`open_archive` to create one; close it (or use it as a context manager) when
    done.
    """

    def __init__(self, file: h5py.File, name: str, *, stream: IO[bytes] | None = None):
        self._file = file
        self.name = name
        with _hdf5_errors(name, "cannot read the archive root"):
            root = _root_attributes(file, name, stream=stream)
            marker = root.get(FORMAT_ATTRIBUTE)
            if (marker.decode("ascii", "replace") if isinstance(marker, bytes) else marker) != FORMAT_NAME:
                raise UnknownFormatError(
                    f"HDF5 file without the root attribute {FORMAT_ATTRIBUTE}={FORMAT_NAME}", path=name
                )
            version = root.get(VERSION_ATTRIBUTE)
            if not isinstance(version, np.integer | int) or not 1 <= int(version) <= ARCHIVE_VERSION:
                raise UnsupportedError(
                    f"archive layout version {version}; this nii reads 1 to {ARCHIVE_VERSION}", path=name
                )
            scans = file.get(SCANS_GROUP)
            if not isinstance(scans, h5py.Group):
                raise CorruptFileError(f"the group /{SCANS_GROUP} is missing", path=name)
            names = set(scans)
            expected = {str(index) for index in range(len(names))}
            if names != expected:
                odd = sorted(names - expected)[:5] or sorted(expected - names)[:5]
                raise CorruptFileError(
                    f"scan groups must be numbered 0..{len(names) - 1}; found {len(names)} groups, odd names {odd}",
                    path=name,
                )
            if not names:
                raise CorruptFileError("the archive holds no scans", path=name)
        self._scans = scans

    def __len__(self) -> int:
        return len(self._scans)

    def __enter__(self) -> Archive:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def __repr__(self) -> str:
        return f"<Archive {self.name!r}: {len(self)} scans>"

    def _group(self, index: int) -> h5py.Group:
        group = self._scans[str(index)]
        if not isinstance(group, h5py.Group):
            raise CorruptFileError(f"/{SCANS_GROUP}/{index} is not a group", path=self.name)
        return group

    def index(self, scan: int | str) -> int:
        """The position of ``scan``, given as an index (negative counts from the end) or a scan UID."""
        count = len(self)
        if isinstance(scan, int | np.integer) and not isinstance(scan, bool):
            if not -count <= scan < count:
                raise ConfigurationError(
                    f"scan index {scan} is out of range: the archive holds {count} scans", path=self.name
                )
            return int(scan) % count
        if isinstance(scan, str):
            for entry in self.entries:
                if entry.scan_uid == scan:
                    return entry.index
            raise ConfigurationError(f"no scan with UID {scan} in the archive", path=self.name)
        raise ConfigurationError(f"select a scan by index or UID, not {type(scan).__name__}", path=self.name)

    def metadata(self, scan: int | str = 0) -> dict[str, Any]:
        """The :func:`nii.metadata.scan_to_dict` document of one scan (no pixels are read)."""
        index = self.index(scan)
        document = _read_json(self._group(index), METADATA_DATASET, self.name, f"metadata of scan {index}")
        if not isinstance(document, dict):
            raise CorruptFileError(f"metadata of scan {index} is not a JSON object", path=self.name)
        return document

    @property
    def entries(self) -> list[ArchiveEntry]:
        """One :class:`ArchiveEntry` per scan, in archive order (metadata only, no pixels)."""
        result = []
        for index in range(len(self)):
            truth = self._group(index).get(TRUTH_GROUP)
            names = tuple(truth) if isinstance(truth, h5py.Group) else ()
            result.append(ArchiveEntry(index, self.metadata(index), names))
        return result

    def read(self, scan: int | str = 0) -> Scan:
        """Load one scan (its arrays in memory), its provenance naming this archive as the source.

        Raises
        ------
        ConfigurationError, CorruptFileError, TruncatedFileError, LimitExceededError, ValidationError
            As :meth:`stored`.
        """
        return FORMAT.stamp(self.stored(scan), self.name)

    def stored(self, scan: int | str = 0) -> Scan:
        """Load one scan as the archive stores it (provenance as written); no other scan's data is read.

        Raises
        ------
        ConfigurationError
            No such index or UID.
        CorruptFileError, TruncatedFileError, LimitExceededError, ValidationError
            The scan's data is damaged, too large or inconsistent.
        """
        index = self.index(scan)
        metadata = self.metadata(index)
        try:
            expected = {
                channel["key"]: ((int(view["shape"][0]), int(view["shape"][1])), channel["dtype"])
                for view in metadata["views"]
                for channel in view["channels"].values()
            }
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise CorruptFileError(f"malformed view metadata of scan {index}: {error!r}", path=self.name) from error
        arrays = _ScanArrays(self._group(index), self.name, index, expected)
        with _hdf5_errors(self.name, f"cannot read scan {index}"):
            return scan_from_dict(metadata, arrays, path=self.name)

    def truth(self, scan: int | str = 0) -> Truth:
        """The ground truth stored with one scan: ``(arrays, json)``; empty and ``None`` if none."""
        index = self.index(scan)
        group = self._group(index)
        metadata = (
            _read_json(group, TRUTH_METADATA_DATASET, self.name, f"truth JSON of scan {index}")
            if TRUTH_METADATA_DATASET in group
            else None
        )
        arrays: dict[str, np.ndarray] = {}
        truth = group.get(TRUTH_GROUP)
        if truth is not None:
            if not isinstance(truth, h5py.Group):
                raise CorruptFileError(f"truth of scan {index} is not a group", path=self.name)
            for name in truth:
                arrays[name] = _read_dataset(truth[name], self.name, f"truth array {name!r} of scan {index}")
        return Truth(arrays, metadata)


def open_archive(source: str | os.PathLike[str] | IO[bytes]) -> Archive:
    """Open a NII archive for reading.

    Parameters
    ----------
    source
        A path, or a seekable binary file object (for example one from an object store).

    Raises
    ------
    FileAccessError, UnknownFormatError, TruncatedFileError, CorruptFileError, UnsupportedError
        Not openable, not an archive, cut short, damaged, or a newer layout version.

    Examples
    --------
    >>> with open_archive("lib.niih5") as archive:  # doctest: +SKIP
    ...     print(len(archive), archive.entries[0].views)
    2 {'side': (1200, 4000), 'top': (800, 4000)}
    """
    name = _source_name(source)
    if isinstance(source, str | os.PathLike) and not Path(source).is_file():
        raise FileAccessError("no such file" if not Path(source).exists() else "not a file", path=name)
    try:
        file = h5py.File(source, "r")
    except OSError as error:
        raise _open_error(name, error) from error
    try:
        return Archive(file, name, stream=None if isinstance(source, str | os.PathLike) else source)
    except BaseException:
        file.close()
        raise


def _root_attributes(
    file: h5py.File, name: str | os.PathLike[str], *, stream: IO[bytes] | None = None
) -> dict[str, Any]:
    """The root's attributes, checked in the file first (HDF5 loops forever or crashes on some damaged ones);
    ``stream``: the file object h5py opened ``file`` from, if not a path."""
    return CheckedFile(file, path=name, stream=stream).attributes(file)


_HDF5_EOF = re.compile(r"truncated file: eof = (\d+).*stored_eof = (\d+)")


def _open_error(name: str, error: OSError) -> NiiError:
    """The :mod:`nii.errors` exception for a file HDF5 refuses to open."""
    text = str(error)
    if match := _HDF5_EOF.search(text):
        held, announced = match.groups()
        return TruncatedFileError(
            f"truncated: the file holds {held} bytes, its HDF5 superblock announces {announced}", path=name
        )
    if "signature not found" in text:
        return UnknownFormatError("not an HDF5 file (no HDF5 signature)", path=name)
    return CorruptFileError(f"damaged HDF5 file: {text}", path=name)


# --------------------------------------------------------------------------- registry


def _has_format_attribute(path: Path) -> bool | None:
    """Whether the root carries the archive attribute; ``None`` if HDF5 cannot open the file."""
    try:
        with h5py.File(path, "r") as file:
            marker = _root_attributes(file, path).get(FORMAT_ATTRIBUTE)
    except (OSError, RuntimeError, ValueError, NiiError):
        return None
    return (marker.decode("ascii", "replace") if isinstance(marker, bytes) else marker) == FORMAT_NAME


class ArchiveFormat(Format):
    """The NII archive as a registry format: ``nii.read`` gives one scan, ``nii.write`` writes one."""

    name = FORMAT_NAME
    extensions = (EXTENSION,)
    description = "NII archive: many scans with truth and threats in one compressed HDF5 file (lossless)"
    capabilities = frozenset({"dual-energy", "multi-view", "threats", "lossless", "compression", "multi-scan", "truth"})
    version = "1"
    read_errors = HDF5_ERRORS
    read_options = declare(scan=Option("index or UID of the scan to read", default=0, kind=(int, str)))
    write_options = declare(
        compression=Option("lossless filter of the pixels", default=Compression.BLOSC_LZ4, kind=Compression)
    )

    def can_read(self, head: bytes, path: Path) -> bool:
        if not head.startswith(_HDF5_SIGNATURE):
            return False
        if all(mark in head for mark in _FORMAT_MARKS):
            return True
        if not path.is_file():
            return False
        marked = _has_format_attribute(path)
        # An HDF5 file too damaged to open is claimed only under the archive's own extension,
        # so the reader can say what is wrong with it instead of "unknown format".
        return marked if marked is not None else path.name.lower().endswith(EXTENSION)

    def read(self, path: Path, **options: Any) -> Scan:
        with open_archive(path) as archive:
            return archive.stored(options["scan"])

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        write_archive(path, [scan], compression=options["compression"])
        return [path]


FORMAT = register(ArchiveFormat)

"""``npz``: a scan as one NumPy ``.npz`` archive with its metadata as JSON inside.

Layout (a ZIP archive, entries stored uncompressed):

* ``nii.json`` (first entry, so the sniffer sees its name at byte 30): the metadata of
  :func:`nii.metadata.scan_to_dict`;
* one ``.npy`` entry per array of :func:`nii.metadata.scan_arrays`, named by its key.

Because entries are stored, not deflated, the reader memory-maps the arrays straight from
the archive instead of copying them.
"""

from __future__ import annotations

import io
import json
import os
import tokenize
import zipfile
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np

from nii.errors import CorruptFileError
from nii.io import atomic_output
from nii.limits import check_image_size
from nii.metadata import scan_arrays, scan_from_dict, scan_to_dict
from nii.model import Scan
from nii.registry import Format, Option, declare, library_errors, register

METADATA_ENTRY = "nii.json"
_SIGNATURE = b"PK\x03\x04"


class NpzFormat(Format):
    """NumPy ``.npz`` with embedded JSON metadata (lossless, memory-mapped on read)."""

    name = "npz"
    extensions = (".npz",)
    description = "NumPy .npz archive with nii.json metadata (lossless, memory-mapped)"
    capabilities = frozenset({"dual-energy", "multi-view", "threats", "lossless", "memory-map"})
    version = "1"
    read_errors = library_errors(
        "zipfile.BadZipFile",
        "zlib.error",
        "OSError",  # zipfile: a damaged offset seeks before the start of the file
        "NotImplementedError",  # zipfile: an unknown compression method or ZIP version
        "UnicodeDecodeError",  # zipfile: an entry name that is not UTF-8
        limits=("zipfile.LargeZipFile",),
    )
    read_options = declare(mmap=Option("map the file's arrays instead of reading them", default=True, kind=bool))
    write_options = declare()

    def can_read(self, head: bytes, path: Path) -> bool:
        name = METADATA_ENTRY.encode()
        return head.startswith(_SIGNATURE) and head[30 : 30 + len(name)] == name

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        metadata = json.dumps(scan_to_dict(scan), indent=1).encode()
        with (
            atomic_output(path) as temporary,
            zipfile.ZipFile(temporary, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive,
        ):
            archive.writestr(_entry(METADATA_ENTRY), metadata)
            for key, array in scan_arrays(scan).items():
                with archive.open(_entry(f"{key}.npy"), "w", force_zip64=True) as entry:
                    np.lib.format.write_array(entry, np.asarray(array), allow_pickle=False)
        return [path]

    def read(self, path: Path, **options: Any) -> Scan:
        mmap = options["mmap"]
        try:
            archive = zipfile.ZipFile(path)
        except zipfile.BadZipFile as error:
            raise CorruptFileError(f"not a valid ZIP archive ({error})", path=path) from error
        with archive:
            try:
                metadata = json.loads(archive.read(METADATA_ENTRY))
            except (KeyError, ValueError) as error:
                raise CorruptFileError(f"no readable {METADATA_ENTRY} ({error})", path=path) from error
            # One map of the whole file; each stored entry's array is a view of it.
            whole = np.memmap(path, dtype=np.uint8, mode="r") if mmap and path.stat().st_size else None
            if whole is not None:
                _read_ahead(path)
            # The map's bytes without numpy's memmap subclass, whose every slice runs Python code.
            mapped = whole.data if whole is not None else None
            arrays = {
                info.filename.removesuffix(".npy"): _load_entry(path, archive, info, whole, mapped)
                for info in archive.infolist()
                if info.filename.endswith(".npy")
            }
        return scan_from_dict(metadata, arrays, path=path)


def _read_ahead(path: Path) -> None:
    """Ask the kernel to read the whole file ahead, asynchronously: a map of a file not in the page cache
    is otherwise read in the small steps its page faults ask for (twice as slow as reading it)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_WILLNEED)
    finally:
        os.close(descriptor)


def _entry(name: str) -> zipfile.ZipInfo:
    # A fixed time stamp (the ZIP epoch) so the same scan always gives the same bytes.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    return info


_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


_HEADERS: dict[tuple[tuple[int, int], bytes], tuple[Any, bool, np.dtype[Any]]] = {}
"""Parsed ``.npy`` headers by version and text: numpy parses one with ``ast.literal_eval`` (about 30 µs, half
a millisecond for the sixteen arrays of a baggage scan), and scans of one scanner repeat the same headers."""
_HEADERS_LIMIT = 1024


def _array_header(entry: IO[bytes]) -> tuple[Any, bool, np.dtype[Any]]:
    """Shape, Fortran order and dtype of the ``.npy`` entry, read up to its data (raises as numpy does)."""
    version = np.lib.format.read_magic(entry)
    read_header = _HEADER_READERS.get(version)
    if read_header is None:
        raise ValueError(f"unsupported .npy version {version}")
    length_field = entry.read(2 if version == (1, 0) else 4)
    length = int.from_bytes(length_field, "little") if len(length_field) in (2, 4) else 0
    text = entry.read(length)
    key = (version, length_field + text)
    parsed = _HEADERS.get(key)
    if parsed is None:
        parsed = read_header(io.BytesIO(key[1]))
        if len(_HEADERS) >= _HEADERS_LIMIT:
            _HEADERS.clear()
        _HEADERS[key] = parsed
    return parsed


_LEFT_TO_ZIPFILE = 0x1 | 0x20 | 0x40
"""Flag bits of entries read through zipfile (which refuses them): encrypted, patched, strongly encrypted."""
_UTF8_NAME = 0x800


def _load_entry(
    path: Path, archive: zipfile.ZipFile, info: zipfile.ZipInfo, whole: np.memmap | None, mapped: memoryview | None
) -> np.ndarray:
    if (
        whole is not None
        and mapped is not None
        and info.compress_type == zipfile.ZIP_STORED
        and not info.flag_bits & _LEFT_TO_ZIPFILE
    ):
        # A stored entry of a mapped file: its header read from the map, which zipfile's open
        # (a file object, seeks and reads: about 20 µs an entry) would only copy.
        start = _data_offset(path, mapped, info)
        head = bytes(mapped[start : start + min(info.file_size, 12)])
        length = (
            10 + int.from_bytes(head[8:10], "little")
            if head[6:7] == b"\x01"
            else 12 + int.from_bytes(head[8:12], "little")
        )
        return _entry_array(
            path, info, io.BytesIO(bytes(mapped[start : start + min(info.file_size, length)])), whole, start
        )
    with archive.open(info) as entry:
        return _entry_array(path, info, entry, None, 0)


def _entry_array(
    path: Path, info: zipfile.ZipInfo, entry: IO[bytes], whole: np.memmap | None, start: int
) -> np.ndarray:
    """The array of the ``.npy`` bytes ``entry`` reads: a view of ``whole`` (data at ``start``) when mapped."""
    try:
        shape, fortran, dtype = _array_header(entry)
    except (ValueError, tokenize.TokenError) as error:  # numpy tokenizes the header
        raise CorruptFileError(f"entry {info.filename}: bad .npy header ({error})", path=path) from error
    if dtype.hasobject or dtype.kind not in "biuf":
        raise CorruptFileError(f"entry {info.filename}: arrays of {dtype} are not allowed (numbers only)", path=path)
    nbytes = check_image_size(shape or (1,), dtype, path=path) if shape else 0
    header_size = entry.tell()
    if nbytes > info.file_size - header_size:
        raise CorruptFileError(
            f"entry {info.filename}: header announces {nbytes} bytes, entry holds {info.file_size - header_size}",
            path=path,
        )
    order: Literal["F", "C"] = "F" if fortran else "C"
    if whole is not None and nbytes:
        # Data of a stored entry is contiguous in the file: a view of the map, not a copy.
        offset = start + header_size
        if offset + nbytes > whole.size:
            raise CorruptFileError(f"entry {info.filename}: data runs past the end of the file", path=path)
        return whole[offset : offset + nbytes].view(dtype).reshape(tuple(shape), order=order)
    data = entry.read(nbytes)
    return np.frombuffer(data, dtype=dtype).reshape(tuple(shape), order=order)


def _data_offset(path: Path, whole: memoryview, info: zipfile.ZipInfo) -> int:
    """Where a stored entry's bytes start in the map, its local header checked as zipfile's open checks it."""
    local = bytes(whole[info.header_offset : info.header_offset + 30])
    if local[:4] != _SIGNATURE or len(local) < 30:
        raise CorruptFileError(f"entry {info.filename}: bad local header", path=path)
    flags = int.from_bytes(local[6:8], "little")
    name_length = int.from_bytes(local[26:28], "little")
    extra_length = int.from_bytes(local[28:30], "little")
    name = bytes(whole[info.header_offset + 30 : info.header_offset + 30 + name_length])
    try:
        same = name.decode("utf-8" if flags & _UTF8_NAME else "cp437") == info.orig_filename
    except UnicodeDecodeError:
        same = False
    if not same:
        raise CorruptFileError(
            f"entry {info.filename}: its local header names it {name!r} (damaged or crafted archive)", path=path
        )
    return info.header_offset + 30 + name_length + extra_length


FORMAT = register(NpzFormat)

"""``ref-tiff``: baggage export as a multi-page 16-bit TIFF with JSON metadata.

A reference vendor-style format (specification: ``docs/formats/ref-tiff.md``) in the manner
of dual-view, dual-energy baggage scanners: one grey 16-bit page per view and energy, and
the scan's metadata (views, spacing, energies, object, ATR threat boxes) as a JSON document in
the ImageDescription tag of the first page. TIFF files are read and written with
``tifffile``.
"""

from __future__ import annotations

import json
import struct
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nii.errors import CorruptFileError, LimitExceededError, TruncatedFileError, UnsupportedError
from nii.formats._vendor import (
    geometry_fields,
    geometry_from_fields,
    metadata_fields,
    metadata_from_fields,
    parse_time,
    reading,
    require_integers,
    unique_names,
    warn_unstored,
)
from nii.imports import lazy_module
from nii.io import atomic_output
from nii.limits import check_image_size
from nii.model import Box, Scan, Threat, View
from nii.registry import Format, declare, library_errors, register

if TYPE_CHECKING:
    import tifffile
else:
    tifffile = lazy_module("tifffile")

FORMAT_ID = "nii-ref-tiff"
VERSION = 1
_MARKER = b'{"format": "' + FORMAT_ID.encode() + b'"'
_THREAT_FIELDS = ("category", "assessment", "probability", "origin", "algorithm", "algorithm_version", "description")
_BIGTIFF_ABOVE = 2**32 - 2**25  # classic TIFF offsets are 32-bit; keep a margin for the tags


_TIFF_HEADER_SIZE = 8
MAX_PAGES = 4096
"""Most IFDs (pages) a file may chain; the format uses four."""


def check_ifd_chain(path: Path) -> int:
    """Follow the TIFF's chain of IFDs without reading them; return how many there are.

    Raises
    ------
    CorruptFileError
        Not a TIFF header, or the chain loops back to an IFD already seen.
    TruncatedFileError
        An IFD lies beyond the end of the file.
    LimitExceededError
        More than :data:`MAX_PAGES` IFDs.
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        header = handle.read(16)
        order = {b"II": "<", b"MM": ">"}.get(header[:2])
        if order is None or len(header) < _TIFF_HEADER_SIZE:
            raise CorruptFileError("invalid TIFF: no TIFF header", path=path)
        version = struct.unpack(order + "H", header[2:4])[0]
        if version == 42:
            count_format, entry_size, offset_format = "H", 12, "I"
            offset = struct.unpack(order + "I", header[4:8])[0]
        elif version == 43 and len(header) == 16:
            count_format, entry_size, offset_format = "Q", 20, "Q"
            offset = struct.unpack(order + "Q", header[8:16])[0]
        else:
            raise CorruptFileError(f"invalid TIFF: version {version} (42 or 43 expected)", path=path)
        count_size, offset_size = struct.calcsize(count_format), struct.calcsize(offset_format)
        seen: set[int] = set()
        while offset:
            if offset in seen:
                raise CorruptFileError(f"the TIFF's chain of IFDs loops back to byte {offset}", path=path)
            if len(seen) >= MAX_PAGES:
                raise LimitExceededError(f"more than {MAX_PAGES} TIFF pages", path=path)
            seen.add(offset)
            handle.seek(offset)
            counted = handle.read(count_size)
            entries = struct.unpack(order + count_format, counted)[0] if len(counted) == count_size else 0
            end = offset + count_size + entries * entry_size
            if len(counted) < count_size or end + offset_size > size:
                raise TruncatedFileError(
                    f"page {len(seen) - 1} (IFD at byte {offset}) runs past the end of the file ({size} bytes)",
                    path=path,
                )
            handle.seek(end)
            offset = struct.unpack(order + offset_format, handle.read(offset_size))[0]
    return len(seen)


class RefTiffFormat(Format):
    """Baggage export: 16-bit pages (view × energy) and JSON metadata in ImageDescription."""

    name = "ref-tiff"
    extensions = (".tif", ".tiff")
    description = "reference baggage format: multi-page 16-bit TIFF, JSON metadata, two views"
    capabilities = frozenset({"dual-energy", "multi-view", "threats"})
    version = "1"
    read_errors = library_errors("tifffile.tifffile.TiffFileError", "struct.error", "zlib.error")
    read_options = declare()
    write_options = declare()

    def can_read(self, head: bytes, path: Path) -> bool:
        # The description of the first page follows its IFD, well inside the first bytes.
        return head[:4] in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+") and _MARKER in head

    def read(self, path: Path, **options: Any) -> Scan:
        check_ifd_chain(path)  # tifffile follows a chain that loops back forever
        try:
            tif = tifffile.TiffFile(path)
            try:
                pages = [page for page in tif.pages if isinstance(page, tifffile.TiffPage)]
            except BaseException:
                tif.close()
                raise
        except tifffile.TiffFileError as error:
            raise CorruptFileError(f"invalid TIFF: {error}", path=path) from error
        except (TypeError, IndexError, ValueError) as error:  # tifffile on a tag of an unexpected type or count
            raise CorruptFileError(f"invalid TIFF tags: {error}", path=path) from error
        with tif:
            if not pages:
                raise CorruptFileError("TIFF holds no pages", path=path)
            document = self._document(path, pages[0])
            return self._scan(path, document, pages)

    def _document(self, path: Path, first: tifffile.TiffPage) -> dict[str, Any]:
        try:
            document = json.loads(first.description)
        except ValueError as error:
            raise CorruptFileError(f"ImageDescription of page 0 is not JSON: {error}", path=path) from error
        if not isinstance(document, dict) or document.get("format") != FORMAT_ID:
            raise CorruptFileError(f"not a {self.name} file: ImageDescription is not {FORMAT_ID} metadata", path=path)
        if document.get("version") != VERSION:
            raise UnsupportedError(f"{self.name} version {document.get('version')!r} (reads {VERSION})", path=path)
        return document

    def _pixels(self, path: Path, pages: list[tifffile.TiffPage], index: Any, view: str, channel: str) -> np.ndarray:
        if not isinstance(index, int) or not 0 <= index < len(pages):
            raise CorruptFileError(
                f"channel {channel!r} of view {view!r} is on page {index!r}; the file has {len(pages)} pages", path=path
            )
        page = pages[index]
        if page.dtype != np.uint16 or page.samplesperpixel != 1 or len(page.shape) != 2:
            raise UnsupportedError(
                f"page {index} is {page.dtype} {page.shape}; {self.name} pages are single-sample 16-bit", path=path
            )
        nbytes = check_image_size(page.shape, np.uint16, path=path)
        size = path.stat().st_size
        if min(page.dataoffsets, default=0) < _TIFF_HEADER_SIZE:
            raise CorruptFileError(
                f"page {index} data starts at byte {min(page.dataoffsets)}, inside the header", path=path
            )
        ends = [offset + count for offset, count in zip(page.dataoffsets, page.databytecounts, strict=True)]
        if not ends or max(ends) > size:
            raise TruncatedFileError(
                f"page {index} data runs to byte {max(ends, default=0)}, file holds {size}", path=path
            )
        if page.compression == tifffile.COMPRESSION.NONE and sum(page.databytecounts) < nbytes:
            raise CorruptFileError(
                f"page {index} is {page.shape[0]} × {page.shape[1]} ({nbytes} bytes) "
                f"but stores {sum(page.databytecounts)}",
                path=path,
            )
        return page.asarray()

    def _scan(self, path: Path, document: dict[str, Any], pages: list[tifffile.TiffPage]) -> Scan:
        views, energies = [], {}
        with reading(path, self.name):
            for entry in document["views"]:
                unique_names([channel["name"] for channel in entry["channels"]], f"view {entry['name']!r}", path)
                channels = {
                    channel["name"]: self._pixels(path, pages, channel["page"], entry["name"], channel["name"])
                    for channel in entry["channels"]
                }
                energies.update({ch["name"]: ch["energy_kv"] for ch in entry["channels"] if "energy_kv" in ch})
                shapes = {array.shape for array in channels.values()}
                if len(shapes) > 1:
                    raise CorruptFileError(
                        f"channels of view {entry['name']!r} have shapes {sorted(shapes)}", path=path
                    )
                views.append(
                    View(entry["name"], channels, geometry_from_fields(entry), calibration=entry["calibration"])
                )
            inspected_object, scanner, site = metadata_from_fields(document, energies)
            threats = [
                Threat(
                    threat["view"],
                    Box(*threat["box"]),
                    polygon=np.asarray(threat["polygon"]) if threat.get("polygon") is not None else None,
                    **{name: threat[name] for name in _THREAT_FIELDS if name in threat},
                )
                for threat in document.get("threats", [])
            ]
            return Scan(
                views=views,
                acquired_at=parse_time(document["acquired"]),
                inspected_object=inspected_object,
                scanner=scanner,
                site=site,
                threats=threats,
                scan_uid=document["uid"],
            )

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        warn_unstored(
            scan,
            self.name,
            path,
            stores={"threats", "threat_polygons", "uid", "address", "declaration", "identifier", "description"},
        )
        pages: list[np.ndarray] = []
        view_entries = []
        for view in scan.views:
            channels = require_integers(view, self.name, path, maximum=65535)
            entries = []
            for name, array in channels.items():
                entry: dict[str, Any] = {"name": name, "page": len(pages)}
                if name in scan.scanner.energies_kv:
                    entry["energy_kv"] = scan.scanner.energies_kv[name]
                entries.append(entry)
                pages.append(array)
            view_entries.append(
                {"name": view.name, "calibration": str(view.calibration), **geometry_fields(view), "channels": entries}
            )
        document = {
            "format": FORMAT_ID,
            "version": VERSION,
            "uid": scan.scan_uid,
            "acquired": scan.acquired_at.isoformat(),
            **metadata_fields(scan),
            "views": view_entries,
            "threats": [
                {
                    "view": threat.view,
                    "box": [threat.box.x, threat.box.y, threat.box.width, threat.box.height],
                    **{
                        name: str(value) if isinstance(value, StrEnum) else value
                        for name in _THREAT_FIELDS
                        if (value := getattr(threat, name)) is not None
                    },
                    **({"polygon": threat.polygon.tolist()} if threat.polygon is not None else {}),
                }
                for threat in scan.threats
            ],
        }
        bigtiff = sum(page.nbytes for page in pages) > _BIGTIFF_ABOVE
        with atomic_output(path) as temporary, tifffile.TiffWriter(temporary, bigtiff=bigtiff) as tif:
            for index, page in enumerate(pages):
                tif.write(
                    page,
                    photometric="minisblack",
                    description=json.dumps(document) if index == 0 else None,
                    metadata=None,
                )
        return [path]


FORMAT = register(RefTiffFormat)

"""Every attribute of a DICOS file, named as DICOS names them (what ``dcmdump`` shows, in DICOS terms).

DICOS keeps DICOM's tag numbers and renames the concepts (reference doc §5): (0010,0020)
Patient ID is the OOI ID, (0020,000D) Study Instance UID the Scan Instance UID, and (0008,0118),
DICOM's Mapping Resource UID, is DICOS's Image Origin. Group 4010 holds DICOS's own
attributes. Large values (pixel data) are shown by their size, never read.

Examples
--------
>>> dicos_name(0x00100020), dicos_name(0x40101042), dicos_name(0x00080118)
('OOI ID', 'OOI Type', 'Image Origin')
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydicom.datadict import dictionary_description, dictionary_has_tag, keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from nii.errors import FileAccessError

from .dictionary import COORDINATE_SYSTEM, EFFECTIVE_ENERGY, IMAGE_ORIGIN, META_VERSION
from .files import read_dataset, tolerant_reading

__all__ = ["DumpEntry", "dicos_name", "dump_file"]

DICOS_NAMES: dict[int, str] = {
    META_VERSION: "DICOS Version (meta)",
    0x00080020: "Scan Date",
    0x00080030: "Scan Time",
    0x00080060: "Series Modality",
    0x00080080: "Machine Location",
    0x00080081: "Machine Address",
    IMAGE_ORIGIN: "Image Origin",
    0x00081010: "Machine ID",
    0x00081030: "Scan Description",
    0x00081090: "Device Manufacturer Model Name",
    0x00081110: "Referenced Scans Sequence",
    0x0008114A: "PTO Referenced Instance Sequence",
    COORDINATE_SYSTEM: "Coordinate System",
    0x00100020: "OOI ID",
    0x00100021: "OOI ID Assigning Authority",
    0x00100022: "OOI ID Type",
    0x00100040: "OOI Gender",
    0x00101002: "Alternate OOI IDs Sequence",
    0x40101044: "Series Acquisition Status",
    0x00104000: "OOI Comments",
    0x00181000: "Device Serial Number",
    0x00181200: "Calibration Date",
    0x00181201: "Calibration Time",
    0x00189309: "Belt Speed",
    0x0020000D: "Scan Instance UID",
    0x00200010: "Scan ID",
    0x00200013: "Image Instance Number",
    0x00200032: "Image Position",
    0x00200037: "Image Orientation",
    EFFECTIVE_ENERGY: "Effective Energy",
}
"""DICOS names of the DICOM tags DICOS renames, and of its tags outside group 4010."""

MAX_TEXT = 80
"""Longest value shown as is; longer ones are cut (``--json`` keeps them whole up to the byte limit)."""
MAX_BYTES = 64
"""Binary values longer than this are shown by their size."""
MAX_ITEMS = 10_000
"""Sequence items shown per sequence (a file may announce any number)."""


def dicos_name(tag: int) -> str:
    """The DICOS name of ``tag`` ('' for a tag unknown to DICOS and DICOM)."""
    if tag in DICOS_NAMES:
        return DICOS_NAMES[tag]
    if dictionary_has_tag(tag):
        return str(dictionary_description(tag))
    return ""


@dataclass
class DumpEntry:
    """One element: tag, VR, DICOS name, DICOM keyword, value text, and the items of a sequence."""

    tag: int
    vr: str
    name: str
    keyword: str
    value: str
    items: list[list[DumpEntry]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "tag": f"({self.tag >> 16:04X},{self.tag & 0xFFFF:04X})",
            "vr": self.vr,
            "name": self.name,
            "keyword": self.keyword,
            "value": self.value,
        }
        if self.vr == "SQ":
            result["items"] = [[entry.as_dict() for entry in item] for item in self.items]
        return result

    def lines(self, depth: int = 0) -> Iterator[str]:
        """dcmdump-like text lines, items indented."""
        indent = "  " * depth
        tag = f"({self.tag >> 16:04x},{self.tag & 0xFFFF:04x})"
        value = self.value if len(self.value) <= MAX_TEXT else self.value[: MAX_TEXT - 1] + "…"
        yield f"{indent}{tag} {self.vr:2} {self.name or self.keyword or '?':<40} {value}"
        for number, item in enumerate(self.items, start=1):
            yield f"{indent}  item {number}"
            for entry in item:
                yield from entry.lines(depth + 2)


def _value_text(element: DataElement) -> str:
    if element.VR == "SQ":
        return f"{len(element.value)} item(s)"
    value = element.value
    if value is None:
        length = getattr(element, "length", 0)
        return "" if not length else f"<{'encapsulated' if length == 0xFFFFFFFF else str(length) + ' bytes'}>"
    if isinstance(value, bytes):
        if len(value) > MAX_BYTES:
            return f"<{len(value)} bytes>"
        return value.hex(" ")
    if isinstance(value, list | tuple) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)


def _entries(dataset: Dataset) -> list[DumpEntry]:
    entries = []
    for tag in dataset.keys():  # noqa: SIM118 (iterating a Dataset converts its elements; keys do not)
        element = dataset.get_item(tag, keep_deferred=True)
        if not isinstance(element, DataElement):  # a raw element pydicom has not converted yet
            element = dataset[tag]
        tag_int = int(tag)
        entry = DumpEntry(
            tag=tag_int,
            vr=str(element.VR),
            name=dicos_name(tag_int) if not tag.is_private else f"private ({element.private_creator or '?'})",
            keyword=keyword_for_tag(tag_int) or "",
            value=_value_text(element),
        )
        if element.VR == "SQ":
            entry.items = [_entries(item) for item in list(element.value)[:MAX_ITEMS]]
        entries.append(entry)
    return entries


def dump_file(path: str | Path) -> list[DumpEntry]:
    """Every element of a DICOS (or any DICOM Part 10) file: the file meta, then the dataset.

    Raises
    ------
    NiiError
        The file cannot be read (not Part 10, truncated, unreadable).
    """
    path = Path(path)
    try:
        with tolerant_reading():
            dataset = read_dataset(path, normalise=False)
            return _entries(dataset.file_meta) + _entries(dataset)
    except OSError as error:
        raise FileAccessError(f"cannot read: {error.strerror or error}", path=path) from error

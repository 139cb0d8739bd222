"""``ref-rawxml``: an XML header followed by big-endian, line-interleaved 16-bit samples.

A reference vendor-style format (specification: ``docs/formats/ref-rawxml.md``) in the
manner of cargo linac exports: the header is an XML document padded to a multiple of
512 bytes; each view's data is a run of line records, dark calibration lines first, then
air (open beam) lines, then the object; every record holds, for each channel in turn, the
reference-detector (source monitor) reading of that pulse (a float32) followed by the detector samples.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import CorruptFileError, LimitExceededError, TruncatedFileError, UnsupportedError
from nii.formats._vendor import (
    counts,
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
from nii.io import atomic_output, read_exactly
from nii.kernels.decode import deinterleave_lines
from nii.limits import check_image_size
from nii.model import CalibrationState, Operator, Scan, View
from nii.registry import Format, declare, library_errors, register

ROOT = "RefRawScan"
VERSION = "1"
ALIGNMENT = 512
MAX_HEADER_BYTES = 16 * 2**20
_ROOT_TAG = re.compile(rb'<RefRawScan\b[^>]*?\sheader-bytes="(\d{1,12})"')
_SWAP = sys.byteorder == "little"  # samples are big-endian
REFERENCE_WORDS = 2
"""16-bit words before the samples of each channel in a record: the reference reading, a big-endian float32."""


def _float32(values: np.ndarray, format_name: str, path: Path) -> np.ndarray:
    """Reference values as float32, or UnsupportedError if that would change one."""
    values = np.asarray(values)
    as_float32 = values.astype(np.float32)
    if not np.array_equal(as_float32, values):
        raise UnsupportedError(
            f"{format_name} stores reference values as float32; these are not exact in it", path=path
        )
    return as_float32


def _count(element: ET.Element, name: str, path: Path, *, minimum: int = 0) -> int:
    text = element.get(name)
    if text is None:
        raise CorruptFileError(f"<{element.tag}> has no {name} attribute", path=path)
    try:
        value = int(text)
    except ValueError:
        raise CorruptFileError(f"<{element.tag} {name}={text!r}> is not an integer", path=path) from None
    if value < minimum:
        raise CorruptFileError(f"<{element.tag} {name}={value}> must be at least {minimum}", path=path)
    return value


class RefRawXmlFormat(Format):
    """Cargo linac export: XML header, big-endian line-interleaved uint16, calibration lines first."""

    name = "ref-rawxml"
    extensions = (".rxr",)
    description = "reference cargo format: XML header, big-endian interleaved lines, dark/air/reference"
    capabilities = frozenset({"dual-energy", "multi-view", "calibration-lines", "reference-detector"})
    version = "1"
    read_errors = library_errors("xml.etree.ElementTree.ParseError", "struct.error")
    read_options = declare()
    write_options = declare()

    def can_read(self, head: bytes, path: Path) -> bool:
        return head.startswith(b"<?xml") and _ROOT_TAG.search(head) is not None

    def read(self, path: Path, **options: Any) -> Scan:
        root, header_bytes = self._header(path)
        size = path.stat().st_size
        views, energies, end = [], {}, header_bytes
        for element in root.findall("View"):
            view, view_energies, view_end = self._view(path, element, header_bytes, size)
            start = _count(element, "offset", path, minimum=header_bytes)
            if start != end:  # views follow each other: a wrong line count shifts every pixel after it
                raise CorruptFileError(
                    f"view {view.name!r} starts at byte {start} but the data before it ends at byte {end}: "
                    "the header's line counts and offsets disagree",
                    path=path,
                )
            views.append(view)
            energies.update(view_energies)
            end = view_end
        if not views:
            raise CorruptFileError("header describes no <View>", path=path)
        if size > end:
            raise CorruptFileError(f"{size - end} bytes after the data the header describes", path=path)
        with reading(path, self.name):
            groups = {
                group: dict(node.attrib)
                for group in ("object", "scanner", "site")
                if (node := root.find(group.capitalize())) is not None
            }
            inspected_object, scanner, site = metadata_from_fields(groups, energies)
            operator = root.find("Operator")
            return Scan(
                views=views,
                acquired_at=parse_time(root.attrib["acquired"]),
                inspected_object=inspected_object,
                scanner=scanner,
                site=site,
                operator=Operator(operator.attrib["identifier"], operator.get("name"))
                if operator is not None
                else None,
                scan_uid=root.attrib["uid"],
            )

    def _header(self, path: Path) -> tuple[ET.Element, int]:
        with open(path, "rb") as handle:
            head = handle.read(4096)
            match = _ROOT_TAG.search(head)
            if not head.startswith(b"<?xml") or match is None:
                raise CorruptFileError(
                    f"not a {self.name} file: no <{ROOT} header-bytes=...> in the first bytes", path=path
                )
            header_bytes = int(match.group(1))
            if header_bytes > MAX_HEADER_BYTES:
                raise LimitExceededError(f"header of {header_bytes} bytes is over {MAX_HEADER_BYTES}", path=path)
            handle.seek(0)
            text = read_exactly(handle, header_bytes, path=path, what="XML header")
        if b"<!DOCTYPE" in text or b"<!ENTITY" in text:
            raise CorruptFileError("the XML header declares a DTD or entities, which are refused", path=path)
        try:
            root = ET.fromstring(text)
        except ET.ParseError as error:
            raise CorruptFileError(f"XML header does not parse: {error}", path=path) from error
        if root.tag != ROOT or root.get("version") != VERSION:
            raise UnsupportedError(
                f'root <{root.tag} version={root.get("version")!r}>; reads <{ROOT} version="1">', path=path
            )
        return root, header_bytes

    def _view(
        self, path: Path, element: ET.Element, header_bytes: int, size: int
    ) -> tuple[View, dict[str, float], int]:
        rows, lines = _count(element, "rows", path), _count(element, "lines", path)
        dark, air = _count(element, "dark-lines", path), _count(element, "air-lines", path)
        offset = _count(element, "offset", path, minimum=header_bytes)
        announced = _count(element, "channels", path)
        channel_elements = element.findall("Channel")
        if announced != len(channel_elements):
            raise CorruptFileError(
                f"view {element.get('name')!r} announces {announced} channels and lists {len(channel_elements)}: "
                "inconsistent channel count",
                path=path,
            )
        names = unique_names([channel.get("name", "") for channel in channel_elements], "<View>", path)
        total = dark + air + lines
        check_image_size((announced, rows, lines), np.uint16, path=path)
        check_image_size((announced, rows + REFERENCE_WORDS, total), np.uint16, path=path)
        end = offset + total * announced * (rows + REFERENCE_WORDS) * 2
        if end > size:
            raise TruncatedFileError(
                f"view {element.get('name')!r} needs bytes {offset}..{end}, the file holds {size}", path=path
            )
        shape = (total, announced, rows + REFERENCE_WORDS)
        raw = np.memmap(path, dtype=np.uint16, mode="r", offset=offset, shape=shape)
        samples = deinterleave_lines(raw[:, :, REFERENCE_WORDS:], swap_bytes=_SWAP)
        # The two words before the samples hold the file's bytes of one big-endian float32.
        words = np.ascontiguousarray(raw[dark + air :, :, :REFERENCE_WORDS])
        references = words.view(">f4").reshape(lines, announced).astype(np.float32)
        del raw
        channels = {name: samples[index, dark + air :].T for index, name in enumerate(names)}
        with reading(path, self.name):
            energies = {
                ch.attrib["name"]: float(ch.attrib["energy_kv"]) for ch in channel_elements if "energy_kv" in ch.attrib
            }
            view = View(
                element.attrib["name"],
                channels,
                geometry_from_fields(element.attrib),
                calibration=CalibrationState(element.attrib["calibration"]),
                dark={name: samples[index, :dark].T for index, name in enumerate(names)} if dark else {},
                air={name: samples[index, dark : dark + air].T for index, name in enumerate(names)} if air else {},
                reference={name: references[:, index] for index, name in enumerate(names)}
                if element.get("reference") == "true"
                else {},
            )
        return view, energies, end

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        blocks = [self._records(view, path) for view in scan.views]
        warn_unstored(
            scan,
            self.name,
            path,
            stores={
                "dark",
                "air",
                "reference",
                "operator",
                "uid",
                "address",
                "declaration",
                "identifier",
                "description",
            },
        )
        header_bytes = ALIGNMENT
        while True:
            text = self._xml(scan, blocks, header_bytes)
            if len(text) < header_bytes:
                break
            header_bytes = -(-(len(text) + 1) // ALIGNMENT) * ALIGNMENT
        with atomic_output(path) as temporary, open(temporary, "wb") as handle:
            handle.write(text + b" " * (header_bytes - len(text) - 1) + b"\n")
            for _, records in blocks:
                records.tofile(handle)
        return [path]

    def _records(self, view: View, path: Path) -> tuple[dict[str, int], np.ndarray]:
        """The view's line records as big-endian uint16 and the counts the header needs."""
        channels = require_integers(view, self.name, path, maximum=65535)
        rows, lines = view.shape
        calibration: dict[str, dict[str, np.ndarray]] = {}
        for kind, references in (("dark", view.dark), ("air", view.air)):
            if references and set(references) != set(channels):
                raise UnsupportedError(
                    f"{self.name} stores {kind} lines for all channels or none; view {view.name!r} has them for "
                    f"{sorted(references)} of {sorted(channels)}",
                    path=path,
                )
            calibration[kind] = {
                name: counts(array.reshape(rows, -1), f"{kind} lines", self.name, path)
                for name, array in references.items()
            }
            if len({array.shape[1] for array in calibration[kind].values()}) > 1:
                raise UnsupportedError(
                    f"{self.name} needs the same number of {kind} lines for every channel", path=path
                )
        if view.reference and set(view.reference) != set(channels):
            raise UnsupportedError(f"{self.name} stores reference values for all channels or none", path=path)
        dark = next(iter(calibration["dark"].values())).shape[1] if calibration["dark"] else 0
        air = next(iter(calibration["air"].values())).shape[1] if calibration["air"] else 0
        records = np.zeros((dark + air + lines, len(channels), rows + REFERENCE_WORDS), dtype=">u2")
        for index, (name, channel) in enumerate(channels.items()):
            if dark:
                records[:dark, index, REFERENCE_WORDS:] = calibration["dark"][name].T
            if air:
                records[dark : dark + air, index, REFERENCE_WORDS:] = calibration["air"][name].T
            records[dark + air :, index, REFERENCE_WORDS:] = channel.T
            if view.reference:
                monitor = _float32(view.reference[name], self.name, path).astype(">f4")
                records[dark + air :, index, :REFERENCE_WORDS] = monitor.view(">u2").reshape(lines, REFERENCE_WORDS)
        return {"dark-lines": dark, "air-lines": air}, records

    def _xml(self, scan: Scan, blocks: list[tuple[dict[str, int], np.ndarray]], header_bytes: int) -> bytes:
        def attributes(values: dict[str, Any]) -> dict[str, str]:
            return {
                key: " ".join(value) if isinstance(value, list) else str(value)
                for key, value in values.items()
                if value is not None
            }

        root = ET.Element(
            ROOT,
            {
                "version": VERSION,
                "header-bytes": str(header_bytes),
                "uid": scan.scan_uid,
                "acquired": scan.acquired_at.isoformat(),
            },
        )
        for group, values in metadata_fields(scan).items():
            ET.SubElement(root, group.capitalize(), attributes(values))
        if scan.operator is not None:
            ET.SubElement(
                root, "Operator", attributes({"identifier": scan.operator.identifier, "name": scan.operator.name})
            )
        offset = header_bytes
        for view, (lines_info, records) in zip(scan.views, blocks, strict=True):
            rows, lines = view.shape
            element = ET.SubElement(
                root,
                "View",
                attributes(
                    {
                        "name": view.name,
                        "rows": rows,
                        "lines": lines,
                        "channels": len(view.channels),
                        **lines_info,
                        "offset": offset,
                        "reference": "true" if view.reference else "false",
                        "calibration": view.calibration,
                        **geometry_fields(view),
                    }
                ),
            )
            for name in view.channels:
                energy = scan.scanner.energies_kv.get(name)
                ET.SubElement(element, "Channel", {"name": name, **({"energy_kv": repr(energy)} if energy else {})})
            offset += records.nbytes
        ET.indent(root)
        return ET.tostring(root, encoding="UTF-8", xml_declaration=True)


FORMAT = register(RefRawXmlFormat)

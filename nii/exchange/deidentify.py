"""De-identification of DICOS files after DICOM PS3.15 Annex E, with the DICOS attributes.

What happens to each attribute is data, not code: ``nii/data/deidentification.csv`` lists
tags with their action in the Basic Application Level Confidentiality Profile (PS3.15 Table
E.1-1) and the DICOS attributes that identify an object, its owner or its journey (group
4010). Actions: ``X`` remove, ``Z`` empty, ``D`` replace with a dummy (a keyed pseudonym for
text, a dummy or shifted date), ``K`` keep, ``U`` replace a UID consistently. Where the
standard gives a choice (``X/Z/D``) the ``dicos`` column holds the action used, because the
reference toolkit refuses files without the element (``shared/docs/dicos-reference.md``
§7) or with it empty; a row with ``keep_with`` is kept when that option is chosen.

Every element is walked, sequences and private blocks included:

* rows of the table by tag; elements without a row are kept, except that every UID that is
  not a registered DICOM UID is replaced, every date and date-time is shifted or replaced,
  person names (PN) get pseudonyms, free text (LT, ST, UT) and AE titles are removed, and
  codes of local coding schemes (designator ``99…``) get pseudonyms; signatures go (they
  would no longer hold: sign the de-identified files);
* private blocks are removed, except nii's own (``NII DICOS 1``), whose JSON keeps only
  the keys known to carry no identity (an allow-list) and whose arrays (line positions,
  dark, air, reference detector) are measurements like the pixels;
* the pixels are never touched (NII scanners burn no text into images).

Pseudonyms and UIDs are HMAC-SHA256 of the original value under the key: the same container
number or UID gives the same result in every file, scan and run with one key, and an
unrelated one with another key, so a scan's DX, CT and TDR still reference each other.
Each file records Patient Identity Removed = YES, De-identification Method and its Code
Sequence (DCM codes of CID 7050).

Examples
--------
>>> from pydicom.dataset import Dataset
>>> profile = Deidentifier(key=b"0123456789abcdef")
>>> ds = Dataset()
>>> ds.PatientID, ds.StationName, ds.PatientComments = "MSKU1234565", "GATE-7", "seal broken"
>>> _ = profile.clean(ds)
>>> ds.PatientID == profile.pseudonym("MSKU1234565"), ds.StationName, "PatientComments" in ds
(True, '', False)
"""

from __future__ import annotations

import base64
import csv
import hashlib
import hmac
import json
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import UID

import nii
from nii.errors import ConfigurationError, CorruptFileError, FileAccessError, NiiError, UnsupportedError
from nii.io import atomic_output
from nii.model import Scan

__all__ = [
    "CODES",
    "DeidentificationRule",
    "Deidentifier",
    "FileResult",
    "KeepOption",
    "action_table",
    "deidentify_file",
    "deidentify_paths",
    "write_deidentified",
]

NII_PRIVATE_CREATOR = "NII DICOS 1"
"""nii's private block (see ``docs/formats/dicos.md``): cleaned, not removed."""

MIN_KEY_BYTES = 16


class KeepOption(StrEnum):
    """What ``--keep`` retains, each a PS3.15 E.3 option."""

    DEVICE = "device"
    INSTITUTION = "institution"
    DATES = "dates"


CODES: dict[str, tuple[str, str]] = {
    "basic": ("113100", "Basic Application Confidentiality Profile"),
    KeepOption.DEVICE: ("113109", "Retain Device Identity Option"),
    KeepOption.INSTITUTION: ("113112", "Retain Institution Identity Option"),
    KeepOption.DATES: ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "private": ("113111", "Retain Safe Private Option"),
}
"""DCM codes (CID 7050) recorded in De-identification Method Code Sequence (0012,0064)."""

_DUMMY = {"DA": "20000101", "TM": "000000", "DT": "20000101000000"}
_TEXT_VRS = frozenset({"AE", "CS", "LO", "LT", "PN", "SH", "ST", "UC", "UT"})
_BIRTH = frozenset({0x00100030, 0x00100032})
"""Patient's Birth Date and Time: removed even when dates are kept (no option of PS3.15 retains them)."""
_UNLISTED = {"PN": "D", "LT": "X", "ST": "X", "UT": "X", "AE": "X"}
"""Attributes without a row, by VR: person names get pseudonyms, free text and AE titles go."""
_SCAN_KEYS = frozenset({"object_type", "source", "line_rate_hz", "energies_kv", "steps"})
_DOCUMENT_KEYS = frozenset({"schema", "kind", "view", "volume", "channel", "calibration", "arrays", "exact"})
_STEP_KEYS = frozenset({"name", "parameters", "software"})
_META_REMOVED = (0x00020016, 0x00020017, 0x00020018, 0x00020100, 0x00020102)
"""Source/Sending/Receiving AE Titles and the private information of the file meta."""


@dataclass(frozen=True)
class DeidentificationRule:
    """One row of the action table."""

    tag: int
    keyword: str
    basic: str
    dicos: str
    keep_with: KeepOption | None
    source: str

    def action(self, keep: frozenset[KeepOption]) -> str:
        """The action for this attribute under the chosen options."""
        if self.keep_with is not None and self.keep_with in keep:
            return "K"
        return self.dicos or self.basic.split("/")[0]


@cache
def action_table() -> dict[int, DeidentificationRule]:
    """The rows of ``nii/data/deidentification.csv`` by tag."""
    text = resources.files("nii").joinpath("data/deidentification.csv").read_text()
    rules = {}
    for row in csv.DictReader(text.splitlines()):
        rule = DeidentificationRule(
            tag=int(row["tag"], 16),
            keyword=row["keyword"],
            basic=row["basic"],
            dicos=row["dicos"],
            keep_with=KeepOption(row["keep_with"]) if row["keep_with"] else None,
            source=row["source"],
        )
        rules[rule.tag] = rule
    return rules


@dataclass(frozen=True)
class Deidentifier:
    """A de-identification profile: the HMAC key and the options kept.

    Parameters
    ----------
    key
        Secret key of the pseudonyms (at least 16 bytes; keep it to re-identify consistently,
        never send it with the files).
    keep
        Options retained (:class:`KeepOption` or their names).
    """

    key: bytes = field(repr=False)
    keep: frozenset[KeepOption] = frozenset()

    def __post_init__(self) -> None:
        if len(self.key) < MIN_KEY_BYTES:
            raise ConfigurationError(f"the de-identification key has {len(self.key)} bytes; it needs {MIN_KEY_BYTES}")
        try:
            object.__setattr__(self, "keep", frozenset(KeepOption(option) for option in self.keep))
        except ValueError as error:
            names = ", ".join(option.value for option in KeepOption)
            raise ConfigurationError(f"{error}; --keep takes {names}") from error

    @classmethod
    def from_key_file(
        cls, path: str | os.PathLike[str], *, keep: frozenset[KeepOption] | str = frozenset()
    ) -> Deidentifier:
        """The key is the file's bytes (surrounding white space stripped); ``keep`` may be ``"device,dates"``."""
        try:
            key = Path(path).read_bytes().strip()
        except OSError as error:
            raise FileAccessError(f"cannot read the key file: {error.strerror}", path=path) from error
        options = [part.strip() for part in keep.split(",") if part.strip()] if isinstance(keep, str) else keep
        try:
            return cls(key, frozenset(options))  # type: ignore[arg-type]
        except ConfigurationError as error:
            raise ConfigurationError(error.problem, path=path) from error

    def _digest(self, purpose: bytes, value: str) -> bytes:
        return hmac.new(self.key, purpose + b"\0" + value.encode("utf-8"), hashlib.sha256).digest()

    def pseudonym(self, value: str) -> str:
        """A keyed pseudonym of ``value``: 16 upper-case letters and digits (80 bits; fits every text VR)."""
        return base64.b32encode(self._digest(b"pseudonym", value.strip())).decode()[:16]

    def uid(self, value: str) -> str:
        """A 2.25 UID standing for ``value`` (registered DICOM UIDs are kept)."""
        value = value.strip().rstrip("\0")
        if not value or UID(value).name != value:
            return value
        number = int.from_bytes(self._digest(b"uid", value)[:16])
        # A version-8 (custom) UUID with the RFC 9562 variant, so 2.25.<integer> is a valid UUID-derived UID.
        number = (number & ~(0xF << 76) & ~(0x3 << 62)) | (0x8 << 76) | (0x2 << 62)
        return f"2.25.{number}"

    @property
    def day_shift(self) -> timedelta:
        """How far dates move with ``--keep dates``: 1 to 3650 days back, the same for every file with one key."""
        return -timedelta(days=1 + int.from_bytes(self._digest(b"date-shift", "")[:4]) % 3650)

    def shift_date(self, value: str, vr: str) -> str:
        """A DA or DT value moved by :attr:`day_shift` (other parts of a DT kept); a dummy when unparseable."""
        text = value.strip()
        try:
            day = datetime.strptime(text[:8], "%Y%m%d").date()
        except ValueError:
            return _DUMMY[vr]
        return (day + self.day_shift).strftime("%Y%m%d") + (text[8:] if vr == "DT" else "")

    # ----------------------------------------------------------------------------- walking

    def clean(self, dataset: Dataset) -> Counter[str]:
        """De-identify ``dataset`` in place (every element, nested ones too); count what was done."""
        counts: Counter[str] = Counter()
        self._clean_item(dataset, counts)
        return counts

    def _clean_item(self, item: Dataset, counts: Counter[str]) -> None:
        blocks = _nii_blocks(item)
        table = action_table()
        for tag in list(item.keys()):
            element = item[tag]
            if element.tag.is_private:
                self._clean_private(item, element, blocks, counts)
                continue
            rule = table.get(int(tag))
            if rule is not None:
                action: str | None = rule.action(self.keep)
                if self._date_retained(rule, element):
                    action = "D"  # modified (shifted), not removed
            elif _repeating_group_removed(int(tag)):
                action = "X"
            else:
                action = _UNLISTED.get(element.VR)
            self._apply(item, element, action, counts)
        scheme = str(item.get("CodingSchemeDesignator", ""))
        if scheme.startswith("99"):  # a local coding scheme: its codes may be identifiers
            for keyword in ("CodeValue", "CodeMeaning"):
                if item.get(keyword):
                    setattr(item, keyword, self.pseudonym(str(item.get(keyword))))
                    counts["pseudonym"] += 1

    def _date_retained(self, rule: DeidentificationRule, element: DataElement) -> bool:
        """Whether the Retain Longitudinal Temporal Information option applies: the standard's
        date rows, except Patient's Birth Date and Time (no option retains those); DICOS journey
        times (route segments, OOI owner) stay removed."""
        return (
            KeepOption.DATES in self.keep
            and element.VR in ("DA", "DT", "TM")
            and rule.source == "PS3.15 E.1-1"
            and rule.tag not in _BIRTH
        )

    def _apply(self, item: Dataset, element: DataElement, action: str | None, counts: Counter[str]) -> None:
        vr = element.VR
        if action == "X":
            del item[element.tag]
            counts["removed"] += 1
        elif action == "Z":
            element.value = DicomSequence() if vr == "SQ" else ("" if vr in _TEXT_VRS | {"DA", "DT", "TM"} else None)
            counts["emptied"] += 1
        elif vr == "SQ":
            for child in element.value:
                self._clean_item(child, counts)
        elif vr in ("DA", "DT", "TM"):
            self._date(element, action, counts)
        elif vr == "UI" and action in (None, "U", "D"):
            values = element.value if element.VM > 1 else [element.value]
            mapped = [self.uid(str(v)) for v in values if v is not None]
            counts["uid"] += sum(a != b for a, b in zip(mapped, values, strict=False))
            element.value = mapped if element.VM > 1 else (mapped[0] if mapped else element.value)
        elif action == "D" and vr in _TEXT_VRS and element.value not in (None, ""):
            if element.VM > 1:
                element.value = [self.pseudonym(str(v)) for v in element.value]
            else:
                element.value = self.pseudonym(str(element.value))
            counts["pseudonym"] += 1

    def _date(self, element: DataElement, action: str | None, counts: Counter[str]) -> None:
        vr = element.VR
        if element.value in (None, ""):
            return
        if KeepOption.DATES in self.keep:
            if vr != "TM":
                values = element.value if element.VM > 1 else [element.value]
                shifted = [self.shift_date(str(v), vr) for v in values]
                element.value = shifted if element.VM > 1 else shifted[0]
                counts["date shifted"] += 1
        elif action != "K":
            element.value = _DUMMY[vr]
            counts["date replaced"] += 1

    def _clean_private(
        self, item: Dataset, element: DataElement, blocks: set[tuple[int, int]], counts: Counter[str]
    ) -> None:
        tag = element.tag
        block = (tag.group, tag.element if tag.is_private_creator else tag.element >> 8)
        if block not in blocks:
            del item[tag]
            counts["private removed"] += 1
        elif not tag.is_private_creator and tag.element & 0xFF == 0x01:
            value = element.value
            text = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
            try:
                document = json.loads(text)
            except ValueError:
                document = {}
            item[tag] = DataElement(tag, "UT", json.dumps(self._clean_document(document), separators=(",", ":")))
            counts["private cleaned"] += 1
        elif element.VR == "SQ":
            for child in element.value:
                self._clean_item(child, counts)

    def _clean_document(self, document: Any) -> dict[str, Any]:
        """nii's private JSON with only the keys known to be free of identity (see the module doc)."""
        if not isinstance(document, dict):
            return {}
        cleaned = {key: value for key, value in document.items() if key in _DOCUMENT_KEYS}
        scan = document.get("scan")
        if isinstance(scan, dict):
            kept = {key: value for key, value in scan.items() if key in _SCAN_KEYS}
            if KeepOption.INSTITUTION in self.keep and "country" in scan:
                kept["country"] = scan["country"]
            kept["steps"] = [self._clean_step(step) for step in scan.get("steps") or [] if isinstance(step, dict)]
            cleaned["scan"] = kept
        return cleaned

    def _clean_step(self, step: dict[str, Any]) -> dict[str, Any]:
        kept = {key: value for key, value in step.items() if key in _STEP_KEYS}
        performed = step.get("performed_at")
        kept["performed_at"] = None
        if performed and KeepOption.DATES in self.keep:
            try:
                moment = datetime.fromisoformat(str(performed))
            except ValueError:
                moment = None
            if moment is not None:
                kept["performed_at"] = (moment + self.day_shift).isoformat()
        return kept

    # ----------------------------------------------------------------------------- recording

    def record(self, dataset: Dataset) -> None:
        """Record what was done: Patient Identity Removed, De-identification Method and its codes,
        Longitudinal Temporal Information Modified."""
        dataset.PatientIdentityRemoved = "YES"
        options = sorted(option.value for option in self.keep)
        dataset.DeidentificationMethod = [
            f"nii {nii.__version__} deidentify",
            "PS3.15 E basic profile + DICOS attributes",
            "HMAC-SHA256 pseudonyms and UIDs",
            *([f"kept: {', '.join(options)}"] if options else []),
        ]
        codes = ["basic", *sorted(self.keep), "private"]
        dataset.DeidentificationMethodCodeSequence = DicomSequence([_code(*CODES[name]) for name in codes])
        dataset.LongitudinalTemporalInformationModified = "MODIFIED" if KeepOption.DATES in self.keep else "REMOVED"

    def clean_file_meta(self, dataset: Dataset) -> None:
        """The file meta follows the dataset: SOP Instance UID replaced, AE titles removed."""
        meta = dataset.file_meta
        if "SOPInstanceUID" in dataset:
            meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        for tag in _META_REMOVED:
            if tag in meta:
                del meta[tag]


def _repeating_group_removed(tag: int) -> bool:
    """The pattern rows of PS3.15 Table E.1-1: Curve Data (50xx,xxxx), Overlay Data (60xx,3000)
    and Overlay Comments (60xx,4000)."""
    group, element = tag >> 16, tag & 0xFFFF
    return group & 0xFF00 == 0x5000 or (group & 0xFF00 == 0x6000 and element in (0x3000, 0x4000))


def _code(value: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item


def _nii_blocks(item: Dataset) -> set[tuple[int, int]]:
    """(group, block) of every private block of ``item`` whose creator is nii's."""
    blocks = set()
    for tag in list(item.keys()):
        if tag.is_private_creator:
            value = item[tag].value
            creator = value.decode("latin-1") if isinstance(value, bytes) else str(value)
            if creator.strip().rstrip("\0") == NII_PRIVATE_CREATOR:
                blocks.add((tag.group, tag.element))
    return blocks


# ----------------------------------------------------------------------------- files


@dataclass
class FileResult:
    """One input file's row of the report."""

    input: str
    output: str
    status: str  # "ok" or "failed"
    error: str = ""
    actions: dict[str, int] = field(default_factory=dict)


def read_dicom(path: Path) -> Dataset:
    """A DICOM Part 10 file as a pydicom dataset (pixels included, not decoded).

    Raises
    ------
    CorruptFileError
        Not a Part 10 file, or pydicom cannot parse it.
    """
    try:
        return pydicom.dcmread(path, force=False)
    except OSError as error:
        raise FileAccessError(f"cannot read: {error.strerror or error}", path=path) from error
    except (InvalidDicomError, ValueError, KeyError, TypeError, EOFError) as error:
        raise CorruptFileError(f"not a readable DICOM file: {error}", path=path) from error


def deidentify_file(source: Path, target: Path, profile: Deidentifier) -> dict[str, int]:
    """De-identify one file into ``target`` (written atomically); return the counts of actions."""
    dataset = read_dicom(source)
    if str(dataset.get("BurnedInAnnotation", "")).upper() == "YES":
        # The profile never touches pixels; text burned into them would need the Clean Pixel Data option.
        raise UnsupportedError(
            "Burned In Annotation is YES: the pixels may show identities; not de-identified", path=source
        )
    counts = profile.clean(dataset)
    profile.record(dataset)
    profile.clean_file_meta(dataset)
    with atomic_output(target) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
    return dict(counts)


def _files_of(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def is_dicom(path: Path) -> bool:
    """Whether ``path`` starts like a DICOM Part 10 file (preamble and ``DICM``)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(132)[128:] == b"DICM"
    except OSError:
        return False


def deidentify_paths(
    inputs: Sequence[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    profile: Deidentifier,
    *,
    report: str | os.PathLike[str] | None = None,
) -> list[FileResult]:
    """De-identify files and folders into ``out_dir``; one result per file, failures included.

    A file gives ``out_dir/<name>``; a folder gives ``out_dir/<folder name>/`` with the same
    relative paths, written atomically as a whole (DICOM files only; others are left out).
    A failing file is reported and the rest go on.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results: list[FileResult] = []
    for item in map(Path, inputs):
        if item.is_dir():
            results.extend(_deidentify_folder(item, out / item.name, profile))
        else:
            results.append(_one(item, out / item.name, profile))
    if report is not None:
        with atomic_output(Path(report)) as temporary:
            temporary.write_text(json.dumps([asdict(result) for result in results], indent=1))
    return results


def _one(source: Path, target: Path, profile: Deidentifier) -> FileResult:
    try:
        if not source.exists():
            raise FileAccessError("no such file or folder", path=source)
        actions = deidentify_file(source, target, profile)
    except NiiError as error:
        return FileResult(str(source), str(target), "failed", str(error))
    return FileResult(str(source), str(target), "ok", actions=actions)


def _deidentify_folder(folder: Path, target: Path, profile: Deidentifier, *, fsync: bool = False) -> list[FileResult]:
    files = [path for path in _files_of(folder) if is_dicom(path)]
    with atomic_output(target, fsync=fsync) as temporary:
        temporary.mkdir()
        results = []
        for path in files:
            destination = temporary / path.relative_to(folder)
            destination.parent.mkdir(parents=True, exist_ok=True)
            result = _one(path, destination, profile)
            result.output = str(target / path.relative_to(folder))
            results.append(result)
    return results


def write_deidentified(scan: Scan, output: Path, profile: Deidentifier, **options: Any) -> None:
    """Write ``scan`` as DICOS and de-identify it: only the de-identified folder appears at ``output``.

    The identified files live in a private temporary folder beside ``output`` while this
    runs and are removed after (also on failure).
    """
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=f".{output.name}.identified-") as staging:
        plain = Path(staging) / output.name
        nii.write(scan, plain, format="dicos", **options)
        results = _deidentify_folder(plain, output, profile, fsync=bool(options.get("fsync")))
        failed = [result for result in results if result.status != "ok"]
    if failed:
        raise CorruptFileError(f"de-identification failed: {failed[0].error}", path=output)

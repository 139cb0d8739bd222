"""Validate DICOS files against what the reference toolkit requires, plus TDR semantics.

Checks (reference doc §7, §8, §12, §13):

* file meta: (0002,0004) DICOS version present and one the reference reads;
* every attribute the reference reader requires for the IOD (DX, CT, TDR, and the nested
  items of CT functional groups and TDR threat items), and the ones that must hold a value
  (OOI ID, KVP, X-Ray Tube Current, Scan ID, OOI Gender when present);
* enumerations (OOI Type, Image Origin, Coordinate System, Image Type, threat category,
  assessment flag, alarm decision, ...);
* encodings the reference (or DCMTK) stumbles on: Number of Frames as US, encapsulated
  Pixel Data as OW, Image Scale Representation not FD or not > 0, multi-frame DX, Pixel
  Spacing without its calibration description, FOR PRESENTATION without a window, JPEG-LS
  or deflated transfer syntaxes, UIDs that are not valid DICOM UIDs;
* TDR semantics the reference does not check: Number of Total Objects equals the number of
  PTOs, Number of Alarm Objects equals the THREAT/HIGH_THREAT PTOs, ALARM if and only if
  there is an alarm object, probabilities in [0, 1] or -1, and every referenced image is an
  instance of the same scan (found among the files given and their folders).

Examples
--------
>>> reports = validate_paths(["scan.dicos"])        # doctest: +SKIP
>>> [finding.message for finding in reports[0].errors]  # doctest: +SKIP
[]
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

from pydicom.dataset import Dataset
from pydicom.uid import DeflatedExplicitVRLittleEndian, JPEGLSLossless

from nii.errors import NiiError

from .dictionary import (
    ACCEPTED_VERSIONS,
    COORDINATE_SYSTEM,
    CT_STORAGE,
    DICOS_PREFIX,
    DX_CLASSES,
    DX_PRESENTATION_STORAGE,
    EFFECTIVE_ENERGY,
    IMAGE_ORIGIN,
    IMAGE_SCALE,
    MAPPED_VALUE_REPRESENTATION,
    META_VERSION,
    NON_STANDARD_PIXEL_CLASSES,
    NUMBER_OF_FRAMES,
    PIXEL_DATA,
    PTO_END,
    PTO_START,
    PTO_TOTAL_TIME,
    TDR_STORAGE,
    AbilityAssessment,
    AbortFlag,
    AcquisitionStatus,
    AlarmDecision,
    AssessmentFlag,
    CoordinateSystem,
    ImageOrigin,
    ImageTypeValue1,
    OOIIDType,
    OOIImageCharacteristics,
    OOIType,
    PresentationIntent,
    ScanType,
    TDRType,
    ThreatCategory,
    current_term,
)
from .files import normalise_number_of_frames, read_dataset, tag_text, tolerant_reading
from .format import dicos_files
from .real_world import MAPPING_SEQUENCE

__all__ = ["FileReport", "Finding", "validate_file", "validate_paths"]

Severity = Literal["error", "warning"]

_COMMON = (
    0x00080012, 0x00080013, 0x00080016, 0x00080018, 0x00080020, 0x00080021, 0x00080023, 0x00080030,
    0x00080031, 0x00080033, 0x00080060, 0x00080070, 0x00080080, 0x00080081, 0x00081010, 0x00081090,
    0x00100020, 0x00100021, 0x00100022, 0x00181000, 0x00181020, 0x00181200, 0x00181201,
    0x0020000D, 0x0020000E, 0x00200010, 0x00200013, 0x4010103A, 0x40101042, 0x40101044, 0x40101048,
)  # fmt: skip
_IMAGE = (
    0x00080008, 0x00280002, 0x00280004, 0x00280010, 0x00280011, 0x00280100,
    0x00280101, 0x00280102, 0x00280103, 0x00280301, 0x00400555,
)  # fmt: skip
REQUIRED: dict[str, tuple[int, ...]] = {
    "DX": (
        *_COMMON, *_IMAGE, 0x00080068, 0x00180060, 0x00187004, 0x00188151, 0x00200032,
        0x00200037, 0x00281040, 0x00281041, 0x00281052, 0x00281053, 0x00281054, 0x00282110,
    ),
    "CT": (
        *_COMMON, *_IMAGE, 0x0008002A, 0x00089205, 0x00089206, 0x00089207, 0x00189073, 0x00200052,
        0x00201040, NUMBER_OF_FRAMES, 0x20500020, 0x52009229, 0x52009230,
    ),
    "TDR": (
        *_COMMON, 0x00200052, 0x00201040, 0x40101011, 0x40101024, 0x40101027, 0x40101029,
        0x4010102B, 0x40101031, 0x40101033, 0x40101034, 0x40101069, 0x4010106D, IMAGE_SCALE,
    ),
}  # fmt: skip
"""Attributes whose absence makes the reference reader fail, in every version (doc §7)."""

REQUIRED_SINCE_V03: dict[str, tuple[int, ...]] = {
    "DX": (IMAGE_ORIGIN, COORDINATE_SYSTEM, EFFECTIVE_ENERGY, 0x00189309, 0x40101062),
    "CT": (IMAGE_ORIGIN, COORDINATE_SYSTEM, EFFECTIVE_ENERGY),
    "TDR": (0x00081110,),
}
"""Attributes V03 files need (the reference refuses a V03 file without them; Effective
Energy in CT because the reference CT reader logs an Error without it). V02 and V02A
files do not have them: the reference fills defaults on reading, so nii warns."""

MUST_HAVE_VALUE = (0x00100020, 0x00100021, 0x00200010)
"""OOI ID, OOI ID Assigning Authority and Scan ID: the reference refuses them empty."""
DX_MUST_HAVE_VALUE = (0x00180060, 0x00188151)

ENUMERATIONS: dict[int, type[StrEnum]] = {
    0x40101042: OOIType,
    0x00100022: OOIIDType,
    0x40101048: ScanType,
    0x40101044: AcquisitionStatus,
    IMAGE_ORIGIN: ImageOrigin,
    COORDINATE_SYSTEM: CoordinateSystem,
    0x00080068: PresentationIntent,
    0x40101031: AlarmDecision,
    0x40101024: AbortFlag,
    0x40101027: TDRType,
}
_UID = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")


@dataclass(frozen=True)
class Finding:
    """One problem: its severity, the tag (when one is concerned) and what is wrong."""

    severity: Severity
    message: str
    tag: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "tag": self.tag, "message": self.message}


@dataclass
class FileReport:
    """The findings for one file."""

    path: Path
    iod: str | None = None
    findings: list[Finding] = field(default_factory=list)
    version: str | None = None
    failed: str | None = None
    """Why the file could not be validated (unreadable, not DICOS, an IOD nii does not check)."""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors and self.failed is None

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "iod": self.iod,
            "ok": self.ok,
            "failed": self.failed,
            "version": self.version,
            "errors": [f.as_dict() for f in self.errors],
            "warnings": [f.as_dict() for f in self.warnings],
        }


class _Checker:
    def __init__(self, report: FileReport) -> None:
        self.report = report

    def add(self, severity: Severity, message: str, tag: int | None = None, *, where: str = "") -> None:
        prefix = f"{where}: " if where else ""
        self.report.findings.append(Finding(severity, prefix + message, tag_text(tag) if tag is not None else None))

    def required(self, dataset: Dataset, tags: Iterable[int], *, where: str = "") -> None:
        for tag in tags:
            if tag not in dataset:
                self.add("error", "required attribute is missing", tag, where=where)

    def has_value(self, dataset: Dataset, tags: Iterable[int], *, where: str = "") -> None:
        for tag in tags:
            if tag in dataset and _empty(dataset[tag].value):
                self.add("error", "must have a value (the reference reader refuses it empty)", tag, where=where)

    def enumerated(
        self, dataset: Dataset, tag: int, enum: type[StrEnum], *, where: str = "", legacy: bool = False
    ) -> None:
        if tag not in dataset or _empty(dataset[tag].value):
            return
        value = _text(dataset[tag].value)
        values = {member.value for member in enum}
        if legacy and value not in values and current_term(value) in values:
            message = f"{value!r} is a V02/V02A term, read as {current_term(value)!r}"
            self.add("warning", message, tag, where=where)
        elif value not in values:
            allowed = ", ".join(member.value for member in enum)
            self.add("error", f"{value!r} is not one of {allowed}", tag, where=where)


def _empty(value: object) -> bool:
    return value is None or value == "" or value == b"" or (isinstance(value, list | tuple) and len(value) == 0)


def _text(value: object) -> str:
    if isinstance(value, bytes):
        return value.decode("ascii", "replace").strip(" \0")
    return str(value).strip()


def _values(dataset: Dataset, tag: int) -> list[str]:
    if tag not in dataset or _empty(dataset[tag].value):
        return []
    value = dataset[tag].value
    return [_text(value)] if isinstance(value, str | bytes) else [_text(v) for v in value]


_DX_VARIANTS = {uid for uid, meaning in NON_STANDARD_PIXEL_CLASSES.items() if meaning.startswith("DX")}
_CT_VARIANTS = {uid for uid, meaning in NON_STANDARD_PIXEL_CLASSES.items() if meaning.startswith("CT")}
_OTHER_PIXEL_DATA = (0x7FE00011, 0x7FE00012, 0x7FE00013)
"""Where the reference toolkit puts 32-bit, 64-bit and float pixels (doc §2.2)."""


def _iod(sop_class: str) -> str | None:
    if sop_class in DX_CLASSES or sop_class in _DX_VARIANTS:
        return "DX"
    if sop_class == CT_STORAGE or sop_class in _CT_VARIANTS:
        return "CT"
    if sop_class == TDR_STORAGE:
        return "TDR"
    return None


def _check_meta(dataset: Dataset, iod: str, version: str, check: _Checker) -> None:
    meta = dataset.file_meta
    if META_VERSION not in meta:
        # V02 files never had it; the CT and TDR readers log an error but load.
        severity: Severity = "error" if iod == "DX" and version != "V02" else "warning"
        check.add(severity, "DICOS meta version is missing (the reference DX reader fails without it)", META_VERSION)
    elif _text(meta[META_VERSION].value) not in ("V02A", "V03"):
        # Even V02 is refused here ("Invalid meta info DICOS Version"): V02 files have none.
        check.add("error", f"{_text(meta[META_VERSION].value)!r} is not V02A or V03", META_VERSION)
    if version and version not in ACCEPTED_VERSIONS:
        check.add("error", f"DICOS version {version!r} is rejected by the reference toolkit", 0x4010103A)
    syntax = meta.get("TransferSyntaxUID")
    if syntax == DeflatedExplicitVRLittleEndian:
        check.add("error", "deflated transfer syntax is rejected by the reference toolkit", 0x00020010)
    elif syntax == JPEGLSLossless:
        check.add("warning", "the reference toolkit cannot read JPEG-LS pixel data", 0x00020010)
    for tag in (0x00080016, 0x00080018, 0x0020000D, 0x0020000E, 0x00200052):
        if tag in dataset and not _empty(dataset[tag].value):
            uid = _text(dataset[tag].value)
            if len(uid) > 64 or not _UID.fullmatch(uid):
                check.add("warning", f"{uid!r} is not a valid DICOM UID (leading zeros or bad characters)", tag)


def _check_since_v03(dataset: Dataset, iod: str, version: str, check: _Checker) -> None:
    for tag in REQUIRED_SINCE_V03[iod]:
        if tag in dataset:
            continue
        if version in ("V02", "V02A"):
            check.add("warning", f"absent, as usual in {version}; the reference fills a default on reading", tag)
        else:
            check.add("error", "required attribute is missing", tag)


def _check_image(dataset: Dataset, iod: str, raw_frames: Any, check: _Checker) -> None:
    image_type = _values(dataset, 0x00080008)
    if len(image_type) >= 2:
        if image_type[0] not in {m.value for m in ImageTypeValue1}:
            check.add("error", f"Image Type value 1 {image_type[0]!r} is not ORIGINAL or DERIVED", 0x00080008)
        if image_type[1] not in {m.value for m in OOIImageCharacteristics}:
            # V02 files say PRIMARY; the reference reader takes any value.
            check.add(
                "warning", f"Image Type value 2 {image_type[1]!r} is not a DICOS image characteristic", 0x00080008
            )
    elif image_type:
        check.add("error", "Image Type needs at least 2 values", 0x00080008)
    if not any(tag in dataset for tag in (PIXEL_DATA, *_OTHER_PIXEL_DATA)):
        check.add("error", "required attribute is missing", PIXEL_DATA)
    if raw_frames is not None and getattr(raw_frames, "VR", None) == "US":
        check.add("warning", "written as US instead of IS: DCMTK then sees only one frame", NUMBER_OF_FRAMES)
    raw_pixels = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    if raw_pixels is not None and getattr(raw_pixels, "length", 0) == 0xFFFFFFFF and raw_pixels.VR == "OW":
        check.add("warning", "encapsulated Pixel Data should be OB, not OW", PIXEL_DATA)
    photometric = _text(dataset.get("PhotometricInterpretation", ""))
    allowed = ("MONOCHROME1", "MONOCHROME2") + (("PALETTE COLOR",) if iod == "DX" else ())
    if photometric and photometric not in allowed:
        check.add("error", f"{photometric!r} is not one of {', '.join(allowed)}", 0x00280004)
    if iod == "DX":
        _check_dx(dataset, check)
    if iod == "CT":
        _check_ct_groups(dataset, check)
        for group in dataset.get("SharedFunctionalGroupsSequence") or []:
            _check_value_mapping(group, check)


def _check_dx(dataset: Dataset, check: _Checker) -> None:
    check.has_value(dataset, DX_MUST_HAVE_VALUE)
    frames = int(dataset.get("NumberOfFrames") or 1)
    if frames != 1:
        check.add("error", f"a DX holds one frame, this one announces {frames}", NUMBER_OF_FRAMES)
    intent = _text(dataset.get("PresentationIntentType", ""))
    presentation = intent == PresentationIntent.FOR_PRESENTATION.value
    if presentation and not (("WindowCenter" in dataset and "WindowWidth" in dataset) or "VOILUTSequence" in dataset):
        check.add("error", "FOR PRESENTATION needs Window Center/Width or a VOI LUT", 0x00281050)
    if presentation != (str(dataset.get("SOPClassUID")).startswith(DX_PRESENTATION_STORAGE)):
        check.add("warning", "Presentation Intent Type does not match the SOP class", 0x00080068)
    if "PixelSpacing" in dataset and "PixelSpacingCalibrationDescription" not in dataset:
        check.add(
            "error", "Pixel Spacing needs Pixel Spacing Calibration Description (use Imager Pixel Spacing)", 0x00280030
        )
    slope = dataset.get("RescaleSlope")
    if slope not in (None, "") and float(slope) != 1:
        check.add(
            "error",
            f"is {float(slope):g}: the reference toolkit refuses a DX Rescale Slope other than 1 "
            "(put physical scales in a Real World Value Mapping Sequence)",
            0x00281053,
        )
    _check_value_mapping(dataset, check)


def _check_value_mapping(dataset: Dataset, check: _Checker) -> None:
    element = dataset.get(MAPPING_SEQUENCE)
    items: list[Dataset] = list(element.value or []) if element is not None else []
    for index, item in enumerate(items):
        where = f"{tag_text(MAPPING_SEQUENCE)} item {index + 1}"
        # Mapped Value Representation and the units' Mapping Resource and Context Group
        # Version: the reference toolkit refuses the item without them.
        check.required(item, (0x00409211, 0x00409216, 0x004008EA, 0x00409210, MAPPED_VALUE_REPRESENTATION), where=where)
        for unit in item.get("MeasurementUnitsCodeSequence") or []:
            check.required(unit, (0x00080100, 0x00080102, 0x00080105, 0x00080106), where=where)
        if "RealWorldValueSlope" not in item and "RealWorldValueLUTData" not in item:
            check.add("error", "needs Real World Value Slope or LUT Data", 0x00409225, where=where)
        elif item.get("RealWorldValueSlope") is not None and float(item.RealWorldValueSlope) == 0:
            check.add("error", "Real World Value Slope is 0", 0x00409225, where=where)


def _check_ct_groups(dataset: Dataset, check: _Checker) -> None:
    shared = dataset.get("SharedFunctionalGroupsSequence") or []
    if shared:
        group = shared[0]
        for sequence, tags in (
            (0x00209116, (0x00200037,)),
            (0x00289110, (0x00180050, 0x00280030)),
            (0x00289145, (0x00281052, 0x00281053, 0x00281054)),
            (0x00189325, (0x00180060, 0x00181160, 0x00181190)),
        ):
            items = group.get(sequence)
            if sequence == 0x00209116 and not items:
                check.add("error", "required in Shared Functional Groups", sequence)
            elif items:
                check.required(items[0], tags, where=tag_text(sequence))
    per_frame = dataset.get("PerFrameFunctionalGroupsSequence") or []
    frames = int(dataset.get("NumberOfFrames") or 1)
    if per_frame and len(per_frame) != frames:
        check.add("error", f"{len(per_frame)} per-frame items for {frames} frames", 0x52009230)
    shared_position = bool(shared) and bool(shared[0].get("PlanePositionSequence"))
    for index, group in enumerate(per_frame):
        positions = group.get("PlanePositionSequence")
        if not shared_position and (not positions or "ImagePositionPatient" not in positions[0]):
            check.add(
                "error",
                f"frame {index} has no Plane Position, per frame or shared (the reference SDK crashes)",
                0x00209113,
            )


def _check_tdr(dataset: Dataset, version: str, check: _Checker, instances: dict[str, set[str]] | None) -> None:
    scale = dataset.get(IMAGE_SCALE)
    if scale is not None:
        if scale.VR != "FD":
            check.add("error", f"must be FD (the reference reads {scale.VR} as 0)", IMAGE_SCALE)
        elif not float(scale.value) > 0:
            check.add("error", "must be > 0", IMAGE_SCALE)
    if _text(dataset.get("AbortFlag", "")) == "ABORT" and "AbortReason" not in dataset:
        check.add("error", "ABORT needs Abort Reason", 0x40101021)
    if _text(dataset.get("TDRType", "")) == "OPERATOR" and not dataset.get("OperatorIdentificationSequence"):
        check.add("error", "an OPERATOR TDR needs the Operator Identification Sequence", 0x00081072)
    baggage = _text(dataset.get("OOIType", "")) == "BAGGAGE"
    scan_images = instances.get(_text(dataset.get("StudyInstanceUID", ""))) if instances is not None else None
    items = dataset.get("ThreatSequence") or []
    alarms = 0
    for item in items:
        where = f"PTO {item.get('PotentialThreatObjectID', '?')}"
        check.required(item, (0x40101010, 0x40101037, 0x40101038, PTO_START, PTO_END, PTO_TOTAL_TIME), where=where)
        for representation in item.get("PTORepresentationSequence") or []:
            check.required(representation, (0x0008114A, 0x40101001), where=where)
            if baggage:
                for tag in (0x40101017, 0x40101018):
                    if tag not in representation:
                        # The V03 reference reader refuses a BAGGAGE PTO without them (doc §13).
                        severity: Severity = "warning" if version in ("V02", "V02A") else "error"
                        check.add(severity, "Mass and Density are required for BAGGAGE", tag, where=where)
            for voxel in representation.get("ThreatROIVoxelSequence") or []:
                check.required(voxel, (0x40101004, 0x40101005), where=where)
            for reference in representation.get("ReferencedInstanceSequence") or []:
                uid = _text(reference.get("ReferencedSOPInstanceUID", ""))
                if scan_images is not None and uid not in scan_images:
                    check.add("error", f"references {uid}, which is no image of this scan", 0x00081155, where=where)
        for assessment in item.get("ATDAssessmentSequence") or []:
            check.required(assessment, (0x40101012, 0x40101014, 0x40101015), where=where)
            check.enumerated(assessment, 0x40101012, ThreatCategory, where=where, legacy=True)
            check.enumerated(assessment, 0x40101014, AbilityAssessment, where=where)
            check.enumerated(assessment, 0x40101015, AssessmentFlag, where=where)
            if _text(assessment.get("ATDAssessmentFlag", "")) in ("THREAT", "HIGH_THREAT"):
                alarms += 1
            probability = assessment.get("ATDAssessmentProbability")
            if probability is not None and not (float(probability) == -1 or 0 <= float(probability) <= 1):
                check.add(
                    "error", f"probability {float(probability):g} is neither in [0, 1] nor -1", 0x40101016, where=where
                )
    total, announced = dataset.get("NumberOfTotalObjects"), dataset.get("NumberOfAlarmObjects")
    if total is not None and int(total) != len(items):
        check.add("error", f"says {int(total)} but the report has {len(items)} PTOs", 0x40101033)
    if announced is not None and int(announced) != alarms:
        check.add("error", f"says {int(announced)} but {alarms} PTOs are THREAT or HIGH_THREAT", 0x40101034)
    decision = _text(dataset.get("AlarmDecision", ""))
    # Doubts the reference tolerates (an officer may clear an algorithm's threat): warnings.
    if decision == "CLEAR" and alarms:
        check.add("warning", f"CLEAR with {alarms} THREAT/HIGH_THREAT PTOs", 0x40101031)
    if decision == "ALARM" and not alarms:
        check.add("warning", "ALARM without any THREAT/HIGH_THREAT PTO", 0x40101031)
    for reference in dataset.get("ReferencedStudySequence") or []:
        uid = _text(reference.get("ReferencedSOPInstanceUID", ""))
        if scan_images is not None and uid not in scan_images:
            check.add("error", f"references {uid}, which is no image of this scan", 0x00081110)


def validate_file(path: str | Path, *, instances: dict[str, set[str]] | None = None) -> FileReport:
    """Validate one DICOS file.

    Parameters
    ----------
    path
        The file.
    instances
        Scan Instance UID → SOP Instance UIDs of the image files of that scan, to check TDR
        references; None skips that check.

    Returns
    -------
    FileReport
        Its findings; ``failed`` says why a file could not be validated at all.
    """
    path = Path(path)
    report = FileReport(path)
    try:
        with tolerant_reading():
            dataset = read_dataset(path, normalise=False)
            raw_frames = dataset.get_item(NUMBER_OF_FRAMES)
            normalise_number_of_frames(dataset, path)
            _check_dataset(dataset, raw_frames, report, instances)
    except NiiError as error:
        report.failed = error.problem
    except OSError as error:
        report.failed = f"cannot read: {error.strerror or error}"
    except Exception as error:  # a bug or an input no check foresaw: say so, never crash the batch
        report.failed = f"validation failed: {type(error).__name__}: {error}"
    return report


def _check_dataset(
    dataset: Dataset, raw_frames: Any, report: FileReport, instances: dict[str, set[str]] | None
) -> None:
    check = _Checker(report)
    sop_class = _text(dataset.get("SOPClassUID", ""))
    report.iod = _iod(sop_class)
    if report.iod is None:
        what = "a DICOS class nii does not handle (AIT, QR, ...)" if sop_class.startswith(DICOS_PREFIX) else "not DICOS"
        report.failed = f"SOP class {sop_class!r} is {what}; only DX, CT and TDR are validated"
        return
    version = _text(dataset.get("DICOSVersion", ""))
    report.version = version or None
    _check_meta(dataset, report.iod, version, check)
    check.required(dataset, REQUIRED[report.iod])
    _check_since_v03(dataset, report.iod, version, check)
    check.has_value(dataset, MUST_HAVE_VALUE)
    if "PatientSex" in dataset and _empty(dataset.PatientSex):
        check.add("error", "present but empty (the reference reader refuses it)", 0x00100040)
    if _text(dataset.get("OOIType", "")) == "PERSON" and _empty(dataset.get("PatientSex")):
        check.add("error", "required when OOI Type is PERSON", 0x00100040)
    for tag, enum in ENUMERATIONS.items():
        check.enumerated(dataset, tag, enum, legacy=tag == 0x40101027)
    if report.iod == "TDR":
        check.has_value(dataset, (0x40101029,))  # Threat Detection Algorithm and Version
        if _text(dataset.get("TDRType", "")) == "MACHINE" and len(_values(dataset, 0x40101029)) == 1:
            check.add("error", "a MACHINE report needs the algorithm's name and version", 0x40101029)
        _check_tdr(dataset, version, check, instances)
    else:
        _check_image(dataset, report.iod, raw_frames, check)


def _expand(paths: Sequence[str | Path]) -> list[Path]:
    """Files, folders (walked recursively, DICOS files by content) and glob patterns."""
    files: list[Path] = []
    for text in map(str, paths):
        entries = [Path(p) for p in sorted(glob.glob(text, recursive=True))] if glob.has_magic(text) else [Path(text)]
        for entry in entries:
            if entry.is_dir():
                for folder, subfolders, _ in os.walk(entry):
                    subfolders[:] = sorted(d for d in subfolders if not d.startswith("."))
                    files.extend(dicos_files(Path(folder)))
            else:
                files.append(entry)
    return files


def validate_paths(paths: Sequence[str | Path]) -> list[FileReport]:
    """Validate files and folders; TDR references are checked against the images found in
    the given files and in their folders."""
    files = _expand(paths)
    folders = {f.parent for f in files}
    instances: dict[str, set[str]] = {}
    with tolerant_reading():
        for candidate in {c for folder in folders if folder.is_dir() for c in dicos_files(folder)} | set(files):
            try:
                header = read_dataset(candidate, stop_before_pixels=True, tags=[0x00080016, 0x00080018, 0x0020000D])
            except (NiiError, OSError):  # reported when the file itself is validated
                continue
            if _iod(str(header.get("SOPClassUID", ""))) in ("DX", "CT"):
                instances.setdefault(str(header.get("StudyInstanceUID", "")), set()).add(str(header.SOPInstanceUID))
    return [validate_file(f, instances=instances) for f in files]

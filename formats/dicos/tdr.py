"""DICOS Threat Detection Report (TDR): potential threat objects (PTOs) on referenced images.

Structure and encodings follow the reference doc's §7.3 and §9:

* each PTO references the image instances it was detected on, and has one Threat ROI
  Voxel item: Base and Extents in the voxel grid of the referenced image (x = column,
  y = row, z = frame; a DX has z-base 0 and z-extent 1) and a bitmap, 1 bit per voxel of
  the extent box, x fastest, packed **LSB-first**, padded to an even length; an empty
  bitmap means "the whole box";
* Bounding Polygon is a flat FL list of x, y, z triplets;
* Image Scale Representation (4010,1075) is written as FD (the reference reads a DS as 0);
* Alarm Decision and the object counts are derived from the PTOs, so they always agree.

Examples
--------
>>> import numpy as np
>>> mask = np.fromfunction(lambda z, y, x: (x + y + z) % 2 == 0, (2, 3, 4))
>>> pack_bitmap(mask).hex(" ")
'a5 a5 a5 00'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from nii.errors import CorruptFileError, ValidationError
from nii.model import new_uid

from .common import ScanContext, format_dt, parse_dt
from .dictionary import (
    IMAGE_SCALE,
    PTO_END,
    PTO_START,
    PTO_TOTAL_TIME,
    TDR_STORAGE,
    AbilityAssessment,
    AbortFlag,
    AlarmDecision,
    AssessmentFlag,
    OOIType,
    TDRType,
    ThreatCategory,
    current_term,
)
from .files import tag_text
from .instance import DicosInstance

_E = TypeVar("_E", bound=StrEnum)

__all__ = ["PotentialThreat", "ThreatReport", "pack_bitmap", "unpack_bitmap"]


def pack_bitmap(mask: np.ndarray) -> bytes:
    """Pack a boolean ``(dz, dy, dx)`` mask LSB-first, x fastest, padded to an even length."""
    bits = np.packbits(np.ascontiguousarray(mask, dtype=bool).ravel(), bitorder="little").tobytes()
    return bits + b"\0" if len(bits) % 2 else bits


def unpack_bitmap(data: bytes, extents: tuple[int, int, int]) -> np.ndarray:
    """The boolean ``(dz, dy, dx)`` mask of a bitmap for a box of ``(dx, dy, dz)`` voxels."""
    dx, dy, dz = extents
    count = dx * dy * dz
    if len(data) * 8 < count:
        raise ValueError(f"bitmap of {len(data)} bytes is too short for a {dx} × {dy} × {dz} box")
    bits = np.unpackbits(np.frombuffer(data, np.uint8), bitorder="little", count=count)
    return bits.astype(bool).reshape(dz, dy, dx)


@dataclass(frozen=True)
class PotentialThreat:
    """One PTO of a TDR.

    Parameters
    ----------
    id
        Potential Threat Object ID (US, unique in the report).
    referenced_instances
        ``(SOP class UID, SOP instance UID)`` of every image showing the PTO.
    base, extents
        ROI box ``(x, y, z)`` in voxels of the referenced image; extents positive.
    bitmap
        Optional boolean ``(dz, dy, dx)`` mask of the box.
    polygon
        Optional ``(n ≥ 2, 3)`` outline ``(x, y, z)``.
    category, description, flag, probability, ability
        The ATD assessment; probability in [0, 1] or -1 for unknown.
    processing_start, processing_end, processing_time_ms
        PTO processing times (required by the reference reader).
    mass_g, density
        Required for BAGGAGE (0 when unknown).
    private_item
        Extra elements copied into the Threat Sequence item (nii's private block).
    """

    id: int
    referenced_instances: tuple[tuple[str, str], ...]
    base: tuple[float, float, float]
    extents: tuple[float, float, float]
    processing_start: datetime
    processing_end: datetime
    processing_time_ms: float = 0.0
    category: ThreatCategory = ThreatCategory.ANOMALY
    flag: AssessmentFlag = AssessmentFlag.THREAT
    probability: float = -1.0
    ability: AbilityAssessment = AbilityAssessment.NO_INTERFERENCE
    description: str | None = None
    bitmap: np.ndarray | None = None
    polygon: np.ndarray | None = None
    mass_g: float | None = None
    density: float | None = None
    private_item: Dataset | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", ThreatCategory(self.category))
        object.__setattr__(self, "flag", AssessmentFlag(self.flag))
        object.__setattr__(self, "ability", AbilityAssessment(self.ability))
        if not 0 <= self.id <= 65535:
            raise ValidationError(f"PTO ID {self.id} does not fit US")
        if not self.referenced_instances:
            raise ValidationError(f"PTO {self.id} references no image (the reference reader requires one)")
        if len(self.base) != 3 or len(self.extents) != 3:
            raise ValidationError(f"PTO {self.id}: base and extents need 3 values (x, y, z)")
        if not (self.probability == -1.0 or 0.0 <= self.probability <= 1.0):
            raise ValidationError(f"PTO {self.id}: probability {self.probability} is neither in [0, 1] nor -1")
        if self.bitmap is not None:
            expected = tuple(round(v) for v in reversed(self.extents))
            if self.bitmap.shape != expected:
                raise ValidationError(f"PTO {self.id}: bitmap shape {self.bitmap.shape}, extents need {expected}")
        if self.polygon is not None and (self.polygon.ndim != 2 or self.polygon.shape[1] != 3 or len(self.polygon) < 2):
            raise ValidationError(f"PTO {self.id}: polygon must be (n ≥ 2, 3), got {self.polygon.shape}")

    @property
    def is_alarm(self) -> bool:
        return self.flag is not AssessmentFlag.NO_THREAT

    def to_item(self, ooi_type: OOIType) -> Dataset:
        """The Threat Sequence (4010,1011) item."""
        roi = Dataset()
        roi.ThreatROIBase = [float(v) for v in self.base]
        roi.ThreatROIExtents = [float(v) for v in self.extents]
        roi.ThreatROIBitmap = pack_bitmap(self.bitmap) if self.bitmap is not None else b""
        representation = Dataset()
        representation.ReferencedInstanceSequence = DicomSequence(
            [_reference(sop_class, sop_instance) for sop_class, sop_instance in self.referenced_instances]
        )
        representation.ThreatROIVoxelSequence = DicomSequence([roi])
        if self.polygon is not None:
            representation.BoundingPolygon = [float(v) for v in self.polygon.ravel()]
        if self.mass_g is not None or ooi_type is OOIType.BAGGAGE:
            representation.Mass = float(self.mass_g or 0.0)
            representation.Density = float(self.density or 0.0)
        assessment = Dataset()
        assessment.ThreatCategory = str(self.category)
        if self.description:
            assessment.ThreatCategoryDescription = self.description
        assessment.ATDAbilityAssessment = str(self.ability)
        assessment.ATDAssessmentFlag = str(self.flag)
        assessment.ATDAssessmentProbability = float(self.probability)
        item = Dataset()
        item.PotentialThreatObjectID = self.id
        item.PTORepresentationSequence = DicomSequence([representation])
        item.ATDAssessmentSequence = DicomSequence([assessment])
        item.add_new(PTO_START, "DT", format_dt(self.processing_start))
        item.add_new(PTO_END, "DT", format_dt(self.processing_end))
        item.add_new(PTO_TOTAL_TIME, "FL", float(self.processing_time_ms))
        if self.private_item is not None:
            for element in self.private_item:
                item.add(element)
        return item

    @classmethod
    def from_item(cls, item: Dataset, *, path: Path | None) -> PotentialThreat:
        """Parse a Threat Sequence item (tolerant of legacy enumeration strings)."""
        where = f"PTO {item.get('PotentialThreatObjectID', '?')}"
        try:
            representation = item.PTORepresentationSequence[0]
            roi = representation.ThreatROIVoxelSequence[0]
            base = tuple(float(v) for v in roi.ThreatROIBase)
            extents = tuple(float(v) for v in roi.ThreatROIExtents)
            references = tuple(
                (str(ref.ReferencedSOPClassUID), str(ref.ReferencedSOPInstanceUID))
                for ref in representation.ReferencedInstanceSequence
            )
            assessment = item.ATDAssessmentSequence[0] if item.get("ATDAssessmentSequence") else Dataset()
        except (AttributeError, IndexError, TypeError, ValueError) as error:
            raise CorruptFileError(f"{where}: incomplete threat item ({error})", path=path) from error
        if len(base) != 3 or len(extents) != 3:
            raise CorruptFileError(f"{where}: {tag_text(0x40101004)}/{tag_text(0x40101005)} need 3 values", path=path)
        bitmap_bytes = bytes(roi.get("ThreatROIBitmap") or b"")
        box = tuple(max(round(v), 0) for v in extents)
        try:
            bitmap = unpack_bitmap(bitmap_bytes, box) if bitmap_bytes and all(box) else None  # type: ignore[arg-type]
        except ValueError as error:
            raise CorruptFileError(f"{where}: {tag_text(0x40101006)}: {error}", path=path) from error
        polygon_values = representation.get("BoundingPolygon")
        polygon = None
        if polygon_values:
            values = np.asarray(polygon_values if not isinstance(polygon_values, float) else [polygon_values], float)
            if len(values) % 3 == 0 and len(values) >= 6:
                polygon = values.reshape(-1, 3)
        probability = float(assessment.get("ATDAssessmentProbability", -1.0))
        times = [item.get(tag) for tag in (PTO_START, PTO_END)]
        start, end = (parse_dt(str(t.value), path=path) if t is not None and t.value else None for t in times)
        total = item.get(PTO_TOTAL_TIME)
        return cls(
            id=int(item.get("PotentialThreatObjectID", 0)),
            referenced_instances=references,
            base=base,
            extents=extents,
            processing_start=start or datetime.fromtimestamp(0).astimezone(),
            processing_end=end or datetime.fromtimestamp(0).astimezone(),
            processing_time_ms=float(total.value) if total is not None and total.value is not None else 0.0,
            category=_enum(ThreatCategory, assessment.get("ThreatCategory"), ThreatCategory.OTHER),
            flag=_enum(AssessmentFlag, assessment.get("ATDAssessmentFlag"), AssessmentFlag.THREAT),
            probability=probability if 0.0 <= probability <= 1.0 else -1.0,
            ability=_enum(AbilityAssessment, assessment.get("ATDAbilityAssessment"), AbilityAssessment.NO_INTERFERENCE),
            description=str(assessment.get("ThreatCategoryDescription") or "") or None,
            bitmap=bitmap,
            polygon=polygon,
            mass_g=float(representation.Mass) if representation.get("Mass") is not None else None,
            density=float(representation.Density) if representation.get("Density") is not None else None,
            private_item=item,
        )


def _enum(enum: type[_E], value: object, default: _E) -> _E:
    try:
        return enum(current_term(str(value))) if value else default
    except ValueError:
        return default


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


def _reference(sop_class: str, sop_instance: str) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = sop_class
    item.ReferencedSOPInstanceUID = sop_instance
    return item


class ThreatReport(DicosInstance):
    """A DICOS TDR.

    Parameters
    ----------
    context, series_uid, series_number, instance_number, series_description
        As for the images (the report shares the scan's UID and Frame of Reference).
    threats
        The PTOs.
    referenced_images
        ``(SOP class, SOP instance)`` of the images the report covers, for Referenced
        Scans Sequence (0008,1110); at least one (the reference requires it).
    tdr_type
        MACHINE, OPERATOR, GROUND TRUTH, ...
    algorithm
        Threat Detection Algorithm and Version (4010,1029): name, version, parameters.
    alarm_decision_time
        When the decision was made.
    total_processing_time_ms, image_scale
        Total Processing Time (ms) and Image Scale Representation (FD, > 0).
    operator
        ``(identifier, name)`` of the officer; required for OPERATOR reports, written as the
        Operator Identification Sequence the reference reader needs (an identifier code and an
        ID-type code of scheme ``DCS4``).
    """

    sop_classes = frozenset({TDR_STORAGE})

    def __init__(
        self,
        *,
        context: ScanContext,
        series_uid: str,
        series_number: int,
        threats: Sequence[PotentialThreat],
        referenced_images: Sequence[tuple[str, str]],
        alarm_decision_time: datetime,
        instance_number: int = 1,
        series_description: str | None = None,
        tdr_type: TDRType | str = TDRType.MACHINE,
        algorithm: Sequence[str] = (),
        abort_flag: AbortFlag | str = AbortFlag.SUCCESS,
        total_processing_time_ms: float = 0.0,
        image_scale: float = 1.0,
        operator: tuple[str, str | None] | None = None,
        sop_instance_uid: str | None = None,
    ) -> None:
        super().__init__()
        tdr_type = TDRType(tdr_type)
        if tdr_type is TDRType.OPERATOR and operator is None:
            raise ValidationError("an OPERATOR report needs the operator's identifier")
        if not referenced_images:
            raise ValidationError("a TDR must reference at least one image (Referenced Scans Sequence)")
        if not image_scale > 0:
            raise ValidationError(f"Image Scale Representation must be > 0, got {image_scale}")
        ids = [threat.id for threat in threats]
        if len(set(ids)) != len(ids):
            raise ValidationError(f"PTO IDs must be unique, got {ids}")
        if AbortFlag(abort_flag) is AbortFlag.ABORT:
            raise ValidationError("ABORT reports need an Abort Reason, which nii does not write")
        self._init_instance(None)
        context.apply(
            self,
            sop_class_uid=TDR_STORAGE,
            sop_instance_uid=sop_instance_uid or new_uid(),
            modality="TDR",
            series_uid=series_uid,
            series_number=series_number,
            instance_number=instance_number,
            series_description=series_description,
        )
        alarms = sum(threat.is_alarm for threat in threats)
        self.ReferencedStudySequence = DicomSequence([_reference(c, i) for c, i in referenced_images])
        self.ThreatSequence = DicomSequence([threat.to_item(context.ooi.type) for threat in threats])
        self.AbortFlag = str(AbortFlag(abort_flag))
        self.TDRType = str(tdr_type)
        if operator is not None:
            self._set_operator(*operator, organization=context.equipment.machine_location or "unknown")
        self.ThreatDetectionAlgorithmAndVersion = list(algorithm)
        self.AlarmDecisionTime = format_dt(alarm_decision_time)
        self.AlarmDecision = str(AlarmDecision.ALARM if alarms else AlarmDecision.CLEAR)
        self.NumberOfTotalObjects = len(threats)
        self.NumberOfAlarmObjects = alarms
        self.TotalProcessingTime = float(total_processing_time_ms)
        self.AdditionalScreeningPerformed = "NO"
        self.add_new(IMAGE_SCALE, "FD", float(image_scale))

    def _set_operator(self, identifier: str, name: str | None, *, organization: str) -> None:
        codes = [
            _code(identifier, "99NII", name or identifier),
            _code("TEXT", "DCS4", "TEXT"),  # ID type, as the reference reader requires
        ]
        person = Dataset()
        person.PersonIdentificationCodeSequence = DicomSequence(codes)
        person.InstitutionName = organization
        if name:
            person.PersonName = name
            self.OperatorsName = name
        self.OperatorIdentificationSequence = DicomSequence([person])

    @property
    def operator_identifier(self) -> str | None:
        """The identifier code of the Operator Identification Sequence, if any."""
        for person in self.get("OperatorIdentificationSequence") or []:
            for code in person.get("PersonIdentificationCodeSequence") or []:
                if code.get("CodingSchemeDesignator") != "DCS4":
                    return str(code.CodeValue)
        return None

    @property
    def threats(self) -> list[PotentialThreat]:
        """The PTOs, parsed from the Threat Sequence."""
        return [PotentialThreat.from_item(item, path=self.path) for item in self.get("ThreatSequence") or []]

    @property
    def referenced_scans(self) -> list[tuple[str, str]]:
        """``(SOP class, SOP instance)`` of the Referenced Scans Sequence (none in V02A files)."""
        return [
            (str(item.get("ReferencedSOPClassUID", "")), str(item.get("ReferencedSOPInstanceUID", "")))
            for item in self.get("ReferencedStudySequence") or []
        ]

    @property
    def tdr_type(self) -> TDRType:
        return TDRType(str(self.get("TDRType") or "UNDEFINED"))

    @property
    def algorithm(self) -> list[str]:
        value = self.get("ThreatDetectionAlgorithmAndVersion")
        if value is None or value == "":
            return []
        return [str(value)] if isinstance(value, str) else [str(v) for v in value]

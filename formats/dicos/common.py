"""Modules every DICOS object shares: OOI, Scan, Series, Equipment, SOP Common, time stamps.

:class:`ScanContext` groups the attributes that are equal in every instance of one
inspection (the OOI and its identifiers, the scan UID and time, the machine); each IOD
class (:class:`~nii.formats.dicos.dx.DXImage`, :class:`~nii.formats.dicos.ct.CTImage`,
:class:`~nii.formats.dicos.tdr.ThreatReport`) takes one and adds its own series and
instance attributes.

Date-times carry their time zone: DA/TM values are local to the scan's time zone, which
(0008,0201) Timezone Offset From UTC states, and Acquisition Date Time (0008,002A) holds the
full DT with microseconds and offset.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import TypeVar

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.valuerep import DT

from nii.errors import CorruptFileError, ValidationError
from nii.model import new_uid

from .dictionary import (
    ACCEPTED_VERSIONS,
    DEFAULT_VERSION,
    AcquisitionStatus,
    OOIIDType,
    OOIType,
    ScanType,
)
from .encode import TemplateCache, copy_elements, freeze_template, set_elements, values_key
from .files import tag_text

_E = TypeVar("_E", bound=StrEnum)

__all__ = ["UNKNOWN", "Equipment", "ObjectOfInspection", "ScanContext", "format_dt", "parse_dt"]

UNKNOWN = "unknown"
"""The reference toolkit's placeholder for a string it requires but was not given."""

log = logging.getLogger(__name__)


def _text(value: object) -> str:
    return "" if value is None else str(value)


def format_dt(moment: datetime) -> str:
    """DICOM DT with microseconds and UTC offset: ``20260304102030.123000+0200``."""
    return moment.strftime("%Y%m%d%H%M%S.%f") + moment.strftime("%z")


def parse_dt(text: str, *, path: Path | None = None, tag: int | None = None) -> datetime:
    """An aware datetime from a DT value; a value without offset is taken as UTC (with a warning)."""
    try:
        value = DT(str(text).strip())
    except ValueError as error:
        where = f"{tag_text(tag)} " if tag is not None else ""
        raise CorruptFileError(f"{where}holds {text!r}, not a DICOM date-time", path=path) from error
    moment = datetime(
        value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, value.tzinfo
    )
    if moment.tzinfo is None:
        log.info("%s: date-time %s has no UTC offset; taken as UTC", path, text)
        moment = moment.replace(tzinfo=UTC)
    return moment


def _offset_text(moment: datetime) -> str:
    return moment.strftime("%z") or "+0000"


@dataclass(frozen=True)
class ObjectOfInspection:
    """The OOI module: what was inspected and its identifiers.

    Parameters
    ----------
    type
        OOI Type (4010,1042).
    id
        OOI ID (0010,0020); must not be empty (the reference toolkit refuses it).
    id_type, id_issuer
        OOI ID Type (0010,0022) and Assigning Authority (0010,0021).
    alternate_ids
        ``(id, issuer)`` pairs for Other OOI IDs Sequence (0010,1002).
    comments
        Free text, (0010,4000).
    gender
        OOI Gender (0010,0040), required for PERSON.
    """

    type: OOIType
    id: str
    id_type: OOIIDType = OOIIDType.TEXT
    id_issuer: str = ""
    alternate_ids: tuple[tuple[str, str], ...] = ()
    comments: str | None = None
    gender: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", OOIType(self.type))
        object.__setattr__(self, "id_type", OOIIDType(self.id_type))
        if not self.id:
            raise ValidationError("OOI ID (0010,0020) must not be empty")
        if self.type is OOIType.PERSON and not self.gender:
            raise ValidationError("OOI Gender (0010,0040) is required when OOI Type is PERSON")


@dataclass(frozen=True)
class Equipment:
    """General Equipment: the machine and where it stands (empty strings when unknown)."""

    manufacturer: str = ""
    model: str = ""
    serial_number: str = ""
    software_versions: str = ""
    machine_location: str = ""
    machine_address: str = ""
    machine_id: str = ""


@dataclass(frozen=True)
class ScanContext:
    """What every instance of one inspection shares.

    Parameters
    ----------
    scan_uid
        Scan Instance UID (0020,000D).
    acquired_at
        Scan time (aware).
    ooi, equipment
        The object and the machine.
    frame_of_reference_uid
        Shared by all images and TDRs of the scan.
    dicos_version
        (4010,103A) and (0002,0004); anything but V02/V02A/V03 is written with a warning,
        because the reference toolkit rejects it.
    operator_name
        Operators' Name (0008,1070): personal data.
    created_at
        Instance Creation Date/Time; when None, the time the context is first applied (all
        instances of one scan share it).
    """

    scan_uid: str
    acquired_at: datetime
    ooi: ObjectOfInspection
    equipment: Equipment = field(default_factory=Equipment)
    frame_of_reference_uid: str = field(default_factory=new_uid)
    scan_id: str = ""
    scan_type: ScanType = ScanType.OPERATIONAL
    acquisition_status: AcquisitionStatus = AcquisitionStatus.SUCCESSFUL
    dicos_version: str = DEFAULT_VERSION
    operator_name: str | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.acquired_at.tzinfo is None:
            raise ValidationError("scan time needs a time zone")
        object.__setattr__(self, "scan_type", ScanType(self.scan_type))
        object.__setattr__(self, "acquisition_status", AcquisitionStatus(self.acquisition_status))
        if self.dicos_version not in ACCEPTED_VERSIONS:
            log.warning(
                "DICOS version %r: the reference toolkit reads only %s", self.dicos_version, sorted(ACCEPTED_VERSIONS)
            )

    def apply(
        self,
        dataset: Dataset,
        *,
        sop_class_uid: str,
        sop_instance_uid: str,
        modality: str,
        series_uid: str,
        series_number: int,
        instance_number: int,
        series_description: str | None = None,
    ) -> None:
        """Write the shared modules and the series/instance identity into ``dataset``."""
        copy_elements(self._shared, dataset)
        values: dict[str | tuple[int, str], object] = {
            "SOPClassUID": sop_class_uid,
            "SOPInstanceUID": sop_instance_uid,
            "Modality": modality,
            "SeriesInstanceUID": series_uid,
            "SeriesNumber": series_number,
            "InstanceNumber": instance_number,
        }
        if series_description:
            values["SeriesDescription"] = series_description
        set_elements(dataset, values)

    @cached_property
    def _shared(self) -> Dataset:
        """The elements equal in every instance of the scan, built once (copied by :meth:`apply`)."""
        moment = self.acquired_at
        created = (self.created_at or datetime.now(UTC)).astimezone(moment.tzinfo)
        date, time = moment.strftime("%Y%m%d"), moment.strftime("%H%M%S.%f")
        equipment, ooi = self.equipment, self.ooi
        # What stays the same from scan to scan of one machine (and day) comes from a template.
        lasting: dict[str | tuple[int, str], object] = {
            "SpecificCharacterSet": "ISO_IR 192",
            "InstanceCreationDate": created.strftime("%Y%m%d"),
            "StudyDate": date,
            "SeriesDate": date,
            "ContentDate": date,
            "TimezoneOffsetFromUTC": _offset_text(moment),
            "Manufacturer": equipment.manufacturer,
            "InstitutionName": equipment.machine_location,
            "InstitutionAddress": equipment.machine_address,
            "StationName": equipment.machine_id,
            "ManufacturerModelName": equipment.model,
            "DeviceSerialNumber": equipment.serial_number,
            "SoftwareVersions": equipment.software_versions,
            "DateOfLastCalibration": "",
            "TimeOfLastCalibration": "",
            # Must hold a value (the reference refuses an empty one): its placeholder.
            "IssuerOfPatientID": ooi.id_issuer or UNKNOWN,
            "TypeOfPatientID": str(ooi.id_type),
            "OOIType": str(ooi.type),
            "PositionReferenceIndicator": "",
            "DICOSVersion": self.dicos_version,
            "AcquisitionStatus": str(self.acquisition_status),
            "ScanType": str(self.scan_type),
        }
        values: dict[str | tuple[int, str], object] = {
            "InstanceCreationTime": created.strftime("%H%M%S.%f"),
            "StudyTime": time,
            "SeriesTime": time,
            "ContentTime": time,
            "AcquisitionDateTime": format_dt(moment),
            "PatientID": ooi.id,
            "StudyInstanceUID": self.scan_uid,
            # Scan ID must hold a value (reference reader); the scan time is a readable default.
            "StudyID": self.scan_id or moment.strftime("%Y%m%d%H%M%S"),
            "FrameOfReferenceUID": self.frame_of_reference_uid,
        }
        if self.operator_name:
            values["OperatorsName"] = self.operator_name
        if ooi.gender:  # present but empty is refused by the reference reader
            values["PatientSex"] = ooi.gender
        if ooi.comments:
            values["PatientComments"] = ooi.comments
        ds = Dataset()
        copy_elements(_lasting_elements(lasting), ds)
        set_elements(ds, values)
        ds.OtherPatientIDsSequence = DicomSequence(
            [_alternate_id(value, issuer) for value, issuer in ooi.alternate_ids]
        )
        return freeze_template(ds)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, path: Path) -> ScanContext:
        """The shared attributes of a DICOS instance (tolerant of missing optional ones)."""
        ds = dataset
        acquired_at = _acquisition_time(ds, path)
        alternate = tuple(
            (_text(item.get("PatientID")), _text(item.get("IssuerOfPatientID")))
            for item in ds.get("OtherPatientIDsSequence", [])
        )
        try:
            ooi_type = OOIType(_text(ds.get("OOIType", "OTHER")))
        except ValueError:
            log.warning("%s: OOI Type %r is not a DICOS value; read as OTHER", path, ds.get("OOIType"))
            ooi_type = OOIType.OTHER
        try:
            id_type = OOIIDType(_text(ds.get("TypeOfPatientID")) or "TEXT")
        except ValueError:
            id_type = OOIIDType.TEXT
        ooi = ObjectOfInspection(
            type=ooi_type,
            id=_text(ds.get("PatientID")) or UNKNOWN,
            id_type=id_type,
            id_issuer=_text(ds.get("IssuerOfPatientID")),
            alternate_ids=alternate,
            comments=_text(ds.get("PatientComments")) or None,
            gender=_text(ds.get("PatientSex")) or ("U" if ooi_type is OOIType.PERSON else None),
        )
        equipment = Equipment(
            manufacturer=_text(ds.get("Manufacturer")),
            model=_text(ds.get("ManufacturerModelName")),
            serial_number=_text(ds.get("DeviceSerialNumber")),
            software_versions=_text(ds.get("SoftwareVersions")),
            machine_location=_text(ds.get("InstitutionName")),
            machine_address=_text(ds.get("InstitutionAddress")),
            machine_id=_text(ds.get("StationName")),
        )
        try:
            return cls(
                scan_uid=_text(ds.get("StudyInstanceUID")),
                acquired_at=acquired_at,
                ooi=ooi,
                equipment=equipment,
                frame_of_reference_uid=_text(ds.get("FrameOfReferenceUID")) or new_uid(),
                scan_id=_text(ds.get("StudyID")),
                scan_type=_enum_or_default(ScanType, ds.get("ScanType"), ScanType.OPERATIONAL),
                acquisition_status=_enum_or_default(
                    AcquisitionStatus, ds.get("AcquisitionStatus"), AcquisitionStatus.SUCCESSFUL
                ),
                dicos_version=_text(ds.get("DICOSVersion")) or DEFAULT_VERSION,
                operator_name=_text(ds.get("OperatorsName")) or None,
            )
        except ValidationError as error:
            raise CorruptFileError(error.problem, path=path) from error


_LASTING = TemplateCache(limit=64)
"""Templates of the scan-to-scan lasting elements (see :func:`_lasting_elements`)."""


def _lasting_elements(values: Mapping[str | tuple[int, str], object]) -> Dataset:
    """The elements ``values`` give (as :func:`set_elements` sets them), built once per distinct values."""

    def build() -> Dataset:
        template = Dataset()
        set_elements(template, values)
        return template

    return _LASTING.get(values_key(values), build)


def _enum_or_default(enum: type[_E], value: object, default: _E) -> _E:
    try:
        return enum(_text(value))
    except ValueError:
        return default


def _alternate_id(value: str, issuer: str) -> Dataset:
    item = Dataset()
    set_elements(item, {"PatientID": value, "IssuerOfPatientID": issuer, "TypeOfPatientID": "TEXT"})
    return item


def _acquisition_time(ds: Dataset, path: Path) -> datetime:
    if ds.get("AcquisitionDateTime"):
        return parse_dt(str(ds.AcquisitionDateTime), path=path, tag=0x0008002A)
    date = _text(ds.get("StudyDate")) or _text(ds.get("ContentDate"))
    time = _text(ds.get("StudyTime")) or _text(ds.get("ContentTime")) or "000000"
    if not date:
        raise CorruptFileError(
            f"no scan date: {tag_text(0x00080020)} and {tag_text(0x0008002A)} are missing", path=path
        )
    offset = _text(ds.get("TimezoneOffsetFromUTC"))
    return parse_dt(date + time + offset, path=path, tag=0x00080020)

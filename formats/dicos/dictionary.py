"""DICOS identifiers: SOP classes, DICOS-only tags, enumerations and nii's private block.

Importing this module adds the DICOS-only elements to pydicom's data dictionary, so they
print with names and Implicit VR files parse them with the right VR (reference doc §6.2).
(0008,0118) is left alone: in DICOM it is Mapping Resource UID (UI), in DICOS Image Origin
(CS); nii always reads and writes it by tag number.

Enumerations accept their value as a string, case-insensitively and with ``-``/``_``/space
mixed up, and legacy strings of older versions::

    >>> TDRType("truth") is TDRType.GROUND_TRUTH
    True
    >>> current_term("PROHIBITED ITEM")
    'PI'
"""

from __future__ import annotations

from typing import Any

from pydicom.datadict import add_dict_entries

# Threat Category and ATD Assessment Flag are the scan model's own enumerations (they are
# DICOS's); the model's case-insensitive string Enum is shared so both parse strings alike.
from nii.model import AssessmentFlag, LenientStrEnum, ThreatCategory

from .format import SOP_CLASS_PREFIX

__all__ = [
    "ACCEPTED_VERSIONS",
    "AbilityAssessment",
    "AbortFlag",
    "AcquisitionStatus",
    "AlarmDecision",
    "AssessmentFlag",
    "CoordinateSystem",
    "ImageOrigin",
    "ImageTypeValue1",
    "OOIIDType",
    "OOIImageCharacteristics",
    "OOIType",
    "PresentationIntent",
    "ScanType",
    "TDRType",
    "ThreatCategory",
]

# ----------------------------------------------------------------------------- SOP classes

CT_STORAGE = "1.2.840.10008.5.1.4.1.1.501.1"
DX_PRESENTATION_STORAGE = "1.2.840.10008.5.1.4.1.1.501.2.1"
DX_PROCESSING_STORAGE = "1.2.840.10008.5.1.4.1.1.501.2.2"
TDR_STORAGE = "1.2.840.10008.5.1.4.1.1.501.3"
DICOS_PREFIX = SOP_CLASS_PREFIX.decode()
"""Every DICOS SOP class starts with this; the sniffer looks for it in the file meta."""

IMAGE_CLASSES = frozenset({CT_STORAGE, DX_PRESENTATION_STORAGE, DX_PROCESSING_STORAGE})
DX_CLASSES = frozenset({DX_PRESENTATION_STORAGE, DX_PROCESSING_STORAGE})

# Classes the reference toolkit writes for non-16-bit pixels (doc §2.2): recognised so the
# reader can name them, never written.
NON_STANDARD_PIXEL_CLASSES = {
    DICOS_PREFIX + "1.1": "CT with 32-bit integer pixels",
    DICOS_PREFIX + "1.2": "CT with 64-bit integer pixels",
    DICOS_PREFIX + "1.3": "CT with float pixels",
    DICOS_PREFIX + "2.1.1": "DX for presentation with 32-bit pixels",
    DICOS_PREFIX + "2.1.2": "DX for presentation with 64-bit pixels",
    DICOS_PREFIX + "2.1.3": "DX for presentation with float pixels",
    DICOS_PREFIX + "2.2.1": "DX for processing with 32-bit pixels",
    DICOS_PREFIX + "2.2.2": "DX for processing with 64-bit pixels",
    DICOS_PREFIX + "2.2.3": "DX for processing with float pixels",
}

OUT_OF_SCOPE_CLASSES = {
    DICOS_PREFIX + "4": "DICOS 2D AIT (people screening)",
    DICOS_PREFIX + "5": "DICOS 3D AIT (people screening)",
    DICOS_PREFIX + "6": "DICOS Quadrupole Resonance",
}
"""Registered DICOS classes nii does not read (refused with their name)."""

# ----------------------------------------------------------------------------- versions

DEFAULT_VERSION = "V03"
ACCEPTED_VERSIONS = frozenset({"V02", "V02A", "V03"})
"""DICOS versions the reference toolkit reads; it rejects every other string (doc §1)."""

# ----------------------------------------------------------------------------- tags

META_VERSION = 0x00020004
IMAGE_ORIGIN = 0x00080118
COORDINATE_SYSTEM = 0x00082108
EFFECTIVE_ENERGY = 0x43000902
PTO_START = 0x40101080
PTO_END = 0x40101081
PTO_TOTAL_TIME = 0x40101082
IMAGE_SCALE = 0x40101075
NUMBER_OF_FRAMES = 0x00280008
PIXEL_DATA = 0x7FE00010
MAPPED_VALUE_REPRESENTATION = 0x00607006
"""DICOS-only, US, in each Real World Value Mapping item: required by the reference
toolkit (it names it so); 0 for unsigned codes, like Pixel Representation."""

add_dict_entries(
    {
        META_VERSION: ("CS", "1", "DICOS Meta Version", "", "DICOSMetaVersion"),
        COORDINATE_SYSTEM: ("CS", "1", "Coordinate System", "", "DICOSCoordinateSystem"),
        EFFECTIVE_ENERGY: ("FL", "1", "Effective Energy", "", "DICOSEffectiveEnergy"),
        PTO_START: ("DT", "1", "PTO Processing Start Time", "", "PTOProcessingStartTime"),
        PTO_END: ("DT", "1", "PTO Processing End Time", "", "PTOProcessingEndTime"),
        PTO_TOTAL_TIME: ("FL", "1", "PTO Total Processing Time", "", "PTOTotalProcessingTime"),
        MAPPED_VALUE_REPRESENTATION: ("US", "1", "Mapped Value Representation", "", "MappedValueRepresentation"),
    }
)

# ----------------------------------------------------------------------------- private block

PRIVATE_GROUP = 0x0009
PRIVATE_CREATOR = "NII DICOS 1"
"""nii's private creator: holds what the scan model has and DICOS has no place for."""
PRIVATE_METADATA = 0x01
"""UT: JSON document (see :mod:`nii.formats.dicos.mapping`)."""
PRIVATE_LINE_POSITIONS = 0x02
"""OB: position of every column along travel (mm), float64 little endian. (Not OD: the
reference toolkit crashes on a private OD element.)"""
PRIVATE_DARK = 0x03
PRIVATE_AIR = 0x04
PRIVATE_REFERENCE = 0x05
"""OB: raw bytes of the dark, air and reference-detector arrays of the channel."""
PRIVATE_POLYGON = 0x06
"""OB in a PTO item: the exact float64 polygon when float32 Bounding Polygon loses digits."""


# ----------------------------------------------------------------------------- enumerations


_LEGACY = {"PROHIBITED ITEM": "PI", "OTHER PI": "OTHER", "TRUTH": "GROUND TRUTH"}


def current_term(value: str) -> str:
    """The current DICOS string for a legacy one of V02/V02A (doc §8), else ``value``."""
    return _LEGACY.get(value.strip().upper().replace("_", " "), value)


class _Enum(LenientStrEnum):
    """An Enum of DICOS defined terms, built from a string case-insensitively; legacy
    strings map to their current value."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        return super()._missing_(current_term(value) if isinstance(value, str) else value)


class OOIType(_Enum):
    """OOI Type (4010,1042)."""

    BAGGAGE = "BAGGAGE"
    CARGO = "CARGO"
    PERSON = "PERSON"
    ANIMAL = "ANIMAL"
    BIO_SAMPLE = "BIO_SAMPLE"
    OTHER = "OTHER"


class OOIIDType(_Enum):
    """OOI ID Type (0010,0022)."""

    TEXT = "TEXT"
    RFID = "RFID"
    BARCODE = "BARCODE"
    MRP = "MRP"


class ScanType(_Enum):
    """Scan Type (4010,1048)."""

    OPERATIONAL = "OPERATIONAL"
    NON_OPERATIONAL = "NON_OPERATIONAL"


class AcquisitionStatus(_Enum):
    """Series Acquisition Status (4010,1044)."""

    SUCCESSFUL = "SUCCESSFUL"
    CUT = "CUT"
    INCOMPLETE = "INCOMPLETE"
    JAM = "JAM"
    MERGED = "MERGED"
    OVERSIZE = "OVERSIZE"
    SLIP = "SLIP"
    STITCHED = "STITCHED"


class ImageOrigin(_Enum):
    """Image Origin (0008,0118)."""

    MACHINE = "MACHINE"
    SYNTHETIC = "SYNTHETIC"
    AUGMENTED = "AUGMENTED"


class CoordinateSystem(_Enum):
    """Coordinate System (0008,2108)."""

    LHS = "LHS"
    RHS = "RHS"


class PresentationIntent(_Enum):
    """Presentation Intent Type (0008,0068): decides the DX SOP class and the window."""

    FOR_PROCESSING = "FOR PROCESSING"
    FOR_PRESENTATION = "FOR PRESENTATION"


class ImageTypeValue1(_Enum):
    """Image Type (0008,0008) value 1."""

    ORIGINAL = "ORIGINAL"
    DERIVED = "DERIVED"


class OOIImageCharacteristics(_Enum):
    """Image Type (0008,0008) value 2."""

    HIGH_ENERGY = "HIGH ENERGY"
    LOW_ENERGY = "LOW ENERGY"
    MULTI_ENERGY = "MULTI ENERGY"
    Z_EFFECTIVE = "Z_EFFECTIVE"
    INTENSITY = "INTENSITY"
    MU = "MU"
    DENSITY = "DENSITY"
    COMPTON = "COMPTON"
    PHOTOELECTRIC = "PHOTOELECTRIC"


class AbilityAssessment(_Enum):
    """ATD Ability Assessment (4010,1014)."""

    NO_INTERFERENCE = "NO_INTERFERENCE"
    SHIELD = "SHIELD"


class AlarmDecision(_Enum):
    """Alarm Decision (4010,1031)."""

    ALARM = "ALARM"
    CLEAR = "CLEAR"


class AbortFlag(_Enum):
    """Abort Flag (4010,1024)."""

    SUCCESS = "SUCCESS"
    ABORT = "ABORT"


class TDRType(_Enum):
    """TDR Type (4010,1027); legacy ``TRUTH`` is mapped to GROUND TRUTH on read."""

    MACHINE = "MACHINE"
    OPERATOR = "OPERATOR"
    GROUND_TRUTH = "GROUND TRUTH"
    AGGREGATE = "AGGREGATE"
    MOD_AGGREGATE = "MOD_AGGREGATE"
    UNDEFINED = "UNDEFINED"

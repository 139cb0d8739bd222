"""Physical values of stored pixels: DICOM's Real World Value Mapping (0040,9096).

nii stores processed channels (transmission, attenuation, steel-equivalent thickness,
effective Z, material class) as 16-bit codes (:data:`nii.kernels.QUANTIZATION`). Their scale
goes in a standard attribute every DICOM tool reads: ``value = slope × code + intercept``
with the unit as a UCUM code. Rescale Slope/Intercept cannot carry it on DX, because the
reference toolkit refuses a DX whose Rescale Slope is not 1; the Real World Value Mapping
Sequence is allowed on DX and, as a functional group, on CT, so nii writes it on both.

Examples
--------
>>> mapping = RealWorldValue(slope=0.1, unit="mm", unit_meaning="millimeter", label="STEEL_MM",
...                          explanation="steel-equivalent thickness")
>>> item = mapping.item()
>>> float(item.RealWorldValueSlope), item.MeasurementUnitsCodeSequence[0].CodeValue
(0.1, 'mm')
>>> RealWorldValue.from_dataset(item) == mapping
True
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from nii.errors import ValidationError

from .dictionary import MAPPED_VALUE_REPRESENTATION
from .encode import copy_elements, freeze_template

__all__ = ["MAPPING_SEQUENCE", "RealWorldValue"]

MAPPING_SEQUENCE = 0x00409096
"""(0040,9096) Real World Value Mapping Sequence."""
CONTEXT_GROUP_VERSION = "20020904000000"
"""Version of CID 7181 (units of real world value mapping) stated with each unit."""


@dataclass(frozen=True)
class RealWorldValue:
    """A linear map from stored codes to a physical quantity.

    Parameters
    ----------
    slope, intercept
        ``value = slope × code + intercept``; the slope must not be 0.
    unit, unit_meaning
        UCUM code (``"mm"``, ``"1"`` for a ratio) and its meaning.
    label
        LUT Label (SH, 16 characters), e.g. ``"ATTENUATION"``.
    explanation
        LUT Explanation (LO): what the value is.
    first, last
        Range of stored codes the map covers.
    """

    slope: float
    unit: str
    unit_meaning: str
    label: str
    explanation: str
    intercept: float = 0.0
    first: int = 0
    last: int = 65535

    def __post_init__(self) -> None:
        if not self.slope or self.slope != self.slope:
            raise ValidationError(f"a real world value slope must be a non-zero number, got {self.slope}")
        if len(self.label) > 16:
            raise ValidationError(f"LUT Label is at most 16 characters, got {self.label!r}")

    def item(self) -> Dataset:
        """One item of the Real World Value Mapping Sequence (its own copy of the item built once per map)."""
        item = Dataset()
        copy_elements(_item_template(self), item)
        return item

    @classmethod
    def from_dataset(cls, item: Dataset) -> RealWorldValue:
        """The map of one sequence item.

        Raises
        ------
        ValidationError
            The item has no slope (a LUT-based map, which nii does not read) or no unit.
        """
        if item.get("RealWorldValueSlope") is None:
            raise ValidationError("Real World Value Mapping item has no Real World Value Slope (0040,9225)")
        units = item.get("MeasurementUnitsCodeSequence") or []
        if not units:
            raise ValidationError("Real World Value Mapping item has no Measurement Units Code Sequence (0040,08EA)")
        return cls(
            slope=float(item.RealWorldValueSlope),
            intercept=float(item.get("RealWorldValueIntercept") or 0.0),
            unit=str(units[0].get("CodeValue", "")),
            unit_meaning=str(units[0].get("CodeMeaning", "")),
            label=str(item.get("LUTLabel", "")),
            explanation=str(item.get("LUTExplanation", "")),
            first=int(item.get("RealWorldValueFirstValueMapped") or 0),
            last=int(item.get("RealWorldValueLastValueMapped") or 65535),
        )


@functools.lru_cache(maxsize=64)
def _item_template(value: RealWorldValue) -> Dataset:
    """The sequence item of ``value``, its elements encoded once (every DX of a kind carries the same map)."""
    unit = Dataset()
    unit.CodeValue = value.unit
    unit.CodingSchemeDesignator = "UCUM"
    unit.CodeMeaning = value.unit_meaning
    # Context group of the unit (CID 7181, DCMR): the reference toolkit requires both.
    unit.MappingResource = "DCMR"
    unit.ContextGroupVersion = CONTEXT_GROUP_VERSION
    unit.ContextIdentifier = "7181"
    item = Dataset()
    # DICOS Mapped Value Representation: 0, the codes are unsigned (the reference requires it).
    item.add_new(MAPPED_VALUE_REPRESENTATION, "US", 0)
    # US: the codes are unsigned (the dictionary's "US or SS" cannot be encoded as is).
    item.add_new(0x00409216, "US", value.first)
    item.add_new(0x00409211, "US", value.last)
    item.RealWorldValueIntercept = float(value.intercept)
    item.RealWorldValueSlope = float(value.slope)
    item.LUTExplanation = value.explanation
    item.LUTLabel = value.label
    item.MeasurementUnitsCodeSequence = DicomSequence([unit])
    return freeze_template(item)

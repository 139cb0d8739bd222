"""DICOS Digital X-Ray (DX) image: one energy channel of one radiograph view.

The attributes are those of the reference doc's §7.1 (everything the reference reader
requires) plus Imager Pixel Spacing, Detector Element Spacing, Series Number and
Description, Frame of Reference and Acquisition Date Time, which it also accepts.

Examples
--------
>>> import numpy as np
>>> from datetime import datetime, timezone
>>> from nii.formats.dicos.common import ObjectOfInspection, ScanContext
>>> ooi = ObjectOfInspection("CARGO", "MSCU1234565")
>>> context = ScanContext("2.25.1", datetime(2026, 1, 1, tzinfo=timezone.utc), ooi)
>>> image = DXImage(np.zeros((4, 6), np.uint16), context=context, series_uid="2.25.2", series_number=1,
...                 image_type=("ORIGINAL", "HIGH ENERGY"), kvp_kv=6000.0)
>>> image.SOPClassUID, image.Rows, image.Columns
('1.2.840.10008.5.1.4.1.1.501.2.2', 4, 6)
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from nii.errors import ValidationError
from nii.model import new_uid

from .common import ScanContext
from .dictionary import (
    DX_CLASSES,
    DX_PRESENTATION_STORAGE,
    DX_PROCESSING_STORAGE,
    EFFECTIVE_ENERGY,
    NON_STANDARD_PIXEL_CLASSES,
    CoordinateSystem,
    ImageOrigin,
    ImageTypeValue1,
    OOIImageCharacteristics,
    PresentationIntent,
)
from .encode import TemplateCache, copy_elements, freeze_template, set_elements, values_key
from .instance import DicosInstance, check_uint16, image_origin_values, set_pixel_module
from .real_world import MAPPING_SEQUENCE, RealWorldValue

__all__ = ["DXImage"]


@functools.cache
def _dx_constants() -> Dataset:
    """Attributes every DX nii writes holds with the same value (copied, see :func:`copy_elements`)."""
    template = Dataset()
    template.DetectorType = ""
    template.PixelIntensityRelationship = "LIN"
    template.PixelIntensityRelationshipSign = 1
    template.RescaleIntercept = 0
    template.RescaleSlope = 1
    template.LossyImageCompression = "00"
    template.AcquisitionContextSequence = DicomSequence()
    template.PresentationLUTShape = "IDENTITY"
    return freeze_template(template)


_LAYOUTS = TemplateCache(limit=256)
"""DX layout templates (see :func:`_layout`)."""


def _layout(
    values: dict[str | tuple[int, str], object], value_mapping: RealWorldValue | None, rows: int, columns: int
) -> Dataset:
    """Every element of a DX but its scan's and its identity's (:meth:`ScanContext.apply`) and its private
    block: ``values`` (set as :func:`set_elements` does), the value mapping, the pixel module and the
    constants, built once per distinct layout and copied into each instance (a scan's images repeat
    their layouts: ~100 elements copied, instead of about 30 set and a sequence built, per image)."""
    values_part = values_key(values)
    key = None if values_part is None else (values_part, value_mapping, rows, columns)
    return _LAYOUTS.get(key, lambda: _build_layout(values, value_mapping, rows, columns))


def _build_layout(
    values: Mapping[str | tuple[int, str], object], value_mapping: RealWorldValue | None, rows: int, columns: int
) -> Dataset:
    """The template :func:`_layout` keeps: the elements each DX was given one by one before templates."""
    template = Dataset()
    set_elements(template, values)
    if value_mapping is not None:
        template.RealWorldValueMappingSequence = DicomSequence([value_mapping.item()])
    set_pixel_module(template, rows, columns, signed=False)
    copy_elements(_dx_constants(), template)
    return template


class DXImage(DicosInstance):
    """A DICOS DX instance (For Processing or For Presentation).

    Parameters
    ----------
    pixels
        2-D ``uint16`` array ``(rows, columns)``; written from its buffer, not copied.
    context
        The scan's shared attributes.
    series_uid, series_number, instance_number
        Series and instance identity; each channel gets its own series (doc §10).
    image_type
        Image Type values 1 and 2, e.g. ``("ORIGINAL", "HIGH ENERGY")``.
    series_description
        Free text shown by viewers.
    kvp_kv, tube_current_ua, effective_energy
        KVP (kV: a 6 MV linac is 6000), X-Ray Tube Current, Effective Energy.
    imager_pixel_spacing_mm
        ``(row spacing, column spacing)``: detector pitch and travel per line.
    detector_element_spacing_mm
        Detector Element Spacing (0018,7022), ``(row, column)``.
    belt_speed_mm_s, belt_height_mm
        Belt (or vehicle) speed and belt height.
    orientation, position_mm
        Image Orientation (row then column direction cosines) and Image Position.
    intent
        FOR PROCESSING (raw or calibrated values) or FOR PRESENTATION (display-ready;
        needs ``window``).
    window
        ``(center, width)`` Window Center/Width.
    rescale_type
        What the values are (Rescale Type, LO); slope 1 and intercept 0.
    value_mapping
        The physical scale of the codes (Real World Value Mapping: the reference toolkit
        refuses a Rescale Slope other than 1 on DX).
    modality
        ``XRAY`` (what the reference writes) or ``DX``.
    image_origin, coordinate_system
        DICOS Image Origin and Coordinate System.
    sop_instance_uid
        A fresh 2.25 UID by default.
    """

    sop_classes = DX_CLASSES | frozenset(
        uid for uid, meaning in NON_STANDARD_PIXEL_CLASSES.items() if meaning.startswith("DX")
    )
    """The standard DX classes, and the reference toolkit's 32-bit, 64-bit and float ones (read only)."""

    def __init__(
        self,
        pixels: np.ndarray,
        *,
        context: ScanContext,
        series_uid: str,
        series_number: int,
        instance_number: int = 1,
        image_type: tuple[ImageTypeValue1 | str, OOIImageCharacteristics | str] = ("ORIGINAL", "INTENSITY"),
        series_description: str | None = None,
        kvp_kv: float = 0.0,
        tube_current_ua: float = 0.0,
        effective_energy: float = 0.0,
        imager_pixel_spacing_mm: tuple[float, float] | None = None,
        detector_element_spacing_mm: tuple[float, float] | None = None,
        belt_speed_mm_s: float = 0.0,
        belt_height_mm: float = 0.0,
        orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        position_mm: Sequence[float] = (0.0, 0.0, 0.0),
        intent: PresentationIntent | str = PresentationIntent.FOR_PROCESSING,
        window: tuple[float, float] | None = None,
        rescale_type: str = "US",
        value_mapping: RealWorldValue | None = None,
        modality: str = "XRAY",
        image_origin: ImageOrigin | str = ImageOrigin.MACHINE,
        coordinate_system: CoordinateSystem | str = CoordinateSystem.LHS,
        sop_instance_uid: str | None = None,
    ) -> None:
        super().__init__()
        pixels = check_uint16(np.asarray(pixels) if not isinstance(pixels, np.ndarray) else pixels, "DX pixel array")
        if pixels.ndim != 2 or pixels.size == 0:
            raise ValidationError(f"a DX image is one 2-D frame (rows, columns), got shape {pixels.shape}")
        rows, columns = pixels.shape
        if rows > 65535 or columns > 65535:
            raise ValidationError(f"DX Rows and Columns are at most 65535, got {rows} × {columns}")
        intent = PresentationIntent(intent)
        if intent is PresentationIntent.FOR_PRESENTATION and window is None:
            raise ValidationError("a FOR PRESENTATION DX needs a window (center, width)")
        if window is not None and not window[1] >= 1:
            raise ValidationError(f"window width must be at least 1, got {window[1]}")
        if modality not in ("XRAY", "DX"):
            raise ValidationError(f"DX Modality must be XRAY or DX, got {modality!r}")
        if len(orientation) != 6 or len(position_mm) != 3:
            raise ValidationError("Image Orientation needs 6 values and Image Position 3")
        value1, value2 = ImageTypeValue1(image_type[0]), OOIImageCharacteristics(image_type[1])
        self._init_instance(pixels)
        sop_class = DX_PRESENTATION_STORAGE if intent is PresentationIntent.FOR_PRESENTATION else DX_PROCESSING_STORAGE
        context.apply(
            self,
            sop_class_uid=sop_class,
            sop_instance_uid=sop_instance_uid or new_uid(),
            modality=modality,
            series_uid=series_uid,
            series_number=series_number,
            instance_number=instance_number,
            series_description=series_description,
        )
        values = image_origin_values(image_origin, coordinate_system)
        values |= {
            "ImageType": [str(value1), str(value2)],
            "PresentationIntentType": str(intent),
            "KVP": kvp_kv,
            "XRayTubeCurrentInuA": tube_current_ua,
            (EFFECTIVE_ENERGY, "FL"): float(effective_energy),
        }
        if imager_pixel_spacing_mm is not None:
            values["ImagerPixelSpacing"] = [float(v) for v in imager_pixel_spacing_mm]
        if detector_element_spacing_mm is not None:
            values["DetectorElementSpacing"] = [float(v) for v in detector_element_spacing_mm]
        values["TableSpeed"] = float(belt_speed_mm_s)
        values["BeltHeight"] = float(belt_height_mm)
        values["ImagePositionPatient"] = [float(v) for v in position_mm]
        values["ImageOrientationPatient"] = [float(v) for v in orientation]
        values["RescaleType"] = rescale_type
        if window is not None:
            values["WindowCenter"] = float(window[0])
            values["WindowWidth"] = float(window[1])
        copy_elements(_layout(values, value_mapping, rows, columns), self)

    @property
    def pixels(self) -> np.ndarray:
        """The image, ``(rows, columns)``."""
        frames = self.frames
        if frames.shape[0] != 1:
            raise ValidationError(f"a DX holds one frame, this one has {frames.shape[0]}")
        return frames[0]

    @property
    def value_mapping(self) -> RealWorldValue | None:
        """The first Real World Value Mapping (None when absent or not linear)."""
        items = self.get(MAPPING_SEQUENCE)
        if not items or not items.value:
            return None
        try:
            return RealWorldValue.from_dataset(items.value[0])
        except ValidationError:
            return None

    @property
    def image_type(self) -> tuple[str, str]:
        """Image Type values 1 and 2 (``("ORIGINAL", "INTENSITY")`` when absent)."""
        values = [str(v) for v in self.get("ImageType", [])] if "ImageType" in self else []
        values += ["ORIGINAL", "INTENSITY"][len(values) :]
        return values[0], values[1]

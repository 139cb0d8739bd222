"""DICOS CT image: one reconstructed volume as an enhanced multi-frame instance.

Attributes follow the reference doc's §7.2: shared functional groups (X-ray details,
frame type, plane orientation, pixel measures, pixel value transformation) and one
per-frame Plane Position item per frame, whose z steps by the slice spacing. Number of
Frames is written as IS, so DCMTK sees every frame.

The voxel grid: frame ``k``, row ``r``, column ``c`` lies at
``x = x0 + c * column spacing``, ``y = y0 + r * row spacing``, ``z = z0 + k * slice spacing``
with the default orientation ``1\\0\\0\\0\\1\\0``.

Examples
--------
>>> import numpy as np
>>> from datetime import datetime, timezone
>>> from nii.formats.dicos.common import ObjectOfInspection, ScanContext
>>> context = ScanContext("2.25.1", datetime(2026, 1, 1, tzinfo=timezone.utc), ObjectOfInspection("BAGGAGE", "BAG-1"))
>>> image = CTImage(np.zeros((3, 4, 5), np.uint16), context=context, series_uid="2.25.2", series_number=1,
...                 spacing_mm=(1.5, 1.0, 1.0))
>>> int(image.NumberOfFrames), [float(v) for v in image.positions_mm[2]]
(3, [0.0, 0.0, 3.0])
"""

from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

from nii.errors import CorruptFileError, ValidationError
from nii.model import new_uid

from .common import ScanContext
from .dictionary import (
    CT_STORAGE,
    EFFECTIVE_ENERGY,
    CoordinateSystem,
    ImageOrigin,
    ImageTypeValue1,
    OOIImageCharacteristics,
)
from .encode import set_elements
from .files import tag_text
from .instance import DicosInstance, check_uint16, image_origin_values, set_pixel_module
from .real_world import RealWorldValue

__all__ = ["CTImage"]

_ORIENTATION = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]


def _item(**values: object) -> Dataset:
    item = Dataset()
    for keyword, value in values.items():
        setattr(item, keyword, value)
    return item


def _shared_groups(
    frame_type: list[str],
    spacing_mm: tuple[float, float, float],
    kvp_kv: float,
    focal_spot_mm: float,
    rescale_type: str,
    value_mapping: RealWorldValue | None,
) -> Dataset:
    """The one item of the Shared Functional Groups: X-ray details, frame type, orientation, voxel size, rescale
    and, with a ``value_mapping``, its Real World Value Mapping."""
    slice_spacing, row_spacing, column_spacing = (float(v) for v in spacing_mm)
    groups = _item(
        CTXRayDetailsSequence=DicomSequence([_item(KVP=kvp_kv, FilterType="NONE", FocalSpots=float(focal_spot_mm))]),
        CTImageFrameTypeSequence=DicomSequence(
            [
                _item(
                    FrameType=frame_type,
                    PixelPresentation="MONOCHROME",
                    VolumetricProperties="VOLUME",
                    VolumeBasedCalculationTechnique="NONE",
                )
            ]
        ),
        PlaneOrientationSequence=DicomSequence([_item(ImageOrientationPatient=_ORIENTATION)]),
        PixelMeasuresSequence=DicomSequence(
            [_item(SliceThickness=slice_spacing, PixelSpacing=[row_spacing, column_spacing])]
        ),
        PixelValueTransformationSequence=DicomSequence(
            [_item(RescaleIntercept=0, RescaleSlope=1, RescaleType=rescale_type)]
        ),
    )
    if value_mapping is not None:
        groups.RealWorldValueMappingSequence = DicomSequence([value_mapping.item()])
    return groups


def _per_frame_groups(origin_mm: tuple[float, float, float], slice_spacing: float, frames: int) -> list[Dataset]:
    """The Per-Frame Functional Groups: each frame's Image Position, one slice spacing apart along z."""
    x0, y0, z0 = (float(v) for v in origin_mm)
    return [
        _item(PlanePositionSequence=DicomSequence([_item(ImagePositionPatient=[x0, y0, z0 + index * slice_spacing])]))
        for index in range(frames)
    ]


class CTImage(DicosInstance):
    """A DICOS CT instance holding one volume.

    Parameters
    ----------
    volume
        3-D ``uint16`` or ``int16`` array ``(frames, rows, columns)``; written from its buffer.
    context, series_uid, series_number, instance_number, series_description
        As for :class:`~nii.formats.dicos.dx.DXImage`.
    image_type
        Image Type values 1 and 2; values 3 and 4 are ``VOLUME`` and ``NONE``.
    spacing_mm
        ``(slice spacing, row spacing, column spacing)``.
    origin_mm
        ``(x, y, z)`` of the centre of voxel (0, 0, 0).
    kvp_kv, focal_spot_mm, acquisition_duration_s
        Acquisition details of the shared CT X-Ray Details.
    rescale_type
        What the values are (Rescale Type).
    value_mapping
        The physical scale of the codes, a shared Real World Value Mapping functional group.
    """

    sop_classes = frozenset({CT_STORAGE})

    def __init__(
        self,
        volume: np.ndarray,
        *,
        context: ScanContext,
        series_uid: str,
        series_number: int,
        instance_number: int = 1,
        image_type: tuple[ImageTypeValue1 | str, OOIImageCharacteristics | str] = ("ORIGINAL", "HIGH ENERGY"),
        series_description: str | None = None,
        spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0),
        origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0),
        kvp_kv: float = 0.0,
        focal_spot_mm: float = 0.0,
        acquisition_duration_s: float = 0.0,
        rescale_type: str = "US",
        value_mapping: RealWorldValue | None = None,
        image_origin: ImageOrigin | str = ImageOrigin.MACHINE,
        coordinate_system: CoordinateSystem | str = CoordinateSystem.LHS,
        sop_instance_uid: str | None = None,
    ) -> None:
        super().__init__()
        volume = check_uint16(volume, "CT volume", signed_allowed=True)
        if volume.ndim != 3 or volume.size == 0:
            raise ValidationError(f"a CT volume is a 3-D array (frames, rows, columns), got shape {volume.shape}")
        frames, rows, columns = volume.shape
        if rows > 65535 or columns > 65535:
            raise ValidationError(f"CT Rows and Columns are at most 65535, got {rows} × {columns}")
        if len(spacing_mm) != 3 or not all(v > 0 for v in spacing_mm):
            raise ValidationError(f"CT spacing needs 3 positive values, got {spacing_mm}")
        value1, value2 = ImageTypeValue1(image_type[0]), OOIImageCharacteristics(image_type[1])
        self._init_instance(volume)
        context.apply(
            self,
            sop_class_uid=CT_STORAGE,
            sop_instance_uid=sop_instance_uid or new_uid(),
            modality="CT",
            series_uid=series_uid,
            series_number=series_number,
            instance_number=instance_number,
            series_description=series_description,
        )
        frame_type = [str(value1), str(value2), "VOLUME", "NONE"]
        self.ImageType = frame_type
        set_elements(self, image_origin_values(image_origin, coordinate_system))
        self.PixelPresentation = "MONOCHROME"
        self.VolumetricProperties = "VOLUME"
        self.VolumeBasedCalculationTechnique = "NONE"
        self.AcquisitionDuration = float(acquisition_duration_s)
        # Not required by the reference doc's table, but the reference CT reader logs an Error without it.
        self.add_new(EFFECTIVE_ENERGY, "FL", 0.0)
        self.NumberOfFrames = frames
        set_pixel_module(self, rows, columns, signed=volume.dtype.kind == "i")
        self.AcquisitionContextSequence = DicomSequence()
        self.PresentationLUTShape = "IDENTITY"
        slice_spacing = float(spacing_mm[0])
        self.SharedFunctionalGroupsSequence = DicomSequence(
            [_shared_groups(frame_type, spacing_mm, kvp_kv, focal_spot_mm, rescale_type, value_mapping)]
        )
        self.PerFrameFunctionalGroupsSequence = DicomSequence(_per_frame_groups(origin_mm, slice_spacing, frames))

    @property
    def volume(self) -> np.ndarray:
        """The voxels, ``(frames, rows, columns)``."""
        return self.frames

    def _shared(self, sequence: str) -> Dataset | None:
        groups = self.get("SharedFunctionalGroupsSequence") or []
        for group in groups:
            items = group.get(sequence) or []
            if items:
                return items[0]
        return None

    @property
    def positions_mm(self) -> np.ndarray:
        """Per-frame Image Position, ``(frames, 3)`` as ``(x, y, z)``.

        When the position is in the Shared Functional Groups (V02 files of the reference
        toolkit), it is the first frame's; the others step by the slice thickness along the
        normal of the plane orientation.

        Raises
        ------
        CorruptFileError
            A frame has no Plane Position, per frame or shared (the reference toolkit
            crashes on such files).
        """
        shared = self._shared("PlanePositionSequence")
        per_frame = self.get("PerFrameFunctionalGroupsSequence") or []
        frames = int(self.get("NumberOfFrames") or 1)
        if (
            shared is not None
            and "ImagePositionPatient" in shared
            and not any(group.get("PlanePositionSequence") for group in per_frame)
        ):
            return self._stepped_positions([float(v) for v in shared.ImagePositionPatient], frames)
        positions = []
        for index, group in enumerate(per_frame):
            items = group.get("PlanePositionSequence") or []
            if not items or "ImagePositionPatient" not in items[0]:
                raise CorruptFileError(f"frame {index} has no {tag_text(0x00209113)} Image Position", path=self.path)
            positions.append([float(v) for v in items[0].ImagePositionPatient])
        if not positions:
            raise CorruptFileError(f"{tag_text(0x52009230)} is missing or empty", path=self.path)
        return np.asarray(positions, dtype=np.float64)

    def _stepped_positions(self, first: list[float], frames: int) -> np.ndarray:
        orientation = self._shared("PlaneOrientationSequence")
        cosines = (
            [float(v) for v in orientation.ImageOrientationPatient]
            if orientation is not None and len(orientation.get("ImageOrientationPatient") or []) == 6
            else _ORIENTATION
        )
        normal = np.cross(cosines[:3], cosines[3:])
        step = self.slice_thickness_mm or 1.0
        if len(first) != 3:
            raise CorruptFileError(f"shared {tag_text(0x00209113)} Image Position needs 3 values", path=self.path)
        return np.asarray(first, dtype=np.float64) + np.arange(frames)[:, None] * step * normal

    @property
    def pixel_spacing_mm(self) -> tuple[float, float]:
        """``(row spacing, column spacing)`` from the shared Pixel Measures (1, 1 when absent)."""
        measures = self._shared("PixelMeasuresSequence")
        if measures is None or "PixelSpacing" not in measures:
            return 1.0, 1.0
        row, column = (float(v) for v in measures.PixelSpacing)
        return row, column

    @property
    def slice_thickness_mm(self) -> float | None:
        measures = self._shared("PixelMeasuresSequence")
        return float(measures.SliceThickness) if measures is not None and measures.get("SliceThickness") else None

    @property
    def kvp_kv(self) -> float:
        details = self._shared("CTXRayDetailsSequence")
        return float(details.KVP) if details is not None and details.get("KVP") not in (None, "") else 0.0

    @property
    def rescale_type(self) -> str:
        transform = self._shared("PixelValueTransformationSequence")
        return str(transform.get("RescaleType", "")) if transform is not None else ""

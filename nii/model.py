"""The scan model: one inspection of one object, independent of any file format.

A :class:`Scan` holds one or more :class:`View` (projections such as ``"side"`` and
``"top"``), each with its energy channels as 2-D arrays of shape
``(detector rows, scan lines)``, and/or one or more :class:`Volume` (3-D CT
reconstructions, ``(frames, rows, columns)``), the :class:`Threat` regions found on the
views, and the metadata every format maps onto: the inspected object, the scanner, the
site, the operator and the provenance of the data.

Everything is validated at construction, so a ``Scan`` that exists is consistent: channel
shapes agree, spacings are positive, date-times carry a time zone and container numbers
have a correct ISO 6346 check digit. Arrays are stored as given (no copies), so memory maps
from readers stay memory maps.

Enumerations accept their value as a string, case-insensitively::

    >>> ObjectType("cargo") is ObjectType.CARGO
    True
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Self

import numpy as np

from nii.errors import ValidationError
from nii.lazy import LazyArray
from nii.provenance import ProcessingStep, Provenance
from nii.validation import require, require_aware, require_positive, require_uid

if TYPE_CHECKING:
    from nii.volume_threats import ImageReference, VolumeThreat

__all__ = [
    "CHANNEL_ROLES",
    "MEASURED_CHANNELS",
    "AssessmentFlag",
    "Box",
    "CalibrationState",
    "Geometry",
    "InspectedObject",
    "LenientStrEnum",
    "ObjectType",
    "Operator",
    "ProcessingStep",
    "Provenance",
    "RowOrder",
    "Scan",
    "Scanner",
    "Site",
    "SourceKind",
    "Threat",
    "ThreatCategory",
    "ThreatOrigin",
    "TravelDirection",
    "View",
    "Volume",
    "container_check_digit",
    "new_uid",
]


class LenientStrEnum(StrEnum):
    """An Enum whose members are also strings, built from their value or name case-insensitively,
    with ``-``, ``_`` and spaces alike (``ObjectType("cargo")``, ``Compression("Blosc_LZ4")``).

    The base of every enumeration in nii's model, formats and options.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):

            def norm(text: str) -> str:
                return text.strip().upper().replace("-", "_").replace(" ", "_")

            for member in cls:
                if norm(value) in (norm(member.value), member.name):
                    return member
        return None

    def __str__(self) -> str:
        return str(self.value)


class ObjectType(LenientStrEnum):
    """What was inspected."""

    CARGO = "CARGO"
    BAGGAGE = "BAGGAGE"
    VEHICLE = "VEHICLE"
    OTHER = "OTHER"


class SourceKind(LenientStrEnum):
    """X-ray source technology: MV linear accelerator (cargo) or kV tube (baggage, small cargo)."""

    LINAC = "LINAC"
    TUBE = "TUBE"


class CalibrationState(LenientStrEnum):
    """What the pixel values of a view mean."""

    RAW = "RAW"
    """Detector counts, offsets and gains not removed."""
    TRANSMISSION = "TRANSMISSION"
    """I/I0 after dark and air correction (float in [0, 1], or uint16 scaled by 65535)."""
    ATTENUATION = "ATTENUATION"
    """-ln(I/I0)."""


class TravelDirection(LenientStrEnum):
    """Direction the object moves across the image columns."""

    LEFT_TO_RIGHT = "LEFT_TO_RIGHT"
    RIGHT_TO_LEFT = "RIGHT_TO_LEFT"


class RowOrder(LenientStrEnum):
    """Where detector row 0 is: at the top of the object (canonical) or at the bottom."""

    TOP_DOWN = "TOP_DOWN"
    BOTTOM_UP = "BOTTOM_UP"


class ThreatCategory(LenientStrEnum):
    """Threat categories of DICOS TDR (4010,1012)."""

    ANOMALY = "ANOMALY"
    CONTRABAND = "CONTRABAND"
    EXPLOSIVE = "EXPLOSIVE"
    LAPTOP = "LAPTOP"
    OTHER = "OTHER"
    PHARMACEUTICAL = "PHARMACEUTICAL"
    PI = "PI"
    """Prohibited item."""


class AssessmentFlag(LenientStrEnum):
    """DICOS ATD Assessment Flag (4010,1015)."""

    THREAT = "THREAT"
    HIGH_THREAT = "HIGH_THREAT"
    NO_THREAT = "NO_THREAT"

    @property
    def is_alarm(self) -> bool:
        return self is not AssessmentFlag.NO_THREAT


class ThreatOrigin(LenientStrEnum):
    """Who marked a threat: an algorithm, an officer, or the ground truth of a simulation."""

    MACHINE = "MACHINE"
    OPERATOR = "OPERATOR"
    GROUND_TRUTH = "GROUND TRUTH"


CHANNEL_ROLES: Mapping[str, str] = {
    "high": "HIGH ENERGY",
    "low": "LOW ENERGY",
    "single": "INTENSITY",
    "attenuation": "MU",
    "zeff": "Z_EFFECTIVE",
    "density": "DENSITY",
    "material": "MULTI ENERGY",
}
"""Well-known channel names and their DICOS Image Type value 2. Other names are allowed
(``[a-z][a-z0-9_]*``) and are carried as derived images."""

MEASURED_CHANNELS: tuple[str, ...] = ("high", "low", "single")
"""Channels that hold measurements (raw counts, transmission or attenuation, as the view's
:class:`CalibrationState` says); every other channel is derived from them (steel_mm, zeff, material, ...)."""

_CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_CONTAINER = re.compile(r"[A-Z]{3}[UJZR][0-9]{7}")


def new_uid() -> str:
    """A fresh DICOM UID under the ``2.25`` root (UUID derived, at most 44 characters)."""
    # The 2.25 root turns a UUID into a UID without a registered root (PS3.5 §B.2).
    return f"2.25.{uuid.uuid4().int}"


def container_check_digit(owner_serial: str) -> int:
    """ISO 6346 check digit of the first ten characters of a container number.

    Letters take the values 10..38 skipping multiples of 11; each value is weighted by
    2**position; the sum modulo 11 (then modulo 10) is the digit.

    Examples
    --------
    >>> container_check_digit("CSQU305438")
    3
    """
    if len(owner_serial) != 10:
        raise ValidationError(f"container number prefix {owner_serial!r} must have 10 characters")
    letter_values: dict[str, int] = {}
    value = 10
    for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        if value % 11 == 0:
            value += 1
        letter_values[letter] = value
        value += 1
    total = 0
    for position, char in enumerate(owner_serial):
        digit = letter_values[char] if char.isalpha() else int(char)
        total += digit * 2**position
    return total % 11 % 10


@dataclass(frozen=True)
class InspectedObject:
    """The object of inspection (OOI) and its identifiers.

    Parameters
    ----------
    type
        CARGO, BAGGAGE, VEHICLE or OTHER (strings accepted).
    container_numbers
        ISO 6346 numbers (``"CSQU3054383"``); the check digit is verified.
    licence_plate
        Vehicle registration as read.
    declaration
        Customs declaration or UCR reference.
    identifier
        Any other identifier (bag tag, RFID) for objects without the above.
    """

    type: ObjectType = ObjectType.OTHER
    container_numbers: tuple[str, ...] = ()
    licence_plate: str | None = None
    declaration: str | None = None
    identifier: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "type", ObjectType(self.type))
        numbers = tuple(n.replace(" ", "").upper() for n in self.container_numbers)
        for number in numbers:
            require(
                _CONTAINER.fullmatch(number) is not None,
                f"container number {number!r} is not of the ISO 6346 form AAAU1234567",
            )
            expected = container_check_digit(number[:10])
            require(
                int(number[10]) == expected,
                f"container number {number} has check digit {number[10]}, ISO 6346 gives {expected}",
            )
        object.__setattr__(self, "container_numbers", numbers)

    @property
    def primary_id(self) -> str | None:
        """The identifier a DICOS OOI ID would carry: container, plate, identifier or declaration."""
        candidates = [*self.container_numbers, self.licence_plate, self.identifier, self.declaration]
        return next((c for c in candidates if c), None)


@dataclass(frozen=True)
class Scanner:
    """The imaging system.

    ``energies_kv`` gives the nominal energy of each measured channel in kV, so a
    6/4 MV linac is ``{"high": 6000.0, "low": 4000.0}`` (the DICOS KVP convention).
    """

    manufacturer: str | None = None
    model: str | None = None
    serial_number: str | None = None
    software_version: str | None = None
    source: SourceKind | None = None
    energies_kv: Mapping[str, float] = field(default_factory=dict)
    detector_pitch_mm: float | None = None
    line_rate_hz: float | None = None
    speed_mm_s: float | None = None
    """Belt or vehicle speed (the mean when it varies; per-line positions are in the View)."""

    def __post_init__(self) -> None:
        if self.source is not None:
            object.__setattr__(self, "source", SourceKind(self.source))
        object.__setattr__(self, "energies_kv", {str(k): float(v) for k, v in self.energies_kv.items()})
        for name, kv in self.energies_kv.items():
            require_positive(kv, f"energy of channel {name!r} (kV)")
        require_positive(self.detector_pitch_mm, "detector pitch (mm)")
        require_positive(self.line_rate_hz, "line rate (Hz)")
        require_positive(self.speed_mm_s, "speed (mm/s)")


@dataclass(frozen=True)
class Site:
    """Where the scan was taken: site (institution) and machine."""

    name: str | None = None
    machine_id: str | None = None
    address: str | None = None
    country: str | None = None


@dataclass(frozen=True)
class Operator:
    """The officer who operated the scanner.

    This is **personal data**: serializers leave it out unless asked (see
    :func:`nii.metadata.scan_to_dict`).
    """

    PERSONAL_DATA = True

    identifier: str
    name: str | None = None


@dataclass(frozen=True)
class Geometry:
    """Pixel geometry of a view.

    Rows follow the detector, columns the travel. Line-scan pixels are generally not
    square: ``detector_spacing_mm`` comes from the detector pitch, ``travel_spacing_mm``
    from speed / line rate.

    Parameters
    ----------
    detector_spacing_mm
        Distance between adjacent rows; None when unknown (nothing is invented: a raw export
        without geometry stays without it, and steps that need spacing refuse it).
    travel_spacing_mm
        Distance between adjacent columns (the mean when the speed varies); None when unknown.
    travel_direction, row_order
        Orientation of the array relative to the object; canonical is left to right, top down.
    line_positions_mm
        Optional position of every column along travel, for variable speed. Must be strictly
        increasing and have one entry per column.
    """

    detector_spacing_mm: float | None = None
    travel_spacing_mm: float | None = None
    travel_direction: TravelDirection = TravelDirection.LEFT_TO_RIGHT
    row_order: RowOrder = RowOrder.TOP_DOWN
    line_positions_mm: np.ndarray | None = None

    def __post_init__(self) -> None:
        require_positive(self.detector_spacing_mm, "detector spacing (mm)")
        require_positive(self.travel_spacing_mm, "travel spacing (mm)")
        object.__setattr__(self, "travel_direction", TravelDirection(self.travel_direction))
        object.__setattr__(self, "row_order", RowOrder(self.row_order))
        if self.line_positions_mm is not None:
            positions = np.asarray(self.line_positions_mm, dtype=np.float64)
            require(positions.ndim == 1, "line positions must be a 1-D array")
            require(
                bool(np.all(np.isfinite(positions))) and bool(np.all(np.diff(positions) > 0)),
                "line positions must be finite and strictly increasing",
            )
            object.__setattr__(self, "line_positions_mm", positions)

    @property
    def spacing_known(self) -> bool:
        """Whether both pixel spacings are known."""
        return self.detector_spacing_mm is not None and self.travel_spacing_mm is not None

    def known_spacing(self, purpose: str) -> tuple[float, float]:
        """(detector spacing, travel spacing) in mm, for ``purpose`` that cannot do without them.

        Raises
        ------
        ValidationError
            A spacing is unknown (the file did not give it; the ``spacing=ROWSxLINES`` step declares it).
        """
        if self.detector_spacing_mm is None or self.travel_spacing_mm is None:
            raise ValidationError(
                f"{purpose} needs the pixel spacing, which is unknown; declare it with spacing=ROWSxLINES"
            )
        return self.detector_spacing_mm, self.travel_spacing_mm

    @property
    def is_canonical(self) -> bool:
        return self.travel_direction is TravelDirection.LEFT_TO_RIGHT and self.row_order is RowOrder.TOP_DOWN


def _as_2d(array: Any, what: str) -> np.ndarray:
    # Memmaps, views and lazy arrays (pixels still in the file) are kept as they are.
    result: Any = array if isinstance(array, np.ndarray | LazyArray) else np.asarray(array)
    require(result.ndim == 2, f"{what} must be a 2-D array (detector rows × scan lines), got shape {result.shape}")
    require(result.size > 0, f"{what} is empty")
    return result


@dataclass
class View:
    """One projection of the object with all its channels.

    Parameters
    ----------
    name
        ``"side"``, ``"top"``, ... (lower case identifier).
    channels
        Channel name → 2-D array ``(rows, lines)``; all of one shape. See :data:`CHANNEL_ROLES`.
        A reader may give a :class:`nii.lazy.LazyArray` (pixels read on access): call
        ``numpy.asarray`` on a channel before handing it to code that needs an ``ndarray``.
    geometry
        Pixel spacing and orientation.
    calibration
        What the measured channels hold: RAW, TRANSMISSION or ATTENUATION.
    dark, air
        Per-channel dark-offset and open-beam references when the source carries them:
        1-D ``(rows,)`` or 2-D ``(rows, k)`` with ``k`` reference lines.
    reference
        Per-channel source monitor (reference detector) value of every line, shape ``(lines,)``.

    Examples
    --------
    >>> import numpy as np
    >>> view = View("side", {"high": np.zeros((4, 6), np.uint16)}, Geometry(5.0, 4.0))
    >>> view.shape
    (4, 6)
    """

    name: str
    channels: dict[str, np.ndarray]
    geometry: Geometry = field(default_factory=Geometry)
    calibration: CalibrationState = CalibrationState.RAW
    dark: dict[str, np.ndarray] = field(default_factory=dict)
    air: dict[str, np.ndarray] = field(default_factory=dict)
    reference: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        require(_CHANNEL_NAME.fullmatch(self.name) is not None, f"view name {self.name!r} must match [a-z][a-z0-9_]*")
        require(len(self.channels) > 0, f"view {self.name!r} has no channels")
        self.calibration = CalibrationState(self.calibration)
        shape: tuple[int, ...] | None = None
        for channel, array in list(self.channels.items()):
            require(
                _CHANNEL_NAME.fullmatch(channel) is not None,
                f"channel name {channel!r} in view {self.name!r} must match [a-z][a-z0-9_]*",
            )
            array = self.channels[channel] = _as_2d(array, f"channel {channel!r} of view {self.name!r}")
            if shape is None:
                shape = array.shape
            require(
                array.shape == shape,
                f"channel {channel!r} of view {self.name!r} has shape {array.shape}, other channels have {shape}",
            )
        assert shape is not None
        rows, lines = shape
        for kind, references in (("dark", self.dark), ("air", self.air)):
            for channel, array in list(references.items()):
                require(channel in self.channels, f"{kind} reference for unknown channel {channel!r}")
                array = references[channel] = np.asarray(array)
                require(
                    array.ndim in (1, 2) and array.shape[0] == rows,
                    f"{kind} reference of channel {channel!r} has shape {array.shape}, needs ({rows},) or ({rows}, k)",
                )
        for channel, array in list(self.reference.items()):
            require(channel in self.channels, f"reference-detector values for unknown channel {channel!r}")
            array = self.reference[channel] = np.asarray(array)
            require(
                array.shape == (lines,),
                f"reference-detector values of {channel!r} have shape {array.shape}, need ({lines},)",
            )
        if self.geometry.line_positions_mm is not None:
            require(
                self.geometry.line_positions_mm.shape == (lines,),
                f"view {self.name!r} has {lines} lines but {self.geometry.line_positions_mm.shape[0]} line positions",
            )

    @property
    def shape(self) -> tuple[int, int]:
        """``(detector rows, scan lines)``."""
        rows, lines = next(iter(self.channels.values())).shape
        return int(rows), int(lines)

    @property
    def channel_names(self) -> list[str]:
        return list(self.channels)

    def with_channels(self, channels: Mapping[str, np.ndarray], **changes: Any) -> View:
        """A copy of this view with other channels (and any other field changed)."""
        return replace(self, channels=dict(channels), **changes)


def _triple(values: Sequence[float], what: str, *, positive: bool) -> tuple[float, float, float]:
    result = tuple(float(v) for v in values)
    require(len(result) == 3, f"{what} needs 3 values (z, y, x), got {len(result)}")
    for value in result:
        if positive:
            require_positive(value, what)
        else:
            require(math.isfinite(value), f"{what} must be finite, got {value!r}")
    return result  # type: ignore[return-value]


@dataclass
class Volume:
    """A 3-D reconstruction (CT) of the object: one energy channel on a regular voxel grid.

    Axes are ``(frames, rows, columns)`` = ``(z, y, x)``: frame ``k`` is the slice at
    ``z = origin_mm[0] + k * spacing_mm[0]``.

    Parameters
    ----------
    name
        Lower case identifier (``"high"``, ``"ct"``, ...), unique among the volumes.
    data
        3-D array ``(frames, rows, columns)``; stored as given (no copy).
    spacing_mm
        Voxel spacing ``(slice spacing, row spacing, column spacing)`` in mm.
    origin_mm
        Position ``(z, y, x)`` of the centre of voxel ``(0, 0, 0)`` in mm.
    channel
        Energy channel or derived quantity, a key of :data:`CHANNEL_ROLES` (or another
        ``[a-z][a-z0-9_]*`` name, carried as a derived image).
    calibration
        What the voxel values are; CT reconstructions are usually ATTENUATION.

    Examples
    --------
    >>> import numpy as np
    >>> volume = Volume("ct", np.zeros((8, 48, 64), np.uint16), spacing_mm=(1.5, 1.0, 1.0))
    >>> volume.shape
    (8, 48, 64)
    """

    name: str
    data: np.ndarray
    spacing_mm: tuple[float, float, float] = (1.0, 1.0, 1.0)
    origin_mm: tuple[float, float, float] = (0.0, 0.0, 0.0)
    channel: str = "high"
    calibration: CalibrationState = CalibrationState.ATTENUATION

    def __post_init__(self) -> None:
        require(_CHANNEL_NAME.fullmatch(self.name) is not None, f"volume name {self.name!r} must match [a-z][a-z0-9_]*")
        require(
            _CHANNEL_NAME.fullmatch(self.channel) is not None,
            f"channel name {self.channel!r} of volume {self.name!r} must match [a-z][a-z0-9_]*",
        )
        data = self.data if isinstance(self.data, np.ndarray) else np.asarray(self.data)
        require(
            data.ndim == 3 and data.size > 0,
            f"volume {self.name!r} must be a non-empty 3-D array (frames, rows, columns), got shape {data.shape}",
        )
        self.data = data
        self.spacing_mm = _triple(self.spacing_mm, f"voxel spacing of volume {self.name!r} (mm)", positive=True)
        self.origin_mm = _triple(self.origin_mm, f"origin of volume {self.name!r} (mm)", positive=False)
        self.calibration = CalibrationState(self.calibration)

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(frames, rows, columns)``."""
        frames, rows, columns = self.data.shape
        return int(frames), int(rows), int(columns)


@dataclass(frozen=True)
class Box:
    """An axis-aligned region in pixels: ``x`` is the column (scan line), ``y`` the row."""

    x: int
    y: int
    width: int
    height: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "width", "height"):
            object.__setattr__(self, name, int(getattr(self, name)))
        require(self.x >= 0 and self.y >= 0, f"box origin ({self.x}, {self.y}) must not be negative")
        require(self.width > 0 and self.height > 0, f"box size {self.width} × {self.height} must be positive")

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices selecting the box from a view array."""
        return slice(self.y, self.y + self.height), slice(self.x, self.x + self.width)


@dataclass(frozen=True)
class Threat:
    """A potential threat object marked on one view.

    Parameters
    ----------
    view
        Name of the view the region is on.
    box
        Bounding box in that view's pixels.
    polygon
        Optional outline, ``(n, 2)`` array of ``(x, y)`` pixel coordinates, n ≥ 3.
    mask
        Optional boolean mask of shape ``(box.height, box.width)``.
    category, assessment, probability
        What it is, how alarming, and the detector's confidence in [0, 1] (None: unknown).
    origin, algorithm, algorithm_version
        Who marked it.
    """

    view: str
    box: Box
    category: ThreatCategory = ThreatCategory.ANOMALY
    assessment: AssessmentFlag = AssessmentFlag.THREAT
    probability: float | None = None
    origin: ThreatOrigin = ThreatOrigin.MACHINE
    algorithm: str | None = None
    algorithm_version: str | None = None
    description: str | None = None
    polygon: np.ndarray | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", ThreatCategory(self.category))
        object.__setattr__(self, "assessment", AssessmentFlag(self.assessment))
        object.__setattr__(self, "origin", ThreatOrigin(self.origin))
        if self.probability is not None:
            require(0.0 <= self.probability <= 1.0, f"threat probability {self.probability} is outside [0, 1]")
        if self.polygon is not None:
            polygon = np.asarray(self.polygon, dtype=np.float64)
            require(
                polygon.ndim == 2 and polygon.shape[1] == 2 and polygon.shape[0] >= 3,
                f"threat polygon must be an (n ≥ 3, 2) array of (x, y), got shape {polygon.shape}",
            )
            object.__setattr__(self, "polygon", polygon)
        if self.mask is not None:
            mask = np.asarray(self.mask, dtype=bool)
            require(
                mask.shape == (self.box.height, self.box.width),
                f"threat mask has shape {mask.shape}, its box is {self.box.height} × {self.box.width}",
            )
            object.__setattr__(self, "mask", mask)


@dataclass
class Scan:
    """One inspection of one object.

    A scan holds at least one view (radiograph) or one volume (CT), or both.

    Parameters
    ----------
    views
        The projections; names must be unique.
    acquired_at
        Time of the scan, with its time zone (naive date-times are refused).
    inspected_object, scanner, site, operator
        Metadata; the operator is personal data.
    threats
        Regions marked on the views; each must lie inside its view.
    scan_uid, frame_of_reference_uid
        DICOM UIDs; fresh 2.25 UIDs by default.
    provenance
        Source and processing history.
    volumes
        3-D reconstructions (CT); names must be unique.
    volume_threats
        Threats in voxel coordinates (:mod:`nii.volume_threats`): on the volumes, or on
        ``referenced_images``.
    referenced_images
        Images the scan refers to but does not carry (a threat report read on its own).
    """

    views: list[View]
    acquired_at: datetime
    inspected_object: InspectedObject = field(default_factory=InspectedObject)
    scanner: Scanner = field(default_factory=Scanner)
    site: Site = field(default_factory=Site)
    operator: Operator | None = None
    threats: list[Threat] = field(default_factory=list)
    scan_uid: str = field(default_factory=new_uid)
    frame_of_reference_uid: str = field(default_factory=new_uid)
    provenance: Provenance = field(default_factory=Provenance)
    volumes: list[Volume] = field(default_factory=list)
    volume_threats: list[VolumeThreat] = field(default_factory=list)
    referenced_images: list[ImageReference] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.views = list(self.views)
        self.volumes = list(self.volumes)
        self.threats = list(self.threats)
        self.volume_threats = list(self.volume_threats)
        self.referenced_images = list(self.referenced_images)
        require(
            len(self.views) + len(self.volumes) + len(self.referenced_images) > 0,
            "a scan needs at least one view or one volume, or references to the images it reports on",
        )
        names = [view.name for view in self.views]
        require(len(set(names)) == len(names), f"view names must be unique, got {names}")
        volume_names = [volume.name for volume in self.volumes]
        require(len(set(volume_names)) == len(volume_names), f"volume names must be unique, got {volume_names}")
        require_aware(self.acquired_at, "scan time")
        require_uid(self.scan_uid, "scan UID")
        require_uid(self.frame_of_reference_uid, "frame of reference UID")
        for index, threat in enumerate(self.threats):
            require(threat.view in names, f"threat {index} is on unknown view {threat.view!r} (views: {names})")
            rows, lines = self.view(threat.view).shape
            box = threat.box
            require(
                box.x + box.width <= lines and box.y + box.height <= rows,
                f"threat {index} box ({box.x}, {box.y}, {box.width} × {box.height}) lies outside "
                f"view {threat.view!r} of {lines} lines × {rows} rows",
            )
        for index, spatial in enumerate(self.volume_threats):
            if spatial.volume is not None:
                require(
                    spatial.volume in volume_names, f"volume threat {index} is on unknown volume {spatial.volume!r}"
                )
                ends = [end.stop for end in spatial.box.slices]
                shape = self.volume(spatial.volume).shape
                require(
                    all(end <= size for end, size in zip(ends, shape, strict=True)),
                    f"volume threat {index} box {spatial.box} lies outside volume {spatial.volume!r} of shape {shape}",
                )

    def view(self, name: str) -> View:
        """The view called ``name``."""
        for view in self.views:
            if view.name == name:
                return view
        raise ValidationError(f"scan has no view {name!r}; views: {[v.name for v in self.views]}")

    def volume(self, name: str) -> Volume:
        """The volume called ``name``."""
        for volume in self.volumes:
            if volume.name == name:
                return volume
        raise ValidationError(f"scan has no volume {name!r}; volumes: {[v.name for v in self.volumes]}")

    def with_views(self, views: Sequence[View], step: ProcessingStep | None = None) -> Self:
        """A copy with other views and, when given, one more provenance step."""
        provenance = self.provenance.with_step(step) if step is not None else self.provenance
        return replace(self, views=list(views), provenance=provenance)

"""The nii scan model ↔ DICOS instances (see ``docs/formats/dicos.md`` for the full table).

Writing (:func:`scan_to_instances`):

* every view × channel → one :class:`DXImage`, each in its own series; Image Type value 1
  is ORIGINAL for measured channels (``high``, ``low``, ``single``) and DERIVED otherwise,
  value 2 comes from :data:`nii.model.CHANNEL_ROLES` (INTENSITY for other names);
* every volume → one :class:`CTImage`;
* the threats → one :class:`ThreatReport` per (origin, algorithm, version), TDR Type =
  origin; PTO IDs number the threats of the whole scan from 1, so their order survives;
  each PTO references every DX instance of its view; processing times, which the model
  does not have, are written as the scan time and 0 ms.

Standard homes: scan UID, Frame of Reference, scan time (Acquisition Date Time with
offset), OOI type and identifiers (OOI ID + Other OOI IDs Sequence, issuer = kind of
identifier), object description (0010,4000), manufacturer, model, serial, software,
site name / machine ID / address, operator name, energies (KVP per channel), speed (Belt
Speed), detector pitch (Detector Element Spacing), pixel spacing (Imager Pixel Spacing),
travel direction and row order (signs of Image Orientation), calibration (Rescale Type).

Private block ``"NII DICOS 1"`` in group 0009, for what DICOS has no home for:

* ``(0009,xx01)`` UT, JSON: ``{"schema": 1, "kind": "view"|"volume", "view"/"volume",
  "channel", "calibration", "scan": {...}, "arrays": {...}, "exact": {...}}`` where
  ``scan`` holds the nii object type, source kind, line rate, site country, operator
  identifier, energies of channels without an instance and the provenance steps;
  ``arrays`` the dtype and shape of the private arrays; ``exact`` the float64 value of
  any number a DS (16 characters) cannot hold exactly;
* ``(0009,xx02)`` OB line positions (float64), ``(0009,xx03/04/05)`` OB dark, air and reference
  arrays of the channel; ``(0009,xx06)`` OB exact float64 polygon in a PTO item when FL loses digits.

Reading (:func:`instances_to_scan`) takes the standard attributes first and the private
block where DICOS has no home, so files from other writers read too: their DX instances
are grouped into views by shape (one channel per Image Type value 2), named ``view1``,
``view2``, ...
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from nii.errors import CorruptFileError, UnsupportedError, ValidationError
from nii.limits import check_image_size
from nii.model import (
    CHANNEL_ROLES,
    Box,
    CalibrationState,
    Geometry,
    InspectedObject,
    ObjectType,
    Operator,
    ProcessingStep,
    Provenance,
    RowOrder,
    Scan,
    Scanner,
    Site,
    Threat,
    ThreatOrigin,
    TravelDirection,
    View,
    Volume,
)

from .common import Equipment, ObjectOfInspection, ScanContext
from .ct import CTImage
from .dictionary import (
    PRIVATE_AIR,
    PRIVATE_CREATOR,
    PRIVATE_DARK,
    PRIVATE_GROUP,
    PRIVATE_LINE_POSITIONS,
    PRIVATE_METADATA,
    PRIVATE_POLYGON,
    PRIVATE_REFERENCE,
    OOIType,
    PresentationIntent,
    TDRType,
)
from .dx import DXImage
from .encode import set_private_elements
from .files import tag_text
from .instance import DicosInstance
from .tdr import PotentialThreat, ThreatReport

__all__ = ["WriteOptions", "instances_to_scan", "scan_to_instances"]

log = logging.getLogger(__name__)

PRIVATE_SCHEMA = 1
MEASURED_CHANNELS = frozenset({"high", "low", "single"})
_ROLE_TO_CHANNEL = {role: name for name, role in CHANNEL_ROLES.items()}
_ID_ISSUERS = ("ISO 6346", "LICENCE PLATE", "DECLARATION", "IDENTIFIER")
_OOI_TYPES = {ObjectType.CARGO: OOIType.CARGO, ObjectType.BAGGAGE: OOIType.BAGGAGE}
_PRIVATE_ARRAYS = {"dark": PRIVATE_DARK, "air": PRIVATE_AIR, "reference": PRIVATE_REFERENCE}


@dataclass(frozen=True)
class WriteOptions:
    """How a scan is written.

    Parameters
    ----------
    dicos_version
        (4010,103A) and (0002,0004).
    modality
        DX Modality, ``XRAY`` or ``DX``.
    presentation
        Write DX For Presentation (display-ready images) with a window, instead of For Processing.
    window
        ``(center, width)`` for presentation; default: the full range of each channel.
    created_at
        Instance Creation Date/Time; now by default. Series and SOP Instance UIDs are derived
        from the scan UID, so with a fixed ``created_at`` the same scan gives the same bytes
        (reproducible conversions, and re-sending a scan replaces its instances instead of
        duplicating them).
    """

    dicos_version: str = "V03"
    modality: str = "XRAY"
    presentation: bool = False
    window: tuple[float, float] | None = None
    created_at: datetime | None = None


class _Exact:
    """DS values (at most 16 characters) plus the float64 values they cannot hold exactly."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def ds(self, name: str, value: float) -> float:
        text = format_number_as_ds(float(value))
        if float(text) != float(value):
            self.values[name] = float(value)
        return float(text)


# ----------------------------------------------------------------------------- writing


def _identifiers(obj: InspectedObject) -> list[tuple[str, str]]:
    pairs = [(number, _ID_ISSUERS[0]) for number in obj.container_numbers]
    for value, issuer in zip((obj.licence_plate, obj.declaration, obj.identifier), _ID_ISSUERS[1:], strict=True):
        if value:
            pairs.append((value, issuer))
    return pairs


_UID_NAMESPACE = uuid.UUID("6f1c3a52-8d0e-4a57-9a3c-2f7d5b1e9c40")
"""Namespace of the UUIDs behind derived UIDs (fixed: it is part of the UIDs nii writes)."""


def derived_uid(scan_uid: str, *parts: str) -> str:
    """A 2.25 UID that depends only on the scan UID and the role of the object (name-based UUID)."""
    # uuid.uuid5(_UID_NAMESPACE, name).int, without building the UUID object (a third of the time).
    digest = hashlib.sha1(_UID_NAMESPACE.bytes + "/".join((scan_uid, *parts)).encode()).digest()
    number = int.from_bytes(digest[:16])
    return f"2.25.{(number & _UUID_CLEAR) | _UUID5_BITS}"


_UUID_CLEAR = ~((0xF000 << 64) | (0xC000 << 48)) & ((1 << 128) - 1)
_UUID5_BITS = (5 << 76) | (0x8000 << 48)
"""Version 5 and the RFC 4122 variant, as :class:`uuid.UUID` sets them."""


def _context(scan: Scan, options: WriteOptions) -> ScanContext:
    obj, scanner, site = scan.inspected_object, scan.scanner, scan.site
    identifiers = _identifiers(obj)
    # The reference toolkit refuses an empty assigning authority; it writes "unknown" itself.
    primary, issuer = identifiers[0] if identifiers else ("unknown", "unknown")
    return ScanContext(
        scan_uid=scan.scan_uid,
        acquired_at=scan.acquired_at,
        ooi=ObjectOfInspection(
            type=_OOI_TYPES.get(obj.type, OOIType.OTHER),
            id=primary,
            id_issuer=issuer,
            alternate_ids=tuple(identifiers),
            comments=obj.description,
        ),
        equipment=Equipment(
            manufacturer=scanner.manufacturer or "",
            model=scanner.model or "",
            serial_number=scanner.serial_number or "",
            software_versions=scanner.software_version or "",
            machine_location=site.name or "",
            machine_address=site.address or "",
            machine_id=site.machine_id or "",
        ),
        frame_of_reference_uid=scan.frame_of_reference_uid,
        created_at=options.created_at,
        dicos_version=options.dicos_version,
        operator_name=scan.operator.name if scan.operator is not None else None,
    )


def _scan_private(scan: Scan, channels: set[str]) -> dict[str, Any]:
    scanner = scan.scanner
    return {
        "object_type": str(scan.inspected_object.type),
        "source": str(scanner.source) if scanner.source is not None else None,
        "line_rate_hz": scanner.line_rate_hz,
        "energies_kv": {name: kv for name, kv in scanner.energies_kv.items() if name not in channels},
        "country": scan.site.country,
        "operator_identifier": scan.operator.identifier if scan.operator is not None else None,
        "steps": [
            {
                "name": step.name,
                "parameters": {k: str(v) if hasattr(v, "value") else v for k, v in step.parameters.items()},
                "software": step.software,
                "performed_at": step.performed_at.isoformat() if step.performed_at else None,
            }
            for step in scan.provenance.steps
        ],
    }


def _image_type(channel: str) -> tuple[str, str]:
    return ("ORIGINAL" if channel in MEASURED_CHANNELS else "DERIVED", CHANNEL_ROLES.get(channel, "INTENSITY"))


def _little_endian(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise UnsupportedError(f"{what} has dtype {array.dtype}; only numeric arrays can be stored")
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _new_private_block(dataset: Dataset, elements: Iterable[tuple[int, str, Any]]) -> None:
    """nii's private block in a dataset built here, which has none: the creator in (0009,0010)
    and each ``(offset, VR, value)`` in (0009,10xx), the slot pydicom's ``private_block``
    would pick, without its search over the dataset's private creators."""
    creator = (PRIVATE_GROUP << 16) | 0x0010
    if creator in dataset:
        raise AssertionError(f"the dataset already has a private creator in {tag_text(creator)}")
    set_private_elements(
        dataset,
        PRIVATE_CREATOR,
        {(creator, "LO"): PRIVATE_CREATOR}
        | {((PRIVATE_GROUP << 16) | 0x1000 | offset, vr): value for offset, vr, value in elements},
    )


def _add_private(
    instance: Dataset, document: dict[str, Any], arrays: Mapping[int, np.ndarray], *, scan_json: str
) -> None:
    # The scan's part, the same in every instance, is serialised once (`scan_json`) and put first.
    text = json.dumps(document, separators=(",", ":"))
    metadata = (PRIVATE_METADATA, "UT", '{"scan":' + scan_json + ("," + text[1:] if document else "}"))
    # OB even for the float64 line positions: the reference SDK crashes on a private OD.
    _new_private_block(instance, [metadata, *((offset, "OB", array.tobytes()) for offset, array in arrays.items())])


def _window(channel: np.ndarray, options: WriteOptions) -> tuple[float, float] | None:
    if not options.presentation:
        return None
    if options.window is not None:
        return options.window
    low, high = float(channel.min()), float(channel.max())
    return (low + high) / 2, max(high - low, 1.0)


def scan_to_instances(scan: Scan, options: WriteOptions) -> Iterator[tuple[str, DicosInstance]]:
    """Build every DICOS instance of the scan with its file name, one after the other (nothing is written).

    A generator, so that a writer can write each instance while the next is built.

    File names: ``dx-<view>-<channel>.dcs``, ``ct-<volume>.dcs``, ``tdr-<n>.dcs`` (``-``
    cannot occur in nii names, so they never collide).

    Raises
    ------
    UnsupportedError
        A channel or volume is not 16-bit (DICOS interchange type).
    """
    context = _context(scan, options)
    channels = {name for view in scan.views for name in view.channels} | {v.channel for v in scan.volumes}
    scan_json = json.dumps(_scan_private(scan, channels), separators=(",", ":"))
    scanner = scan.scanner
    intent = PresentationIntent.FOR_PRESENTATION if options.presentation else PresentationIntent.FOR_PROCESSING
    images: list[tuple[str, str]] = []
    view_references: dict[str, list[tuple[str, str]]] = {}
    series_number = 0
    for view in scan.views:
        geometry = view.geometry
        travel = -1.0 if geometry.travel_direction is TravelDirection.RIGHT_TO_LEFT else 1.0
        down = -1.0 if geometry.row_order is RowOrder.BOTTOM_UP else 1.0
        for channel, pixels in view.channels.items():
            series_number += 1
            exact = _Exact()
            arrays = {
                offset: _little_endian(group[channel], f"{kind} of channel {channel!r} of view {view.name!r}")
                for kind, offset in _PRIVATE_ARRAYS.items()
                if channel in (group := getattr(view, kind))
            }
            if geometry.line_positions_mm is not None:
                arrays[PRIVATE_LINE_POSITIONS] = _little_endian(geometry.line_positions_mm, "line positions")
            image = DXImage(
                pixels,
                context=context,
                sop_instance_uid=derived_uid(scan.scan_uid, "dx", view.name, channel),
                series_uid=derived_uid(scan.scan_uid, "dx-series", view.name, channel),
                series_number=series_number,
                image_type=_image_type(channel),
                series_description=f"{view.name} {channel}",
                kvp_kv=exact.ds("kvp", scanner.energies_kv.get(channel, 0.0)),
                imager_pixel_spacing_mm=(
                    (
                        exact.ds("detector_spacing_mm", geometry.detector_spacing_mm),
                        exact.ds("travel_spacing_mm", geometry.travel_spacing_mm),
                    )
                    if geometry.detector_spacing_mm is not None and geometry.travel_spacing_mm is not None
                    else None  # unknown spacing is not invented
                ),
                detector_element_spacing_mm=(
                    (exact.ds("detector_pitch_mm", scanner.detector_pitch_mm),) * 2
                    if scanner.detector_pitch_mm
                    else None
                ),
                belt_speed_mm_s=scanner.speed_mm_s or 0.0,
                orientation=(travel, 0.0, 0.0, 0.0, down, 0.0),
                intent=intent,
                window=_window(pixels, options),
                rescale_type=str(view.calibration) if channel in MEASURED_CHANNELS else "US",
                modality=options.modality,
            )
            document = {
                "schema": PRIVATE_SCHEMA,
                "kind": "view",
                "view": view.name,
                "channel": channel,
                "calibration": str(view.calibration),
                "arrays": {
                    kind: {"dtype": arrays[offset].dtype.str, "shape": list(arrays[offset].shape)}
                    for kind, offset in _PRIVATE_ARRAYS.items()
                    if offset in arrays
                },
                "exact": exact.values,
            }
            _add_private(image, document, arrays, scan_json=scan_json)
            reference = (str(image.SOPClassUID), str(image.SOPInstanceUID))
            images.append(reference)
            view_references.setdefault(view.name, []).append(reference)
            yield f"dx-{view.name}-{channel}.dcs", image
    for volume in scan.volumes:
        series_number += 1
        exact = _Exact()
        z0, y0, x0 = volume.origin_mm
        ct = CTImage(
            volume.data,
            context=context,
            sop_instance_uid=derived_uid(scan.scan_uid, "ct", volume.name),
            series_uid=derived_uid(scan.scan_uid, "ct-series", volume.name),
            series_number=series_number,
            image_type=_image_type(volume.channel),
            series_description=f"volume {volume.name} {volume.channel}",
            spacing_mm=tuple(  # type: ignore[arg-type]
                exact.ds(name, value)
                for name, value in zip(
                    ("slice_spacing", "row_spacing", "column_spacing"), volume.spacing_mm, strict=True
                )
            ),
            origin_mm=(exact.ds("origin_x", x0), exact.ds("origin_y", y0), exact.ds("origin_z", z0)),
            kvp_kv=exact.ds("kvp", scanner.energies_kv.get(volume.channel, 0.0)),
            rescale_type=str(volume.calibration),
        )
        # Per-frame z = z0 + k·dz is computed from the DS-rounded values; the exact ones
        # travel in the private block.
        document = {
            "schema": PRIVATE_SCHEMA,
            "kind": "volume",
            "volume": volume.name,
            "channel": volume.channel,
            "calibration": str(volume.calibration),
            "arrays": {},
            "exact": exact.values,
        }
        _add_private(ct, document, {}, scan_json=scan_json)
        images.append((str(ct.SOPClassUID), str(ct.SOPInstanceUID)))
        yield f"ct-{volume.name}.dcs", ct
    for index, report in enumerate(_reports(scan, context, view_references, images, series_number), start=1):
        yield f"tdr-{index}.dcs", report


def _lossy_in_float32(values: np.ndarray) -> bool:
    return not np.array_equal(values.astype(np.float32).astype(np.float64), values)


def _threat_private(threat: Threat) -> Dataset | None:
    """Exact float64 probability and polygon, when the FL (float32) attributes cannot hold them."""
    exact: dict[str, float] = {}
    if threat.probability is not None and _lossy_in_float32(np.array([threat.probability])):
        exact["probability"] = threat.probability
    lossy_polygon = threat.polygon is not None and _lossy_in_float32(threat.polygon)
    if not exact and not lossy_polygon:
        return None
    item = Dataset()
    elements: list[tuple[int, str, Any]] = [
        (PRIVATE_METADATA, "UT", json.dumps({"schema": PRIVATE_SCHEMA, "exact": exact}))
    ]
    if threat.polygon is not None and lossy_polygon:
        elements.append((PRIVATE_POLYGON, "OB", np.ascontiguousarray(threat.polygon, "<f8").tobytes()))
    _new_private_block(item, elements)
    return item


def _reports(
    scan: Scan,
    context: ScanContext,
    view_references: Mapping[str, list[tuple[str, str]]],
    images: list[tuple[str, str]],
    series_number: int,
) -> list[ThreatReport]:
    groups: dict[tuple[ThreatOrigin, str | None, str | None], list[PotentialThreat]] = {}
    for index, threat in enumerate(scan.threats):
        box = threat.box
        polygon = None
        if threat.polygon is not None:
            polygon = np.column_stack([threat.polygon, np.zeros(len(threat.polygon))])
        pto = PotentialThreat(
            id=index + 1,
            referenced_instances=tuple(view_references[threat.view]),
            base=(box.x, box.y, 0),
            extents=(box.width, box.height, 1),
            processing_start=scan.acquired_at,
            processing_end=scan.acquired_at,
            category=threat.category,
            flag=threat.assessment,
            probability=threat.probability if threat.probability is not None else -1.0,
            description=threat.description,
            bitmap=threat.mask[None] if threat.mask is not None else None,
            polygon=polygon,
            private_item=_threat_private(threat),
        )
        groups.setdefault((threat.origin, threat.algorithm, threat.algorithm_version), []).append(pto)
    operator = (scan.operator.identifier, scan.operator.name) if scan.operator is not None else ("unknown", None)
    reports = []
    for number, ((origin, algorithm, version), threats) in enumerate(groups.items(), start=series_number + 1):
        names = [algorithm or "", version] if version else ([algorithm] if algorithm else [])
        reports.append(
            ThreatReport(
                context=context,
                sop_instance_uid=derived_uid(scan.scan_uid, "tdr", str(number)),
                series_uid=derived_uid(scan.scan_uid, "tdr-series", str(number)),
                series_number=number,
                series_description=f"threats {origin}",
                threats=threats,
                referenced_images=images,
                alarm_decision_time=scan.acquired_at,
                tdr_type=TDRType(str(origin)),
                algorithm=names,
                operator=operator if origin is ThreatOrigin.OPERATOR else None,
            )
        )
    return reports


# ----------------------------------------------------------------------------- reading


def _private(instance: Dataset) -> tuple[dict[str, Any], Any]:
    """The JSON document and the private block of an instance ({} and None when absent)."""
    try:
        block = instance.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return {}, None
    try:
        value = block[PRIVATE_METADATA].value if PRIVATE_METADATA in block else "{}"
        # Implicit VR files give private elements as raw bytes (UN).
        document = json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    except ValueError as error:
        raise CorruptFileError(
            f"nii private metadata (0009,xx01) is not JSON: {error}", path=_path(instance)
        ) from error
    if document and document.get("schema") != PRIVATE_SCHEMA:
        log.warning("%s: nii private metadata schema %r is not %r; ignored", _path(instance), document.get("schema"), 1)
        return {}, None
    return document, block


def _path(instance: Dataset) -> Path | None:
    return instance.path if isinstance(instance, DicosInstance) else None


def _private_array(block: Any, offset: int, spec: Mapping[str, Any] | None, path: Path | None) -> np.ndarray:
    if offset not in block:
        raise CorruptFileError(f"nii private array (0009,xx{offset:02X}) is missing", path=path)
    data = block[offset].value or b""
    dtype = np.dtype(spec["dtype"]) if spec else np.dtype("<f8")
    shape = tuple(spec["shape"]) if spec else (len(data) // 8,)
    needed = check_image_size(shape, dtype, path=path) if shape else 0
    if len(data) < needed:
        raise CorruptFileError(
            f"nii private array (0009,xx{offset:02X}) holds {len(data)} bytes, needs {needed}", path=path
        )
    return np.frombuffer(data, dtype=dtype, count=needed // dtype.itemsize).reshape(shape)


def _channel_from_role(image_type: str) -> str:
    return _ROLE_TO_CHANNEL.get(image_type.upper(), "single")


def _calibration(text: str, default: CalibrationState) -> CalibrationState:
    try:
        return CalibrationState(text)
    except ValueError:
        return default


def _exact(document: Mapping[str, Any], name: str, value: float) -> float:
    return float(document.get("exact", {}).get(name, value))


@dataclass
class _ViewParts:
    name: str
    channels: dict[str, DXImage]


def _group_views(images: Sequence[DXImage]) -> list[_ViewParts]:
    views: list[_ViewParts] = []
    foreign = 0
    for image in images:
        document, _ = _private(image)
        if document.get("kind") == "view":
            name, channel = document["view"], document["channel"]
        else:
            name, channel = "", _channel_from_role(image.image_type[1])
        if not name:
            shape = (int(image.Rows), int(image.Columns))
            target = next(
                (
                    v
                    for v in views
                    if v.name.startswith("view")
                    and channel not in v.channels
                    and (int(next(iter(v.channels.values())).Rows), int(next(iter(v.channels.values())).Columns))
                    == shape
                ),
                None,
            )
            if target is None:
                foreign += 1
                target = _ViewParts(f"view{foreign}", {})
                views.append(target)
            target.channels[channel] = image
            continue
        target = next((v for v in views if v.name == name), None)
        if target is None:
            target = _ViewParts(name, {})
            views.append(target)
        if channel in target.channels:
            raise CorruptFileError(f"view {name!r} has two instances of channel {channel!r}", path=image.path)
        target.channels[channel] = image
    return views


def _read_view(parts: _ViewParts) -> View:
    first = next(iter(parts.channels.values()))
    document, block = _private(first)
    declared = first.floats(0x00181164)
    spacing: list[float | None] = list(declared) if declared else [None, None]
    if len(spacing) != 2 or not all(v is None or (math.isfinite(v) and v > 0) for v in spacing):
        log.warning("%s: Imager Pixel Spacing %s is not two positive numbers; spacing unknown", first.path, spacing)
        spacing = [None, None]
    orientation = first.floats(0x00200037) or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    line_positions = None
    if block is not None and PRIVATE_LINE_POSITIONS in block:
        line_positions = _private_array(block, PRIVATE_LINE_POSITIONS, None, first.path)
    geometry = Geometry(
        detector_spacing_mm=None if spacing[0] is None else _exact(document, "detector_spacing_mm", spacing[0]),
        travel_spacing_mm=None if spacing[1] is None else _exact(document, "travel_spacing_mm", spacing[1]),
        travel_direction=TravelDirection.RIGHT_TO_LEFT if orientation[0] < 0 else TravelDirection.LEFT_TO_RIGHT,
        row_order=RowOrder.BOTTOM_UP if len(orientation) > 4 and orientation[4] < 0 else RowOrder.TOP_DOWN,
        line_positions_mm=line_positions,
    )
    channels: dict[str, np.ndarray] = {}
    references: dict[str, dict[str, np.ndarray]] = {"dark": {}, "air": {}, "reference": {}}
    calibration = None
    for channel, image in parts.channels.items():
        channels[channel] = image.pixels
        doc, channel_block = _private(image)
        for kind, offset in _PRIVATE_ARRAYS.items():
            spec = doc.get("arrays", {}).get(kind)
            if spec is not None:
                references[kind][channel] = _private_array(channel_block, offset, spec, image.path)
        if "calibration" in doc:
            calibration = CalibrationState(doc["calibration"])
        elif calibration is None and channel in MEASURED_CHANNELS:
            calibration = _calibration(image.text(0x00281054), CalibrationState.RAW)
    try:
        return View(
            parts.name,
            channels,
            geometry,
            calibration=calibration or CalibrationState.RAW,
            dark=references["dark"],
            air=references["air"],
            reference=references["reference"],
        )
    except ValidationError as error:
        raise CorruptFileError(f"view {parts.name!r}: {error.problem}", path=first.path) from error


def _read_volume(ct: CTImage, index: int) -> Volume:
    document, _ = _private(ct)
    positions = ct.positions_mm
    data = ct.volume
    if len(positions) != data.shape[0]:
        raise CorruptFileError(
            f"{len(positions)} per-frame positions for {data.shape[0]} frames (Per-Frame Functional Groups)",
            path=ct.path,
        )
    steps = np.diff(positions[:, 2])
    if len(steps) and np.all(steps < 0):
        data, positions, steps = data[::-1], positions[::-1], -steps[::-1]
    if len(steps) and not np.allclose(steps, steps.mean(), rtol=1e-3, atol=1e-6):
        log.warning("%s: slice positions are not evenly spaced; mean spacing used", ct.path)
    slice_spacing = float(steps.mean()) if len(steps) and steps.mean() > 0 else (ct.slice_thickness_mm or 1.0)
    row_spacing, column_spacing = ct.pixel_spacing_mm
    x0, y0, z0 = (float(v) for v in positions[0])
    channel = document.get("channel") or _channel_from_role(
        str(ct.ImageType[1]) if len(ct.get("ImageType", [])) > 1 else "HIGH ENERGY"
    )
    try:
        return Volume(
            name=document.get("volume") or f"volume{index}",
            data=data,
            spacing_mm=(
                _exact(document, "slice_spacing", slice_spacing),
                _exact(document, "row_spacing", row_spacing),
                _exact(document, "column_spacing", column_spacing),
            ),
            origin_mm=(
                _exact(document, "origin_z", z0),
                _exact(document, "origin_y", y0),
                _exact(document, "origin_x", x0),
            ),
            channel=channel,
            calibration=CalibrationState(document["calibration"])
            if "calibration" in document
            else _calibration(ct.rescale_type, CalibrationState.ATTENUATION),
        )
    except ValidationError as error:
        raise CorruptFileError(f"volume: {error.problem}", path=ct.path) from error


def _read_threats(
    reports: Sequence[ThreatReport], views: Sequence[View], instance_view: Mapping[str, str]
) -> list[Threat]:
    found: list[tuple[int, int, Threat]] = []
    for order, report in enumerate(reports):
        origin = {
            TDRType.OPERATOR: ThreatOrigin.OPERATOR,
            TDRType.GROUND_TRUTH: ThreatOrigin.GROUND_TRUTH,
        }.get(report.tdr_type, ThreatOrigin.MACHINE)
        algorithm = report.algorithm
        for pto in report.threats:
            view_name = next((instance_view[uid] for _, uid in pto.referenced_instances if uid in instance_view), None)
            if view_name is None:
                log.warning(
                    "%s: PTO %d references no DX image of the scan (threats on CT volumes are not modelled); skipped",
                    report.path,
                    pto.id,
                )
                continue
            found.append((pto.id, order, _threat(pto, view_name, views, origin, algorithm, report.path)))
    return [threat for _, _, threat in sorted(found, key=lambda entry: (entry[0], entry[1]))]


def _threat(
    pto: PotentialThreat,
    view_name: str,
    views: Sequence[View],
    origin: ThreatOrigin,
    algorithm: list[str],
    path: Path | None,
) -> Threat:
    rows, lines = next(v for v in views if v.name == view_name).shape
    x = min(max(round(pto.base[0]), 0), lines - 1)
    y = min(max(round(pto.base[1]), 0), rows - 1)
    width = min(max(round(pto.extents[0]), 1), lines - x)
    height = min(max(round(pto.extents[1]), 1), rows - y)
    mask = None
    if pto.bitmap is not None and pto.bitmap.shape[0] == 1 and pto.bitmap.shape[1:] == (height, width):
        mask = pto.bitmap[0]
    polygon = pto.polygon[:, :2] if pto.polygon is not None and len(pto.polygon) >= 3 else None
    document, block = _private(pto.private_item) if pto.private_item is not None else ({}, None)
    if block is not None and PRIVATE_POLYGON in block:
        polygon = _private_array(block, PRIVATE_POLYGON, None, path).reshape(-1, 2)
    probability = _exact(document, "probability", pto.probability)
    try:
        return Threat(
            view=view_name,
            box=Box(x, y, width, height),
            category=pto.category,
            assessment=pto.flag,
            probability=probability if probability >= 0 else None,
            origin=origin,
            algorithm=(algorithm[0] or None) if algorithm else None,
            algorithm_version=algorithm[1] if len(algorithm) > 1 else None,
            description=pto.description,
            polygon=polygon,
            mask=mask,
        )
    except ValidationError as error:
        raise CorruptFileError(f"PTO {pto.id}: {error.problem}", path=path) from error


def _identifiers_from(context: ScanContext) -> dict[str, Any]:
    values: dict[str, Any] = {"container_numbers": [], "licence_plate": None, "declaration": None, "identifier": None}
    pairs = list(context.ooi.alternate_ids)
    if not pairs and context.ooi.id not in ("", "unknown"):
        pairs = [(context.ooi.id, "IDENTIFIER")]
    for value, issuer in pairs:
        if issuer == _ID_ISSUERS[0]:
            values["container_numbers"].append(value)
        elif issuer == _ID_ISSUERS[1]:
            values["licence_plate"] = value
        elif issuer == _ID_ISSUERS[2]:
            values["declaration"] = value
        else:
            values["identifier"] = value
    return values


def instances_to_scan(
    images: Sequence[DXImage], volumes: Sequence[CTImage], reports: Sequence[ThreatReport], *, path: Path
) -> Scan:
    """Rebuild the scan from its DX, CT and TDR instances (all of one Scan Instance UID).

    Raises
    ------
    CorruptFileError
        The instances do not make a consistent scan.
    """
    first = (list(images) + list(volumes) + list(reports))[0]
    context = ScanContext.from_dataset(first, path=first.path or path)
    document, _ = _private(first)
    private = document.get("scan", {})
    parts = _group_views(images)
    views = [_read_view(part) for part in parts]
    energies: dict[str, float] = dict(private.get("energies_kv", {}))
    for part in parts:
        for channel, image in part.channels.items():
            doc, _ = _private(image)
            kvp = image.floats(0x00180060)
            if kvp and kvp[0] > 0:
                energies[channel] = _exact(doc, "kvp", kvp[0])
    for ct in volumes:
        doc, _ = _private(ct)
        if ct.kvp_kv > 0:
            energies[doc.get("channel") or _channel_from_role(str(ct.ImageType[1]))] = _exact(doc, "kvp", ct.kvp_kv)
    pitch = first.floats(0x00187022)
    speed = first.floats(0x00189309)
    equipment = context.equipment
    operator_identifier = private.get("operator_identifier")
    try:
        object_type = ObjectType(private.get("object_type") or str(context.ooi.type))
    except ValueError:
        object_type = ObjectType.OTHER
    try:
        scan = Scan(
            views=views,
            volumes=[_read_volume(ct, index) for index, ct in enumerate(volumes, start=1)],
            acquired_at=context.acquired_at,
            inspected_object=InspectedObject(
                type=object_type, description=context.ooi.comments, **_identifiers_from(context)
            ),
            scanner=Scanner(
                manufacturer=equipment.manufacturer or None,
                model=equipment.model or None,
                serial_number=equipment.serial_number or None,
                software_version=equipment.software_versions or None,
                source=private.get("source"),
                energies_kv=energies,
                detector_pitch_mm=_exact(document, "detector_pitch_mm", pitch[0]) if pitch else None,
                line_rate_hz=private.get("line_rate_hz"),
                speed_mm_s=speed[0] if speed and speed[0] > 0 else None,
            ),
            site=Site(
                name=equipment.machine_location or None,
                machine_id=equipment.machine_id or None,
                address=equipment.machine_address or None,
                country=private.get("country"),
            ),
            operator=Operator(operator_identifier or context.operator_name or "", context.operator_name)
            if operator_identifier or context.operator_name
            else None,
            scan_uid=context.scan_uid,
            frame_of_reference_uid=context.frame_of_reference_uid,
        )
        instance_view = {str(image.SOPInstanceUID): part.name for part in parts for image in part.channels.values()}
        scan.threats = _read_threats(reports, views, instance_view)
        scan.__post_init__()  # checks the threats against the views
    except ValidationError as error:
        raise CorruptFileError(error.problem, path=path) from error
    steps = tuple(
        ProcessingStep(
            name=step["name"],
            parameters=step["parameters"],
            software=step["software"],
            performed_at=_parse_iso(step["performed_at"]),
        )
        for step in private.get("steps", [])
    )
    scan.provenance = Provenance(steps=steps)
    return scan


def _parse_iso(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None

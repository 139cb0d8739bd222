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
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from pydicom.dataset import Dataset

from nii.errors import UnsupportedError
from nii.model import (
    CHANNEL_ROLES,
    MEASURED_CHANNELS,
    CalibrationState,
    InspectedObject,
    ObjectType,
    RowOrder,
    Scan,
    Threat,
    ThreatOrigin,
    TravelDirection,
    View,
    Volume,
)
from nii.volume_threats import VolumeThreat

from .common import UNKNOWN, Equipment, ObjectOfInspection, ScanContext
from .ct import CTImage
from .dictionary import (
    PRIVATE_LINE_POSITIONS,
    PRIVATE_METADATA,
    PRIVATE_POLYGON,
    OOIType,
    PresentationIntent,
    TDRType,
)
from .dx import DXImage
from .instance import DicosInstance
from .private import (
    ID_ISSUERS,
    PRIVATE_ARRAYS,
    PRIVATE_SCHEMA,
    ExactValues,
    add_private,
    new_private_block,
)
from .real_world import RealWorldValue
from .tdr import PotentialThreat, ThreatReport

__all__ = ["WriteOptions", "derived_uid", "scan_to_instances", "value_mapping"]

log = logging.getLogger(__name__)

_OOI_TYPES = {ObjectType.CARGO: OOIType.CARGO, ObjectType.BAGGAGE: OOIType.BAGGAGE}


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


# ----------------------------------------------------------------------------- writing


def _identifiers(obj: InspectedObject) -> list[tuple[str, str]]:
    pairs = [(number, ID_ISSUERS[0]) for number in obj.container_numbers]
    for value, issuer in zip((obj.licence_plate, obj.declaration, obj.identifier), ID_ISSUERS[1:], strict=True):
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
    # Without an identifier, the reference toolkit's own placeholder: it refuses an empty
    # OOI ID and an empty OOI ID Assigning Authority.
    primary, issuer = identifiers[0] if identifiers else (UNKNOWN, UNKNOWN)
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
        "steps": [step.to_dict() for step in scan.provenance.steps],
    }


_SCALES = {
    str(CalibrationState.TRANSMISSION): ("1", "no units", "TRANSMISSION", "transmission I/I0"),
    str(CalibrationState.ATTENUATION): ("1", "no units", "ATTENUATION", "attenuation -ln(I/I0)"),
    "steel_mm": ("mm", "millimeter", "STEEL_MM", "steel-equivalent thickness"),
    "zeff": ("1", "no units", "Z_EFFECTIVE", "effective atomic number"),
    "material": ("{class}", "material class", "MATERIAL", "nii material class code"),
    "pixel_flags": ("{flags}", "pixel flags", "PIXEL_FLAGS", "nii pixel flags: 1 starved, 2 saturated"),
}
"""Unit (UCUM), its meaning, label and explanation of each 16-bit representation of
:data:`nii.kernels.QUANTIZATION`."""


def value_mapping(channel: str, calibration: CalibrationState, dtype: np.dtype) -> RealWorldValue | None:
    """The physical scale of a 16-bit channel (None for raw counts and unknown quantities).

    Measured channels take their view's calibration; ``attenuation`` is always attenuation;
    ``steel_mm``, ``zeff`` and ``material`` their own scales.

    Examples
    --------
    >>> value_mapping("steel_mm", CalibrationState.RAW, np.dtype("u2")).slope
    0.1
    >>> value_mapping("high", CalibrationState.RAW, np.dtype("u2")) is None
    True
    """
    from nii.kernels.attenuation import QUANTIZATION  # here: the kernels load numba, a DICOS reader needs none

    if dtype != np.uint16:
        return None
    if channel in MEASURED_CHANNELS:
        key = str(calibration)
    elif channel == "attenuation":
        key = str(CalibrationState.ATTENUATION)
    else:
        key = channel
    if key not in _SCALES:
        return None
    unit, meaning, label, explanation = _SCALES[key]
    return RealWorldValue(
        slope=QUANTIZATION[key], unit=unit, unit_meaning=meaning, label=label, explanation=explanation
    )


def _image_type(channel: str) -> tuple[str, str]:
    return ("ORIGINAL" if channel in MEASURED_CHANNELS else "DERIVED", CHANNEL_ROLES.get(channel, "INTENSITY"))


def _little_endian(array: np.ndarray, what: str) -> np.ndarray:
    if array.dtype.kind not in "biuf":
        raise UnsupportedError(f"{what} has dtype {array.dtype}; only numeric arrays can be stored")
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


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
    images: list[tuple[str, str]] = []
    view_references: dict[str, list[tuple[str, str]]] = {}
    series_number = 0
    for view in scan.views:
        for channel in view.channels:
            series_number += 1
            image = _dx_image(scan, view, channel, context, options, scan_json, series_number)
            reference = (str(image.SOPClassUID), str(image.SOPInstanceUID))
            images.append(reference)
            view_references.setdefault(view.name, []).append(reference)
            yield f"dx-{view.name}-{channel}.dcs", image
    for volume in scan.volumes:
        series_number += 1
        ct = _ct_image(scan, volume, context, scan_json, series_number)
        images.append((str(ct.SOPClassUID), str(ct.SOPInstanceUID)))
        view_references[volume.name] = [images[-1]]  # names are unique across views and volumes
        yield f"ct-{volume.name}.dcs", ct
    images += [(ref.sop_class_uid, ref.sop_instance_uid) for ref in scan.referenced_images]
    for index, report in enumerate(_reports(scan, context, view_references, images, series_number), start=1):
        yield f"tdr-{index}.dcs", report


def _dx_image(
    scan: Scan,
    view: View,
    channel: str,
    context: ScanContext,
    options: WriteOptions,
    scan_json: str,
    series_number: int,
) -> DXImage:
    """The DX instance of one channel of a view, with nii's private block."""
    scanner = scan.scanner
    geometry = view.geometry
    pixels = view.channels[channel]
    travel = -1.0 if geometry.travel_direction is TravelDirection.RIGHT_TO_LEFT else 1.0
    down = -1.0 if geometry.row_order is RowOrder.BOTTOM_UP else 1.0
    exact = ExactValues()
    arrays = {
        offset: _little_endian(group[channel], f"{kind} of channel {channel!r} of view {view.name!r}")
        for kind, offset in PRIVATE_ARRAYS.items()
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
            (exact.ds("detector_pitch_mm", scanner.detector_pitch_mm),) * 2 if scanner.detector_pitch_mm else None
        ),
        belt_speed_mm_s=scanner.speed_mm_s or 0.0,
        orientation=(travel, 0.0, 0.0, 0.0, down, 0.0),
        intent=PresentationIntent.FOR_PRESENTATION if options.presentation else PresentationIntent.FOR_PROCESSING,
        window=_window(pixels, options),
        rescale_type=str(view.calibration) if channel in MEASURED_CHANNELS else "US",
        value_mapping=value_mapping(channel, view.calibration, pixels.dtype),
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
            for kind, offset in PRIVATE_ARRAYS.items()
            if offset in arrays
        },
        "exact": exact.values,
    }
    add_private(image, document, arrays, scan_json=scan_json)
    return image


def _ct_image(scan: Scan, volume: Volume, context: ScanContext, scan_json: str, series_number: int) -> CTImage:
    """The CT instance of one volume, with nii's private block."""
    exact = ExactValues()
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
            for name, value in zip(("slice_spacing", "row_spacing", "column_spacing"), volume.spacing_mm, strict=True)
        ),
        origin_mm=(exact.ds("origin_x", x0), exact.ds("origin_y", y0), exact.ds("origin_z", z0)),
        kvp_kv=exact.ds("kvp", scan.scanner.energies_kv.get(volume.channel, 0.0)),
        rescale_type=str(volume.calibration),
        value_mapping=value_mapping(volume.channel, volume.calibration, volume.data.dtype),
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
    add_private(ct, document, {}, scan_json=scan_json)
    return ct


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
    new_private_block(item, elements)
    return item


def _pto_assessment(threat: Threat | VolumeThreat, scan: Scan) -> dict[str, Any]:
    """The ATD assessment of a PTO; its processing times, which the model does not have, are the scan time."""
    return {
        "processing_start": scan.acquired_at,
        "processing_end": scan.acquired_at,
        "category": threat.category,
        "flag": threat.assessment,
        "probability": threat.probability if threat.probability is not None else -1.0,
        "description": threat.description,
    }


def _volume_pto(
    index: int, spatial: VolumeThreat, scan: Scan, references: Mapping[str, list[tuple[str, str]]]
) -> PotentialThreat:
    box = spatial.box
    return PotentialThreat(
        id=index,
        referenced_instances=tuple(
            references[spatial.volume]
            if spatial.volume is not None
            else [(ref.sop_class_uid, ref.sop_instance_uid) for ref in spatial.references]
        ),
        base=(box.x, box.y, box.z),
        extents=(box.width, box.height, box.depth),
        **_pto_assessment(spatial, scan),
        bitmap=spatial.mask,
        mass_g=spatial.mass,
        density=spatial.density,
    )


def _reports(
    scan: Scan,
    context: ScanContext,
    references: Mapping[str, list[tuple[str, str]]],
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
            referenced_instances=tuple(references[threat.view]),
            base=(box.x, box.y, 0),
            extents=(box.width, box.height, 1),
            **_pto_assessment(threat, scan),
            bitmap=threat.mask[None] if threat.mask is not None else None,
            polygon=polygon,
            private_item=_threat_private(threat),
        )
        groups.setdefault((threat.origin, threat.algorithm, threat.algorithm_version), []).append(pto)
    for index, spatial in enumerate(scan.volume_threats, start=len(scan.threats) + 1):
        groups.setdefault((spatial.origin, spatial.algorithm, spatial.algorithm_version), []).append(
            _volume_pto(index, spatial, scan, references)
        )
    if not groups and scan.referenced_images:  # a report that found nothing still says so (CLEAR)
        groups[(ThreatOrigin.MACHINE, None, None)] = []
    operator = (scan.operator.identifier, scan.operator.name) if scan.operator is not None else ("unknown", None)
    reports = []
    for number, ((origin, algorithm, version), threats) in enumerate(groups.items(), start=series_number + 1):
        # The reference needs a name and a version (for MACHINE reports): its placeholder when unknown.
        names = [algorithm or UNKNOWN, version or UNKNOWN]
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

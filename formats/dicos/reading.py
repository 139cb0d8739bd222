"""DICOS instances → the nii scan model (the inverse of :mod:`nii.formats.dicos.mapping`).

:func:`instances_to_scan` takes the standard attributes first and nii's private block
where DICOS has no home, so files from other writers read too: their DX instances are
grouped into views by shape (one channel per Image Type value 2), named ``view1``,
``view2``, ...
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nii.errors import CorruptFileError, ValidationError
from nii.model import (
    CHANNEL_ROLES,
    MEASURED_CHANNELS,
    Box,
    CalibrationState,
    Geometry,
    InspectedObject,
    ObjectType,
    Operator,
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
from nii.provenance import ProcessingStep, Provenance
from nii.volume_threats import Box3D, ImageReference, VolumeThreat

from .common import UNKNOWN, ScanContext
from .ct import CTImage
from .dictionary import PRIVATE_LINE_POSITIONS, PRIVATE_POLYGON, TDRType
from .dx import DXImage
from .private import (
    ID_ISSUERS,
    PRIVATE_ARRAYS,
    exact_value,
    private_array,
    private_document,
)
from .tdr import PotentialThreat, ThreatReport

__all__ = ["instances_to_scan", "view_instances"]

log = logging.getLogger(__name__)

_ROLE_TO_CHANNEL = {role: name for name, role in CHANNEL_ROLES.items()}


def _channel_from_role(image_type: str) -> str:
    return _ROLE_TO_CHANNEL.get(image_type.upper(), "single")


_MAPPED_CHANNELS = {
    "STEEL_MM": "steel_mm",
    "Z_EFFECTIVE": "zeff",
    "MATERIAL": "material",
    "PIXEL_FLAGS": "pixel_flags",
}
"""Derived channels named by the LUT Label of their Real World Value Mapping (as nii writes it)."""


def _channel_of(image: DXImage) -> str:
    """The channel of a DX without nii's private block: its value mapping's label, else its Image Type."""
    mapping = image.value_mapping
    if mapping is not None and mapping.label in _MAPPED_CHANNELS:
        return _MAPPED_CHANNELS[mapping.label]
    return _channel_from_role(image.image_type[1])


def _calibration(text: str, default: CalibrationState) -> CalibrationState:
    try:
        return CalibrationState(text)
    except ValueError:
        return default


@dataclass
class _ViewParts:
    name: str
    channels: dict[str, DXImage]


def _group_views(images: Sequence[DXImage]) -> list[_ViewParts]:
    views: list[_ViewParts] = []
    foreign = 0
    for image in images:
        document, _ = private_document(image)
        if document.get("kind") == "view":
            name, channel = document["view"], document["channel"]
        else:
            name, channel = "", _channel_of(image)
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
    document, block = private_document(first)
    declared = first.floats(0x00181164)
    spacing: list[float | None] = list(declared) if declared else [None, None]
    if len(spacing) != 2 or not all(v is None or (math.isfinite(v) and v > 0) for v in spacing):
        log.warning("%s: Imager Pixel Spacing %s is not two positive numbers; spacing unknown", first.path, spacing)
        spacing = [None, None]
    orientation = first.floats(0x00200037) or [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    line_positions = None
    if block is not None and PRIVATE_LINE_POSITIONS in block:
        line_positions = private_array(block, PRIVATE_LINE_POSITIONS, None, first.path)
    geometry = Geometry(
        detector_spacing_mm=None if spacing[0] is None else exact_value(document, "detector_spacing_mm", spacing[0]),
        travel_spacing_mm=None if spacing[1] is None else exact_value(document, "travel_spacing_mm", spacing[1]),
        travel_direction=TravelDirection.RIGHT_TO_LEFT if orientation[0] < 0 else TravelDirection.LEFT_TO_RIGHT,
        row_order=RowOrder.BOTTOM_UP if len(orientation) > 4 and orientation[4] < 0 else RowOrder.TOP_DOWN,
        line_positions_mm=line_positions,
    )
    channels: dict[str, np.ndarray] = {}
    references: dict[str, dict[str, np.ndarray]] = {"dark": {}, "air": {}, "reference": {}}
    calibration = None
    for channel, image in parts.channels.items():
        channels[channel] = image.pixels
        doc, channel_block = private_document(image)
        for kind, offset in PRIVATE_ARRAYS.items():
            spec = doc.get("arrays", {}).get(kind)
            if spec is not None:
                references[kind][channel] = private_array(channel_block, offset, spec, image.path)
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
    document, _ = private_document(ct)
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
                exact_value(document, "slice_spacing", slice_spacing),
                exact_value(document, "row_spacing", row_spacing),
                exact_value(document, "column_spacing", column_spacing),
            ),
            origin_mm=(
                exact_value(document, "origin_z", z0),
                exact_value(document, "origin_y", y0),
                exact_value(document, "origin_x", x0),
            ),
            channel=channel,
            calibration=CalibrationState(document["calibration"])
            if "calibration" in document
            else _calibration(ct.rescale_type, CalibrationState.ATTENUATION),
        )
    except ValidationError as error:
        raise CorruptFileError(f"volume: {error.problem}", path=ct.path) from error


_ORIGINS = {TDRType.OPERATOR: ThreatOrigin.OPERATOR, TDRType.GROUND_TRUTH: ThreatOrigin.GROUND_TRUTH}


def _attach_threats(
    scan: Scan, reports: Sequence[ThreatReport], instance_view: Mapping[str, str], instance_volume: Mapping[str, str]
) -> None:
    """The PTOs of the reports as the scan's threats (on views) and volume threats (on volumes,
    or on images the scan does not carry, which become its referenced images), in PTO ID order."""
    found: list[tuple[int, int, Threat | VolumeThreat]] = []
    referenced: dict[str, ImageReference] = {}
    for order, report in enumerate(reports):
        origin = _ORIGINS.get(report.tdr_type, ThreatOrigin.MACHINE)
        for sop_class, uid in report.referenced_scans:
            if uid not in instance_view and uid not in instance_volume:
                referenced.setdefault(uid, _reference(sop_class, uid, report.path))
        for pto in report.threats:
            uids = [uid for _, uid in pto.referenced_instances]
            view_name = next((instance_view[uid] for uid in uids if uid in instance_view), None)
            if view_name is not None:
                threat: Threat | VolumeThreat = _threat(
                    pto, view_name, scan.views, origin, report.algorithm, report.path
                )
            else:
                volume = next((instance_volume[uid] for uid in uids if uid in instance_volume), None)
                references = (
                    ()
                    if volume is not None
                    else tuple(_reference(c, i, report.path) for c, i in pto.referenced_instances)
                )
                for reference in references:
                    referenced.setdefault(reference.sop_instance_uid, reference)
                shape = scan.volume(volume).shape if volume is not None else None
                threat = _volume_threat(pto, volume, shape, references, origin, report.algorithm, report.path)
            found.append((pto.id, order, threat))
    ordered = [threat for _, _, threat in sorted(found, key=lambda entry: (entry[0], entry[1]))]
    scan.threats = [t for t in ordered if isinstance(t, Threat)]
    scan.volume_threats = [t for t in ordered if isinstance(t, VolumeThreat)]
    scan.referenced_images = list(referenced.values())


def _algorithm_name(algorithm: list[str]) -> str | None:
    """The algorithm's name: None when absent or the reference's placeholder ``unknown``."""
    return algorithm[0] if algorithm and algorithm[0] not in ("", UNKNOWN) else None


def _any_reference(reports: Sequence[ThreatReport], path: Path) -> list[ImageReference]:
    for report in reports:
        for sop_class, uid in report.referenced_scans + [r for pto in report.threats for r in pto.referenced_instances]:
            return [_reference(sop_class, uid, report.path)]
    raise CorruptFileError("the threat reports reference no image and the scan has none", path=path)


def _reference(sop_class: str, uid: str, path: Path | None) -> ImageReference:
    try:
        return ImageReference(sop_class, uid)
    except ValidationError as error:
        raise CorruptFileError(f"TDR reference: {error.problem}", path=path) from error


def _volume_threat(
    pto: PotentialThreat,
    volume: str | None,
    shape: tuple[int, int, int] | None,
    references: tuple[ImageReference, ...],
    origin: ThreatOrigin,
    algorithm: list[str],
    path: Path | None,
) -> VolumeThreat:
    """The PTO as a volume threat; on a volume of the scan, its box clipped to the volume."""
    x, y, z = (max(round(v), 0) for v in pto.base)
    width, height, depth = (max(round(v), 1) for v in pto.extents)
    if shape is not None:
        frames, rows, columns = shape
        x, y, z = min(x, columns - 1), min(y, rows - 1), min(z, frames - 1)
        width, height, depth = min(width, columns - x), min(height, rows - y), min(depth, frames - z)
    mask = pto.bitmap if pto.bitmap is not None and pto.bitmap.shape == (depth, height, width) else None
    try:
        return VolumeThreat(
            box=Box3D(x, y, z, width, height, depth),
            volume=volume,
            references=references,
            category=pto.category,
            assessment=pto.flag,
            probability=pto.probability if 0 <= pto.probability <= 1 else None,
            origin=origin,
            algorithm=_algorithm_name(algorithm),
            algorithm_version=algorithm[1] if len(algorithm) > 1 and algorithm[1] != UNKNOWN else None,
            description=pto.description,
            mass=pto.mass_g,
            density=pto.density,
            mask=mask,
        )
    except ValidationError as error:
        raise CorruptFileError(f"PTO {pto.id}: {error.problem}", path=path) from error


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
    document, block = private_document(pto.private_item) if pto.private_item is not None else ({}, None)
    if block is not None and PRIVATE_POLYGON in block:
        polygon = private_array(block, PRIVATE_POLYGON, None, path).reshape(-1, 2)
    probability = exact_value(document, "probability", pto.probability)
    try:
        return Threat(
            view=view_name,
            box=Box(x, y, width, height),
            category=pto.category,
            assessment=pto.flag,
            probability=probability if probability >= 0 else None,
            origin=origin,
            algorithm=_algorithm_name(algorithm),
            algorithm_version=algorithm[1] if len(algorithm) > 1 and algorithm[1] != UNKNOWN else None,
            description=pto.description,
            polygon=polygon,
            mask=mask,
        )
    except ValidationError as error:
        raise CorruptFileError(f"PTO {pto.id}: {error.problem}", path=path) from error


def _identifiers_from(context: ScanContext) -> dict[str, Any]:
    values: dict[str, Any] = {"container_numbers": [], "licence_plate": None, "declaration": None, "identifier": None}
    pairs = list(context.ooi.alternate_ids)
    if not pairs and context.ooi.id not in ("", UNKNOWN):
        pairs = [(context.ooi.id, "IDENTIFIER")]
    for value, issuer in pairs:
        if issuer == ID_ISSUERS[0]:
            values["container_numbers"].append(value)
        elif issuer == ID_ISSUERS[1]:
            values["licence_plate"] = value
        elif issuer == ID_ISSUERS[2]:
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
    document, _ = private_document(first)
    private = document.get("scan", {})
    parts = _group_views(images)
    views = [_read_view(part) for part in parts]
    energies: dict[str, float] = dict(private.get("energies_kv", {}))
    for part in parts:
        for channel, image in part.channels.items():
            doc, _ = private_document(image)
            kvp = image.floats(0x00180060)
            if kvp and kvp[0] > 0:
                energies[channel] = exact_value(doc, "kvp", kvp[0])
    for ct in volumes:
        doc, _ = private_document(ct)
        if ct.kvp_kv > 0:
            channel = doc.get("channel") or _channel_from_role(str(ct.ImageType[1]))
            energies[channel] = exact_value(doc, "kvp", ct.kvp_kv)
    pitch = first.floats(0x00187022)
    speed = first.floats(0x00189309)
    equipment = context.equipment
    operator_identifier = private.get("operator_identifier")
    try:
        object_type = ObjectType(private.get("object_type") or str(context.ooi.type))
    except ValueError:
        object_type = ObjectType.OTHER
    read_volumes = [_read_volume(ct, index) for index, ct in enumerate(volumes, start=1)]
    # A report read without its images: references stand in for them until the threats are attached.
    placeholder = _any_reference(reports, path) if not views and not volumes else []
    try:
        scan = Scan(
            views=views,
            referenced_images=placeholder,
            volumes=read_volumes,
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
                detector_pitch_mm=exact_value(document, "detector_pitch_mm", pitch[0]) if pitch else None,
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
        instance_volume = {str(ct.SOPInstanceUID): v.name for ct, v in zip(volumes, read_volumes, strict=True)}
        _attach_threats(scan, reports, instance_view, instance_volume)
        scan.__post_init__()  # checks the threats against the views and volumes
    except ValidationError as error:
        raise CorruptFileError(error.problem, path=path) from error
    steps = tuple(ProcessingStep.from_dict(step) for step in private.get("steps", []))
    scan.provenance = Provenance(steps=steps)
    return scan


def view_instances(images: Sequence[DXImage]) -> dict[str, list[tuple[str, str]]]:
    """``(SOP class, SOP instance)`` of each view's images, views named as :func:`instances_to_scan` names them."""
    return {
        part.name: [(str(image.SOPClassUID), str(image.SOPInstanceUID)) for image in part.channels.values()]
        for part in _group_views(images)
    }

"""Lossless flattening of a :class:`~nii.model.Scan` into JSON metadata plus named arrays.

Container formats (the ``.npz`` format, the NII HDF5 archive) store a scan as one JSON
document and a flat set of arrays keyed by path-like names::

    views/side/channels/high      views/side/dark/high      threats/0/mask      volumes/ct/data

:func:`scan_to_dict` and :func:`scan_from_dict` are the one implementation of that mapping,
so every container format round-trips every field the same way. ``nii info --json`` prints
the same document.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import numpy as np

from nii.errors import CorruptFileError, ValidationError
from nii.model import Box, Geometry, InspectedObject, Operator, Scan, Scanner, Site, Threat, View, Volume
from nii.provenance import ProcessingStep, Provenance
from nii.volume_threats import Box3D, ImageReference, VolumeThreat

__all__ = ["SCHEMA_VERSION", "scan_arrays", "scan_from_dict", "scan_to_dict"]

SCHEMA_VERSION = 1


_ASSESSMENT = ("category", "assessment", "probability", "origin", "algorithm", "algorithm_version", "description")
"""What a threat says about its object and who said it (view and volume threats alike)."""


def _assessment(threat: Threat | VolumeThreat) -> dict[str, Any]:
    return {
        name: value if value is None or isinstance(value, float) else str(value)
        for name in _ASSESSMENT
        for value in [getattr(threat, name)]
    }


def scan_to_dict(scan: Scan, *, include_personal: bool = True) -> dict[str, Any]:
    """The scan's metadata as JSON-compatible data; arrays appear by key and shape only.

    Parameters
    ----------
    scan
        The scan to describe.
    include_personal
        Include the operator (personal data). Off for displays and exports to third parties.
    """
    obj = scan.inspected_object
    scanner = scan.scanner
    result: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "scan_uid": scan.scan_uid,
        "frame_of_reference_uid": scan.frame_of_reference_uid,
        "acquired_at": scan.acquired_at.isoformat(),
        "inspected_object": {
            "type": str(obj.type),
            "container_numbers": list(obj.container_numbers),
            "licence_plate": obj.licence_plate,
            "declaration": obj.declaration,
            "identifier": obj.identifier,
            "description": obj.description,
        },
        "scanner": {
            "manufacturer": scanner.manufacturer,
            "model": scanner.model,
            "serial_number": scanner.serial_number,
            "software_version": scanner.software_version,
            "source": str(scanner.source) if scanner.source is not None else None,
            "energies_kv": dict(scanner.energies_kv),
            "detector_pitch_mm": scanner.detector_pitch_mm,
            "line_rate_hz": scanner.line_rate_hz,
            "speed_mm_s": scanner.speed_mm_s,
        },
        "site": {
            "name": scan.site.name,
            "machine_id": scan.site.machine_id,
            "address": scan.site.address,
            "country": scan.site.country,
        },
        "views": [_view_to_dict(view) for view in scan.views],
        "volumes": [_volume_to_dict(volume) for volume in scan.volumes],
        "threats": [_threat_to_dict(threat) for threat in scan.threats],
        "volume_threats": [_volume_threat_to_dict(spatial) for spatial in scan.volume_threats],
        "referenced_images": [[ref.sop_class_uid, ref.sop_instance_uid] for ref in scan.referenced_images],
        "provenance": {
            "source_path": scan.provenance.source_path,
            "source_format": scan.provenance.source_format,
            "reader_version": scan.provenance.reader_version,
            "steps": [step.to_dict() for step in scan.provenance.steps],
        },
    }
    if include_personal and scan.operator is not None:
        result["operator"] = {"identifier": scan.operator.identifier, "name": scan.operator.name}
    return result


def _view_to_dict(view: View) -> dict[str, Any]:
    geometry = view.geometry
    return {
        "name": view.name,
        "shape": list(view.shape),
        "calibration": str(view.calibration),
        "channels": {
            name: {"dtype": str(array.dtype), "key": f"views/{view.name}/channels/{name}"}
            for name, array in view.channels.items()
        },
        "dark": sorted(view.dark),
        "air": sorted(view.air),
        "reference": sorted(view.reference),
        "geometry": {
            "detector_spacing_mm": geometry.detector_spacing_mm,
            "travel_spacing_mm": geometry.travel_spacing_mm,
            "travel_direction": str(geometry.travel_direction),
            "row_order": str(geometry.row_order),
            "line_positions": geometry.line_positions_mm is not None,
        },
    }


def _volume_to_dict(volume: Volume) -> dict[str, Any]:
    return {
        "name": volume.name,
        "shape": list(volume.shape),
        "dtype": str(volume.data.dtype),
        "key": f"volumes/{volume.name}/data",
        "spacing_mm": list(volume.spacing_mm),
        "origin_mm": list(volume.origin_mm),
        "channel": volume.channel,
        "calibration": str(volume.calibration),
    }


def _threat_to_dict(threat: Threat) -> dict[str, Any]:
    return {
        "view": threat.view,
        "box": [threat.box.x, threat.box.y, threat.box.width, threat.box.height],
        **_assessment(threat),
        "polygon": threat.polygon.tolist() if threat.polygon is not None else None,
        "mask": threat.mask is not None,
    }


def _volume_threat_to_dict(spatial: VolumeThreat) -> dict[str, Any]:
    return {
        "volume": spatial.volume,
        "references": [[ref.sop_class_uid, ref.sop_instance_uid] for ref in spatial.references],
        "box": [getattr(spatial.box, name) for name in _BOX3D],
        **_assessment(spatial),
        "mass": spatial.mass,
        "density": spatial.density,
        "mask": spatial.mask is not None,
    }


def scan_arrays(scan: Scan) -> dict[str, np.ndarray]:
    """Every array of the scan under its key (the arrays themselves, not copies)."""
    arrays: dict[str, np.ndarray] = {}
    for view in scan.views:
        prefix = f"views/{view.name}"
        for group, mapping in (
            ("channels", view.channels),
            ("dark", view.dark),
            ("air", view.air),
            ("reference", view.reference),
        ):
            for name, array in mapping.items():
                arrays[f"{prefix}/{group}/{name}"] = array
        if view.geometry.line_positions_mm is not None:
            arrays[f"{prefix}/line_positions_mm"] = view.geometry.line_positions_mm
    for volume in scan.volumes:
        arrays[f"volumes/{volume.name}/data"] = volume.data
    for index, threat in enumerate(scan.threats):
        if threat.mask is not None:
            arrays[f"threats/{index}/mask"] = threat.mask
    for index, spatial in enumerate(scan.volume_threats):
        if spatial.mask is not None:
            arrays[f"volume_threats/{index}/mask"] = spatial.mask
    return arrays


_BOX3D = ("x", "y", "z", "width", "height", "depth")


def _volume_threats(entries: list[dict[str, Any]], get: Any) -> list[VolumeThreat]:
    """Volume threats of the document ("volume_threats" came after schema 1: older documents have none)."""
    return [
        VolumeThreat(
            box=Box3D(*t["box"]),
            volume=t["volume"],
            references=tuple(ImageReference(*ref) for ref in t["references"]),
            **{name: t[name] for name in _ASSESSMENT},
            mass=t["mass"],
            density=t["density"],
            mask=get(f"volume_threats/{index}/mask") if t["mask"] else None,
        )
        for index, t in enumerate(entries)
    ]


def _datetime(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _view_from_dict(entry: Mapping[str, Any], get: Callable[[str], np.ndarray]) -> View:
    name = entry["name"]
    prefix = f"views/{name}"
    g = entry["geometry"]
    geometry = Geometry(
        detector_spacing_mm=g["detector_spacing_mm"],
        travel_spacing_mm=g["travel_spacing_mm"],
        travel_direction=g["travel_direction"],
        row_order=g["row_order"],
        line_positions_mm=get(f"{prefix}/line_positions_mm") if g["line_positions"] else None,
    )
    return View(
        name=name,
        channels={ch: get(f"{prefix}/channels/{ch}") for ch in entry["channels"]},
        geometry=geometry,
        calibration=entry["calibration"],
        dark={ch: get(f"{prefix}/dark/{ch}") for ch in entry["dark"]},
        air={ch: get(f"{prefix}/air/{ch}") for ch in entry["air"]},
        reference={ch: get(f"{prefix}/reference/{ch}") for ch in entry["reference"]},
    )


def _volume_from_dict(entry: Mapping[str, Any], get: Callable[[str], np.ndarray]) -> Volume:
    return Volume(
        name=entry["name"],
        data=get(f"volumes/{entry['name']}/data"),
        spacing_mm=tuple(entry["spacing_mm"]),
        origin_mm=tuple(entry["origin_mm"]),
        channel=entry["channel"],
        calibration=entry["calibration"],
    )


def _threat_from_dict(index: int, entry: Mapping[str, Any], get: Callable[[str], np.ndarray]) -> Threat:
    return Threat(
        view=entry["view"],
        box=Box(*entry["box"]),
        **{name: entry[name] for name in _ASSESSMENT},
        polygon=np.asarray(entry["polygon"]) if entry["polygon"] is not None else None,
        mask=get(f"threats/{index}/mask") if entry["mask"] else None,
    )


def scan_from_dict(metadata: Mapping[str, Any], arrays: Mapping[str, np.ndarray], *, path: Any = None) -> Scan:
    """Rebuild a scan from :func:`scan_to_dict` output and :func:`scan_arrays` arrays.

    Raises
    ------
    CorruptFileError
        A key is missing or a value has the wrong type.
    ValidationError
        The values do not make a valid scan.
    """
    try:
        if metadata.get("schema") != SCHEMA_VERSION:
            raise CorruptFileError(f"unsupported metadata schema {metadata.get('schema')!r}", path=path)

        def get(key: str) -> np.ndarray:
            if key not in arrays:
                raise CorruptFileError(f"array {key!r} named in the metadata is missing", path=path)
            return arrays[key]

        views = [_view_from_dict(entry, get) for entry in metadata["views"]]
        # "volumes" came after schema 1 was first written: older documents have none.
        volumes = [_volume_from_dict(entry, get) for entry in metadata.get("volumes", [])]
        threats = [_threat_from_dict(index, entry, get) for index, entry in enumerate(metadata["threats"])]
        o, s, site, p = (metadata[k] for k in ("inspected_object", "scanner", "site", "provenance"))
        operator = metadata.get("operator")
        acquired_at = _datetime(metadata["acquired_at"])
        if acquired_at is None:
            raise CorruptFileError("scan time is missing", path=path)
        return Scan(
            views=views,
            volumes=volumes,
            acquired_at=acquired_at,
            inspected_object=InspectedObject(
                type=o["type"],
                container_numbers=tuple(o["container_numbers"]),
                licence_plate=o["licence_plate"],
                declaration=o["declaration"],
                identifier=o["identifier"],
                description=o["description"],
            ),
            scanner=Scanner(**s),
            site=Site(**site),
            operator=Operator(**operator) if operator else None,
            threats=threats,
            volume_threats=_volume_threats(metadata.get("volume_threats", []), get),
            referenced_images=[ImageReference(*ref) for ref in metadata.get("referenced_images", [])],
            scan_uid=metadata["scan_uid"],
            frame_of_reference_uid=metadata["frame_of_reference_uid"],
            provenance=Provenance(
                source_path=p["source_path"],
                source_format=p["source_format"],
                reader_version=p["reader_version"],
                steps=tuple(ProcessingStep.from_dict(step) for step in p["steps"]),
            ),
        )
    except ValidationError as error:
        raise ValidationError(error.problem, path=path) from error
    except (KeyError, TypeError, ValueError) as error:
        raise CorruptFileError(f"malformed scan metadata: {type(error).__name__}: {error}", path=path) from error

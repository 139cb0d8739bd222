"""Pieces shared by the reference vendor formats (``ref-*``): metadata fields, checks, warnings.

The text-based formats (XML header, TIFF JSON, HDF5 attributes) store the same metadata
fields under the same names; this module is the one mapping between those fields and the
scan model. Absent fields stay ``None`` on reading: nothing is guessed.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import fields
from datetime import datetime
from typing import Any

import numpy as np

from nii.errors import CorruptFileError, UnsupportedError, ValidationError
from nii.model import Geometry, InspectedObject, Scan, Scanner, Site, View

log = logging.getLogger("nii.formats")

OBJECT_FIELDS = ("type", "container_numbers", "licence_plate", "declaration", "identifier", "description")
SCANNER_FIELDS = (
    "manufacturer",
    "model",
    "serial_number",
    "software_version",
    "source",
    "detector_pitch_mm",
    "line_rate_hz",
    "speed_mm_s",
)
SITE_FIELDS = tuple(field.name for field in fields(Site))
GEOMETRY_FIELDS = ("detector_spacing_mm", "travel_spacing_mm", "travel_direction", "row_order")
_FLOAT_FIELDS = {"detector_pitch_mm", "line_rate_hz", "speed_mm_s", "detector_spacing_mm", "travel_spacing_mm"}


def _plain(value: Any) -> Any:
    if hasattr(value, "value"):  # enumerations are stored by value
        return str(value)
    if isinstance(value, tuple):
        return list(value)
    return value


def metadata_fields(scan: Scan) -> dict[str, dict[str, Any]]:
    """The object, scanner and site of ``scan`` as plain values, known fields only.

    Energies are per channel and stored with the channels, not here.
    """
    groups = (
        ("object", scan.inspected_object, OBJECT_FIELDS),
        ("scanner", scan.scanner, SCANNER_FIELDS),
        ("site", scan.site, SITE_FIELDS),
    )
    return {
        group: {name: _plain(getattr(source, name)) for name in names if getattr(source, name) not in (None, ())}
        for group, source, names in groups
    }


def _value(name: str, value: Any) -> Any:
    if name in _FLOAT_FIELDS:
        return float(value)
    if name == "container_numbers":
        return tuple(value.split()) if isinstance(value, str) else tuple(str(v) for v in value)
    return str(value)


def _select(fields: Mapping[str, Any], names: tuple[str, ...]) -> dict[str, Any]:
    return {name: _value(name, fields[name]) for name in names if name in fields}


def metadata_from_fields(
    groups: Mapping[str, Mapping[str, Any]], energies_kv: Mapping[str, float]
) -> tuple[InspectedObject, Scanner, Site]:
    """Inverse of :func:`metadata_fields`; strings are converted (``"5.0"`` → 5.0).

    Raises ``ValueError`` on an unconvertible value and ``ValidationError`` on a value the
    model refuses; call it inside :func:`reading`.
    """
    return (
        InspectedObject(**_select(groups.get("object", {}), OBJECT_FIELDS)),
        Scanner(**_select(groups.get("scanner", {}), SCANNER_FIELDS), energies_kv=energies_kv),
        Site(**_select(groups.get("site", {}), SITE_FIELDS)),
    )


def geometry_fields(view: View) -> dict[str, Any]:
    """Spacing and orientation of ``view`` as plain values (line positions excluded)."""
    values = {name: _plain(getattr(view.geometry, name)) for name in GEOMETRY_FIELDS}
    return {name: value for name, value in values.items() if value is not None}  # unknown spacing stays unwritten


def geometry_from_fields(fields: Mapping[str, Any], line_positions_mm: np.ndarray | None = None) -> Geometry:
    """Inverse of :func:`geometry_fields`; missing orientations are corrupt, missing spacings unknown."""
    return Geometry(
        **{name: _value(name, fields[name]) for name in GEOMETRY_FIELDS if name in fields or "spacing" not in name},
        line_positions_mm=line_positions_mm,
    )


def parse_time(text: str) -> datetime:
    """An ISO 8601 date-time with its offset (the model refuses naive ones)."""
    return datetime.fromisoformat(text)


@contextmanager
def reading(path: str | os.PathLike[str], format_name: str) -> Iterator[None]:
    """Turn model and parsing errors raised while building a scan into errors naming ``path``."""
    try:
        yield
    except ValidationError as error:
        if error.path is not None:
            raise
        raise ValidationError(error.problem, path=path) from error
    except (KeyError, TypeError, ValueError, OverflowError) as error:  # OverflowError: a date past year 9999
        what = f"missing field {error}" if isinstance(error, KeyError) else str(error)
        raise CorruptFileError(f"{format_name} metadata: {what}", path=path) from error


def unique_names(names: list[str], what: str, path: str | os.PathLike[str]) -> list[str]:
    """``names``, or CorruptFileError when one repeats (a dict of channels would silently drop it)."""
    if len(set(names)) != len(names):
        raise CorruptFileError(f"{what} lists channels {names}: a name repeats", path=path)
    return names


def warn_unstored(scan: Scan, format_name: str, path: str | os.PathLike[str], *, stores: set[str]) -> None:
    """Log what ``scan`` holds that ``format_name`` cannot store (it is not written).

    ``stores`` names what the format keeps among: ``dark``, ``air``, ``reference``,
    ``line_positions``, ``threats``, ``threat_polygons``, ``threat_masks``, ``operator``, ``processing``, ``uid``,
    ``address``, ``declaration``, ``identifier``, ``description``.
    """
    present = {
        "dark": any(view.dark for view in scan.views),
        "air": any(view.air for view in scan.views),
        "reference": any(view.reference for view in scan.views),
        "line_positions": any(view.geometry.line_positions_mm is not None for view in scan.views),
        "threats": bool(scan.threats),
        "threat_polygons": any(threat.polygon is not None for threat in scan.threats),
        "threat_masks": any(threat.mask is not None for threat in scan.threats),
        "operator": scan.operator is not None,
        "processing": bool(scan.provenance.steps),
        "uid": True,
        "address": scan.site.address is not None,
        "declaration": scan.inspected_object.declaration is not None,
        "identifier": scan.inspected_object.identifier is not None,
        "description": scan.inspected_object.description is not None,
    }
    lost = sorted(name for name, there in present.items() if there and name not in stores)
    if lost:
        log.warning("%s: %s does not store %s; not written", path, format_name, ", ".join(lost))


def require_integers(
    view: View, format_name: str, path: str | os.PathLike[str], *, maximum: int
) -> dict[str, np.ndarray]:
    """The channels of ``view`` as uint16, or UnsupportedError if a value is not an integer in 0..maximum."""
    channels = {}
    for name, channel in view.channels.items():
        array = np.asarray(channel)
        if array.dtype.kind not in "ui":
            raise UnsupportedError(
                f"{format_name} stores integer pixels; channel {name!r} of view {view.name!r} is {array.dtype}",
                path=path,
            )
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > maximum:
            raise UnsupportedError(
                f"{format_name} stores pixels 0..{maximum}; channel {name!r} of view {view.name!r} holds {low}..{high}",
                path=path,
            )
        channels[name] = array.astype(np.uint16, copy=False)
    return channels


def counts(array: np.ndarray, what: str, format_name: str, path: str | os.PathLike[str]) -> np.ndarray:
    """``array`` as uint16 counts, or UnsupportedError when a value is not a whole number in 0..65535."""
    values = np.asarray(array)
    with np.errstate(invalid="ignore"):  # NaN and out-of-range values are caught by the comparison
        as_counts = values.astype(np.uint16)
    if not np.array_equal(as_counts, values):
        raise UnsupportedError(
            f"{format_name} stores {what} as 16-bit counts; the values are not whole numbers in 0..65535",
            path=path,
        )
    return as_counts


def finite_or_none(value: float) -> float | None:
    """Binary headers mark unknown numbers with NaN."""
    return float(value) if math.isfinite(value) else None

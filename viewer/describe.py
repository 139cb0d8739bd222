"""What the client needs to know of a scan, a display and a pixel, as JSON-ready data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from nii.errors import ConfigurationError, NiiError
from nii.kernels import CONVENTIONAL_PALETTE, MaterialClass
from nii.metadata import scan_to_dict
from nii.model import Geometry, Scan, View
from nii.render import Quantity, Renderer, RenderOptions
from nii.viewer.catalogue import OpenScan
from nii.viewer.tiles import TILE, Display, finite, picture_to_samples, renderer

__all__ = ["describe_display", "describe_scan", "readout"]


def describe_scan(opened: OpenScan) -> dict[str, Any]:
    """Views, channels and metadata of a scan (personal data left out)."""
    scan, entry = opened.scan, opened.entry
    metadata = scan_to_dict(scan, include_personal=False)
    views = [
        {
            "name": view.name,
            "rows": view.shape[0],
            "lines": view.shape[1],
            "channels": view.channel_names,
            "calibration": str(view.calibration),
            "detector_spacing_mm": view.geometry.detector_spacing_mm,
            "travel_spacing_mm": view.geometry.travel_spacing_mm,
        }
        for view in scan.views
    ]
    return {
        "id": entry.id,
        "label": entry.label,
        "group": entry.group,
        "format": entry.format,
        "can_annotate": entry.is_dicos_folder,
        "views": views,
        "threat_count": len(scan.threats),
        "quantities": [str(q) for q in Quantity],
        "categories": ["ANOMALY", "CONTRABAND", "EXPLOSIVE", "LAPTOP", "OTHER", "PHARMACEUTICAL", "PI"],
        "metadata": {
            "acquired_at": metadata.get("acquired_at"),
            "object": metadata.get("inspected_object"),
            "scanner": metadata.get("scanner"),
            "site": metadata.get("site"),
            "provenance": metadata.get("provenance"),
        },
    }


def describe_display(opened: OpenScan, display: Display) -> dict[str, Any]:
    """The picture a display gives: size, zoom levels, pixel size, window, unit, threat boxes, legend."""
    prepared = renderer(opened, display)
    rows, columns = prepared.shape(0)
    threats = [
        {
            "x0": box[0],
            "y0": box[1],
            "x1": box[2] + 1,
            "y1": box[3] + 1,
            "category": str(threat.category),
            "assessment": str(threat.assessment),
            "alarm": threat.assessment.is_alarm,
            "probability": threat.probability,
            "origin": str(threat.origin),
            "algorithm": threat.algorithm,
            "description": threat.description,
        }
        for threat, box in prepared.threat_boxes(prepared.base_pixel_mm)
    ]
    legend = []
    if prepared.quantity is Quantity.MATERIAL or display.options.strip is not None:
        legend = [
            {"name": member.name.lower().replace("_", " "), "colour": "#" + bytes(CONVENTIONAL_PALETTE[m]).hex()}
            for m, member in enumerate(MaterialClass)
            if member is not MaterialClass.UNKNOWN
        ]
    return {
        "view": prepared.view.name,
        "width": columns,
        "height": rows,
        "tile": TILE,
        "levels": prepared.levels,
        "pixel_mm": list(prepared.base_pixel_mm),
        "quantity": str(prepared.quantity),
        "channel": prepared.channel,
        "unit": prepared.quantity.unit,
        "window": [prepared.window.low, prepared.window.high],
        "invert": prepared.invert,
        "threats": threats,
        "legend": legend,
    }


NEIGHBOURHOOD = 8
"""Samples on each side of the cursor from which the readout computes the quantities the picture does not
show (material classes are smoothed over a few samples, so one sample alone would not give the picture's
class). The per-line source normalisation then comes from these lines only: values agree with the whole
view's to about 0.1 %."""


def _oriented_index(view: View, row: int, line: int) -> tuple[int, int]:
    """Where a view sample is in the canonically oriented arrays of a renderer."""
    rows, lines = view.shape
    geometry = view.geometry
    return (
        rows - 1 - row if geometry.row_order.value == "BOTTOM_UP" else row,
        lines - 1 - line if geometry.travel_direction.value == "RIGHT_TO_LEFT" else line,
    )


def _neighbourhood(scan: Scan, view: View, row: int, line: int) -> tuple[Scan, int, int]:
    """A scan of the samples around ``(row, line)`` (canonical geometry) and the sample's place in it."""
    rows, lines = view.shape
    r0, r1 = max(0, row - NEIGHBOURHOOD), min(rows, row + NEIGHBOURHOOD + 1)
    c0, c1 = max(0, line - NEIGHBOURHOOD), min(lines, line + NEIGHBOURHOOD + 1)
    geometry = view.geometry
    part = View(
        view.name,
        {name: np.asarray(channel[r0:r1, c0:c1]) for name, channel in view.channels.items()},
        Geometry(geometry.detector_spacing_mm, geometry.travel_spacing_mm),
        calibration=view.calibration,
        dark={name: np.asarray(array)[r0:r1] for name, array in view.dark.items()},
        air={name: np.asarray(array)[r0:r1] for name, array in view.air.items()},
        reference={name: np.asarray(array)[c0:c1] for name, array in view.reference.items()},
    )
    return Scan([part], acquired_at=scan.acquired_at, scanner=scan.scanner), row - r0, line - c0


def _value_at(part: Scan, quantity: Quantity, channel: str, row: int, line: int) -> float | None:
    """A quantity at one sample of the neighbourhood scan, ``None`` when the scan cannot give it."""
    try:
        prepared = Renderer(part, options=RenderOptions(quantity=quantity, channel=channel, crop=False))
    except NiiError:
        return None
    return finite(float(prepared.values[row, line]))


def readout(opened: OpenScan, query: Mapping[str, str]) -> dict[str, Any]:
    """Values under the cursor at finest-picture coordinates ``x``, ``y`` of a display.

    Raw stored values of every channel, attenuation of the display's channel, steel-equivalent mm and
    material class (``None`` where the scan cannot give them), and the position in mm. The displayed
    quantity is read from the picture's values; the others from the samples around the cursor
    (:data:`NEIGHBOURHOOD`), so that hovering never prepares a whole view.
    """
    display = Display.from_query(query)
    prepared = renderer(opened, display)
    try:
        x, y = float(query.get("x", "")), float(query.get("y", ""))
    except ValueError:
        raise ConfigurationError("x and y must be numbers") from None
    row, line = picture_to_samples(prepared, x, y)
    view = prepared.view
    part, local_row, local_line = _neighbourhood(opened.scan, view, row, line)

    def value(quantity: Quantity) -> float | None:
        if quantity is prepared.quantity:  # the picture's own values, exactly
            return finite(float(prepared.values[_oriented_index(view, row, line)]))
        return _value_at(part, quantity, prepared.channel, local_row, local_line)

    material = value(Quantity.MATERIAL)
    return {
        "row": row,
        "line": line,
        "x_mm": x * prepared.base_pixel_mm[1],
        "y_mm": y * prepared.base_pixel_mm[0],
        "raw": {name: finite(float(channel[row, line])) for name, channel in view.channels.items()},
        "attenuation": value(Quantity.ATTENUATION),
        "steel_mm": value(Quantity.STEEL),
        "material": MaterialClass(int(material)).name.lower().replace("_", " ") if material is not None else None,
        "channel": prepared.channel,
    }

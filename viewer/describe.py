"""What the client needs to know of a scan, a display and a pixel, as JSON-ready data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from nii.kernels import CONVENTIONAL_PALETTE, MaterialClass
from nii.viewer.catalogue import OpenScan
from nii.viewer.tiles import TILE, Display, finite, picture_to_samples, renderer

from nii.errors import ConfigurationError, NiiError
from nii.metadata import scan_to_dict
from nii.render import Quantity, RenderOptions

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


def _value_at(opened: OpenScan, display: Display, row: int, line: int) -> float | None:
    """The display's quantity at a view sample, ``None`` when the scan cannot give it."""
    try:
        prepared = renderer(opened, display)
    except NiiError:
        return None
    rows, lines = prepared.view.shape
    geometry = prepared.view.geometry
    oriented_row = rows - 1 - row if geometry.row_order.value == "BOTTOM_UP" else row
    oriented_line = lines - 1 - line if geometry.travel_direction.value == "RIGHT_TO_LEFT" else line
    return finite(float(prepared.values[oriented_row, oriented_line]))


def readout(opened: OpenScan, query: Mapping[str, str]) -> dict[str, Any]:
    """Values under the cursor at finest-picture coordinates ``x``, ``y`` of a display.

    Raw stored values of every channel, attenuation of the display's channel, steel-equivalent mm and
    material class (``None`` where the scan cannot give them), and the position in mm.
    """
    display = Display.from_query(query)
    prepared = renderer(opened, display)
    try:
        x, y = float(query.get("x", "")), float(query.get("y", ""))
    except ValueError:
        raise ConfigurationError("x and y must be numbers") from None
    row, line = picture_to_samples(prepared, x, y)
    view = prepared.view

    def sibling(quantity: str) -> Display:
        return Display(display.view, RenderOptions(quantity=Quantity(quantity), channel=prepared.channel))

    material = _value_at(opened, sibling("material"), row, line)
    return {
        "row": row,
        "line": line,
        "x_mm": x * prepared.base_pixel_mm[1],
        "y_mm": y * prepared.base_pixel_mm[0],
        "raw": {name: finite(float(channel[row, line])) for name, channel in view.channels.items()},
        "attenuation": _value_at(opened, sibling("attenuation"), row, line),
        "steel_mm": _value_at(opened, sibling("steel"), row, line),
        "material": MaterialClass(int(material)).name.lower().replace("_", " ") if material is not None else None,
        "channel": prepared.channel,
    }

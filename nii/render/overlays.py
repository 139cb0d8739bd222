"""Overlays of :mod:`nii.render`: threat boxes with category and probability, the scale bar and the legend band."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

from nii.kernels import MaterialClass, MaterialTable
from nii.model import Threat
from nii.render.quantities import Quantity, Window

__all__ = ["THREAT_COLOUR", "draw_threats", "with_band"]

THREAT_COLOUR = (255, 0, 0)
"""RGB of threat boxes and their labels."""

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_SCALE = 0.4
_BAND_ROWS = 24


def _threat_label(threat: Threat) -> str:
    probability = f" {round(100 * threat.probability)}%" if threat.probability is not None else ""
    return f"{threat.category}{probability}"


def draw_threats(
    image: np.ndarray, boxes: Sequence[tuple[Threat, tuple[int, int, int, int]]], offset: tuple[int, int]
) -> None:
    """Threat boxes (2 px, red, inside the box's edge) with category and probability above each.

    ``boxes`` are in picture pixels ``(x0, y0, x1, y1)``, inclusive; ``offset`` is the ``(row, column)``
    of ``image`` in the picture, so a tile shows exactly its part of the boxes.
    """
    row0, column0 = offset
    for threat, (x0, y0, x1, y1) in boxes:
        corner, opposite = (x0 - column0, y0 - row0), (x1 - column0, y1 - row0)
        cv2.rectangle(image, corner, opposite, THREAT_COLOUR, 1, cv2.LINE_8)
        if x1 - x0 >= 2 and y1 - y0 >= 2:
            cv2.rectangle(image, (corner[0] + 1, corner[1] + 1), (opposite[0] - 1, opposite[1] - 1), THREAT_COLOUR, 1)
        below = y0 < 12  # no room above the box: write inside its top
        origin = (corner[0], corner[1] + 11 if below else corner[1] - 3)
        cv2.putText(image, _threat_label(threat), origin, _FONT, _FONT_SCALE, THREAT_COLOUR, 1, cv2.LINE_8)


def _nice_length(mm: float) -> float:
    """The largest 1, 2 or 5 × 10^k mm not above ``mm``."""
    power = 10.0 ** math.floor(math.log10(mm))
    return max(step * power for step in (1.0, 2.0, 5.0) if step * power <= mm)


def _length_text(mm: float) -> str:
    return f"{mm / 1000:g} m" if mm >= 1000 else (f"{mm / 10:g} cm" if mm >= 10 else f"{mm:g} mm")


def with_band(
    image: np.ndarray,
    *,
    pixel: tuple[float, float],
    scale_bar: bool,
    legend: tuple[Quantity, Window, bool] | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """The picture with a white band below holding the scale bar and the legend, if asked for.

    ``legend`` is the quantity, its window and whether it is inverted.
    """
    if not (scale_bar or legend):
        return image, ()
    band = np.full((_BAND_ROWS, image.shape[1], 3), 255, np.uint8)
    drawn: list[str] = []
    x = 6
    if scale_bar:
        length = _nice_length(max(pixel[1], 0.25 * image.shape[1] * pixel[1]))
        bar = max(1, round(length / pixel[1]))
        cv2.rectangle(band, (x, 14), (x + bar - 1, 17), (0, 0, 0), -1)
        cv2.putText(band, _length_text(length), (x, 11), _FONT, _FONT_SCALE, (0, 0, 0), 1, cv2.LINE_AA)
        x += bar + 16
        drawn.append("scale bar")
    if legend is not None:
        _draw_legend(band, *legend, x)
        drawn.append("legend")
    return np.concatenate([image, band]), tuple(drawn)


def _draw_legend(band: np.ndarray, quantity: Quantity, window: Window, invert: bool, x: int) -> None:
    """Material classes as colour swatches, or the window with its unit."""
    black = (0, 0, 0)
    if quantity is Quantity.MATERIAL:
        palette = MaterialTable().palette
        for member in MaterialClass:
            colour = tuple(int(c) for c in palette[member])
            cv2.rectangle(band, (x, 8), (x + 10, 18), colour, -1)
            cv2.rectangle(band, (x, 8), (x + 10, 18), black, 1)
            name = member.name.lower().replace("_", " ")
            cv2.putText(band, name, (x + 14, 17), _FONT, _FONT_SCALE, black, 1, cv2.LINE_AA)
            x += 14 + cv2.getTextSize(name, _FONT, _FONT_SCALE, 1)[0][0] + 10
        return
    if quantity is Quantity.ZEFF:
        text = f"zeff [Z]: {window.low:.4g}"
        cv2.putText(band, text, (x, 17), _FONT, _FONT_SCALE, black, 1, cv2.LINE_AA)
        x += cv2.getTextSize(text, _FONT, _FONT_SCALE, 1)[0][0] + 4
        ramp = cv2.applyColorMap(np.linspace(0, 255, 100).astype(np.uint8)[None, :], cv2.COLORMAP_TURBO)[:, :, ::-1]
        band[8:18, x : x + 100] = ramp[:, : band.shape[1] - x]
        cv2.putText(band, f"{window.high:.4g}", (x + 104, 17), _FONT, _FONT_SCALE, black, 1, cv2.LINE_AA)
        return
    low, high = ("white", "black") if invert else ("black", "white")
    text = f"{quantity} [{quantity.unit}]: {window.low:.4g} {low} .. {window.high:.4g} {high}"
    cv2.putText(band, text, (x, 17), _FONT, _FONT_SCALE, black, 1, cv2.LINE_AA)

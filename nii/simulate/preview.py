"""Preview images of raw scans: a quick dark/air/reference correction, log scaling, threat boxes.

For looking at simulated data (and any RAW scan with its references), not for analysis:
the correction is the textbook one, ``(I - dark) / (air - dark) / reference``, with the
references averaged over their lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from nii.errors import UnsupportedError
from nii.io import atomic_output
from nii.model import CalibrationState, Scan, Threat, View

__all__ = ["preview_image", "view_transmission", "write_preview"]

_DARKEST = 1e-4
"""Transmission shown black."""


def view_transmission(view: View, channel: str) -> np.ndarray:
    """I/I0 of one channel of a RAW view from its dark, air and reference values (float32).

    Elements whose air and dark levels do not differ (dead) read 1.
    """
    if view.calibration is not CalibrationState.RAW or channel not in view.dark or channel not in view.air:
        raise UnsupportedError(f"view {view.name!r}: a preview needs RAW counts with dark and air references")
    counts = view.channels[channel].astype(np.float32)
    dark = np.asarray(view.dark[channel], dtype=np.float32).reshape(counts.shape[0], -1).mean(axis=1)
    air = np.asarray(view.air[channel], dtype=np.float32).reshape(counts.shape[0], -1).mean(axis=1)
    span = air - dark
    live = span > 1.0
    result = np.ones_like(counts)
    result[live] = (counts[live] - dark[live, None]) / span[live, None]
    if channel in view.reference:
        result /= np.asarray(view.reference[channel], dtype=np.float32)[None, :]
    return result


def preview_image(scan: Scan, threats: Sequence[Threat] = (), *, max_width: int = 1600) -> np.ndarray:
    """An 8-bit BGR picture of every view (stacked), with threat boxes drawn in red.

    The first of ``high``, ``single`` or any channel is shown, log-scaled from air (white)
    to a transmission of 1e-4 (black), resampled to square pixels in millimetres.
    """
    panels = []
    for view in scan.views:
        channel = next((c for c in ("high", "single") if c in view.channels), view.channel_names[0])
        transmission = np.clip(view_transmission(view, channel), _DARKEST, 1.0)
        gray = (255.0 * (1.0 - np.log(transmission) / np.log(_DARKEST))).astype(np.uint8)
        rows, lines = gray.shape
        geometry = view.geometry
        width_mm, height_mm = lines * geometry.travel_spacing_mm, rows * geometry.detector_spacing_mm
        width = min(max_width, lines)
        height = max(1, round(width * height_mm / width_mm))
        image = cv2.cvtColor(cv2.resize(gray, (width, height), interpolation=cv2.INTER_AREA), cv2.COLOR_GRAY2BGR)
        sx, sy = width / lines, height / rows
        for threat in threats:
            if threat.view == view.name:
                box = threat.box
                corner = (int(box.x * sx), int(box.y * sy))
                opposite = (int((box.x + box.width) * sx), int((box.y + box.height) * sy))
                cv2.rectangle(image, corner, opposite, (0, 0, 255), 2)
        panels.append(image)
    width = max(panel.shape[1] for panel in panels)
    separator = np.full((8, width, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
    stacked = [part for panel in padded for part in (panel, separator)][:-1]
    return np.concatenate(stacked)


def write_preview(image: np.ndarray, path: str | Path) -> Path:
    """Write an image as PNG, atomically."""
    path = Path(path)
    ok, encoded = cv2.imencode(".png", image)
    if not ok:
        raise UnsupportedError("PNG encoding failed", path=path)
    with atomic_output(path) as temporary:
        temporary.write_bytes(encoded.tobytes())
    return path

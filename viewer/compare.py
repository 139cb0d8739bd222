"""Two scans of one object side by side: registered, then shown in one frame.

The second scan's attenuation is registered onto the first's (:func:`nii.kernels.register`, affine,
air and photon-starved pixels masked), warped into the first's pixel grid and matched in intensity,
so both pictures share one geometry and pan and zoom stay in step. Difference and checkerboard are
computed on the registered pair (:func:`nii.kernels.signed_difference`,
:func:`nii.kernels.checkerboard`); flicker is the client alternating the two layers. Every picture
is rendered by :class:`nii.render.Renderer` from a one-view scan holding the registered values.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from nii.errors import ConfigurationError
from nii.kernels import checkerboard, match_intensity, register, signed_difference, valid_mask
from nii.model import CalibrationState, Geometry, Scan, View
from nii.render import AIR_ATTENUATION, Quantity, Renderer, RenderOptions
from nii.viewer.catalogue import OpenScan
from nii.viewer.tiles import Display, TileSpec, renderer

__all__ = ["MODES", "PairCache", "PairResult", "pair_tile"]

MODES = ("reference", "moving", "difference", "checkerboard")
CHECKER_PX = 64
"""Checkerboard square side in samples of the first scan."""
STARVED = 13.0
"""Attenuation above which pixels carry no structure (left out of the registration)."""
DIFFERENCE_WINDOW = "-1,1"
"""Default window of the difference picture: attenuation from −1 (black) to +1 (white); 0 is mid grey."""


def _attenuation(opened: OpenScan, view: str, channel: str | None) -> Renderer:
    return renderer(opened, Display(view, RenderOptions(quantity=Quantity.ATTENUATION, channel=channel, crop=False)))


def _one_view_scan(source: Renderer, values: np.ndarray) -> Scan:
    """A scan of one canonically oriented attenuation view with the source's pixel spacing."""
    geometry = source.view.geometry
    view = View(
        "pair",
        {"high": np.ascontiguousarray(values, np.float32)},
        Geometry(geometry.detector_spacing_mm, geometry.travel_spacing_mm),
        calibration=CalibrationState.ATTENUATION,
    )
    return Scan([view], acquired_at=source.scan.acquired_at)


@dataclass
class PairResult:
    """A registered pair: the transform, its confidence and the four pictures' scans."""

    key: tuple[str, ...]
    registration: Any
    scans: dict[str, Scan]
    renderers: dict[Any, Renderer] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def describe(self) -> dict[str, Any]:
        """Transform (parameters and matrix), confidence and the common picture's geometry."""
        prepared = self.renderer("reference", RenderOptions(quantity=Quantity.ATTENUATION, crop=False))
        rows, columns = prepared.shape(0)
        result = self.registration
        return {
            "a": self.key[0],
            "b": self.key[1],
            "view": self.key[2],
            "confidence": result.confidence,
            "overlap": result.overlap,
            "converged": result.converged,
            "transform": result.transform.to_dict(),
            "width": columns,
            "height": rows,
            "levels": prepared.levels,
            "pixel_mm": list(prepared.base_pixel_mm),
            "window": [prepared.window.low, prepared.window.high],
            "modes": list(MODES),
        }

    def renderer(self, mode: str, options: RenderOptions) -> Renderer:
        """The prepared renderer of one picture of the pair."""
        if mode not in self.scans:
            raise ConfigurationError(f"mode must be one of {', '.join(MODES)}, got {mode[:20]!r}")
        with self.lock:
            key = (mode, options)
            if key not in self.renderers:
                if len(self.renderers) >= 8:
                    self.renderers.pop(next(iter(self.renderers)))
                self.renderers[key] = Renderer(self.scans[mode], options=options)
            return self.renderers[key]


def _register(first: OpenScan, second: OpenScan, query: Mapping[str, str]) -> PairResult:
    view = query.get("view") or first.scan.views[0].name
    channel = query.get("channel") or None
    other = view if view in [v.name for v in second.scan.views] else second.scan.views[0].name
    reference = _attenuation(first, view, channel)
    moving = _attenuation(second, other, query.get("channel_b") or channel)
    ref_values, moving_values = reference.values, moving.values
    result = register(
        ref_values,
        moving_values,
        model="affine",
        reference_mask=valid_mask(ref_values, low=2 * AIR_ATTENUATION, high=STARVED),
        moving_mask=valid_mask(moving_values, low=2 * AIR_ATTENUATION, high=STARVED),
    )
    warped = np.nan_to_num(result.transform.warp(moving_values, output_shape=ref_values.shape), nan=0.0)
    overlap = valid_mask(ref_values, low=2 * AIR_ATTENUATION, high=STARVED) & (warped > 2 * AIR_ATTENUATION)
    matched = match_intensity(ref_values, warped, mask=overlap) if overlap.any() else warped
    matched = np.where(warped > 0, matched, 0.0).astype(np.float32)
    difference = np.nan_to_num(signed_difference(ref_values, matched), nan=0.0)
    scans = {
        "reference": _one_view_scan(reference, ref_values),
        "moving": _one_view_scan(reference, matched),
        "difference": _one_view_scan(reference, difference),
        "checkerboard": _one_view_scan(reference, checkerboard(ref_values, matched, tile=CHECKER_PX)),
    }
    return PairResult((first.entry.id, second.entry.id, view, other, _channels(query)), result, scans)


def _channels(query: Mapping[str, str]) -> str:
    """The channels compared, as the cache key holds them (``channel_b``: the second scan's, e.g. low energy)."""
    return f"{query.get('channel') or ''}/{query.get('channel_b') or ''}"


class PairCache:
    """The last registered pair (registering a cargo pair takes seconds; one is kept)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last: PairResult | None = None

    def get(self, first: OpenScan, second: OpenScan, query: Mapping[str, str]) -> PairResult:
        """The pair for ``a``, ``b``, ``view``, ``channel`` and ``channel_b`` of the query, registered once."""
        view = query.get("view") or first.scan.views[0].name
        with self._lock:
            last = self._last
            wanted = (first.entry.id, second.entry.id, view)
            if last is not None and last.key[:3] == wanted and last.key[4] == _channels(query):
                return last
            result = _register(first, second, query)
            self._last = result
            return result


def pair_tile(result: PairResult, query: Mapping[str, str]) -> np.ndarray:
    """RGB uint8 tile of one picture of the pair (``mode``), display options from the query."""
    mode = query.get("mode", "reference")
    fixed = dict(query)
    if mode == "difference" and not query.get("window"):
        fixed["window"] = DIFFERENCE_WINDOW
        fixed.setdefault("invert", "0")
    fixed.pop("quantity", None)
    fixed.pop("channel", None)
    fixed.pop("channel_b", None)
    display = Display.from_query(fixed, crop=False)
    prepared = result.renderer(mode, display.options)
    tile = TileSpec.from_query(query)
    return prepared.tile(level=tile.level, region=tile.region(prepared))

"""Tiles of a view, rendered by :mod:`nii.render`: the browser asks for one square at one zoom level.

The picture of a view is :class:`nii.render.Renderer`'s: canonical orientation, square pixels,
zoom level ``L`` with pixels ``2**L`` times the finest. Tile ``(x, y)`` at level ``L`` is the
picture's region ``(y · TILE, x · TILE, TILE, TILE)`` at that level, cut at the picture's edge, so
a tile is exactly the same crop of the whole rendering. The viewer has no window or colour code of
its own: it only turns a request into :class:`nii.render.RenderOptions` and a region.

Renderers are kept per open scan and display (:meth:`OpenScan.cached`), so panning reuses one.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from nii.errors import ConfigurationError
from nii.render import Quantity, Renderer, RenderOptions
from nii.viewer.catalogue import OpenScan

__all__ = [
    "IMAGE_TYPES",
    "THUMBNAIL_WIDTH",
    "TILE",
    "Display",
    "TileSpec",
    "encode",
    "picture_to_samples",
    "render_tile",
    "renderer",
    "thumbnail",
]

TILE = 256
"""Tile side in pixels."""
THUMBNAIL_WIDTH = 200
IMAGE_TYPES = {"png": "image/png", "webp": "image/webp"}
RENDERERS_PER_SCAN = 8
"""Displays of one scan kept prepared (each holds the view's values in its quantity)."""


def integer(query: Mapping[str, str], name: str) -> int:
    """An integer parameter of a request."""
    text = query.get(name, "")
    if not (text.isdigit() and len(text) <= 9):
        raise ConfigurationError(f"{name} must be a non-negative integer, got {text[:20]!r}")
    return int(text)


def _flag(query: Mapping[str, str], name: str) -> bool | None:
    text = query.get(name)
    if text is None or text == "":
        return None
    if text not in ("0", "1", "true", "false"):
        raise ConfigurationError(f"{name} must be 0 or 1, got {text[:20]!r}")
    return text in ("1", "true")


@dataclass(frozen=True)
class Display:
    """What the browser shows of a scan: a view and the render options."""

    view: str
    options: RenderOptions

    @classmethod
    def from_query(cls, query: Mapping[str, str], **fixed: object) -> Display:
        """The display a request asks for: ``view``, ``quantity``, ``channel``, ``window`` (``auto``,
        ``LOW,HIGH`` or a preset), ``invert``, ``enhance``, ``strip``; ``fixed`` options override.

        Examples
        --------
        >>> display = Display.from_query({"view": "side", "quantity": "steel", "window": "0,300"})
        >>> display.view, str(display.options.quantity), display.options.window
        ('side', 'steel', Window(low=0.0, high=300.0))
        """
        window = query.get("window") or "auto"
        if len(window) > 64:
            raise ConfigurationError("window too long")
        options = RenderOptions(
            quantity=query.get("quantity") or None,  # type: ignore[arg-type]
            channel=query.get("channel") or None,
            window=window,
            invert=_flag(query, "invert"),
            enhance=bool(_flag(query, "enhance")),
            strip=query.get("strip") or None,  # type: ignore[arg-type]
            **fixed,  # type: ignore[arg-type]
        )
        return cls(view=query.get("view", ""), options=options)


def renderer(opened: OpenScan, display: Display) -> Renderer:
    """The prepared renderer of a display of an open scan, the last few kept.

    A display that differs from a kept one only in its window, invert, enhancement or strip restyles
    it (:meth:`nii.render.Renderer.restyled`): a window drag does not prepare the view again.
    """

    def make() -> Renderer:
        with opened.lock:
            kept = [
                prepared
                for key, prepared in opened.derived.items()
                if isinstance(key, tuple) and key[0] == "renderer" and key[1].view == display.view
            ]
        similar = [
            prepared
            for prepared in kept
            if all(
                getattr(prepared.options, name) == getattr(display.options, name) for name in Renderer.PREPARED_OPTIONS
            )
        ]
        if similar:
            return similar[-1].restyled(display.options)
        return Renderer(opened.scan, view=display.view or None, options=display.options)

    key = ("renderer", display)
    made = opened.cached(key, make)
    with opened.lock:
        renderers = [k for k in opened.derived if isinstance(k, tuple) and k and k[0] == "renderer"]
        for old in renderers[:-RENDERERS_PER_SCAN]:
            if old != key:
                del opened.derived[old]
    return made


@dataclass(frozen=True)
class TileSpec:
    """One tile: zoom level (0 = finest) and position in tiles."""

    level: int
    column: int
    row: int

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> TileSpec:
        return cls(integer(query, "level"), integer(query, "x"), integer(query, "y"))

    def region(self, prepared: Renderer) -> tuple[int, int, int, int]:
        """``(row0, col0, rows, columns)`` of the picture at the tile's level, cut at its edge."""
        if self.level >= prepared.levels:
            raise ConfigurationError(f"zoom level {self.level} outside 0..{prepared.levels - 1}")
        rows, columns = prepared.shape(self.level)
        row0, column0 = self.row * TILE, self.column * TILE
        if row0 >= rows or column0 >= columns:
            raise ConfigurationError(f"tile ({self.column}, {self.row}) outside the picture at level {self.level}")
        return row0, column0, min(TILE, rows - row0), min(TILE, columns - column0)


def render_tile(opened: OpenScan, display: Display, tile: TileSpec) -> np.ndarray:
    """RGB uint8 of one tile."""
    prepared = renderer(opened, display)
    return prepared.tile(level=tile.level, region=tile.region(prepared))


def thumbnail(opened: OpenScan) -> bytes:
    """PNG of the first view, :data:`THUMBNAIL_WIDTH` pixels wide."""
    scan = opened.scan
    prepared = Renderer(scan, view=scan.views[0].name, options=RenderOptions())
    return encode(prepared.picture(max_width=THUMBNAIL_WIDTH).image)


def picture_to_samples(prepared: Renderer, x: float, y: float) -> tuple[int, int]:
    """The view's ``(row, line)`` array index under the finest picture's pixel coordinates ``(x, y)``.

    Clamped to the view. Undoes the crop, the square pixels and the canonical orientation.
    """
    top, _, start, _ = prepared.extent_mm
    row_mm, column_mm = prepared.base_pixel_mm
    rows, lines = prepared.view.shape
    row = int(np.searchsorted(prepared.row_edges, top + y * row_mm, side="right")) - 1
    line = int(np.searchsorted(prepared.column_edges, start + x * column_mm, side="right")) - 1
    row, line = min(max(row, 0), rows - 1), min(max(line, 0), lines - 1)
    geometry = prepared.view.geometry
    if geometry.row_order.value == "BOTTOM_UP":
        row = rows - 1 - row
    if geometry.travel_direction.value == "RIGHT_TO_LEFT":
        line = lines - 1 - line
    return row, line


def quantity_names() -> list[str]:
    """The quantities a display can ask for."""
    return [str(q) for q in Quantity]


def encode(image: np.ndarray, kind: str = "png") -> bytes:
    """Lossless PNG (fast compression) or WebP bytes of a uint8 grey or RGB image; grey when R = G = B.

    OpenCV's encoders, which release the GIL, so tiles are encoded in parallel.

    Examples
    --------
    >>> encode(np.zeros((4, 4, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    if kind not in IMAGE_TYPES:
        raise ConfigurationError(f"image type {kind[:20]!r}: use one of {', '.join(IMAGE_TYPES)}")
    if (
        image.ndim == 3
        and np.array_equal(image[..., 0], image[..., 1])
        and np.array_equal(image[..., 0], image[..., 2])
    ):
        image = image[..., 0]
    pixels = np.ascontiguousarray(image if image.ndim == 2 else image[..., ::-1])  # OpenCV wants BGR
    options = [cv2.IMWRITE_PNG_COMPRESSION, 1] if kind == "png" else [cv2.IMWRITE_WEBP_QUALITY, 101]
    done, data = cv2.imencode(f".{kind}", pixels, options)
    if not done:
        raise ConfigurationError(f"could not encode a {image.shape} tile as {kind}")
    return data.tobytes()


def finite(value: float) -> float | None:
    """``value`` for JSON, ``None`` when not finite."""
    return float(value) if math.isfinite(value) else None

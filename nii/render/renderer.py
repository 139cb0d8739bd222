"""The renderer of :mod:`nii.render`: options, pictures, tiles and 16-bit codes."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import NamedTuple, TypeVar

import cv2
import numpy as np

from nii.errors import ConfigurationError, ValidationError
from nii.kernels import QUANTIZATION, MaterialClass, MaterialTable, false_colour, local_contrast
from nii.kernels.display import area_resample, area_taps, grey_levels
from nii.model import CalibrationState, LenientStrEnum, RowOrder, Scan, Threat, TravelDirection
from nii.render.overlays import draw_threats, with_band
from nii.render.quantities import (
    Preset,
    Quantity,
    Strip,
    Window,
    auto_window,
    cell_edges,
    choose,
    measured_channel,
    object_mask,
    occupied_span,
    oriented,
    quantity_values,
)
from nii.values import attenuation_of

__all__ = [
    "CROP_MARGIN",
    "SQUARE_TOLERANCE",
    "ZEFF_WINDOW",
    "Picture",
    "RenderOptions",
    "Renderer",
    "StoredCodes",
    "render",
    "render_tile",
    "stored_codes",
]

CROP_MARGIN = 0.03
"""Margin left around the object when cropping, as a fraction of the view's size."""
SQUARE_TOLERANCE = 0.01
"""Samples whose two spacings differ by at most this fraction count as square."""
ZEFF_WINDOW = Window(5.0, 30.0)
"""Default effective-Z colour range: organic (Z about 6) to copper (29); higher Z shows as the top colour."""
_E = TypeVar("_E", bound=LenientStrEnum)


@dataclass(frozen=True)
class RenderOptions:
    """How a view becomes a picture (validated at construction; strings accepted for the enums).

    Parameters
    ----------
    quantity
        What to show; ``None``: attenuation when the view allows it, else raw counts.
    channel
        Measured channel the quantity comes from (``high``, ``low``, ``single``); by default ``high``
        or ``single``.
    window
        ``"auto"`` (fitted to the object), a :class:`Window` or ``"LOW,HIGH"`` in the quantity's units,
        or a :class:`Preset`.
    gamma
        Exponent on the windowed fraction (below 1 brightens the dark end).
    invert
        Swap black and white; ``None``: dense matter dark, air white, whatever the quantity.
    enhance
        Local contrast enhancement (CLAHE) of the grey levels.
    strip
        Show one material class only (:class:`Strip`); the others fade.
    threats, legend, scale_bar
        Draw the scan's threat boxes (category and probability), a legend (window and unit, or the
        material classes) and a scale bar in mm.
    square_pixels, crop
        Resample to square pixels; crop to the object.
    scanner
        Scanner model (:data:`nii.physics.SCANNERS`) whose physics gives steel, Zeff and classes when
        the view lacks those channels; the scan's own model by default.
    """

    quantity: Quantity | None = None
    channel: str | None = None
    window: Window | Preset | str = "auto"
    gamma: float = 1.0
    invert: bool | None = None
    enhance: bool = False
    strip: Strip | None = None
    threats: bool = False
    legend: bool = False
    scale_bar: bool = False
    square_pixels: bool = True
    crop: bool = True
    scanner: str | None = None

    def __post_init__(self) -> None:
        if self.quantity is not None:
            object.__setattr__(self, "quantity", _enum(Quantity, self.quantity, "quantity"))
        if self.strip is not None:
            object.__setattr__(self, "strip", _enum(Strip, self.strip, "strip"))
        window = self.window
        if isinstance(window, str) and not isinstance(window, Preset):
            text = window.strip().lower()
            if text != "auto":
                window = _enum(Preset, text, "window") if "," not in text else Window.parse(text)
            else:
                window = "auto"
        if not isinstance(window, Window | Preset) and window != "auto":
            raise ConfigurationError(f"window must be 'auto', LOW,HIGH, a Window or a preset, got {window!r}")
        object.__setattr__(self, "window", window)
        if not (isinstance(self.gamma, int | float) and math.isfinite(self.gamma) and self.gamma > 0):
            raise ConfigurationError(f"gamma must be a positive number, got {self.gamma!r}")


def _enum(kind: type[_E], value: object, what: str) -> _E:
    try:
        return kind(str(value))
    except ValueError:
        raise ConfigurationError(f"unknown {what} {value!r}; one of {', '.join(str(m) for m in kind)}") from None


@dataclass(frozen=True, eq=False)
class Picture:
    """A rendered picture and what it shows.

    Attributes
    ----------
    image
        RGB uint8 ``(rows, columns, 3)``, the legend band (if any) included at the bottom.
    content_rows
        Rows of ``image`` that show the view (the band is below them).
    mm_per_pixel
        ``(row, column)`` pixel size in mm.
    origin_mm
        Position of the picture's top-left corner in the view (canonical orientation): mm from the top
        of row 0 and from the start of line 0.
    quantity, window, invert
        What was shown and how.
    level
        Zoom level (None for a picture fitted to a width).
    drawn
        Overlays drawn: ``"threats"``, ``"scale bar"``, ``"legend"``.
    """

    image: np.ndarray
    content_rows: int
    mm_per_pixel: tuple[float, float]
    origin_mm: tuple[float, float]
    quantity: Quantity
    window: Window
    invert: bool
    level: int | None
    drawn: tuple[str, ...] = field(default=())

    @property
    def unit(self) -> str:
        return self.quantity.unit


class Renderer:
    """One view of a scan prepared for rendering: values, object, window and picture geometry.

    Preparing reads and converts the whole channel once; pictures and tiles afterwards only resample,
    window and colour. A viewer keeps one per (scan, view, options).

    Parameters
    ----------
    scan
        The scan.
    view
        View name; the first view by default.
    options
        :class:`RenderOptions`; defaults when ``None``.
    """

    def __init__(self, scan: Scan, *, view: str | None = None, options: RenderOptions | None = None) -> None:
        self.scan = scan
        self.options = options if options is not None else RenderOptions()
        if not scan.views:
            raise ConfigurationError("the scan has no projection views to draw (only volumes)")
        try:
            self.view = scan.view(view) if view is not None else scan.views[0]
        except ValidationError as error:
            raise ConfigurationError(error.problem) from None
        self.quantity, self.channel = choose(self.view, self.options.quantity, self.options.channel)
        stored = quantity_values(self.view, self.quantity, self.channel, self._scanner)
        self.values = oriented(stored, self.view)
        self.object_mask = oriented(object_mask(self.view, self.channel, stored, self.quantity), self.view)
        self.window = self._window()
        self.invert = self.options.invert if self.options.invert is not None else self.quantity.denser_is_higher
        self.row_edges, self.column_edges = cell_edges(self.view)
        self.extent_mm = self._extent()
        self._tap_cache: dict[tuple[float, float], tuple[tuple[np.ndarray, np.ndarray], ...]] = {}

    @property
    def _scanner(self) -> str | None:
        return self.options.scanner or self.scan.scanner.model

    def _window(self) -> Window:
        chosen = self.options.window
        if isinstance(chosen, Window):
            return chosen
        if self.quantity is Quantity.MATERIAL:
            return Window(-0.5, len(MaterialClass) - 0.5)
        if self.quantity is Quantity.ZEFF and chosen == "auto":
            return ZEFF_WINDOW
        if isinstance(chosen, Preset):
            low, high = chosen.percentiles
            if not self.quantity.denser_is_higher:
                low, high = 100.0 - high, 100.0 - low
            return auto_window(self.values, self.object_mask, percentiles=(low, high))
        return auto_window(self.values, self.object_mask)

    def _extent(self) -> tuple[float, float, float, float]:
        """``(top, bottom, start, end)`` of the picture in mm: the whole view or the object with a margin."""
        rows_mm, lines_mm = self.row_edges, self.column_edges
        full = (float(rows_mm[0]), float(rows_mm[-1]), float(lines_mm[0]), float(lines_mm[-1]))
        if not self.options.crop:
            return full
        rows = occupied_span(self.object_mask.sum(axis=1), self.object_mask.shape[1])
        columns = occupied_span(self.object_mask.sum(axis=0), self.object_mask.shape[0])
        if rows is None or columns is None:
            return full
        row_margin = CROP_MARGIN * (full[1] - full[0])
        column_margin = CROP_MARGIN * (full[3] - full[2])
        return (
            max(full[0], float(rows_mm[rows[0]]) - row_margin),
            min(full[1], float(rows_mm[rows[1] + 1]) + row_margin),
            max(full[2], float(lines_mm[columns[0]]) - column_margin),
            min(full[3], float(lines_mm[columns[1] + 1]) + column_margin),
        )

    @cached_property
    def base_pixel_mm(self) -> tuple[float, float]:
        """``(row, column)`` pixel size of level 0: the finer spacing on both axes, or the samples themselves
        when they are already square within :data:`SQUARE_TOLERANCE` (no resampling blur for nothing)."""
        row_mm = float(np.diff(self.row_edges).mean())
        column_mm = float(np.diff(self.column_edges).mean())
        nearly_square = abs(row_mm - column_mm) <= SQUARE_TOLERANCE * max(row_mm, column_mm)
        if self.options.square_pixels and not nearly_square:
            side = min(row_mm, column_mm)
            return side, side
        return row_mm, column_mm

    def pixel_mm(self, level: int) -> tuple[float, float]:
        """``(row, column)`` pixel size at a zoom level."""
        if not (isinstance(level, int) and 0 <= level <= 30):
            raise ConfigurationError(f"zoom level must be an integer 0..30, got {level!r}")
        return self.base_pixel_mm[0] * 2**level, self.base_pixel_mm[1] * 2**level

    def shape(self, level: int) -> tuple[int, int]:
        """``(rows, columns)`` of the whole picture at a zoom level (without the legend band)."""
        return self._shape(self.pixel_mm(level))

    def _shape(self, pixel: tuple[float, float]) -> tuple[int, int]:
        top, bottom, start, end = self.extent_mm
        return max(1, math.ceil((bottom - top) / pixel[0] - 1e-9)), max(1, math.ceil((end - start) / pixel[1] - 1e-9))

    @property
    def levels(self) -> int:
        """Number of zoom levels: level ``levels - 1`` is the first that fits in 256 × 256."""
        level = 0
        while max(self.shape(level)) > 256:
            level += 1
        return level + 1

    @cached_property
    def _classes(self) -> np.ndarray | None:
        """Oriented material classes when the options need them (strip or the material quantity)."""
        if self.quantity is Quantity.MATERIAL:
            return self.values.astype(np.uint8)
        if self.options.strip is None:
            return None
        stored = quantity_values(self.view, Quantity.MATERIAL, self.channel, self._scanner)
        return oriented(stored, self.view).astype(np.uint8)

    @cached_property
    def _brightness_values(self) -> np.ndarray:
        """The attenuation whose grey levels give false colour its brightness."""
        if self.quantity in (Quantity.MATERIAL, Quantity.ZEFF):
            return oriented(self._attenuation(), self.view)
        return self.values

    def _attenuation(self) -> np.ndarray:
        channel = "high" if "high" in self.view.channels else measured_channel(self.view)
        return attenuation_of(self.view, channel)

    @cached_property
    def _brightness_window(self) -> Window:
        if self.quantity in (Quantity.MATERIAL, Quantity.ZEFF):
            return auto_window(self._brightness_values, self.object_mask)
        return self.window

    def _taps(self, pixel: tuple[float, float], rows: slice, columns: slice) -> tuple[tuple, tuple]:
        if pixel not in self._tap_cache:
            if len(self._tap_cache) >= 16:
                self._tap_cache.clear()
            top, _, start, _ = self.extent_mm
            count_rows, count_columns = self._shape(pixel)
            self._tap_cache[pixel] = (
                area_taps(self.row_edges, top, pixel[0], count_rows),
                area_taps(self.column_edges, start, pixel[1], count_columns),
            )
        row_taps, column_taps = self._tap_cache[pixel]
        return (row_taps[0][rows], row_taps[1][rows]), (column_taps[0][columns], column_taps[1][columns])

    def _region(self, pixel: tuple[float, float], rows: slice, columns: slice) -> np.ndarray:
        """RGB of the picture's region at this pixel size, without overlays."""
        row_taps, column_taps = self._taps(pixel, rows, columns)
        brightness = _resampled(self._brightness_values, row_taps, column_taps)
        grey = grey_levels(
            brightness,
            self._brightness_window.low,
            self._brightness_window.high,
            gamma=float(self.options.gamma),
            invert=self.invert if self.quantity not in (Quantity.MATERIAL, Quantity.ZEFF) else True,
        )
        if self.options.enhance:
            grey = local_contrast(grey)
        classes = self._classes
        if classes is None and self.quantity is Quantity.ZEFF:
            zeff = _resampled(self.values, row_taps, column_taps)
            colour = _zeff_colour(zeff, self.window, grey)
        elif classes is None:
            colour = cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
        else:
            picked = _nearest(classes, row_taps, column_taps)
            colour = (
                false_colour(picked, grey, MaterialTable().palette)
                if self.quantity is Quantity.MATERIAL
                else (cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB))
            )
            if self.options.strip is not None:
                _fade(colour, picked, self.options.strip)
        return colour

    def picture(self, *, level: int | None = None, max_width: int | None = None) -> Picture:
        """The whole picture at a zoom level (0 by default), or fitted into ``max_width`` columns."""
        if level is not None and max_width is not None:
            raise ConfigurationError("give a zoom level or a maximum width, not both")
        if max_width is not None:
            if max_width < 1:
                raise ConfigurationError(f"maximum width must be positive, got {max_width}")
            base = self.base_pixel_mm
            _, _, start, end = self.extent_mm
            factor = max(1.0, float(end - start) / base[1] / max_width)
            pixel = (base[0] * factor, base[1] * factor)
        else:
            pixel = self.pixel_mm(level or 0)
        rows, columns = self._shape(pixel)
        image = self._picture_region(pixel, 0, 0, rows, columns)
        drawn = ("threats",) if self.options.threats and self.threat_boxes(pixel) else ()
        image, band = with_band(
            image,
            pixel=pixel,
            scale_bar=self.options.scale_bar,
            legend=(self.quantity, self.window, self.invert) if self.options.legend else None,
        )
        origin = (self.extent_mm[0], self.extent_mm[2])
        return Picture(
            image, rows, pixel, origin, self.quantity, self.window, self.invert,
            level if max_width is None else None, drawn + band,
        )  # fmt: skip

    def tile(self, *, level: int, region: tuple[int, int, int, int]) -> np.ndarray:
        """RGB uint8 of ``region = (row0, col0, rows, columns)`` of the picture at ``level``: exactly that
        crop of :meth:`picture` (without the legend band); parts beyond the picture are white."""
        row0, column0, rows, columns = (int(v) for v in region)
        if min(rows, columns) < 1 or min(row0, column0) < 0:
            raise ConfigurationError(f"tile region {region} needs row0, col0 >= 0 and a positive size")
        pixel = self.pixel_mm(level)
        total_rows, total_columns = self._shape(pixel)
        tile = np.full((rows, columns, 3), 255, np.uint8)
        inside_rows, inside_columns = min(rows, total_rows - row0), min(columns, total_columns - column0)
        if inside_rows > 0 and inside_columns > 0:
            if self.options.enhance:  # local contrast depends on the whole picture
                whole = self._picture_region(pixel, 0, 0, total_rows, total_columns)
                part = whole[row0 : row0 + inside_rows, column0 : column0 + inside_columns]
            else:
                part = self._picture_region(pixel, row0, column0, inside_rows, inside_columns)
            tile[:inside_rows, :inside_columns] = part
        return tile

    def _picture_region(
        self, pixel: tuple[float, float], row0: int, column0: int, rows: int, columns: int
    ) -> np.ndarray:
        image = self._region(pixel, slice(row0, row0 + rows), slice(column0, column0 + columns))
        if self.options.threats:
            draw_threats(image, self.threat_boxes(pixel), (row0, column0))
        return image

    def threat_boxes(self, pixel: tuple[float, float]) -> list[tuple[Threat, tuple[int, int, int, int]]]:
        """Each threat of the view with its box in picture pixels ``(x0, y0, x1, y1)`` (inclusive)."""
        rows, lines = self.view.shape
        top, _, start, _ = self.extent_mm
        result = []
        for threat in self.scan.threats:
            if threat.view != self.view.name:
                continue
            box = threat.box
            y0, y1 = box.y, box.y + box.height
            if self.view.geometry.row_order is RowOrder.BOTTOM_UP:
                y0, y1 = rows - y1, rows - y0
            x0, x1 = box.x, box.x + box.width
            if self.view.geometry.travel_direction is TravelDirection.RIGHT_TO_LEFT:
                x0, x1 = lines - x1, lines - x0
            left, right = _pixel_span(self.column_edges[x0] - start, self.column_edges[x1] - start, pixel[1])
            upper, lower = _pixel_span(self.row_edges[y0] - top, self.row_edges[y1] - top, pixel[0])
            result.append((threat, (left, upper, right, lower)))
        return result


def _pixel_span(first_mm: float, end_mm: float, pixel: float) -> tuple[int, int]:
    """First and last picture pixel (inclusive) touched by ``[first_mm, end_mm)``."""
    first = math.floor(first_mm / pixel)
    return first, max(first, math.ceil(end_mm / pixel) - 1)


def render(
    scan: Scan,
    *,
    view: str | None = None,
    options: RenderOptions | None = None,
    level: int | None = None,
    max_width: int | None = None,
) -> Picture:
    """The picture of one view (see the module docstring); level 0 (full resolution) by default."""
    return Renderer(scan, view=view, options=options).picture(level=level, max_width=max_width)


def render_tile(
    scan: Scan,
    *,
    view: str | None = None,
    options: RenderOptions | None = None,
    level: int = 0,
    region: tuple[int, int, int, int] = (0, 0, 256, 256),
) -> np.ndarray:
    """RGB uint8 tile ``region = (row0, col0, rows, columns)`` of the picture at ``level``.

    Examples
    --------
    >>> from nii.simulate import simulate
    >>> scan, _ = simulate("steps", seed=1, rows=64, lines=96)
    >>> whole = render(scan, level=1).image
    >>> whole.shape
    (27, 35, 3)
    >>> bool((render_tile(scan, level=1, region=(8, 16, 12, 16)) == whole[8:20, 16:32]).all())
    True
    """
    return Renderer(scan, view=view, options=options).tile(level=level, region=region)


class StoredCodes(NamedTuple):
    """Exact 16-bit values of a quantity: the value of a pixel is ``codes × scale`` in ``unit``."""

    codes: np.ndarray
    scale: float
    quantity: Quantity

    @property
    def unit(self) -> str:
        return self.quantity.unit


def stored_codes(scan: Scan, *, view: str | None = None, options: RenderOptions | None = None) -> StoredCodes:
    """Exact uint16 codes of the options' quantity, canonically oriented, one pixel per sample.

    Raw counts and material classes keep their values (scale 1); the other quantities use the 16-bit
    conventions of :data:`nii.kernels.QUANTIZATION`.

    Examples
    --------
    >>> from nii.simulate import simulate
    >>> scan, _ = simulate("steps", seed=1, rows=64, lines=96)
    >>> stored = stored_codes(scan, options=RenderOptions(quantity="raw"))
    >>> stored.scale, stored.unit, bool((stored.codes == scan.views[0].channels["high"]).all())
    (1.0, 'counts', True)
    """
    renderer = Renderer(scan, view=view, options=replace(options or RenderOptions(), crop=False))
    scale = _CODE_SCALE[renderer.quantity]
    codes = np.clip(np.rint(renderer.values / np.float32(scale)), 0, 65535).astype(np.uint16)
    return StoredCodes(codes, scale, renderer.quantity)


_CODE_SCALE = {
    Quantity.RAW: 1.0,
    Quantity.TRANSMISSION: QUANTIZATION[str(CalibrationState.TRANSMISSION)],
    Quantity.ATTENUATION: QUANTIZATION[str(CalibrationState.ATTENUATION)],
    Quantity.STEEL: QUANTIZATION["steel_mm"],
    Quantity.ZEFF: QUANTIZATION["zeff"],
    Quantity.MATERIAL: QUANTIZATION["material"],
}


def _resampled(values: np.ndarray, row_taps: tuple, column_taps: tuple) -> np.ndarray:
    """Area average through the taps, reading only the source block they touch."""
    (row_index, row_weight), (column_index, column_weight) = row_taps, column_taps
    r0, r1 = int(row_index.min()), int(row_index.max()) + 1
    c0, c1 = int(column_index.min()), int(column_index.max()) + 1
    block = np.ascontiguousarray(values[r0:r1, c0:c1])
    return area_resample(block, (row_index - np.int32(r0), row_weight), (column_index - np.int32(c0), column_weight))


def _nearest(classes: np.ndarray, row_taps: tuple, column_taps: tuple) -> np.ndarray:
    """The class of the sample covering most of each picture pixel (classes are not averaged)."""
    rows = row_taps[0][np.arange(row_taps[0].shape[0]), row_taps[1].argmax(axis=1)]
    columns = column_taps[0][np.arange(column_taps[0].shape[0]), column_taps[1].argmax(axis=1)]
    return np.ascontiguousarray(classes[rows[:, None], columns[None, :]])


def _zeff_colour(zeff: np.ndarray, window: Window, grey: np.ndarray) -> np.ndarray:
    """Zeff through the turbo colour map, darkened by the attenuation grey."""
    levels = grey_levels(np.ascontiguousarray(zeff), window.low, window.high)
    colour = cv2.applyColorMap(levels, cv2.COLORMAP_TURBO)[:, :, ::-1]
    tinted = (colour.astype(np.uint16) * grey[:, :, None] // 255).astype(np.uint8)
    tinted[grey >= 250] = 255  # air: no Zeff to show
    return tinted


def _fade(colour: np.ndarray, classes: np.ndarray, strip: Strip) -> None:
    """Other classes than the strip's become light grey (air stays white)."""
    others = ~np.isin(classes, [int(c) for c in strip.classes])
    faded = 255 - (255 - colour[others].astype(np.uint16)) // 4
    colour[others] = faded.astype(np.uint8)

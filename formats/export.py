"""Pictures of a view: PNG, TIFF and JPEG for reports, slides and other image software.

An export shows one channel of one view in the canonical orientation — detector rows from the
top of the object down, scan lines in the direction of travel from left to right — with one
image pixel per sample; the physical pixel size goes into the file's resolution fields.

Modes (:class:`ExportMode`):

``window``
    8-bit grey levels through a window (centre, width in the channel's units; by default from
    the 0.5 and 99.5 percentiles). Attenuation is inverted, so that dense matter is dark and
    open air white as on an inspection screen.
``16bit``
    16-bit grey levels (PNG and TIFF): uint16 and uint8 channels keep their exact values unless
    a window is given; other channels are mapped linearly from the window (default: their
    minimum to maximum) to 0..65535.
``false-colour``
    RGB in the conventional screening colours — orange organic, green inorganic, blue metal,
    violet high Z — with the brightness of the windowed grey picture (dense matter dark). The
    classes come from the view's ``material`` channel (:class:`~nii.kernels.MaterialClass`
    codes) or, given the scanner's :class:`~nii.kernels.ZeffGrid`, from its ``high`` and
    ``low`` channels (attenuation, transmission, or raw counts with dark and air references).
    Classification and colouring are :func:`nii.kernels.material_classes` and
    :func:`nii.kernels.false_colour`.

The write-only formats ``png-export``, ``jpeg-export`` and ``tiff-export`` make
``nii.write(scan, "side.png", view="side", channel="high")`` work; ``.tif`` is left to the
lossless TIFF scan format, so a TIFF picture needs ``format="tiff-export"`` (or ``nii export``).

Examples
--------
>>> export_view(scan, "side.png", view="side", channel="high")  # doctest: +SKIP
PosixPath('side.png')
>>> export_view(scan, "side16.tif", mode="16bit")  # doctest: +SKIP
PosixPath('side16.tif')
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from nii.kernels import (
    MaterialClass,
    MaterialTable,
    ZeffGrid,
    false_colour,
    material_classes,
    orient,
)
from PIL import Image

from nii.errors import ConfigurationError, UnsupportedError, ValidationError
from nii.io import atomic_output
from nii.model import CalibrationState, LenientStrEnum, RowOrder, Scan, TravelDirection, View
from nii.registry import Format, register
from nii.values import attenuation_of

__all__ = [
    "IMAGE_FORMAT_BY_SUFFIX",
    "ExportMode",
    "ImageExportFormat",
    "WindowLevel",
    "export_view",
    "oriented_channel",
    "render_view",
]

AUTO_PERCENTILES = (0.5, 99.5)
"""Percentiles of the channel that bound the automatic 8-bit window."""
_PERCENTILE_SAMPLES = 1_000_000
"""At most this many pixels (an even stride through the image) estimate the percentiles."""
_MM_PER_INCH = 25.4


class ExportMode(LenientStrEnum):
    """How channel values become image values."""

    WINDOW = "window"
    SIXTEEN_BIT = "16bit"
    FALSE_COLOUR = "false-colour"


@dataclass(frozen=True)
class WindowLevel:
    """A display window in the channel's own units: values ``centre ± width / 2`` span the grey scale.

    Examples
    --------
    >>> WindowLevel.parse("30000,20000").bounds
    (20000.0, 40000.0)
    """

    centre: float
    width: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.centre) and math.isfinite(self.width) and self.width > 0):
            raise ValidationError(f"window needs a finite centre and a positive width, got {self.centre}, {self.width}")

    @property
    def bounds(self) -> tuple[float, float]:
        """``(low, high)``: values at or below ``low`` are black, at or above ``high`` white."""
        return self.centre - self.width / 2, self.centre + self.width / 2

    @classmethod
    def from_bounds(cls, low: float, high: float) -> WindowLevel:
        """The window from ``low`` to ``high``; an empty range becomes one unit wide."""
        return cls((low + high) / 2, high - low if high > low else 1.0)

    @classmethod
    def parse(cls, text: str) -> WindowLevel:
        """``"CENTRE,WIDTH"`` as the command line takes it."""
        parts = text.split(",")
        try:
            if len(parts) != 2:
                raise ValueError(text)
            return cls(float(parts[0]), float(parts[1]))
        except ValueError:
            raise ConfigurationError(f"window {text!r} must be CENTRE,WIDTH (two numbers, width > 0)") from None

    @classmethod
    def auto(cls, values: np.ndarray, percentiles: tuple[float, float] = AUTO_PERCENTILES) -> WindowLevel:
        """The window between two percentiles of the finite values (sampled on large images)."""
        flat = values.reshape(-1)
        sample = flat[:: max(1, flat.size // _PERCENTILE_SAMPLES)]
        finite = sample[np.isfinite(sample)] if sample.dtype.kind == "f" else sample
        if finite.size == 0:
            return cls(0.5, 1.0)
        low, high = np.percentile(finite, percentiles)
        return cls.from_bounds(float(low), float(high))


def oriented_channel(view: View, channel: str) -> np.ndarray:
    """A copy of one channel in the canonical orientation: row 0 at the top, travel left to right."""
    return _oriented(np.asarray(view.channels[channel]), view)  # lazy channels (ref-hdf5) are read here


def _oriented(array: np.ndarray, view: View) -> np.ndarray:
    geometry = view.geometry
    return orient(
        array,
        reverse_rows=geometry.row_order is RowOrder.BOTTOM_UP,
        reverse_lines=geometry.travel_direction is TravelDirection.RIGHT_TO_LEFT,
    )


def _scaled(values: np.ndarray, window: WindowLevel, top: int) -> np.ndarray:
    """Values linearly from the window to ``0..top``, rounded; non-finite values become 0."""
    low, high = window.bounds
    scaled = (values.astype(np.float64) - low) * (top / (high - low))
    np.clip(scaled, 0, top, out=scaled)
    scaled[~np.isfinite(scaled)] = 0
    return np.rint(scaled)


def _shows_attenuation(view: View, channel: str) -> bool:
    measured = channel in ("high", "low", "single")
    return channel == "attenuation" or (measured and view.calibration is CalibrationState.ATTENUATION)


def render_view(
    view: View,
    *,
    channel: str | None = None,
    mode: ExportMode | str = ExportMode.WINDOW,
    window: WindowLevel | None = None,
    invert: bool | None = None,
    zeff_grid: ZeffGrid | None = None,
    material_table: MaterialTable | None = None,
) -> np.ndarray:
    """The picture of one view, canonically oriented: uint8 grey, uint16 grey or uint8 RGB.

    Parameters
    ----------
    view
        The view to show.
    channel
        Channel shown (in ``false-colour``, the one giving the brightness); the view's first
        channel by default (``high`` when present in ``false-colour``).
    mode
        :class:`ExportMode` (strings accepted).
    window
        Values shown from black to white; automatic when ``None`` (see :class:`ExportMode`). In
        ``16bit`` mode, uint16, uint8 and bool channels keep their exact values unless a window is given.
    invert
        White for low values; by default only for attenuation (dense matter dark).
    zeff_grid, material_table
        ``false-colour`` only: the scanner's Zeff table, needed when the view has no ``material``
        channel, and the class boundaries and colours (conventional by default).

    Examples
    --------
    >>> import numpy as np
    >>> from nii.model import View
    >>> view = View("side", {"high": np.array([[0, 500, 1000]], np.uint16)})
    >>> render_view(view, window=WindowLevel(500, 1000)).tolist()
    [[0, 128, 255]]
    """
    mode = ExportMode(mode)
    default = "high" if mode is ExportMode.FALSE_COLOUR and "high" in view.channels else view.channel_names[0]
    name = channel if channel is not None else default
    if name not in view.channels:
        raise ConfigurationError(f"view {view.name!r} has no channel {name!r}; channels: {view.channel_names}")
    values = oriented_channel(view, name)
    invert = _shows_attenuation(view, name) if invert is None else invert
    if mode is ExportMode.SIXTEEN_BIT:
        if values.dtype.kind in "ub" and values.dtype.itemsize <= 2 and window is None:
            image = values.astype(np.uint16)
            return np.uint16(65535) - image if invert else image
        finite = values[np.isfinite(values)] if values.dtype.kind == "f" else values
        bounds = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
        scaled = _scaled(values, window or WindowLevel.from_bounds(*bounds), 65535)
        return (65535 - scaled if invert else scaled).astype(np.uint16)
    scaled = _scaled(values, window or WindowLevel.auto(values), 255)
    grey = (255 - scaled if invert else scaled).astype(np.uint8)
    if mode is ExportMode.WINDOW:
        return grey
    table = material_table if material_table is not None else MaterialTable()
    return false_colour(_material_classes(view, zeff_grid, table), grey, table.palette)


def _material_classes(view: View, grid: ZeffGrid | None, table: MaterialTable) -> np.ndarray:
    """Oriented uint8 :class:`~nii.kernels.MaterialClass` codes of every pixel of the view."""
    if "material" in view.channels:
        codes = np.asarray(view.channels["material"])
        if codes.dtype != np.uint8 or int(codes.max()) >= len(MaterialClass):
            raise ValidationError(
                f"channel 'material' of view {view.name!r} must hold uint8 material class codes "
                f"0..{len(MaterialClass) - 1}, got {codes.dtype} up to {codes.max()}"
            )
        return oriented_channel(view, "material")
    if grid is None:
        raise ConfigurationError(
            f"false colour of view {view.name!r} needs a 'material' channel or a Zeff table: the scanner model "
            "must be one nii knows (nii.physics.SCANNERS; scanner_model=, nii export --scanner) or "
            "zeff_grid= given"
        )
    if not {"high", "low"} <= set(view.channels):
        raise ConfigurationError(
            f"false colour needs channels 'high' and 'low'; view {view.name!r} has {view.channel_names}"
        )
    high, low = (attenuation_of(view, name) for name in ("high", "low"))
    return _oriented(material_classes(high, low, grid, table), view)


@lru_cache(maxsize=8)
def _zeff_table(model: str) -> tuple[ZeffGrid, MaterialTable]:
    # Imported here: the physics tables load only when a false-colour picture needs them.
    from nii.calibration import ZeffTable

    table = ZeffTable.from_scanner(model)
    return table.grid, table.material_table()


def _scanner_zeff(model: str, path: Path) -> tuple[ZeffGrid | None, MaterialTable | None]:
    """The Zeff table of a known scanner model; ``(None, None)`` for models nii cannot compute."""
    from nii.physics import SCANNERS

    if model not in SCANNERS:
        return None, None
    if set(SCANNERS[model].channels) != {"high", "low"}:
        raise ConfigurationError(
            f"scanner model {model!r} is not dual-energy; false colour needs high and low", path=path
        )
    return _zeff_table(model)


IMAGE_FORMAT_BY_SUFFIX = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
"""File name ending → Pillow format name."""


def export_view(
    scan: Scan,
    path: str | os.PathLike[str],
    *,
    view: str | None = None,
    channel: str | None = None,
    mode: ExportMode | str = ExportMode.WINDOW,
    window: WindowLevel | str | None = None,
    invert: bool | None = None,
    zeff_grid: ZeffGrid | None = None,
    material_table: MaterialTable | None = None,
    scanner_model: str | None = None,
    image_format: str | None = None,
) -> Path:
    """Write a picture of one channel of one view, atomically.

    Parameters
    ----------
    scan
        The scan.
    path
        The image file; its ending picks the image format unless ``image_format`` is given.
    view
        View name; the first view by default.
    channel, mode, window, invert, zeff_grid, material_table
        As for :func:`render_view`; ``window`` may be ``"CENTRE,WIDTH"``.
    scanner_model
        ``false-colour`` without ``zeff_grid`` or a ``material`` channel: the simulated scanner
        model (``"linac-6/4"``, ``"tube-160/80"``, ...) whose Zeff table classifies the pixels;
        the scan's ``scanner.model`` by default.
    image_format
        ``"PNG"``, ``"TIFF"`` or ``"JPEG"``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigurationError
        Unknown view, channel, image format or window text.
    UnsupportedError
        16-bit JPEG.
    """
    path = Path(path)
    kind = image_format.upper() if image_format else IMAGE_FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if kind not in ("PNG", "TIFF", "JPEG"):
        raise ConfigurationError(
            f"cannot tell the image format; use one of {', '.join(IMAGE_FORMAT_BY_SUFFIX)}", path=path
        )
    mode = ExportMode(mode)
    if kind == "JPEG" and mode is ExportMode.SIXTEEN_BIT:
        raise UnsupportedError("JPEG holds 8-bit images only; write 16-bit as PNG or TIFF", path=path)
    try:
        source = scan.view(view) if view is not None else scan.views[0]
    except ValidationError as error:
        raise ConfigurationError(error.problem, path=path) from error
    level = WindowLevel.parse(window) if isinstance(window, str) else window
    if mode is ExportMode.FALSE_COLOUR and zeff_grid is None and "material" not in source.channels:
        model = scanner_model if scanner_model is not None else scan.scanner.model
        if model is not None:
            zeff_grid, default_table = _scanner_zeff(model, path)
            material_table = material_table if material_table is not None else default_table
    image = render_view(
        source,
        channel=channel,
        mode=mode,
        window=level,
        invert=invert,
        zeff_grid=zeff_grid,
        material_table=material_table,
    )
    geometry = source.geometry
    picture = Image.fromarray(np.ascontiguousarray(image))
    options: dict[str, Any] = {}
    if geometry.travel_spacing_mm is not None and geometry.detector_spacing_mm is not None:
        options["dpi"] = (_MM_PER_INCH / geometry.travel_spacing_mm, _MM_PER_INCH / geometry.detector_spacing_mm)
    if kind == "JPEG":
        options["quality"] = 95
    elif kind == "TIFF":
        options["compression"] = "tiff_deflate"
    with atomic_output(path) as temporary:
        picture.save(temporary, format=kind, **options)
    return path


class ImageExportFormat(Format):
    """Base of the write-only picture formats; options are those of :func:`export_view`."""

    pillow_format: ClassVar[str]
    capabilities = frozenset({"picture", "write-only"})

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        allowed = {"view", "channel", "mode", "window", "invert", "zeff_grid", "material_table", "scanner_model"}
        if unknown := set(options) - allowed:
            raise TypeError(f"{self.name} writer takes {sorted(allowed)}, got {sorted(unknown)}")
        return [export_view(scan, path, image_format=self.pillow_format, **options)]


class PngExport(ImageExportFormat):
    name = "png-export"
    extensions = (".png",)
    description = "PNG picture of one view: windowed 8-bit, exact 16-bit or false colour (write-only)"
    pillow_format = "PNG"


class JpegExport(ImageExportFormat):
    name = "jpeg-export"
    extensions = (".jpg", ".jpeg")
    description = "JPEG picture of one view: windowed 8-bit or false colour, quality 95 (write-only)"
    pillow_format = "JPEG"


class TiffExport(ImageExportFormat):
    # No extension: .tif/.tiff name the lossless TIFF scan format; pass format="tiff-export".
    name = "tiff-export"
    description = "TIFF picture of one view: windowed 8-bit, exact 16-bit or false colour, deflate (write-only)"
    pillow_format = "TIFF"


FORMATS = [register(PngExport), register(JpegExport), register(TiffExport)]

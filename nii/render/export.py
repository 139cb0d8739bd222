"""Pictures of a view as files: PNG, TIFF and JPEG for reports, slides and other image software.

Thin wrappers over :func:`nii.render.render`: an 8-bit picture is exactly what the renderer draws
(grey pictures are written as one grey channel, coloured ones as RGB), with the picture's pixel size
in the file's resolution fields. A 16-bit picture (PNG, TIFF) holds the exact values of the quantity,
one image pixel per sample in the canonical orientation, as :func:`nii.render.stored_codes` gives
them; the file's metadata says what a code means: PNG text chunks ``nii:quantity``, ``nii:unit``
and ``nii:scale`` (value = code × scale), the same as JSON in a TIFF's ImageDescription.

The write-only formats ``png-export``, ``jpeg-export`` and ``tiff-export`` make
``nii.write(scan, "side.png", view="side", quantity="attenuation")`` work; ``.tif`` is left to the
lossless TIFF scan format, so a TIFF picture needs ``format="tiff-export"`` (or ``nii export``).

Examples
--------
>>> from nii.simulate import simulate
>>> scan, _ = simulate("steps", seed=1, rows=64, lines=96)
>>> path = export_picture(scan, tmp / "steps.png", options=RenderOptions(legend=True))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from PIL import Image, PngImagePlugin, TiffImagePlugin

from nii.errors import ConfigurationError, UnsupportedError
from nii.imports import lazy_module
from nii.io import atomic_output
from nii.model import Scan
from nii.registry import Format, Option, declare, register

if TYPE_CHECKING:
    from nii.render import renderer
    from nii.render.renderer import RenderOptions
else:
    renderer = lazy_module("nii.render.renderer")  # the kernels load when a picture is made

__all__ = ["IMAGE_FORMAT_BY_SUFFIX", "ImageExportFormat", "export_picture", "picture_metadata"]

IMAGE_FORMAT_BY_SUFFIX = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
"""File name ending → Pillow format name."""
_MM_PER_INCH = 25.4
_TIFF_DESCRIPTION = 270


def _image_format(path: Path, image_format: str | None) -> str:
    kind = image_format.upper() if image_format else IMAGE_FORMAT_BY_SUFFIX.get(path.suffix.lower())
    if kind not in ("PNG", "TIFF", "JPEG"):
        raise ConfigurationError(
            f"cannot tell the image format; use one of {', '.join(IMAGE_FORMAT_BY_SUFFIX)}", path=path
        )
    return kind


def export_picture(
    scan: Scan,
    path: str | os.PathLike[str],
    *,
    view: str | None = None,
    options: RenderOptions | None = None,
    max_width: int | None = None,
    level: int | None = None,
    sixteen_bit: bool = False,
    image_format: str | None = None,
) -> Path:
    """Write a picture of one view, atomically.

    Parameters
    ----------
    scan
        The scan.
    path
        The image file; its ending picks the image format unless ``image_format`` is given.
    view
        View name; the first view by default.
    options
        :class:`~nii.render.RenderOptions` (defaults when ``None``).
    max_width, level
        Picture size (see :func:`nii.render.render`); full resolution by default.
    sixteen_bit
        Exact 16-bit values of the quantity instead of the rendered picture (PNG and TIFF).
    image_format
        ``"PNG"``, ``"TIFF"`` or ``"JPEG"``.

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ConfigurationError
        Unknown view, channel, quantity or image format.
    UnsupportedError
        16-bit JPEG.
    """
    path = Path(path)
    kind = _image_format(path, image_format)
    if sixteen_bit:
        if kind == "JPEG":
            raise UnsupportedError("JPEG holds 8-bit images only; write 16-bit as PNG or TIFF", path=path)
        try:
            stored = renderer.stored_codes(scan, view=view, options=options)
        except ConfigurationError as error:
            raise ConfigurationError(error.problem, path=path) from None
        geometry = (scan.view(view) if view is not None else scan.views[0]).geometry
        image = Image.fromarray(stored.codes)
        dpi = (
            (_MM_PER_INCH / geometry.travel_spacing_mm, _MM_PER_INCH / geometry.detector_spacing_mm)
            if geometry.travel_spacing_mm is not None and geometry.detector_spacing_mm is not None
            else None  # unknown spacing: no resolution written
        )
        metadata: dict[str, Any] = {"quantity": str(stored.quantity), "unit": stored.unit, "scale": stored.scale}
    else:
        try:
            picture = renderer.render(scan, view=view, options=options, max_width=max_width, level=level)
        except ConfigurationError as error:
            raise ConfigurationError(error.problem, path=path) from None
        pixels = picture.image
        grey = bool((pixels[:, :, 0] == pixels[:, :, 1]).all() and (pixels[:, :, 1] == pixels[:, :, 2]).all())
        image = Image.fromarray(np.ascontiguousarray(pixels[:, :, 0]) if grey else pixels)
        row_mm, column_mm = picture.mm_per_pixel
        known = (scan.view(view) if view is not None else scan.views[0]).geometry.spacing_known
        dpi = (_MM_PER_INCH / column_mm, _MM_PER_INCH / row_mm) if known else None
        window = [picture.window.low, picture.window.high]
        metadata = {"quantity": str(picture.quantity), "unit": picture.unit, "window": window}
    _save(image, path, kind, dpi, metadata)
    return path


def picture_metadata(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The nii metadata of a picture written by :func:`export_picture` (quantity, unit, scale or window).

    Examples
    --------
    >>> picture_metadata("side16.png")  # doctest: +SKIP
    {'quantity': 'raw', 'unit': 'counts', 'scale': 1.0}
    """
    with Image.open(path) as image:
        if isinstance(image, TiffImagePlugin.TiffImageFile):
            text = image.tag_v2.get(_TIFF_DESCRIPTION, "{}")
            return dict(json.loads(text)) if text.startswith("{") else {}
        info = getattr(image, "text", {}) or image.info
        result: dict[str, Any] = {}
        for key, value in info.items():
            if isinstance(key, str) and key.startswith("nii:"):
                result[key[4:]] = json.loads(value)
        return result


def _save(image: Image.Image, path: Path, kind: str, dpi: tuple[float, float] | None, metadata: dict[str, Any]) -> None:
    save: dict[str, Any] = {"dpi": dpi} if dpi is not None else {}
    if kind == "PNG":
        text = PngImagePlugin.PngInfo()
        for key, value in metadata.items():
            text.add_text(f"nii:{key}", json.dumps(value))
        save["pnginfo"] = text
    elif kind == "TIFF":
        tags = TiffImagePlugin.ImageFileDirectory_v2()
        tags[_TIFF_DESCRIPTION] = json.dumps(metadata)
        save["tiffinfo"] = tags
        save["compression"] = "tiff_deflate"
    else:
        save["quality"] = 95
    with atomic_output(path) as temporary:
        image.save(temporary, format=kind, **save)


_PICTURE_OPTIONS = {
    "view": "the view to draw; the first by default",
    "max_width": "largest width in pixels (a smaller picture keeps the aspect)",
    "level": "pyramid level: 2**level times smaller",
    "sixteen_bit": "exact 16-bit values with scale and unit in the metadata (PNG, TIFF)",
}


@functools.cache
def _declared_options() -> Mapping[str, Option]:
    """The picture writers' options: every :class:`RenderOptions` field and :func:`export_picture`'s own
    (their defaults from those definitions; their values checked by them)."""
    picture = inspect.signature(export_picture).parameters
    declared = {
        field.name: Option(f"RenderOptions.{field.name}", default=field.default, kind=object)
        for field in fields(renderer.RenderOptions)
    }
    for name, text in _PICTURE_OPTIONS.items():
        declared[name] = Option(text, default=picture[name].default, kind=object)
    declared["options"] = Option("a whole RenderOptions, instead of its fields", kind=renderer.RenderOptions)
    return declare(**declared)


class _DeclaredOnFirstUse:
    """The picture writers' declared options, built when first asked for: they come from
    :class:`~nii.render.RenderOptions`, whose module loads the kernels (numba), which listing or
    reading formats (``nii info``, the CLI's start) must not pay for."""

    def __get__(self, instance: object, owner: type) -> Mapping[str, Option]:
        return _declared_options()


class ImageExportFormat(Format):
    """Base of the write-only picture formats: the options of :func:`export_picture`, and any field of
    :class:`~nii.render.RenderOptions` as a keyword (``quantity="steel"``, ``threats=True``)."""

    pillow_format: ClassVar[str]
    capabilities = frozenset({"picture", "write-only"})

    write_options = _DeclaredOnFirstUse()

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        fields_given = {field.name: options.pop(field.name) for field in fields(renderer.RenderOptions)}
        render_options = options.pop("options") or renderer.RenderOptions(**fields_given)
        return [export_picture(scan, path, options=render_options, image_format=self.pillow_format, **options)]


class PngExport(ImageExportFormat):
    name = "png-export"
    extensions = (".png",)
    description = "PNG picture of one view through nii.render, or its exact 16-bit values (write-only)"
    pillow_format = "PNG"


class JpegExport(ImageExportFormat):
    name = "jpeg-export"
    extensions = (".jpg", ".jpeg")
    description = "JPEG picture of one view through nii.render, quality 95 (write-only)"
    pillow_format = "JPEG"


class TiffExport(ImageExportFormat):
    # No extension: .tif/.tiff name the lossless TIFF scan format; pass format="tiff-export".
    name = "tiff-export"
    description = "TIFF picture of one view through nii.render, or its exact 16-bit values, deflate (write-only)"
    pillow_format = "TIFF"


FORMATS = [register(PngExport), register(JpegExport), register(TiffExport)]

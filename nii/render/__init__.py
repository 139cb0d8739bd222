"""The one renderer: every picture nii makes of a scan (export, viewer tiles, reports, previews) comes from here.

API
---
:class:`Quantity`
    What a picture shows, with its unit: ``raw`` (counts), ``transmission`` (I/I0), ``attenuation``
    (−ln I/I0), ``steel`` (mm of steel), ``zeff`` (effective Z), ``material`` (class, false colour).
:class:`Window`
    ``low`` and ``high`` in the quantity's units (``Window.parse("0.5,6")``); :func:`auto_window`
    fits one to the object (air, photon-starved and saturated pixels left out). :class:`Preset`
    (``full``, ``organic``, ``metal``, ``high-penetration``) picks a part of the object's range.
:class:`RenderOptions`
    Frozen and validated: quantity, channel, window (``"auto"``, a :class:`Window`, ``"LOW,HIGH"``
    or a :class:`Preset`), gamma, invert, enhance, strip (show one material class), threats,
    legend, scale_bar, square_pixels, crop, scanner (model whose physics gives steel, Zeff, classes).
:class:`Renderer`
    One view prepared once (values of the quantity, window, object crop), then any number of
    pictures: :meth:`Renderer.picture` (a level or a width) and :meth:`Renderer.tile`.
:func:`render` / :func:`render_tile`
    The same in one call: ``render(scan, view="side", options=..., max_width=1024) -> Picture``;
    ``render_tile(scan, view=..., options=..., level=2, region=(row0, col0, rows, columns))`` is
    exactly ``render(scan, ..., level=2).image[row0:row0+rows, col0:col0+columns]`` without the
    legend band.
:func:`stored_codes`
    Exact 16-bit values of a quantity with their scale and unit (:class:`StoredCodes`), for 16-bit export.
:func:`nii.render.export.export_picture`
    A picture or the 16-bit values as a PNG, TIFF or JPEG file (also the ``png-export``,
    ``jpeg-export`` and ``tiff-export`` formats of ``nii.write`` and ``nii export``).

Geometry: pictures are in the canonical orientation (top of the object up, travel left to right).
Level 0 has square pixels of the finer of the two pixel spacings (one picture pixel per sample when the
samples are square within 1 % or without ``square_pixels``); pictures are cropped to the object (plus a
3 % margin) unless ``crop=False``; level ``L`` has pixels ``2**L`` times larger, each the area average of
the samples it covers, so a tile at a level equals the same crop of the whole picture bit for bit.
:class:`Picture` gives ``mm_per_pixel`` and ``origin_mm`` to map picture pixels back to the view.
Threat boxes are drawn into tiles as into pictures; the scale bar and the legend go in a band under
a picture, never into tiles.

Examples
--------
>>> from nii.simulate import simulate
>>> scan, truth = simulate("steps", seed=1, rows=64, lines=96)
>>> picture = render(scan, options=RenderOptions(scale_bar=True), max_width=200)
>>> picture.image.dtype, picture.quantity.value, picture.drawn
(dtype('uint8'), 'attenuation', ('scale bar',))
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nii.render.quantities import (
        AIR_ATTENUATION,
        Preset,
        Quantity,
        Strip,
        Window,
        auto_window,
    )
    from nii.render.renderer import Picture, Renderer, RenderOptions, StoredCodes, render, render_tile, stored_codes

__all__ = [
    "AIR_ATTENUATION",
    "Picture",
    "Preset",
    "Quantity",
    "RenderOptions",
    "Renderer",
    "StoredCodes",
    "Strip",
    "Window",
    "auto_window",
    "render",
    "render_tile",
    "stored_codes",
]

_QUANTITIES = frozenset({"AIR_ATTENUATION", "Preset", "Quantity", "Strip", "Window", "auto_window"})


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: the picture formats live in :mod:`nii.render.export`,
    which every format look-up imports, and must not load the kernels (numba) until a picture is made."""
    if name not in __all__:
        raise AttributeError(f"module 'nii.render' has no attribute {name!r}")
    import importlib

    home = "nii.render.quantities" if name in _QUANTITIES else "nii.render.renderer"
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value

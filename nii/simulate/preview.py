"""Preview pictures of simulated scans: every view drawn by :mod:`nii.render`, with the known threats.

For looking at simulated data: each view shows the attenuation (dense matter dark) windowed on the
object, in square pixels, with the threat boxes of the truth and a scale bar, the views stacked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image

from nii.io import atomic_output
from nii.model import Scan, Threat
from nii.render import RenderOptions, render

__all__ = ["preview_image", "write_preview"]

_SEPARATOR_ROWS = 8


def preview_image(scan: Scan, threats: Sequence[Threat] = (), *, max_width: int = 1600) -> np.ndarray:
    """An RGB uint8 picture of every view (stacked top to bottom), with ``threats`` drawn.

    Examples
    --------
    >>> from nii.simulate import simulate
    >>> scan, truth = simulate("suitcase", seed=3, scale=0.1)
    >>> image = preview_image(scan, truth.threats, max_width=200)
    >>> image.dtype, image.shape[1] <= 200, image.shape[2]
    (dtype('uint8'), True, 3)
    """
    shown = replace(scan, threats=list(threats))
    options = RenderOptions(threats=True, scale_bar=True)
    panels = [render(shown, view=view.name, options=options, max_width=max_width).image for view in scan.views]
    width = max(panel.shape[1] for panel in panels)
    separator = np.full((_SEPARATOR_ROWS, width, 3), 255, np.uint8)
    padded = [np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in panels]
    stacked = [part for panel in padded for part in (panel, separator)][:-1]
    return np.concatenate(stacked)


def write_preview(image: np.ndarray, path: str | Path) -> Path:
    """Write an RGB picture as PNG, atomically."""
    path = Path(path)
    with atomic_output(path) as temporary:
        Image.fromarray(image).save(temporary, format="PNG")
    return path

"""Dual energy: effective atomic number, material classes and the conventional false colour.

The effective Z of a pixel comes from its pair ``(A_high, A_low)`` through a :class:`ZeffGrid`, a table
of Z over a regular grid of ``A_high`` and the ratio ``A_low / A_high`` (bilinear between nodes, clamped
at the edges). The table's content depends on the scanner's spectra and is computed elsewhere
(:mod:`nii.calibration`, from the NIST attenuation data); the kernels only apply it.

:class:`MaterialTable` turns Z into classes (organic, inorganic / light metal, metal, high Z) and marks
pixels *unknown* instead of guessing when the object is too thin (``A_high`` below the table's minimum:
the ratio is noise) or too thick (either attenuation above its maximum: photon-starved, saturated). The
false colour multiplies each class's colour by a brightness taken from the high-energy attenuation.

Classes and colours equal the numpy references exactly (same float32 operations); Z is float32 and
equal to its reference bit for bit as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import IntEnum

import numba
import numpy as np

from nii.errors import ValidationError
from nii.kernels._common import run
from nii.kernels._core import check_array, output_array

__all__ = [
    "CONVENTIONAL_PALETTE",
    "MaterialClass",
    "MaterialTable",
    "ZeffGrid",
    "effective_z",
    "effective_z_reference",
    "false_colour",
    "false_colour_reference",
    "material_classes",
    "material_classes_reference",
]

_ZERO = np.float32(0.0)
_ONE = np.float32(1.0)


class MaterialClass(IntEnum):
    """Material class codes of :func:`material_classes` (uint8)."""

    UNKNOWN = 0
    ORGANIC = 1
    INORGANIC = 2
    """Inorganic and light metals (aluminium)."""
    METAL = 3
    HIGH_Z = 4


CONVENTIONAL_PALETTE = np.array(
    [
        (255, 255, 255),  # unknown: grey levels only (white in open air, dark where too thick)
        (255, 140, 0),  # organic: orange
        (40, 190, 40),  # inorganic / light metal: green
        (30, 90, 255),  # metal: blue
        (150, 40, 200),  # high Z: violet
    ],
    dtype=np.uint8,
)
"""Colour of each :class:`MaterialClass`, the conventional orange / green / blue of X-ray screening."""
CONVENTIONAL_PALETTE.flags.writeable = False


@dataclass(frozen=True, eq=False)
class ZeffGrid:
    """Effective Z on a regular grid of ``A_high`` (rows) and ``A_low / A_high`` (columns).

    Parameters
    ----------
    zeff
        float32 ``(n_a, n_r)``, ``n_a, n_r >= 2``: Z at ``A_high = i · a_high_max / (n_a − 1)`` and
        ``ratio = ratio_min + k · (ratio_max − ratio_min) / (n_r − 1)``.
    a_high_max, ratio_min, ratio_max
        Extent of the grid.
    """

    zeff: np.ndarray
    a_high_max: float
    ratio_min: float
    ratio_max: float

    def __post_init__(self) -> None:
        check_array(self.zeff, "Zeff grid", dtype=np.float32, ndim=2)
        if min(self.zeff.shape) < 2:
            raise ValidationError(f"Zeff grid needs at least 2 × 2 nodes, got {self.zeff.shape}")
        if not np.all(np.isfinite(self.zeff)):
            raise ValidationError("Zeff grid holds non-finite values")
        if not (math.isfinite(self.a_high_max) and self.a_high_max > 0):
            raise ValidationError(f"a_high_max must be positive, got {self.a_high_max}")
        if not (math.isfinite(self.ratio_min) and math.isfinite(self.ratio_max) and self.ratio_min < self.ratio_max):
            raise ValidationError(f"need ratio_min < ratio_max, got {self.ratio_min}, {self.ratio_max}")

    @property
    def scales(self) -> tuple[np.float32, np.float32, np.float32]:
        """Nodes per unit of ``A_high``, first ratio, nodes per unit of ratio, as the kernels' float32."""
        n_a, n_r = self.zeff.shape
        return (
            np.float32((n_a - 1) / self.a_high_max),
            np.float32(self.ratio_min),
            np.float32((n_r - 1) / (self.ratio_max - self.ratio_min)),
        )


@dataclass(frozen=True, eq=False)
class MaterialTable:
    """How effective Z becomes a :class:`MaterialClass`, when to say unknown, and the class colours.

    Parameters
    ----------
    z_boundaries
        Upper Z of organic, inorganic / light metal and metal (ascending); above the last is high Z.
    min_attenuation
        ``A_high`` below which a pixel is too thin to decide.
    max_attenuation
        ``A_high`` or ``A_low`` above which a pixel is too thick (photon-starved) to decide.
    palette
        uint8 ``(5, 3)`` RGB of each class, :data:`CONVENTIONAL_PALETTE` by default.

    Examples
    --------
    >>> MaterialTable(min_attenuation=0.2, max_attenuation=9.0).z_boundaries
    (10.0, 17.0, 40.0)
    """

    z_boundaries: tuple[float, float, float] = (10.0, 17.0, 40.0)
    min_attenuation: float = 0.1
    max_attenuation: float = 10.0
    palette: np.ndarray = field(default_factory=lambda: CONVENTIONAL_PALETTE)

    def __post_init__(self) -> None:
        bounds = tuple(float(z) for z in self.z_boundaries)
        if len(bounds) != 3 or not all(math.isfinite(z) for z in bounds) or not bounds[0] < bounds[1] < bounds[2]:
            raise ValidationError(f"z_boundaries must be three ascending numbers, got {self.z_boundaries}")
        object.__setattr__(self, "z_boundaries", bounds)
        if not (0 <= self.min_attenuation < self.max_attenuation and math.isfinite(self.max_attenuation)):
            raise ValidationError(
                f"need 0 <= min_attenuation < max_attenuation, got {self.min_attenuation}, {self.max_attenuation}"
            )
        check_array(self.palette, "palette", dtype=np.uint8, shape=(len(MaterialClass), 3))

    @property
    def boundaries(self) -> np.ndarray:
        """float32 Z boundaries as the kernels use them."""
        return np.array(self.z_boundaries, np.float32)


@numba.njit(inline="always", cache=True)
def _zeff(a_high, a_low, grid, a_scale, ratio_min, ratio_scale):  # pragma: no cover
    n_a, n_r = grid.shape
    ratio = a_low / a_high if a_high > _ZERO else ratio_min
    x = min(max(a_high * a_scale, _ZERO), np.float32(n_a - 1))
    y = min(max((ratio - ratio_min) * ratio_scale, _ZERO), np.float32(n_r - 1))
    i = min(np.int32(x), np.int32(n_a - 2))
    k = min(np.int32(y), np.int32(n_r - 2))
    fx = x - np.float32(i)
    fy = y - np.float32(k)
    near = (_ONE - fy) * grid[i, k] + fy * grid[i, k + 1]
    far = (_ONE - fy) * grid[i + 1, k] + fy * grid[i + 1, k + 1]
    return (_ONE - fx) * near + fx * far


@numba.njit(inline="always", cache=True)
def _material_class(a_high, a_low, z, boundaries, min_attenuation, max_attenuation):  # pragma: no cover
    if a_high < min_attenuation or a_high > max_attenuation or a_low > max_attenuation:
        return np.uint8(0)
    return np.uint8(1 + (z > boundaries[0]) + (z > boundaries[1]) + (z > boundaries[2]))


@numba.njit(inline="always", cache=True)
def _tinted(colour, brightness):  # pragma: no cover
    return np.uint8((np.uint32(colour) * np.uint32(brightness) + np.uint32(127)) // np.uint32(255))


@numba.njit(parallel=True, cache=True)
def _effective_z_kernel(a_high, a_low, grid, a_scale, ratio_min, ratio_scale, out):  # pragma: no cover
    rows, lines = a_high.shape
    for r in numba.prange(rows):
        for j in range(lines):
            out[r, j] = _zeff(a_high[r, j], a_low[r, j], grid, a_scale, ratio_min, ratio_scale)


@numba.njit(parallel=True, cache=True)
def _classes_kernel(
    a_high, a_low, grid, a_scale, ratio_min, ratio_scale, boundaries, low, high, out
):  # pragma: no cover
    rows, lines = a_high.shape
    for r in numba.prange(rows):
        for j in range(lines):
            ah = a_high[r, j]
            al = a_low[r, j]
            z = _zeff(ah, al, grid, a_scale, ratio_min, ratio_scale)
            out[r, j] = _material_class(ah, al, z, boundaries, low, high)


@numba.njit(parallel=True, cache=True)
def _false_colour_kernel(classes, brightness, palette, out):  # pragma: no cover
    rows, lines = classes.shape
    for r in numba.prange(rows):
        for j in range(lines):
            c = classes[r, j]
            b = brightness[r, j]
            for channel in range(3):
                out[r, j, channel] = _tinted(palette[c, channel], b)


def _check_pair(a_high: np.ndarray, a_low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    check_array(a_high, "high-energy attenuation", dtype=np.float32, ndim=2)
    check_array(a_low, "low-energy attenuation", dtype=np.float32, shape=a_high.shape)
    return a_high, a_low


def effective_z(a_high: np.ndarray, a_low: np.ndarray, grid: ZeffGrid, *, out: np.ndarray | None = None) -> np.ndarray:
    """Effective atomic number of every pixel from its high- and low-energy attenuation.

    Parameters
    ----------
    a_high, a_low
        float32 attenuation ``(rows, lines)`` of the two energies (same shape).
    grid
        The scanner's Zeff table for this energy pair.
    out
        Optional float32 result.

    Examples
    --------
    >>> grid = ZeffGrid(np.array([[6.0, 26.0], [6.0, 26.0]], np.float32), 10.0, 1.0, 1.2)
    >>> effective_z(np.full((1, 1), 2.0, np.float32), np.full((1, 1), 2.2, np.float32), grid).round(3).tolist()
    [[16.0]]
    """
    a_high, a_low = _check_pair(a_high, a_low)
    result = output_array(out, a_high.shape, np.float32)
    run(_effective_z_kernel, a_high.size, a_high, a_low, grid.zeff, *grid.scales, result)
    return result


def material_classes(
    a_high: np.ndarray,
    a_low: np.ndarray,
    grid: ZeffGrid,
    table: MaterialTable,
    *,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """:class:`MaterialClass` code (uint8) of every pixel; unknown where too thin or too thick.

    Examples
    --------
    >>> grid = ZeffGrid(np.array([[6.0, 26.0], [6.0, 26.0]], np.float32), 10.0, 1.0, 1.2)
    >>> a_high = np.array([[0.01, 2.0, 2.0]], np.float32)
    >>> material_classes(a_high, np.array([[0.02, 2.0, 2.4]], np.float32), grid, MaterialTable()).tolist()
    [[0, 1, 3]]
    """
    a_high, a_low = _check_pair(a_high, a_low)
    result = output_array(out, a_high.shape, np.uint8)
    run(
        _classes_kernel,
        a_high.size,
        a_high,
        a_low,
        grid.zeff,
        *grid.scales,
        table.boundaries,
        np.float32(table.min_attenuation),
        np.float32(table.max_attenuation),
        result,
    )
    return result


def false_colour(
    classes: np.ndarray, brightness: np.ndarray, palette: np.ndarray, *, out: np.ndarray | None = None
) -> np.ndarray:
    """RGB image: each class's colour scaled by the pixel's brightness (``colour · b / 255``, rounded).

    Parameters
    ----------
    classes
        uint8 :class:`MaterialClass` codes ``(rows, lines)``.
    brightness
        uint8 grey levels ``(rows, lines)``, for example a windowed high-energy attenuation.
    palette
        uint8 ``(5, 3)`` colours, such as ``MaterialTable().palette``.
    out
        Optional uint8 ``(rows, lines, 3)`` result.

    Examples
    --------
    >>> false_colour(np.array([[1]], np.uint8), np.array([[128]], np.uint8), CONVENTIONAL_PALETTE).tolist()
    [[[128, 70, 0]]]
    """
    check_array(classes, "classes", dtype=np.uint8, ndim=2)
    check_array(brightness, "brightness", dtype=np.uint8, shape=classes.shape)
    check_array(palette, "palette", dtype=np.uint8, shape=(len(MaterialClass), 3))
    if classes.max() >= len(MaterialClass):
        raise ValidationError(f"classes hold codes above {len(MaterialClass) - 1}")
    result = output_array(out, (*classes.shape, 3), np.uint8)
    run(_false_colour_kernel, classes.size, classes, brightness, palette, result)
    return result


def effective_z_reference(a_high: np.ndarray, a_low: np.ndarray, grid: ZeffGrid) -> np.ndarray:
    """Plain-numpy :func:`effective_z`."""
    a_scale, ratio_min, ratio_scale = grid.scales
    n_a, n_r = grid.zeff.shape
    positive = a_high > _ZERO
    ratio = np.where(positive, a_low / np.where(positive, a_high, _ONE), ratio_min)
    x = np.clip(a_high * a_scale, _ZERO, np.float32(n_a - 1))
    y = np.clip((ratio - ratio_min) * ratio_scale, _ZERO, np.float32(n_r - 1))
    i = np.minimum(x.astype(np.int32), n_a - 2)
    k = np.minimum(y.astype(np.int32), n_r - 2)
    fx = x - i.astype(np.float32)
    fy = y - k.astype(np.float32)
    g = grid.zeff
    near = (_ONE - fy) * g[i, k] + fy * g[i, k + 1]
    far = (_ONE - fy) * g[i + 1, k] + fy * g[i + 1, k + 1]
    return (_ONE - fx) * near + fx * far


def material_classes_reference(
    a_high: np.ndarray, a_low: np.ndarray, grid: ZeffGrid, table: MaterialTable
) -> np.ndarray:
    """Plain-numpy :func:`material_classes`."""
    z = effective_z_reference(a_high, a_low, grid)
    classes = 1 + (z[..., None] > table.boundaries).sum(axis=-1)
    low, high = np.float32(table.min_attenuation), np.float32(table.max_attenuation)
    unknown = (a_high < low) | (a_high > high) | (a_low > high)
    return np.where(unknown, 0, classes).astype(np.uint8)


def false_colour_reference(classes: np.ndarray, brightness: np.ndarray, palette: np.ndarray) -> np.ndarray:
    """Plain-numpy :func:`false_colour`."""
    colour = palette[classes].astype(np.uint32) * brightness[..., None].astype(np.uint32)
    return ((colour + 127) // 255).astype(np.uint8)

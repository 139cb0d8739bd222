"""Solids that make up simulated objects, and their projections onto a line-scan grid.

Coordinates are in millimetres, in the frame of the object: ``x`` along the travel (0 at
the leading end), ``y`` across it (horizontal), ``z`` up from the ground or the belt. A
view projects along ``y`` (``"side"``: horizontal beam, image rows follow ``z``) or along
``z`` (``"top"``: vertical beam, image rows follow ``y``); image columns always follow
``x``.

A solid's projection is its chord length (mm) along the beam for every pixel of the grid.
Pixels have an aperture (the detector pitch across rows, the distance travelled during
one line across columns): boxes are averaged over it exactly, extruded polygons by
supersampling, ellipsoids are sampled at the pixel centre.

Every solid has a ``material`` (a name) and a ``fill``: the fraction of the material's
density it holds (loosely packed cargo, hollow castings). A negative fill removes the
material of solids placed before it, which is how cavities are cut.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from nii.errors import ValidationError
from nii.kernels.raster import interval_lengths

__all__ = [
    "Axis",
    "Box",
    "Ellipsoid",
    "Grid",
    "Prism",
    "Solid",
    "box_shell",
    "circle",
    "corrugated_wall",
    "cylinder",
    "thick_polyline",
]

Axis = Literal["x", "y", "z"]
_AXES: tuple[Axis, ...] = ("x", "y", "z")
SUPERSAMPLING = 4
"""Sub-samples per pixel side for polygon footprints and chord profiles."""


@dataclass(frozen=True, eq=False)
class Grid:
    """Where the pixels of one view sample the object.

    Parameters
    ----------
    view
        ``"side"`` (beam along ``y``, rows follow ``z`` from the top down) or ``"top"`` (beam
        along ``z``, rows follow ``y``).
    columns_mm
        ``x`` of every column (increasing).
    column_width_mm
        Aperture of every column along ``x`` (the distance travelled during the line).
    rows_mm
        ``z`` (side) or ``y`` (top) of every row centre, in row order.
    row_width_mm
        Detector pitch.
    """

    view: Literal["side", "top"]
    columns_mm: np.ndarray
    column_width_mm: np.ndarray
    rows_mm: np.ndarray
    row_width_mm: float

    @property
    def beam_axis(self) -> Axis:
        return "y" if self.view == "side" else "z"

    @property
    def row_axis(self) -> Axis:
        return "z" if self.view == "side" else "y"

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows_mm.size, self.columns_mm.size

    def columns(self, start: int, stop: int) -> Grid:
        """The same grid restricted to columns ``start:stop``."""
        return Grid(
            self.view, self.columns_mm[start:stop], self.column_width_mm[start:stop], self.rows_mm, self.row_width_mm
        )


def _coverage(low: float, high: float, centres: np.ndarray, widths: np.ndarray | float) -> np.ndarray:
    """Fraction of each pixel ``[c - w/2, c + w/2]`` inside ``[low, high]``."""
    half = np.asarray(widths) / 2
    overlap = np.minimum(high, centres + half) - np.maximum(low, centres - half)
    return np.clip(overlap / (2 * half), 0.0, 1.0)


def _span(values: np.ndarray, low: float, high: float, margin: float) -> slice | None:
    """Smallest slice of ``values`` (sorted either way) holding every value in ``[low - margin, high + margin]``."""
    inside = np.flatnonzero((values >= low - margin) & (values <= high + margin))
    if inside.size == 0:
        return None
    return slice(int(inside[0]), int(inside[-1]) + 1)


@dataclass(frozen=True, eq=False)
class Solid:
    """Base of the solids: a material name and a fill factor (see the module notes)."""

    material: str
    fill: float

    def bounds(self) -> np.ndarray:
        """``(3, 2)`` array of ``[min, max]`` along x, y, z."""
        cached: np.ndarray | None = self.__dict__.get("_bounds")
        if cached is None:
            cached = self._compute_bounds()
            cached.setflags(write=False)
            self.__dict__["_bounds"] = cached
        return cached

    def _compute_bounds(self) -> np.ndarray:
        raise NotImplementedError

    def project(self, grid: Grid) -> tuple[slice, slice, np.ndarray] | None:
        """Chord lengths (mm) over the part of ``grid`` the solid covers: ``(rows, columns, block)``."""
        raise NotImplementedError

    def _validate(self) -> None:
        if not (math.isfinite(self.fill) and -1.0 <= self.fill <= 1.0 and self.fill != 0):
            raise ValidationError(f"fill of a {self.material} solid must be in [-1, 1] and not 0, got {self.fill!r}")


def _pixel_spans(solid: Solid, grid: Grid) -> tuple[slice, slice] | None:
    bounds = solid.bounds()
    x_low, x_high = bounds[0]
    v_low, v_high = bounds[_AXES.index(grid.row_axis)]
    columns = _span(grid.columns_mm, x_low, x_high, float(np.max(grid.column_width_mm, initial=0.0)))
    rows = _span(grid.rows_mm, v_low, v_high, grid.row_width_mm)
    if columns is None or rows is None:
        return None
    return rows, columns


@dataclass(frozen=True, eq=False)
class Box(Solid):
    """An axis-aligned cuboid ``[x0, x1] × [y0, y1] × [z0, z1]`` (mm), averaged exactly over pixel apertures.

    Examples
    --------
    >>> grid = Grid("side", np.array([0.5, 1.5, 2.5]), np.ones(3), np.array([1.5, 0.5]), 1.0)
    >>> rows, columns, chords = Box("steel", 1.0, (1.0, 2.5), (-5.0, 5.0), (0.0, 1.0)).project(grid)
    >>> chords.tolist()  # 10 mm deep; the box covers half of the third column, none of the upper row
    [[0.0, 0.0, 0.0], [0.0, 10.0, 5.0]]
    """

    x: tuple[float, float] = (0.0, 1.0)
    y: tuple[float, float] = (0.0, 1.0)
    z: tuple[float, float] = (0.0, 1.0)

    def __post_init__(self) -> None:
        self._validate()
        for axis in _AXES:
            low, high = getattr(self, axis)
            if not (math.isfinite(low) and math.isfinite(high) and high > low):
                raise ValidationError(f"box extent along {axis} must be increasing, got {(low, high)}")

    def _compute_bounds(self) -> np.ndarray:
        return np.array([self.x, self.y, self.z], dtype=np.float64)

    def project(self, grid: Grid) -> tuple[slice, slice, np.ndarray] | None:
        spans = _pixel_spans(self, grid)
        if spans is None:
            return None
        rows, columns = spans
        low, high = getattr(self, grid.beam_axis)
        row_low, row_high = getattr(self, grid.row_axis)
        along_x = _coverage(self.x[0], self.x[1], grid.columns_mm[columns], grid.column_width_mm[columns])
        along_rows = _coverage(row_low, row_high, grid.rows_mm[rows], grid.row_width_mm)
        return rows, columns, ((high - low) * np.outer(along_rows, along_x)).astype(np.float32)


@dataclass(frozen=True, eq=False)
class Ellipsoid(Solid):
    """An axis-aligned ellipsoid, sampled at pixel centres (bottles, fruit, organic lumps)."""

    centre: tuple[float, float, float] = (0.0, 0.0, 0.0)
    semi_axes: tuple[float, float, float] = (1.0, 1.0, 1.0)

    def __post_init__(self) -> None:
        self._validate()
        if not all(math.isfinite(a) and a > 0 for a in self.semi_axes):
            raise ValidationError(f"ellipsoid semi-axes must be positive, got {self.semi_axes}")

    def _compute_bounds(self) -> np.ndarray:
        centre, axes = np.array(self.centre), np.array(self.semi_axes)
        return np.stack([centre - axes, centre + axes], axis=1)

    def project(self, grid: Grid) -> tuple[slice, slice, np.ndarray] | None:
        spans = _pixel_spans(self, grid)
        if spans is None:
            return None
        rows, columns = spans
        beam, row_axis = _AXES.index(grid.beam_axis), _AXES.index(grid.row_axis)
        u = (grid.columns_mm[columns] - self.centre[0]) / self.semi_axes[0]
        v = (grid.rows_mm[rows] - self.centre[row_axis]) / self.semi_axes[row_axis]
        inside = 1.0 - v[:, None] ** 2 - u[None, :] ** 2
        return rows, columns, (2 * self.semi_axes[beam] * np.sqrt(np.clip(inside, 0.0, None))).astype(np.float32)


def _intervals(rings: Sequence[np.ndarray], t: np.ndarray, along: int) -> tuple[np.ndarray, np.ndarray]:
    """Where the lines ``coordinate[1 - along] = t`` run inside the rings (even-odd rule).

    Returns ``(entering, leaving)`` coordinates along ``along``, shape ``(t.size, k)``;
    unused slots are empty intervals at 0.
    """
    starts = np.concatenate(list(rings))
    ends = np.concatenate([np.roll(ring, -1, axis=0) for ring in rings])
    s0, s1 = starts[:, along], ends[:, along]
    t0, t1 = starts[:, 1 - along], ends[:, 1 - along]
    # Half-open crossing rule: a line through a vertex counts it once, so crossings pair up.
    crosses = (t0[None, :] > t[:, None]) != (t1[None, :] > t[:, None])
    with np.errstate(divide="ignore", invalid="ignore"):
        s = s0 + (t[:, None] - t0) * (s1 - s0) / (t1 - t0)
    crossings = np.sort(np.where(crosses, s, np.inf), axis=1)
    count = int(crosses.sum(axis=1).max(initial=0))
    crossings = crossings[:, : count + count % 2]
    entering, leaving = crossings[:, 0::2], crossings[:, 1::2]
    empty = ~np.isfinite(leaving)
    return np.where(empty, 0.0, entering), np.where(empty, 0.0, leaving)


def _subsamples(centres: np.ndarray, widths: np.ndarray | float) -> np.ndarray:
    """``(n, SUPERSAMPLING)`` sample positions spread evenly over each pixel."""
    offsets = (np.arange(SUPERSAMPLING) + 0.5) / SUPERSAMPLING - 0.5
    return centres[:, None] + np.asarray(widths).reshape(-1, 1) * offsets[None, :]


@dataclass(frozen=True, eq=False)
class Prism(Solid):
    """Polygons in the plane across ``axis``, extruded along ``axis`` over ``extent``.

    ``rings`` are closed outlines (``(n, 2)`` vertex arrays) in the coordinates of the
    other two axes in x, y, z order (for ``axis="y"``: ``(x, z)``); overlapping rings
    follow the even-odd rule, so a ring inside another is a hole.
    """

    axis: Axis = "z"
    extent: tuple[float, float] = (0.0, 1.0)
    rings: tuple[np.ndarray, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        self._validate()
        if self.axis not in _AXES:
            raise ValidationError(f"prism axis must be x, y or z, got {self.axis!r}")
        if not self.extent[1] > self.extent[0]:
            raise ValidationError(f"prism extent must be increasing, got {self.extent}")
        rings = tuple(np.asarray(ring, dtype=np.float64) for ring in self.rings)
        if not rings or any(ring.ndim != 2 or ring.shape[1] != 2 or ring.shape[0] < 3 for ring in rings):
            raise ValidationError("prism rings must be (n ≥ 3, 2) vertex arrays")
        object.__setattr__(self, "rings", rings)

    @property
    def plane_axes(self) -> tuple[Axis, Axis]:
        first, second = (a for a in _AXES if a != self.axis)
        return first, second

    def _compute_bounds(self) -> np.ndarray:
        points = np.concatenate(self.rings)
        result = np.empty((3, 2))
        result[_AXES.index(self.axis)] = self.extent
        for column, axis in enumerate(self.plane_axes):
            result[_AXES.index(axis)] = points[:, column].min(), points[:, column].max()
        return result

    def project(self, grid: Grid) -> tuple[slice, slice, np.ndarray] | None:
        spans = _pixel_spans(self, grid)
        if spans is None:
            return None
        rows, columns = spans
        x = grid.columns_mm[columns]
        x_width = grid.column_width_mm[columns]
        v = grid.rows_mm[rows]
        if grid.beam_axis == self.axis:
            # The beam runs along the extrusion: length × footprint coverage, exact along x
            # and supersampled across rows (the plane axes are x and the row axis here).
            entering, leaving = _intervals(self.rings, _subsamples(v, grid.row_width_mm).ravel(), along=0)
            inside = interval_lengths(entering, leaving, x - x_width / 2, x + x_width / 2) / x_width
            coverage = inside.reshape(v.size, SUPERSAMPLING, x.size).mean(axis=1)
            return rows, columns, ((self.extent[1] - self.extent[0]) * coverage).astype(np.float32)
        # The beam crosses the polygon: chord profile across the other plane axis × coverage along the extrusion.
        along = self.plane_axes.index(grid.beam_axis)
        if self.axis == grid.row_axis:
            profile = self._chords(_subsamples(x, x_width), along)
            extrusion = _coverage(*self.extent, v, grid.row_width_mm)
            return rows, columns, np.outer(extrusion, profile).astype(np.float32)
        profile = self._chords(_subsamples(v, grid.row_width_mm), along)
        extrusion = _coverage(*self.extent, x, x_width)
        return rows, columns, np.outer(profile, extrusion).astype(np.float32)

    def _chords(self, samples: np.ndarray, along: int) -> np.ndarray:
        """Mean chord length along plane axis ``along`` over each row of sample positions."""
        entering, leaving = _intervals(self.rings, samples.ravel(), along)
        return (leaving - entering).sum(axis=1).reshape(samples.shape).mean(axis=1)


def circle(centre: tuple[float, float], radius: float, *, vertices: int = 64) -> np.ndarray:
    """A circle as a closed polygon of equal area (so chord lengths average right)."""
    angles = np.linspace(0, 2 * np.pi, vertices, endpoint=False)
    # Scale the polygon so its area equals the circle's.
    scale = math.sqrt(2 * math.pi / (vertices * math.sin(2 * math.pi / vertices)))
    r = radius * scale
    return np.column_stack([centre[0] + r * np.cos(angles), centre[1] + r * np.sin(angles)])


def cylinder(
    material: str,
    fill: float,
    *,
    axis: Axis,
    centre: tuple[float, float],
    radius: float,
    extent: tuple[float, float],
    inner_radius: float = 0.0,
) -> Prism:
    """A cylinder (or a tube when ``inner_radius`` > 0) along ``axis``; ``centre`` is in the plane axes."""
    rings = [circle(centre, radius)]
    if inner_radius > 0:
        rings.append(circle(centre, inner_radius))
    return Prism(material, fill, axis=axis, extent=extent, rings=tuple(rings))


def thick_polyline(points: np.ndarray, thickness: float) -> np.ndarray:
    """Outline of a sheet of ``thickness`` bent along the polyline ``points`` (mitred joints)."""
    points = np.asarray(points, dtype=np.float64)
    directions = np.diff(points, axis=0)
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    normals = np.column_stack([-directions[:, 1], directions[:, 0]])
    # At each vertex offset along the bisector of the adjacent normals, lengthened so the
    # sheet keeps its thickness on both segments (a mitre).
    vertex_normals = np.empty_like(points)
    vertex_normals[0], vertex_normals[-1] = normals[0], normals[-1]
    bisectors = normals[:-1] + normals[1:]
    bisectors /= np.linalg.norm(bisectors, axis=1, keepdims=True)
    cosines = np.sum(bisectors * normals[1:], axis=1)
    vertex_normals[1:-1] = bisectors / cosines[:, None]
    half = thickness / 2
    return np.concatenate([points + half * vertex_normals, (points - half * vertex_normals)[::-1]])


def corrugated_wall(
    material: str,
    *,
    axis: Axis,
    extent: tuple[float, float],
    span: tuple[float, float],
    base: float,
    depth: float,
    pitch: float,
    outer_flat: float,
    inner_flat: float,
    thickness: float,
    transpose: bool = False,
) -> list[Prism]:
    """A trapezoidally corrugated steel sheet (container walls and roofs), one prism per corrugation.

    In the plane across ``axis`` the sheet runs over ``span`` of the first plane axis
    (the second with ``transpose``); its centre line alternates between ``base`` (outer
    flats) and ``base + depth`` (inner flats; a negative depth corrugates the other way).
    Cutting it per corrugation keeps every prism small, so projecting it stays cheap.
    """
    start, stop = span
    slant = (pitch - outer_flat - inner_flat) / 2
    if slant <= 0 or stop <= start:
        raise ValidationError("corrugation pitch must exceed the two flats, and the span must be increasing")
    pattern = [(0.0, base), (outer_flat, base), (outer_flat + slant, base + depth), (pitch - slant, base + depth)]
    prisms = []
    for offset in np.arange(start, stop, pitch):
        points = [(offset + a, b) for a, b in pattern if offset + a < stop]
        end = min(offset + pitch, stop)
        points.append((end, base if end == offset + pitch else points[-1][1]))
        outline = thick_polyline(np.array(points), thickness)
        prisms.append(
            Prism(material, 1.0, axis=axis, extent=extent, rings=(outline[:, ::-1] if transpose else outline,))
        )
    return prisms


def box_shell(material: str, fill: float, outer: Box, thickness: float) -> list[Box]:
    """A closed hollow box: the outer box minus its inside (``thickness`` mm walls)."""
    inner = Box(
        material,
        -fill,
        (outer.x[0] + thickness, outer.x[1] - thickness),
        (outer.y[0] + thickness, outer.y[1] - thickness),
        (outer.z[0] + thickness, outer.z[1] - thickness),
    )
    return [Box(material, fill, outer.x, outer.y, outer.z), inner]

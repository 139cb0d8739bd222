"""Image-quality test objects for cargo and baggage scanners, in the manner of IEC 62523, ANSI N42.46 and ASTM F792.

One phantom (scenario ``test-objects``) holds four groups, side by side along the travel, on open
stands so that nothing else lies in the beam; the material-discrimination step wedges are the
``steps`` scenario. Heights ``z`` are from the ground (the side view's detector column stands on it).

``penetration``
    Steel walls from 150 to 500 mm thick (beam direction) in 25 mm steps, each 250 mm along the
    travel and 1 m high, with a test block of 20 mm of steel (100 × 100 mm) behind its middle.
    Penetration is the thickest wall behind which the block is still detectable.
``wires``
    Copper wires of 0.5 to 8 mm diameter (square sections of the same area), 1 m long along the
    travel, behind 50 mm of steel.
``contrast``
    60 × 60 mm steel plates of 0.125 to 8 % of a 200 mm steel wall's thickness, on that wall.
``edges``
    A 30 mm steel plate with two straight edges slanted by 5° (one nearly across the travel, one
    nearly along it), for the edge spread function and the MTF along travel and along the detector.

These are the cargo sizes (:data:`LAYOUT`, linacs). A baggage tunnel (kV tube) gets the same arrangement a
fifth the size, with walls, wires and plates for its energies (:data:`BAGGAGE_LAYOUT`); :func:`layout_for`
picks one by the scanner's source.

:class:`TestObjectLayout` gives every region of interest in mm, and turns them into pixel boxes of a
scan of the phantom (:meth:`TestObjectLayout.pixels`), so the metrics of :mod:`nii.quality` know where
to look on any scanner, at any pitch, speed and travel direction.

Examples
--------
>>> phantom = test_objects_phantom()
>>> phantom.name, len(LAYOUT.penetration), len(LAYOUT.wires), len(LAYOUT.contrast)
('test-objects', 15, 8, 7)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nii.errors import ValidationError
from nii.model import Geometry, InspectedObject, ObjectType, SourceKind
from nii.simulate.assembly import Phantom
from nii.simulate.solids import Box, Prism, Solid

__all__ = [
    "BAGGAGE_LAYOUT",
    "EDGE_ANGLE_DEG",
    "LAYOUT",
    "ContrastPlate",
    "PenetrationStep",
    "Region",
    "TestObjectLayout",
    "Wire",
    "layout_for",
    "test_objects_phantom",
]

EDGE_ANGLE_DEG = 5.0
"""Slant of the resolution edges against the pixel grid (oversamples the edge spread function)."""

_WALL_DEPTH = {"penetration_block": 20.0, "wire_plate": 50.0, "contrast_wall": 200.0, "edge_plate": 30.0}


@dataclass(frozen=True)
class Region:
    """A rectangle of the side view in mm: ``x`` along the travel from the object's front, ``z`` height."""

    x: tuple[float, float]
    z: tuple[float, float]

    def inset(self, margin: float) -> Region:
        """The region shrunk by ``margin`` mm on every side."""
        return Region((self.x[0] + margin, self.x[1] - margin), (self.z[0] + margin, self.z[1] - margin))


@dataclass(frozen=True)
class PenetrationStep:
    """One steel wall: its thickness (mm), the test block's region and the background around it."""

    steel_mm: float
    block: Region
    background: tuple[Region, ...]


@dataclass(frozen=True)
class Wire:
    """One wire: diameter (mm), height of its axis (mm) and its extent along the travel.

    The wire is drawn with a square section of the same area as the round wire (side ``√π / 2`` times
    the diameter): boxes project exactly onto the pixel apertures, while a round section thinner than
    the simulator's sub-pixel sampling would be hit or missed by the samples.
    """

    diameter_mm: float
    z: float
    x: tuple[float, float]

    @property
    def side_mm(self) -> float:
        return self.diameter_mm * math.sqrt(math.pi) / 2


@dataclass(frozen=True)
class ContrastPlate:
    """One plate on the contrast wall: its share of the wall's thickness (%), region and background."""

    percent: float
    plate: Region
    background: Region


@dataclass(frozen=True)
class TestObjectLayout:
    """Where everything is (mm). See the module docstring."""

    length_mm: float
    margin_mm: float
    penetration: tuple[PenetrationStep, ...]
    penetration_block_mm: float
    wires: tuple[Wire, ...]
    wire_plate_mm: float
    wire_material: str
    contrast: tuple[ContrastPlate, ...]
    contrast_wall_mm: float
    edge_plate_mm: float
    edge_across_travel: Region
    """Around the edge that is nearly across the travel (a profile along the travel crosses it)."""
    edge_along_travel: Region
    """Around the edge that is nearly along the travel (a profile down the detector crosses it)."""
    size: float = 1.0
    """Scale of the whole arrangement (1: cargo; smaller for a baggage tunnel): every position and extent."""

    def pixels(self, region: Region, geometry: Geometry, shape: tuple[int, int]) -> tuple[slice, slice]:
        """Rows and columns of a canonically oriented side view of this phantom inside ``region``.

        Rows are ``z`` from the top of the detector column down; columns are lines, placed by their
        recorded positions when the speed varied.
        """
        if not geometry.is_canonical:
            raise ValidationError("test-object regions need a canonically oriented view (apply the orient step)")
        rows, lines = shape
        x = self.line_centres_mm(geometry, lines)
        first, last = np.searchsorted(x, region.x[0]), np.searchsorted(x, region.x[1])
        pitch, _ = geometry.known_spacing("locating test objects")
        top = math.ceil(rows - region.z[1] / pitch)
        bottom = math.floor(rows - region.z[0] / pitch)
        if last - first < 1 or bottom - top < 1 or top < 0 or bottom > rows:
            raise ValidationError(f"region {region} lies outside the {rows} × {lines} view")
        return slice(top, bottom), slice(int(first), int(last))

    def line_centres_mm(self, geometry: Geometry, lines: int) -> np.ndarray:
        """Position of every line's centre along the travel, from the object's front (mm)."""
        if geometry.line_positions_mm is not None:
            positions = np.asarray(geometry.line_positions_mm, np.float64)
            steps = np.diff(positions, append=positions[-1] + (positions[-1] - positions[-2]))
            return positions + steps / 2 - self.margin_mm
        return (np.arange(lines) + 0.5) * geometry.known_spacing("locating test objects")[1] - self.margin_mm


def _layout(
    size: float,
    walls_mm: np.ndarray,
    depths: dict[str, float],
    wire_diameters_mm: tuple[float, ...],
) -> TestObjectLayout:
    """The arrangement of the module docstring, its positions and extents times ``size``."""
    steps = []
    for k, steel in enumerate(walls_mm):
        x0 = 250.0 * k
        block = _region((x0 + 75, x0 + 175), (650.0, 750.0), size)
        background = (
            _region((x0 + 50, x0 + 200), (300.0, 550.0), size),
            _region((x0 + 50, x0 + 200), (850.0, 1100.0), size),
        )
        steps.append(PenetrationStep(float(steel), block, background))
    wires = tuple(
        Wire(diameter, (1650.0 + 200.0 * i) * size, (100.0 * size, 1100.0 * size))
        for i, diameter in enumerate(wire_diameters_mm)
    )
    contrast = tuple(
        ContrastPlate(
            percent,
            _region((1500.0 + 200.0 * j, 1560.0 + 200.0 * j), (2370.0, 2430.0), size),
            _region((1480.0 + 200.0 * j, 1580.0 + 200.0 * j), (2550.0, 2750.0), size),
        )
        for j, percent in enumerate((8.0, 4.0, 2.0, 1.0, 0.5, 0.25, 0.125))
    )
    return TestObjectLayout(
        length_mm=3750.0 * size,
        margin_mm=600.0 * size,
        penetration=tuple(steps),
        penetration_block_mm=depths["penetration_block"],
        wires=wires,
        wire_plate_mm=depths["wire_plate"],
        wire_material="copper",
        contrast=contrast,
        contrast_wall_mm=depths["contrast_wall"],
        edge_plate_mm=depths["edge_plate"],
        edge_across_travel=_region((3100.0, 3500.0), (1600.0, 2400.0), size),
        edge_along_travel=_region((3100.0, 3650.0), (2650.0, 3150.0), size),
        size=size,
    )


def _region(x: tuple[float, float], z: tuple[float, float], size: float) -> Region:
    return Region((x[0] * size, x[1] * size), (z[0] * size, z[1] * size))


LAYOUT = _layout(1.0, np.arange(150.0, 501.0, 25.0), _WALL_DEPTH, (8, 6, 4, 3, 2, 1.5, 1, 0.5))
"""The layout of :func:`test_objects_phantom` for cargo scanners (linacs)."""

BAGGAGE_LAYOUT = _layout(
    0.2,
    np.arange(4.0, 61.0, 4.0),
    {"penetration_block": 2.0, "wire_plate": 1.0, "contrast_wall": 5.0, "edge_plate": 6.0},
    (1.6, 1.2, 0.8, 0.6, 0.4, 0.3, 0.2, 0.1),
)
"""The same arrangement a fifth the size for a baggage tunnel (0.75 m long, 0.66 m high; kV tubes): steel walls
4 to 60 mm with a 2 mm block, copper wires 0.1 to 1.6 mm behind 1 mm of steel, plates on a 5 mm wall, 6 mm
edges."""


def layout_for(source: SourceKind | str) -> TestObjectLayout:
    """The test-object layout for a scanner's source: :data:`LAYOUT` (linac) or :data:`BAGGAGE_LAYOUT` (tube).

    Examples
    --------
    >>> layout_for("TUBE").length_mm, layout_for("LINAC").length_mm
    (750.0, 3750.0)
    """
    return LAYOUT if SourceKind(source) is SourceKind.LINAC else BAGGAGE_LAYOUT


def _wall(x: tuple[float, float], z: tuple[float, float], depth: float, *, behind: float = 0.0) -> Box:
    return Box("steel", 1.0, x, (behind - depth / 2, behind + depth / 2), z)


def test_objects_phantom(source: SourceKind | str = SourceKind.LINAC) -> Phantom:
    """The phantom of :func:`layout_for` the source (no random parts): cargo size for a linac, a fifth of it
    for a baggage scanner's tunnel (tube)."""
    layout = layout_for(source)
    size = layout.size
    solids: list[Solid] = []
    for step in layout.penetration:
        x0 = step.block.x[0] - 75 * size
        solids.append(_wall((x0, x0 + 250 * size), (200.0 * size, 1200.0 * size), step.steel_mm))
        back = step.steel_mm / 2 + 50 * size + layout.penetration_block_mm / 2
        solids.append(_wall(step.block.x, step.block.z, layout.penetration_block_mm, behind=back))
    solids.append(_wall((0.0, 1200.0 * size), (1500.0 * size, 3300.0 * size), layout.wire_plate_mm))
    for wire in layout.wires:
        y, half = layout.wire_plate_mm / 2 + 100.0 * size, wire.side_mm / 2
        solids.append(Box(layout.wire_material, 1.0, wire.x, (y - half, y + half), (wire.z - half, wire.z + half)))
    solids.append(_wall((1400.0 * size, 3000.0 * size), (1500.0 * size, 3300.0 * size), layout.contrast_wall_mm))
    for plate in layout.contrast:
        depth = layout.contrast_wall_mm * plate.percent / 100
        behind = layout.contrast_wall_mm / 2 + 50 * size + depth / 2
        solids.append(_wall(plate.plate.x, plate.plate.z, depth, behind=behind))
    slant = math.tan(math.radians(EDGE_ANGLE_DEG))
    # Edge across the travel at x = 3300 (+ slant × height above 1500); edge along the travel at z = 2900.
    across = size * np.array([(3300.0, 1500.0), (3300.0 + 1000.0 * slant, 2500.0), (3750.0, 2500.0), (3750.0, 1500.0)])
    along = size * np.array([(3000.0, 2900.0), (3750.0, 2900.0 + 750.0 * slant), (3750.0, 3300.0), (3000.0, 3300.0)])
    half = layout.edge_plate_mm / 2
    for ring in (across, along):
        solids.append(Prism("steel", 1.0, axis="y", extent=(-half, half), rings=(ring,)))
    obj = InspectedObject(ObjectType.OTHER, identifier="TEST-OBJECTS", description="image-quality test objects")
    return Phantom("test-objects", tuple(solids), layout.length_mm, obj, margin_mm=layout.margin_mm)

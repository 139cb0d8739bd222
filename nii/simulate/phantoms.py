"""Simulated objects: an ISO container on a trailer, a truck, calibration step wedges, and the scenarios.

A :class:`~nii.simulate.assembly.Phantom` (:mod:`nii.simulate.assembly`) is a list of solids
with the metadata of the object and the solids that form known threats; the suitcase is
built in :mod:`nii.simulate.baggage`. This module offers both under their first names
(``nii.simulate.phantoms.Phantom``, ``suitcase_phantom``). The builders take a random generator,
so one seed gives one layout: cargo, threat kinds and their places vary with it, the
structure (walls, frames, wheels) does not.

Dimensions follow the public norms and typical figures: a 40 ft ISO 668 container is
12 192 × 2 438 × 2 591 mm with 1.6 mm corrugated steel side walls, a 28 mm wooden floor
on steel cross members every 300 mm, corner posts and castings; tyres are 1 m across on
22.5 in rims.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from nii.errors import ValidationError
from nii.materials import MATERIALS
from nii.model import InspectedObject, ObjectType, SourceKind, container_check_digit
from nii.physics import ScannerModel
from nii.simulate.assembly import Phantom, PhantomBuilder, ThreatSpec
from nii.simulate.baggage import suitcase_phantom
from nii.simulate.solids import Axis, Box, Ellipsoid, Prism, Solid, box_shell, corrugated_wall, cylinder

__all__ = [
    "SCENARIOS",
    "CargoBlock",
    "Phantom",
    "Scenario",
    "ThreatSpec",
    "container_phantom",
    "steps_phantom",
    "suitcase_phantom",
    "truck_phantom",
]


# --------------------------------------------------------------------------------------------
# Shared parts


def _c_profile(
    centre: float, bottom: float, height: float, flange: float, thickness: float, *, facing: int
) -> np.ndarray:
    """A C channel outline in a plane: web at ``centre`` (first coordinate), flanges towards ``facing`` (±1)."""
    web, tip = centre, centre + facing * flange
    inner_web = web + facing * thickness
    top = bottom + height
    return np.array(
        [
            (web, bottom),
            (tip, bottom),
            (tip, bottom + thickness),
            (inner_web, bottom + thickness),
            (inner_web, top - thickness),
            (tip, top - thickness),
            (tip, top),
            (web, top),
        ]
    )


def _side_rail(
    y: float, bottom: float, height: float, flange: float, thickness: float, extent: tuple[float, float]
) -> Prism:
    """A steel C channel along x with its web at ``y`` and its flanges pointing to the middle."""
    facing = -1 if y > 0 else 1
    return Prism(
        "steel", 1.0, axis="x", extent=extent, rings=(_c_profile(y, bottom, height, flange, thickness, facing=facing),)
    )


def _i_profile(centre: float, bottom: float, height: float, flange: float, web: float, thickness: float) -> np.ndarray:
    """An I beam outline: web of ``web`` mm centred at ``centre``, flanges ``flange`` wide and ``thickness`` thick."""
    f, w, top = flange / 2, web / 2, bottom + height
    return np.array(
        [
            (centre - f, bottom),
            (centre + f, bottom),
            (centre + f, bottom + thickness),
            (centre + w, bottom + thickness),
            (centre + w, top - thickness),
            (centre + f, top - thickness),
            (centre + f, top),
            (centre - f, top),
            (centre - f, top - thickness),
            (centre - w, top - thickness),
            (centre - w, bottom + thickness),
            (centre - f, bottom + thickness),
        ]
    )


def _rectangle(p: tuple[float, float], q: tuple[float, float]) -> np.ndarray:
    return np.array([(p[0], q[0]), (p[1], q[0]), (p[1], q[1]), (p[0], q[1])])


def _tube(
    material: str, axis: Axis, p: tuple[float, float], q: tuple[float, float], wall: float, extent: tuple[float, float]
) -> Prism:
    """A rectangular hollow section along ``axis``; ``p``, ``q`` span its plane axes."""
    outer = _rectangle(p, q)
    inner = _rectangle((p[0] + wall, p[1] - wall), (q[0] + wall, q[1] - wall))
    return Prism(material, 1.0, axis=axis, extent=extent, rings=(outer, inner))


def _axle(b: PhantomBuilder, x: float, *, tyre_radius: float, half_track: float, dual: bool) -> None:
    """An axle with its tyres (rubber with a steel belt), steel rims, wheel discs and hubs."""
    centre = (x, tyre_radius)
    b.add(
        cylinder(
            "steel", 1.0, axis="y", centre=centre, radius=63.5, inner_radius=51.5, extent=(-half_track, half_track)
        )
    )
    rim, width = 286.0, 275.0
    for side in (-1, 1):
        inner_edge = half_track - (2 * width + 10 if dual else width)
        for start in (inner_edge, half_track - width) if dual else (inner_edge,):
            y = (start, start + width) if side > 0 else (-start - width, -start)
            b.add(
                cylinder("rubber", 1.0, axis="y", centre=centre, radius=tyre_radius, inner_radius=rim, extent=y),
                cylinder(
                    "steel",
                    0.35,
                    axis="y",
                    centre=centre,
                    radius=tyre_radius - 20,
                    inner_radius=tyre_radius - 32,
                    extent=y,
                ),
                cylinder("steel", 1.0, axis="y", centre=centre, radius=rim, inner_radius=rim - 7, extent=y),
            )
        disc_y = half_track - width - (5 if dual else 0)
        y = (disc_y - 6, disc_y + 6) if side > 0 else (-disc_y - 6, -disc_y + 6)
        hub_y = (disc_y - 180, disc_y) if side > 0 else (-disc_y, -disc_y + 180)
        b.add(
            cylinder("steel", 1.0, axis="y", centre=centre, radius=rim - 7, inner_radius=110, extent=y),
            cylinder("steel", 0.6, axis="y", centre=centre, radius=130, extent=hub_y),
        )


# --------------------------------------------------------------------------------------------
# Cargo


@dataclass(frozen=True)
class CargoBlock:
    """A block of cargo in a container or trailer: ``material`` at ``fill`` of its density.

    ``x`` is measured from the front of the cargo space; ``width`` is the extent across the
    travel (the thickness the beam crosses in a side view), centred; ``None`` fills the width.
    """

    material: str
    fill: float
    x: float
    length: float
    height: float
    width: float | None = None
    description: str = ""
    pallet: bool = False


_CARGO_KINDS: tuple[tuple[str, str, float, float], ...] = (
    ("furniture", "wood", 0.2, 0.45),
    ("paper reels and cartons", "paper", 0.45, 0.8),
    ("plastic goods", "polyethylene", 0.12, 0.4),
    ("bottled drinks", "water", 0.45, 0.7),
    ("sugar in sacks", "sugar", 0.5, 0.7),
    ("aluminium profiles", "aluminium", 0.06, 0.2),
    ("machine parts", "steel", 0.04, 0.14),
    ("copper cable drums", "copper", 0.03, 0.1),
    ("glassware", "glass", 0.08, 0.25),
    ("tyres", "rubber", 0.2, 0.35),
)
"""(description, material, lowest fill, highest fill) of the cargo drawn at random."""


def random_cargo(rng: np.random.Generator, length: float, height: float, width: float) -> list[CargoBlock]:
    """A random load filling a cargo space of ``length`` × ``height`` × ``width`` mm with blocks."""
    blocks: list[CargoBlock] = []
    x = rng.uniform(0, 300)
    while x < length - 600:
        description, material, low, high = _CARGO_KINDS[rng.integers(len(_CARGO_KINDS))]
        block_length = min(float(rng.choice([1000.0, 1200.0, 1600.0, 2000.0, 2400.0])), length - x)
        block_height = float(rng.uniform(0.35, 0.9) * height)
        block_width = None if rng.random() < 0.7 else float(rng.uniform(0.5, 0.9) * width)
        blocks.append(
            CargoBlock(
                material,
                float(rng.uniform(low, high)),
                float(x),
                block_length,
                block_height,
                block_width,
                description,
                pallet=bool(rng.random() < 0.6),
            )
        )
        x += block_length + rng.uniform(0, 250)
    return blocks


_CARGO_THREATS = ("lead_shielding", "uranium", "cigarettes", "ammonium_nitrate", "rifles")


def _cargo(
    b: PhantomBuilder, blocks: Sequence[CargoBlock], *, x0: float, z0: float, width: float, height: float
) -> list[Box]:
    """Place blocks in a cargo space starting at ``x0`` with its floor at ``z0``; return the goods boxes."""
    goods = []
    for block in blocks:
        if not (block.length > 0 and block.height > 0 and 0 < block.fill <= 1):
            raise ValidationError(f"cargo block {block} needs a positive size and a fill in (0, 1]")
        half = (block.width if block.width is not None else width - 40) / 2
        bottom = z0
        if block.pallet:
            for start in np.arange(block.x, block.x + block.length - 799, 800):
                b.add(Box("wood", 0.35, (x0 + start, x0 + start + 800), (-half, half), (z0, z0 + 144)))
            bottom = z0 + 144
        top = min(bottom + block.height, z0 + height - 20)
        box = Box(block.material, block.fill, (x0 + block.x, x0 + block.x + block.length), (-half, half), (bottom, top))
        b.add(box)
        goods.append(box)
    return goods


def _hide(b: PhantomBuilder, rng: np.random.Generator, kind: str, host: Box) -> None:
    """Hide a threat of ``kind`` inside the cargo ``host``, cutting the cargo it displaces."""
    size = {
        "lead_shielding": (300.0, 300.0, 300.0),
        "uranium": (90.0, 90.0, 90.0),
        "cigarettes": (1000.0, 900.0, 700.0),
        "ammonium_nitrate": (900.0, 900.0, 600.0),
        "rifles": (900.0, 400.0, 250.0),
    }[kind]
    extents = [host.x, host.y, host.z]
    # Shrink the threat where the host is too small, then place it anywhere inside.
    fitted = [min(s, 0.8 * (high - low)) for (low, high), s in zip(extents, size, strict=True)]
    lows = [low + rng.uniform(0.05, 0.95) * (high - low - s) for (low, high), s in zip(extents, fitted, strict=True)]
    x, y, z = ((low, low + s) for low, s in zip(lows, fitted, strict=True))
    cut = Box(host.material, -host.fill, x, y, z)
    if kind == "lead_shielding":
        b.add(cut)
        shell = box_shell("lead", 1.0, Box("lead", 1.0, x, y, z), 40.0)
        b.threat(shell, "ANOMALY", "lead-shielded container, 40 mm walls (possible radioactive source)")
    elif kind == "uranium":
        b.add(cut)
        centre = ((x[0] + x[1]) / 2, (y[0] + y[1]) / 2, (z[0] + z[1]) / 2)
        radius = min(40.0, (x[1] - x[0]) / 2)
        b.threat([Ellipsoid("uranium", 1.0, centre, (radius,) * 3)], "ANOMALY", f"uranium sphere, {2 * radius:.0f} mm")
    elif kind == "cigarettes":
        b.add(cut)
        b.threat([Box("paper", 0.4, x, y, z)], "CONTRABAND", "cigarette cartons hidden in the load")
    elif kind == "ammonium_nitrate":
        b.add(cut)
        b.threat([Box("ammonium_nitrate", 0.75, x, y, z)], "EXPLOSIVE", "ammonium nitrate in sacks")
    else:
        b.add(cut)
        crate = Box("wood", 0.25, x, y, z)
        rifles: list[Solid] = [crate]
        for i in range(4):
            yc = y[0] + (i + 0.5) * (y[1] - y[0]) / 4
            zc = (z[0] + z[1]) / 2
            rifles.append(
                cylinder(
                    "steel",
                    1.0,
                    axis="x",
                    centre=(yc, zc),
                    radius=11.0,
                    inner_radius=4.0,
                    extent=(x[0] + 30, x[0] + 580),
                )
            )
            rifles.append(Box("steel", 0.6, (x[0] + 580, x[0] + 820), (yc - 25, yc + 25), (zc - 60, zc + 20)))
        b.threat(rifles, "PI", "crate of four rifles")


def _container(
    b: PhantomBuilder, *, x0: float, z0: float, length: float = 12192.0, width: float = 2438.0, height: float = 2591.0
) -> None:
    """The steel structure of an ISO container with its front at ``x0`` and its bottom at ``z0``."""
    h, top, x1 = width / 2, z0 + height, x0 + length
    floor_top = z0 + 190.0
    # Bottom side rails (C 162 × 48 × 4.5) and top side rails (tube 60 × 60 × 3) along the length.
    for side in (-1, 1):
        b.add(_side_rail(side * h, z0, 162, 48, 4.5, (x0, x1)))
        y_span = (h - 60, h) if side > 0 else (-h, -h + 60)
        b.add(_tube("steel", "x", y_span, (top - 60, top), 3.0, (x0, x1)))
    # Floor cross members (C 122 × 45 × 4) every 300 mm under a 28 mm wooden floor.
    for xc in np.arange(x0 + 300, x1 - 250, 300):
        profile = _c_profile(xc - 22.5, z0 + 40, 122, 45, 4.0, facing=1)
        b.add(Prism("steel", 1.0, axis="y", extent=(-h + 4.5, h - 4.5), rings=(profile,)))
    b.add(Box("wood", 1.0, (x0 + 150, x1 - 150), (-h + 4.5, h - 4.5), (z0 + 162, floor_top)))
    # Corrugated sheets: sides 1.6 mm, 36 mm deep; roof 2 mm, 20 mm deep; front wall 2 mm; rear
    # doors: two leaves of 2 mm ribbed sheet in tubular frames, four locking bars outside.
    # (axis, extent, span, base, depth, pitch, outer flat, inner flat, thickness, transpose)
    sheets: list[tuple[Axis, tuple[float, float], tuple[float, float], float, float, float, float, float, float, bool]]
    sheets = [
        ("z", (z0 + 162, top - 60), (x0 + 150, x1 - 150), side * (h - 0.8), -side * 36.0, 278, 70, 68, 1.6, False)
        for side in (-1, 1)
    ]
    sheets += [
        ("y", (-h + 60, h - 60), (x0 + 150, x1 - 150), top - 8, -20.0, 200, 60, 60, 2.0, False),
        ("z", (z0 + 162, top - 100), (-h + 150, h - 150), x0 + 10, 36.0, 278, 70, 68, 2.0, True),
        ("z", (z0 + 180, top - 120), (-h + 150, h - 150), x1 - 40, -20.0, 300, 120, 100, 2.0, True),
    ]
    for axis, extent, span, base, depth, pitch, outer, inner, thickness, transpose in sheets:
        b.add(
            *corrugated_wall(
                "steel",
                axis=axis,
                extent=extent,
                span=span,
                base=base,
                depth=depth,
                pitch=pitch,
                outer_flat=outer,
                inner_flat=inner,
                thickness=thickness,
                transpose=transpose,
            )
        )
    for y_span in ((-h + 120, -h + 180), (-30.0, 30.0), (h - 180, h - 120)):
        b.add(_tube("steel", "z", (x1 - 60, x1), y_span, 3.0, (z0 + 180, top - 120)))
    for yc in (-800.0, -400.0, 400.0, 800.0):
        b.add(
            cylinder(
                "steel", 1.0, axis="z", centre=(x1 + 30, yc), radius=13.5, inner_radius=9.5, extent=(z0 + 60, top - 60)
            )
        )
    # Corner posts (angles 150 × 150 × 6 at the front, tubes 120 × 150 × 8 at the rear) and castings.
    for side in (-1, 1):
        angle = np.array(
            [
                (x0, side * h),
                (x0 + 150, side * h),
                (x0 + 150, side * (h - 6)),
                (x0 + 6, side * (h - 6)),
                (x0 + 6, side * (h - 150)),
                (x0, side * (h - 150)),
            ]
        )
        b.add(Prism("steel", 1.0, axis="z", extent=(z0, top), rings=(angle,)))
        y_span = (h - 150, h) if side > 0 else (-h, -h + 150)
        b.add(_tube("steel", "z", (x1 - 120, x1), y_span, 8.0, (z0, top)))
        for xs in ((x0, x0 + 178), (x1 - 178, x1)):
            for zs in ((z0, z0 + 118), (top - 118, top)):
                b.add(Box("steel", 0.35, xs, (h - 162, h) if side > 0 else (-h, -h + 162), zs))
    # End rails: bottom sill and top header at both ends (hollow sections, about 15 % steel).
    for xs in ((x0, x0 + 150), (x1 - 200, x1)):
        b.add(
            Box("steel", 0.15, xs, (-h + 160, h - 160), (z0, z0 + 180)),
            Box("steel", 0.15, xs, (-h + 160, h - 160), (top - 110, top)),
        )


def _skeletal_trailer(b: PhantomBuilder, *, x0: float, length: float, deck: float) -> None:
    """A container chassis: two I beams, cross members, landing legs and a tri-axle bogie at the rear."""
    for yc in (-500.0, 500.0):
        b.add(
            Prism(
                "steel", 1.0, axis="x", extent=(x0, x0 + length), rings=(_i_profile(yc, deck - 400, 400, 150, 10, 16),)
            )
        )
    for xc in np.arange(x0 + 500, x0 + length - 400, 1100):
        b.add(
            Prism(
                "steel",
                1.0,
                axis="y",
                extent=(-575.0, 575.0),
                rings=(_c_profile(xc, deck - 260, 150, 60, 6, facing=1),),
            )
        )
    for yc in (-600.0, 600.0):
        b.add(_tube("steel", "z", (x0 + 2400, x0 + 2500), (yc - 50, yc + 50), 6.0, (250.0, deck - 400)))
        b.add(Box("steel", 1.0, (x0 + 2380, x0 + 2520), (yc - 80, yc + 80), (230.0, 250.0)))
    for offset in (3600.0, 2290.0, 980.0):
        _axle(b, x0 + length - offset, tyre_radius=500.0, half_track=1250.0, dual=True)


def container_phantom(
    rng: np.random.Generator | None = None,
    *,
    cargo: Sequence[CargoBlock] | None = None,
    threats: Sequence[str] | None = None,
) -> Phantom:
    """A 40 ft ISO container on a skeletal trailer, with cargo and hidden threats.

    Parameters
    ----------
    rng
        Draws the random parts (cargo when not given, threat kinds and places, the container number).
    cargo
        Blocks in the container (``x`` from the inside of the front wall); random when ``None``.
    threats
        Kinds to hide in the cargo, among ``"lead_shielding"``, ``"uranium"``, ``"cigarettes"``,
        ``"ammonium_nitrate"``, ``"rifles"``; one or two at random when ``None``; ``()`` for none.

    Examples
    --------
    >>> phantom = container_phantom(np.random.default_rng(1), threats=["uranium"])
    >>> phantom.inspected_object.type.value, len(phantom.threats)
    ('CARGO', 1)
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    b = PhantomBuilder()
    length, deck = 12500.0, 1250.0
    _skeletal_trailer(b, x0=0.0, length=length, deck=deck)
    x0 = 150.0
    _container(b, x0=x0, z0=deck)
    inner_length, inner_height, inner_width = 12192.0 - 400, 2591.0 - 190 - 100, 2438.0 - 80
    blocks = list(cargo) if cargo is not None else random_cargo(rng, inner_length, inner_height, inner_width)
    goods = _cargo(b, blocks, x0=x0 + 200, z0=deck + 190, width=inner_width, height=inner_height)
    _threats(b, rng, goods, threats)
    serial = f"{int(rng.integers(0, 1_000_000)):06d}"
    number = f"NIIU{serial}{container_check_digit('NIIU' + serial)}"
    obj = InspectedObject(
        ObjectType.CARGO,
        container_numbers=(number,),
        licence_plate=_plate(rng),
        description="40 ft container on a trailer",
    )
    return Phantom("cargo", tuple(b.solids), length, obj, tuple(b.threats))


def _threats(b: PhantomBuilder, rng: np.random.Generator, goods: Sequence[Box], kinds: Sequence[str] | None) -> None:
    if kinds is None:
        kinds = [str(k) for k in rng.choice(_CARGO_THREATS, size=int(rng.integers(1, 3)), replace=False)]
    unknown = sorted(set(kinds) - set(_CARGO_THREATS))
    if unknown:
        raise ValidationError(f"unknown threat kinds {unknown}; known: {', '.join(_CARGO_THREATS)}")
    if kinds and not goods:
        raise ValidationError("threats need cargo to hide in")
    hosts = rng.permutation(len(goods))
    for position, kind in enumerate(kinds):
        _hide(b, rng, kind, goods[int(hosts[position % len(goods)])])


def _plate(rng: np.random.Generator) -> str:
    letters = "ABCDEFGHJKLMNPRSTVWXZ"
    pick = rng.integers(len(letters), size=4)
    return f"{letters[pick[0]]}{letters[pick[1]]}-{int(rng.integers(100, 1000))}-{letters[pick[2]]}{letters[pick[3]]}"


# --------------------------------------------------------------------------------------------
# Truck


def _tractor(b: PhantomBuilder) -> None:
    """A two-axle tractor unit: cab, engine, gearbox, chassis, fuel tank, batteries, fifth wheel."""
    b.add(*box_shell("steel", 1.0, Box("steel", 1.0, (0.0, 2300.0), (-1240.0, 1240.0), (1150.0, 3900.0)), 1.5))
    b.add(Box("glass", 1.0, (40.0, 46.0), (-1150.0, 1150.0), (2500.0, 3400.0)))  # windscreen
    for yc in (-600.0, 600.0):
        b.add(Box("polyethylene", 0.12, (1300.0, 1900.0), (yc - 280, yc + 280), (1700.0, 2700.0)))  # seats
        b.add(Box("steel", 0.04, (1300.0, 1900.0), (yc - 280, yc + 280), (1500.0, 1700.0)))
    b.add(Box("polyethylene", 0.18, (100.0, 700.0), (-1100.0, 1100.0), (2100.0, 2500.0)))  # dashboard
    b.add(Box("aluminium", 0.15, (0.0, 120.0), (-450.0, 450.0), (700.0, 1700.0)))  # radiator
    b.add(Box("water", 0.1, (0.0, 120.0), (-450.0, 450.0), (700.0, 1700.0)))
    b.add(Box("iron", 0.45, (400.0, 1500.0), (-420.0, 420.0), (700.0, 1450.0)))  # engine block
    b.add(Box("aluminium", 0.4, (450.0, 1450.0), (-380.0, 380.0), (1450.0, 1650.0)))  # cylinder head
    b.add(Box("aluminium", 0.3, (1500.0, 2300.0), (-260.0, 260.0), (750.0, 1150.0)))  # gearbox
    b.add(Box("steel", 0.2, (1550.0, 2250.0), (-200.0, 200.0), (800.0, 1100.0)))
    b.add(
        cylinder("steel", 1.0, axis="x", centre=(0.0, 850.0), radius=50.0, inner_radius=43.0, extent=(2300.0, 4600.0))
    )
    for side in (-1, 1):
        b.add(_side_rail(side * 430.0, 850.0, 300, 90, 8, (-100.0, 6400.0)))
    b.add(*box_shell("steel", 1.0, Box("steel", 1.0, (2500.0, 3800.0), (700.0, 1250.0), (500.0, 1100.0)), 2.0))
    b.add(Box("diesel", 0.85, (2502.0, 3798.0), (702.0, 1248.0), (502.0, 1000.0)))  # fuel, tank not full
    b.add(Box("lead", 0.25, (2600.0, 3300.0), (-1250.0, -750.0), (600.0, 880.0)))  # lead-acid batteries
    b.add(Box("water", 0.2, (2600.0, 3300.0), (-1250.0, -750.0), (600.0, 880.0)))
    b.add(Box("polyethylene", 0.15, (2600.0, 3300.0), (-1250.0, -750.0), (600.0, 900.0)))
    for yc in (-700.0, 700.0):
        b.add(
            cylinder(
                "steel", 1.0, axis="x", centre=(yc, 650.0), radius=130.0, inner_radius=126.0, extent=(3900.0, 4500.0)
            )
        )
    b.add(
        cylinder(
            "steel", 1.0, axis="z", centre=(2350.0, 1050.0), radius=60.0, inner_radius=58.0, extent=(1200.0, 4000.0)
        )
    )
    b.add(Box("steel", 0.8, (4800.0, 5900.0), (-500.0, 500.0), (1150.0, 1230.0)))  # fifth wheel
    _axle(b, 1300.0, tyre_radius=530.0, half_track=1250.0, dual=False)
    _axle(b, 4700.0, tyre_radius=530.0, half_track=1250.0, dual=True)
    _axle(b, 6050.0, tyre_radius=530.0, half_track=1250.0, dual=True)


def _curtain_trailer(b: PhantomBuilder, *, x0: float, length: float, deck: float) -> None:
    """A curtain-side semi-trailer: I-beam chassis, cross members, wooden floor, posts, roof rails, curtains."""
    x1, h = x0 + length, 1240.0
    for yc in (-500.0, 500.0):
        b.add(Prism("steel", 1.0, axis="x", extent=(x0, x1), rings=(_i_profile(yc, deck - 450, 450, 150, 8, 14),)))
    for xc in np.arange(x0 + 200, x1 - 200, 400):
        b.add(Prism("steel", 1.0, axis="y", extent=(-h, h), rings=(_c_profile(xc, deck - 130, 120, 50, 4, facing=1),)))
    b.add(Box("wood", 1.0, (x0, x1), (-h, h), (deck - 10, deck + 20)))
    for side in (-1, 1):
        b.add(_side_rail(side * h, deck - 180, 200, 60, 5, (x0, x1)))
        y_span = (h - 60, h) if side > 0 else (-h, -h + 60)
        b.add(_tube("aluminium", "x", y_span, (deck + 2700, deck + 2760), 4.0, (x0, x1)))  # roof rails
        b.add(
            Box("polyethylene", 1.0, (x0 + 100, x1 - 100), (side * h - 0.5, side * h + 0.5), (deck + 20, deck + 2700))
        )
        for xc in np.arange(x0 + 1300, x1 - 600, 2600):
            b.add(_tube("aluminium", "z", (xc, xc + 60), (y_span[0], y_span[0] + 40), 3.0, (deck + 20, deck + 2700)))
    for xc in np.arange(x0 + 600, x1, 1200):
        b.add(
            cylinder(
                "aluminium", 1.0, axis="y", centre=(xc, deck + 2800), radius=20.0, inner_radius=17.0, extent=(-h, h)
            )
        )
    b.add(Box("steel", 1.0, (x0, x0 + 3), (-h, h), (deck, deck + 2760)))  # front bulkhead
    b.add(Box("aluminium", 0.25, (x1 - 25, x1), (-h, h), (deck, deck + 2700)))  # rear doors
    for yc in (-600.0, 600.0):
        b.add(_tube("steel", "z", (x0 + 2400, x0 + 2500), (yc - 50, yc + 50), 6.0, (250.0, deck - 450)))
    for offset in (3400.0, 2090.0, 780.0):
        _axle(b, x1 - offset, tyre_radius=500.0, half_track=1250.0, dual=True)


def truck_phantom(
    rng: np.random.Generator | None = None,
    *,
    cargo: Sequence[CargoBlock] | None = None,
    threats: Sequence[str] | None = None,
) -> Phantom:
    """A tractor with a 13.6 m curtain-side semi-trailer, palletised cargo and hidden threats.

    Parameters are those of :func:`container_phantom` (``x`` of cargo from the trailer's front).
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    b = PhantomBuilder()
    _tractor(b)
    x0, length, deck = 4600.0, 13600.0, 1300.0
    _curtain_trailer(b, x0=x0, length=length, deck=deck)
    blocks = list(cargo) if cargo is not None else random_cargo(rng, length - 200, 2650.0, 2440.0)
    goods = _cargo(b, blocks, x0=x0 + 100, z0=deck + 20, width=2440.0, height=2650.0)
    _threats(b, rng, goods, threats)
    obj = InspectedObject(
        ObjectType.VEHICLE, licence_plate=_plate(rng), description="tractor with curtain-side trailer"
    )
    return Phantom("truck", tuple(b.solids), x0 + length + 100, obj, tuple(b.threats), margin_mm=800.0)


# --------------------------------------------------------------------------------------------
# Step wedges


STEP_MATERIALS = ("polyethylene", "aluminium", "iron", "lead")


def steps_phantom(source: SourceKind | str = SourceKind.LINAC, *, steps: int = 8) -> Phantom:
    """Calibration step wedges: one row per material of :data:`STEP_MATERIALS`, ``steps`` area densities each.

    Area densities grow geometrically, 5 to 300 g/cm² for a linac and 0.2 to 20 g/cm² for a
    tube; each step is a block whose depth along the beam gives that area density. In a side
    view the rows (bands of height) are the materials and the columns the steps, which is
    what dual-energy calibration curves are measured on.
    """
    source = SourceKind(source)
    linac = source is SourceKind.LINAC
    low, high = (5.0, 300.0) if linac else (0.2, 20.0)
    step_length, band, gap = (500.0, 700.0, 300.0) if linac else (70.0, 110.0, 40.0)
    b = PhantomBuilder()
    for row, name in enumerate(STEP_MATERIALS):
        density = MATERIALS[name].density_g_cm3
        z0 = gap + row * (band + gap)
        for k, area in enumerate(np.geomspace(low, high, steps)):
            depth = 10.0 * float(area) / density
            x = k * (step_length + gap / 3)
            b.add(Box(name, 1.0, (x, x + step_length), (-depth / 2, depth / 2), (z0, z0 + band)))
    length = steps * (step_length + gap / 3)
    obj = InspectedObject(ObjectType.OTHER, identifier="STEP-WEDGES", description="calibration step wedges")
    return Phantom("steps", tuple(b.solids), length, obj, margin_mm=4 * gap)


# --------------------------------------------------------------------------------------------
# Scenarios


def _contents(builder: str, rng: np.random.Generator) -> Phantom:
    from nii.simulate import contents  # builds on this module

    return getattr(contents, builder)(rng)


def _test_objects(scanner: ScannerModel) -> Phantom:
    from nii.simulate.targets import test_objects_phantom  # the targets module builds on this one

    return test_objects_phantom(scanner.source)


@dataclass(frozen=True)
class Scenario:
    """A named kind of object to simulate, with the scanner it is normally seen on."""

    name: str
    description: str
    default_scanner: str
    build: Callable[[np.random.Generator, ScannerModel], Phantom]


SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        scenario.name: scenario
        for scenario in (
            Scenario(
                "cargo",
                "40 ft container on a trailer with cargo and hidden threats",
                "linac-6/4",
                lambda rng, scanner: container_phantom(rng),
            ),
            Scenario(
                "truck",
                "tractor and curtain-side trailer with cargo and hidden threats",
                "linac-6/4",
                lambda rng, scanner: truck_phantom(rng),
            ),
            Scenario(
                "suitcase",
                "suitcase with clothes, laptop and threats (two views)",
                "tube-160/80",
                lambda rng, scanner: suitcase_phantom(rng),
            ),
            Scenario(
                "steps",
                "calibration step wedges of polyethylene, aluminium, iron and lead",
                "linac-6/4",
                lambda rng, scanner: steps_phantom(scanner.source),
            ),
            Scenario(
                "test-objects",
                "image-quality test objects: penetration steps, wires, contrast plates, slanted edges",
                "linac-6/4",
                lambda rng, scanner: _test_objects(scanner),
            ),
            Scenario(
                "container-goods",
                "40 ft container of pallets of cartons, drums, tyres and machinery",
                "linac-6/4",
                lambda rng, scanner: _contents("goods_container_phantom", rng),
            ),
            Scenario(
                "car-container",
                "40 ft container with a car and pallets of cartons",
                "linac-6/4",
                lambda rng, scanner: _contents("car_container_phantom", rng),
            ),
        )
    }
)
"""Scenarios by name (the ``SCENARIO`` argument of ``nii simulate``)."""

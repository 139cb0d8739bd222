"""Realistic cargo: goods an officer recognises in a container, built from the simulator's solids.

Each builder places one kind of goods on the container floor from ``x`` along the travel and returns
its solids and the length it takes: pallets of cartons (books, tins, bottles, clothes), 200 litre drums,
stacked tyres, machinery (an engine block with its cylinders, a gearbox, a shaft) and a car. Sizes are the
common ones: a Euro pallet is 1200 × 800 × 144 mm, a drum 584 mm across and 880 mm high, a car tyre
650 mm across. Scenarios ``container-goods`` and ``car-container`` put them in the container of
:func:`nii.simulate.phantoms.container_phantom` (its structure and trailer, its truth and threats).

Examples
--------
>>> phantom = car_container_phantom(np.random.default_rng(1))
>>> phantom.name, "rubber" in phantom.material_names
('car-container', True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from nii.simulate.assembly import Phantom
from nii.simulate.phantoms import container_phantom
from nii.simulate.solids import Box, Prism, Solid, box_shell, cylinder, thick_polyline

__all__ = [
    "CARGO_FLOOR",
    "GOODS",
    "car",
    "car_container_phantom",
    "drums",
    "goods_container_phantom",
    "machinery",
    "pallet_of_cartons",
    "tyres",
]

CARGO_FLOOR = (350.0, 11792.0, 1440.0, 2280.0, 2358.0)
"""Cargo space of :func:`container_phantom`: front x, length, floor height, usable height, width (mm)."""

Placed = tuple[list[Solid], float]


def _pallet(x: float, z: float, y0: float) -> list[Solid]:
    """A Euro pallet (1200 along x, 800 across) at height z, its near side at y0: boards and blocks."""
    solids: list[Solid] = [
        Box("wood", 1.0, (x, x + 1200), (y, y + 100), (z + 122, z + 144)) for y in np.linspace(y0, y0 + 700, 5)
    ]
    for bx in (x, x + 550, x + 1055):
        for by in (y0, y0 + 350, y0 + 700):
            solids.append(Box("wood", 1.0, (bx, bx + 145), (by, by + 100), (z + 22, z + 122)))
    solids += [Box("wood", 1.0, (x, x + 1200), (y, y + 100), (z, z + 22)) for y in (y0, y0 + 350, y0 + 700)]
    return solids


def _carton(kind: str, x: tuple[float, float], y: tuple[float, float], z: tuple[float, float]) -> list[Solid]:
    """A cardboard carton (5 mm walls) holding ``kind``."""
    solids: list[Solid] = list(box_shell("paper", 1.0, Box("paper", 1.0, x, y, z), 5.0))
    inner = (x[0] + 10, x[1] - 10), (y[0] + 10, y[1] - 10), (z[0] + 10, z[1] - 10)
    if kind == "books":
        solids.append(Box("paper", 0.85, *inner))
    elif kind == "clothes":
        solids.append(Box("cellulose", 0.12, *inner))
    else:  # tins of food or bottles of drink, standing in rows
        radius = 40.0 if kind == "tins" else 35.0
        for cx in np.arange(inner[0][0] + radius, inner[0][1] - radius + 1, 2 * radius + 4):
            for cy in np.arange(inner[1][0] + radius, inner[1][1] - radius + 1, 2 * radius + 4):
                wall, liquid = ("steel", 0.3) if kind == "tins" else ("glass", 3.0)
                shell = cylinder(
                    wall,
                    1.0,
                    axis="z",
                    centre=(cx, cy),
                    radius=radius,
                    inner_radius=radius - liquid,
                    extent=(inner[2][0], inner[2][0] + 240),
                )
                content = cylinder(
                    "water",
                    1.0,
                    axis="z",
                    centre=(cx, cy),
                    radius=radius - liquid,
                    extent=(inner[2][0] + 2, inner[2][0] + 215),
                )
                solids += [shell, content]
    return solids


def pallet_of_cartons(rng: np.random.Generator, x: float, z: float, height: float, width: float) -> Placed:
    """Two pallets side by side across the container, each with three layers of 600 × 400 × 380 mm cartons."""
    solids: list[Solid] = []
    kind = str(rng.choice(["books", "clothes", "tins", "bottles"]))
    layers = int(min(3, (height - 150) // 390))
    for y0 in (-width / 2 + 100, 100.0):
        solids += _pallet(x, z, y0)
        for layer in range(layers):
            z0 = z + 144 + 390 * layer
            for cx in (x, x + 600):
                for cy in (y0, y0 + 400):
                    solids += _carton(kind, (cx, cx + 600), (cy, cy + 400), (z0, z0 + 380))
    return solids, 1300.0


def drums(rng: np.random.Generator, x: float, z: float, height: float, width: float) -> Placed:
    """Four rows of 200 litre steel drums (1.2 mm walls), three across, of diesel or water, 90 % full."""
    liquid = str(rng.choice(["diesel", "water"]))
    solids: list[Solid] = []
    for cx in x + 292 + 600 * np.arange(2):
        for cy in (-650.0, 0.0, 650.0):
            solids.append(
                cylinder("steel", 1.0, axis="z", centre=(cx, cy), radius=292, inner_radius=290.8, extent=(z, z + 880))
            )
            solids.append(cylinder(liquid, 1.0, axis="z", centre=(cx, cy), radius=290.8, extent=(z + 2, z + 790)))
    return solids, 1250.0


def tyres(rng: np.random.Generator, x: float, z: float, height: float, width: float) -> Placed:
    """Stacks of car tyres lying flat (rubber, with a steel belt), two across, as many high as fit."""
    solids: list[Solid] = []
    count = int(min(8, height // 210))
    for cx in (x + 330, x + 1000):
        for cy in (-500.0, 400.0):
            for level in range(count):
                z0 = z + 210 * level
                solids.append(
                    cylinder(
                        "rubber", 1.0, axis="z", centre=(cx, cy), radius=325, inner_radius=210, extent=(z0, z0 + 205)
                    )
                )
                solids.append(
                    cylinder(
                        "steel",
                        1.0,
                        axis="z",
                        centre=(cx, cy),
                        radius=300,
                        inner_radius=298,
                        extent=(z0 + 60, z0 + 145),
                    )
                )
    return solids, 1400.0


def machinery(rng: np.random.Generator, x: float, z: float, height: float, width: float) -> Placed:
    """An engine on a steel skid: block with four cylinder bores, head, crankshaft, flywheel and gearbox."""
    solids: list[Solid] = [Box("steel", 1.0, (x, x + 1800), (-450.0, 450.0), (z, z + 40))]
    base = z + 140
    solids.append(Box("iron", 0.6, (x + 100, x + 900), (-150.0, 150.0), (base, base + 450)))  # cast, with cavities
    for k in range(4):  # bores, cut out of the block (negative fill)
        solids.append(
            cylinder(
                "iron", -1.0, axis="z", centre=(x + 200 + 180 * k, 0.0), radius=50, extent=(base + 200, base + 450)
            )
        )
        solids.append(
            cylinder(
                "aluminium", 1.0, axis="z", centre=(x + 200 + 180 * k, 0.0), radius=49, extent=(base + 330, base + 400)
            )
        )
    solids.append(Box("aluminium", 1.0, (x + 100, x + 900), (-220.0, 220.0), (base + 450, base + 600)))
    solids.append(cylinder("steel", 1.0, axis="x", centre=(0.0, base + 120), radius=40, extent=(x + 50, x + 1000)))
    solids.append(cylinder("steel", 1.0, axis="x", centre=(0.0, base + 120), radius=180, extent=(x + 950, x + 1000)))
    solids += box_shell(
        "aluminium", 1.0, Box("aluminium", 1.0, (x + 1000, x + 1500), (-200.0, 200.0), (base, base + 380)), 12.0
    )
    for k in range(3):  # gears inside the gearbox
        solids.append(
            cylinder(
                "steel",
                1.0,
                axis="y",
                centre=(x + 1120 + 130 * k, base + 190),
                radius=55 + 15 * k,
                extent=(-60.0, 60.0),
            )
        )
    return solids, 2000.0


def car(rng: np.random.Generator, x: float, z: float, height: float, width: float) -> Placed:
    """A saloon car 4400 mm long: steel body shell (side profile), glass windows, engine, seats, four wheels, fuel."""
    profile = np.array(
        [(0, 350), (0, 700), (800, 820), (1350, 850), (1800, 1380), (3200, 1400), (3800, 950), (4400, 900), (4400, 350)]
    ) + np.array([x, z])
    solids: list[Solid] = [Prism("steel", 1.0, axis="y", extent=(-880.0, 880.0), rings=(thick_polyline(profile, 1.0),))]
    solids += [
        Prism("steel", 1.0, axis="y", extent=(side - 1.0, side + 1.0), rings=(profile,)) for side in (-880.0, 880.0)
    ]
    solids.append(Box("steel", 1.0, (x + 300, x + 4100), (-850.0, 850.0), (z + 330, z + 332)))  # floor pan
    for window in ([(1400, 870), (1800, 1370), (1800, 870)], [(3200, 1390), (3780, 960), (3200, 960)]):
        ring = np.array(window, np.float64) + np.array([x, z])
        for side in (-880.0, 880.0):  # side windows, 5 mm of glass each
            solids.append(Prism("glass", 1.0, axis="y", extent=(side - 2.5, side + 2.5), rings=(ring,)))
    solids.append(Box("aluminium", 1.0, (x + 200, x + 800), (-300.0, 300.0), (z + 380, z + 750)))  # engine
    solids.append(Box("steel", 1.0, (x + 800, x + 1100), (-200.0, 200.0), (z + 380, z + 600)))  # gearbox
    for seat_x in (x + 1900, x + 2800):
        solids.append(Box("polyethylene", 0.08, (seat_x, seat_x + 550), (-700.0, 700.0), (z + 340, z + 1000)))
    solids.append(Box("diesel", 1.0, (x + 3000, x + 3600), (-350.0, 350.0), (z + 250, z + 330)))  # tank
    for wheel_x in (x + 700, x + 3500):
        for side in (-1.0, 1.0):
            extent = (min(side * 700, side * 900), max(side * 700, side * 900))
            for material, outer, inner in (("rubber", 320, 210), ("aluminium", 210, 190)):  # tyre and rim
                centre = (wheel_x, z + 320)
                solids.append(
                    cylinder(material, 1.0, axis="y", centre=centre, radius=outer, inner_radius=inner, extent=extent)
                )
    return solids, 4600.0


GOODS: dict[str, Callable[[np.random.Generator, float, float, float, float], Placed]] = {
    "pallet of cartons": pallet_of_cartons,
    "drums": drums,
    "tyres": tyres,
    "machinery": machinery,
}
"""Builders of :func:`goods_container_phantom`'s mixed load, by description."""


def _with(base: Phantom, name: str, solids: list[Solid], description: str) -> Phantom:
    obj = replace(base.inspected_object, description=description)
    return Phantom(name, base.solids + tuple(solids), base.length_mm, obj, base.threats, base.margin_mm)


def goods_container_phantom(rng: np.random.Generator) -> Phantom:
    """A container with a mixed load of recognisable goods."""
    x0, length, floor, height, width = CARGO_FLOOR
    solids: list[Solid] = []
    x = x0 + float(rng.uniform(0, 200))
    while True:
        build = GOODS[str(rng.choice(list(GOODS)))]
        placed, used = build(rng, x, floor, height, width)
        if x + used > x0 + length:
            break
        solids += placed
        x += used + float(rng.uniform(50, 300))
    base = container_phantom(rng, cargo=[], threats=())
    return _with(base, "container-goods", solids, "40 ft container of pallets, drums, tyres and machinery")


def car_container_phantom(rng: np.random.Generator) -> Phantom:
    """A container holding a car, with pallets of cartons in front of it."""
    x0, _, floor, height, width = CARGO_FLOOR
    solids, used = pallet_of_cartons(rng, x0 + 100, floor, height, width)
    more, used_more = pallet_of_cartons(rng, x0 + 200 + used, floor, height, width)
    vehicle, _ = car(rng, x0 + 400 + used + used_more + float(rng.uniform(0, 1500)), floor, height, width)
    base = container_phantom(rng, cargo=[], threats=())
    return _with(base, "car-container", solids + more + vehicle, "40 ft container with a car and cartons")

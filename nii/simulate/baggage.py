"""Baggage: a hard-shell suitcase with its contents and threats, as seen on a checkpoint belt."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from nii.errors import ValidationError
from nii.model import InspectedObject, ObjectType
from nii.simulate.assembly import Phantom, PhantomBuilder
from nii.simulate.solids import Box, Ellipsoid, Prism, Solid, box_shell, cylinder

__all__ = ["suitcase_phantom"]


_BAG_THREATS = ("knife", "handgun", "explosive")


def _pistol(b: PhantomBuilder, x: float, y: float, z: float, turn: float) -> None:
    """A handgun lying flat: steel slide and barrel, polymer frame and grip, steel magazine with brass cartridges."""
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])

    def place(outline: list[tuple[float, float]]) -> np.ndarray:
        return np.array(outline, dtype=float) @ rotation.T + np.array([x, y])

    slide = place([(0, 0), (190, 0), (190, 30), (0, 30)])
    grip = place([(20, 30), (70, 30), (58, 135), (18, 138)])
    magazine = place([(32, 32), (60, 32), (50, 128), (26, 130)])
    solids: list[Solid] = [
        Prism("steel", 0.9, axis="z", extent=(z, z + 28), rings=(slide,)),
        Prism("polyethylene", 1.0, axis="z", extent=(z, z + 30), rings=(grip,)),
        Prism("steel", 0.25, axis="z", extent=(z + 5, z + 25), rings=(magazine,)),
    ]
    for k in range(4):
        cx, cy = np.array([48.0 - 3 * k, 45.0 + 20 * k]) @ rotation.T + np.array([x, y])
        solids.append(cylinder("copper", 0.9, axis="z", centre=(cx, cy), radius=4.5, extent=(z + 6, z + 24)))
    b.threat(solids, "PI", "handgun with loaded magazine")


def _knife(b: PhantomBuilder, x: float, y: float, z: float) -> None:
    blade = np.array([(0, 0), (200, 8), (210, 20), (200, 32), (0, 30)], dtype=float) + np.array([x, y])
    b.threat(
        [
            Prism("steel", 1.0, axis="z", extent=(z, z + 2.5), rings=(blade,)),
            Box("polyethylene", 1.0, (x - 120, x), (y + 2, y + 28), (z - 6, z + 9)),
        ],
        "PI",
        "knife, 200 mm blade",
    )


def _explosive(b: PhantomBuilder, x: float, y: float, z: float) -> None:
    b.threat(
        [
            Box("tnt", 1.0, (x, x + 160), (y, y + 95), (z, z + 38)),
            cylinder("copper", 1.0, axis="x", centre=(y + 47, z + 19), radius=3.5, extent=(x + 160, x + 205)),
            Box("steel", 0.35, (x + 215, x + 265), (y + 30, y + 56), (z + 5, z + 22)),  # 9 V battery
            cylinder("copper", 1.0, axis="x", centre=(y + 40, z + 30), radius=0.6, extent=(x + 200, x + 220)),
        ],
        "EXPLOSIVE",
        "explosive block with detonator and battery",
    )


def suitcase_phantom(rng: np.random.Generator | None = None, *, threats: Sequence[str] | None = None) -> Phantom:
    """A hard-shell suitcase lying on the belt, packed with clothes, shoes, toiletries, a laptop and threats.

    ``threats`` are among ``"knife"``, ``"handgun"``, ``"explosive"`` (one or two at random when ``None``).
    The laptop is marked too, as category LAPTOP with assessment NO_THREAT.
    """
    rng = rng if rng is not None else np.random.default_rng(0)
    b = PhantomBuilder()
    length, width, height = 720.0, 460.0, 260.0
    h = width / 2
    z0 = 30.0  # on its wheels and feet
    b.add(*box_shell("polycarbonate", 1.0, Box("polycarbonate", 1.0, (0.0, length), (-h, h), (z0, z0 + height)), 3.0))
    for side in (-1, 1):  # aluminium frame round the opening, at mid height
        b.add(Box("aluminium", 0.5, (0.0, length), (side * h - 12, side * h + 12), (z0 + 120, z0 + 140)))
    for yc in (-90.0, 90.0):  # telescopic handle tubes along the back
        b.add(
            cylinder(
                "aluminium", 1.0, axis="x", centre=(yc, z0 + 12), radius=11.0, inner_radius=10.0, extent=(20.0, 680.0)
            )
        )
    for xc in (40.0, length - 40):
        for yc in (-h + 40, h - 40):
            b.add(cylinder("rubber", 1.0, axis="y", centre=(xc, 25.0), radius=25.0, extent=(yc - 12, yc + 12)))
            b.add(cylinder("steel", 1.0, axis="y", centre=(xc, 25.0), radius=3.0, extent=(yc - 20, yc + 20)))
    # Contents.
    b.add(Box("cellulose", 0.14, (15.0, 705.0), (-h + 15, h - 15), (z0 + 5, z0 + 170)))  # clothes
    b.add(Box("cellulose", 0.1, (15.0, 705.0), (-h + 15, h - 15), (z0 + 170, z0 + 250)))
    for k in range(2):  # shoes: rubber soles and leather uppers
        xs = 30.0 + k * 140
        b.add(Box("rubber", 0.7, (xs, xs + 110), (-h + 20, -h + 300), (z0 + 8, z0 + 30)))
        b.add(Box("polyethylene", 0.2, (xs, xs + 110), (-h + 20, -h + 300), (z0 + 30, z0 + 110)))
    for k in range(3):  # toiletries: bottles of liquid
        b.add(cylinder("water", 1.0, axis="x", centre=(60.0 + 45 * k, z0 + 60), radius=30.0, extent=(420.0, 600.0)))
        b.add(
            cylinder(
                "polyethylene",
                1.0,
                axis="x",
                centre=(60.0 + 45 * k, z0 + 60),
                radius=31.0,
                inner_radius=30.0,
                extent=(418.0, 602.0),
            )
        )
    b.add(Ellipsoid("water", 0.9, (560.0, -120.0, z0 + 200), (60.0, 40.0, 30.0)))
    b.add(Box("paper", 0.9, (300.0, 530.0), (-60.0, 100.0), (z0 + 200, z0 + 230)))  # a book
    for k in range(5):  # coins
        b.add(
            cylinder(
                "copper", 1.0, axis="z", centre=(620.0 + 12 * k, 150.0 - 9 * k), radius=11.0, extent=(z0 + 8, z0 + 10)
            )
        )
    b.add(Box("copper", 0.3, (480.0, 560.0), (120.0, 180.0), (z0 + 10, z0 + 40)))  # charger
    # Laptop: aluminium case, circuit board, battery.
    lx, ly, lz = 350.0, -200.0, z0 + 175
    laptop = [
        *box_shell("aluminium", 1.0, Box("aluminium", 1.0, (lx, lx + 330), (ly, ly + 230), (lz, lz + 18)), 1.2),
        Box("glass", 0.3, (lx + 20, lx + 310), (ly + 20, ly + 210), (lz + 3, lz + 5)),
        Box("copper", 0.25, (lx + 30, lx + 300), (ly + 140, ly + 210), (lz + 5, lz + 13)),
        Box("aluminium", 0.3, (lx + 30, lx + 300), (ly + 140, ly + 210), (lz + 5, lz + 13)),
    ]
    b.threat(laptop, "LAPTOP", "laptop computer", assessment="NO_THREAT")
    if threats is None:
        threats = [str(k) for k in rng.choice(_BAG_THREATS, size=int(rng.integers(1, 3)), replace=False)]
    unknown = sorted(set(threats) - set(_BAG_THREATS))
    if unknown:
        raise ValidationError(f"unknown threat kinds {unknown}; known: {', '.join(_BAG_THREATS)}")
    for kind in threats:
        x, y = rng.uniform(60, 380), rng.uniform(-h + 60, h - 170)
        z = rng.uniform(z0 + 40, z0 + 150)
        if kind == "knife":
            _knife(b, x + 120, y, z)
        elif kind == "handgun":
            _pistol(b, x, y, z, turn=float(rng.uniform(-0.4, 0.4)))
        else:
            _explosive(b, x, y, z)
    obj = InspectedObject(
        ObjectType.BAGGAGE, identifier=f"BAG{int(rng.integers(0, 10**6)):06d}", description="suitcase"
    )
    return Phantom("suitcase", tuple(b.solids), length, obj, tuple(b.threats), margin_mm=240.0)

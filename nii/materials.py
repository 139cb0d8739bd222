"""Attenuation data: the NIST XCOM element table shipped in ``nii/data`` (see its README),
materials as element weight fractions with a density, and their attenuation coefficients.

A material's mass attenuation coefficient is the weight-fraction sum of its elements'
coefficients, each interpolated log-log on its own energy grid, so no interpolation ever
spans an absorption edge::

    >>> round(float(mass_attenuation("water", [1.0])[0]), 4)
    0.0707
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from nii.errors import ValidationError

__all__ = [
    "DETECTORS",
    "MATERIALS",
    "ZEFF_EXPONENT",
    "Component",
    "Element",
    "Material",
    "as_material",
    "effective_z",
    "load_xcom",
    "mass_attenuation",
]

ZEFF_EXPONENT = 2.94
"""Exponent of the power-law effective atomic number (Spiers 1946; Johns and Cunningham)."""

Component = Literal["total", "coherent", "incoherent", "photoelectric", "pair"]


# --------------------------------------------------------------------------------------------
# Attenuation data


@dataclass(frozen=True, eq=False)
class Element:
    """One element of the XCOM table.

    ``energies_mev`` is non-decreasing; an energy listed twice is an absorption edge (the
    value below the edge, then above it). Coefficients are in cm²/g.
    """

    z: int
    symbol: str
    atomic_weight: float
    energies_mev: np.ndarray
    coefficients: Mapping[str, np.ndarray]
    """``"total"`` (with coherent scattering), ``"coherent"``, ``"incoherent"``,
    ``"photoelectric"`` and ``"pair"`` (nuclear + electron field)."""

    def interpolate(self, energies_mev: ArrayLike, component: Component = "total") -> np.ndarray:
        """Coefficient at ``energies_mev``, log-log between the two tabulated neighbours.

        The neighbours are the last tabulated energy at or below ``E`` and the next one, so an
        interval never spans an edge; exactly at an edge the value above the edge is used.
        Where a neighbour is zero (pair production below its threshold) the interpolation is
        linear.
        """
        energies = np.asarray(energies_mev, dtype=np.float64)
        grid = self.energies_mev
        if energies.size and (np.min(energies) < grid[0] or np.max(energies) > grid[-1] or np.isnan(energies).any()):
            raise ValidationError(
                f"photon energies must lie in [{grid[0]:g}, {grid[-1]:g}] MeV (XCOM table of {self.symbol})"
            )
        values = self.coefficients[component]
        upper = np.clip(np.searchsorted(grid, energies, side="right"), 1, grid.size - 1)
        lower = upper - 1
        e0, e1 = grid[lower], grid[upper]
        v0, v1 = values[lower], values[upper]
        t_log = np.log(energies / e0) / np.log(e1 / e0)
        positive = (v0 > 0) & (v1 > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            log_log = v0 * np.exp(t_log * np.log(v1 / v0))
        linear = v0 + (energies - e0) / (e1 - e0) * (v1 - v0)
        return np.where(positive, log_log, linear)


@cache
def load_xcom() -> Mapping[str, Element]:
    """The XCOM element table (Z = 1 to 100), keyed by element symbol; read once and cached.

    Examples
    --------
    >>> table = load_xcom()
    >>> table["Fe"].z, float(table["Fe"].interpolate(1.0))
    (26, 0.05995)
    """
    data = files("nii") / "data"
    with (data / "elements.csv").open() as handle:
        names = {int(row["z"]): (row["symbol"], float(row["atomic_weight"])) for row in csv.DictReader(handle)}
    columns: dict[int, list[list[float]]] = {}
    with (data / "nist_xcom_elements.csv").open() as handle:
        for row in csv.DictReader(handle):
            columns.setdefault(int(row["z"]), []).append(
                [
                    float(row["energy_mev"]),
                    float(row["total_with_coherent"]),
                    float(row["coherent"]),
                    float(row["incoherent"]),
                    float(row["photoelectric"]),
                    float(row["pair_nuclear"]) + float(row["pair_electron"]),
                ]
            )
    table: dict[str, Element] = {}
    for z, rows in sorted(columns.items()):
        array = np.array(rows)
        for column in array.T:
            column.setflags(write=False)
        symbol, weight = names[z]
        parts = dict(zip(("total", "coherent", "incoherent", "photoelectric", "pair"), array[:, 1:].T, strict=True))
        table[symbol] = Element(z, symbol, weight, array[:, 0], MappingProxyType(parts))
    return MappingProxyType(table)


# --------------------------------------------------------------------------------------------
# Materials


def _hash_composition(composition: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
    return tuple(sorted(composition.items()))


@dataclass(frozen=True)
class Material:
    """A material: element weight fractions and a density.

    Parameters
    ----------
    name
        Lower-case identifier used in labels and truth files.
    composition
        Element symbol → weight fraction; the fractions must be positive and sum to 1 (within 0.1 %, then
        normalised exactly).
    density_g_cm3
        Bulk density of the solid material. Objects packed loosely scale it with their fill factor.

    Examples
    --------
    >>> water = Material("water", {"H": 0.1119, "O": 0.8881}, 1.0)
    >>> round(float(mass_attenuation(water, 0.1)), 4)
    0.1707
    """

    name: str
    composition: Mapping[str, float]
    density_g_cm3: float

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.strip():
            raise ValidationError(f"material name {self.name!r} must be a non-empty identifier")
        if not self.composition:
            raise ValidationError(f"material {self.name!r} has no elements")
        table = load_xcom()
        for symbol, fraction in self.composition.items():
            if symbol not in table:
                raise ValidationError(f"material {self.name!r}: unknown element symbol {symbol!r}")
            if not (math.isfinite(fraction) and fraction > 0):
                raise ValidationError(f"material {self.name!r}: weight fraction of {symbol} must be positive")
        total = math.fsum(self.composition.values())
        if abs(total - 1.0) > 1e-3:
            raise ValidationError(f"material {self.name!r}: weight fractions sum to {total:.6f}, not 1")
        if not (math.isfinite(self.density_g_cm3) and self.density_g_cm3 > 0):
            raise ValidationError(f"material {self.name!r}: density must be positive, got {self.density_g_cm3!r}")
        normalised = {symbol: fraction / total for symbol, fraction in self.composition.items()}
        object.__setattr__(self, "composition", MappingProxyType(normalised))

    def __hash__(self) -> int:
        return hash((self.name, _hash_composition(self.composition), self.density_g_cm3))

    @classmethod
    def from_formula(cls, name: str, atoms: Mapping[str, float], density_g_cm3: float) -> Material:
        """A compound from its chemical formula (atoms per formula unit), e.g. ``{"H": 2, "O": 1}``.

        Examples
        --------
        >>> round(Material.from_formula("water", {"H": 2, "O": 1}, 1.0).composition["H"], 4)
        0.1119
        """
        table = load_xcom()
        unknown = sorted(set(atoms) - set(table))
        if unknown:
            raise ValidationError(f"material {name!r}: unknown element symbols {unknown}")
        masses = {symbol: count * table[symbol].atomic_weight for symbol, count in atoms.items()}
        total = math.fsum(masses.values())
        if not total > 0:
            raise ValidationError(f"material {name!r}: formula has no atoms")
        return cls(name, {symbol: mass / total for symbol, mass in masses.items()}, density_g_cm3)


_CELLULOSE = {"C": 6, "H": 10, "O": 5}

MATERIALS: Mapping[str, Material] = MappingProxyType(
    {
        material.name: material
        for material in (
            # Dry air near sea level, composition and density of NIST (Hubbell and Seltzer, table 2).
            Material("air", {"C": 0.000124, "N": 0.755268, "O": 0.231781, "Ar": 0.012827}, 0.001205),
            Material.from_formula("polyethylene", {"C": 1, "H": 2}, 0.94),
            Material.from_formula("water", {"H": 2, "O": 1}, 1.0),
            Material.from_formula("cellulose", _CELLULOSE, 1.5),
            Material.from_formula("wood", _CELLULOSE, 0.6),
            Material.from_formula("paper", _CELLULOSE, 0.8),
            Material.from_formula("sugar", {"C": 12, "H": 22, "O": 11}, 1.59),
            Material.from_formula("rubber", {"C": 5, "H": 8}, 1.1),
            Material.from_formula("diesel", {"C": 12, "H": 23}, 0.84),
            Material.from_formula("tnt", {"C": 7, "H": 5, "N": 3, "O": 6}, 1.65),
            Material.from_formula("ammonium_nitrate", {"N": 2, "H": 4, "O": 3}, 1.72),
            Material.from_formula("glass", {"Si": 1, "O": 2}, 2.5),
            Material.from_formula("polycarbonate", {"C": 16, "H": 14, "O": 3}, 1.2),
            Material("aluminium", {"Al": 1.0}, 2.699),
            Material("iron", {"Fe": 1.0}, 7.874),
            Material("steel", {"Fe": 0.985, "Mn": 0.01, "Si": 0.003, "C": 0.002}, 7.85),
            Material("copper", {"Cu": 1.0}, 8.96),
            Material("tin", {"Sn": 1.0}, 7.31),
            Material("lead", {"Pb": 1.0}, 11.35),
            Material("tungsten", {"W": 1.0}, 19.3),
            Material("uranium", {"U": 1.0}, 19.05),
        )
    }
)
"""Materials by name. Wood and paper are cellulose at their bulk densities; steel is a mild
steel; glass is fused silica at the density of soda-lime glass."""

DETECTORS: Mapping[str, Material] = MappingProxyType(
    {
        "CdWO4": Material.from_formula("CdWO4", {"Cd": 1, "W": 1, "O": 4}, 7.9),
        "CsI": Material.from_formula("CsI", {"Cs": 1, "I": 1}, 4.51),
        "GOS": Material.from_formula("GOS", {"Gd": 2, "O": 2, "S": 1}, 7.32),
    }
)
"""Scintillators of energy-integrating detectors, by name."""


def as_material(material: Material | str) -> Material:
    """``material`` itself, or the material of :data:`MATERIALS` it names.

    Examples
    --------
    >>> as_material("iron").density_g_cm3
    7.874
    """
    if isinstance(material, Material):
        return material
    try:
        return MATERIALS[material]
    except KeyError:
        raise ValidationError(f"unknown material {material!r}; known: {', '.join(sorted(MATERIALS))}") from None


def mass_attenuation(
    material: Material | str, energies_mev: ArrayLike, *, component: Component = "total"
) -> np.ndarray:
    """Mass attenuation coefficient μ/ρ (cm²/g): the total (coherent scattering included), or one
    interaction's part of it (``component``, as in :attr:`Element.coefficients`).

    The weight-fraction sum of the elements' coefficients, each interpolated log-log on its
    own XCOM grid (never across an absorption edge).

    Examples
    --------
    >>> mass_attenuation("iron", [1.0]).round(5)
    array([0.05995])
    >>> bool(mass_attenuation("lead", [0.1], component="photoelectric")[0] > mass_attenuation("lead", [1.0])[0])
    True
    """
    material = as_material(material)
    table = load_xcom()
    energies = np.asarray(energies_mev, dtype=np.float64)
    result = np.zeros(energies.shape)
    for symbol, fraction in material.composition.items():
        result += fraction * table[symbol].interpolate(energies, component)
    return result


def effective_z(material: Material | str) -> float:
    """Power-law effective atomic number: ``(sum_i a_i Z_i**2.94) ** (1 / 2.94)``.

    ``a_i`` is the fraction of the material's electrons that belong to element ``i``
    (weight fraction × Z / A, normalised). This is the classic definition used to label
    materials for photoelectric-dominated contrast (Spiers 1946); water gives 7.42.

    Examples
    --------
    >>> round(effective_z("water"), 2), effective_z("iron")
    (7.42, 26.0)
    """
    material = as_material(material)
    table = load_xcom()
    electrons = {s: w * table[s].z / table[s].atomic_weight for s, w in material.composition.items()}
    total = math.fsum(electrons.values())
    mean = math.fsum(n / total * table[s].z ** ZEFF_EXPONENT for s, n in electrons.items())
    return float(round(mean ** (1.0 / ZEFF_EXPONENT), 10))

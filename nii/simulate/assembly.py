"""A phantom, the object the simulator scans, and the builder that puts one together.

A :class:`Phantom` is a list of solids (:mod:`nii.simulate.solids`) with the metadata of
the object and the solids that form known threats; the builders of
:mod:`nii.simulate.phantoms`, :mod:`nii.simulate.baggage`, :mod:`nii.simulate.contents`
and :mod:`nii.simulate.targets` assemble them with a :class:`PhantomBuilder`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from nii.errors import ValidationError
from nii.materials import MATERIALS, Material
from nii.model import AssessmentFlag, InspectedObject, ThreatCategory
from nii.simulate.solids import Solid

__all__ = ["Phantom", "PhantomBuilder", "ThreatSpec"]


@dataclass(frozen=True)
class ThreatSpec:
    """Solids of a phantom (indices) that together form one known threat."""

    solids: tuple[int, ...]
    category: ThreatCategory
    description: str
    assessment: AssessmentFlag = AssessmentFlag.THREAT


@dataclass(frozen=True, eq=False)
class Phantom:
    """An object to scan.

    Parameters
    ----------
    name
        Scenario name.
    solids
        Everything in the object; fills add up where solids overlap.
    length_mm
        Extent along the travel (the object spans ``x`` from 0 to ``length_mm``).
    inspected_object
        Metadata of the object (type, container numbers, plate...).
    threats
        Known threats.
    margin_mm
        Empty space scanned before and after the object (open beam for calibration).
    materials
        Materials by name; defaults to :data:`~nii.physics.MATERIALS`.
    """

    name: str
    solids: tuple[Solid, ...]
    length_mm: float
    inspected_object: InspectedObject
    threats: tuple[ThreatSpec, ...] = ()
    margin_mm: float = 600.0
    materials: Mapping[str, Material] = field(default_factory=lambda: MATERIALS)

    def __post_init__(self) -> None:
        if not self.solids:
            raise ValidationError(f"phantom {self.name!r} has no solids")
        unknown = sorted({solid.material for solid in self.solids} - set(self.materials))
        if unknown:
            raise ValidationError(f"phantom {self.name!r} uses unknown materials {unknown}")
        if not (self.length_mm > 0 and self.margin_mm >= 0):
            raise ValidationError(f"phantom {self.name!r}: length must be positive and the margin ≥ 0")
        for threat in self.threats:
            if not threat.solids or not all(0 <= index < len(self.solids) for index in threat.solids):
                raise ValidationError(f"phantom {self.name!r}: threat {threat.description!r} names unknown solids")

    @property
    def material_names(self) -> tuple[str, ...]:
        """Materials in order of first use; truth labels are 1 + their index (0 is nothing)."""
        return tuple(dict.fromkeys(solid.material for solid in self.solids))

    @property
    def scan_length_mm(self) -> float:
        return self.length_mm + 2 * self.margin_mm


class PhantomBuilder:
    """Collects solids and threats while a phantom is put together.

    Examples
    --------
    >>> from nii.simulate.solids import Box
    >>> builder = PhantomBuilder()
    >>> builder.add(Box("steel", 1.0, (0.0, 100.0), (-50.0, 50.0), (0.0, 10.0)))
    (0,)
    """

    def __init__(self) -> None:
        self.solids: list[Solid] = []
        self.threats: list[ThreatSpec] = []

    def add(self, *solids: Solid) -> tuple[int, ...]:
        """Add ``solids``; their indices in the phantom."""
        first = len(self.solids)
        self.solids.extend(solids)
        return tuple(range(first, len(self.solids)))

    def threat(
        self,
        solids: Sequence[Solid],
        category: ThreatCategory | str,
        description: str,
        assessment: AssessmentFlag | str = AssessmentFlag.THREAT,
    ) -> None:
        """Add ``solids`` and mark those of them that are not empty as one known threat."""
        indices = self.add(*solids)
        positive = tuple(i for i in indices if self.solids[i].fill > 0)
        self.threats.append(ThreatSpec(positive, ThreatCategory(category), description, AssessmentFlag(assessment)))

"""Threats in 3-D: on a CT volume of the scan, or on images the scan does not carry.

A DICOS Threat Detection Report locates each potential threat by a box in the voxel grid
of the images it references (x = column, y = row, z = frame). On a radiograph view that is
a :class:`nii.model.Threat`; on a CT volume it is a :class:`VolumeThreat` with the volume's
name; and when the report travels without its images (a detection algorithm's report, read
on its own) it is a :class:`VolumeThreat` that names the referenced images instead, so the
report can be described, validated and written back unchanged.

Examples
--------
>>> threat = VolumeThreat(Box3D(4, 2, 1, 10, 8, 3), volume="ct", category="EXPLOSIVE", mass=350.0)
>>> threat.box.shape
(3, 8, 10)
>>> VolumeThreat(Box3D(0, 0, 0, 5, 5, 1), references=(ImageReference("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.7"),))
... # doctest: +ELLIPSIS
VolumeThreat(box=Box3D(x=0, y=0, z=0, width=5, height=5, depth=1), volume=None, references=(ImageReference(...),), ...)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nii.model import AssessmentFlag, ThreatCategory, ThreatOrigin
from nii.validation import require, require_uid

__all__ = ["Box3D", "ImageReference", "VolumeThreat"]


@dataclass(frozen=True)
class Box3D:
    """An axis-aligned box in voxels: ``x`` column, ``y`` row, ``z`` frame (a 2-D image has z 0, depth 1)."""

    x: int
    y: int
    z: int
    width: int
    height: int
    depth: int

    def __post_init__(self) -> None:
        for name in ("x", "y", "z", "width", "height", "depth"):
            object.__setattr__(self, name, int(getattr(self, name)))
        require(min(self.x, self.y, self.z) >= 0, f"box origin ({self.x}, {self.y}, {self.z}) must not be negative")
        require(
            min(self.width, self.height, self.depth) > 0,
            f"box size {self.width} × {self.height} × {self.depth} must be positive",
        )

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(depth, height, width)``: the shape of a mask of the box."""
        return self.depth, self.height, self.width

    @property
    def slices(self) -> tuple[slice, slice, slice]:
        """``(frames, rows, columns)`` slices selecting the box from a volume array."""
        return (
            slice(self.z, self.z + self.depth),
            slice(self.y, self.y + self.height),
            slice(self.x, self.x + self.width),
        )


@dataclass(frozen=True)
class ImageReference:
    """An image instance by its DICOM identity (SOP class and instance UID)."""

    sop_class_uid: str
    sop_instance_uid: str

    def __post_init__(self) -> None:
        for what, uid in (("SOP class", self.sop_class_uid), ("SOP instance", self.sop_instance_uid)):
            require_uid(uid, f"{what} UID")


@dataclass(frozen=True)
class VolumeThreat:
    """A potential threat object in voxel coordinates.

    Parameters
    ----------
    box
        The box in the voxel grid of the volume (or of the referenced images).
    volume
        Name of the scan's volume it lies in; None when it lies on ``references``.
    references
        Images the scan does not carry (a report read without its images); needed when
        ``volume`` is None.
    category, assessment, probability, origin, algorithm, algorithm_version, description
        As for :class:`nii.model.Threat`.
    mass, density
        The detector's estimate of the object's mass and density, when it gives one, in the
        units of the report (DICOS TDR Mass and Density; the standard's units are not public).
    mask
        Optional boolean mask of shape ``box.shape``.
    """

    box: Box3D
    volume: str | None = None
    references: tuple[ImageReference, ...] = ()
    category: ThreatCategory = ThreatCategory.ANOMALY
    assessment: AssessmentFlag = AssessmentFlag.THREAT
    probability: float | None = None
    origin: ThreatOrigin = ThreatOrigin.MACHINE
    algorithm: str | None = None
    algorithm_version: str | None = None
    description: str | None = None
    mass: float | None = None
    density: float | None = None
    mask: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "category", ThreatCategory(self.category))
        object.__setattr__(self, "assessment", AssessmentFlag(self.assessment))
        object.__setattr__(self, "origin", ThreatOrigin(self.origin))
        object.__setattr__(self, "references", tuple(self.references))
        require(
            self.volume is None or not self.references,
            "a volume threat lies on a volume of the scan or on referenced images, not both",
        )
        require(self.volume is not None or len(self.references) > 0, "a volume threat needs a volume or references")
        if self.probability is not None:
            require(0.0 <= self.probability <= 1.0, f"threat probability {self.probability} is outside [0, 1]")
        for name in ("mass", "density"):
            value = getattr(self, name)
            require(value is None or (math.isfinite(value) and value >= 0), f"{name} must be ≥ 0, got {value}")
        if self.mask is not None:
            mask = np.asarray(self.mask, dtype=bool)
            require(mask.shape == self.box.shape, f"threat mask has shape {mask.shape}, its box is {self.box.shape}")
            object.__setattr__(self, "mask", mask)

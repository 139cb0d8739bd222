"""nii: interoperable non-intrusive inspection (NII) images.

Read any registered scanner format into a :class:`Scan`, process it with the kernels,
and write it as DICOS or another format::

    import nii
    scan = nii.read("container.raw")
    nii.write(scan, "out.npz")
"""

from nii.errors import NiiError
from nii.model import (
    Box,
    CalibrationState,
    Geometry,
    InspectedObject,
    ObjectType,
    Operator,
    ProcessingStep,
    Provenance,
    Scan,
    Scanner,
    Site,
    Threat,
    View,
)
from nii.registry import read, write
from nii.version import __version__

__all__ = [
    "Box",
    "CalibrationState",
    "Geometry",
    "InspectedObject",
    "NiiError",
    "ObjectType",
    "Operator",
    "ProcessingStep",
    "Provenance",
    "Scan",
    "Scanner",
    "Site",
    "Threat",
    "View",
    "__version__",
    "read",
    "write",
]

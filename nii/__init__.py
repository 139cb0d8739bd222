"""nii: interoperable non-intrusive inspection (NII) images.

Read any registered scanner format into a :class:`Scan`, process it with the kernels,
and write it as DICOS or another format::

    import nii
    scan = nii.read("container.raw")
    nii.write(scan, "out.npz")
"""

from typing import TYPE_CHECKING, Any

from nii.version import __version__

if TYPE_CHECKING:
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

_HOMES = {"NiiError": "nii.errors", "read": "nii.registry", "write": "nii.registry"}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: ``import nii`` (and so every ``nii.x`` module,
    the CLI's included) then costs nothing until the model, numpy or the registry are needed."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'nii' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOMES.get(name, "nii.model")), name)
    globals()[name] = value
    return value

"""DICOS (NEMA IIC 1, DICOM for security): DX, CT and TDR objects, reader, writer, validator.

A scan is stored as a folder of ``.dcs`` files: one DX instance per view × channel, one
CT instance per volume, and one TDR per group of threats of the same origin and algorithm
(see :mod:`nii.formats.dicos.mapping` and ``docs/formats/dicos.md``). The files follow
what the reference DICOS toolkit writes and requires: DICOS V03 in (4010,103A) and in the
file meta (0002,0004), valid 2.25 UIDs, Number of Frames as IS, encapsulated Pixel Data
as OB, Image Scale Representation as FD.

Only the format class is imported with the package (the registry loads it at every CLI
start); the IOD classes and pydicom come with first use of the names below.

Examples
--------
>>> import nii
>>> scan = nii.read("scan.dicos")                                  # doctest: +SKIP
>>> nii.write(scan, "copy.dicos", compression="jpeg-lossless")     # doctest: +SKIP
"""

from importlib import import_module
from typing import Any

from nii.registry import register

from .format import DicosFormat

__all__ = [
    "CTImage",
    "Compression",
    "DXImage",
    "DicosFormat",
    "Equipment",
    "ObjectOfInspection",
    "PotentialThreat",
    "ScanContext",
    "ThreatReport",
]

_LAZY = {
    "CTImage": ".ct",
    "Compression": ".files",
    "DXImage": ".dx",
    "Equipment": ".common",
    "ObjectOfInspection": ".common",
    "PotentialThreat": ".tdr",
    "ScanContext": ".common",
    "ThreatReport": ".tdr",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


FORMAT = register(DicosFormat)

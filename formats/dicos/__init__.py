"""DICOS (NEMA IIC 1, DICOM for security): DX, CT and TDR objects, reader, writer, validator.

A scan is stored as a folder of ``.dcs`` files: one DX instance per view × channel, one
CT instance per volume, and one TDR per group of threats of the same origin and algorithm
(see :mod:`nii.formats.dicos.mapping` and ``docs/formats/dicos.md``). The files follow
what the reference DICOS toolkit writes and requires: DICOS V03 in (4010,103A) and in the
file meta (0002,0004), valid 2.25 UIDs, Number of Frames as IS, encapsulated Pixel Data
as OB, Image Scale Representation as FD.

Examples
--------
>>> import nii
>>> scan = nii.read("scan.dicos")                                  # doctest: +SKIP
>>> nii.write(scan, "copy.dicos", compression="jpeg-lossless")     # doctest: +SKIP
"""

from nii.registry import register

from . import dictionary
from .common import Equipment, ObjectOfInspection, ScanContext
from .ct import CTImage
from .dx import DXImage
from .files import Compression
from .format import DicosFormat
from .tdr import PotentialThreat, ThreatReport

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
    "dictionary",
]

FORMAT = register(DicosFormat)

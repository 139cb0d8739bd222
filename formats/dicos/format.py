"""The ``dicos`` format: a scan as a folder of DICOS ``.dcs`` files.

Writing creates the folder atomically (:func:`nii.io.atomic_output`): every file is
built in memory first, so an unsupported channel type fails before anything is written,
and a failed write leaves no partial folder. Reading takes a folder (which must hold one
scan, or pass ``scan_uid=``) or any one file of a scan (its siblings with the same Scan
Instance UID are read with it).

This module stays light (no pydicom, no numba at import) because every CLI start loads
the registry; the work is done in :mod:`nii.formats.dicos.scan_io`, imported on first use.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from nii.errors import CorruptFileError, FileAccessError
from nii.model import Scan
from nii.registry import Format, Option, declare, library_errors

__all__ = ["DicosFormat", "dicos_files", "is_dicos"]

SOP_CLASS_PREFIX = b"1.2.840.10008.5.1.4.1.1.501."
"""Start of every DICOS SOP class UID (``dictionary.DICOS_PREFIX``), found in the file meta."""
_SNIFF = 1024


def is_dicos(head: bytes) -> bool:
    """Whether the first bytes of a file are a Part 10 header of a DICOS SOP class."""
    return len(head) > 132 and head[128:132] == b"DICM" and SOP_CLASS_PREFIX in head[132:_SNIFF]


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(_SNIFF)
    except OSError:
        return b""


def dicos_files(folder: Path, *, strict: bool = False) -> list[Path]:
    """The DICOS files of a folder (by content, whatever their names), sorted by name.

    ``strict``: a ``.dcs`` file that is not DICOS by content (empty, cut inside its header,
    damaged) is an error, not a file to leave out: a scan missing a member is damaged.
    """
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise FileAccessError(f"cannot list folder: {error.strerror}", path=folder) from error
    found = []
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if not entry.is_file():  # never opened: a FIFO would block
            if strict and entry.suffix.lower() == ".dcs" and not entry.is_dir():
                raise FileAccessError(
                    "not a regular file (a pipe, socket, device or a link that leads nowhere): "
                    "a scan missing a member is damaged",
                    path=entry,
                )
            continue
        if is_dicos(_head(entry)):
            found.append(entry)
        elif strict and entry.suffix.lower() == ".dcs":
            raise CorruptFileError(
                f"not a DICOS file (no Part 10 header with a DICOS SOP class in its {entry.stat().st_size} bytes: "
                "empty, cut inside its header or damaged)",
                path=entry,
            )
    return found


class DicosFormat(Format):
    """DICOS (NEMA IIC 1) DX, CT and TDR files; one scan per folder."""

    name = "dicos"
    extensions = (".dicos", ".dcs")
    description = "DICOS folder of .dcs files: DX per view × channel, CT per volume, TDR (V03)"
    capabilities = frozenset(
        {"dual-energy", "multi-view", "threats", "volumes", "folder", "compression", "lossless", "memory-map"}
    )
    version = "1"
    read_errors = library_errors(
        "NotImplementedError",  # pydicom: an unknown value representation
        "AttributeError",  # pydicom: a required element missing, read as an attribute
        "pydicom.errors.InvalidDicomError",
        "pydicom.errors.BytesLengthException",
        "pyo3_runtime.PanicException",
        "zlib.error",
    )
    read_options = declare(scan_uid=Option("the scan to read from a folder that holds several"))
    write_options = declare(
        compression=Option(
            "Pixel Data encoding (all lossless)",
            default="none",
            choices=("none", "rle", "jpeg-lossless", "jpegls", "j2k"),
        ),
        dicos_version=Option("(4010,103A) and (0002,0004)", default="V03"),
        modality=Option("DX Modality", default="XRAY", choices=("XRAY", "DX")),
        presentation=Option("DX For Presentation with a window", default=False, kind=bool),
        window=Option("(center, width) for presentation; default: each channel's range", kind=(tuple, list)),
        created_at=Option("Instance Creation Date/Time; now by default", kind=datetime),
        fsync=Option("flush every file and the rename to disk before returning", default=False, kind=bool),
    )

    def can_read(self, head: bytes, path: Path) -> bool:
        if path.is_dir():
            return bool(dicos_files(path))
        return is_dicos(head)

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        """Write ``scan`` as the folder ``path``; the options are :attr:`write_options`."""
        from .scan_io import write_scan

        return write_scan(scan, path, **options)

    def read(self, path: Path, **options: Any) -> Scan:
        """Read the scan in the folder ``path``, or the scan that the file ``path`` belongs to.

        Options: ``scan_uid`` picks one scan of a folder that holds several.
        """
        from .scan_io import read_scan

        return read_scan(path, options["scan_uid"])

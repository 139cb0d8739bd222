"""The ``dicos`` format: a scan as a folder of DICOS ``.dcs`` files.

Writing creates the folder atomically (:func:`nii.io.atomic_output`): every file is
built in memory first, so an unsupported channel type fails before anything is written,
and a failed write leaves no partial folder. Reading takes a folder (which must hold one
scan, or pass ``scan_uid=``) or any one file of a scan (its siblings with the same Scan
Instance UID are read with it).
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from pydicom.dataset import Dataset

from nii.errors import CorruptFileError, FileAccessError, NiiError, UnsupportedError
from nii.io import atomic_output
from nii.model import Provenance, Scan
from nii.registry import Format

from .ct import CTImage
from .dictionary import CT_STORAGE, DX_CLASSES, NON_STANDARD_PIXEL_CLASSES, TDR_STORAGE
from .dx import DXImage
from .files import Compression, is_dicos, read_dataset, tag_text, tolerant_reading, write_instance
from .mapping import WriteOptions, instances_to_scan, scan_to_instances
from .tdr import ThreatReport

__all__ = ["DicosFormat", "dicos_files"]

log = logging.getLogger(__name__)

_SNIFF = 1024


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read(_SNIFF)
    except OSError:
        return b""


def dicos_files(folder: Path) -> list[Path]:
    """The DICOS files of a folder (by content, whatever their names), sorted by name."""
    try:
        entries = sorted(folder.iterdir())
    except OSError as error:
        raise FileAccessError(f"cannot list folder: {error.strerror}", path=folder) from error
    return [p for p in entries if p.is_file() and not p.name.startswith(".") and is_dicos(_head(p))]


def _study_uid(path: Path) -> str:
    header = read_dataset(path, stop_before_pixels=True, tags=[0x00020010, 0x0020000D, 0x00080016])
    uid = str(header.get("StudyInstanceUID", "")).strip()
    if not uid:
        raise CorruptFileError(f"no {tag_text(0x0020000D)} (truncated, or not a DICOS object)", path=path)
    return uid


class DicosFormat(Format):
    """DICOS (NEMA IIC 1) DX, CT and TDR files; one scan per folder."""

    name = "dicos"
    extensions = (".dicos", ".dcs")
    description = "DICOS folder of .dcs files: DX per view × channel, CT per volume, TDR (V03)"
    capabilities = frozenset(
        {"dual-energy", "multi-view", "threats", "volumes", "folder", "compression", "lossless", "memory-map"}
    )
    version = "1"

    def can_read(self, head: bytes, path: Path) -> bool:
        if path.is_dir():
            return bool(dicos_files(path))
        return is_dicos(head)

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        """Write ``scan`` as the folder ``path``.

        Options: ``compression`` (``none``, ``rle``, ``jpeg-lossless``, ``jpegls``,
        ``j2k``), ``dicos_version`` (``"V03"``), ``modality`` (``"XRAY"`` or ``"DX"``),
        ``presentation`` (DX For Presentation with a window), ``window`` (center, width).
        """
        compression = Compression(options.pop("compression", "none"))
        if not compression.reference_toolkit_reads:
            log.warning("compression %s: the reference DICOS toolkit cannot read these files", compression.value)
        write_options = WriteOptions(**options)
        if path.exists() and not path.is_dir():
            raise FileAccessError("exists and is not a folder; DICOS scans are written as folders", path=path)
        try:
            instances = scan_to_instances(scan, write_options)
        except NiiError as error:
            raise type(error)(error.problem, path=path) from error
        with atomic_output(path) as temporary:
            temporary.mkdir()
            # One file per thread: the JPEG Lossless kernel releases the GIL, so channels
            # compress in parallel; with one core this is the plain sequential loop.
            workers = min(len(instances), os.cpu_count() or 1)
            with ThreadPoolExecutor(max_workers=workers) as pool:
                futures = [
                    pool.submit(
                        write_instance,
                        temporary / name,
                        instance,
                        instance._pixels,
                        compression=compression,
                        version=write_options.dicos_version,
                    )
                    for name, instance in instances
                ]
                for future in futures:
                    future.result()
        return [path / name for name, _ in instances]

    def read(self, path: Path, **options: Any) -> Scan:
        """Read the scan in the folder ``path``, or the scan that the file ``path`` belongs to.

        Options: ``scan_uid`` picks one scan of a folder that holds several.
        """
        scan_uid = options.pop("scan_uid", None)
        if options:
            raise TypeError(f"dicos reader takes only scan_uid=, got {sorted(options)}")
        with tolerant_reading():
            return self._read(path, scan_uid)

    def _read(self, path: Path, scan_uid: str | None) -> Scan:
        files = self._scan_files(path, scan_uid)
        images: list[DXImage] = []
        volumes: list[CTImage] = []
        reports: list[ThreatReport] = []
        for file in files:
            dataset = read_dataset(file)
            kind = _classify(dataset, file)
            if kind is DXImage:
                images.append(DXImage.from_dataset(dataset, path=file))
            elif kind is CTImage:
                volumes.append(CTImage.from_dataset(dataset, path=file))
            else:
                reports.append(ThreatReport.from_dataset(dataset, path=file))
        if not images and not volumes:
            raise CorruptFileError("the scan has no DX or CT image (only threat reports)", path=path)
        scan = instances_to_scan(_ordered(images), _ordered(volumes), _ordered(reports), path=path)
        scan.provenance = Provenance(
            source_path=str(path), source_format=self.name, reader_version=self.version, steps=scan.provenance.steps
        )
        return scan

    def _scan_files(self, path: Path, scan_uid: str | None) -> list[Path]:
        folder = path if path.is_dir() else path.parent
        candidates = dicos_files(folder)
        if not path.is_dir():
            if path not in candidates and path.resolve() not in {c.resolve() for c in candidates}:
                raise CorruptFileError("not a DICOS file (no Part 10 header with a DICOS SOP class)", path=path)
            scan_uid = scan_uid or _study_uid(path)
        by_scan: dict[str, list[Path]] = defaultdict(list)
        for candidate in candidates:
            by_scan[_study_uid(candidate)].append(candidate)
        if scan_uid is None:
            if len(by_scan) > 1:
                raise UnsupportedError(
                    f"folder holds {len(by_scan)} scans ({', '.join(sorted(by_scan))}); read one of their files "
                    "or pass scan_uid=",
                    path=path,
                )
            scan_uid = next(iter(by_scan))
        if scan_uid not in by_scan:
            raise FileAccessError(f"no file of scan {scan_uid} here", path=path)
        return by_scan[scan_uid]


def _classify(dataset: Dataset, path: Path) -> type:
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class in DX_CLASSES:
        return DXImage
    if sop_class == CT_STORAGE:
        return CTImage
    if sop_class == TDR_STORAGE:
        return ThreatReport
    if sop_class in NON_STANDARD_PIXEL_CLASSES:
        raise UnsupportedError(
            f"{tag_text(0x00080016)} {sop_class} ({NON_STANDARD_PIXEL_CLASSES[sop_class]}): unsupported pixel type; "
            "nii reads 8- and 16-bit DICOS images",
            path=path,
        )
    raise UnsupportedError(f"{tag_text(0x00080016)} {sop_class!r} is not a DICOS DX, CT or TDR class", path=path)


_Instance = TypeVar("_Instance", bound=Dataset)


def _ordered(instances: list[_Instance]) -> list[_Instance]:
    def key(instance: Dataset) -> tuple[int, int, str]:
        def number(keyword: str) -> int:
            try:
                return int(instance.get(keyword) or 0)
            except (TypeError, ValueError):
                return 0

        return number("SeriesNumber"), number("InstanceNumber"), str(getattr(instance, "path", ""))

    return sorted(instances, key=key)

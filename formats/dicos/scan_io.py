"""Reading and writing whole scans: the work behind :class:`~nii.formats.dicos.format.DicosFormat`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydicom.dataset import Dataset

from nii import writer_thread
from nii.errors import CorruptFileError, FileAccessError, NiiError, UnsupportedError
from nii.io import atomic_output
from nii.model import Scan
from nii.threads import map_threads, thread_count

from .ct import CTImage
from .dictionary import CT_STORAGE, DX_CLASSES, NON_STANDARD_PIXEL_CLASSES, TDR_STORAGE
from .dx import DXImage
from .files import Compression, EncodedInstance, read_dataset, tag_text, tolerant_reading
from .format import dicos_files
from .mapping import WriteOptions, instances_to_scan, scan_to_instances
from .tdr import ThreatReport

__all__ = ["read_scan", "write_scan"]

log = logging.getLogger(__name__)

_Instance = TypeVar("_Instance", bound=Dataset)


def write_scan(scan: Scan, path: Path, **options: Any) -> list[Path]:
    """Write ``scan`` as the folder ``path`` (see :meth:`DicosFormat.write` for the options)."""
    compression = Compression(options.pop("compression", "none"))
    fsync = bool(options.pop("fsync", False))
    if not compression.reference_toolkit_reads:
        log.warning("compression %s: the reference DICOS toolkit cannot read these files", compression.value)
    write_options = WriteOptions(**options)
    if path.exists() and not path.is_dir():
        raise FileAccessError("exists and is not a folder; DICOS scans are written as folders", path=path)
    names: list[str] = []

    def encoded() -> Iterator[tuple[str, EncodedInstance]]:
        try:
            for name, instance in scan_to_instances(scan, write_options):
                names.append(name)
                yield (
                    name,
                    EncodedInstance.encode(
                        instance, instance._pixels, compression=compression, version=write_options.dicos_version
                    ),
                )
        except NiiError as error:
            raise type(error)(error.problem, path=path) from error

    with atomic_output(path, fsync=fsync) as temporary:
        temporary.mkdir()
        # This thread builds and encodes each instance (Python work that holds the GIL) while
        # the previous files are written, and with fsync, sent to the disk (atomic_output
        # fsyncs them all at the end). Uncompressed files go to a writer thread that runs
        # without the GIL (a Python thread would wait for this one at every system call);
        # compressed ones to the thread pool, which compresses their frames (the codecs
        # release the GIL). With one thread, this thread does it all.
        if compression is Compression.NONE and thread_count() > 1 and writer_thread.available():
            with writer_thread.WriterThread() as writer:
                for name, instance in encoded():
                    parts = instance.parts
                    assert parts is not None  # uncompressed
                    writer.write(temporary / name, parts, start_writeback=fsync)
        else:
            map_threads(lambda item: item[1].write(temporary / item[0], start_writeback=fsync), encoded())
    return [path / name for name in names]


def read_scan(path: Path, scan_uid: str | None = None) -> Scan:
    """The scan in the folder ``path``, or the scan the file ``path`` belongs to."""
    with tolerant_reading():
        images: list[DXImage] = []
        volumes: list[CTImage] = []
        reports: list[ThreatReport] = []
        for file in _scan_files(path, scan_uid):
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
        return instances_to_scan(_ordered(images), _ordered(volumes), _ordered(reports), path=path)


def _study_uid(path: Path) -> str:
    header = read_dataset(path, stop_before_pixels=True, tags=[0x00020010, 0x0020000D, 0x00080016])
    uid = str(header.get("StudyInstanceUID", "")).strip()
    if not uid:
        raise CorruptFileError(f"no {tag_text(0x0020000D)} (truncated, or not a DICOS object)", path=path)
    return uid


def _scan_files(path: Path, scan_uid: str | None) -> list[Path]:
    folder = path if path.is_dir() else path.parent
    candidates = dicos_files(folder, strict=True)
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


def _ordered(instances: list[_Instance]) -> list[_Instance]:
    def key(instance: Dataset) -> tuple[int, int, str]:
        def number(keyword: str) -> int:
            try:
                return int(instance.get(keyword) or 0)
            except (TypeError, ValueError):
                return 0

        return number("SeriesNumber"), number("InstanceNumber"), str(getattr(instance, "path", ""))

    return sorted(instances, key=key)

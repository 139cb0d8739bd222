"""Reading and writing whole scans: the work behind :class:`~nii.formats.dicos.format.DicosFormat`."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydicom.dataset import Dataset

from nii import writer_thread
from nii.errors import CorruptFileError, FileAccessError, NiiError, UnsupportedError
from nii.formats._vendor import reading
from nii.io import atomic_output
from nii.model import Scan
from nii.threads import map_threads, thread_count

from .ct import CTImage
from .dictionary import CT_STORAGE, NON_STANDARD_PIXEL_CLASSES, OUT_OF_SCOPE_CLASSES, TDR_STORAGE
from .dx import DXImage
from .files import Compression, EncodedInstance, read_dataset, tag_text, tolerant_reading
from .format import dicos_files
from .mapping import WriteOptions, scan_to_instances
from .reading import instances_to_scan
from .tdr import ThreatReport

__all__ = ["read_scan", "write_scan"]

log = logging.getLogger(__name__)

_Instance = TypeVar("_Instance", bound=Dataset)


def write_scan(scan: Scan, path: Path, **options: Any) -> list[Path]:
    """Write ``scan`` as the folder ``path`` with every option :attr:`DicosFormat.write_options` declares."""
    compression = Compression(options.pop("compression"))
    fsync = bool(options.pop("fsync"))
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
            with reading(file, "dicos"):  # values pydicom decodes but the model refuses
                if kind is DXImage:
                    images.append(DXImage.from_dataset(dataset, path=file))
                elif kind is CTImage:
                    volumes.append(CTImage.from_dataset(dataset, path=file))
                else:
                    reports.append(ThreatReport.from_dataset(dataset, path=file))
        with reading(path, "dicos"):  # nii's private metadata (JSON) missing fields or of the wrong types
            return instances_to_scan(_ordered(images), _ordered(volumes), _ordered(reports), path=path)


def _identity(path: Path) -> tuple[str, str]:
    """Scan Instance UID and Frame of Reference UID (empty when absent) of a file."""
    header = read_dataset(path, stop_before_pixels=True, tags=[0x00020010, 0x0020000D, 0x00080016, 0x00200052])
    uid = str(header.get("StudyInstanceUID", "")).strip()
    if not uid:
        raise CorruptFileError(f"no {tag_text(0x0020000D)} (truncated, or not a DICOS object)", path=path)
    return uid, str(header.get("FrameOfReferenceUID", "") or "").strip()


def _group_scans(identities: Mapping[Path, tuple[str, str]]) -> dict[str, list[Path]]:
    """Files by scan: one Scan Instance UID, or several that share a Frame of Reference (the
    reference toolkit's dual-energy CT gives each volume and its TDR their own scan UID, tied
    by one frame of reference). Keyed by the first scan UID of each group, in file order."""
    parent: dict[str, str] = {}

    def root(label: str) -> str:
        while parent.setdefault(label, label) != label:
            label = parent[label]
        return label

    for study, frame in identities.values():
        if frame:
            parent[root("F" + frame)] = root("S" + study)
    groups: dict[str, list[Path]] = defaultdict(list)
    names: dict[str, str] = {}
    for path, (study, _) in identities.items():
        key = root("S" + study)
        groups[names.setdefault(key, study)].append(path)
    return dict(groups)


def _scan_files(path: Path, scan_uid: str | None) -> list[Path]:
    folder = path if path.is_dir() else path.parent
    candidates = dicos_files(folder, strict=True)
    if not path.is_dir():
        if path not in candidates and path.resolve() not in {c.resolve() for c in candidates}:
            raise CorruptFileError("not a DICOS file (no Part 10 header with a DICOS SOP class)", path=path)
        scan_uid = scan_uid or _identity(path)[0]
    identities = {candidate: _identity(candidate) for candidate in candidates}
    by_scan = _group_scans(identities)
    if scan_uid is None:
        if len(by_scan) > 1:
            raise UnsupportedError(
                f"folder holds {len(by_scan)} scans ({', '.join(sorted(by_scan))}); read one of their files "
                "or pass scan_uid=",
                path=path,
            )
        scan_uid = next(iter(by_scan))
    for files in by_scan.values():
        if any(identities[f][0] == scan_uid for f in files):
            return files
    raise FileAccessError(f"no file of scan {scan_uid} here", path=path)


def _classify(dataset: Dataset, path: Path) -> type:
    sop_class = str(dataset.get("SOPClassUID", ""))
    if sop_class in DXImage.sop_classes:
        return DXImage
    if sop_class == CT_STORAGE:
        return CTImage
    if sop_class == TDR_STORAGE:
        return ThreatReport
    if sop_class in NON_STANDARD_PIXEL_CLASSES:
        raise UnsupportedError(
            f"{tag_text(0x00080016)} {sop_class} ({NON_STANDARD_PIXEL_CLASSES[sop_class]}): unsupported pixel type; "
            "nii reads 8- and 16-bit DICOS images, and 32-bit, 64-bit and float DX",
            path=path,
        )
    family = next((name for uid, name in OUT_OF_SCOPE_CLASSES.items() if sop_class.startswith(uid)), None)
    if family is not None:
        raise UnsupportedError(
            f"{tag_text(0x00080016)} {sop_class} is {family}: nii reads DICOS DX, CT and TDR only", path=path
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

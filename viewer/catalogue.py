"""The scans a viewer serves: found from the command line's paths, opened only when looked at.

Every scan gets a short identifier (``s0``, ``s1``, …); the server resolves requests through it
and never through a path from the browser, so nothing but the named scans can be reached.
Opening is lazy and bounded: at most ``open_limit`` scans are open at a time (least recently used
closed first), so listing many cargo scans costs their metadata, not their pixels. A scan's
thumbnail is rendered once and kept as encoded bytes.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nii.errors import ConfigurationError
from nii.formats.archive import open_archive
from nii.model import Scan
from nii.pipeline import find_scans
from nii.registry import find_format, get_format, read
from nii.viewer.pilot_output import PilotReport, is_pilot_output, pilot_scans

__all__ = ["Catalogue", "OpenScan", "ScanEntry"]

OPEN_LIMIT = 2
"""Scans kept open at once by default (a comparison needs two)."""


@dataclass(frozen=True)
class ScanEntry:
    """One scan the viewer may show.

    Parameters
    ----------
    id
        Identifier in URLs (``s0``, ``s1``, …).
    path
        The scan's file or folder (for an archive, the archive file).
    label
        What the scan list shows (under its group's heading).
    archive_index
        Index of the scan in an NII archive; ``None`` for single-scan files and folders.
    format
        The name of the format that reads it.
    group
        The heading the scan list shows it under (a pilot's scanner); ``None`` for none.
    """

    id: str
    path: Path
    label: str
    format: str
    archive_index: int | None = None
    group: str | None = None

    @property
    def is_dicos_folder(self) -> bool:
        """True when operator threat reports can be written beside the scan's files."""
        return self.format == "dicos" and self.path.is_dir()


@dataclass
class OpenScan:
    """An opened scan and what was derived from it while it stays open (dropped together)."""

    entry: ScanEntry
    scan: Scan
    derived: dict[Any, Any] = field(default_factory=dict)
    lock: threading.RLock = field(default_factory=threading.RLock)  # held while deriving: no work done twice

    def cached(self, key: Any, make: Callable[[], Any]) -> Any:
        """``make()``'s result, computed once per open scan and key."""
        with self.lock:
            if key not in self.derived:
                self.derived[key] = make()
            return self.derived[key]


def _entries_of(
    path: Path, first_id: int, forced_format: str | None, *, label: str | None = None, group: str | None = None
) -> list[ScanEntry]:
    fmt = get_format(forced_format) if forced_format else find_format(path)
    if "multi-scan" not in fmt.capabilities:
        label = label or (path.name if path.name else str(path))
        return [ScanEntry(f"s{first_id}", path, label, fmt.name, group=group)]
    with open_archive(path) as archive:
        count = len(archive)
    return [
        ScanEntry(
            f"s{first_id + index}", path, f"{label or path.name} #{index}", fmt.name, archive_index=index, group=group
        )
        for index in range(count)
    ]


class Catalogue:
    """The scans named on the command line, opened lazily.

    Parameters
    ----------
    paths
        Scan files, scan folders (DICOS), NII archives, folders holding any of these, or the output
        folders of pilots (their DICOS scans, grouped by scanner, and their reports).
    open_limit
        Scans kept open at once.
    read_options
        :func:`nii.read`'s options for every scan (``format``, ``profile``, reader options), as
        ``nii view --profile`` gives them; with a profile, files in folders that do not fit it are left out.

    Raises
    ------
    ConfigurationError
        The paths hold no scan.
    NiiError
        A path does not exist or a named file is not a scan.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        open_limit: int = OPEN_LIMIT,
        read_options: Mapping[str, Any] | None = None,
    ) -> None:
        self._read_options = {key: value for key, value in (read_options or {}).items() if key != "format"}
        forced_format = (read_options or {}).get("format")
        entries: list[ScanEntry] = []
        self.reports: list[PilotReport] = []
        """The reports of the pilots named (``nii pilot run`` output folders), served as fixed files."""
        seen: set[Path] = set()
        found: list[tuple[Path, str | None, str | None]]  # path, label, group
        for item in paths:
            if is_pilot_output(Path(item)):
                scans, report = pilot_scans(Path(item))
                self.reports.append(report)
                found = [(scan.path, scan.object, scan.scanner) for scan in scans]
            else:
                found = [(path, None, None) for path in find_scans([item], read_options=read_options)]
            for path, label, group in found:
                if path not in seen:
                    seen.add(path)
                    entries.extend(_entries_of(path, len(entries), forced_format, label=label, group=group))
        if not entries:
            raise ConfigurationError(f"no scan found in {', '.join(map(str, paths))}")
        self.entries = entries
        self._by_id = {entry.id: entry for entry in entries}
        self._open: OrderedDict[str, OpenScan] = OrderedDict()
        self._open_limit = max(1, open_limit)
        self._lock = threading.Lock()
        self._thumbnails: dict[tuple[str, str], bytes] = {}

    def entry(self, scan_id: str) -> ScanEntry:
        """The entry called ``scan_id``; ``KeyError`` for any other text."""
        return self._by_id[scan_id]

    def _read(self, entry: ScanEntry) -> OpenScan:
        options = {"scan": entry.archive_index} if entry.archive_index is not None else {}
        return OpenScan(entry, read(entry.path, format=entry.format, **self._read_options, **options))

    def open(self, scan_id: str) -> OpenScan:
        """The scan, read on first use and kept among the ``open_limit`` most recently used."""
        entry = self.entry(scan_id)
        with self._lock:
            if scan_id in self._open:
                self._open.move_to_end(scan_id)
                return self._open[scan_id]
        opened = self._read(entry)
        with self._lock:
            opened = self._open.setdefault(scan_id, opened)
            self._open.move_to_end(scan_id)
            while len(self._open) > self._open_limit:
                self._open.popitem(last=False)
        return opened

    def close(self, scan_id: str) -> None:
        """Forget the opened scan (its files changed); the next use reads it again."""
        with self._lock:
            self._open.pop(scan_id, None)
            self._thumbnails = {key: value for key, value in self._thumbnails.items() if key[0] != scan_id}

    @property
    def open_ids(self) -> list[str]:
        """Identifiers of the scans open now, least recently used first."""
        with self._lock:
            return list(self._open)

    def thumbnail(self, scan_id: str, kind: str, make: Callable[[OpenScan], bytes]) -> bytes:
        """The encoded thumbnail of a scan, made once with ``make``.

        A scan not open already is read for it and let go again: listing scans never keeps them open.
        """
        key = (scan_id, kind)
        with self._lock:
            if key in self._thumbnails:
                return self._thumbnails[key]
            opened = self._open.get(scan_id)
        data = make(opened if opened is not None else self._read(self.entry(scan_id)))
        with self._lock:
            self._thumbnails[key] = data
        return data

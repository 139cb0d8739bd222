"""Send DICOS files to a storage SCP: C-ECHO, then one C-STORE per file, with retries.

Examples
--------
>>> peer = Peer("127.0.0.1", 11112, called_ae="ANALYSIS")          # doctest: +SKIP
>>> results = send(["scans/"], peer)                                # doctest: +SKIP
>>> all(result.stored for result in results)                        # doctest: +SKIP
True
"""

from __future__ import annotations

import logging
import os
import ssl
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pydicom.errors import InvalidDicomError
from pydicom.filereader import read_file_meta_info
from pynetdicom import AE, _config
from pynetdicom.association import Association

from nii.errors import FileAccessError, NiiError, UnknownFormatError
from nii.formats.dicos.format import dicos_files
from nii.progress import progress

from .common import DICOS_STORAGE, VERIFICATION, Status, ae_title

__all__ = ["Peer", "SendResult", "dicos_files_of", "send"]

log = logging.getLogger(__name__)

MAX_CONTEXTS = 127
"""A DICOM association carries at most 128 presentation contexts; one is Verification."""


@dataclass(frozen=True)
class Peer:
    """A storage SCP: where to connect, its AE title, ours, and TLS (None: plain TCP)."""

    host: str
    port: int
    called_ae: str
    calling_ae: str = "NII"
    tls: ssl.SSLContext | None = None
    timeout: float = 30.0

    def __post_init__(self) -> None:
        ae_title(self.called_ae)
        ae_title(self.calling_ae)

    def __str__(self) -> str:
        return f"{self.called_ae}@{self.host}:{self.port}"


@dataclass
class SendResult:
    """One file's outcome: a row of the report."""

    path: str
    status: str  # "stored" or "failed"
    code: int | None = None
    bytes: int = 0
    seconds: float = 0.0
    message: str = ""

    @property
    def stored(self) -> bool:
        return self.status == "stored"

    def as_dict(self) -> dict[str, object]:
        row = asdict(self)
        row["code"] = None if self.code is None else f"0x{self.code:04X}"
        return row


@dataclass(frozen=True)
class _File:
    path: Path
    sop_class: str
    transfer_syntax: str
    size: int


def dicos_files_of(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """The DICOS files of the given files and folders (walked recursively, hidden entries skipped)."""
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_file():
            files.append(entry)
        elif entry.is_dir():
            for current, folders, _ in os.walk(entry):
                folders[:] = sorted(f for f in folders if not f.startswith("."))
                files.extend(dicos_files(Path(current)))
        else:
            raise FileAccessError("no such file or folder", path=entry)
    return files


def _describe(path: Path) -> _File:
    try:
        meta = read_file_meta_info(path)
        size = path.stat().st_size
    except (InvalidDicomError, OSError, ValueError, EOFError) as error:
        raise UnknownFormatError(f"not a DICOM Part 10 file: {error}", path=path) from error
    sop_class = str(meta.get("MediaStorageSOPClassUID", ""))
    if sop_class not in DICOS_STORAGE.values():
        raise UnknownFormatError(f"SOP class {sop_class!r} is not a DICOS storage class", path=path)
    return _File(path, sop_class, str(meta.get("TransferSyntaxUID", "")), size)


class _Link:
    """The association to the peer, opened on demand (C-ECHO first) and again after a drop."""

    def __init__(self, peer: Peer, files: Sequence[_File]) -> None:
        self.peer = peer
        self.ae = AE(ae_title=peer.calling_ae)
        self.ae.acse_timeout = self.ae.dimse_timeout = self.ae.network_timeout = peer.timeout
        self.ae.add_requested_context(VERIFICATION)
        contexts = sorted({(f.sop_class, f.transfer_syntax) for f in files})
        if len(contexts) > MAX_CONTEXTS:
            raise NiiError(f"{len(contexts)} SOP class and transfer syntax pairs: more than one association holds")
        for abstract, syntax in contexts:
            self.ae.add_requested_context(abstract, [syntax])
        self.association: Association | None = None

    def open(self) -> Association:
        if self.association is not None and self.association.is_established:
            return self.association
        tls = (self.peer.tls, self.peer.host) if self.peer.tls is not None else None
        association = self.ae.associate(self.peer.host, self.peer.port, ae_title=self.peer.called_ae, tls_args=tls)
        if not association.is_established:
            what = (
                "rejected the association"
                if association.is_rejected
                else "cannot be reached (connection or TLS failed)"
            )
            raise ConnectionError(f"{self.peer} {what}")
        echo = association.send_c_echo()
        if echo.get("Status") != Status.SUCCESS:
            association.abort()
            raise ConnectionError(f"{self.peer} did not answer C-ECHO")
        log.info("association with %s established", self.peer)
        self.association = association
        return association

    def drop(self) -> None:
        if self.association is not None:
            if self.association.is_established:
                self.association.abort()
            self.association = None

    def close(self) -> None:
        if self.association is not None and self.association.is_established:
            self.association.release()
        self.association = None


class _Unreachable(Exception):
    """The peer could not be reached (or kept dropping the association) after every retry."""


def _store(link: _Link, file: _File, *, retries: int, backoff: float) -> SendResult:
    """Store one file; a dropped or refused association is retried with exponential back-off."""
    start = time.perf_counter()
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff * 2 ** (attempt - 1))
        try:
            association = link.open()
            status = association.send_c_store(file.path)
        except ValueError:  # pynetdicom: no accepted presentation context for this file
            message = f"{link.peer} accepted no presentation context for {file.sop_class} in {file.transfer_syntax}"
            return SendResult(str(file.path), "failed", None, 0, time.perf_counter() - start, message)
        except (ConnectionError, OSError, RuntimeError) as error:
            problem = str(error)
            link.drop()
            continue
        code = status.get("Status")
        if code is None:  # no response: the association went away mid-transfer
            problem = f"association with {link.peer} dropped"
            link.drop()
            continue
        seconds = time.perf_counter() - start
        stored = code == Status.SUCCESS or code in Status.WARNINGS
        message = "" if stored else str(status.get("ErrorComment", "")) or "refused by the peer"
        return SendResult(str(file.path), "stored" if stored else "failed", int(code), file.size, seconds, message)
    raise _Unreachable(problem)


def send(
    paths: Sequence[str | os.PathLike[str]], peer: Peer, *, retries: int = 3, backoff: float = 1.0
) -> list[SendResult]:
    """C-STORE every DICOS file of ``paths`` to ``peer``; one result per file, in order.

    Each file is proposed in its own transfer syntax and sent as its bytes are (no
    re-encoding). When the association drops or cannot be opened, the file is tried again
    on a new association after ``backoff``, twice that, ... seconds, ``retries`` times; if
    the peer stays unreachable the remaining files fail without waiting again.
    """
    results: dict[Path, SendResult] = {}
    found = dicos_files_of(paths)
    files: list[_File] = []
    for path in found:
        try:
            files.append(_describe(path))
        except NiiError as error:
            results[path] = SendResult(str(path), "failed", message=error.problem)
    if files:
        # Send each file's encoded dataset as it is on disk, without decoding it (pynetdicom's
        # documented switch): bytes arrive unchanged and large scans need no memory.
        _config.STORE_SEND_CHUNKED_DATASET = True
        results.update(_send_files(files, peer, retries=retries, backoff=backoff))
    return [results[path] for path in found]


def _send_files(files: Sequence[_File], peer: Peer, *, retries: int, backoff: float) -> dict[Path, SendResult]:
    results: dict[Path, SendResult] = {}
    link = _Link(peer, files)
    unreachable = ""
    try:
        for file in progress(files, desc="send", unit="file"):
            if unreachable:
                results[file.path] = SendResult(str(file.path), "failed", message=unreachable)
                continue
            try:
                result = results[file.path] = _store(link, file, retries=retries, backoff=backoff)
            except _Unreachable as error:
                unreachable = str(error)
                results[file.path] = SendResult(str(file.path), "failed", message=unreachable)
                log.error("%s: %s", file.path, unreachable)
                continue
            if not result.stored:
                log.error("%s: not stored: %s", file.path, result.message)
    finally:
        link.close()
    return results
    # Send each file's encoded dataset as it is on disk, without decoding it (pynetdicom's
    # documented switch): bytes arrive unchanged and large scans need no memory.
    _config.STORE_SEND_CHUNKED_DATASET = True
    link = _Link(peer, files)
    unreachable = ""
    try:
        for file in progress(files, desc="send", unit="file"):
            if unreachable:
                results.append(SendResult(str(file.path), "failed", message=unreachable))
                continue
            result = _store(link, file, retries=retries, backoff=backoff)
            if result.code is None:
                unreachable = result.message
                log.error("%s: %s", file.path, result.message)
            elif not result.stored:
                log.error("%s: refused with status 0x%04X: %s", file.path, result.code, result.message)
            results.append(result)
    finally:
        link.close()
    return results

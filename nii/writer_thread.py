"""Writing files on a thread that never holds the GIL, while Python builds the next one.

A Python thread that writes files needs the GIL between its system calls; while another
thread runs Python code (the DICOS writer building the next header) it waits up to the
interpreter's switch interval (5 ms) for each of them, so a thread pool writes no sooner
than the building thread would itself. :class:`WriterThread` runs its whole loop in
compiled code that has released the GIL: it reads write requests from a pipe, writes each
file's parts with ``pwrite`` (short writes continued), optionally starts the disk's
writeback (``sync_file_range``), closes the file and reports back on a second pipe. The
calling thread only opens the files and queues requests, then waits for the reports.

A write the thread could not finish is redone in Python from where it stopped, so a
failure raises the operating system's own error (disk full, quota, I/O error) with the
file's name. Buffers are kept alive until their file is reported, and the thread keeps
running until every request queued before :meth:`WriterThread.close` is done, so an
interrupted caller (Ctrl-C) never leaves the thread reading freed memory.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with WriterThread() as writer:
...     writer.write(folder / "a.bin", [b"head", memoryview(b"er and body")])
>>> (folder / "a.bin").read_bytes()
b'header and body'
"""

from __future__ import annotations

import os
import signal
import struct
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

__all__ = ["WriterThread", "available"]

_MAX_PARTS = 4
_REQUEST = struct.Struct(f"<{3 + 2 * _MAX_PARTS}q")
"""index, descriptor, flags, then (address, length) × _MAX_PARTS; index -1 stops the thread."""
_REPORT = struct.Struct("<3q")
"""index, status (0 written, -1 failed), bytes written; index -1 says the thread is running."""
_START_WRITEBACK = 1
_MAX_IN_FLIGHT = 64
"""Files queued and not yet reported, at most (the two pipes hold far more)."""


def available() -> bool:
    """Whether this platform has the system calls the thread uses (Linux)."""
    return hasattr(os, "pwrite") and os.uname().sysname == "Linux"


def _compiled_loop() -> Any:
    # numba is imported (and the loop compiled or loaded from its cache) on first use only.
    import numba
    from numba import types

    # Pointer arguments are declared as 64-bit integers: the same registers on the 64-bit
    # Linux ABIs, and numba passes addresses from numpy as integers.
    read: Any = types.ExternalFunction("read", types.int64(types.int32, types.int64, types.int64))
    write: Any = types.ExternalFunction("write", types.int64(types.int32, types.int64, types.int64))
    pwrite: Any = types.ExternalFunction("pwrite", types.int64(types.int32, types.int64, types.int64, types.int64))
    close: Any = types.ExternalFunction("close", types.int32(types.int32))
    sync_file_range: Any = types.ExternalFunction(
        "sync_file_range", types.int32(types.int32, types.int64, types.int64, types.uint32)
    )
    request_size, report_size, parts = _REQUEST.size, _REPORT.size, _MAX_PARTS

    @numba.njit(nogil=True, cache=True)
    def loop(request_fd: int, report_fd: int) -> None:  # pragma: no cover - compiled
        request = np.zeros(request_size // 8, np.int64)
        report = np.zeros(report_size // 8, np.int64)
        request_address, report_address = request.ctypes.data, report.ctypes.data
        report[0] = -1
        write(report_fd, report_address, report_size)
        failures = 0
        while True:
            received = 0
            while received < request_size:
                count = read(request_fd, request_address + received, request_size - received)
                if count == 0:
                    return  # the caller closed the pipe
                if count < 0:
                    failures += 1  # interrupted; give up only if it keeps failing
                    if failures > 1000:
                        return
                    continue
                received += count
            if request[0] < 0:
                return
            descriptor = request[1]
            offset = 0
            status = 0
            for part in range(parts):
                address, length = request[3 + 2 * part], request[4 + 2 * part]
                done = 0
                while done < length:
                    count = pwrite(descriptor, address + done, length - done, offset + done)
                    if count <= 0:
                        status = -1
                        break
                    done += count
                offset += done
                if status:
                    break
            if status == 0 and request[2] & _START_WRITEBACK:
                sync_file_range(descriptor, 0, 0, 2)  # SYNC_FILE_RANGE_WRITE
            close(descriptor)
            report[0], report[1], report[2] = request[0], status, offset
            sent = 0
            while sent < report_size:
                count = write(report_fd, report_address + sent, report_size - sent)
                if count <= 0:
                    return
                sent += count

    return loop


_loop: Any = None
_loop_lock = threading.Lock()


def _get_loop() -> Any:
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _compiled_loop()
        return _loop


def _serve(loop: Any, request_fd: int, report_fd: int, keep: list[object]) -> None:
    # Signals go to the other threads: a syscall here interrupted by Ctrl-C would only fail.
    signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
    try:
        loop(request_fd, report_fd)
    finally:
        # The thread closes its own ends: a descriptor closed under it could be reused by the
        # next open, and the loop would read or write someone else's file. The caller's read
        # then sees the end, should the loop have stopped early.
        os.close(request_fd)
        os.close(report_fd)
        keep.clear()  # `keep` held every buffer queued: the loop has ended, they may go


class WriterThread:
    """Write files on a thread that runs without the GIL (see the module docstring).

    Use as a context manager: leaving it waits for every file and raises the first error.
    """

    def __init__(self) -> None:
        loop = _get_loop()
        request_read, self._request_write = os.pipe()
        report_read, report_write = os.pipe()
        self._report = os.fdopen(report_read, "rb", buffering=0)
        self._pending: dict[int, tuple[Path, list[memoryview]]] = {}
        self._buffers: list[object] = []
        self._errors: list[BaseException] = []
        self._count = 0
        self._closed = False
        self._thread = threading.Thread(
            target=_serve,
            args=(loop, request_read, report_write, self._buffers),
            name="nii-writer",
            daemon=True,
        )
        self._thread.start()
        # Wait (without the GIL) until the thread runs compiled code: until then it needs the
        # GIL, and a caller busy in Python would hold it off for a switch interval.
        if self._read_report() != (-1, 0, 0):
            raise RuntimeError("the writer thread did not start")

    def write(self, path: Path, parts: Sequence[bytes | memoryview], *, start_writeback: bool = False) -> None:
        """Queue writing ``parts`` (at most four buffers) one after the other as the new file ``path``.

        The file is created here (errors raise at once); the buffers must not change until
        the writer is closed.
        """
        if self._closed:
            raise RuntimeError("writer is closed")
        if len(parts) > _MAX_PARTS:
            raise ValueError(f"at most {_MAX_PARTS} parts per file, got {len(parts)}")
        while len(self._pending) >= _MAX_IN_FLIGHT:  # neither pipe can fill up and block both sides
            self._take_report()
        views = [memoryview(part).cast("B") for part in parts]
        addresses: list[int] = []
        for view in views:
            array = np.frombuffer(view, np.uint8) if view.nbytes else np.zeros(0, np.uint8)
            self._buffers.append((view, array))
            addresses += [array.ctypes.data, view.nbytes]
        addresses += [0, 0] * (_MAX_PARTS - len(views))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        index = self._count
        self._count += 1
        self._pending[index] = (path, views)
        flags = _START_WRITEBACK if start_writeback else 0
        os.write(self._request_write, _REQUEST.pack(index, descriptor, flags, *addresses))

    def close(self, *, raise_errors: bool = True) -> None:
        """Wait for every queued file; raise the first error (redone in Python to get it)."""
        if self._closed:
            return
        self._closed = True
        try:
            os.write(self._request_write, _REQUEST.pack(-1, *([0] * (_REQUEST.size // 8 - 1))))
            while self._pending and self._take_report():
                pass
            for path, views in self._pending.values():  # the thread ended early: finish here
                self._errors += _finish_in_python(path, views, 0)
            self._pending.clear()
            if self._errors and raise_errors:
                raise self._errors[0]
        finally:
            os.close(self._request_write)
            self._thread.join()
            self._report.close()

    def _take_report(self) -> bool:
        """Wait for the next file the thread reports; False when the thread has ended."""
        report = self._read_report()
        if report is None:
            return False
        index, status, written = report
        path, views = self._pending.pop(index)
        if status:
            self._errors += _finish_in_python(path, views, written)
        return True

    def _read_report(self) -> tuple[int, int, int] | None:
        data = b""
        while len(data) < _REPORT.size:
            chunk = self._report.read(_REPORT.size - len(data))
            if not chunk:
                return None
            data += chunk
        index, status, written = _REPORT.unpack(data)
        return index, status, written

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close(raise_errors=kind is None)  # an error already on its way wins


def _finish_in_python(path: Path, views: list[memoryview], written: int) -> list[BaseException]:
    """Write what the thread did not, from byte ``written`` on; the error it raises, if any."""
    try:
        descriptor = os.open(path, os.O_WRONLY)
        try:
            offset = 0
            for view in views:
                start = max(0, written - offset)
                while start < view.nbytes:
                    start += os.pwrite(descriptor, view[start:], offset + start)
                offset += view.nbytes
        finally:
            os.close(descriptor)
    except OSError as error:  # os.pwrite's error does not name the file
        return [OSError(error.errno, error.strerror, os.fspath(path))]
    return []

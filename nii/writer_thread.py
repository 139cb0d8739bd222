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
file's name. Every queued buffer stays referenced until the thread reports its file, so
an interrupted caller (Ctrl-C) never leaves the thread reading freed memory. The thread is
started once per process (starting one and waiting until it runs compiled code costs
about 0.4 ms, a tenth of writing a baggage scan) and writers take turns on it; a writer
opened while another is open gets a thread of its own for its lifetime.

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

import atexit
import contextlib
import functools
import logging
import os
import signal
import struct
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np

from nii.io import write_parts

__all__ = ["WriterThread", "available"]

log = logging.getLogger(__name__)

_MAX_PARTS = 4
_REQUEST = struct.Struct(f"={3 + 2 * _MAX_PARTS}q")  # native order: the compiled loop reads int64s
"""index, descriptor, flags, then (address, length) × _MAX_PARTS; index -1 stops the thread."""
_REPORT = struct.Struct("=3q")
"""index, status (0 written, -1 failed), bytes written; index -1 says the thread is running."""
_START_WRITEBACK = 1
_MAX_IN_FLIGHT = 64
"""Files queued and not yet reported, at most (the two pipes hold far more)."""


@functools.cache
def available() -> bool:
    """Whether the writer thread can run here: 64-bit Linux, and its loop compiles (or loads from
    numba's cache). Callers write in Python otherwise; this imports numba on first call."""
    if os.uname().sysname != "Linux" or sys.maxsize < 2**63 - 1:
        return False
    try:
        _get_loop()
    except Exception as error:  # any failure of numba here only means the slower path
        log.warning("files are written without the writer thread: its loop did not compile (%s)", error)
        return False
    return True


_loop: Any = None
_lock = threading.RLock()
_process_thread: _LoopThread | None = None
"""The process's writer thread, started on first use and kept (starting one costs ~0.4 ms)."""


def _get_loop() -> Any:
    global _loop
    with _lock:
        if _loop is None:
            # numba is imported, and the loop loaded from its cache (or compiled), on first use
            # only, in this thread: errors surface here rather than in the writer thread.
            from numba import types

            from nii._writer_loop import loop

            loop.compile((types.int64, types.int64))
            _loop = loop
        return _loop


def _serve(loop: Any, request_fd: int, report_fd: int) -> None:
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


class _LoopThread:
    """One running loop and its two pipes. Every queued buffer stays referenced in
    ``pending`` until the loop reports its file, so the loop never reads freed memory, even
    when the writer that queued it was interrupted."""

    def __init__(self) -> None:
        loop = _get_loop()
        request_read, self.request_write = os.pipe()
        report_read, report_write = os.pipe()
        self.report = os.fdopen(report_read, "rb", buffering=0)
        self.pending: dict[int, _Queued] = {}
        self.count = 0
        self.ended = False
        self.user = threading.Lock()
        self.thread = threading.Thread(
            target=_serve, args=(loop, request_read, report_write), name="nii-writer", daemon=True
        )
        self.thread.start()
        # Wait (without the GIL) until the thread runs compiled code: until then it needs the
        # GIL, and a caller busy in Python would hold it off for a switch interval.
        if self.read_report() != (-1, 0, 0):
            raise RuntimeError("the writer thread did not start")

    def read_report(self) -> tuple[int, int, int] | None:
        data = b""
        while len(data) < _REPORT.size:
            chunk = self.report.read(_REPORT.size - len(data))
            if not chunk:
                self.ended = True
                return None
            data += chunk
        index, status, written = _REPORT.unpack(data)
        return index, status, written

    def stop(self) -> None:
        with contextlib.suppress(BrokenPipeError):  # the loop may have ended already
            os.write(self.request_write, _REQUEST.pack(-1, *([0] * (_REQUEST.size // 8 - 1))))
        os.close(self.request_write)
        self.thread.join()
        self.report.close()


class _Queued:
    __slots__ = ("owner", "path", "views")

    def __init__(self, path: Path, views: list[memoryview], owner: WriterThread) -> None:
        self.path, self.views, self.owner = path, views, owner


def _forget_process_thread() -> None:
    # In a forked child the thread does not exist; its pipes lead to the parent's thread.
    global _process_thread
    if _process_thread is not None:
        os.close(_process_thread.request_write)
        _process_thread.report.close()
    _process_thread = None


def _stop_process_thread() -> None:
    global _process_thread
    with _lock:
        if _process_thread is not None and not _process_thread.ended:
            _process_thread.stop()  # after the files still queued, if any
        _process_thread = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_process_thread)
atexit.register(_stop_process_thread)


class WriterThread:
    """Write files on a thread that runs without the GIL (see the module docstring).

    Use as a context manager: leaving it waits for every file and raises the first error.
    Writers take turns on the process's one writer thread; a writer created while another
    is open gets a thread of its own.
    """

    def __init__(self) -> None:
        global _process_thread
        with _lock:
            if _process_thread is None or _process_thread.ended:
                _process_thread = _LoopThread()
            shared = _process_thread
        if shared.user.acquire(blocking=False):
            self._loop, self._own_thread = shared, False
        else:
            self._loop, self._own_thread = _LoopThread(), True
        self._mine: set[int] = set()
        self._errors: list[BaseException] = []
        self._closed = False

    def write(self, path: Path, parts: Sequence[bytes | memoryview], *, start_writeback: bool = False) -> None:
        """Queue writing ``parts`` (at most four buffers) one after the other as the new file ``path``.

        The file is created here (errors raise at once); the buffers must not change until
        the writer is closed.
        """
        if self._closed:
            raise RuntimeError("writer is closed")
        if len(parts) > _MAX_PARTS:
            raise ValueError(f"at most {_MAX_PARTS} parts per file, got {len(parts)}")
        loop = self._loop
        while len(loop.pending) >= _MAX_IN_FLIGHT and self._take_report():  # no pipe fills up
            pass
        views = [memoryview(part).cast("B") for part in parts]
        if loop.ended:  # the thread ended early: write here
            self._errors += _finish_in_python(path, views, 0, create=True)
            return
        addresses: list[int] = []
        for view in views:  # the views keep their buffers, and so these addresses, alive
            addresses += [np.frombuffer(view, np.uint8).ctypes.data if view.nbytes else 0, view.nbytes]
        addresses += [0, 0] * (_MAX_PARTS - len(views))
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        index = loop.count
        loop.count += 1
        loop.pending[index] = _Queued(path, views, self)
        self._mine.add(index)
        flags = _START_WRITEBACK if start_writeback else 0
        os.write(loop.request_write, _REQUEST.pack(index, descriptor, flags, *addresses))

    def close(self, *, raise_errors: bool = True) -> None:
        """Wait for every queued file; raise the first error (redone in Python to get it)."""
        if self._closed:
            return
        self._closed = True
        loop = self._loop
        try:
            while self._mine and self._take_report():
                pass
            for index in sorted(self._mine):  # the thread ended early: finish here
                queued = loop.pending.pop(index)
                self._errors += _finish_in_python(queued.path, queued.views, 0)
            self._mine.clear()
            if self._errors and raise_errors:
                raise self._errors[0]
        finally:
            if self._own_thread:
                loop.stop()
            else:
                loop.user.release()

    def _take_report(self) -> bool:
        """Wait for the next file the thread reports; False when the thread has ended."""
        report = self._loop.read_report()
        if report is None:
            return False
        index, status, written = report
        queued = self._loop.pending.pop(index)
        # A file of an earlier writer that was interrupted: its output is discarded, its buffers may go.
        if queued.owner is self:
            self._mine.discard(index)
            if status:
                self._errors += _finish_in_python(queued.path, queued.views, written)
        return True

    def __enter__(self) -> WriterThread:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close(raise_errors=kind is None)  # an error already on its way wins


def _finish_in_python(
    path: Path, views: list[memoryview], written: int, *, create: bool = False
) -> list[BaseException]:
    """Write what the thread did not, from byte ``written`` on; the error it raises, if any."""
    try:
        descriptor = os.open(path, os.O_WRONLY | (os.O_CREAT | os.O_TRUNC if create else 0), 0o666)
        try:
            write_parts(descriptor, views, start=written)
        finally:
            os.close(descriptor)
    except OSError as error:  # a write's error does not name the file
        return [OSError(error.errno, error.strerror, os.fspath(path))]
    return []

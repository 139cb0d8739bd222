"""What keeps a batch safe when things go wrong: its journal, its output lock, leftovers of
killed runs, and workers that die with their parent.

* :class:`Journal`: the report's rows, one JSON line per finished input, flushed as each
  input finishes, so a batch killed with ``kill -9`` can be resumed from what it did.
* :func:`output_lock`: one batch at a time writes into an output folder (``flock``).
* :func:`remove_leftovers`: the temporaries (``.NAME.XXXXXXXXXXXX.partial``/``.old``) that a
  killed write left behind, removed before the next batch writes there.
* :func:`die_with_parent`: a worker process's initializer; the worker ends when the batch does.
* :class:`PoolProcesses`: the processes a process pool started, so that the batch sees a
  worker die even when the pool does not, and ends the survivors of a broken pool.

Examples
--------
>>> import tempfile, pathlib
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> with output_lock(folder):
...     journal = Journal(folder / "report.json.journal")
...     journal.append({"input": "a.npz", "status": "ok"})
...     journal.close()
>>> Journal.read(folder / "report.json.journal")
[{'input': 'a.npz', 'status': 'ok'}]
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import json
import multiprocessing
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from nii.errors import FileAccessError
from nii.io import fsync_tree

__all__ = ["LOCK_NAME", "Journal", "die_with_parent", "journal_path", "output_lock", "remove_leftovers"]

LOCK_NAME = ".nii-convert.lock"
"""The lock file a batch holds in its output folder."""

_LEFTOVER = re.compile(r"^\..+\.[0-9a-f]{12}\.(partial|old)$")
"""Names :func:`nii.io.atomic_output` gives its temporaries."""


def journal_path(report: str | os.PathLike[str]) -> Path:
    """The journal kept beside ``report`` while a batch runs."""
    return Path(f"{os.fspath(report)}.journal")


class Journal:
    """An append-only file of JSON rows, each flushed to the system as it is written.

    Parameters
    ----------
    path
        The journal file; replaced by a new one holding ``rows`` (atomically: a crash while
        starting leaves the old journal whole).
    rows
        Rows to start with (the ones a resumed batch carries over).
    """

    def __init__(
        self, path: str | os.PathLike[str], rows: list[Mapping[str, Any]] | None = None, *, durable: bool = False
    ) -> None:
        self.path = Path(path)
        temporary = self.path.with_name(f".{self.path.name}.new")
        try:
            with open(temporary, "w") as handle:
                handle.writelines(json.dumps(dict(row)) + "\n" for row in rows or [])
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temporary, self.path)
            if durable:
                fsync_tree(self.path.parent, files=False)
            self._handle = open(self.path, "a")  # noqa: SIM115 - open until close()
        except OSError as error:
            raise FileAccessError(f"cannot write the report's journal: {error.strerror}", path=self.path) from error

    def append(self, row: Mapping[str, Any]) -> None:
        """Add one row; it is in the file (in the system's cache) when this returns."""
        self._handle.write(json.dumps(dict(row)) + "\n")
        self._handle.flush()

    def sync(self) -> None:
        """Put the rows appended so far on disk (``fsync``): they survive a power cut."""
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
        """The rows of a journal; a last line cut by a crash is ignored, a missing journal has none."""
        try:
            text = Path(path).read_text()
        except FileNotFoundError:
            return []
        rows = []
        for line in text.splitlines():
            try:
                row = json.loads(line)
            except ValueError:
                continue  # the line being written when the batch was killed
            if isinstance(row, dict):
                rows.append(row)
        return rows


@contextlib.contextmanager
def output_lock(folder: str | os.PathLike[str]) -> Iterator[None]:
    """Hold ``folder``'s batch lock; refuse (:class:`FileAccessError`) when another batch holds it.

    The lock is the kernel's (``flock``): it ends with the process that holds it, even on ``kill -9``.
    A batch that ends removes the lock file, so finished outputs hold only what was converted; a
    batch that took the lock on a file removed meanwhile takes it again on the new one.
    """
    path = Path(folder) / LOCK_NAME
    for _ in range(100):  # bounded: each round means another batch ended just as this one started
        descriptor = _open_lock(path)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise FileAccessError(
                f"another nii convert (process {holder}) is writing into this folder; "
                "wait for it to end or choose another --out",
                path=folder,
            ) from None
        if _same_file(descriptor, path):
            break
        os.close(descriptor)
    else:
        raise FileAccessError("the batch lock keeps being replaced by other batches", path=path)
    try:
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        path.unlink(missing_ok=True)  # still holding the lock: no other batch is inside
        os.close(descriptor)


def _open_lock(path: Path) -> int:
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as error:
        raise FileAccessError(f"cannot create the batch lock: {error.strerror}", path=path) from error


def _same_file(descriptor: int, path: Path) -> bool:
    """Whether ``path`` still names the open lock file (a finishing batch may have removed it)."""
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def remove_leftovers(folder: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporaries of interrupted atomic writes under ``folder``; return them.

    Call only while holding :func:`output_lock`: a running batch's temporaries look the same.
    """
    removed = []
    for current, folders, files in os.walk(folder):
        for name in [*folders, *files]:
            if _LEFTOVER.match(name):
                path = Path(current) / name
                if name in folders:
                    folders.remove(name)
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


_PR_SET_PDEATHSIG = 1


def die_with_parent(batch_pid: int) -> None:
    """Initializer of a worker process: end it when its parent or the batch's process ends.

    On Linux the kernel sends SIGKILL when the parent dies (``PR_SET_PDEATHSIG``); a daemon
    thread also checks every half second that the batch's process is alive (other systems,
    and workers whose parent is a fork server).
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=_watch, args=(parent, batch_pid), daemon=True, name="nii-watchdog").start()


def _watch(parent: int, batch_pid: int) -> None:
    while True:
        time.sleep(0.5)
        try:
            os.kill(batch_pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass  # alive, owned by someone else
        if os.getppid() != parent:
            os._exit(1)


class PoolProcesses:
    """The worker processes of a process pool created after this object.

    CPython 3.11's ``ProcessPoolExecutor`` starts workers on demand and can miss the death of
    one started while its manager thread was already waiting: the batch then waits forever,
    and a survivor blocked on a queue lock the dead worker held cannot end by itself. This
    finds the pool's workers through :func:`multiprocessing.active_children` (the children
    started since it was created) so that the batch can see a death and end the others.
    """

    def __init__(self) -> None:
        self._others = set(multiprocessing.active_children())
        self._seen: set[BaseProcess] = set()

    def _update(self) -> set[BaseProcess]:
        self._seen |= set(multiprocessing.active_children()) - self._others
        return self._seen

    def any_died(self) -> bool:
        """Whether a worker has ended (workers of a running pool end only when it shuts down)."""
        return any(not process.is_alive() for process in self._update())

    def end(self) -> None:
        """Kill every worker still alive: after a death the queues' locks may be held forever."""
        for process in self._update():
            if process.is_alive():  # asked first: the pid of a reaped worker may be reused
                process.kill()

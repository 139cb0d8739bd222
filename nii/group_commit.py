"""Group commit: a durable batch puts its finished outputs on disk, in place and in its journal
several at a time.

A batch that fsyncs each output on its own pays two journal commits of the file system per
output (the files, then the rename), and its workers wait on each other's: a batch of baggage
scans reached about a third of the disk's rate. Here the workers only write each output under
its staged name (:func:`nii.io.staged_path`) and start its writeback; one thread of the batch's
process then takes the finished outputs a group at a time and, in this order,

1. flushes every file of every output of the group, and each staged folder (``fsync``);
2. renames each onto its final name (:func:`nii.io.put_in_place`);
3. flushes each folder the renames went into, and its parents up to the batch's root;
4. appends the group's rows to the report's journal and flushes it once (:meth:`Journal.sync`);
5. hands the rows back (``on_commit``).

So a row says "ok" only once its output's bytes and its rename are on disk; a crash at any
point leaves staged outputs that the next batch removes (:func:`nii.batch.remove_leftovers`)
and outputs in place that no row counts (``--resume`` converts them again). An output whose
flush or rename fails is reported failed, with the system's error naming it.

A group closes when it holds :attr:`GroupCommit.max_count` outputs or :attr:`~GroupCommit.max_bytes`
bytes, or when its first output has waited :attr:`~GroupCommit.max_seconds`: under load the
outputs that finish while a group commits form the next one, and a slow trickle is still
reported within a fraction of a second. :meth:`GroupCommit.add` waits while twice the bounds
are pending, so a disk slower than the workers holds the batch back instead of filling memory.

Examples
--------
>>> import tempfile, pathlib
>>> from nii.io import staged_path
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> target = root / "scan.bin"
>>> _ = staged_path(target).write_bytes(b"pixels")
>>> done = []
>>> with GroupCommit(None, root, on_commit=done.extend) as commit:
...     commit.add(0, {"input": "scan.raw", "status": "ok"}, staged_path(target), target, 6)
>>> done, target.read_bytes()
([(0, {'input': 'scan.raw', 'status': 'ok'})], b'pixels')
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from nii.batch import Journal
from nii.io import fsync_tree, put_in_place, remove_path

__all__ = ["Finished", "GroupCommit"]

Row = dict[str, Any]


@dataclass
class Finished:
    """One finished input waiting for its group: its report row and, if it wrote one, its staged output."""

    key: int
    row: Row
    staged: Path | None = None
    target: Path | None = None
    nbytes: int = 0
    arrived: float = field(default_factory=time.monotonic)

    failed: bool = False

    def fail(self, error: OSError) -> None:
        """The output could not be made durable: the row says so, naming the file."""
        self.row = {**self.row, "status": "failed", "checksum": "", "bytes": 0}
        self.row["error"] = f"{error.filename or self.target}: {error.strerror or error}"
        self.failed = True


class GroupCommit:
    """Makes finished outputs durable, puts them in place and journals them, a group at a time.

    Parameters
    ----------
    journal
        The report's journal (rows are appended and flushed once per group), or None.
    root
        The batch's output folder: folders that renames went into are flushed up to it.
    on_commit
        Called on the committing thread with each group's ``(key, row)`` pairs once they are durable.
    durable
        False: no thread, no flush; :meth:`add` journals and reports at once (outputs already in place).
    max_count, max_bytes, max_seconds
        Bounds of a group (see the module's docstring).
    """

    def __init__(
        self,
        journal: Journal | None,
        root: str | Path,
        *,
        on_commit: Callable[[list[tuple[int, Row]]], Any],
        durable: bool = True,
        max_count: int = 64,
        max_bytes: int = 256 << 20,
        max_seconds: float = 0.25,
    ) -> None:
        self.journal, self.root, self.on_commit, self.durable = journal, Path(root), on_commit, durable
        self.max_count, self.max_bytes, self.max_seconds = max_count, max_bytes, max_seconds
        self.groups = 0
        """Groups committed so far."""
        self._pending: list[Finished] = []
        self._pending_bytes = 0
        self._closing = False
        self._error: BaseException | None = None
        self._condition = threading.Condition()
        self._thread: threading.Thread | None = None
        if durable:
            self._thread = threading.Thread(target=self._run, name="nii-group-commit", daemon=True)
            self._thread.start()

    def add(
        self,
        key: int,
        row: Mapping[str, Any],
        staged: Path | None = None,
        target: Path | None = None,
        nbytes: int = 0,
    ) -> None:
        """Queue a finished input: its row, and its output staged at ``staged`` to go to ``target``."""
        item = Finished(key, dict(row), staged, target, nbytes)
        if not self.durable:
            self._report([item])
            return
        with self._condition:
            while self._error is None and (
                len(self._pending) >= 2 * self.max_count or self._pending_bytes >= 2 * self.max_bytes
            ):
                self._condition.wait()
            self._raise_error()
            self._pending.append(item)
            self._pending_bytes += nbytes
            self._condition.notify_all()

    def close(self) -> None:
        """Commit what is pending, stop the thread; raise what stopped it early, if anything."""
        with self._condition:
            self._closing = True
            self._condition.notify_all()
        if self._thread is not None:
            self._thread.join()
        self._raise_error()

    def __enter__(self) -> GroupCommit:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if error is None:
            self.close()
        else:
            with contextlib.suppress(Exception):  # the error on its way out says more
                self.close()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def _run(self) -> None:
        try:
            while group := self._next_group():
                self._commit(group)
        except BaseException as error:  # handed to the batch's thread by add() and close()
            with self._condition:
                self._error = error
                self._condition.notify_all()

    def _next_group(self) -> list[Finished]:
        """Wait for a group to close (bounds, time or closing); take it. Empty: closed and done."""
        with self._condition:
            while not self._pending and not self._closing:
                self._condition.wait()
            if self._pending:
                deadline = self._pending[0].arrived + self.max_seconds
                while not self._closing and not self._full() and (left := deadline - time.monotonic()) > 0:
                    self._condition.wait(left)
            count, nbytes = 0, 0
            while count < min(len(self._pending), self.max_count) and (count == 0 or nbytes < self.max_bytes):
                nbytes += self._pending[count].nbytes
                count += 1
            group, self._pending = self._pending[:count], self._pending[count:]
            self._pending_bytes -= nbytes
            self._condition.notify_all()
            return group

    def _full(self) -> bool:
        return len(self._pending) >= self.max_count or self._pending_bytes >= self.max_bytes

    def _commit(self, group: list[Finished]) -> None:
        outputs = [(item, item.staged, item.target) for item in group if item.staged and item.target]
        for item, staged, _ in outputs:
            _attempt(item, fsync_tree, staged)
        folders: dict[Path, list[Finished]] = {}
        for item, staged, target in outputs:
            if not item.failed and _attempt(item, put_in_place, staged, target):
                folders.setdefault(target.parent, []).append(item)
            else:
                remove_path(staged)  # not in place: nothing of it is kept
        for folder in self._with_parents(folders):
            try:
                fsync_tree(folder, files=False)
            except OSError as error:
                for item in folders.get(folder, []):
                    item.fail(error)
        self._report(group, sync=True)
        self.groups += 1

    def _with_parents(self, folders: Mapping[Path, Any]) -> list[Path]:
        """The folders, and their parents up to the root (a folder a worker created must be
        durable in its parent too), deepest first."""
        found: set[Path] = set()
        for folder in folders:
            found.add(folder)
            if folder.is_relative_to(self.root):
                found.update(parent for parent in folder.parents if parent.is_relative_to(self.root))
        return sorted(found, key=lambda path: len(path.parts), reverse=True)

    def _report(self, group: list[Finished], *, sync: bool = False) -> None:
        if self.journal is not None:
            for item in group:
                self.journal.append(item.row)
            if sync:
                self.journal.sync()
        self.on_commit([(item.key, item.row) for item in group])


def _attempt(item: Finished, action: Callable[..., Any], *arguments: Any) -> bool:
    """Run one step of an output's commit; a system error fails that output only."""
    try:
        action(*arguments)
    except OSError as error:
        item.fail(error)
        return False
    return True

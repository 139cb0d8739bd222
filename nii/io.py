"""File-system helpers shared by every writer: atomic outputs and header reads."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nii.errors import FileAccessError, TruncatedFileError

__all__ = ["atomic_output", "read_exactly"]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


@contextmanager
def atomic_output(target: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` on success.

    The body writes a file (or creates a folder) at the yielded path. If it raises, the
    temporary is removed and ``target`` is untouched, so a failed or interrupted write never
    leaves a partial output under the final name.

    Parameters
    ----------
    target
        The final file or folder.
    fsync
        Flush the written file (or every file of the written folder) to disk before the
        rename, and the rename after it (durable outputs; slower).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_output(folder / "out.bin") as tmp:
    ...     _ = tmp.write_bytes(b"data")
    >>> (folder / "out.bin").read_bytes()
    b'data'
    """
    target = Path(target)
    if not target.parent.is_dir():
        raise FileAccessError("output folder does not exist", path=target.parent)
    temporary = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.partial")
    try:
        yield temporary
        if fsync:
            _fsync_tree(temporary)
        if temporary.is_dir() and target.is_dir():
            # os.replace cannot replace a non-empty folder: move the old one aside first.
            old = target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.old")
            os.replace(target, old)
            os.replace(temporary, target)
            _remove(old)
        else:
            os.replace(temporary, target)
        if fsync:
            _fsync_tree(target.parent, files=False)  # make the rename itself durable
    except BaseException:
        _remove(temporary)
        raise


def _fsync_tree(path: Path, *, files: bool = True) -> None:
    """fsync a file, or a folder's files and the folder itself."""
    if files:
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
    if path.is_dir():
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def read_exactly(handle: IO[bytes], size: int, *, path: str | os.PathLike[str], what: str) -> bytes:
    """Read ``size`` bytes or raise :class:`TruncatedFileError` naming ``what`` was cut."""
    data = handle.read(size)
    if len(data) != size:
        raise TruncatedFileError(f"file ends inside the {what} ({len(data)} of {size} bytes)", path=path)
    return data

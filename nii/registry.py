"""The format registry: readers and writers found by name, extension and content.

A format is a :class:`Format` subclass instance with a name, extensions, a content sniffer
(:meth:`Format.can_read`, which looks at the first bytes, never only the extension) and
capabilities. Built-in formats are listed in :mod:`nii.formats`; third-party packages add
theirs through the entry-point group ``nii.formats``::

    [project.entry-points."nii.formats"]
    acme = "acme_nii:AcmeFormat"

An entry point may name a :class:`Format` subclass or an instance. A plug-in that fails
to load is logged and skipped; it never breaks the formats that work.
"""

from __future__ import annotations

import importlib
import logging
import os
import stat
from collections.abc import Iterable
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from nii.errors import (
    CorruptFileError,
    FileAccessError,
    LimitExceededError,
    NiiError,
    UnknownFormatError,
    UnsupportedError,
)
from nii.model import Scan

__all__ = ["HEAD_SIZE", "Format", "available", "find_format", "get_format", "read", "register", "write"]

log = logging.getLogger(__name__)

HEAD_SIZE = 4096
"""Bytes given to :meth:`Format.can_read`."""

ENTRY_POINT_GROUP = "nii.formats"


class Format:
    """Base class of every scan format.

    Subclasses set the class attributes and implement :meth:`can_read` and :meth:`read`
    and/or :meth:`write`.
    """

    name: ClassVar[str]
    """Registry name, lower case (``"dicos"``, ``"npz"``)."""
    extensions: ClassVar[tuple[str, ...]] = ()
    """File name endings including the dot (``".dcs"``)."""
    description: ClassVar[str] = ""
    capabilities: ClassVar[frozenset[str]] = frozenset()
    """Free-form feature words shown by ``nii formats``: ``"dual-energy"``, ``"threats"``,
    ``"multi-view"``, ``"lazy"``, ``"folder"`` (reads a folder as one scan), ``"compression"``."""
    version: ClassVar[str] = "1"
    """Reader/writer version, recorded in provenance."""

    @property
    def can_read_files(self) -> bool:
        return type(self).read is not Format.read

    @property
    def can_write_files(self) -> bool:
        return type(self).write is not Format.write

    def can_read(self, head: bytes, path: Path) -> bool:
        """Whether the content looks like this format.

        Parameters
        ----------
        head
            The first :data:`HEAD_SIZE` bytes of the file (``b""`` for a folder).
        path
            The path, for formats that read folders or need a sidecar.
        """
        return False

    def read(self, path: Path, **options: Any) -> Scan:
        raise UnsupportedError(f"format {self.name!r} cannot read", path=path)

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        """Write the scan; return the files written. Must be atomic (see :mod:`nii.io`)."""
        raise UnsupportedError(f"format {self.name!r} cannot write", path=path)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_formats: dict[str, Format] = {}
_loaded = False


def register(fmt: Format | type[Format], *, replace: bool = False) -> Format:
    """Add a format to the registry and return the instance.

    Raises
    ------
    ValueError
        A different format already has that name and ``replace`` is false.
    """
    instance = fmt() if isinstance(fmt, type) else fmt
    if not isinstance(instance, Format):
        raise TypeError(f"{fmt!r} is not a nii.registry.Format")
    existing = _formats.get(instance.name)
    if existing is not None and type(existing) is not type(instance) and not replace:
        raise ValueError(f"format name {instance.name!r} is already taken by {existing!r}")
    _formats[instance.name] = instance
    return instance


def _load() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    from nii.formats import BUILTIN_FORMAT_MODULES

    for module in BUILTIN_FORMAT_MODULES:
        importlib.import_module(module)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            register(entry.load())
        except Exception as error:  # a broken plug-in must not break the others
            log.warning("format plug-in %r (%s) failed to load: %s", entry.name, entry.value, error)


def available() -> list[Format]:
    """All registered formats (built-in and plug-ins), sorted by name."""
    _load()
    return [_formats[name] for name in sorted(_formats)]


def get_format(name: str) -> Format:
    """The format registered as ``name``."""
    _load()
    try:
        return _formats[name.lower()]
    except KeyError:
        raise UnknownFormatError(f"no format called {name!r}; available: {', '.join(sorted(_formats))}") from None


def _head(path: Path) -> bytes:
    """The first bytes of a regular file (``b""`` for a folder); anything else is refused
    before it is opened, since opening a FIFO or a device can block forever."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise FileAccessError("no such file or folder", path=path) from None
    except OSError as error:  # a symlink loop, a name too long, no permission on a folder
        raise FileAccessError(f"cannot open: {error.strerror}", path=path) from error
    if stat.S_ISDIR(mode):
        return b""
    if not stat.S_ISREG(mode):
        raise FileAccessError("not a regular file (a pipe, socket or device); nii reads files and folders", path=path)
    try:
        with open(path, "rb") as handle:
            return handle.read(HEAD_SIZE)
    except OSError as error:
        raise FileAccessError(f"cannot open: {error.strerror}", path=path) from error


def _sniff(fmt: Format, head: bytes, path: Path, failures: list[str]) -> bool:
    """Whether ``fmt`` recognises the content; a sniffer that fails on it is noted, not fatal."""
    try:
        return fmt.can_read(head, path)
    except NiiError as error:
        failures.append(f"{fmt.name}: {error.problem}")
    except Exception as error:  # damaged content can break any format's detection
        failures.append(f"{fmt.name}: {type(error).__name__}: {error}")
    return False


def find_format(path: str | os.PathLike[str], candidates: Iterable[Format] | None = None) -> Format:
    """Pick the reader for ``path`` from its content (the extension only breaks ties).

    Raises
    ------
    FileAccessError
        The path does not exist or cannot be opened.
    CorruptFileError
        The file is empty.
    UnknownFormatError
        No format recognises the content.
    """
    path = Path(path)
    head = _head(path)
    if not head and path.is_file():
        raise CorruptFileError("file is empty", path=path)
    pool = list(candidates) if candidates is not None else available()
    failures: list[str] = []
    matches = [fmt for fmt in pool if fmt.can_read_files and _sniff(fmt, head, path, failures)]
    if not matches:
        if failures:
            raise CorruptFileError(f"damaged: format detection failed ({'; '.join(failures)})", path=path)
        if path.is_dir():
            raise UnknownFormatError("folder holds no scan in a known format", path=path)
        raise UnknownFormatError(
            f"not a known scan format (first bytes {head[:8].hex(' ')}); readable formats: "
            f"{', '.join(f.name for f in pool if f.can_read_files)}",
            path=path,
        )
    by_extension = [fmt for fmt in matches if path.name.lower().endswith(fmt.extensions or ("\0",))]
    return (by_extension or matches)[0]


def read(path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> Scan:
    """Read one scan from a file or folder in any registered format.

    Parameters
    ----------
    path
        The file, or a folder for formats that store a scan as several files.
    format
        Force a format by name instead of sniffing the content.
    **options
        Passed to the format's reader.

    Examples
    --------
    >>> scan = nii.read("scan.npz")  # doctest: +SKIP
    >>> scan.views[0].channels["high"].shape  # doctest: +SKIP
    (2048, 8192)
    """
    path = Path(path)
    if format is not None:
        fmt = get_format(format)
        _head(path)
    else:
        fmt = find_format(path)
    try:
        return fmt.read(path, **options)
    except (NiiError, KeyboardInterrupt, SystemExit, GeneratorExit):
        raise
    except MemoryError as error:
        raise LimitExceededError(f"{fmt.name} reader ran out of memory", path=path) from error
    except BaseException as error:  # a Rust panic from a decoder is a BaseException
        # Anything a reader did not classify is still a problem with this file.
        raise CorruptFileError(f"{fmt.name} reader failed: {type(error).__name__}: {error}", path=path) from error


def write(scan: Scan, path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> list[Path]:
    """Write ``scan`` to ``path`` atomically; return the files written.

    The format is the one named, or the one whose extension ends ``path``.
    """
    path = Path(path)
    if format is not None:
        fmt = get_format(format)
    else:
        writers = [f for f in available() if f.can_write_files and path.name.lower().endswith(f.extensions or ("\0",))]
        if not writers:
            raise UnknownFormatError(
                "cannot tell the output format from the name; pass format= (writable: "
                f"{', '.join(f.name for f in available() if f.can_write_files)})",
                path=path,
            )
        fmt = writers[0]
    if not fmt.can_write_files:
        raise UnsupportedError(f"format {fmt.name!r} is read-only", path=path)
    return fmt.write(scan, path, **options)

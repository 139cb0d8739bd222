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

import functools
import importlib
import logging
import os
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import Enum
from importlib.metadata import entry_points
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar

from nii.errors import (
    ConfigurationError,
    CorruptFileError,
    FileAccessError,
    LimitExceededError,
    NiiError,
    UnknownFormatError,
    UnsupportedError,
)
from nii.model import Scan

__all__ = [
    "HEAD_SIZE",
    "Format",
    "Option",
    "available",
    "declare",
    "find_format",
    "get_format",
    "library_errors",
    "read",
    "register",
    "write",
]

log = logging.getLogger(__name__)

HEAD_SIZE = 4096
"""Bytes given to :meth:`Format.can_read`."""

ENTRY_POINT_GROUP = "nii.formats"


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


@dataclass(frozen=True)
class Option:
    """One option a reader or writer takes, declared on its :class:`Format`.

    Parameters
    ----------
    help
        What the option does, shown by ``nii formats``.
    default
        The value the reader or writer gets when the option is not given.
    kind
        The accepted value type(s); ``object`` accepts anything (the format checks it). A string
        is converted to the first kind when that is ``bool``, ``int``, ``float`` or an Enum, so
        the CLI's ``--reader-option KEY=VALUE`` gives typed values.
    choices
        The allowed values, when only some are.

    Examples
    --------
    >>> mmap = Option("map the file instead of reading it", default=True, kind=bool)
    >>> mmap.check("no")
    False
    """

    help: str
    default: Any = None
    kind: type | tuple[type, ...] = str
    choices: tuple[Any, ...] = ()

    @property
    def kinds(self) -> tuple[type, ...]:
        return self.kind if isinstance(self.kind, tuple) else (self.kind,)

    @property
    def allowed(self) -> tuple[Any, ...]:
        """The allowed values: the choices, or an Enum kind's values; ``()`` for any value of the kind."""
        first = self.kinds[0]
        if not self.choices and isinstance(first, type) and issubclass(first, Enum):
            return tuple(member.value for member in first)
        return self.choices

    def check(self, value: Any) -> Any:
        """``value`` converted to the option's kind.

        Raises
        ------
        ValueError
            The value is not of the kind or not one of the allowed values.
        """
        if value is None and self.default is None:
            return None
        kinds = self.kinds
        if object in kinds:
            return value
        if isinstance(value, str) and str not in kinds:
            value = _parse(value, kinds[0])
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise ValueError(f"must be {' or '.join(kind.__name__ for kind in kinds)}, got {value!r}")
        if self.choices and value not in self.choices:
            raise ValueError(f"must be one of {', '.join(map(str, self.choices))}; got {value!r}")
        return value

    def describe(self) -> str:
        """One line: kind, allowed values, default and help."""
        kinds = "|".join(kind.__name__ for kind in self.kinds if kind is not object) or "any"
        allowed = f" ({', '.join(map(str, self.allowed))})" if self.allowed else ""
        default = self.default.value if isinstance(self.default, Enum) else self.default
        return f"{kinds}{allowed}, default {default!r}: {self.help}"


def library_errors(*corrupt: str, limits: tuple[str, ...] = ()) -> Mapping[str, type[NiiError]]:
    """A format's :attr:`Format.read_errors`: library exceptions (qualified class names) that mean a
    damaged file, and those that mean a size past a limit.

    Examples
    --------
    >>> errors = library_errors("zipfile.BadZipFile", limits=("zipfile.LargeZipFile",))
    >>> errors["zipfile.LargeZipFile"].__name__
    'LimitExceededError'
    """
    return MappingProxyType({name: CorruptFileError for name in corrupt} | dict.fromkeys(limits, LimitExceededError))


def declare(**options: Option) -> Mapping[str, Option]:
    """A format's declared options, read-only (``read_options = declare(mmap=Option(...))``)."""
    return MappingProxyType(options)


def _parse(text: str, kind: type) -> Any:
    if kind is bool:
        if text.strip().lower() in _TRUE | _FALSE:
            return text.strip().lower() in _TRUE
        raise ValueError(f"must be true or false, got {text!r}")
    if issubclass(kind, Enum):
        try:
            return kind(text.strip())
        except ValueError:
            values = ", ".join(str(member.value) for member in kind.__members__.values())
            raise ValueError(f"must be one of {values}; got {text!r}") from None
    if kind in (int, float):
        try:
            return kind(text.strip())
        except ValueError:
            raise ValueError(f"must be {kind.__name__}, got {text!r}") from None
    return text


def _checked(fmt: Format, role: str, path: Path, options: Mapping[str, Any]) -> dict[str, Any]:
    """The options for ``fmt``'s reader or writer (``role``), checked against its declaration, with the
    declared defaults filled in; undeclared options (``None``) pass as given."""
    declared: Mapping[str, Option] | None = fmt.read_options if role == "reader" else fmt.write_options
    if declared is None:
        return dict(options)
    takes = f"it takes {', '.join(sorted(declared))}" if declared else "it takes none"
    if unknown := sorted(set(options) - set(declared)):
        raise ConfigurationError(
            f"the {fmt.name} {role} has no option {', '.join(map(repr, unknown))}; {takes}", path=path
        )
    result = {name: option.default for name, option in declared.items()}
    for name, value in options.items():
        try:
            result[name] = declared[name].check(value)
        except ValueError as error:
            raise ConfigurationError(f"{fmt.name} {role} option {name!r} {error}", path=path) from None
    return result


class Format:
    """Base class of every scan format.

    Subclasses set the class attributes and implement :meth:`can_read` and :meth:`read`
    and/or :meth:`write`. :func:`read` and :func:`write` check the options against
    :attr:`read_options` and :attr:`write_options` and pass every declared option (the
    default when not given), so a reader never checks its options by hand; :func:`read`
    also records the source in the scan's provenance (:meth:`stamp`), so a reader returns
    the scan as the file gives it. Every subclass's :meth:`read`, however it is called, raises only
    :mod:`nii.errors` exceptions naming the file (:attr:`read_errors`, :meth:`read_error`).
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
    read_options: ClassVar[Mapping[str, Option] | None] = None
    """The reader's options by name (``{}``: none); ``None`` (the default, for plug-ins that
    declare nothing) passes every option to the reader unchecked."""
    write_options: ClassVar[Mapping[str, Option] | None] = None
    """The writer's options, as :attr:`read_options`."""
    read_errors: ClassVar[Mapping[str, type[NiiError]]] = MappingProxyType({})
    """What the exceptions of the reader's parsing libraries mean, by qualified class name
    (``"zipfile.BadZipFile"``; builtins unqualified, ``"OSError"``): usually
    :class:`~nii.errors.CorruptFileError`, :class:`~nii.errors.LimitExceededError` for a size past a
    limit. Names, not classes, so declaring them imports no library. See :meth:`read_error`."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "read" in cls.__dict__:  # every reader, however it is called, raises only nii errors
            cls.read = _raising_nii_errors(cls.__dict__["read"])  # type: ignore[method-assign]

    def read_error(self, error: BaseException, path: str | os.PathLike[str]) -> NiiError:
        """The :mod:`nii.errors` exception naming ``path`` for what the reader raised.

        A declared library exception (:attr:`read_errors`, matched along its class's bases) becomes
        the declared type; ``MemoryError`` a :class:`~nii.errors.LimitExceededError`; anything else
        (a bug, or a library failure nobody declared: fuzzing counts these) a
        :class:`~nii.errors.CorruptFileError` saying the reader failed.
        """
        described = f"{type(error).__name__}: {error}"
        for kind in type(error).__mro__:
            name = kind.__name__ if kind.__module__ == "builtins" else f"{kind.__module__}.{kind.__qualname__}"
            if name in self.read_errors:
                return self.read_errors[name](f"damaged {self.name} file ({described})", path=path)
        if isinstance(error, MemoryError):
            return LimitExceededError(f"{self.name} reader ran out of memory", path=path)
        return CorruptFileError(f"{self.name} reader failed: {described}", path=path)

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

    def stamp(self, scan: Scan, path: str | os.PathLike[str]) -> Scan:
        """``scan`` with its provenance saying this format read it from ``path`` (steps kept)."""
        scan.provenance = replace(
            scan.provenance, source_path=str(path), source_format=self.name, reader_version=self.version
        )
        return scan

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


_Read = TypeVar("_Read", bound=Any)


def _raising_nii_errors(read: _Read) -> _Read:
    """``read`` turning every exception but nii's own (and Ctrl-C, exit) into :meth:`Format.read_error`'s."""

    @functools.wraps(read)
    def checked(self: Format, path: Path, **options: Any) -> Scan:
        try:
            return read(self, path, **options)
        except (NiiError, KeyboardInterrupt, SystemExit, GeneratorExit):
            raise
        except BaseException as error:  # a Rust panic from a decoder is a BaseException
            raise self.read_error(error, path) from error

    return checked  # type: ignore[return-value]


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
        The reader's options (:attr:`Format.read_options`, listed by ``nii formats``).

    Raises
    ------
    ConfigurationError
        An option the reader does not take, or a value of the wrong kind.

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
    options = _checked(fmt, "reader", path, options)
    return fmt.stamp(fmt.read(path, **options), path)


def write(scan: Scan, path: str | os.PathLike[str], *, format: str | None = None, **options: Any) -> list[Path]:
    """Write ``scan`` to ``path`` atomically; return the files written.

    The format is the one named, or the one whose extension ends ``path``; ``options`` are
    checked against its :attr:`Format.write_options` (a :class:`~nii.errors.ConfigurationError`
    names an unknown option or a wrong value).
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
    return fmt.write(scan, path, **_checked(fmt, "writer", path, options))

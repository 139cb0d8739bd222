"""Sub-commands of the ``nii`` CLI, one module each (see :mod:`nii.cli`).

Commands that read scans share their options through :func:`add_read_options` (``--format``,
``--profile``, ``--reader-option``) and read through :func:`read_input`, so every command reads
a file the same way.
"""

from __future__ import annotations

import argparse
from typing import Any

from nii.errors import ConfigurationError
from nii.model import Scan
from nii.registry import Format, find_format, get_format, read

__all__ = ["add_read_options", "add_scan_option", "input_format", "read_input", "reader_options", "scan_options"]


def add_scan_option(parser: argparse.ArgumentParser) -> None:
    """``--scan INDEX|UID`` for commands that read one scan of a file."""
    parser.add_argument("--scan", help="index or UID of the scan in a multi-scan file (NII archive)")


def add_read_options(parser: argparse.ArgumentParser) -> None:
    """``--format``, ``--profile FILE.toml`` and ``--reader-option KEY=VALUE`` for commands that read scans."""
    parser.add_argument("--format", help="force the input format instead of detecting it")
    parser.add_argument(
        "--profile",
        metavar="FILE.toml",
        help="read the input as the raw export this profile describes (docs/formats/raw-profile.md)",
    )
    parser.add_argument(
        "--reader-option",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="an option of the reader, e.g. channels=high,low or axes=lines,rows for .npy (repeatable)",
    )


def input_format(args: argparse.Namespace) -> Format:
    """The format of ``args.path``: ``profile`` with ``--profile``, ``--format`` when given, else from the content."""
    if getattr(args, "profile", None):
        if args.format not in (None, "profile"):
            raise ConfigurationError(f"--profile reads with the profile format, not {args.format!r}")
        return get_format("profile")
    return get_format(args.format) if args.format else find_format(args.path)


def reader_options(args: argparse.Namespace) -> dict[str, Any]:
    """Reader options from ``--profile`` and ``--reader-option KEY=VALUE`` (what :func:`nii.read` takes)."""
    options: dict[str, Any] = {}
    for item in getattr(args, "reader_option", None) or []:
        key, equals, value = item.partition("=")
        if not equals or not key.strip():
            raise ConfigurationError(f"--reader-option takes KEY=VALUE, got {item!r}")
        options[key.strip()] = value.strip()
    if getattr(args, "profile", None):
        options["profile"] = args.profile
    return options


def scan_options(args: argparse.Namespace, fmt: Format) -> dict[str, Any]:
    """Reader options for ``--scan``: ``{"scan": index or UID}``, or none.

    Raises
    ------
    ConfigurationError
        ``--scan`` given for a format (``fmt``, the input's) that holds one scan per file.
    """
    if getattr(args, "scan", None) is None:
        return {}
    if "multi-scan" not in fmt.capabilities:
        raise ConfigurationError(f"--scan needs a multi-scan file; this is {fmt.name}", path=args.path)
    return {"scan": int(args.scan) if args.scan.lstrip("-").isdigit() else args.scan}


def read_input(args: argparse.Namespace) -> tuple[Format, Scan]:
    """Read ``args.path`` as the read options (:func:`add_read_options`, ``--scan``) say; return its format too.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_read_options(parser)
    >>> args = parser.parse_args(["--profile", "scanner.toml"])
    >>> reader_options(args)
    {'profile': 'scanner.toml'}
    """
    fmt = input_format(args)
    scan = read(args.path, format=fmt.name, **scan_options(args, fmt), **reader_options(args))
    return fmt, scan

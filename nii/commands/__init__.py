"""Sub-commands of the ``nii`` CLI, one module each (see :mod:`nii.cli`)."""

from __future__ import annotations

import argparse
from typing import Any

from nii.errors import ConfigurationError
from nii.registry import Format, find_format, get_format

__all__ = ["add_scan_option", "input_format", "scan_options"]


def add_scan_option(parser: argparse.ArgumentParser) -> None:
    """``--scan INDEX|UID`` for commands that read one scan of a file."""
    parser.add_argument("--scan", help="index or UID of the scan in a multi-scan file (NII archive)")


def input_format(args: argparse.Namespace) -> Format:
    """The format of ``args.path``: ``--format`` when given, else recognised from the content."""
    return get_format(args.format) if args.format else find_format(args.path)


def scan_options(args: argparse.Namespace, fmt: Format) -> dict[str, Any]:
    """Reader options for ``--scan``: ``{"scan": index or UID}``, or none.

    Raises
    ------
    ConfigurationError
        ``--scan`` given for a format (``fmt``, the input's) that holds one scan per file.
    """
    if args.scan is None:
        return {}
    if "multi-scan" not in fmt.capabilities:
        raise ConfigurationError(f"--scan needs a multi-scan file; this is {fmt.name}", path=args.path)
    return {"scan": int(args.scan) if args.scan.lstrip("-").isdigit() else args.scan}

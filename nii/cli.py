"""The ``nii`` command line.

Each sub-command is a module in :mod:`nii.commands` with ``add_parser(subparsers)`` and a
``run(args) -> int`` function; :data:`COMMANDS` lists them. Errors from nii (``NiiError``)
become one line on stderr and exit code 1, usage errors exit 2, and no traceback is shown
unless ``--debug`` is given.

Start-up is part of every call, so the parser builds only what the call needs: the named
sub-command's options (its module imported, nothing else), every command's only for ``--help``
without one. Command modules import heavy libraries (numba kernels, pydicom, h5py, the web and
network stacks) inside ``run()`` or the modules it calls; ``tests/nii/test_startup.py`` checks it.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Collection, Sequence

from nii.errors import NiiError
from nii.version import __version__

__all__ = ["COMMANDS", "build_parser", "commands_to_build", "main"]

COMMANDS: tuple[str, ...] = (
    "info",
    "formats",
    "simulate",
    "convert",
    "validate",
    "dump",
    "export",
    "profile",
    "bench",
    "deidentify",
    "sign",
    "verify",
    "send",
    "receive",
    "view",
    "compare",
    "pilot",
    "calibrate",
)
"""Modules of :mod:`nii.commands`, in the order ``nii --help`` lists them."""


def build_parser(commands: Collection[str] = COMMANDS) -> argparse.ArgumentParser:
    """The ``nii`` parser with the options of ``commands``; the other commands are there by name only."""
    parser = argparse.ArgumentParser(
        prog="nii", description="Read, convert and validate non-intrusive inspection (X-ray) scans."
    )
    parser.add_argument("--version", action="version", version=f"nii {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)")
    parser.add_argument("-q", "--quiet", action="store_true", help="only errors")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        if name not in commands:
            subparsers.add_parser(name)
            continue
        module = importlib.import_module(f"nii.commands.{name}")
        sub = module.add_parser(subparsers)
        sub.set_defaults(run=module.run)
    return parser


def commands_to_build(argv: Sequence[str]) -> tuple[str, ...]:
    """The commands whose options ``argv`` needs: the one it names (the first word that is not an
    option: the global options take no value), all of them for ``--help`` without one, else none."""
    for word in argv:
        if not word.startswith("-"):
            return (word,) if word in COMMANDS else ()
        if word in ("-h", "--help"):
            return COMMANDS
    return ()


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.captureWarnings(True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(commands_to_build(argv))
    args = parser.parse_args(argv)
    _configure_logging(args.verbose, args.quiet)
    try:
        return int(args.run(args))
    except NiiError as error:
        if args.debug:
            raise
        print(f"nii: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nii: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of our output went away (`nii info ... | head`): stop quietly, as Unix tools do.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:  # a bug: still one line, unless --debug
        if args.debug:
            raise
        print(f"nii: internal error: {type(error).__name__}: {error} (run with --debug for details)", file=sys.stderr)
        return 1


def entry_point() -> None:
    """Console-script entry: exit with :func:`main`'s code."""
    sys.exit(main())

"""The exception families of nii.

Every error raised by nii for a problem with input data, user options or limits is a
:class:`NiiError`. The CLI turns these (and only these) into one line on stderr and exit
code 1; anything else is a bug.

Each family is one class, so callers can handle, say, every corrupt file the same way
whatever its format. Messages name the file first, then the problem::

    scan.raw: truncated: header announces 2048 x 8192 pixels (33554432 bytes), file holds 1200 bytes
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = [
    "ConfigurationError",
    "CorruptFileError",
    "FileAccessError",
    "LimitExceededError",
    "NiiError",
    "TruncatedFileError",
    "UnknownFormatError",
    "UnsupportedError",
    "ValidationError",
]


class NiiError(Exception):
    """Base of every error nii raises on purpose.

    Parameters
    ----------
    message
        What is wrong, in words a user can act on.
    path
        The file (or folder) concerned; it is prefixed to the message.
    """

    def __init__(self, message: str, *, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else None
        self.problem = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class FileAccessError(NiiError):
    """The path does not exist, is of the wrong kind (folder vs file) or cannot be opened."""


class UnknownFormatError(NiiError):
    """No registered format recognises the content, or the named format does not exist."""


class UnsupportedError(NiiError):
    """The format is known but this variant or operation is not supported (for example a
    reader-only format asked to write, or a pixel type nii does not handle)."""


class CorruptFileError(NiiError):
    """The content contradicts its own format: bad magic, inconsistent header fields,
    impossible dimensions, wrong value types."""


class TruncatedFileError(CorruptFileError):
    """The file ends before the data its header announces."""


class ValidationError(NiiError, ValueError):
    """A value does not satisfy the scan model or a standard's rules (bad container
    check digit, negative spacing, mismatched channel shapes, naive date-time, ...)."""


class LimitExceededError(NiiError):
    """A size announced by the input exceeds a configured limit; raised before anything
    is allocated. See :mod:`nii.limits`."""


class ConfigurationError(NiiError):
    """An option, profile or configuration file is invalid."""

"""Checks the model's classes run at construction; each raises :class:`~nii.errors.ValidationError`.

>>> require_positive(2.5, "pixel spacing")
>>> require_uid("1.2.3", "scan UID")
"""

from __future__ import annotations

import math
import re
from datetime import datetime

from nii.errors import ValidationError

__all__ = ["require", "require_aware", "require_positive", "require_uid"]

UID_PATTERN = re.compile(r"[0-9]+(\.[0-9]+)*")
"""Characters of a DICOM UID: dot-separated digit groups."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`~nii.errors.ValidationError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ValidationError(message)


def require_positive(value: float | None, what: str) -> None:
    """``value`` is None or a finite number above zero."""
    if value is not None:
        require(math.isfinite(value) and value > 0, f"{what} must be a positive number, got {value!r}")


def require_uid(uid: str, what: str) -> None:
    """``uid`` has a DICOM UID's characters and at most 64 of them."""
    # Leading-zero components are tolerated: the reference DICOS toolkit writes them and
    # readers must not "fix" UIDs. Only the character set and length are enforced.
    require(len(uid) <= 64 and UID_PATTERN.fullmatch(uid) is not None, f"{what} {uid!r} is not a valid UID")


def require_aware(moment: datetime | None, what: str) -> None:
    """``moment`` is None or a date-time with a time zone."""
    if moment is not None:
        require(
            moment.tzinfo is not None and moment.utcoffset() is not None,
            f"{what} {moment.isoformat()} has no time zone; use an aware datetime",
        )

"""Progress bars for long work, shown only when stderr is a terminal."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

__all__ = ["progress"]


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "", unit: str = "it") -> Iterator[T]:
    """Iterate over ``items`` with a tqdm bar on an interactive terminal, silently otherwise."""
    yield from tqdm(items, total=total, desc=desc, unit=unit, disable=not sys.stderr.isatty(), leave=False)

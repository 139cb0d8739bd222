"""Scans shaped for the reference vendor formats, from ``make_scan`` and small arrays."""

from __future__ import annotations

import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nii
from nii.errors import LimitExceededError
from nii.model import Scan
from tests.conftest import make_scan


def counts_scan(rows: int = 48, lines: int = 80) -> Scan:
    """``make_scan`` with calibration lines and reference values as whole 16-bit counts."""
    scan = make_scan(rows, lines)
    rng = np.random.default_rng(7)
    views = [
        replace(
            view,
            dark={name: np.rint(array) for name, array in view.dark.items()},
            air={name: np.rint(array) for name, array in view.air.items()},
            reference={name: rng.integers(20000, 30000, lines) for name in view.reference},
        )
        for view in scan.views
    ]
    return replace(scan, views=views)


def portal_scan(rows: int = 48, lines: int = 80) -> Scan:
    """A one-view, 12-bit, dual-energy drive-through scan with variable speed."""
    scan = make_scan(rows, lines)
    rng = np.random.default_rng(3)
    side = scan.views[0]
    channels = {name: rng.integers(0, 4096, side.shape, dtype=np.uint16) for name in side.channels}
    return replace(
        scan,
        views=[replace(side, channels=channels, dark={}, air={}, reference={})],
        threats=[],
        operator=None,
    )


def assert_refused_before_allocating(path: Path, **options: Any) -> None:
    """Reading ``path`` raises LimitExceededError naming it, having allocated less than 8 MiB."""
    tracemalloc.start()
    try:
        with pytest.raises(LimitExceededError, match=path.name):
            nii.read(path, **options)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{peak} bytes allocated before the limit error"

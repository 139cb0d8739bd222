"""Scans for the DICOS tests: the shared cargo scan, plus a baggage scan with a CT volume."""

from __future__ import annotations

import numpy as np
import pytest

from nii.model import InspectedObject, Scan, Volume
from tests.conftest import make_scan


def make_baggage_scan(*, seed: int = 1, large: bool = False) -> Scan:
    """Dual-energy two-view baggage scan with threats and one CT volume.

    Baggage, because the reference toolkit's API returns threat geometry for baggage only.
    ``large`` makes every frame at least 32 pixels a side (JPEG 2000's minimum).
    """
    scan = make_scan(40 if large else 24, 48 if large else 40, seed=seed)
    rng = np.random.default_rng(seed)
    shape = (6, 36, 40) if large else (6, 20, 30)
    scan.inspected_object = InspectedObject("BAGGAGE", identifier="BAG-0001", description="suitcase")
    scan.volumes = [
        Volume(
            "ct",
            rng.integers(0, 4000, shape, dtype=np.uint16),
            spacing_mm=(1.5, 0.75, 0.8),
            origin_mm=(-10.0, 5.0, 2.5),
            channel="high",
        )
    ]
    return scan


@pytest.fixture
def baggage_scan() -> Scan:
    return make_baggage_scan()

"""Open beam found in the scan itself; starved and saturated pixels flagged."""

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels.air import (
    SATURATED,
    STARVED,
    AirRegion,
    air_references,
    find_air,
    pixel_flags_reference,
)
from nii.simulate import simulate


@pytest.fixture(scope="module")
def truck():
    return simulate("truck", seed=3, scale=0.2)


def test_find_air_matches_the_simulated_truth_despite_source_fluctuation_and_dead_elements(truck):
    scan, truth = truck
    view = scan.views[0]
    raw = view.channels["high"].astype(np.float32) - view.dark["high"].mean(axis=1)[:, None]
    crossed = truth.views["side"].area_density_g_cm2 > 0
    object_lines = np.flatnonzero(crossed.any(axis=0))
    object_rows = np.flatnonzero(crossed.any(axis=1))
    region = find_air(raw)
    assert region == AirRegion(object_lines[0], raw.shape[1] - 1 - object_lines[-1], object_rows[0])


def test_air_references_use_the_open_lines_and_follow_the_source_with_the_rows_above():
    rng = np.random.default_rng(0)
    gain = rng.uniform(0.8, 1.2, 40)
    source = rng.uniform(0.95, 1.05, 100)
    raw = 50000 * gain[:, None] * source[None, :]
    raw[10:, 20:80] *= 0.1  # the object
    region = find_air(raw)
    assert region == AirRegion(20, 20, 10)
    air, level = air_references(raw, region)
    assert air.shape == (40, 40) and level is not None
    np.testing.assert_allclose(level / np.median(level), source / np.median(source), rtol=1e-3)
    with pytest.raises(ValidationError, match="no open beam"):
        air_references(raw, AirRegion(1, 1, 0))
    only_rows, _ = air_references(raw, AirRegion(0, 0, 10))
    assert only_rows.shape == (40, 1)


def test_pixel_flags_mark_starved_and_saturated():
    raw = np.array([[0, 90, 500], [4095, 4000, 120]], np.uint16)
    flags = pixel_flags_reference(raw, dark=np.array([100.0, 100.0]), saturation=4095)
    assert flags.tolist() == [[STARVED, STARVED, 0], [SATURATED, 0, 0]]

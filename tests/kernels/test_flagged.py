"""Calibration with starved and saturated pixels flagged in the same pass, against its numpy twin."""

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels.air import SATURATED, STARVED
from nii.kernels.calibrate import Calibration
from nii.kernels.flagged import calibrated_flagged, calibrated_flagged_reference


def _frame():
    """Raw counts with starved and saturated pixels, a dead element between two elements that flag, and one at
    the top edge; a source monitor."""
    rng = np.random.default_rng(7)
    rows, lines = 48, 333
    dark = rng.uniform(90, 110, (rows, 4))
    air = rng.uniform(40000, 60000, (rows, 4))
    air[[0, 20]] = dark[[0, 20]]  # dead elements
    raw = dark.mean(axis=1)[:, None] + rng.uniform(0, 1, (rows, lines)) * (air - dark).mean(axis=1)[:, None]
    raw = raw.astype(np.uint16)
    raw[rng.random(raw.shape) < 0.03] = 50  # starved
    raw[rng.random(raw.shape) < 0.03] = 65535  # saturated
    raw[19, 10], raw[21, 10] = 50, 65535  # the dead element 20 takes both: neither count
    monitor = rng.uniform(0.95, 1.05, lines) * 1000
    return raw, Calibration.from_references(dark, air, reference=monitor)


@pytest.mark.parametrize(
    ("quantity", "dtype"),
    [("attenuation", np.uint16), ("attenuation", np.float32), ("transmission", np.float32)],
)
def test_flagged_calibration_equals_its_numpy_twin(quantity, dtype):
    raw, calibration = _frame()
    assert calibration.repaired.tolist() == [0, 20]
    values, flags, counts = calibrated_flagged(raw, calibration, saturation=65535, quantity=quantity, dtype=dtype)
    expected_values, expected_flags, expected_counts = calibrated_flagged_reference(
        raw, calibration, saturation=65535, quantity=quantity, dtype=dtype
    )
    np.testing.assert_array_equal(flags, expected_flags)
    assert counts == expected_counts and counts[0] > 100 and counts[1] > 100
    assert flags[20, 10] == STARVED | SATURATED
    assert values.dtype == dtype
    if dtype == np.uint16:  # the same float32 operations: equal codes
        np.testing.assert_array_equal(values, expected_values)
    else:
        np.testing.assert_allclose(values, expected_values, atol=2e-6, rtol=3e-7)
    measured = values[flags == 0]
    replaced_starved = values[flags == STARVED]
    if quantity == "attenuation":  # the largest measured attenuation, not the clipped extreme
        assert (replaced_starved == measured.max()).all() and (values[flags == SATURATED] == 0).all()
    else:
        assert (replaced_starved == measured.min()).all() and (values[flags == SATURATED] == 1).all()


def test_a_frame_without_flagged_pixels_keeps_its_values():
    raw, calibration = _frame()
    raw = np.clip(raw, 200, 30000).astype(np.uint16)
    values, flags, counts = calibrated_flagged(raw, calibration, saturation=65535, dtype=np.uint16)
    assert counts == (0, 0) and not flags.any()
    np.testing.assert_array_equal(
        values, calibrated_flagged_reference(raw, calibration, saturation=65535, dtype=np.uint16)[0]
    )


def test_transmission_is_not_stored_as_codes():
    raw, calibration = _frame()
    with pytest.raises(ValidationError, match="transmission cannot be stored as uint16"):
        calibrated_flagged(raw, calibration, saturation=65535, quantity="transmission", dtype=np.uint16)
    with pytest.raises(ValidationError, match="quantity must be"):
        calibrated_flagged(raw, calibration, saturation=65535, quantity="steel")

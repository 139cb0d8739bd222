import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels import ATTENUATION_SCALE, Calibration, attenuation, calibrated_attenuation, equivalent_thickness
from nii.kernels.attenuation import (
    attenuation_code_reference,
    attenuation_reference,
    calibrated_attenuation_reference,
    equivalent_thickness_reference,
)
from nii.kernels.calibrate import transmission
from tests.kernels.synthetic import make_frame


def _transmissions() -> np.ndarray:
    rng = np.random.default_rng(5)
    t = np.exp(-rng.uniform(0, 15, (50, 200))).astype(np.float32)
    t[0, :4] = [1.5, 1.0, 0.0, -0.1]  # above 1, open beam, below the floor
    return t


def test_float_attenuation_within_documented_tolerance_of_float64_log():
    t = _transmissions()
    a = attenuation(t)
    assert a.dtype == np.float32
    exact = attenuation_reference(t).astype(np.float64)
    assert np.abs(a - exact).max() <= 1.2e-6
    assert (np.abs(a - exact) / np.maximum(exact, 1e-30)).max() <= 3e-7
    assert a[0, :4].tolist() == [0.0, 0.0, pytest.approx(13.8155, abs=1e-4), pytest.approx(13.8155, abs=1e-4)]


def test_uint16_codes_equal_the_reference_and_stay_within_one_of_exact_rounding():
    t = _transmissions()
    codes = attenuation(t, dtype=np.uint16)
    np.testing.assert_array_equal(codes, attenuation_code_reference(t))
    exact = np.round(attenuation_reference(t).astype(np.float64) * float(ATTENUATION_SCALE))
    assert np.abs(codes.astype(np.int64) - exact).max() <= 1


@pytest.mark.parametrize("dtype", [np.float32, np.uint16])
def test_fused_calibrated_attenuation_equals_the_two_steps_and_the_reference(dtype):
    frame = make_frame(seed=6, fluctuation=0.03)
    frame.air[5] = 65535  # a saturated element to repair
    calibration = Calibration.from_references(frame.dark, frame.air, reference=frame.reference)
    fused = calibrated_attenuation(frame.raw, calibration, dtype=dtype)
    assert fused.dtype == dtype
    np.testing.assert_array_equal(fused, attenuation(transmission(frame.raw, calibration), dtype=dtype))
    reference = calibrated_attenuation_reference(frame.raw, calibration, dtype=dtype)
    if dtype is np.uint16:
        np.testing.assert_array_equal(fused, reference)
    else:
        np.testing.assert_allclose(fused, reference, rtol=3e-7, atol=1.2e-6)


def test_calibrated_attenuation_recovers_the_truth_within_counting_noise():
    frame = make_frame(rows=32, lines=200, seed=7)
    a = calibrated_attenuation(frame.raw, Calibration.from_references(frame.dark, frame.air))
    inside = (frame.attenuation > 0.5) & (frame.attenuation < 6)
    counts = 50000 * np.exp(-frame.attenuation[inside])
    z = (a[inside] - frame.attenuation[inside]) * np.sqrt(counts)  # attenuation noise is 1/sqrt(counts)
    assert abs(z.mean()) < 0.1
    assert 0.9 < z.std() < 1.25


def test_equivalent_thickness_interpolates_the_curve_and_clamps_outside():
    curve = np.array([0.0, 10.0, 25.0, 45.0, 70.0], np.float32)
    a = np.random.default_rng(8).uniform(-0.5, 3.0, (20, 30)).astype(np.float32)
    result = equivalent_thickness(a, curve, step=0.5)
    np.testing.assert_allclose(result, equivalent_thickness_reference(a, curve, step=0.5), rtol=1e-6, atol=1e-5)
    assert result[a <= 0].max() == 0.0
    assert result[a >= 2.0].min() == 70.0


def test_attenuation_bad_input():
    with pytest.raises(ValidationError, match="float32 or uint16"):
        attenuation(np.ones((2, 2), np.float32), dtype=np.int32)
    with pytest.raises(ValidationError, match="transmission must have dtype float32"):
        attenuation(np.ones((2, 2)))
    with pytest.raises(ValidationError, match="at least two points"):
        equivalent_thickness(np.ones((2, 2), np.float32), np.ones(1, np.float32), step=1.0)
    with pytest.raises(ValidationError, match="step"):
        equivalent_thickness(np.ones((2, 2), np.float32), np.ones(3, np.float32), step=0.0)

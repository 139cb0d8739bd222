import numba
import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels import TRANSMISSION_FLOOR, Calibration, transmission
from nii.kernels.calibrate import transmission_reference
from tests.kernels.synthetic import make_frame


def test_transmission_equals_the_numpy_reference_bit_for_bit():
    frame = make_frame(seed=1, fluctuation=0.05)
    frame.air[[0, 7, 8, 63]] = frame.dark[[0, 7, 8, 63]]  # dead elements, two at the detector's ends
    calibration = Calibration.from_references(frame.dark, frame.air, reference=frame.reference, bad_elements=[30])
    assert calibration.repaired.tolist() == [0, 7, 8, 30, 63]
    result = transmission(frame.raw, calibration)
    assert result.dtype == np.float32
    np.testing.assert_array_equal(result, transmission_reference(frame.raw, calibration))


def test_parallel_kernel_gives_the_same_result_on_one_thread():
    frame = make_frame(seed=2)
    calibration = Calibration.from_references(frame.dark, frame.air, reference=frame.reference)
    both = transmission(frame.raw, calibration)
    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        one = transmission(frame.raw, calibration)
    finally:
        numba.set_num_threads(threads)
    np.testing.assert_array_equal(one, both)


def test_transmission_values_and_documented_clipping():
    calibration = Calibration.from_references(np.array([100.0, 100.0]), np.array([[10100.0], [20100.0]]))
    raw = np.array([[10100, 5100, 100, 0, 60000], [20100, 10100, 2100, 100, 100]], np.uint16)
    expected = [[1.0, 0.5, TRANSMISSION_FLOOR, TRANSMISSION_FLOOR, 1.0], [1.0, 0.5, 0.1, TRANSMISSION_FLOOR, 1e-6]]
    np.testing.assert_allclose(transmission(raw, calibration), expected, rtol=1e-6)


def test_dead_and_saturated_elements_are_found_and_listed():
    dark = np.full(6, 100.0)
    air = np.array([[60000.0, 60010], [60000, 60000], [150, 140], [65535, 60000], [60000, 60000], [10000, 10000]])
    calibration = Calibration.from_references(dark, air, saturation=65535, min_gain_fraction=0.1)
    assert calibration.repaired.tolist() == [2, 3]  # dead (gain 45), saturated (air at ADC maximum)
    stricter = Calibration.from_references(dark, air, min_gain_fraction=0.5, bad_elements=[0])
    assert stricter.repaired.tolist() == [0, 2, 3, 5]


def test_dead_element_repair_restores_a_removed_row_within_noise():
    frame = make_frame(rows=64, lines=400, seed=3)
    healthy = transmission(frame.raw, Calibration.from_references(frame.dark, frame.air))
    row = 40
    broken_raw = frame.raw.copy()
    broken_raw[row] = np.round(frame.dark[row].mean())  # the element no longer responds
    broken_air = frame.air.copy()
    broken_air[row] = frame.dark[row]
    calibration = Calibration.from_references(frame.dark, broken_air)
    assert calibration.repaired.tolist() == [row]
    repaired = transmission(broken_raw, calibration)
    truth = frame.noiseless_transmission[row]
    noise = np.sqrt(np.mean((healthy[row] - truth) ** 2))  # the element's own noise when it worked
    assert np.sqrt(np.mean((repaired[row] - truth) ** 2)) < noise
    assert np.abs(np.mean(repaired[row] - truth)) < 0.1 * noise * np.sqrt(400)  # no bias beyond noise
    np.testing.assert_array_equal(np.delete(repaired, row, 0), np.delete(healthy, row, 0))


def test_reference_detector_removes_source_fluctuation():
    frame = make_frame(rows=32, lines=300, seed=4, fluctuation=0.08)
    # The air reference was recorded at monitor value 1.0 (make_frame's nominal source output).
    with_monitor = Calibration.from_references(frame.dark, frame.air, reference=frame.reference, reference_air=1.0)
    corrected = transmission(frame.raw, with_monitor)
    uncorrected = transmission(frame.raw, Calibration.from_references(frame.dark, frame.air))
    truth = frame.noiseless_transmission
    inside = (frame.attenuation > 0.3) & (frame.attenuation < 1.5)  # away from the clip at T = 1
    # Without the monitor the per-line source error (up to 8 %) stays; with it only counting noise is left.
    assert np.sqrt(np.mean(((uncorrected - truth * frame.reference) / truth)[inside] ** 2)) < 0.01
    assert np.sqrt(np.mean(((corrected - truth) / truth)[inside] ** 2)) < 0.01
    assert np.sqrt(np.mean(((uncorrected - truth) / truth)[inside] ** 2)) > 0.03
    # By default the monitor's median stands for the air reference's source output.
    default = Calibration.from_references(frame.dark, frame.air, reference=frame.reference)
    np.testing.assert_allclose(default.line_scale, np.median(frame.reference) / frame.reference, rtol=1e-6)


def test_bad_input_is_refused_with_clear_errors():
    frame = make_frame(rows=8, lines=10)
    calibration = Calibration.from_references(frame.dark, frame.air, reference=frame.reference)
    with pytest.raises(ValidationError, match="raw must have dtype uint16, got int32"):
        transmission(frame.raw.astype(np.int32), calibration)
    with pytest.raises(ValidationError, match="C-contiguous"):
        transmission(np.asfortranarray(frame.raw), calibration)
    with pytest.raises(ValidationError, match="raw has 7 detector rows, calibration has 8"):
        transmission(frame.raw[:7].copy(), calibration)
    with pytest.raises(ValidationError, match="10 line factors, frame has 9 lines"):
        transmission(frame.raw[:, :9].copy(), calibration)
    with pytest.raises(ValidationError, match="out must have dtype float32"):
        transmission(frame.raw, calibration, out=np.empty(frame.raw.shape))
    with pytest.raises(ValidationError, match="all 2 detector elements are dead"):
        Calibration.from_references(np.zeros(2), np.zeros(2))
    with pytest.raises(ValidationError, match="air reference has 3 elements, dark has 2"):
        Calibration.from_references(np.zeros(2), np.ones(3))
    with pytest.raises(ValidationError, match="reference-detector values must be"):
        Calibration.from_references(np.zeros(2), np.ones(2), reference=np.array([1.0, -1.0]))
    with pytest.raises(ValidationError, match="non-finite"):
        Calibration.from_references(np.array([0.0, np.nan]), np.ones(2))
    with pytest.raises(ValidationError, match="outside 0..1"):
        Calibration.from_references(np.zeros(2), np.ones(2), bad_elements=[2])


def test_out_is_filled_in_place():
    frame = make_frame(rows=8, lines=10)
    calibration = Calibration.from_references(frame.dark, frame.air)
    out = np.empty(frame.raw.shape, np.float32)
    assert transmission(frame.raw, calibration, out=out) is out
    np.testing.assert_array_equal(out, transmission_reference(frame.raw, calibration))


def _prepared_as_numpy_does(dark, air, reference, saturation=65535, min_gain_fraction=0.1):
    """from_references' arithmetic written with numpy's generic calls (mean, max and median per
    element), as it was before its faster paths: those must give exactly the same numbers."""
    dark64, air64 = np.asarray(dark, np.float64), np.asarray(air, np.float64)
    dark_mean = dark64 if dark64.ndim == 1 else dark64.mean(axis=1)
    air_mean = air64 if air64.ndim == 1 else air64.mean(axis=1)
    gain = air_mean - dark_mean
    peak = air64 if air64.ndim == 1 else air64.max(axis=1)
    bad = (gain <= min_gain_fraction * np.median(gain)) | (gain <= 0) | (peak >= saturation)
    inverse_gain = np.zeros(gain.size, np.float32)
    inverse_gain[~bad] = (1.0 / gain[~bad]).astype(np.float32)
    monitor = np.asarray(reference, np.float64)
    line_scale = (float(np.median(monitor)) / monitor).astype(np.float32)
    return dark_mean.astype(np.float32), inverse_gain, line_scale, np.flatnonzero(bad)


@pytest.mark.parametrize("dtype", [np.uint16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize(("rows", "k", "lines"), [(700, 32, 1200), (5, 1, 7), (64, 3, 10), (9, 0, 4)])
def test_prepared_references_are_exactly_numpys(dtype, rows, k, lines):
    rng = np.random.default_rng(rows * 100 + k)
    shape = (rows, k) if k else (rows,)
    dark = rng.integers(90, 140, shape).astype(dtype)
    air = rng.integers(3000, 65535, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        dark = (dark + rng.random(shape)).astype(dtype)  # fractional values: sums that round
        air = (air - rng.random(shape)).astype(dtype)
    air[rows // 2] = dark[rows // 2]  # a dead element
    air[1] = 65535  # a saturated one
    reference = rng.normal(1000.0, 30.0, lines).astype(np.float32)
    calibration = Calibration.from_references(dark, air, reference=reference)
    offset, inverse_gain, line_scale, repaired = _prepared_as_numpy_does(dark, air, reference)
    np.testing.assert_array_equal(calibration.offset, offset)
    np.testing.assert_array_equal(calibration.inverse_gain, inverse_gain)
    np.testing.assert_array_equal(calibration.line_scale, line_scale)
    np.testing.assert_array_equal(calibration.repaired, repaired)
    assert set(repaired) == {1, rows // 2}


def test_repair_sources_run_by_run_are_those_computed_for_every_row():
    from nii.kernels.calibrate import _interpolation_sources, _interpolation_sources_of_all

    rng = np.random.default_rng(7)
    cases = [(700, []), (700, [331]), (5, [0]), (5, [4]), (5, [0, 1, 3]), (6, [0, 1, 2, 3, 4]), (6, [1, 2, 3, 4, 5])]
    for _ in range(300):  # runs anywhere, the ends included: a few (filled one by one) or many
        rows = int(rng.integers(2, 80))
        bad = np.zeros(rows, bool)
        for _ in range(int(rng.integers(1, 30))):
            start = int(rng.integers(0, rows))
            bad[start : start + int(rng.integers(1, 5))] = True
        if bad.all():
            bad[int(rng.integers(0, rows))] = False
        cases.append((rows, np.flatnonzero(bad).tolist()))
    for rows, repaired in cases:
        repaired = np.asarray(repaired, np.int64)
        ours, every_row = _interpolation_sources(rows, repaired), _interpolation_sources_of_all(rows, repaired)
        for mine, theirs in zip(ours, every_row, strict=True):
            assert mine.dtype == theirs.dtype
            np.testing.assert_array_equal(mine, theirs)

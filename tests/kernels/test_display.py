import nii.kernels.display as display
import numba
import numpy as np
import pytest
from nii.kernels import (
    ATTENUATION_SCALE,
    Calibration,
    Window,
    apply_window,
    calibrated_attenuation,
    local_contrast,
    render,
)
from nii.kernels.display import (
    _linear_level,
    apply_window_reference,
    area_resample,
    area_resample_reference,
    area_taps,
    grey_levels,
    grey_levels_reference,
    render_reference,
)

from nii.errors import ValidationError
from tests.kernels.synthetic import make_frame


def test_window_table_edges_inversion_and_gamma():
    linear = Window(1000, 3000)
    assert linear.lut[[0, 1000, 2000, 3000, 65535]].tolist() == [0, 0, 128, 255, 255]
    assert Window(1000, 3000, invert=True).lut[[0, 2000, 65535]].tolist() == [255, 127, 0]
    bright = Window(1000, 3000, gamma=0.5).lut[2000]
    assert bright == round(255 * 0.5**0.5)
    assert np.all(np.diff(Window(0, 65535, gamma=2.2).lut.astype(int)) >= 0)
    assert Window.for_attenuation(0.0, 2.0) == Window(0.0, 2.0 * float(ATTENUATION_SCALE))
    with pytest.raises(ValueError, match="read-only"):
        linear.lut[0] = 1


@pytest.mark.parametrize(
    "bad", [dict(low=5.0, high=5.0), dict(low=-1.0, high=5.0), dict(low=0.0, high=70000.0), dict(gamma=0.0)]
)
def test_window_refuses_bad_parameters(bad):
    arguments = dict(low=0.0, high=100.0) | bad
    with pytest.raises(ValidationError):
        Window(**arguments)


@pytest.mark.parametrize("lines", [1, 7, 8, 83, 800])  # the kernel handles 8 pixels a step, then the rest
def test_apply_window_equals_the_table_lookup(lines):
    image = np.random.default_rng(lines).integers(0, 65536, (9, lines), dtype=np.uint16)
    for window in (Window(2000, 40000), Window(100, 60000, gamma=0.6, invert=True)):
        np.testing.assert_array_equal(apply_window(image, window), apply_window_reference(image, window))


@pytest.mark.parametrize("window", [Window.for_attenuation(0.0, 8.0, invert=True), Window(0, 40000, gamma=0.7)])
def test_render_equals_the_reference_and_the_separate_steps(window):
    frame = make_frame(seed=10, fluctuation=0.02)
    frame.air[3] = frame.dark[3]
    calibration = Calibration.from_references(frame.dark, frame.air, reference=frame.reference)
    image = render(frame.raw, calibration, window)
    assert image.dtype == np.uint8
    np.testing.assert_array_equal(image, render_reference(frame.raw, calibration, window))
    codes = calibrated_attenuation(frame.raw, calibration, dtype=np.uint16)
    np.testing.assert_array_equal(image, apply_window(codes, window))


@numba.njit
def _computed_levels(codes, low, slope, invert, out):
    for i in range(codes.size):
        out[i] = _linear_level(codes[i], low, slope, invert)


@pytest.mark.parametrize("window", [Window(0, 45000, invert=True), Window(1234.5, 5678.25), Window(20000, 20001)])
def test_computed_linear_window_equals_its_table_for_every_code(window):
    codes = np.arange(65536, dtype=np.uint32).astype(np.uint16)
    levels = np.empty(codes.size, np.uint8)
    _computed_levels(codes, np.float32(window.low), window.slope, window.invert, levels)
    np.testing.assert_array_equal(levels, window.lut)
    # and through render, on every transmission a 16-bit detector can give (dark 0, air 65535)
    raw = codes.reshape(1, -1)
    calibration = Calibration.from_references(np.zeros(1), np.full(1, 65535.0), saturation=65536)
    attenuation_codes = calibrated_attenuation(raw, calibration, dtype=np.uint16)
    np.testing.assert_array_equal(render(raw, calibration, window), window.lut[attenuation_codes])


def test_local_contrast_raises_local_contrast_for_uint8_and_uint16():
    rng = np.random.default_rng(11)
    base = np.tile(np.linspace(90, 110, 128), (128, 1)) + rng.normal(0, 1, (128, 128))
    for dtype, scale in ((np.uint8, 1), (np.uint16, 256)):
        image = (base * scale).astype(dtype)
        out = np.empty_like(image)
        result = local_contrast(image, clip_limit=3.0, tiles=(4, 4), out=out)
        assert result is out and result.dtype == dtype
        assert result.std() > 1.3 * image.std()
        np.testing.assert_array_equal(result, local_contrast(image, clip_limit=3.0, tiles=(4, 4)))


def test_local_contrast_bad_input():
    with pytest.raises(ValidationError, match="uint8 or uint16"):
        local_contrast(np.zeros((8, 8), np.float32))
    with pytest.raises(ValidationError, match="clip_limit"):
        local_contrast(np.zeros((8, 8), np.uint8), clip_limit=0)
    with pytest.raises(ValidationError, match="tiles"):
        local_contrast(np.zeros((8, 8), np.uint8), tiles=(0, 2))


def test_area_taps_weights_cover_each_pixel_and_depend_on_its_position_only():
    edges = np.concatenate([[0.0], np.cumsum(np.random.default_rng(1).uniform(2.0, 5.0, 40))])
    index, weight = area_taps(edges, 3.0, 7.5, 30)
    np.testing.assert_allclose(weight.sum(axis=1), 1.0, rtol=1e-6)
    assert index.dtype == np.int32 and index.min() >= 0 and index.max() < 40
    part = area_taps(edges, 3.0 + 10 * 7.5, 7.5, 5)
    used = part[0].shape[1]
    np.testing.assert_array_equal(part[0], index[10:15, :used])  # the same pixels, wherever the run starts
    np.testing.assert_array_equal(part[1], weight[10:15, :used])
    assert (weight[10:15, used:] == 0).all()
    beyond = area_taps(np.arange(4.0), 10.0, 1.0, 2)
    assert beyond[0].tolist() == [[2], [2]] and beyond[1].tolist() == [[1.0], [1.0]]
    with pytest.raises(ValidationError):
        area_taps(np.array([0.0, 0.0, 1.0]), 0.0, 1.0, 2)


@pytest.mark.parametrize("pixel", [0.6, 1.0, 2.5, 8.0])
def test_area_resample_equals_the_reference_and_tiles_equal_crops(pixel):
    image = np.random.default_rng(2).normal(3.0, 1.0, (37, 53)).astype(np.float32)
    rows = area_taps(np.arange(38.0), 0.0, pixel, int(np.ceil(37 / pixel)))
    columns = area_taps(np.arange(54.0) * 1.3, 0.0, pixel, int(np.ceil(53 * 1.3 / pixel)))
    whole = area_resample(image, rows, columns)
    np.testing.assert_allclose(whole, area_resample_reference(image, rows, columns), rtol=1e-6)
    part = area_resample(image, (rows[0][2:9], rows[1][2:9]), (columns[0][3:11], columns[1][3:11]))
    np.testing.assert_array_equal(part, whole[2:9, 3:11])
    assert abs(float(whole.mean()) - float(image.mean())) < 0.1


def test_grey_levels_equal_the_reference():
    values = np.random.default_rng(3).uniform(-1.0, 7.0, (13, 29)).astype(np.float32)
    values[0, 0] = np.nan
    for gamma, invert in ((1.0, False), (0.6, True)):
        levels = grey_levels(values, 0.5, 6.0, gamma=gamma, invert=invert)
        reference = grey_levels_reference(values, 0.5, 6.0, gamma=gamma, invert=invert)
        assert np.abs(levels.astype(int) - reference).max() <= 1  # float32 power may differ in the last bit
        assert levels[0, 0] == (255 if invert else 0)
    with pytest.raises(ValidationError):
        grey_levels(values, 2.0, 1.0)


def test_serial_and_parallel_kernels_give_identical_pictures(monkeypatch):
    image = np.random.default_rng(4).normal(3.0, 1.0, (61, 90)).astype(np.float32)
    taps = area_taps(np.arange(62.0), 0.0, 2.7, 23), area_taps(np.arange(91.0), 0.0, 3.1, 30)
    results = []
    for threshold in (0, 10**12):  # everything parallel, then everything on the calling thread
        monkeypatch.setattr(display, "PARALLEL_MIN_WORK", threshold)
        resampled = area_resample(image, *taps)
        results.append((resampled, grey_levels(resampled, 1.0, 5.0, gamma=0.8)))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])

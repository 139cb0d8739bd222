import numpy as np
import pytest

import nii.kernels.display as display
from nii.errors import ValidationError
from nii.kernels import local_contrast
from nii.kernels.display import (
    area_resample,
    area_resample_reference,
    area_taps,
    grey_levels,
    grey_levels_reference,
)


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

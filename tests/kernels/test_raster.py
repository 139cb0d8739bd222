import numpy as np
import pytest

from nii.kernels.raster import (
    dominant_material,
    dominant_material_numpy,
    interval_lengths,
    interval_lengths_numpy,
)


def test_interval_lengths_match_the_numpy_reference():
    rng = np.random.default_rng(5)
    starts = np.sort(rng.uniform(0, 100, size=(200, 6)), axis=1)
    entering, leaving = starts[:, 0::2], starts[:, 1::2]
    leaving[::5, 0] = entering[::5, 0]  # some empty intervals
    steps = rng.uniform(0.5, 1.5, 120)
    left = np.concatenate([[0.0], np.cumsum(steps)[:-1]]) - 5
    right = left + steps * 1.1  # overlapping pixels are allowed
    fast = interval_lengths(entering, leaving, left, right)
    np.testing.assert_allclose(fast, interval_lengths_numpy(entering, leaving, left, right), atol=1e-12)
    # Every interval's length is spread over the pixels that tile it.
    tiled = interval_lengths(entering, leaving, np.arange(-10.0, 110.0), np.arange(-9.0, 111.0))
    np.testing.assert_allclose(tiled.sum(axis=1), (leaving - entering).sum(axis=1), rtol=1e-12)


def test_dominant_material_matches_the_numpy_reference():
    rng = np.random.default_rng(6)
    area = rng.uniform(0, 10, size=(5, 30, 40)).astype(np.float32)
    area[:, :3, :] = 0
    label, total = dominant_material(area)
    ref_label, ref_total = dominant_material_numpy(area)
    np.testing.assert_array_equal(label, ref_label)
    np.testing.assert_allclose(total, ref_total, rtol=1e-6)
    assert label.dtype == np.uint8 and np.all(label[:3] == 0)
    with pytest.raises(ValueError, match="materials"):
        dominant_material(np.zeros((3, 4)))

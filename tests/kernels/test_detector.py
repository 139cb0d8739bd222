import numpy as np
import pytest

from nii.kernels.detector import digitise, digitise_numpy


@pytest.mark.parametrize("full_scale", [4095, 16383, 65535])
def test_digitise_matches_the_numpy_reference(full_scale):
    rng = np.random.default_rng(7)
    quanta = rng.uniform(0, 3e5, size=(40, 300)).astype(np.float32)
    normal = rng.standard_normal(quanta.shape, dtype=np.float32)
    dark = rng.uniform(50, 900, 40).astype(np.float32)
    gain = rng.uniform(0.0, 0.3, 40).astype(np.float32)
    options = {"electronic_noise": 3.0, "full_scale": full_scale}
    counts = digitise(quanta, normal, dark, gain, **options)
    np.testing.assert_array_equal(counts, digitise_numpy(quanta, normal, dark, gain, **options))
    assert counts.dtype == np.uint16 and counts.max() <= full_scale


def test_digitise_checks_shapes():
    with pytest.raises(ValueError, match="one value per row"):
        digitise(np.zeros((2, 3)), np.zeros((2, 3)), np.zeros(3), np.zeros(3), electronic_noise=1.0, full_scale=4095)

import numpy as np
import pytest

from nii.kernels.spectral import polychromatic_transmission, polychromatic_transmission_numpy


def piecewise_constant_rays(rng, materials=3, rays=20_000):
    # Runs of identical rays (as in rendered objects) mixed with unique ones and zeros.
    values = rng.uniform(0, 40, size=(materials, rays // 50))
    values[rng.random(values.shape) < 0.3] = 0.0
    runs = np.repeat(values, 50, axis=1)
    runs[:, ::7] = rng.uniform(0, 40, size=(materials, runs[:, ::7].shape[1]))
    return runs


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numba_matches_numpy_reference(dtype):
    rng = np.random.default_rng(3)
    area = piecewise_constant_rays(rng).astype(dtype)
    mu = rng.uniform(0.01, 0.3, size=(3, 40))
    weights = rng.random(40)
    weights /= weights.sum()
    fast = polychromatic_transmission(area, mu, weights)
    reference = polychromatic_transmission_numpy(area, mu, weights)
    np.testing.assert_allclose(fast, reference, rtol=1e-12, atol=1e-300)
    assert np.all(polychromatic_transmission(np.zeros((3, 5)), mu, weights) == pytest.approx(1.0))


def test_shapes_are_checked():
    with pytest.raises(ValueError, match="shapes disagree"):
        polychromatic_transmission(np.zeros((2, 4)), np.zeros((3, 5)), np.zeros(5))

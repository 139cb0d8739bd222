import numpy as np
import pytest

from nii.physics import DetectorModel
from nii.simulate.detector import (
    POISSON_LIMIT,
    draw_dead_elements,
    draw_elements,
    draw_intensity,
    expected_variance,
    expose,
)

LINES = 40_000


def exposure(model, transmission, *, seed=0):
    rng = np.random.default_rng(seed)
    elements = draw_elements(model, 6, np.zeros(0, int), rng)
    intensity, _ = draw_intensity(model, LINES, rng)
    counts = expose(np.full((6, LINES), transmission), intensity, elements, model, rng)
    return counts.astype(np.float64), elements


@pytest.mark.parametrize("transmission", [0.6, 0.05, 2e-3])  # ~1e5, ~1e4 (normal law) and 400 quanta (Poisson)
@pytest.mark.parametrize("fluctuation", [0.0, 0.01])
def test_noise_variance_matches_the_model(transmission, fluctuation):
    model = DetectorModel(bits=16, air_quanta=2e5, electronic_noise_counts=4.0, source_fluctuation=fluctuation)
    counts, elements = exposure(model, transmission)
    assert (model.air_quanta * transmission < POISSON_LIMIT) == (transmission == 2e-3)
    for row in range(6):
        expected = expected_variance(
            model,
            transmission,
            counts_per_quantum=float(elements.counts_per_quantum[row]),
            intensity_spread=fluctuation,
        )
        assert counts[row].var() == pytest.approx(expected, rel=0.05)
        mean = elements.dark[row] + elements.counts_per_quantum[row] * model.air_quanta * transmission
        assert counts[row].mean() == pytest.approx(mean, rel=2e-3)


def test_saturation_at_the_bit_depth():
    for bits in (12, 14, 16):
        model = DetectorModel(bits=bits, air_fraction=0.97, gain_spread=0.1, dead_fraction=0.0)
        counts, _ = exposure(model, 1.0)
        assert counts.max() == 2**bits - 1
        assert np.mean(counts == 2**bits - 1) > 0.05  # high-gain elements saturate in open beam


def test_dead_elements_give_only_the_dark_level():
    model = DetectorModel(dead_fraction=0.25)
    rng = np.random.default_rng(1)
    dead = draw_dead_elements(model, 8, rng)
    assert dead.tolist() == sorted(dead.tolist()) and len(dead) == 2
    elements = draw_elements(model, 8, dead, rng)
    counts = expose(np.ones((8, 2000)), np.ones(2000, np.float32), elements, model, rng).astype(float)
    assert np.all(elements.dead[dead]) and elements.dead.sum() == 2
    np.testing.assert_allclose(counts[dead].mean(axis=1), elements.dark[dead], atol=0.5)
    assert counts[dead].std(axis=1) == pytest.approx([model.electronic_noise_counts] * 2, rel=0.1)


def test_reference_detector_follows_the_source():
    model = DetectorModel(source_fluctuation=0.02, reference_noise=0.001)
    intensity, reading = draw_intensity(model, 20_000, np.random.default_rng(2))
    assert intensity.std() == pytest.approx(0.02, rel=0.05)
    assert (reading / intensity - 1).std() == pytest.approx(0.001, rel=0.05)

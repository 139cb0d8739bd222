import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels import orient, resample, resample_lines, resample_rows, target_positions
from nii.kernels.resample import resampling_matrix


def _brute_force(image: np.ndarray, positions: np.ndarray, spacing: float) -> np.ndarray:
    """Mean of np.interp (constant beyond the ends) over 4000 points of every output footprint."""
    offsets = ((np.arange(4000) + 0.5) / 4000 - 0.5) * spacing
    centres = target_positions(positions, spacing)
    return np.array([[np.interp(c + offsets, positions, row).mean() for c in centres] for row in image])


@pytest.mark.parametrize("spacing", [4.0, 1.3, 11.0])
def test_resample_lines_matches_a_brute_force_integral_for_variable_speed(spacing):
    rng = np.random.default_rng(12)
    positions = np.cumsum(rng.uniform(1.5, 6.0, 120))  # vehicle speed varying by a factor 4
    image = rng.normal(0, 1, (5, 120)).astype(np.float32)
    result = resample_lines(image, positions, spacing)
    np.testing.assert_allclose(result, _brute_force(image.astype(np.float64), positions, spacing), atol=2e-5)
    np.testing.assert_allclose(result, image @ resampling_matrix(positions, spacing).T, rtol=1e-5, atol=1e-6)


def test_linear_ramps_are_reproduced_and_weights_sum_to_one():
    positions = np.cumsum(np.random.default_rng(13).uniform(2.0, 5.0, 80))
    ramp = (0.25 * positions + 3.0)[None, :].astype(np.float32)
    result = resample_lines(ramp, positions, 4.0)[0]
    centres = target_positions(positions, 4.0)
    np.testing.assert_allclose(result[1:-1], 0.25 * centres[1:-1] + 3.0, rtol=1e-6)
    np.testing.assert_allclose(resampling_matrix(positions, 4.0).sum(axis=1), 1.0, atol=1e-6)


def test_a_block_keeps_its_length_in_mm_whatever_the_speed():
    steps = np.where(np.arange(400) < 200, 2.0, 6.0)  # slow then fast: 2 mm then 6 mm per line
    positions = np.concatenate([[0.0], np.cumsum(steps[:-1])])
    block = ((positions >= 300.0) & (positions < 700.0)).astype(np.float32)[None, :]  # 400 mm long
    result = resample_lines(block, positions, 4.0)[0]
    assert abs(result.sum() * 4.0 - 400.0) < 6.0  # mm of block, to within one input line
    assert np.count_nonzero(result > 0.5) in (99, 100, 101)


def test_resample_rows_and_both_axes():
    rng = np.random.default_rng(14)
    image = rng.normal(0, 1, (60, 30)).astype(np.float32)
    rows = resample_rows(image, 2.5, 4.0)
    matrix = resampling_matrix(2.5 * np.arange(60), 4.0)
    np.testing.assert_allclose(rows, matrix @ image, rtol=1e-5, atol=1e-6)
    positions = np.cumsum(rng.uniform(3, 5, 30))
    both = resample(image, pitch_mm=2.5, line_positions_mm=positions, spacing_mm=(4.0, 4.0))
    np.testing.assert_allclose(both, matrix @ image @ resampling_matrix(positions, 4.0).T, rtol=1e-5, atol=1e-5)


def test_orient_flips_into_canonical_orientation():
    image = np.arange(12, dtype=np.uint16).reshape(3, 4)
    np.testing.assert_array_equal(orient(image, reverse_rows=True, reverse_lines=True), image[::-1, ::-1])
    np.testing.assert_array_equal(orient(image, reverse_rows=False, reverse_lines=True), image[:, ::-1])
    np.testing.assert_array_equal(orient(image, reverse_rows=False, reverse_lines=False), image)
    with pytest.raises(ValidationError, match="overlap"):
        orient(image, reverse_rows=True, reverse_lines=False, out=image)


def test_resample_bad_input():
    image = np.zeros((4, 5), np.float32)
    with pytest.raises(ValidationError, match="strictly increasing"):
        resample_lines(image, np.array([0.0, 1.0, 1.0, 2.0, 3.0]), 2.0)
    with pytest.raises(ValidationError, match="5 lines but 4 line positions"):
        resample_lines(image, np.arange(4.0), 2.0)
    with pytest.raises(ValidationError, match="positive number of mm"):
        resample_rows(image, 1.0, -2.0)
    with pytest.raises(ValidationError, match="float32"):
        resample_rows(image.astype(np.float64), 1.0, 2.0)

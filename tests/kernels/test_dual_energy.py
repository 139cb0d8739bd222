import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels import (
    CONVENTIONAL_PALETTE,
    MaterialClass,
    MaterialTable,
    ZeffGrid,
    effective_z,
    false_colour,
    material_classes,
)
from nii.kernels.dual_energy import (
    effective_z_reference,
    false_colour_reference,
    material_classes_reference,
)


def _grid() -> ZeffGrid:
    """Z rising with the ratio and drifting with A_high, like a real MV table."""
    a = np.linspace(0, 12, 25)[:, None]
    ratio = np.linspace(0.9, 1.3, 41)[None, :]
    zeff = np.clip(5 + 200 * (ratio - 0.95) + 2 * a, 3, 100).astype(np.float32)
    return ZeffGrid(zeff, a_high_max=12.0, ratio_min=0.9, ratio_max=1.3)


def _pair(seed: int = 15) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a_high = rng.uniform(0, 14, (60, 90)).astype(np.float32)
    a_low = (a_high * rng.uniform(0.85, 1.35, a_high.shape)).astype(np.float32)
    a_high[0, :3] = [0.0, 13.0, 20.0]  # zero, inside, beyond the grid
    return a_high, a_low


def test_effective_z_and_classes_equal_the_references_exactly():
    a_high, a_low = _pair()
    grid, table = _grid(), MaterialTable(min_attenuation=0.3, max_attenuation=11.0)
    np.testing.assert_array_equal(effective_z(a_high, a_low, grid), effective_z_reference(a_high, a_low, grid))
    classes = material_classes(a_high, a_low, grid, table)
    np.testing.assert_array_equal(classes, material_classes_reference(a_high, a_low, grid, table))
    assert set(np.unique(classes)) == set(MaterialClass)


def test_effective_z_interpolates_between_grid_nodes():
    grid = _grid()
    a_high = np.array([[3.0, 6.25]], np.float32)
    a_low = (a_high * np.array([[1.05, 1.1]], np.float32)).astype(np.float32)
    expected = [5 + 200 * (1.05 - 0.95) + 2 * 3.0, 5 + 200 * (1.1 - 0.95) + 2 * 6.25]
    np.testing.assert_allclose(effective_z(a_high, a_low, grid)[0], expected, rtol=1e-5)


def test_too_thin_and_too_thick_pixels_are_unknown_not_guessed():
    grid, table = _grid(), MaterialTable(min_attenuation=0.3, max_attenuation=11.0)
    a_high = np.array([[0.1, 0.29, 0.31, 5.0, 10.9, 11.1, 10.0]], np.float32)
    a_low = np.array([[0.12, 0.35, 0.35, 5.5, 11.0, 12.0, 11.5]], np.float32)
    classes = material_classes(a_high, a_low, grid, table)[0]
    assert (classes == MaterialClass.UNKNOWN).tolist() == [True, True, False, False, False, True, True]


def test_false_colour_scales_each_class_colour_by_brightness():
    classes = np.array([[0, 1, 2, 3, 4, 1]], np.uint8)
    brightness = np.array([[200, 255, 255, 255, 255, 0]], np.uint8)
    rgb = false_colour(classes, brightness, CONVENTIONAL_PALETTE)
    assert rgb.shape == (1, 6, 3)
    assert rgb[0, 0].tolist() == [200, 200, 200]  # unknown: grey
    assert rgb[0, 1].tolist() == CONVENTIONAL_PALETTE[MaterialClass.ORGANIC].tolist()  # orange at full brightness
    assert rgb[0, 5].tolist() == [0, 0, 0]
    rng = np.random.default_rng(16)
    classes = rng.integers(0, 5, (40, 50), dtype=np.uint8)
    brightness = rng.integers(0, 256, (40, 50), dtype=np.uint8)
    np.testing.assert_array_equal(
        false_colour(classes, brightness, CONVENTIONAL_PALETTE),
        false_colour_reference(classes, brightness, CONVENTIONAL_PALETTE),
    )


def test_dual_energy_bad_input():
    a = np.ones((3, 3), np.float32)
    with pytest.raises(ValidationError, match="low-energy attenuation must have shape"):
        effective_z(a, np.ones((3, 4), np.float32), _grid())
    with pytest.raises(ValidationError, match="ratio_min < ratio_max"):
        ZeffGrid(np.ones((2, 2), np.float32), 1.0, 1.2, 1.1)
    with pytest.raises(ValidationError, match="2 × 2"):
        ZeffGrid(np.ones((1, 5), np.float32), 1.0, 1.0, 1.1)
    with pytest.raises(ValidationError, match="ascending"):
        MaterialTable(z_boundaries=(10.0, 9.0, 40.0))
    with pytest.raises(ValidationError, match="min_attenuation < max_attenuation"):
        MaterialTable(min_attenuation=2.0, max_attenuation=1.0)
    with pytest.raises(ValidationError, match="codes above 4"):
        false_colour(np.full((2, 2), 5, np.uint8), np.zeros((2, 2), np.uint8), CONVENTIONAL_PALETTE)

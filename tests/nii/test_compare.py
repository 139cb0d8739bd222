"""nii.compare: the docstring examples, the steel agreement and the pictures."""

from __future__ import annotations

import numpy as np
import pytest

from nii.compare import compare_scans, comparison_pictures
from nii.simulate import simulate


@pytest.fixture(scope="module")
def comparison():
    first, _ = simulate("cargo", scanner="linac-6/4", seed=4, rows=128, lines=450, speed_variation=0.0)
    second, _ = simulate("cargo", scanner="linac-6", seed=4, rows=128, lines=450, speed_variation=0.0)
    return compare_scans(first, second)


def test_one_energy_on_two_scanners_gives_one_steel_thickness(comparison):
    # The 6/4 MV linac's high channel and the single 6 MV linac share a spectrum: the steel thickness of a
    # pixel differs by the noise only.
    assert comparison.confidence > 0.9
    assert comparison.steel_difference_mm["median"] < 3.0


def test_pictures_show_agreement_as_mid_grey_difference(comparison):
    pictures = comparison_pictures(comparison)
    rows, columns = comparison.reference.attenuation.shape
    assert pictures["checkerboard"].shape[:2] == (rows, columns)
    assert pictures["difference"].shape == (rows, columns, 3)
    assert pictures["flicker"].shape[0] >= 2
    # Most object pixels agree: mid grey in the difference picture (rendered by nii.render).
    common = comparison.reference.mask & np.isfinite(comparison.aligned)
    grey = pictures["difference"][common].astype(int)
    assert (np.abs(grey - 128) < 40).all(axis=1).mean() > 0.8
    # The reference picture shows the object: dense pixels darker than air.
    reference = pictures["reference"][..., 0].astype(int)
    assert reference[comparison.reference.mask].mean() < reference[~comparison.reference.mask].mean() - 50

"""The test-object phantom and its layout: regions land on the solids they name, at any pitch and speed."""

from __future__ import annotations

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.simulate import simulate
from nii.simulate.targets import LAYOUT


@pytest.mark.parametrize(("scanner", "rows", "variation"), [("linac-6/4", 640, 0.0), ("linac-4", 320, 0.05)])
def test_regions_hold_the_thickness_they_name(scanner, rows, variation):
    scan, truth = simulate("test-objects", scanner=scanner, seed=1, rows=rows, speed_variation=variation)
    geometry = scan.views[0].geometry
    thickness = truth.views["side"].thickness_mm
    for step in LAYOUT.penetration:
        r, c = LAYOUT.pixels(step.block.inset(20), geometry, thickness.shape)
        np.testing.assert_allclose(thickness[r, c], step.steel_mm + LAYOUT.penetration_block_mm, rtol=1e-4)
        for region in step.background:
            r, c = LAYOUT.pixels(region.inset(20), geometry, thickness.shape)
            np.testing.assert_allclose(thickness[r, c], step.steel_mm, rtol=1e-4)
    for plate in LAYOUT.contrast:
        r, c = LAYOUT.pixels(plate.plate.inset(15), geometry, thickness.shape)
        expected = LAYOUT.contrast_wall_mm * (1 + plate.percent / 100)
        np.testing.assert_allclose(thickness[r, c], expected, rtol=1e-4)


def test_tube_scanners_are_refused():
    with pytest.raises(ValidationError, match="linac"):
        simulate("test-objects", scanner="tube-160/80", seed=1, scale=0.1)

"""The test-object phantom and its layout: regions land on the solids they name, at any pitch and speed."""

from __future__ import annotations

import numpy as np
import pytest

from nii.physics import SCANNERS
from nii.simulate import simulate, targets
from nii.simulate.targets import BAGGAGE_LAYOUT, LAYOUT, layout_for


@pytest.mark.parametrize(
    ("scanner", "rows", "variation"), [("linac-6/4", 640, 0.0), ("linac-4", 320, 0.05), ("tube-160/80", 700, 0.0)]
)
def test_regions_hold_the_thickness_they_name(scanner, rows, variation):
    scan, truth = simulate("test-objects", scanner=scanner, seed=1, rows=rows, speed_variation=variation)
    layout = layout_for(scan.scanner.source)
    inset = 20 * layout.size
    geometry = scan.views[0].geometry
    thickness = truth.views["side"].thickness_mm
    for step in layout.penetration:
        r, c = layout.pixels(step.block.inset(inset), geometry, thickness.shape)
        np.testing.assert_allclose(thickness[r, c], step.steel_mm + layout.penetration_block_mm, rtol=1e-4)
        for region in step.background:
            r, c = layout.pixels(region.inset(inset), geometry, thickness.shape)
            np.testing.assert_allclose(thickness[r, c], step.steel_mm, rtol=1e-4)
    for plate in layout.contrast:
        r, c = layout.pixels(plate.plate.inset(15 * layout.size), geometry, thickness.shape)
        expected = layout.contrast_wall_mm * (1 + plate.percent / 100)
        np.testing.assert_allclose(thickness[r, c], expected, rtol=1e-4)


def test_baggage_test_objects_fit_the_tunnel():
    assert layout_for("TUBE") is BAGGAGE_LAYOUT and layout_for("LINAC") is LAYOUT
    tunnel_mm = SCANNERS["tube-160/80"].rows * SCANNERS["tube-160/80"].detector_pitch_mm
    top = max(region.z[1] for region in (BAGGAGE_LAYOUT.edge_along_travel, BAGGAGE_LAYOUT.contrast[0].background))
    assert top < tunnel_mm
    phantom = targets.test_objects_phantom("TUBE")  # imported as a module: pytest would take it for a test
    assert max(solid.bounds()[2][1] for solid in phantom.solids) <= tunnel_mm

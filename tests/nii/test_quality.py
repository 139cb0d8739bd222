"""Image-quality figures measured on simulated test objects agree with what the physics predicts.

Each figure is measured on a noisy simulated scan and predicted from the truth's noise-free transmission
with the detector's noise model (or, for resolution, from the detector aperture); the tolerances are the
ones the pilot reports state.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from nii import quality
from nii.calibration import ZeffTable
from nii.physics import SCANNERS
from nii.pipeline import Recipe, convert_scan
from nii.simulate import simulate
from nii.simulate.solids import SUPERSAMPLING
from nii.simulate.targets import layout_for
from nii.steps import AttenuateParameters, attenuate


@pytest.fixture(scope="module", params=["linac-6/4", "linac-4", "tube-160/80"])
def test_objects(request):
    """A test-object scan's attenuation, the truth's, the geometry, the noise model and the layout: cargo size
    on the linacs, baggage size in the 160/80 kV tunnel."""
    name = request.param
    scan, truth = simulate("test-objects", scanner=name, seed=7)
    channel = "high" if "high" in scan.views[0].channels else "single"
    view = attenuate(scan, AttenuateParameters())[0].views[0]
    noise_free = -np.log(truth.views["side"].transmission[channel]).astype(np.float32)
    return view.channels[channel], noise_free, view.geometry, SCANNERS[name].detector, layout_for(scan.scanner.source)


def test_penetration_within_one_step_of_the_physics(test_objects):
    measured, noise_free, geometry, detector, layout = test_objects
    found = quality.penetration(measured, geometry, layout=layout)
    predicted = quality.penetration(noise_free, geometry, noise_model=detector, layout=layout)
    walls = [step.steel_mm for step in layout.penetration]
    assert walls[3] < predicted.limit < walls[-2]  # the walls bracket the limit
    assert found.limit == pytest.approx(predicted.limit, abs=walls[1] - walls[0])
    # The thin walls: the block is obvious, and the measured index follows the prediction within 15 %.
    np.testing.assert_allclose(found.detectability[:4], predicted.detectability[:4], rtol=0.15)


def test_contrast_sensitivity_within_30_percent(test_objects):
    # Near the threshold one scan's index scatters by about ±1 (the means of N pixels): ±20 % of 5.
    measured, noise_free, geometry, detector, layout = test_objects
    found = quality.contrast_sensitivity(measured, geometry, layout=layout)
    predicted = quality.contrast_sensitivity(noise_free, geometry, noise_model=detector, layout=layout)
    assert found.limit == pytest.approx(predicted.limit, rel=0.3)
    np.testing.assert_allclose(found.detectability[:3], predicted.detectability[:3], rtol=0.25)


def test_thinnest_wire_within_one_size_of_the_physics(test_objects):
    measured, noise_free, geometry, detector, layout = test_objects
    found = quality.wire_detection(measured, geometry, layout=layout)
    predicted = quality.wire_detection(noise_free, geometry, noise_model=detector, layout=layout)
    sizes = sorted(found.diameter_mm)
    assert abs(sizes.index(found.thinnest_mm) - sizes.index(predicted.thinnest_mm)) <= 1
    assert found.score[0] > 100  # the thickest wire (8 mm cargo, 1.6 mm baggage)


def test_edge_mtf50_within_10_percent_of_the_aperture(test_objects):
    measured, _, geometry, _, layout = test_objects
    found = quality.resolution(measured, geometry, layout=layout)
    travel = quality.aperture_mtf50(geometry.travel_spacing_mm, samples=SUPERSAMPLING)
    detector = quality.aperture_mtf50(geometry.detector_spacing_mm, samples=SUPERSAMPLING)
    assert found["travel"].mtf50 == pytest.approx(travel, rel=0.1)
    assert found["detector"].mtf50 == pytest.approx(detector, rel=0.1)


def test_edge_mtf_of_an_ideal_box_aperture():
    # A 5° edge sampled by 1-pixel boxes, computed exactly: the MTF50 of a box is 0.603 cycles/pixel.
    rows, columns = np.mgrid[0:64, 0:48]
    position = 20.0 + rows * math.tan(math.radians(5.0))
    image = np.clip(columns + 0.5 - position, 0.0, 1.0)  # box-averaged step: the covered fraction
    assert quality.edge_mtf(image, 1.0).mtf50 == pytest.approx(0.603, rel=0.05)


@pytest.mark.parametrize("scanner", ["linac-9/6", "linac-6/4"])
def test_material_confusion_diagonal_above_the_minimum_thickness(scanner):
    scan, truth = simulate("steps", scanner=scanner, seed=1, scale=0.5)
    view = convert_scan(scan, Recipe.parse("attenuate,materials", target="npz")).views[0]
    side = truth.views["side"]
    table = ZeffTable.from_scanner(scanner).material_table()
    a_high = -np.log(side.transmission["high"])
    a_low = -np.log(side.transmission["low"])
    minimum = 40.0  # g/cm²: below it the 6/4 MV pair takes lead for iron in some scans
    chosen = (
        quality.interior(side.label, 3)
        & (side.area_density_g_cm2 >= minimum)
        & (np.maximum(a_high, a_low) <= table.max_attenuation)
    )
    expected = [quality.expected_class(material) for material in truth.materials]
    matrix = quality.material_confusion(np.asarray(view.channels["material"]), side.label, expected, chosen)
    present = sorted({int(c) for c in expected})
    per_class = np.diag(matrix)[present] / matrix[present].sum(axis=1)
    assert per_class.min() >= 0.95, per_class


def test_summarise_repeated_measurements():
    assert quality.summarise([2.0, 4.0, math.nan]) == {"mean": 3.0, "std": pytest.approx(math.sqrt(2)), "n": 2}
    assert quality.summarise([])["n"] == 0

"""End to end: the physics simulator's scans written in each reference format and read back."""

from dataclasses import replace

import numpy as np
import pytest

import nii
from nii.physics import SCANNERS
from nii.simulate import simulate
from tests.helpers import assert_scans_equal

SIZE = {"rows": 64, "lines": 256}


def assert_pixels_and_calibration_equal(back, scan):
    for view in scan.views:
        got = back.view(view.name)
        for group in ("channels", "dark", "air", "reference"):
            for name, array in getattr(view, group).items():
                np.testing.assert_array_equal(getattr(got, group)[name], array, err_msg=f"{view.name} {group} {name}")


@pytest.fixture(scope="module")
def cargo():
    scan, _ = simulate("cargo", seed=1, **SIZE)
    return scan


def test_simulated_cargo_through_ref_rawxml(cargo, tmp_path):
    path = tmp_path / "cargo.rxr"
    nii.write(cargo, path)
    back = nii.read(path)
    assert_pixels_and_calibration_equal(back, cargo)  # raw counts, 32 dark and air lines, float32 monitor
    assert back.view("side").reference["high"].dtype == np.float32
    assert back.scanner == cargo.scanner and back.inspected_object == cargo.inspected_object


def test_simulated_cargo_through_ref_hdf5(cargo, tmp_path):
    path = tmp_path / "cargo.rh5"
    nii.write(cargo, path)
    assert_scans_equal(nii.read(path), cargo, ignore=("provenance", "frame_of_reference_uid"))


def test_simulated_suitcase_with_threats_through_ref_tiff(tmp_path):
    scan, _ = simulate("suitcase", seed=2, threats_in_scan=True, **SIZE)
    assert [view.name for view in scan.views] == ["side", "top"] and scan.threats
    path = tmp_path / "bag.tif"
    nii.write(scan, path)
    back = nii.read(path)
    for view in scan.views:
        for name, channel in view.channels.items():
            np.testing.assert_array_equal(back.view(view.name).channels[name], channel)
    assert [(t.view, t.box, t.category, t.origin) for t in back.threats] == [
        (t.view, t.box, t.category, t.origin) for t in scan.threats
    ]


def test_simulated_portal_truck_through_ref_packed12(tmp_path):
    linac = SCANNERS["linac-6/4"]
    portal = replace(linac, name="portal-12bit", detector=replace(linac.detector, bits=12), speed_variation=0.1)
    scan, _ = simulate("truck", scanner=portal, seed=3, **SIZE)
    positions = scan.view("side").geometry.line_positions_mm
    assert positions is not None and int(scan.view("side").channels["high"].max()) <= 4095
    path = tmp_path / "truck.p12"
    nii.write(scan, path)
    back = nii.read(path)
    for name, channel in scan.view("side").channels.items():
        np.testing.assert_array_equal(back.view("side").channels[name], channel)
    np.testing.assert_allclose(back.view("side").geometry.line_positions_mm, positions - positions[0], rtol=1e-5)

"""``nii compare`` on simulated scans: one container seen by two scanners, and two unrelated containers."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import nii
from nii.compare import compare_scans, comparison_image
from nii.pilot.run import travelling_right_to_left
from nii.simulate import simulate


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def cargo_files(tmp_path_factory):
    """Seed 3's container on a 6/4 MV linac (npz) and on a 9/6 MV linac driven slower and flipped
    (ref-rawxml, right to left); seed 13's container on the 9/6 MV linac (ref-hdf5)."""
    folder = tmp_path_factory.mktemp("compare")
    first, _ = simulate("cargo", scanner="linac-6/4", seed=3, rows=256, lines=900)
    second, _ = simulate("cargo", scanner="linac-9/6", seed=11, rows=256, lines=960)
    same, _ = simulate("cargo", scanner="linac-9/6", seed=3, rows=256, lines=960)
    paths = {"first": folder / "first.npz", "same": folder / "same.rawxml", "other": folder / "other.h5"}
    nii.write(first, paths["first"])
    nii.write(same, paths["same"], format="ref-rawxml")
    nii.write(second, paths["other"], format="ref-hdf5")
    return paths


def test_one_cargo_on_two_scanners_agrees(cargo_files, tmp_path):
    out = tmp_path / "pictures"
    result = run_cli("compare", str(cargo_files["first"]), str(cargo_files["same"]), "--json", "--out", str(out))
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["confidence"] >= 0.8
    assert found["ncc"] > 0.9 and found["ssim"] > 0.8 and found["psnr_db"] > 20
    # Same container, same trailer position: the grids are in mm, so no offset, no scale, no rotation.
    assert np.abs(found["offset_mm"]).max() < found["spacing_mm"] / 2
    assert found["scale_travel"] == pytest.approx(1.0, abs=0.01)
    assert found["rotation_deg"] == pytest.approx(0.0, abs=0.1)
    # 6 MV and 9 MV land on one steel scale: the median pixel differs by a few mm of steel.
    assert found["steel_difference_mm"]["median"] < 5.0
    assert json.loads((out / "comparison.json").read_text())["confidence"] == found["confidence"]
    with Image.open(out / "difference.png") as picture:
        assert picture.mode == "RGB" and picture.size[0] > picture.size[1] > 100
    with Image.open(out / "flicker.gif") as animation:
        assert animation.n_frames >= 2


def test_unrelated_cargo_scans_do_not(cargo_files):
    result = run_cli("compare", str(cargo_files["first"]), str(cargo_files["other"]))
    assert result.returncode == 0, result.stderr
    confidence = float(result.stdout.split()[1])
    assert confidence <= 0.3
    assert "not the same object" in result.stdout


def test_unrelated_containers_score_below_one_container_seen_twice():
    # Unrelated containers share the trailer and the container's frame: their confidence varies with the
    # cargo (0 to about 0.7 here), never near one container seen by two scanners, and their registration
    # does not converge.
    reference, _ = simulate("cargo", scanner="linac-6/4", seed=3, rows=256, lines=900)
    same, _ = simulate("cargo", scanner="linac-9/6", seed=3, rows=256, lines=960)
    found = compare_scans(reference, same)
    others = [
        compare_scans(reference, simulate("cargo", scanner="linac-9/6", seed=seed, rows=256, lines=960)[0])
        for seed in (7, 11, 13, 21, 42)
    ]
    confidences = sorted(other.confidence for other in others)
    assert found.registration.converged and found.confidence > 0.95
    assert confidences[2] <= 0.3  # the median
    assert confidences[-1] < found.confidence - 0.2
    assert not any(other.registration.converged for other in others)


def test_a_flipped_and_slower_scan_is_put_on_the_reference_grid():
    reference, _ = simulate("cargo", scanner="linac-6/4", seed=5, rows=128, lines=450, speed_variation=0.0)
    moving, _ = simulate("cargo", scanner="linac-6/4", seed=5, rows=128, lines=600, speed_variation=0.0)
    comparison = compare_scans(reference, travelling_right_to_left(moving))
    assert comparison.confidence > 0.9
    assert comparison.parameters["scale_travel"] == pytest.approx(1.0, abs=0.01)
    assert abs(comparison.parameters["offset_mm"][1]) < comparison.reference.spacing_mm


def test_a_missing_channel_is_a_clear_error(cargo_files):
    result = run_cli("compare", str(cargo_files["first"]), str(cargo_files["same"]), "--channel", "zeff")
    assert result.returncode == 1
    assert "no channel 'zeff'" in result.stderr and "Traceback" not in result.stderr


def test_comparison_image_has_square_pixels_of_the_given_side():
    scan, _ = simulate("cargo", seed=2, rows=64, lines=300)
    image = comparison_image(scan, spacing_mm=100.0)
    rows, lines = scan.views[0].shape
    geometry = scan.views[0].geometry
    assert image.attenuation.shape[0] == pytest.approx(rows * geometry.detector_spacing_mm / 100.0, abs=1)
    assert image.attenuation.shape[1] == pytest.approx(lines * geometry.travel_spacing_mm / 100.0, abs=1)

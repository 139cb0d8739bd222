"""Calibration from the scan's own open beam, for vendor exports without dark and air lines."""

import json
import subprocess
import sys

import numpy as np
import pytest

import nii
from nii.kernels.air import STARVED
from nii.model import View
from nii.pipeline import Recipe, convert_scan
from nii.simulate import simulate


@pytest.fixture(scope="module")
def truck():
    scan, truth = simulate("truck", seed=5, scale=0.2)
    return scan, truth


def vendor_export(scan):
    """What a vendor without calibration lines exports: dark-subtracted counts, no references."""
    view = scan.views[0]
    channels = {
        name: np.clip(view.channels[name] - view.dark[name].mean(axis=1)[:, None], 0, None).astype(np.uint16)
        for name in ("high", "low")
    }
    exported = scan.with_views([View(view.name, channels, view.geometry)])
    return exported


def test_own_air_attenuation_matches_the_calibration_with_reference_lines(truck):
    scan, truth = truck
    reference = convert_scan(scan, Recipe.parse("attenuate", target="npz")).views[0]
    own = convert_scan(vendor_export(scan), Recipe.parse("attenuate", target="npz"))
    view = own.views[0]
    crossed = truth.views["side"].area_density_g_cm2 > 0
    for name in ("high", "low"):
        # Beyond A = 6 (0.25 % transmission) the counts are within the dark noise, starved pixels lie there.
        measured = crossed & (reference.channels[name] < 6)
        error = np.abs(view.channels[name][measured] - reference.channels[name][measured])
        assert np.median(error) < 0.01 and np.quantile(error, 0.99) < 0.02
    steps = {step.name: step.parameters for step in own.provenance.steps}
    assert steps["attenuate"]["air_from_scan"]["side/high"]["rows_above"] > 0


def test_starved_pixels_are_flagged_not_extreme(truck):
    scan, _ = truck
    exported = vendor_export(scan)
    exported.views[0].channels["high"][200:220, 300:310] = 0
    result = convert_scan(exported, Recipe.parse("attenuate", target="npz"))
    view = result.views[0]
    flags = view.channels["pixel_flags"]
    assert (flags[200:220, 300:310] & STARVED).all()
    high = view.channels["high"]
    assert high[200:220, 300:310].max() <= high[flags == 0].max()
    steps = {step.name: step.parameters for step in result.provenance.steps}
    assert steps["attenuate"]["flagged_pixels"]["side/high"]["starved"] >= 200


def test_npy_exports_calibrate_to_valid_dicos_through_the_cli(truck, tmp_path):
    scan, _ = truck
    exported = vendor_export(scan).views[0]
    folder = tmp_path / "exports"
    folder.mkdir()
    np.save(folder / "truck.npy", np.stack([exported.channels["high"], exported.channels["low"]], axis=-1))
    run = [sys.executable, "-m", "nii"]
    converted = subprocess.run(
        [*run, "convert", str(folder), "--out", str(tmp_path / "d"), "--normalize", "attenuate"],
        capture_output=True,
        text=True,
    )
    assert converted.returncode == 0, converted.stderr
    validated = subprocess.run([*run, "validate", str(tmp_path / "d" / "truck")], capture_output=True, text=True)
    assert validated.returncode == 0, validated.stdout + validated.stderr
    info = json.loads(
        subprocess.run([*run, "info", str(tmp_path / "d" / "truck"), "--json"], capture_output=True, text=True).stdout
    )
    assert info["views"][0]["calibration"] == "ATTENUATION"
    dicos = nii.read(tmp_path / "d" / "truck")
    assert any(step.name == "attenuate" for step in dicos.provenance.steps)


def test_a_step_error_names_the_file(tmp_path):
    path = tmp_path / "flat.npy"
    np.save(path, np.full((16, 20), 30000, np.uint16) * np.linspace(0.1, 1, 16, dtype=np.float32)[:, None])
    with pytest.raises(nii.errors.NiiError, match=f"{path}: .*materials"):
        convert_scan(nii.read(path), Recipe.parse("materials=linac-6/4"))


def test_unknown_geometry_stays_unknown_in_dicos_and_resample_refuses_until_given(tmp_path):
    import pydicom

    path = tmp_path / "plain.npy"
    np.save(path, np.full((12, 30, 2), 20000, np.uint16))
    scan = nii.read(path)
    assert scan.views[0].geometry.detector_spacing_mm is None
    nii.write(scan, tmp_path / "plain.dicos")
    for file in (tmp_path / "plain.dicos").glob("*.dcs"):
        assert "ImagerPixelSpacing" not in pydicom.dcmread(file, stop_before_pixels=True)
    assert nii.read(tmp_path / "plain.dicos").views[0].geometry.travel_spacing_mm is None
    calibrated = convert_scan(scan, Recipe.parse("attenuate", target="npz"))
    with pytest.raises(nii.errors.ValidationError, match=f"{path}: resample=4x4: .*no known pixel spacing"):
        convert_scan(calibrated, Recipe.parse("resample=4x4"))
    resampled = convert_scan(calibrated, Recipe.parse("spacing=5x8,resample=10x16", target="npz"))
    assert resampled.views[0].shape == (6, 15)

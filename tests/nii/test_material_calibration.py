"""Material calibration measured on step wedges restores classification on a scanner unlike its nominal model."""

import dataclasses
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

import nii
from nii.errors import ValidationError
from nii.kernels import MaterialClass
from nii.physics import SCANNERS, detected, linac_spectrum
from nii.pipeline import Recipe, convert_scan
from nii.simulate import simulate
from nii.simulate.phantoms import STEP_MATERIALS, steps_phantom
from nii.steps import MaterialMisfitWarning

EXPECTED = {"polyethylene": MaterialClass.ORGANIC, "aluminium": MaterialClass.INORGANIC,
            "iron": MaterialClass.METAL, "lead": MaterialClass.HIGH_Z}  # fmt: skip


def real_scanner():
    """A 6/4 MV scanner sold as linac-6/4 whose detector is twice as deep and whose beam passes 10 mm of lead."""
    nominal = SCANNERS["linac-6/4"]
    spectra = {
        channel: detected(linac_spectrum(mv, filtration=[("lead", 10.0)]), detector="CdWO4", thickness_mm=60.0)
        for channel, mv in (("high", 6.0), ("low", 4.0))
    }
    return dataclasses.replace(nominal, spectra=spectra)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    folder = tmp_path_factory.mktemp("calibration")
    scanner = real_scanner()
    scan, _ = simulate("steps", scanner=scanner, seed=1, rows=256, lines=800)
    nii.write(scan, folder / "wedges-scan.npz")
    areas = ", ".join(f"{a:.4g}" for a in np.geomspace(5.0, 300.0, 8))
    # The image shows the wedges from the top down: the last material of the phantom is the highest.
    (folder / "wedges.toml").write_text(
        "".join(f'[[wedge]]\nmaterial = "{m}"\narea_density_g_cm2 = [{areas}]\n' for m in reversed(STEP_MATERIALS))
    )
    result = subprocess.run(
        [sys.executable, "-m", "nii", "calibrate", "materials", str(folder / "wedges-scan.npz"),
         "--wedges", str(folder / "wedges.toml"), "--out", str(folder / "scanner.toml"), "--name", "portal-a"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "steps measured" in result.stdout and (folder / "scanner.toml").is_file()
    test_scan, truth = simulate(steps_phantom("LINAC", steps=6), scanner=scanner, seed=7, rows=256, lines=800)
    test_scan.provenance = dataclasses.replace(test_scan.provenance, source_path="truck-0001.npz")
    return folder / "scanner.toml", test_scan, truth


def accuracy(scan, truth, argument, **recipe):
    view = convert_scan(scan, Recipe.parse(f"attenuate,materials={argument}", target="npz", **recipe)).views[0]
    label = truth.views["side"].label
    result = {}
    for index, material in enumerate(truth.materials, start=1):
        inside = cv2.erode((label == index).astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
        measurable = inside & (view.channels["high"] > 0.5) & (view.channels["high"] < 6.0)
        result[material.name] = float((view.channels["material"][measurable] == EXPECTED[material.name]).mean())
    return result


def test_fitted_calibration_restores_every_class_where_the_nominal_table_fails(calibrated):
    toml, scan, truth = calibrated
    with pytest.warns(MaterialMisfitWarning, match="truck-0001.npz: view 'side': .* outside the material calibration"):
        nominal = accuracy(scan, truth, "linac-6/4")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MaterialMisfitWarning)  # the scanner's own calibration fits its scans
        fitted = accuracy(scan, truth, str(toml))
    assert min(fitted.values()) >= 0.95, fitted
    assert min(nominal.values()) < 0.9, nominal


def test_a_misfit_is_an_error_with_strict_and_steel_uses_the_measured_iron(calibrated):
    toml, scan, _ = calibrated
    with pytest.raises(ValidationError, match="truck-0001.npz: materials=linac-6/4: .*--strict"):
        convert_scan(
            scan, dataclasses.replace(Recipe.parse("attenuate,materials=linac-6/4", target="npz"), strict=True)
        )
    steel = convert_scan(scan, Recipe.parse(f"attenuate,steel={toml}", target="npz")).views[0].channels["steel_mm"]
    assert np.nanmax(steel) > 50

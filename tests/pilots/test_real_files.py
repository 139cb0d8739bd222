"""pilots/real-files, the template for scanners given as folders of files, on simulated stand-in files; and
clear errors for broken pilot files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nii
from nii.errors import ConfigurationError
from nii.physics import SCANNERS
from nii.pilot import load_pilot
from nii.pilot.run import scanner_model
from nii.simulate import simulate

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """The template with simulated files where its real files go: a container and a truck seen by a 6/4 MV
    linac (ref-rawxml) and a 9/6 MV linac (ref-hdf5)."""
    folder = tmp_path_factory.mktemp("real-files") / "pilot"
    shutil.copytree(ROOT / "pilots" / "real-files", folder)
    config = load_pilot(folder)
    for scanner, fmt in (("site-a", "ref-rawxml"), ("site-b", "ref-hdf5")):
        model = config.scanner(scanner).model
        for obj, (scenario, seed) in zip(config.objects, [("cargo", 3), ("truck", 5)], strict=True):
            scan, _ = simulate(scenario, scanner=model, seed=seed, scale=0.2)
            path = obj.files[scanner]
            path.parent.mkdir(parents=True, exist_ok=True)
            nii.write(scan, path, format=fmt)
    return folder


def test_real_file_scanners_are_converted_and_compared(stand_in, tmp_path):
    out = tmp_path / "out"
    result = run_cli("pilot", "run", str(stand_in), "--out", str(out))
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())
    assert results["quality"] == {}
    assert [s["format"] for s in results["pilot"]["scanners"]] == ["real files", "real files"]
    same = results["agreement"]["same_object"]
    assert [row["confidence"] >= 0.9 for row in same] == [True, True]
    assert max(row["confidence"] for row in results["agreement"]["unrelated"]) <= 0.5
    for entry in results["interoperability"].values():
        assert entry["round_trips_exact"] == entry["round_trips"] == 2
        assert entry["metadata_not_carried"] == []  # nothing to compare real files with
    assert (out / "report.html").stat().st_size > 10_000
    assert not (out / "scans").exists()  # real files are read where they are


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[scanners]]\nname = 'a'\nmodel = 'linac-6'\n", "'objects' is required"),
        ("[[scanners]]\nname = 'a'\nmodel = 'linac-7'\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n", "unknown model"),
        (
            "[[scanners]]\nname = 'a'\nmodel = 'linac-6'\ncolour = 1\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n",
            "colour",
        ),
        ("[[scanners]]\nname = 'A B'\nmodel = 'linac-6'\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n", "name"),
        ("[[scanners]]\nname = 'a'\nfolder = 'f'\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n", "no file for"),
        (
            "[[scanners]]\nname = 'a'\nmodel = 'linac-6'\nscale = 'big'\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n",
            "scale",
        ),
        ("[pilot\n", "not valid TOML"),
    ],
)
def test_a_broken_pilot_file_is_one_clear_error(tmp_path, text, message):
    (tmp_path / "pilot.toml").write_text(text)
    with pytest.raises(ConfigurationError, match=message):
        load_pilot(tmp_path)
    result = run_cli("pilot", "check", str(tmp_path))
    assert result.returncode == 1
    assert "pilot.toml" in result.stderr and message.strip("'") in result.stderr and "Traceback" not in result.stderr


def test_shipped_pilots_are_valid():
    for folder in sorted((ROOT / "pilots").iterdir()):
        if (folder / "pilot.toml").is_file():
            result = run_cli("pilot", "check", str(folder))
            assert result.returncode == 0, result.stderr


def test_a_scanner_with_other_adc_bits_keeps_its_noise_in_proportion(tmp_path):
    (tmp_path / "pilot.toml").write_text(
        "[[scanners]]\nname = 'portal'\nmodel = 'linac-6'\nbits = 12\n[[objects]]\nname = 'x'\nscenario = 'cargo'\n"
    )
    model = scanner_model(load_pilot(tmp_path).scanner("portal"))
    original = SCANNERS["linac-6"].detector
    assert model.detector.full_scale == 4095 and model.name == "linac-6"
    assert model.detector.electronic_noise_counts / 4095 == pytest.approx(original.electronic_noise_counts / 65535)
    scan, _ = simulate("steps", scanner=model, rows=32, lines=64)
    assert int(np.asarray(scan.views[0].channels["single"]).max()) <= 4095

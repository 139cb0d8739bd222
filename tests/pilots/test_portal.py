"""A 12-bit drive-through portal writing ref-packed12 (no dark or open-beam lines) in a pilot: its scans are
calibrated from their own open beam, converted to DICOS, and registered against a linac's scans of the same
objects; its image quality agrees with the physics."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import nii
from nii.pilot import load_pilot

ROOT = Path(__file__).resolve().parents[2]

PILOT = """
[pilot]
title = "portal and linac"
normalize = "attenuate=uint16"
throughput_rounds = 1

[quality]
repeats = 1

[[scanners]]
name = "portal"
model = "portal-6/4"
format = "ref-packed12"
scale = 0.2

[[scanners]]
name = "gate"
model = "linac-6/4"
format = "ref-rawxml"
scale = 0.2

[[objects]]
name = "container"
scenario = "cargo"
seed = 3

[[objects]]
name = "truck"
scenario = "truck"
seed = 5
"""


@pytest.fixture(scope="module")
def portal_pilot(tmp_path_factory):
    folder = tmp_path_factory.mktemp("portal")
    (folder / "pilot.toml").write_text(PILOT)
    out = folder / "out"
    result = subprocess.run(
        [sys.executable, "-m", "nii", "pilot", "run", str(folder), "--out", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "results.json").read_text())


@pytest.mark.slow
def test_portal_scans_are_ref_packed12_without_references(portal_pilot):
    out, _ = portal_pilot
    vendor = out / "scans" / "portal" / "container.p12"
    assert vendor.read_bytes()[:8] == b"NIIREF12"
    view = nii.read(vendor).views[0]
    assert view.dark == {} and view.air == {} and view.geometry.line_positions_mm is not None


@pytest.mark.slow
def test_portal_scans_convert_from_their_own_open_beam(portal_pilot):
    out, results = portal_pilot
    entry = results["interoperability"]["portal"]
    assert entry["dicos_valid"] == entry["dicos_files"] > 0
    assert entry["round_trips_exact"] == entry["round_trips"] == 4  # two objects, the test objects, the wedges
    assert "dark/air references" in entry["metadata_not_carried"]
    scan = nii.read(out / "dicos" / "portal" / "container")
    (step,) = [s for s in scan.provenance.steps if s.name == "attenuate"]
    found = step.parameters["air_from_scan"]
    assert set(found) == {"side/high", "side/low"}
    assert all(region["lines_before"] > 0 and region["rows_above"] > 0 for region in found.values())


@pytest.mark.slow
def test_portal_registers_against_a_linac(portal_pilot):
    _, results = portal_pilot
    same = results["agreement"]["same_object"]
    assert {(row["reference"], row["moving"], row["reference_object"]) for row in same} == {
        ("portal", "gate", "container"),
        ("portal", "gate", "truck"),
    }
    assert min(row["confidence"] for row in same) >= 0.8
    assert max(row["confidence"] for row in results["agreement"]["unrelated"]) <= 0.5


@pytest.mark.slow
def test_portal_image_quality_agrees_with_the_physics(portal_pilot):
    _, results = portal_pilot
    portal = results["quality"]["portal"]
    penetration = portal["penetration_mm"]
    assert abs(penetration["measured"]["mean"] - penetration["predicted"]) <= 25.0  # one wall step
    for key in ("mtf50_travel", "mtf50_detector"):  # 5 mm elements, about 4 mm per line
        assert portal[key]["measured"]["mean"] == pytest.approx(portal[key]["predicted"], rel=0.1)
    assert (
        portal["mtf50_detector"]["measured"]["mean"] < results["quality"]["gate"]["mtf50_detector"]["measured"]["mean"]
    )
    assert portal["materials"]["correct"] >= 0.95


def test_cargo_multivendor_has_the_portal():
    config = load_pilot(ROOT / "pilots" / "cargo-multivendor")
    portal = [scanner for scanner in config.scanners if scanner.format == "ref-packed12"]
    assert [scanner.model for scanner in portal] == ["portal-6/4"]

"""pilots/quickstart end to end through the CLI: its figures against the simulator's ground truth and the
physics, and its report in headless Chromium."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nii.kernels import MaterialClass
from nii.pilot.reference import reference_python
from tests.viewer.browser import browser_page

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    result = subprocess.run(
        [sys.executable, "-m", "nii", "pilot", "run", str(ROOT / "pilots" / "quickstart"), "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    return out, json.loads((out / "results.json").read_text()), result.stdout


@pytest.mark.slow
def test_image_quality_agrees_with_the_physics(quickstart):
    _, results, _ = quickstart
    assert set(results["quality"]) == {"gate-a", "gate-b"}
    for entry in results["quality"].values():
        penetration = entry["penetration_mm"]
        # Measured on the DICOS files of two scans; physics: the noise model on the noise-free truth.
        assert penetration["measured"]["n"] == 2
        assert abs(penetration["measured"]["mean"] - penetration["predicted"]) <= 25.0  # one wall step
        for key in ("mtf50_travel", "mtf50_detector"):
            assert entry[key]["measured"]["mean"] == pytest.approx(entry[key]["predicted"], rel=0.1)
        assert entry["contrast_percent"]["measured"]["mean"] == pytest.approx(
            entry["contrast_percent"]["predicted"], rel=0.35
        )
        materials = entry["materials"]
        assert materials["min_area_density_g_cm2"] == 40  # 6/4 MV tells lead from iron from about 40 g/cm²
        by_class = {MaterialClass(int(c)): share for c, share in materials["correct_by_class"].items()}
        assert set(by_class) == {
            MaterialClass.ORGANIC,
            MaterialClass.INORGANIC,
            MaterialClass.METAL,
            MaterialClass.HIGH_Z,
        }
        assert min(by_class.values()) >= 0.95
    # 9 MV penetrates more steel than 6 MV.
    assert (
        results["quality"]["gate-b"]["penetration_mm"]["predicted"]
        > results["quality"]["gate-a"]["penetration_mm"]["predicted"]
    )


@pytest.mark.slow
def test_one_object_agrees_across_scanners_far_above_unrelated_objects(quickstart):
    out, results, stdout = quickstart
    agreement = results["agreement"]
    assert len(agreement["same_object"]) == 2 and len(agreement["unrelated"]) == 2
    for row in agreement["same_object"]:
        assert row["confidence"] >= 0.9 and row["converged"] and row["ssim"] > 0.9
        assert row["steel_difference_mm"]["median"] < 5.0
        assert row["material_agreement"] > 0.85
        for picture in row["pictures"].values():
            assert Path(picture).is_file() and Path(picture).is_relative_to(out)
    assert max(row["confidence"] for row in agreement["unrelated"]) <= 0.5
    assert "agreement of one object across scanners" in stdout


@pytest.mark.slow
def test_interoperability_and_throughput(quickstart):
    _, results, _ = quickstart
    for name, entry in results["interoperability"].items():
        assert entry["dicos_files"] == entry["dicos_valid"] > 0, entry["errors"]
        reference = entry["reference_toolkit"]  # pyDICOS: installed by .ci/run, found as the pilot finds it
        assert reference["checked"] == (reference_python() is not None)
        if reference["checked"]:
            assert reference["read"] == reference["files"] == entry["dicos_files"], reference["failed"]
        assert entry["round_trips_exact"] == entry["round_trips"] == 6
        assert "processing history" in entry["metadata_not_carried"]
        speed = results["throughput"][name]
        assert speed["rounds"] == 3 and speed["scans_per_s"]["mean"] > 0 and speed["mb_per_s"]["min"] > 0
    # The simulated objects carry threats; ref-rawxml stores none, ref-hdf5 keeps them.
    assert "threats" in results["interoperability"]["gate-a"]["metadata_not_carried"]
    assert "threats" not in results["interoperability"]["gate-b"]["metadata_not_carried"]


@pytest.mark.slow
def test_the_report_is_self_contained_and_shows_the_results(quickstart):
    out, results, _ = quickstart
    page = (out / "report.html").read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    penetration = results["quality"]["gate-a"]["penetration_mm"]["measured"]
    assert f"{penetration['mean']:.1f} ± {penetration['std']:.1f}" in page
    assert page.count("data:image/png;base64,") >= 8


@pytest.mark.slow
def test_the_report_renders_in_headless_chromium(quickstart, tmp_path):
    out, _, _ = quickstart
    with browser_page((out / "report.html").as_uri(), width=1280, height=900, failed_requests=True) as (page, errors):
        images = page.evaluate("Array.from(document.images).map(i => i.naturalWidth)")
        tables = page.evaluate("document.querySelectorAll('table').length")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert errors == []
    assert len(images) >= 8 and min(images) > 0
    assert tables >= 4

import subprocess
import sys

import cv2
import numpy as np

import nii
from nii.simulate import Truth


def run(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def test_simulate_writes_scan_truth_and_preview(tmp_path):
    out = tmp_path / "new" / "scan.npz"
    result = run("simulate", "cargo", "--out", str(out), "--seed", "7", "--rows", "64", "--lines", "160")
    assert result.returncode == 0, result.stderr
    assert "wrote" in result.stdout and "64×160" in result.stdout
    scan = nii.read(out)
    (view,) = scan.views
    assert view.shape == (64, 160) and set(view.channels) == {"high", "low"} and view.calibration.value == "RAW"
    assert scan.scanner.model == "linac-6/4" and scan.inspected_object.container_numbers
    truth = Truth.load(out.parent / "scan.truth")
    assert truth.scan_uid == scan.scan_uid and truth.seed == 7
    assert truth.views["side"].label.shape == (64, 160) and truth.threats
    assert (out.parent / "scan.truth.json").is_file()  # named after the scan: scans in one folder keep theirs
    preview = cv2.imread(str(out.parent / "scan.png"))
    assert preview is not None and preview.shape[2] == 3 and preview.std() > 10

    again = tmp_path / "again" / "scan.npz"
    assert run("simulate", "cargo", "--out", str(again), "--seed", "7", "--rows", "64", "--lines", "160",
               "--no-preview", "--truth", "gt").returncode == 0  # fmt: skip
    assert again.read_bytes() == out.read_bytes()
    assert (again.parent / "gt.npz").is_file() and not (again.parent / "scan.png").exists()
    np.testing.assert_array_equal(Truth.load(again.parent / "gt").views["side"].label, truth.views["side"].label)


def test_simulate_a_12_bit_portal_scan_into_ref_packed12(tmp_path):
    out = tmp_path / "portal.bin"
    result = run("simulate", "truck", "--scanner", "portal-6/4", "--out", str(out), "--format", "ref-packed12",
                 "--rows", "96", "--lines", "200", "--no-preview")  # fmt: skip
    assert result.returncode == 0, result.stderr
    scan = nii.read(out)
    assert scan.provenance.source_format == "ref-packed12" and scan.scanner.model == "portal-6/4"
    view = scan.views[0]
    assert view.shape == (96, 200) and max(int(view.channels[c].max()) for c in ("high", "low")) <= 4095
    positions = view.geometry.line_positions_mm
    assert positions is not None and np.diff(positions).std() > 0  # the vehicle's speed varies
    assert Truth.load(tmp_path / "portal.truth").views["side"].label.shape == (96, 200)


def test_simulate_bad_input(tmp_path):
    unknown = run("simulate", "cargo", "--out", str(tmp_path / "a.npz"), "--scanner", "nope")
    assert unknown.returncode == 2 and "invalid choice" in unknown.stderr
    small = run("simulate", "cargo", "--out", str(tmp_path / "a.npz"), "--rows", "3")
    assert small.returncode == 1
    (line,) = small.stderr.strip().splitlines()
    assert line.startswith("nii: error: a simulated scan needs at least 8 rows and 8 lines, got 3 ×")
    assert not (tmp_path / "a.npz").exists()
    no_format = run("simulate", "steps", "--out", str(tmp_path / "a.xyz"), "--rows", "16", "--lines", "16")
    assert no_format.returncode == 1 and "output format" in no_format.stderr

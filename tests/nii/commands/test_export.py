import subprocess
import sys

import numpy as np
from nii.formats.archive import write_archive
from nii.formats.export import WindowLevel, render_view
from nii.kernels import MaterialClass
from PIL import Image

import nii
from tests.conftest import make_scan


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def test_export_a_view_of_an_archive_scan(tmp_path):
    scans = [make_scan(seed=0), make_scan(seed=1)]
    archive = tmp_path / "two.niih5"
    write_archive(archive, scans)
    out = tmp_path / "top.png"
    result = run_cli(
        "export", str(archive), "--scan", "1", "--view", "top", "--channel", "low", "--window", "30000,40000",
        "--out", str(out),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    with Image.open(out) as picture:
        pixels = np.array(picture)
    expected = render_view(scans[1].view("top"), channel="low", window=WindowLevel(30000, 40000))
    np.testing.assert_array_equal(pixels, expected)


def test_export_sixteen_bit_tiff_from_npz(scan, tmp_path):
    source = tmp_path / "scan.npz"
    nii.write(scan, source)
    out = tmp_path / "side.tiff"
    result = run_cli("export", str(source), "--mode", "16bit", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as picture:
        np.testing.assert_array_equal(np.array(picture), scan.views[0].channels["high"])


def test_export_errors_are_one_line(scan, tmp_path):
    source = tmp_path / "scan.npz"
    nii.write(scan, source)
    result = run_cli("export", str(source), "--scan", "1", "--out", str(tmp_path / "x.png"))
    assert (
        result.returncode == 1
        and result.stderr.strip() == f"nii: error: {source}: --scan needs a multi-scan file; this is npz"
    )
    result = run_cli("export", str(source), "--mode", "16bit", "--out", str(tmp_path / "x.jpg"))
    assert result.returncode == 1 and "JPEG holds 8-bit images only" in result.stderr
    result = run_cli("export", str(source), "--mode", "sepia", "--out", str(tmp_path / "x.png"))
    assert result.returncode == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz"]


def test_false_colour_of_a_view_with_material_classes(tmp_path):
    scan = make_scan()
    side = scan.view("side")
    classes = np.zeros(side.shape, np.uint8)
    classes[:, 20:40] = MaterialClass.ORGANIC
    classes[:, 40:60] = MaterialClass.METAL
    side.channels["material"] = classes
    source = tmp_path / "scan.niih5"
    write_archive(source, [scan])
    out = tmp_path / "side.png"
    result = run_cli("export", str(source), "--mode", "false-colour", "--window", "32768,65536", "--out", str(out))
    assert result.returncode == 0, result.stderr
    with Image.open(out) as picture:
        assert picture.mode == "RGB"
        pixels = np.array(picture)
    np.testing.assert_array_equal(pixels, render_view(side, mode="false-colour", window=WindowLevel(32768, 65536)))
    organic, metal = pixels[:, 20:40].reshape(-1, 3).sum(axis=0), pixels[:, 40:60].reshape(-1, 3).sum(axis=0)
    assert organic[0] > organic[1] > organic[2] and metal[2] > max(metal[0], metal[1])
    top = ["export", str(source), "--view", "top", "--mode", "false-colour", "--out", str(out)]
    result = run_cli(*top)  # the top view has no material channel and "sim-6/4" is no model nii knows
    assert result.returncode == 1 and "needs a 'material' channel or a Zeff table" in result.stderr
    result = run_cli(*top, "--scanner", "linac-6/4")  # raw counts, calibrated with the view's dark and air
    assert result.returncode == 0, result.stderr
    with Image.open(out) as picture:
        assert picture.mode == "RGB" and picture.size == (80, 48)

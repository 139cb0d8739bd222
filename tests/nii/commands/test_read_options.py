"""--profile and reader options on the commands that read: .npy exports of a real-like scanner end to end."""

import json
import subprocess
import sys

import numpy as np

import nii

PROFILE = """
[profile]
name = "portal 6/4 npy"

[data]
container = "npy"
layout = "pixel"
order = "row"
channels = ["high", "low"]
rows = { axis = 0 }
lines = "auto"

[scan]
acquired_at = "file-mtime"

[scanner]
manufacturer = "Example"
energies_kv = { high = 6000, low = 4000 }
"""


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def export(rows, lines, seed):
    rng = np.random.default_rng(seed)
    high = rng.integers(100, 60000, (rows, lines), dtype=np.uint16)
    return high, (high // 3 + 7).astype(np.uint16)


def write_exports(folder):
    """Five files of four sizes, 3-D (rows, lines, 2) and 2-D pixel-interleaved, as one scanner writes them."""
    folder.mkdir()
    sizes = [(16, 40), (16, 52), (20, 40), (24, 31), (16, 40)]
    expected = {}
    for index, (rows, lines) in enumerate(sizes):
        high, low = export(rows, lines, index)
        array = np.stack([high, low], axis=-1)
        np.save(folder / f"truck{index}.npy", array if index % 2 else array.reshape(rows, -1))
        expected[f"truck{index}"] = (high, low)
    (folder / "notes.txt").write_text("not a scan")
    return expected


def test_one_profile_reads_every_size_of_npy_through_info_and_convert(tmp_path):
    expected = write_exports(tmp_path / "exports")
    profile = tmp_path / "portal.toml"
    profile.write_text(PROFILE)
    info = run_cli("info", str(tmp_path / "exports" / "truck3.npy"), "--profile", str(profile), "--json")
    assert info.returncode == 0, info.stderr
    document = json.loads(info.stdout)
    assert document["views"][0]["channels"]["high"]["shape"] == [24, 31]
    assert document["scanner"]["manufacturer"] == "Example"
    assert document["provenance"]["source_format"] == "profile"
    converted = run_cli("convert", str(tmp_path / "exports"), "--profile", str(profile), "--out", str(tmp_path / "d"))
    assert converted.returncode == 0, converted.stderr
    assert "5 converted" in converted.stderr and "0 failed" in converted.stderr
    for name, (high, low) in expected.items():
        scan = nii.read(tmp_path / "d" / name)
        np.testing.assert_array_equal(scan.views[0].channels["high"], high)
        np.testing.assert_array_equal(scan.views[0].channels["low"], low)


def test_npy_without_profile_through_info_convert_and_reader_options(tmp_path):
    expected = write_exports(tmp_path / "exports")
    text = run_cli("info", str(tmp_path / "exports" / "truck1.npy"))
    assert text.returncode == 0, text.stderr
    assert "npy scan" in text.stdout and "16 rows × 52 lines" in text.stdout
    interleaved = run_cli("info", str(tmp_path / "exports" / "truck0.npy"), "--reader-option", "channels=high,low")
    assert interleaved.returncode == 0 and "16 rows × 40 lines" in interleaved.stdout
    converted = run_cli("convert", str(tmp_path / "exports"), "--out", str(tmp_path / "d"), "--to", "npz")
    assert converted.returncode == 0, converted.stderr
    assert "5 converted" in converted.stderr
    np.testing.assert_array_equal(
        nii.read(tmp_path / "d" / "truck3.npz").views[0].channels["low"], expected["truck3"][1]
    )
    picture = run_cli("export", str(tmp_path / "exports" / "truck3.npy"), "--out", str(tmp_path / "t.png"))
    assert picture.returncode == 0, picture.stderr and (tmp_path / "t.png").stat().st_size > 0


def test_an_old_profile_still_reads_a_raw_file_through_the_cli(tmp_path):
    rows, lines = 8, 12
    high, low = export(rows, lines, 9)
    raw = tmp_path / "export.bin"
    raw.write_bytes(np.stack([high.T, low.T], axis=1).astype(">u2").tobytes())  # line-interleaved, big-endian
    profile = tmp_path / "old.toml"
    profile.write_text(
        '[data]\ndtype = "uint16"\nendian = "big"\nlayout = "line"\nchannels = ["high", "low"]\n'
        f'rows = {rows}\nlines = "auto"\n[scan]\nacquired_at = "file-mtime"\n'
    )
    result = run_cli("info", str(raw), "--profile", str(profile), "--json")
    assert result.returncode == 0, result.stderr
    channels = json.loads(result.stdout)["views"][0]["channels"]
    assert channels["low"]["min"] == low.min() and channels["high"]["max"] == high.max()
    wrong = run_cli("info", str(raw), "--profile", str(tmp_path / "missing.toml"))
    assert wrong.returncode == 1 and wrong.stderr.startswith("nii: error: ") and "missing.toml" in wrong.stderr


def test_a_tiff_container_profile_takes_size_and_type_from_the_tags(tmp_path):
    import tifffile

    high, low = export(12, 30, 4)
    path = tmp_path / "export.tif"
    tifffile.imwrite(path, np.stack([high, low], axis=-1).reshape(12, -1).astype(">u2"))
    profile = tmp_path / "tiff.toml"
    profile.write_text(PROFILE.replace('container = "npy"', 'container = "tiff"'))
    result = run_cli("convert", str(path), "--profile", str(profile), "--out", str(tmp_path / "d"), "--to", "npz")
    assert result.returncode == 0, result.stderr
    view = nii.read(tmp_path / "d" / "export.npz").views[0]
    np.testing.assert_array_equal(view.channels["high"], high)
    np.testing.assert_array_equal(view.channels["low"], low)

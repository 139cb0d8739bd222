import json
import subprocess
import sys

import pytest

import nii
from nii.cli import main


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def test_version():
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.strip() == f"nii {nii.__version__}"


def test_info_json_on_written_file(scan, tmp_path):
    path = tmp_path / "scan.npz"
    nii.write(scan, path)
    result = run_cli("info", str(path), "--json")
    assert result.returncode == 0, result.stderr
    info = json.loads(result.stdout)
    assert info["scan_uid"] == scan.scan_uid
    assert info["provenance"]["source_format"] == "npz"
    side = info["views"][0]
    assert side["channels"]["high"]["shape"] == [48, 80] and side["channels"]["high"]["dtype"] == "uint16"
    assert side["geometry"]["detector_spacing_mm"] == 5.0 and side["geometry"]["travel_spacing_mm"] == 4.2
    assert info["inspected_object"]["container_numbers"] == ["CSQU3054383"]
    assert info["threats"][0]["category"] == "CONTRABAND"
    assert "operator" not in info  # personal data only with --personal
    text = run_cli("info", str(path))
    assert "view side" in text.stdout and "CONTRABAND" in text.stdout


@pytest.mark.parametrize("kind", ["empty", "random", "directory", "missing"])
def test_info_bad_input_is_one_line_and_exit_1(tmp_path, kind):
    path = tmp_path / f"{kind}.npz"
    if kind == "empty":
        path.touch()
    elif kind == "random":
        path.write_bytes(bytes((i * 37 + 11) % 256 for i in range(4096)))
    elif kind == "directory":
        path.mkdir()
    result = run_cli("info", str(path))
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("nii: error: ") and str(path) in lines[0]
    assert "Traceback" not in result.stderr


def test_debug_shows_the_traceback(tmp_path):
    result = run_cli("--debug", "info", str(tmp_path / "missing"))
    assert result.returncode == 1 and "Traceback" in result.stderr and "FileAccessError" in result.stderr


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["info"])
    assert exit_info.value.code == 2


def test_formats_lists_read_and_write(capsys):
    assert main(["formats", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["npz"]["read"] and rows["npz"]["write"]

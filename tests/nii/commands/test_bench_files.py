"""``nii bench PATH...``: the user's own files timed over rounds, with the spread and a busy-machine warning."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nii
from nii.simulate import simulate


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def test_own_files_are_timed_with_their_spread(tmp_path):
    scan, _ = simulate("suitcase", seed=2, scale=0.2)
    paths = [tmp_path / "bag.npz", tmp_path / "bag.rh5"]
    nii.write(scan, paths[0])
    nii.write(scan, paths[1], format="ref-hdf5")
    report = tmp_path / "bench.json"
    result = run_cli("bench", *map(str, paths), "--repeats", "2", "--json", str(report), "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    timings = json.loads(report.read_text())
    assert [t["format"] for t in timings] == ["npz", "ref-hdf5"]
    for timing, path in zip(timings, paths, strict=True):
        assert timing["rounds"] >= 2 and timing["seconds_best"] <= timing["seconds_mean"]
        assert timing["input_mb"] == pytest.approx(path.stat().st_size / 1e6)
        assert timing["mb_per_s"] == pytest.approx(timing["input_mb"] / timing["seconds_mean"])
        assert path.name in result.stdout
    assert ("machine was busy" in result.stderr) == any(t["busy"] for t in timings)
    assert not list(tmp_path.glob("nii-bench-*"))  # the converted copies are removed


def test_a_missing_file_is_one_line_error(tmp_path):
    result = run_cli("bench", str(tmp_path / "nothing.npz"))
    assert result.returncode == 1
    assert "nothing.npz" in result.stderr and "Traceback" not in result.stderr

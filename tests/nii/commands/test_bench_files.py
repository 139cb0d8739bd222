"""``nii bench PATH...``: the user's own files timed over rounds, with the spread and a busy-machine warning."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nii
from nii.simulate import simulate
from tests.nii.commands.exports import raw_profile, write_raw_export


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
    assert ("machine busy" in result.stderr) == any(t["busy"] for t in timings)  # MachineLoad's one judgment
    assert not list(tmp_path.glob("nii-bench-*"))  # the converted copies are removed


def test_a_missing_file_is_one_line_error(tmp_path):
    result = run_cli("bench", str(tmp_path / "nothing.npz"))
    assert result.returncode == 1
    assert "nothing.npz" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def raw_exports(tmp_path_factory):
    """A folder of two headerless raw exports (one scan, the second pass entering later) and a note; their profile."""
    folder = tmp_path_factory.mktemp("raw-exports")
    view = simulate("cargo", seed=4, rows=64, lines=200)[0].views[0]
    write_raw_export(folder / "pass1.bin", view)
    write_raw_export(folder / "pass2.bin", view, first_line=9)
    (folder / "notes.txt").write_text("not a scan")
    return folder, raw_profile(folder.parent / "raw.toml", view)


def test_own_raw_exports_are_read_with_the_profile(raw_exports, tmp_path):
    folder, profile = raw_exports
    report = tmp_path / "bench.json"
    command = ["bench", str(folder), "--profile", str(profile), "--repeats", "1", "--dir", str(tmp_path)]
    result = run_cli(*command, "--json", str(report))
    assert result.returncode == 0, result.stderr
    timings = json.loads(report.read_text())
    assert [(t["path"], t["format"]) for t in timings] == [
        (str(folder / n), "profile") for n in ("pass1.bin", "pass2.bin")
    ]
    for timing in timings:
        assert timing["rounds"] >= 1 and timing["input_mb"] == pytest.approx(Path(timing["path"]).stat().st_size / 1e6)
    unread = run_cli("bench", str(folder))  # without the profile nothing in the folder is a scan
    assert unread.returncode == 1 and "no scan found" in unread.stderr
    workloads = run_cli("bench", "cargo", "--profile", str(profile))
    assert workloads.returncode != 0 and "not workloads" in workloads.stderr


def test_reader_options_reach_the_reader_of_own_files(tmp_path):
    view = simulate("cargo", seed=4, rows=32, lines=91)[0].views[0]  # 182 samples a row: not 3 channels
    path = tmp_path / "export.npy"
    np.save(path, np.stack([view.channels["high"], view.channels["low"]], axis=-1).reshape(32, -1))  # interleaved
    timed = run_cli(
        "bench", str(path), "--reader-option", "channels=high,low", "--repeats", "1", "--json", str(tmp_path / "j")
    )
    assert timed.returncode == 0, timed.stderr
    assert json.loads((tmp_path / "j").read_text())[0]["format"] == "npy"
    wrong = run_cli("bench", str(path), "--reader-option", "channels=high,low,extra")
    assert wrong.returncode == 1 and "export.npy" in wrong.stderr and "3 channels" in wrong.stderr


def test_the_workload_bench_saves_its_results_and_says_how_the_machine_treats_free_memory(tmp_path):
    from nii.bench import memory_returned_to_host

    report = tmp_path / "results.json"
    command = [
        "bench",
        "baggage",
        "--no-durable-batch",
        "--repeats",
        "1",
        "--json",
        str(report),
        "--dir",
        str(tmp_path),
    ]
    result = run_cli(*command)
    assert result.returncode == 0, result.stderr
    document = json.loads(report.read_text())
    [baggage] = document["results"]
    assert baggage["workload"] == "baggage" and baggage["durable_batch"] is None
    assert document["machine"]["memory_returned_to_host"] == memory_returned_to_host()
    assert ("returns free memory to its host" in result.stdout) == memory_returned_to_host()
    assert result.stdout.startswith("baggage (") and "the best baseline" in result.stdout

import json
import subprocess
import sys
from dataclasses import replace

import nii
from nii.formats.archive import write_archive
from tests.conftest import make_scan


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def test_info_lists_the_scans_of_an_archive_and_describes_the_chosen_one(tmp_path):
    scans = [make_scan(seed=0), make_scan(seed=1)]
    archive = tmp_path / "two.niih5"
    write_archive(archive, [scans[0], (scans[1], {"label": scans[1].view("side").channels["high"] > 100}, None)])
    result = run_cli("info", str(archive), "--scan", "1")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"{archive}: nii-archive of 2 scans"
    assert lines[1].startswith(f"  [0] {scans[0].scan_uid}  ") and lines[1].endswith("side 48×80, top 48×80, 2 threats")
    assert lines[2].endswith("2 threats, truth label")
    assert lines[3] == f"{archive}[1]: nii-archive scan {scans[1].scan_uid}"
    document = json.loads(run_cli("info", str(archive), "--json").stdout)
    assert [entry["scan_uid"] for entry in document["archive"]] == [s.scan_uid for s in scans]
    assert document["scan_uid"] == scans[0].scan_uid and document["archive"][1]["truth"] == ["label"]


def test_info_of_a_single_scan_file_has_no_archive_list(tmp_path):
    path = tmp_path / "scan.npz"
    nii.write(make_scan(), path)
    document = json.loads(run_cli("info", str(path), "--json").stdout)
    assert "archive" not in document
    refused = run_cli("info", str(path), "--scan", "1")
    assert (
        refused.returncode == 1
        and refused.stderr == f"nii: error: {path}: --scan needs a multi-scan file; this is npz\n"
    )


def test_a_reader_that_goes_away_ends_the_output_quietly(tmp_path):
    scan = make_scan()
    # 3000 threat lines (about 200 kB) fill the pipe long before the reader has read them.
    scan.threats = [replace(scan.threats[1], description=f"item {n}") for n in range(3000)]
    path = tmp_path / "many.npz"
    nii.write(scan, path)
    result = subprocess.run(
        f"'{sys.executable}' -m nii info '{path}' | head -c 10; echo \" ${{PIPESTATUS[0]}}\"",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
    )
    assert result.stdout == str(path)[:10] + " 141\n" and result.stderr == ""

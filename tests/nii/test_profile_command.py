import struct
import subprocess
import sys
from pathlib import Path

import numpy as np

EXAMPLE = Path(__file__).parents[2] / "docs/formats/example-profile.toml"


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def export(path, *, rows=16, lines=20, maximum=16383, extra=b""):
    """A file matching the example profile: 64-byte header, then 8 + 16 + lines BE uint16 line pairs."""
    rng = np.random.default_rng(0)
    samples = rng.integers(0, maximum, (8 + 16 + lines, 2, rows), endpoint=True).astype(">u2")
    header = b"NIIX" + struct.pack("<HHIIq", 1, 0, rows, lines, 1_767_225_600) + bytes(40)
    path.write_bytes(header + samples.tobytes() + extra)
    return path


def test_matching_file_is_ok_and_exits_0(tmp_path):
    path = export(tmp_path / "good.bin")
    result = run_cli("profile", "check", str(EXAMPLE), str(path))
    assert result.returncode == 0, result.stderr
    assert f"{path}: ok with {EXAMPLE}" in result.stdout
    assert "2 channels × 16 rows × 20 lines (+ 8 dark, 16 air lines)" in result.stdout
    assert "MISMATCH" not in result.stdout


def test_mismatches_are_listed_and_exit_1(tmp_path):
    long = export(tmp_path / "long.bin", extra=b"\0\0")
    hot = export(tmp_path / "hot.bin", maximum=65535)
    good = export(tmp_path / "good.bin")
    result = run_cli("profile", "check", str(EXAMPLE), str(long), str(hot), str(good))
    assert result.returncode == 1
    out = result.stdout
    assert f"{long}: 1 mismatch(es)" in out and "MISMATCH file has 2882 bytes, the profile expects 2880" in out
    assert f"{hot}: 2 mismatch(es)" in out and "MISMATCH channel 'high':" in out and "outside [0, 16383]" in out
    assert f"{good}: ok" in out


def test_bad_profile_and_missing_file_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[data]\ndtype = 'uint24'\n")
    result = run_cli("profile", "check", str(bad), str(tmp_path / "x.bin"))
    assert result.returncode == 1 and result.stderr.startswith(f"nii: error: {bad}: profile:")
    result = run_cli("profile", "check", str(EXAMPLE), str(tmp_path / "missing.bin"))
    assert result.returncode == 1 and "missing.bin: no such file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1

"""DICOS written from a vendor's .npy exports (no geometry, no calibration lines) loads in the reference toolkit."""

import subprocess
import sys

import numpy as np
import pytest

from nii.simulate import simulate
from tests.formats.dicos.tools import run_pydicos


@pytest.mark.parametrize("normalize", [None, "attenuate,materials=linac-6/4,steel=linac-6/4"])
def test_reference_toolkit_loads_dicos_made_from_npy_exports(tmp_path, normalize):
    scan, _ = simulate("truck", seed=8, scale=0.15)
    view = scan.views[0]
    counts = [np.clip(view.channels[c] - view.dark[c].mean(axis=1, keepdims=True), 0, None) for c in ("high", "low")]
    (tmp_path / "in").mkdir()
    np.save(tmp_path / "in" / "truck.npy", np.stack(counts, axis=-1).astype(np.uint16))
    command = [sys.executable, "-m", "nii", "convert", str(tmp_path / "in"), "--out", str(tmp_path / "out")]
    result = subprocess.run(command + (["--normalize", normalize] if normalize else []), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "out" / "truck").glob("*.dcs"))
    assert len(files) == (2 if normalize is None else 6)  # + pixel_flags, zeff, material, steel_mm
    reports = run_pydicos("check", tmp_path, *files)
    for path, report in zip(files, reports, strict=True):
        assert report["read"] and report["errors"] == [], (path.name, report["log"], report["errors"])

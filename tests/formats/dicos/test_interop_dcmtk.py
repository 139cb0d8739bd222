"""DCMTK decodes every transfer syntax nii writes, pixel for pixel, and its storescu sends
every kind of file nii writes to its storescp (in a loopback-only network namespace)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

import nii
from nii.model import Scan
from tests.formats.dicos.conftest import make_baggage_scan
from tests.formats.dicos.test_interop_channels import _processed_scan
from tests.formats.dicos.tools import missing, require_program, run

DECODED_BY_DCMTK = {"none": None, "rle": "dcmdrle", "jpeg-lossless": "dcmdjpeg", "jpegls": "dcmdjpls"}
RENDERER = {"jpegls": "dcml2pnm"}
"""dcmj2pnm renders uncompressed, RLE and JPEG files; dcml2pnm JPEG-LS ones."""
PROPOSE = {"none": "-x=", "processed": "-x=", "rle": "-xr", "jpeg-lossless": "-xs", "jpegls": "-xt"}
"""storescu's option proposing each compression's transfer syntax (it converts nothing)."""
"""Compressions nii writes that DCMTK 3.6.7 decodes, with the tool that decompresses them
(its free build has no JPEG 2000 codec: ``j2k`` is checked by pydicom and pyDICOS instead)."""


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, tuple[Scan, Path]]:
    root = tmp_path_factory.mktemp("dcmtk")
    result = {}
    for compression in DECODED_BY_DCMTK:
        scan = make_baggage_scan(large=True)
        nii.write(scan, root / compression, format="dicos", compression=compression)
        result[compression] = (scan, root / compression)
    processed = _processed_scan()
    nii.write(processed, root / "processed", format="dicos")
    result["processed"] = (processed, root / "processed")
    return result


def _expected(scan: Scan, path: Path) -> np.ndarray:
    name = path.stem
    if name.startswith("ct-"):
        return scan.volume(name[3:]).data
    _, view, channel = name.split("-", 2)
    return scan.view(view).channels[channel][None]


def _frame_number(path: Path) -> int:
    """DCMTK names frame k of ``out`` ``out.k.pgm`` (a single frame: ``out``)."""
    parts = path.name.split(".")
    return int(parts[-2]) if len(parts) > 2 and parts[-2].isdigit() else 0


def _read_pgm(path: Path) -> np.ndarray:
    """An ASCII (P2) PGM, as DCMTK writes with ``+opw``."""
    tokens = path.read_text().split()
    assert tokens[0] == "P2"
    width, height = int(tokens[1]), int(tokens[2])
    return np.array(tokens[4:], dtype=np.int64).reshape(height, width)


@pytest.mark.parametrize("compression", [*DECODED_BY_DCMTK, "processed"])
def test_dcmtk_renders_every_frame_with_the_stored_values(written, compression, tmp_path):
    """dcmj2pnm without windowing gives the stored values of every frame of every image."""
    renderer = require_program(RENDERER.get(compression, "dcmj2pnm"))
    scan, folder = written[compression]
    images = sorted(p for p in folder.iterdir() if not p.name.startswith("tdr-"))
    assert images
    for path in images:
        out = tmp_path / path.stem
        result = run(renderer, "+opw", "-W", "+Fa", path, out)
        assert result.returncode == 0, result.stderr
        expected = _expected(scan, path)
        frames = sorted(
            tmp_path.glob(f"{path.stem}*"), key=lambda p: int(p.suffixes[-2][1:]) if len(p.suffixes) > 1 else 0
        )
        assert len(frames) == expected.shape[0], (path, frames)
        for frame, pixels in zip(frames, expected, strict=True):
            np.testing.assert_array_equal(_read_pgm(frame), pixels)


@pytest.mark.parametrize("compression", ["rle", "jpeg-lossless", "jpegls"])
def test_dcmtk_decompresses_to_the_input_pixels(written, compression, tmp_path):
    program = require_program(DECODED_BY_DCMTK[compression] or "")
    scan, folder = written[compression]
    for path in sorted(p for p in folder.iterdir() if not p.name.startswith("tdr-")):
        out = tmp_path / path.name
        result = run(program, path, out)
        assert result.returncode == 0, result.stderr
        decoded = pydicom.dcmread(out)
        assert not decoded.file_meta.TransferSyntaxUID.is_encapsulated
        assert decoded.PixelData == np.ascontiguousarray(_expected(scan, path), "<u2").tobytes()


def test_storescu_sends_every_file_nii_writes_to_storescp(written, tmp_path):
    """DCMTK's storescp has no bind option, so both run in a loopback-only network namespace."""
    storescp, storescu = require_program("storescp"), require_program("storescu")
    for tool in ("unshare", "ip"):
        require_program(tool)
    groups = {compression: sorted(folder.iterdir()) for compression, (_, folder) in written.items()}
    files = [f for group in groups.values() for f in group]
    received = tmp_path / "received"
    received.mkdir()
    sends = "; ".join(
        f'"{storescu}" -R {PROPOSE[compression]} -aec NIISCP 127.0.0.1 11112 '
        + " ".join(f'"{f}"' for f in group)
        + " || status=$?"
        for compression, group in groups.items()
    )
    script = (
        "set -e; ip link set lo up; "
        f'"{storescp}" --accept-all -od "{received}" -aet NIISCP 11112 & scp=$!; '
        "for i in $(seq 50); do echoscu -aec NIISCP 127.0.0.1 11112 2>/dev/null && break; sleep 0.1; done; "
        f"status=0; {sends}; "
        "kill $scp; wait $scp || true; exit $status"
    )
    result = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=300)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        missing("unshare -n is not permitted here (storescp needs a loopback-only namespace)")
    assert result.returncode == 0, result.stderr[-2000:]
    stored = {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in received.iterdir()}
    assert len(stored) == len(files)
    for path in files:
        original = pydicom.dcmread(path)
        copy = pydicom.dcmread(stored[str(original.SOPInstanceUID)])
        assert copy.SOPClassUID == original.SOPClassUID
        assert copy.file_meta.TransferSyntaxUID == original.file_meta.TransferSyntaxUID
        assert copy.get("PixelData") == original.get("PixelData")
        assert copy.get("ThreatSequence") == original.get("ThreatSequence")

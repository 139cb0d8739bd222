"""nii sign / nii verify against dcmtk's dcmsign, both ways, through the CLI."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

import nii
from nii.cli import main
from tests.formats.dicos.tools import require_program, run
from tests.nii.exchange.conftest import CREATED, flip_pixel


@pytest.fixture
def scans(planted: Path, tmp_path: Path) -> Path:
    """Copies of the planted cargo scan, uncompressed and JPEG Lossless (encapsulated pixels)."""
    shutil.copytree(planted / "cargo", tmp_path / "plain")
    nii.write(
        nii.read(planted / "suitcase"),
        tmp_path / "jpeg",
        format="dicos",
        compression="jpeg-lossless",
        created_at=CREATED,
    )
    return tmp_path


def _dcmsign_verify(path: Path, pki: dict[str, Path]) -> int:
    result = run(require_program("dcmsign"), "--verify", "+rg", "+cf", pki["ca"], path)
    return result.returncode


def _change_identifier(path: Path) -> None:
    dataset = pydicom.dcmread(path)
    dataset.PatientID = "MSKU0000000"
    dataset.save_as(path, enforce_file_format=True)


def test_nii_signs_dcmsign_verifies(scans: Path, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    files = sorted(scans.rglob("*.dcs"))
    assert (
        main(["sign", str(scans / "plain"), str(scans / "jpeg"), "--cert", str(pki["cert"]), "--key", str(pki["key"])])
        == 0
    )
    assert f"{len(files)} signed, 0 failed" in capsys.readouterr().err
    for path in files:
        assert _dcmsign_verify(path, pki) == 0, path
    assert main(["verify", str(scans), "--ca", str(pki["ca"])]) == 0
    out = capsys.readouterr().out
    assert out.count("OK: signed by CN=Officer Signer") == len(files) and "trusted" in out
    # Signed files are still valid DICOS that nii reads.
    assert main(["validate", str(scans / "plain"), str(scans / "jpeg")]) == 0
    assert len(nii.read(scans / "jpeg").views) == 2


def test_dcmsign_signs_nii_verifies(scans: Path, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    dcmsign = require_program("dcmsign")
    files = [scans / "plain" / "dx-side-high.dcs", scans / "plain" / "tdr-2.dcs", scans / "jpeg" / "dx-top-low.dcs"]
    for path in files:
        signed = path.with_suffix(".signed")
        result = run(dcmsign, "--sign", pki["key"], pki["cert"], "--mac-sha256", "-pw", path, signed)
        assert result.returncode == 0, result.stderr
        signed.replace(path)
    assert main(["verify", *map(str, files), "--ca", str(pki["ca"])]) == 0
    assert capsys.readouterr().out.count("OK: signed by CN=Officer Signer") == 3


@pytest.mark.parametrize("alter", [flip_pixel, _change_identifier])
@pytest.mark.parametrize("signer", ["nii", "dcmsign"])
def test_alteration_fails_in_both_tools(
    scans: Path, pki: dict[str, Path], signer: str, alter: object, capsys: pytest.CaptureFixture[str]
) -> None:
    path = scans / ("jpeg/dx-side-low.dcs" if alter is flip_pixel else "plain/dx-side-low.dcs")
    if signer == "nii":
        assert main(["sign", str(path), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 0
    else:
        result = run(require_program("dcmsign"), "--sign", pki["key"], pki["cert"], "--mac-sha256", "-pw", path, path)
        assert result.returncode == 0, result.stderr
    assert _dcmsign_verify(path, pki) == 0 and main(["verify", str(path)]) == 0
    alter(path)  # type: ignore[operator]
    assert _dcmsign_verify(path, pki) != 0
    capsys.readouterr()
    assert main(["verify", str(path), "--ca", str(pki["ca"])]) == 1
    assert "FAILED (signature does not match the data" in capsys.readouterr().out


def test_trust_and_unsigned_files(scans: Path, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = scans / "plain" / "dx-side-high.dcs"
    assert main(["verify", str(path)]) == 1
    assert "not signed" in capsys.readouterr().out
    assert main(["sign", str(path), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 0
    assert main(["verify", str(path), "--ca", str(pki["other ca"])]) == 1
    assert "NOT TRUSTED (certificate not issued by a trusted authority)" in capsys.readouterr().out
    assert main(["verify", str(path), "--ca", str(pki["ca"])]) == 0
    # A second signature: both hold, and dcmsign agrees.
    assert main(["sign", str(path), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 0
    capsys.readouterr()
    assert main(["verify", str(path), "--ca", str(pki["ca"])]) == 0
    assert capsys.readouterr().out.count("OK:") == 2
    assert _dcmsign_verify(path, pki) == 0


def test_bad_keys_are_one_line_errors(scans: Path, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    path = str(scans / "plain" / "dx-side-high.dcs")
    assert main(["sign", path, "--cert", str(pki["ca"]), "--key", str(pki["key"])]) == 1
    assert "does not belong to the certificate" in capsys.readouterr().err
    assert main(["sign", path, "--cert", str(pki["key"]), "--key", str(pki["key"])]) == 1
    assert "not a PEM X.509 certificate" in capsys.readouterr().err
    assert main(["verify", path, "--ca", str(scans / "missing.pem")]) == 1
    assert "cannot read the CA file" in capsys.readouterr().err


def test_deidentification_drops_signatures_and_its_output_can_be_signed(
    scans: Path, pki: dict[str, Path], key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signing = ["--cert", str(pki["cert"]), "--key", str(pki["key"])]
    assert main(["sign", str(scans / "plain"), *signing]) == 0
    out = scans / "shared"
    assert main(["deidentify", str(scans / "plain"), "--out", str(out), "--key-file", str(key_file)]) == 0
    files = sorted(out.rglob("*.dcs"))
    assert files and not any(0xFFFAFFFA in pydicom.dcmread(path) for path in files)
    assert main(["verify", str(out)]) == 1
    assert main(["sign", str(out), *signing]) == 0 and main(["verify", str(out), "--ca", str(pki["ca"])]) == 0
    assert all(_dcmsign_verify(path, pki) == 0 for path in files)


def test_implicit_vr_and_unknown_elements(
    scans: Path, pki: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    """Implicit VR: dcmsign-signed files verify; nii asks for Explicit VR, then leaves out the
    elements dcmtk reads as UN (nii's private block, DICOS-only tags), as dcmsign does."""
    dcmconv, dcmsign = require_program("dcmconv"), require_program("dcmsign")
    source = scans / "plain" / "dx-side-high.dcs"
    implicit, explicit = scans / "implicit.dcs", scans / "explicit.dcs"
    assert run(dcmconv, "+ti", source, implicit).returncode == 0
    assert main(["sign", str(implicit), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 1
    assert "convert the file to Explicit VR Little Endian" in capsys.readouterr().err
    signed = scans / "implicit-signed.dcs"
    assert run(dcmsign, "--sign", pki["key"], pki["cert"], "--mac-sha256", "-pw", implicit, signed).returncode == 0
    assert main(["verify", str(signed), "--ca", str(pki["ca"])]) == 0
    assert run(dcmconv, "+te", implicit, explicit).returncode == 0
    assert pydicom.dcmread(explicit)[0x00091001].VR == "UN"
    assert main(["sign", str(explicit), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 0
    assert _dcmsign_verify(explicit, pki) == 0
    signed_tags = pydicom.dcmread(explicit).MACParametersSequence[0].DataElementsSigned
    assert 0x00091001 not in signed_tags and 0x7FE00010 in signed_tags

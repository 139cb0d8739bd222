"""Files the reference DICOS toolkit writes (leading-zero UIDs, JPEG Lossless with OW, TDR labelled JPEG):
de-identified and signed by nii, still loading in the toolkit and verifying with dcmsign."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

from nii.cli import main
from tests.formats.dicos.tools import require_program, run, run_pydicos

FOLDERS = ("dx", "dx_jpeg", "ct", "ct_jpeg")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("reference")
    run_pydicos("write", root)
    return root


def test_reference_files_deidentified_signed_and_still_loading(
    reference: Path,
    key_file: Path,
    pki: dict[str, Path],
    tmp_path: Path,
) -> None:
    out = tmp_path / "shared"
    assert (
        main(
            ["deidentify", *(str(reference / name) for name in FOLDERS), "--out", str(out), "--key-file", str(key_file)]
        )
        == 0
    )
    files = sorted(out.rglob("*.dcs"))
    assert len(files) == 5
    for path in files:
        data = path.read_bytes()
        assert b"MSCU1234565" not in data and b"20240517" not in data
        dataset = pydicom.dcmread(path)
        source = pydicom.dcmread(reference / path.relative_to(out))
        assert dataset.PatientIdentityRemoved == "YES" and dataset.get("PixelData") == source.get("PixelData")
        assert str(dataset.SOPInstanceUID).startswith("2.25.") and dataset.SOPInstanceUID != source.SOPInstanceUID
    report = pydicom.dcmread(out / "dx" / "tdr.dcs")
    image = pydicom.dcmread(out / "dx" / "dx.dcs")
    assert {str(item.ReferencedSOPInstanceUID) for item in report.ReferencedStudySequence} == {
        str(image.SOPInstanceUID)
    }
    assert report.StudyInstanceUID == image.StudyInstanceUID

    assert main(["sign", str(out), "--cert", str(pki["cert"]), "--key", str(pki["key"])]) == 0
    for path in files:
        assert run(require_program("dcmsign"), "--verify", "+rg", "+cf", pki["ca"], path).returncode == 0, path
    assert main(["verify", str(out), "--ca", str(pki["ca"])]) == 0
    checks = run_pydicos("check", tmp_path, *files)
    assert [(check["read"], check["errors"]) for check in checks] == [(True, [])] * len(files)

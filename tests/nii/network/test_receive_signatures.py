"""`nii receive --require-signature`: DCMTK's storescu sends files signed by dcmsign and by `nii sign`; only
those with a valid signature from a trusted signer are stored (127.0.0.1 only)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pydicom
import pytest

import nii
from nii.cli import main
from nii.simulate import simulate
from tests.formats.dicos.tools import require_program, run, system_program
from tests.nii.exchange.conftest import flip_pixel, pki  # noqa: F401 (pki: the fixture)

from .test_receive import assert_still_serving, received, storescu
from .tools import ReceiverProcess, dataset_bytes, every_file

pytestmark = pytest.mark.skipif(system_program("storescu") is None, reason="DCMTK is not installed")


@pytest.fixture(scope="module")
def scan_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A small simulated suitcase as DICOS: DX views and a threat report."""
    folder = tmp_path_factory.mktemp("signed") / "suitcase"
    suitcase, _ = simulate("suitcase", seed=2, rows=16, lines=24)
    nii.write(suitcase, folder, format="dicos")
    return sorted(folder.glob("*.dcs"))


@pytest.fixture(scope="module")
def signing_receiver(tmp_path_factory: pytest.TempPathFactory, pki: dict[str, Path]):  # noqa: F811
    store = tmp_path_factory.mktemp("signed-store")
    process = ReceiverProcess(store, "--ae-title", "NIISCP", "--require-signature", "--trust", pki["ca"]).start()
    yield process
    assert process.stop() == 0


def copies(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir()
    return [Path(shutil.copy(path, folder / path.name)) for path in files]


def dcmsign(path: Path, key: Path, certificate: Path) -> None:
    result = run(require_program("dcmsign"), "--sign", key, certificate, "--mac-sha256", "-pw", path, path)
    assert result.returncode == 0, result.stderr


def nii_sign(path: Path, key: Path, certificate: Path) -> None:
    assert main(["sign", str(path), "--cert", str(certificate), "--key", str(key)]) == 0


def test_signed_objects_are_stored_byte_for_byte(signing_receiver, scan_files, pki, tmp_path):  # noqa: F811
    by_dcmsign = copies(scan_files[:2], tmp_path / "dcmsign")
    by_nii = copies(scan_files[2:], tmp_path / "nii")
    for path in by_dcmsign:
        dcmsign(path, pki["key"], pki["cert"])
    for path in by_nii:
        nii_sign(path, pki["key"], pki["cert"])
    sent = by_dcmsign + by_nii
    result = storescu(signing_receiver.port, sent)
    assert result.returncode == 0, result.stderr
    for path in sent:
        stored = received(signing_receiver.store, path)
        assert dataset_bytes(stored) == dataset_bytes(path), path.name
        verified = run(require_program("dcmsign"), "--verify", "+rg", "+cf", pki["ca"], stored)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert f"stored {stored}" in signing_receiver.log


REFUSALS = {
    "unsigned": "not signed",
    "tampered after dcmsign": "signature does not match the data",
    "tampered after nii sign": "signature does not match the data",
    "signed by a stranger (dcmsign)": "certificate not issued by a trusted authority",
    "signed by a stranger (nii sign)": "certificate not issued by a trusted authority",
    "signed, sent in Implicit VR": "signature fails on Implicit VR data",  # the signed VRs are lost
}


def test_unsigned_tampered_and_untrusted_objects_are_refused(signing_receiver, scan_files, pki, tmp_path):  # noqa: F811
    original = scan_files[0]
    cases = {}
    for index, case in enumerate(REFUSALS):
        path = Path(shutil.copy(original, tmp_path / f"{index}.dcs"))
        if "stranger" in case:
            (dcmsign if "dcmsign" in case else nii_sign)(path, pki["stranger key"], pki["stranger cert"])
        elif "tampered" in case:
            (dcmsign if "dcmsign" in case else nii_sign)(path, pki["key"], pki["cert"])
            flip_pixel(path)
        elif "Implicit" in case:
            dcmsign(path, pki["key"], pki["cert"])
        cases[case] = path
    before = every_file(signing_receiver.store)
    for case, path in cases.items():
        implicit = ["-xi"] if "Implicit" in case else []  # storescu converts the file
        result = storescu(signing_receiver.port, [path], "-d", *implicit)  # -d: the response's status and comment
        assert "DIMSE Status                  : 0x0124: Refused: Not authorized" in result.stderr, case
        comment = next(line for line in result.stderr.splitlines() if "ErrorComment" in line)
        assert f"[{REFUSALS[case]}" in comment, (case, comment)
        instance = pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID
        refusal = [line for line in signing_receiver.log.splitlines() if f"refused {instance}" in line]
        assert refusal and REFUSALS[case] in refusal[-1], (case, signing_receiver.log)
    assert every_file(signing_receiver.store) == before  # nothing stored, nothing left half-written
    assert_still_serving(signing_receiver)
    signed = Path(shutil.copy(original, tmp_path / "signed.dcs"))
    nii_sign(signed, pki["key"], pki["cert"])
    assert storescu(signing_receiver.port, [signed]).returncode == 0
    assert dataset_bytes(received(signing_receiver.store, signed)) == dataset_bytes(signed)


def test_signatures_need_a_trusted_certificate(tmp_path, capsys):
    store = tmp_path / "store"
    store.mkdir()
    assert main(["receive", "--port", "0", "--store", str(store), "--require-signature"]) == 1
    assert "--require-signature and --trust go together" in capsys.readouterr().err
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    assert main(["receive", "--port", "0", "--store", str(store), "--require-signature", "--trust", str(empty)]) == 1
    assert "not PEM certificates" in capsys.readouterr().err

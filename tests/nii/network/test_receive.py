"""`nii receive` against DCMTK's echoscu and storescu, and its refusals (127.0.0.1 only)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest

import nii
from nii.formats.dicos.validate import validate_file
from tests.conftest import make_scan
from tests.formats.dicos.tools import require_program, run_pydicos, system_program

from .conftest import COMPRESSIONS
from .tools import dataset_bytes, every_file, nii_command

pytestmark = pytest.mark.skipif(system_program("storescu") is None, reason="DCMTK is not installed")

PROPOSE = {"none": "-xe", "rle": "-xr", "jpeg-lossless": "-xs", "jpegls": "-xt", "j2k": "-xv"}
"""storescu's option proposing each transfer syntax nii writes (with -R: only the files' own classes)."""


def storescu(port: int, files: list[Path], *options: str, aet: str = "STORESCU") -> subprocess.CompletedProcess[str]:
    command = [
        require_program("storescu"),
        "-R",
        *options,
        "-aet",
        aet,
        "-aec",
        "NIISCP",
        "127.0.0.1",
        str(port),
        *map(str, files),
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def nii_send(port: int, *paths: Path, report: Path, aet: str = "NII") -> subprocess.CompletedProcess[str]:
    command = nii_command(
        "send", *paths, "--to", f"127.0.0.1:{port}", "--called-ae", "NIISCP", "--calling-ae", aet,
        "--report", report, "--retries", "1", "--backoff", "0.1",
    )  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def received(store: Path, sent: Path) -> Path:
    header = pydicom.dcmread(sent, stop_before_pixels=True)
    return store / str(header.StudyInstanceUID) / f"{header.SOPInstanceUID}.dcs"


def assert_still_serving(receiver) -> None:
    echo = subprocess.run(
        [require_program("echoscu"), "-aec", "NIISCP", "127.0.0.1", str(receiver.port)], capture_output=True
    )
    assert echo.returncode == 0, echo.stderr


def test_echoscu_gets_success(receiver):
    result = subprocess.run(
        [require_program("echoscu"), "-v", "-aec", "NIISCP", "127.0.0.1", str(receiver.port)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Received Echo Response (Success)" in result.stderr


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_storescu_every_transfer_syntax_arrives_unchanged(receiver, dicos, compression):
    sent = sorted((dicos / f"bag-{compression}").glob("*.dcs"))
    result = storescu(receiver.port, sent, PROPOSE[compression])
    assert result.returncode == 0, result.stderr
    for path in sent:
        stored = received(receiver.store, path)
        assert dataset_bytes(stored) == dataset_bytes(path), path.name
        meta = pydicom.dcmread(stored, stop_before_pixels=True).file_meta
        assert meta[0x00020004].value == "V03"  # restored: DICOS readers need it, the transfer drops it
        assert meta.TransferSyntaxUID == pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
        assert validate_file(stored).ok
    scan_folder = received(receiver.store, sent[0]).parent
    original, copy = nii.read(dicos / f"bag-{compression}"), nii.read(scan_folder)
    for a, b in zip(original.views, copy.views, strict=True):
        for channel in a.channels:
            np.testing.assert_array_equal(b.channels[channel], a.channels[channel])
    np.testing.assert_array_equal(copy.volumes[0].data, original.volumes[0].data)
    assert "association from STORESCU@127.0.0.1" in receiver.log


def test_ae_title_not_allowed_is_rejected(receiver, dicos):
    before = every_file(receiver.store)
    result = storescu(receiver.port, sorted((dicos / "suitcase").glob("*.dcs")), aet="INTRUDER")
    assert result.returncode != 0 and "Association Rejected" in result.stderr
    assert "Calling AE Title Not Recognized" in result.stderr
    assert every_file(receiver.store) == before
    assert "INTRUDER" in receiver.log
    assert_still_serving(receiver)


def test_non_dicos_sop_class_is_refused(receiver, tmp_path):
    """A plain DICOM CT image: its SOP class is not offered, so no context is accepted."""
    dataset = pydicom.Dataset()
    dataset.SOPClassUID = pydicom.uid.CTImageStorage
    dataset.SOPInstanceUID = pydicom.uid.generate_uid()
    dataset.StudyInstanceUID = pydicom.uid.generate_uid()
    dataset.Modality = "CT"
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    path = tmp_path / "ct.dcm"
    dataset.save_as(path, enforce_file_format=True)
    before = every_file(receiver.store)
    result = storescu(receiver.port, [path])
    assert result.returncode != 0 and "No Acceptable Presentation Contexts" in result.stderr
    assert every_file(receiver.store) == before
    assert_still_serving(receiver)


def _send_one_refused(receiver, path: Path, tmp_path: Path) -> dict:
    before = every_file(receiver.store)
    report = tmp_path / "report.json"
    result = nii_send(receiver.port, path, report=report)
    assert result.returncode == 1
    (row,) = json.loads(report.read_text())
    assert row["status"] == "failed"
    assert every_file(receiver.store) == before
    assert_still_serving(receiver)
    return row


def test_non_conformant_dicos_is_refused_with_a900(receiver, dicos, tmp_path):
    """A DX with a DICOS SOP class but without what DICOS requires (OOI Type, KVP)."""
    dataset = pydicom.dcmread(dicos / "suitcase" / "dx-side-high.dcs")
    for keyword in ("OOIType", "KVP"):
        delattr(dataset, keyword)
    dataset.SOPInstanceUID = pydicom.uid.generate_uid(prefix="2.25.")
    path = tmp_path / "bad.dcs"
    dataset.save_as(path, enforce_file_format=True)
    row = _send_one_refused(receiver, path, tmp_path)
    assert row["code"] == "0xA900"
    assert "refused" in receiver.log and dataset.SOPInstanceUID in receiver.log


def test_corrupt_object_is_refused_with_c000(receiver, dicos, tmp_path):
    """Valid file meta, then a dataset whose first element claims 65535 bytes of a 2-byte length."""
    source = dicos / "suitcase" / "dx-side-high.dcs"
    data, body = source.read_bytes(), bytearray(dataset_bytes(source))
    body[6:8] = b"\xff\xff"  # explicit VR: tag (4 bytes), VR (2), length (2)
    path = tmp_path / "corrupt.dcs"
    path.write_bytes(data[: len(data) - len(body)] + bytes(body))
    row = _send_one_refused(receiver, path, tmp_path)
    assert row["code"] == "0xC000"


def test_oversized_object_is_refused_with_a700(receiver, tmp_path):
    scan = make_scan(200, 300, seed=5)  # 120 kB a DX file, over the receiver's 100 kB limit
    files = nii.write(scan, tmp_path / "big", format="dicos")
    row = _send_one_refused(receiver, files[0], tmp_path)
    assert row["code"] == "0xA700"
    assert "over the limit" in receiver.log


def test_an_object_far_over_the_limit_is_cut_off_as_it_arrives(receiver, tmp_path):
    """pynetdicom collects a C-STORE's data set in memory before the handler sees it: an object far over
    the limit ends its association once the limit (and two PDUs of slack) have arrived, not once it is whole."""
    scan = make_scan(2000, 2000, seed=6)  # 8 MB a DX file, the receiver's limit 100 kB
    [file, *_] = nii.write(scan, tmp_path / "huge", format="dicos")
    before = every_file(receiver.store)
    done = storescu(receiver.port, [file])
    assert done.returncode != 0
    assert every_file(receiver.store) == before
    [line] = [line for line in receiver.log.splitlines() if "aborting the association" in line]
    arrived = int(re.search(r"an object passed (\d+) bytes, over the limit 100000", line)[1])
    assert arrived < file.stat().st_size / 2  # cut off early: about 2 MB of 8 MB arrived
    assert_still_serving(receiver)


def test_reference_toolkit_loads_what_nii_receives(receiver, dicos, tmp_path):
    """The restored (0002,0004) matters: the reference DX reader fails without it."""
    sent = sorted((dicos / "bag-jpeg-lossless").glob("*.dcs"))
    assert storescu(receiver.port, sent, "-xs").returncode == 0
    files = [received(receiver.store, path) for path in sent]
    reports = run_pydicos("check", tmp_path, *files)
    assert len(reports) == len(files)
    for path, report in zip(files, reports, strict=True):
        assert report["read"] and report["errors"] == [], (path, report["log"])

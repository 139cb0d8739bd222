"""nii deidentify and nii convert --deidentify, through the CLI, on scans with planted identifiers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset

import nii
from nii.cli import main
from nii.exchange.deidentify import Deidentifier, action_table
from tests.formats.dicos.tools import run_pydicos
from tests.nii.exchange.conftest import ACQUIRED, PLANTED


def _deidentify(planted: Path, out: Path, key: Path, *extra: str) -> list[Path]:
    code = main(
        [
            "deidentify",
            str(planted / "cargo"),
            str(planted / "suitcase"),
            "--out",
            str(out),
            "--key-file",
            str(key),
            *extra,
        ]
    )
    assert code == 0
    return sorted(out.rglob("*.dcs"))


def _strings(item: Dataset) -> Iterator[str]:
    """Every value of every element, nested and private ones included, as text."""
    for element in item:
        if element.VR == "SQ":
            for child in element.value:
                yield from _strings(child)
        elif isinstance(element.value, bytes):
            yield element.value.decode("latin-1")
        else:
            yield str(element.value)


@pytest.fixture(scope="module")
def deidentified(planted: Path, key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("deidentified")
    report = out.parent / "report.json"
    files = _deidentify(planted, out, key_file, "--report", str(report))
    rows = json.loads(report.read_text())
    assert len(rows) == len(files) == len(list(planted.rglob("*.dcs"))) == 11
    assert all(row["status"] == "ok" and row["actions"]["removed"] > 0 for row in rows)
    return files


def test_no_planted_identifier_survives_anywhere(deidentified: list[Path]) -> None:
    kinds = {str(pydicom.dcmread(path, stop_before_pixels=True).Modality) for path in deidentified}
    assert kinds == {"XRAY", "CT", "TDR"}
    for path in deidentified:
        data = path.read_bytes()
        values = "\n".join(_strings(pydicom.dcmread(path)))
        for name, value in PLANTED.items():
            assert value.encode() not in data, f"{name} ({value}) is still in the bytes of {path}"
            assert value.lower() not in values.lower(), f"{name} ({value}) is still in an element of {path}"
        dataset = pydicom.dcmread(path)
        assert not [element.tag for element in dataset if element.tag.group == 0x0011], "foreign private block kept"
        assert not any(tag >> 16 == 0x4010 and tag in dataset for tag in (0x40101047, 0x40101051, 0x4010101A))


def test_records_what_was_done(deidentified: list[Path]) -> None:
    for path in deidentified:
        dataset = pydicom.dcmread(path)
        assert dataset.PatientIdentityRemoved == "YES"
        assert dataset.LongitudinalTemporalInformationModified == "REMOVED"
        codes = {(item.CodeValue, item.CodingSchemeDesignator) for item in dataset.DeidentificationMethodCodeSequence}
        assert codes == {("113100", "DCM"), ("113111", "DCM")}
        assert "PS3.15" in " ".join(dataset.DeidentificationMethod)
        assert dataset.file_meta.MediaStorageSOPInstanceUID == dataset.SOPInstanceUID


def test_pixels_untouched_and_references_hold(planted: Path, key_file: Path, deidentified: list[Path]) -> None:
    by_name = {path.relative_to(path.parents[1]): path for path in deidentified}
    for source in sorted(planted.rglob("*.dcs")):
        before, after = pydicom.dcmread(source), pydicom.dcmread(by_name[source.relative_to(planted)])
        assert before.get("PixelData") == after.get("PixelData")
        assert before.SOPInstanceUID != after.SOPInstanceUID and before.StudyInstanceUID != after.StudyInstanceUID
    for folder in ("cargo", "suitcase"):
        files = [pydicom.dcmread(path) for path in deidentified if path.parent.name == folder]
        instances = {str(ds.SOPInstanceUID) for ds in files}
        assert len({str(ds.StudyInstanceUID) for ds in files}) == 1
        assert len({str(ds.FrameOfReferenceUID) for ds in files}) == 1
        for report in (ds for ds in files if ds.Modality == "TDR"):
            referenced = {str(item.ReferencedSOPInstanceUID) for item in report.ReferencedStudySequence}
            assert referenced and referenced <= instances
        scan = nii.read(deidentified[0].parent.parent / folder)  # nii reads the scan back: threats on their views
        assert len(scan.threats) == 2 and scan.operator is None
        # The site's name becomes a pseudonym (the reference reader needs an organisation name).
        assert scan.site.name == Deidentifier(key_file.read_bytes()).pseudonym(f"Port of {PLANTED['site']}")
        assert scan.inspected_object.container_numbers == ()


def test_pseudonyms_stable_across_runs_and_keyed(
    planted: Path, key_file: Path, deidentified: list[Path], tmp_path: Path
) -> None:
    again = _deidentify(planted, tmp_path / "again", key_file)
    assert [path.read_bytes() for path in again] == [path.read_bytes() for path in deidentified]
    first = pydicom.dcmread(deidentified[0])
    expected = Deidentifier(key_file.read_bytes())
    assert first.PatientID == expected.pseudonym(PLANTED["container"])
    # The suitcase's identifier is the same container number: the same pseudonym in another scan.
    suitcase = next(pydicom.dcmread(path) for path in deidentified if path.parent.name == "suitcase")
    assert suitcase.PatientID == first.PatientID
    other_key = tmp_path / "other.key"
    other_key.write_bytes(b"another secret key, 32 bytes....")
    other = pydicom.dcmread(_deidentify(planted, tmp_path / "other", other_key)[0])
    assert other.PatientID != first.PatientID and other.StudyInstanceUID != first.StudyInstanceUID
    assert other.SOPInstanceUID != first.SOPInstanceUID


def test_keep_dates_device_and_institution(planted: Path, key_file: Path, tmp_path: Path) -> None:
    files = _deidentify(planted, tmp_path, key_file, "--keep", "dates,device,institution")
    shift = Deidentifier(key_file.read_bytes()).day_shift
    expected = (ACQUIRED.date() + shift).strftime("%Y%m%d")
    for path in files:
        dataset = pydicom.dcmread(path)
        assert dataset.StudyDate == expected and dataset.SeriesDate == expected and dataset.AcquisitionDate == expected
        assert 0x4010100A not in dataset  # route segments (with their times) stay removed
        assert (
            date(2021, 5, 1) <= date.fromisoformat(f"{expected[:4]}-{expected[4:6]}-{expected[6:]}") < ACQUIRED.date()
        )
        assert dataset.DeviceSerialNumber == PLANTED["serial"] and dataset.StationName == PLANTED["machine"]
        assert dataset.InstitutionName == f"Port of {PLANTED['site']}"
        assert PLANTED["address"] in dataset.InstitutionAddress
        assert PLANTED["container"].encode() not in path.read_bytes()
        assert dataset.LongitudinalTemporalInformationModified == "MODIFIED"
        codes = {item.CodeValue for item in dataset.DeidentificationMethodCodeSequence}
        assert codes == {"113100", "113107", "113109", "113111", "113112"}
        if dataset.Modality == "XRAY":
            assert PLANTED["country"].encode() in path.read_bytes()  # nii's private JSON keeps the site's country


def test_deidentified_files_validate_and_load_in_the_reference_toolkit(deidentified: list[Path]) -> None:
    assert main(["validate", *map(str, deidentified)]) == 0
    reports = run_pydicos("check", deidentified[0].parents[1], *deidentified)
    assert [(r["read"], r["errors"]) for r in reports] == [(True, [])] * len(deidentified)


def test_convert_deidentify(planted: Path, key_file: Path, tmp_path: Path) -> None:
    source = tmp_path / "in"
    source.mkdir()
    nii.write(nii.read(planted / "cargo"), source / "cargo.npz")
    code = main(["convert", str(source), "--out", str(tmp_path / "out"), "--deidentify", str(key_file)])
    assert code == 0
    files = sorted((tmp_path / "out").rglob("*"))
    assert [path.name for path in files] == ["cargo", "dx-side-high.dcs", "dx-side-low.dcs", "tdr-1.dcs", "tdr-2.dcs"]
    for path in files[1:]:
        for name, value in PLANTED.items():
            if name not in (
                "foreign private",
                "owner",
                "itinerary",
                "route",
                "carrier",
                "boarding pass",
                "route segment",
            ):
                assert value.encode() not in path.read_bytes(), f"{name} in {path}"
        assert pydicom.dcmread(path).PatientIdentityRemoved == "YES"
    assert main(["validate", str(tmp_path / "out" / "cargo")]) == 0


def test_bad_inputs(planted: Path, key_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.key"
    short.write_bytes(b"too short")
    assert main(["deidentify", str(planted / "cargo"), "--out", str(tmp_path / "a"), "--key-file", str(short)]) == 1
    assert "needs 16" in capsys.readouterr().err
    junk = tmp_path / "junk.dcs"
    junk.write_bytes(b"not dicom")
    args = ["deidentify", str(junk), str(planted / "cargo"), "--out", str(tmp_path / "b"), "--key-file", str(key_file)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "junk.dcs" in err and "4 de-identified, 1 failed" in err
    assert not (tmp_path / "b" / "junk.dcs").exists() and len(list((tmp_path / "b" / "cargo").iterdir())) == 4
    burned = tmp_path / "burned.dcs"
    dataset = pydicom.dcmread(planted / "cargo" / "dx-side-high.dcs")
    dataset.BurnedInAnnotation = "YES"
    dataset.save_as(burned, enforce_file_format=True)
    assert main(["deidentify", str(burned), "--out", str(tmp_path / "c"), "--key-file", str(key_file)]) == 1
    assert "Burned In Annotation is YES" in capsys.readouterr().err and not (tmp_path / "c" / "burned.dcs").exists()
    assert main([*args, "--keep", "colour"]) == 1
    assert "colour" in capsys.readouterr().err


def test_action_table_rows_are_well_formed() -> None:
    table = action_table()
    assert len(table) > 450
    assert {rule.source for rule in table.values()} == {"PS3.15 E.1-1", "DICOS", "nii"}
    departures = set()
    for rule in table.values():
        assert set(rule.basic.split("/")) <= {"X", "Z", "D", "K", "U"}, rule
        assert rule.dicos in ("", "X", "Z", "D", "K", "U"), rule
        if rule.dicos and rule.dicos not in rule.basic.split("/"):
            departures.add(rule.keyword)
    # Where the reference toolkit needs a value the standard would remove (docs/exchange.md lists them).
    assert departures == {
        "StudyDate",
        "StudyTime",
        "PatientID",
        "IssuerOfPatientID",
        "PatientSex",
        "StudyID",
        "InstitutionAddress",
        "ReferencedStudySequence",
    }

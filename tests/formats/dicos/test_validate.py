"""The DICOS validator and ``nii validate``: what nii writes passes, each rule catches its case."""

from __future__ import annotations

import json

import numpy as np
import pydicom
import pytest

import nii
from nii.cli import main
from nii.formats.dicos.validate import validate_file, validate_paths
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan


@pytest.fixture
def folder(tmp_path):
    nii.write(make_baggage_scan(), tmp_path / "scan.dicos")
    return tmp_path / "scan.dicos"


def _edit(path, change):
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path, enforce_file_format=True)


def _messages(path, **options):
    return [(f.tag, f.message) for f in validate_file(path, **options).errors]


def test_everything_nii_writes_is_valid(folder):
    reports = validate_paths([folder])
    assert [r.iod for r in reports] == ["CT", "DX", "DX", "DX", "DX", "TDR", "TDR"]
    assert all(r.ok for r in reports), [r.as_dict() for r in reports if not r.ok]
    assert all(not r.warnings for r in reports)


def test_missing_required_attributes_and_empty_values(folder):
    path = folder / "dx-side-high.dcs"

    def damage(ds):
        del ds.OOIType
        del ds[0x43000902]
        ds.PatientID = ""
        ds.KVP = None
        ds.PatientSex = ""

    _edit(path, damage)
    errors = _messages(path)
    assert ("OOIType (4010,1042)", "required attribute is missing") in errors
    assert ("DICOSEffectiveEnergy (4300,0902)", "required attribute is missing") in errors
    assert ("PatientID (0010,0020)", "must have a value (the reference reader refuses it empty)") in errors
    assert ("KVP (0018,0060)", "must have a value (the reference reader refuses it empty)") in errors
    assert ("PatientSex (0010,0040)", "present but empty (the reference reader refuses it)") in errors


def test_meta_version_and_enumerations(folder):
    path = folder / "dx-side-low.dcs"

    def damage(ds):
        del ds.file_meta[0x00020004]
        ds.DICOSVersion = "V04"
        ds[0x00080118].value = "CAMERA"
        ds.ImageType = ["ORIGINAL", "BRIGHT"]
        ds.PresentationIntentType = "FOR PRESENTATION"

    _edit(path, damage)
    errors = dict(_messages(path))
    assert "reference DX reader fails" in errors["DICOSMetaVersion (0002,0004)"]
    assert "V04" in errors["DICOSVersion (4010,103A)"]
    assert "'CAMERA' is not one of MACHINE, SYNTHETIC, AUGMENTED" in errors["MappingResourceUID (0008,0118)"]
    assert "Window Center/Width" in errors["WindowCenter (0028,1050)"]
    # The reference reader takes any Image Type value 2 (V02 files say PRIMARY): a warning.
    warnings = {f.tag: f.message for f in validate_file(path).warnings}
    assert "BRIGHT" in warnings["ImageType (0008,0008)"]


def test_tdr_semantics(folder):
    path = folder / "tdr-1.dcs"

    def damage(ds):
        ds.NumberOfTotalObjects = 3
        ds.NumberOfAlarmObjects = 0
        ds.AlarmDecision = "CLEAR"
        ds.ThreatSequence[0].ATDAssessmentSequence[0].ATDAssessmentProbability = 1.5
        reference = ds.ThreatSequence[0].PTORepresentationSequence[0].ReferencedInstanceSequence[0]
        reference.ReferencedSOPInstanceUID = "2.25.1"
        del ds.ThreatSequence[0][0x40101082]
        ds[0x40101075].value = 0.0

    _edit(path, damage)
    report = validate_paths([folder])[5]
    assert report.path == path
    errors = [f"{f.tag} {f.message}" for f in report.errors]
    assert "NumberOfTotalObjects (4010,1033) says 3 but the report has 1 PTOs" in errors
    assert "NumberOfAlarmObjects (4010,1034) says 0 but 1 PTOs are THREAT or HIGH_THREAT" in errors
    assert "AlarmDecision (4010,1031) CLEAR with 1 THREAT/HIGH_THREAT PTOs" in [
        f"{f.tag} {f.message}" for f in report.warnings
    ]  # the reference tolerates it (an officer may clear a machine's threat)
    assert "ATDAssessmentProbability (4010,1016) PTO 1: probability 1.5 is neither in [0, 1] nor -1" in errors
    assert "ReferencedSOPInstanceUID (0008,1155) PTO 1: references 2.25.1, which is no image of this scan" in errors
    assert "PTOTotalProcessingTime (4010,1082) PTO 1: required attribute is missing" in errors
    assert "ImageScaleRepresentation (4010,1075) must be > 0" in errors


def test_alarm_without_alarm_objects_and_ds_image_scale(folder):
    path = folder / "tdr-2.dcs"

    def damage(ds):
        ds.AlarmDecision = "ALARM"
        del ds[0x40101075]
        ds.add_new(0x40101075, "DS", "1.0")

    _edit(path, damage)
    errors = dict(_messages(path))
    warnings = {f.tag: f.message for f in validate_file(path).warnings}
    assert warnings["AlarmDecision (4010,1031)"] == "ALARM without any THREAT/HIGH_THREAT PTO"
    assert "must be FD" in errors["ImageScaleRepresentation (4010,1075)"]


def test_reference_quirks_are_warnings(tmp_path):
    scan = make_scan(20, 32)
    scan.volumes = [nii.model.Volume("ct", np.zeros((2, 3, 4), np.uint16))]
    nii.write(scan, tmp_path / "s.dicos")
    ct = tmp_path / "s.dicos" / "ct-ct.dcs"

    def quirks(ds):
        del ds.NumberOfFrames
        ds.add_new(0x00280008, "US", 2)
        ds.SOPInstanceUID = "0995258432.40471.16154.096030"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID

    with pytest.warns(UserWarning, match="Invalid value for VR UI"):  # pydicom, writing the quirk
        _edit(ct, quirks)
    report = validate_file(ct)
    assert report.ok
    warnings = {f.tag: f.message for f in report.warnings}
    assert "DCMTK then sees only one frame" in warnings["NumberOfFrames (0028,0008)"]
    assert "not a valid DICOM UID" in warnings["SOPInstanceUID (0008,0018)"]


def test_unreadable_and_foreign_files_cannot_be_validated(tmp_path, capsys):
    (tmp_path / "junk.dcs").write_bytes(b"\0" * 200)
    junk = validate_file(tmp_path / "junk.dcs")
    assert not junk.ok and "DICM" in (junk.failed or "")
    assert "cannot read" in (validate_file(tmp_path / "missing.dcs").failed or "")
    assert main(["validate", str(tmp_path / "junk.dcs")]) == 2
    assert "cannot validate" in capsys.readouterr().out


def test_cli_exit_codes_and_json(folder, capsys):
    assert main(["validate", str(folder)]) == 0
    assert "dx-side-high.dcs: DX V03 OK" in capsys.readouterr().out
    _edit(folder / "tdr-1.dcs", lambda ds: setattr(ds, "NumberOfAlarmObjects", 5))
    assert main(["validate", "--json", str(folder / "tdr-1.dcs"), str(folder / "ct-ct.dcs")]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [entry["ok"] for entry in document] == [False, True]
    assert document[0]["errors"][0]["tag"] == "NumberOfAlarmObjects (4010,1034)"


def test_what_the_reference_refuses_in_identifiers_and_scales(folder):
    path = folder / "dx-side-high.dcs"

    def damage(ds):
        ds.IssuerOfPatientID = ""
        ds.RescaleSlope = 0.1
        item = pydicom.Dataset()
        item.RealWorldValueSlope = 0.1
        ds.RealWorldValueMappingSequence = [item]

    _edit(path, damage)
    errors = _messages(path)
    assert ("IssuerOfPatientID (0010,0021)", "must have a value (the reference reader refuses it empty)") in errors
    assert any(tag == "RescaleSlope (0028,1053)" and "other than 1" in message for tag, message in errors)
    where = "RealWorldValueMappingSequence (0040,9096) item 1: required attribute is missing"
    assert ("MappedValueRepresentation (0060,7006)", where) in errors
    assert ("MeasurementUnitsCodeSequence (0040,08EA)", where) in errors


def test_v02_files_lack_v03_attributes_without_errors(folder):
    """V02/V02A files have no Image Origin, Coordinate System, Effective Energy, Belt Speed or
    Height, and their TDRs no Referenced Scans Sequence: the reference fills defaults."""

    def downgrade(ds):
        ds.DICOSVersion = "V02A"
        ds.file_meta[0x00020004].value = "V02A"
        for tag in (0x00080118, 0x00082108, 0x43000902, 0x00189309, 0x40101062, 0x00081110):
            if tag in ds:
                del ds[tag]
        if "ThreatSequence" in ds:
            ds.ThreatSequence[0].ATDAssessmentSequence[0].ThreatCategory = "PROHIBITED ITEM"

    for path in (folder / "dx-side-high.dcs", folder / "ct-ct.dcs", folder / "tdr-1.dcs"):
        _edit(path, downgrade)
        report = validate_file(path)
        assert report.ok, report.as_dict()
        assert report.version == "V02A"
        assert any("as usual in V02A" in f.message for f in report.warnings)
    warnings = [f.message for f in validate_file(folder / "tdr-1.dcs").warnings]
    assert "PTO 1: 'PROHIBITED ITEM' is a V02/V02A term, read as 'PI'" in warnings
    _edit(folder / "dx-side-low.dcs", lambda ds: ds.__delitem__(0x00189309))
    assert ("TableSpeed (0018,9309)", "required attribute is missing") in _messages(folder / "dx-side-low.dcs")


def test_validate_walks_folders_and_globs_and_reports_json(tmp_path, capsys):
    nested = tmp_path / "site" / "day1"
    nested.mkdir(parents=True)
    nii.write(make_baggage_scan(), nested / "scan.dicos")
    (tmp_path / "site" / "notes.txt").write_text("not DICOS")
    assert main(["validate", "--json", str(tmp_path / "site")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert len(document) == 7 and {entry["version"] for entry in document} == {"V03"}
    assert all(entry["ok"] and entry["failed"] is None for entry in document)
    assert main(["validate", str(tmp_path / "site" / "**" / "dx-*.dcs")]) == 0
    assert capsys.readouterr().out.count(" DX V03 OK") == 4
    (nested / "scan.dicos" / "tdr-1.dcs").write_bytes(b"DICM but not really")
    assert main(["validate", str(tmp_path / "site" / "**" / "*.dcs")]) == 2
    assert "tdr-1.dcs: cannot validate" in capsys.readouterr().out

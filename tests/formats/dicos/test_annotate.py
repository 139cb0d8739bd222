"""Officer boxes added to a scan's DICOS folder: read back by nii and by the reference toolkit (pyDICOS)."""

from __future__ import annotations

from datetime import UTC, datetime

import pydicom
import pytest

import nii
from nii.errors import ConfigurationError, FileAccessError
from nii.formats.dicos.annotate import add_operator_report
from nii.model import Box, Operator, Threat, ThreatOrigin
from tests.formats.dicos.conftest import make_baggage_scan
from tests.formats.dicos.tools import run_pydicos


@pytest.fixture
def folder(tmp_path):
    scan = make_baggage_scan()
    nii.write(scan, tmp_path / "bag.dicos")
    return scan, tmp_path / "bag.dicos"


def officer_box(view: str = "top") -> Threat:
    return Threat(view, Box(3, 4, 12, 9), category="EXPLOSIVE", origin=ThreatOrigin.OPERATOR, probability=1.0)


def test_report_is_added_and_read_back_with_the_earlier_threats(folder):
    scan, path = folder
    before = sorted(path.iterdir())
    written = add_operator_report(path, scan.scan_uid, [officer_box()], operator=Operator("officer-9", "B. Officer"))
    assert written.name == "tdr-operator-1.dcs"
    assert sorted(path.iterdir()) == sorted([*before, written])  # nothing else touched, no temporary left
    back = nii.read(path)
    assert len(back.threats) == len(scan.threats) + 1
    (added,) = [t for t in back.threats if t.origin is ThreatOrigin.OPERATOR and t.algorithm == "nii view"]
    assert (added.view, added.box, str(added.category)) == ("top", Box(3, 4, 12, 9), "EXPLOSIVE")
    dataset = pydicom.dcmread(written)
    assert dataset.TDRType == "OPERATOR" and dataset.AlarmDecision == "ALARM"
    assert dataset.StudyInstanceUID == scan.scan_uid
    assert str(dataset.OperatorIdentificationSequence[0].PersonIdentificationCodeSequence[0].CodeValue) == "officer-9"
    second = add_operator_report(
        path, scan.scan_uid, [officer_box("side")], operator=Operator("officer-9"), decided_at=datetime.now(UTC)
    )
    assert second.name == "tdr-operator-2.dcs"
    assert int(pydicom.dcmread(second).SeriesNumber) > int(dataset.SeriesNumber)


def test_reference_toolkit_reads_the_operator_report(folder, tmp_path):
    scan, path = folder
    written = add_operator_report(path, scan.scan_uid, [officer_box()], operator=Operator("officer-9"))
    (report,) = run_pydicos("check", tmp_path, written)
    assert report["read"], report["log"]
    assert report["errors"] == []
    assert report["alarm_objects"] == 1
    (pto,) = report["ptos"]
    assert pto["base"][:2] == [3.0, 4.0] and pto["extents"][:2] == [12.0, 9.0]


def test_bad_requests_are_refused_and_leave_the_folder_alone(folder):
    scan, path = folder
    before = sorted(path.iterdir())
    with pytest.raises(ConfigurationError, match="no view 'front'"):
        add_operator_report(path, scan.scan_uid, [officer_box("front")], operator=Operator("o"))
    with pytest.raises(ConfigurationError, match="no threat"):
        add_operator_report(path, scan.scan_uid, [], operator=Operator("o"))
    with pytest.raises(FileAccessError, match="no DX image of scan"):
        add_operator_report(path, "1.2.3", [officer_box()], operator=Operator("o"))
    with pytest.raises(FileAccessError):
        add_operator_report(path / "dx-top-high.dcs", scan.scan_uid, [officer_box()], operator=Operator("o"))
    assert sorted(path.iterdir()) == before

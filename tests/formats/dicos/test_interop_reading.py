"""nii reads what the reference toolkit (pyDICOS) writes, including the quirks of its older
files: a TDR alone, a CT with its TDR, a dual-energy CT, 32/64-bit and float DX, JPEG frames
padded with D9, and a V02 CT whose plane position is in the shared functional groups."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.encaps import encapsulate, generate_frames

import nii
from nii.cli import main
from nii.errors import UnsupportedError
from nii.formats.dicos.validate import validate_paths
from tests.formats.dicos.tools import run_pydicos

DX_CLASS = "1.2.840.10008.5.1.4.1.1.501.2.2"


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> tuple[Path, dict]:
    folder = tmp_path_factory.mktemp("pydicos-kinds")
    return folder, run_pydicos("write", folder)


def _check(tmp_path: Path, *files: Path) -> list[dict]:
    reports = run_pydicos("check", tmp_path, *files)
    for path, report in zip(files, reports, strict=True):
        assert report["read"] and report["errors"] == [], (path, report["log"])
    return reports


def test_a_tdr_alone_reads_describes_validates_and_writes_back(reference, tmp_path, capsys):
    folder, answer = reference
    scan = nii.read(folder / "tdr_alone")
    assert scan.views == [] and scan.volumes == []
    dx = pydicom.dcmread(folder / "dx" / "dx.dcs", stop_before_pixels=True)
    assert [(r.sop_class_uid, r.sop_instance_uid) for r in scan.referenced_images] == [(DX_CLASS, dx.SOPInstanceUID)]
    assert [[t.box.x, t.box.y, t.box.width, t.box.height] for t in scan.volume_threats] == answer["boxes"]
    assert all(t.references == tuple(scan.referenced_images) for t in scan.volume_threats)
    assert main(["info", str(folder / "tdr_alone")]) == 0
    out = capsys.readouterr().out
    assert f"references {dx.SOPInstanceUID}" in out and "threats    2" in out
    assert main(["validate", str(folder / "tdr_alone")]) == 0
    nii.write(scan, tmp_path / "back", format="dicos")
    (written,) = sorted((tmp_path / "back").iterdir())
    _check(tmp_path, written)
    back = pydicom.dcmread(written)
    assert back.ReferencedStudySequence[0].ReferencedSOPInstanceUID == dx.SOPInstanceUID
    bases = [
        list(item.PTORepresentationSequence[0].ThreatROIVoxelSequence[0].ThreatROIBase) for item in back.ThreatSequence
    ]
    assert bases == [[x, y, 0.0] for x, y, _, _ in answer["boxes"]]


def test_a_ct_with_its_tdr_keeps_the_3d_threat_and_writes_it_back(reference, tmp_path):
    folder, answer = reference
    scan = nii.read(folder / "ct_tdr")
    (volume,) = scan.volumes
    np.testing.assert_array_equal(volume.data, np.load(folder / "ct_tdr.npy"))
    (threat,) = scan.volume_threats
    box = threat.box
    assert [box.x, box.y, box.z, box.width, box.height, box.depth] == answer["ct_box"]
    assert threat.volume == volume.name and threat.category == "EXPLOSIVE" and threat.assessment == "HIGH_THREAT"
    assert (threat.mass, threat.density) == (pytest.approx(answer["mass"]), pytest.approx(answer["density"]))
    assert threat.probability == pytest.approx(0.9) and threat.algorithm == "ExampleATR"
    nii.write(scan, tmp_path / "back", format="dicos")
    files = sorted((tmp_path / "back").iterdir())
    reports = _check(tmp_path, *files)
    (pto,) = next(r["ptos"] for r in reports if "ptos" in r)
    assert pto["base"] + pto["extents"] == [float(v) for v in answer["ct_box"]]
    again = nii.read(tmp_path / "back").volume_threats
    assert again == scan.volume_threats


def test_a_dual_energy_ct_with_its_tdr_reads_as_one_scan(reference):
    folder, answer = reference
    scan = nii.read(folder / "dual_ct")
    assert sorted(v.channel for v in scan.volumes) == ["high", "low"]
    low = next(v for v in scan.volumes if v.channel == "low")
    np.testing.assert_array_equal(low.data, np.load(folder / "dual_ct_low.npy"))
    assert scan.scanner.energies_kv == {"high": 160.0, "low": 80.0}
    (threat,) = scan.volume_threats
    assert threat.volume is not None and threat.box.z == answer["ct_box"][2]
    assert all(report.ok for report in validate_paths([folder / "dual_ct"]))


@pytest.mark.parametrize("kind", ["u32", "u64", "float"])
def test_wide_dx_pixel_types_read_exactly(reference, kind):
    folder, _ = reference
    path = folder / "dx_types" / f"{kind}.dcs"
    (view,) = nii.read(path).views
    expected = np.load(path.with_suffix(".npy"))
    assert view.channels["single"].dtype == expected.dtype
    np.testing.assert_array_equal(view.channels["single"], expected)
    assert validate_paths([path])[0].ok


def test_jpeg_frames_padded_with_d9_read(reference, tmp_path):
    """Older reference files pad odd JPEG frames with D9 after the end-of-image marker."""
    folder, _ = reference
    path = tmp_path / "ct.dcs"
    dataset = pydicom.dcmread(folder / "ct_jpeg" / "ct.dcs")
    frames = [frame.rstrip(b"\0") for frame in generate_frames(dataset.PixelData, number_of_frames=8)]
    assert any(len(frame) % 2 for frame in frames)  # else the test proves nothing
    dataset.PixelData = encapsulate([frame + b"\xd9" * (len(frame) % 2) for frame in frames])
    dataset.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).PixelData.count(b"\xff\xd9\xd9") >= 1
    _check(tmp_path, path)
    (volume,) = nii.read(path).volumes
    np.testing.assert_array_equal(volume.data, np.load(folder / "ct.npy"))


def test_v02_ct_with_the_plane_position_in_the_shared_groups(reference, tmp_path):
    folder, _ = reference
    path = tmp_path / "ct.dcs"
    dataset = pydicom.dcmread(folder / "ct" / "ct.dcs")
    first = dataset.PerFrameFunctionalGroupsSequence[0].PlanePositionSequence
    dataset.SharedFunctionalGroupsSequence[0].PlanePositionSequence = first
    for group in dataset.PerFrameFunctionalGroupsSequence:
        del group.PlanePositionSequence
    dataset.DICOSVersion = "V02"
    del dataset.file_meta[0x00020004]  # V02 files have none (and the reference refuses "V02" there)
    dataset.save_as(path, enforce_file_format=True)
    (report,) = run_pydicos("check", tmp_path, path)
    assert report["read"], report["log"]  # loaded, with only the meta version logged
    assert report["errors"] == ["Error: Missing required attribute meta info's DICOS Version [CS (0002, 0004)]"]
    np.testing.assert_array_equal(np.load(report["pixels"]), np.load(folder / "ct.npy"))
    (volume,) = nii.read(path).volumes
    np.testing.assert_array_equal(volume.data, np.load(folder / "ct.npy"))
    assert volume.spacing_mm == (1.5, 1.0, 1.0)  # slices step by the slice thickness
    assert validate_paths([path])[0].ok


def test_ait_and_other_classes_are_refused_by_name(reference, tmp_path):
    folder, _ = reference
    path = tmp_path / "ait.dcs"
    shutil.copy(folder / "dx" / "dx.dcs", path)
    dataset = pydicom.dcmread(path)
    dataset.SOPClassUID = dataset.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.501.4"
    dataset.save_as(path, enforce_file_format=True)
    with pytest.raises(UnsupportedError, match="DICOS 2D AIT"):
        nii.read(path)
    (report,) = validate_paths([path])
    assert "AIT" in (report.failed or "") and not report.ok


def test_the_reference_toolkits_own_files_validate_without_errors(reference):
    folder, _ = reference
    reports = validate_paths([folder])
    assert len(reports) == 14
    assert all(report.ok for report in reports), [r.as_dict() for r in reports if not r.ok]


def _no_mass(ds):
    representation = ds.ThreatSequence[0].PTORepresentationSequence[0]
    del representation.Mass, representation.Density


def _scaled(ds):
    ds.RescaleSlope = 0.5


DAMAGES = {
    "empty-authority": ("dx/dx.dcs", lambda ds: setattr(ds, "IssuerOfPatientID", ""), "IssuerOfPatientID"),
    "empty-ooi-id": ("ct/ct.dcs", lambda ds: setattr(ds, "PatientID", ""), "PatientID"),
    "rescale-slope": ("dx/dx.dcs", _scaled, "RescaleSlope"),
    "baggage-without-mass": ("ct_tdr/tdr.dcs", _no_mass, "Mass"),
    "machine-report-without-version": (
        "dx/tdr.dcs",
        lambda ds: setattr(ds, "ThreatDetectionAlgorithmAndVersion", "ExampleATR"),
        "ThreatDetectionAlgorithmAndVersion",
    ),
    "meta-version-v02": ("dx/dx.dcs", lambda ds: setattr(ds.file_meta[0x00020004], "value", "V02"), "DICOSMeta"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_what_the_reference_refuses_nii_validate_flags(reference, tmp_path, damage):
    folder, _ = reference
    name, change, tag = DAMAGES[damage]
    dataset = pydicom.dcmread(folder / name)
    change(dataset)
    path = tmp_path / Path(name).name
    dataset.save_as(path, enforce_file_format=True)
    (report,) = run_pydicos("check", tmp_path, path)
    assert not report["read"] or report["errors"], report["log"]
    (result,) = validate_paths([path])
    assert any(finding.tag and finding.tag.startswith(tag) for finding in result.errors), result.as_dict()


def test_a_ct_threat_reaching_past_its_volume_is_clipped_not_refused(reference, tmp_path):
    folder, _ = reference
    shutil.copy(folder / "ct_tdr" / "ct.dcs", tmp_path / "ct.dcs")
    dataset = pydicom.dcmread(folder / "ct_tdr" / "tdr.dcs")
    dataset.ThreatSequence[0].PTORepresentationSequence[0].ThreatROIVoxelSequence[0].ThreatROIExtents = [500, 500, 50]
    dataset.save_as(tmp_path / "tdr.dcs", enforce_file_format=True)
    scan = nii.read(tmp_path)
    (threat,) = scan.volume_threats
    frames, rows, columns = scan.volumes[0].shape
    box = threat.box
    assert (box.x + box.width, box.y + box.height, box.z + box.depth) == (columns, rows, frames)

"""nii → DICOS → nii: pixels bit-exact and every mapped field equal; the files' encodings."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import numpy as np
import pydicom
import pytest

import nii
from nii.cli import main
from nii.errors import FileAccessError, UnsupportedError
from nii.formats.dicos.dictionary import PRIVATE_GROUP
from nii.metadata import scan_to_dict
from nii.model import Box, Geometry, Scan, Threat, View, Volume
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan
from tests.helpers import assert_scans_equal

COMPRESSIONS = ["none", "rle", "jpeg-lossless", "jpegls", "j2k"]


@pytest.mark.parametrize("compression", COMPRESSIONS)
def test_round_trip_is_lossless(tmp_path, compression):
    scan = make_baggage_scan(large=compression == "j2k")
    files = nii.write(scan, tmp_path / "scan.dicos", compression=compression)
    assert [f.name for f in files] == [
        "dx-side-high.dcs",
        "dx-side-low.dcs",
        "dx-top-high.dcs",
        "dx-top-low.dcs",
        "ct-ct.dcs",
        "tdr-1.dcs",
        "tdr-2.dcs",
    ]
    back = nii.read(tmp_path / "scan.dicos")
    assert_scans_equal(back, scan)
    assert back.operator == scan.operator
    assert back.provenance.steps == scan.provenance.steps
    assert back.provenance.source_format == "dicos"
    # Any one file of the scan reads the whole scan.
    assert_scans_equal(nii.read(files[-1]), scan)


def test_uncompressed_pixels_are_memory_mapped(tmp_path):
    scan = make_scan(200, 220)
    nii.write(scan, tmp_path / "scan.dicos")
    back = nii.read(tmp_path / "scan.dicos")
    assert isinstance(back.view("side").channels["high"].base, np.memmap)


def test_volume_only_scan_and_inexact_numbers_round_trip(tmp_path):
    scan = make_scan(24, 40)
    third = 1 / 3
    side = scan.view("side")
    scan.views = [
        View(
            "side",
            side.channels,
            Geometry(third, 4.123456789012345, travel_direction="RIGHT_TO_LEFT", row_order="BOTTOM_UP"),
            calibration="TRANSMISSION",
        )
    ]
    scan.threats = [
        Threat("side", Box(1, 2, 5, 4), probability=third, polygon=np.array([[1.1, 2.2], [5.3, 2.0], [3.0, 5.7]]))
    ]
    scan.scanner = replace(scan.scanner, energies_kv={"high": 6000.000000000001, "low": 4000.0, "extra": 9000.0})
    scan.volumes = [Volume("ct", np.ones((2, 3, 4), np.int16), spacing_mm=(third, 0.7, 0.7), origin_mm=(third, 0, 0))]
    nii.write(scan, tmp_path / "a.dicos")
    assert_scans_equal(nii.read(tmp_path / "a.dicos"), scan)
    only_volume = Scan(views=[], volumes=scan.volumes, acquired_at=scan.acquired_at)
    nii.write(only_volume, tmp_path / "b.dicos")
    assert_scans_equal(nii.read(tmp_path / "b.dicos"), only_volume)


def _strip_private(folder):
    for path in folder.iterdir():
        dataset = pydicom.dcmread(path)
        dataset.remove_private_tags()
        for item in dataset.get("ThreatSequence", []):
            item.remove_private_tags()
        dataset.save_as(path, enforce_file_format=True)


def test_standard_attributes_alone_carry_the_mapped_fields(tmp_path, scan):
    """Without nii's private block (another writer's files), the DICOS homes still give
    pixels, geometry, energies, identifiers, machine, site and threats."""
    nii.write(scan, tmp_path / "scan.dicos")
    _strip_private(tmp_path / "scan.dicos")
    back = nii.read(tmp_path / "scan.dicos")
    expected, got = scan_to_dict(scan), scan_to_dict(back)
    assert [v["name"] for v in got["views"]] == ["view1", "view2"]
    for view_got, view_expected in zip(back.views, scan.views, strict=True):
        assert list(view_got.channels) == ["high", "low"]
        for name in ("high", "low"):
            np.testing.assert_array_equal(view_got.channels[name], view_expected.channels[name])
        assert view_got.geometry.detector_spacing_mm == view_expected.geometry.detector_spacing_mm
        assert view_got.geometry.travel_spacing_mm == view_expected.geometry.travel_spacing_mm
        assert view_got.calibration == view_expected.calibration
    for key in ("acquired_at", "scan_uid", "frame_of_reference_uid"):
        assert got[key] == expected[key]
    obj = expected["inspected_object"]
    assert {k: got["inspected_object"][k] for k in obj} == obj
    for key in ("manufacturer", "model", "serial_number", "software_version", "energies_kv", "speed_mm_s"):
        assert got["scanner"][key] == expected["scanner"][key]
    assert got["scanner"]["detector_pitch_mm"] == expected["scanner"]["detector_pitch_mm"]
    assert {k: got["site"][k] for k in ("name", "machine_id", "address")} == {
        k: expected["site"][k] for k in ("name", "machine_id", "address")
    }
    assert back.operator is not None and back.operator.name == scan.operator.name
    for threat_got, threat_expected in zip(back.threats, scan.threats, strict=True):
        assert threat_got.box == threat_expected.box
        assert threat_got.category == threat_expected.category
        assert threat_got.assessment == threat_expected.assessment
        assert threat_got.origin == threat_expected.origin
        if threat_expected.probability is None:
            assert threat_got.probability is None
        else:  # FL: float32 precision without the private exact value
            assert threat_got.probability == pytest.approx(threat_expected.probability, rel=1e-7)
    np.testing.assert_array_equal(back.threats[0].mask, scan.threats[0].mask)


def test_files_carry_the_dicos_encodings(tmp_path):
    scan = make_baggage_scan()
    nii.write(scan, tmp_path / "s.dicos", compression="jpeg-lossless")
    dx = pydicom.dcmread(tmp_path / "s.dicos" / "dx-side-high.dcs")
    ct = pydicom.dcmread(tmp_path / "s.dicos" / "ct-ct.dcs")
    tdr = pydicom.dcmread(tmp_path / "s.dicos" / "tdr-1.dcs")
    for dataset in (dx, ct, tdr):
        assert dataset.file_meta[0x00020004].value == "V03"
        assert dataset.DICOSVersion == "V03"
        assert str(dataset.SOPInstanceUID).startswith("2.25.")
        assert dataset.StudyInstanceUID == scan.scan_uid
        assert dataset.FrameOfReferenceUID == scan.frame_of_reference_uid
    assert dx.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.70"
    assert dx.SOPClassUID == "1.2.840.10008.5.1.4.1.1.501.2.2" and dx.Modality == "XRAY"
    assert list(dx.ImageType) == ["ORIGINAL", "HIGH ENERGY"]
    assert dx[0x00080118].VR == "CS" and dx[0x00080118].value == "MACHINE"
    assert dx[0x00082108].value == "LHS" and dx[0x43000902].VR == "FL"
    assert [float(v) for v in dx.ImagerPixelSpacing] == [5.0, 4.2]
    assert float(dx.KVP) == 6000.0 and dx.TableSpeed == 840.0
    assert dx.AcquisitionDateTime == "20260304102030.123000+0200"
    assert dx.PatientID == "BAG-0001" and dx.OOIType == "BAGGAGE"
    with open(tmp_path / "s.dicos" / "dx-side-high.dcs", "rb") as handle:
        raw = handle.read()
    assert b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff" in raw  # encapsulated Pixel Data as OB
    assert ct.NumberOfFrames == 6 and ct["NumberOfFrames"].VR == "IS"
    positions = [float(g.PlanePositionSequence[0].ImagePositionPatient[2]) for g in ct.PerFrameFunctionalGroupsSequence]
    np.testing.assert_allclose(np.diff(positions), 1.5)
    assert tdr[0x40101075].VR == "FD" and tdr[0x40101075].value == 1.0
    assert tdr.AlarmDecision == "ALARM" and tdr.NumberOfTotalObjects == 1 and tdr.NumberOfAlarmObjects == 1
    pto = tdr.ThreatSequence[0]
    roi = pto.PTORepresentationSequence[0].ThreatROIVoxelSequence[0]
    assert list(roi.ThreatROIBase) == [20.0, 10.0, 0.0] and list(roi.ThreatROIExtents) == [10.0, 6.0, 1.0]
    mask = scan.threats[0].mask
    assert roi.ThreatROIBitmap == np.packbits(mask.ravel(), bitorder="little").tobytes()
    referenced = {r.ReferencedSOPInstanceUID for r in pto.PTORepresentationSequence[0].ReferencedInstanceSequence}
    side = {pydicom.dcmread(tmp_path / "s.dicos" / f"dx-side-{c}.dcs").SOPInstanceUID for c in ("high", "low")}
    assert referenced == side
    operator_tdr = pydicom.dcmread(tmp_path / "s.dicos" / "tdr-2.dcs")
    assert operator_tdr.TDRType == "OPERATOR" and operator_tdr.AlarmDecision == "CLEAR"
    assert any(g == PRIVATE_GROUP for g in {e.tag.group for e in dx})


def test_options_version_modality_and_presentation(tmp_path, scan, caplog):
    nii.write(scan, tmp_path / "a.dicos", dicos_version="V02A", modality="DX", presentation=True)
    dx = pydicom.dcmread(tmp_path / "a.dicos" / "dx-top-low.dcs")
    assert dx.file_meta[0x00020004].value == "V02A" and dx.DICOSVersion == "V02A"
    assert dx.Modality == "DX" and dx.SOPClassUID == "1.2.840.10008.5.1.4.1.1.501.2.1"
    low = scan.view("top").channels["low"]
    assert float(dx.WindowCenter) == (int(low.min()) + int(low.max())) / 2
    assert_scans_equal(nii.read(tmp_path / "a.dicos"), scan)
    with caplog.at_level(logging.WARNING):
        nii.write(scan, tmp_path / "b.dicos", dicos_version="V04", window=(100.0, 50.0), presentation=True)
    assert "reference toolkit reads only" in caplog.text
    assert float(pydicom.dcmread(tmp_path / "b.dicos" / "dx-side-high.dcs").WindowWidth) == 50.0


def test_j2k_refuses_frames_too_small_for_its_resolution_levels(tmp_path):
    with pytest.raises(UnsupportedError, match="at least 32"):
        nii.write(make_scan(24, 40), tmp_path / "x.dicos", compression="j2k")
    assert list(tmp_path.iterdir()) == []


def test_refuses_non_16_bit_channels_and_leaves_nothing(tmp_path, scan):
    side = scan.view("side")
    scan.views[0] = side.with_channels(
        {"high": side.channels["high"].astype(np.float32)}, dark={}, air={}, reference={}
    )
    with pytest.raises(UnsupportedError, match="float32.*uint16"):
        nii.write(scan, tmp_path / "x.dicos")
    assert list(tmp_path.iterdir()) == []


def test_non_contiguous_and_big_endian_channels_are_written_correctly(tmp_path, scan):
    side = scan.view("side")
    high = np.asfortranarray(side.channels["high"])
    low = side.channels["low"].astype(">u2")
    scan.views[0] = side.with_channels({"high": high, "low": low})
    nii.write(scan, tmp_path / "x.dicos")
    back = nii.read(tmp_path / "x.dicos").view("side")
    np.testing.assert_array_equal(back.channels["high"], high)
    np.testing.assert_array_equal(back.channels["low"], low)


def test_folder_with_two_scans_needs_a_choice(tmp_path):
    first, second = make_scan(20, 32, seed=1), make_scan(20, 32, seed=2)
    nii.write(first, tmp_path / "a.dicos")
    nii.write(second, tmp_path / "b.dicos")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    for folder, prefix in ((tmp_path / "a.dicos", "a"), (tmp_path / "b.dicos", "b")):
        for path in folder.iterdir():
            (mixed / f"{prefix}-{path.name}").write_bytes(path.read_bytes())
    with pytest.raises(UnsupportedError, match="holds 2 scans"):
        nii.read(mixed)
    assert_scans_equal(nii.read(mixed, scan_uid=second.scan_uid), second)
    assert_scans_equal(nii.read(mixed / "a-dx-top-low.dcs"), first)


def test_writing_onto_a_file_is_refused(tmp_path, scan):
    (tmp_path / "x.dicos").write_text("not a folder")
    with pytest.raises(FileAccessError, match="not a folder"):
        nii.write(scan, tmp_path / "x.dicos")


def test_info_and_formats_commands_know_dicos(tmp_path, capsys):
    scan = make_baggage_scan()
    nii.write(scan, tmp_path / "s.dicos")
    assert main(["info", str(tmp_path / "s.dicos")]) == 0
    text = capsys.readouterr().out
    assert "dicos scan" in text and "volume ct" in text and "view side" in text
    assert main(["info", "--json", str(tmp_path / "s.dicos" / "ct-ct.dcs")]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["volumes"][0]["shape"] == [6, 20, 30] and len(info["threats"]) == 2
    assert main(["formats"]) == 0
    assert "dicos" in capsys.readouterr().out

"""Broken and quirky DICOS input: a clear nii.errors exception naming the file and the tag."""

from __future__ import annotations

import struct

import numpy as np
import pydicom
import pytest
from pydicom.uid import ImplicitVRLittleEndian

import nii
from nii.errors import CorruptFileError, LimitExceededError, TruncatedFileError, UnsupportedError
from nii.formats.dicos import DicosFormat
from nii.formats.dicos.files import read_dataset
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan


@pytest.fixture
def folder(tmp_path):
    nii.write(make_scan(20, 32), tmp_path / "scan.dicos")
    return tmp_path / "scan.dicos"


def _edit(path, change):
    dataset = pydicom.dcmread(path)
    change(dataset)
    dataset.save_as(path, enforce_file_format=True)


def test_truncated_pixel_data(folder):
    path = folder / "dx-side-high.dcs"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TruncatedFileError, match=r"dx-side-high.dcs.*\(7FE0,0010\)"):
        nii.read(folder)


def test_truncated_header(folder):
    path = folder / "dx-side-high.dcs"
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(CorruptFileError, match=r"dx-side-high.dcs: no StudyInstanceUID \(0020,000D\)"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="dx-side-high.dcs"):
        nii.read(folder)


def test_pixel_data_shorter_than_rows_columns_frames(folder):
    path = folder / "dx-top-low.dcs"
    _edit(path, lambda ds: setattr(ds, "Rows", ds.Rows + 5))
    with pytest.raises(
        TruncatedFileError, match=r"dx-top-low.dcs: PixelData \(7FE0,0010\) holds 1280 bytes.*needs 1600"
    ):
        nii.read(folder)


def test_absurd_rows_and_columns_are_refused_before_allocation(folder):
    path = folder / "dx-top-low.dcs"

    def absurd(ds):
        ds.Rows, ds.Columns, ds.NumberOfFrames = 65535, 65535, 5000

    _edit(path, absurd)
    with pytest.raises(LimitExceededError, match=r"dx-top-low.dcs: NumberOfFrames \(0028,0008\).*Rows \(0028,0010\)"):
        nii.read(folder)
    _edit(path, lambda ds: setattr(ds, "Rows", 0))
    with pytest.raises(CorruptFileError, match=r"Rows \(0028,0010\).*must be positive"):
        nii.read(folder)


def test_wrong_vr_is_named(folder):
    path = folder / "dx-side-low.dcs"

    def wrong(ds):
        del ds.Columns
        ds.add_new(0x00280011, "LO", "wide")

    _edit(path, wrong)
    with pytest.raises(CorruptFileError, match=r"dx-side-low.dcs: Columns \(0028,0011\) has the invalid value 'wide'"):
        nii.read(folder)


def test_missing_required_dimension(folder):
    _edit(folder / "dx-side-low.dcs", lambda ds: delattr(ds, "Rows"))
    with pytest.raises(CorruptFileError, match=r"required attribute Rows \(0028,0010\) is missing"):
        nii.read(folder)


def test_missing_preamble_and_file_meta(folder, tmp_path):
    path = folder / "dx-side-high.dcs"
    dataset = pydicom.dcmread(path)
    dataset.file_meta = pydicom.dataset.FileMetaDataset()
    dataset.preamble = None
    bare = tmp_path / "bare.dcs"
    dataset.save_as(bare, enforce_file_format=False, implicit_vr=True, little_endian=True)
    with pytest.raises(CorruptFileError, match="bare.dcs: not a DICOS/DICOM Part 10 file .*'DICM'"):
        read_dataset(bare)
    with pytest.raises(CorruptFileError, match=r"bare.dcs: not a DICOS file \(no Part 10 header"):
        DicosFormat().read(bare, scan_uid=None)  # called directly: every declared option is given
    with pytest.raises(nii.errors.UnknownFormatError, match="bare.dcs"):
        nii.read(bare)


def test_file_meta_without_transfer_syntax(folder):
    path = folder / "dx-side-high.dcs"
    data = path.read_bytes()
    syntax = b"\x02\x00\x10\x00UI"
    start = data.index(syntax)
    length = struct.unpack("<H", data[start + 6 : start + 8])[0]
    path.write_bytes(data[:start] + data[start + 8 + length :])
    with pytest.raises(CorruptFileError, match="dx-side-high.dcs"):
        nii.read(path)


def test_non_standard_pixel_class_is_named(tmp_path):
    """Wide DX pixels are read (test_interop_reading); wide CT ones are named and refused."""
    folder = tmp_path / "scan.dicos"
    nii.write(make_baggage_scan(), folder)

    def float_ct(ds):
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.501.1.3"
        ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID

    _edit(folder / "ct-ct.dcs", float_ct)
    with pytest.raises(UnsupportedError, match=r"\(CT with float pixels\): unsupported pixel type"):
        nii.read(folder)


def test_extended_transfer_syntax_is_refused(folder):
    path = folder / "dx-side-high.dcs"
    data = path.read_bytes()
    # pydicom will not write this DICOS-only syntax: patch the meta element and its group length.
    explicit = b"\x02\x00\x10\x00UI\x14\x001.2.840.10008.1.2.1\x00"
    extended = b"\x02\x00\x10\x00UI\x16\x001.2.840.10008.1.2.1.64"
    assert explicit in data
    group_length = struct.unpack("<I", data[140:144])[0]
    data = data[:140] + struct.pack("<I", group_length + 2) + data[144:]
    path.write_bytes(data.replace(explicit, extended))
    with pytest.raises(UnsupportedError, match="dx-side-high.dcs: transfer syntax .*Extended"):
        nii.read(folder)


def test_number_of_frames_as_us_and_implicit_binary_is_read(tmp_path):
    scan = make_scan(20, 32)
    scan.volumes = [nii.model.Volume("ct", np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5))]
    nii.write(scan, tmp_path / "s.dicos")
    ct = tmp_path / "s.dicos" / "ct-ct.dcs"
    dataset = pydicom.dcmread(ct)
    del dataset.NumberOfFrames
    dataset.add_new(0x00280008, "US", 3)  # the reference toolkit's quirk
    dataset.save_as(ct, enforce_file_format=True)
    assert pydicom.dcmread(ct)["NumberOfFrames"].VR == "US"
    np.testing.assert_array_equal(nii.read(ct).volume("ct").data, scan.volumes[0].data)
    # Implicit VR: the US value arrives as two binary bytes where IS text is expected.
    dataset.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    dataset.save_as(ct, enforce_file_format=True, implicit_vr=True, little_endian=True)
    raw = pydicom.dcmread(ct).get_item(0x00280008)
    assert raw.value == b"\x03\x00"
    np.testing.assert_array_equal(nii.read(ct).volume("ct").data, scan.volumes[0].data)


def _rewrite_frame(path, change):
    dataset = pydicom.dcmread(path)
    frame = next(pydicom.encaps.generate_frames(dataset.PixelData, number_of_frames=1))
    dataset.PixelData = pydicom.encaps.encapsulate([change(frame)])
    dataset.save_as(path, enforce_file_format=True)


def test_compressed_frame_that_does_not_decode(tmp_path):
    nii.write(make_scan(20, 32), tmp_path / "s.dicos", compression="jpeg-lossless")
    path = tmp_path / "s.dicos" / "dx-side-high.dcs"
    # A frame header announcing width 0: the decoder refuses it.
    _rewrite_frame(path, lambda f: f[: f.index(b"\xff\xc3") + 7] + b"\0\0" + f[f.index(b"\xff\xc3") + 9 :])
    with pytest.raises(CorruptFileError, match=r"dx-side-high.dcs: PixelData \(7FE0,0010\) cannot be decoded"):
        nii.read(tmp_path / "s.dicos")


def test_compressed_frame_cut_short_is_not_decoded_silently(tmp_path):
    nii.write(make_scan(20, 32), tmp_path / "s.dicos", compression="jpeg-lossless")
    path = tmp_path / "s.dicos" / "dx-side-low.dcs"
    _rewrite_frame(path, lambda frame: frame[: len(frame) // 2])
    with pytest.raises(TruncatedFileError, match=r"dx-side-low.dcs: PixelData \(7FE0,0010\) frame 0 has no end"):
        nii.read(tmp_path / "s.dicos")


def test_folder_without_dicos_files(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(nii.errors.UnknownFormatError):
        nii.read(tmp_path)


def test_older_dicos_versions_are_read(tmp_path, caplog):
    """V02 and V02A files: no (0002,0004) in V02, no Image Origin, Coordinate System or Effective
    Energy, Modality DX, legacy threat category strings; V04 is read with a warning."""
    scan = make_scan(20, 32)
    nii.write(scan, tmp_path / "s.dicos")
    for version in ("V02", "V02A", "V04"):
        for path in (tmp_path / "s.dicos").iterdir():

            def downgrade(ds, version=version):
                ds.DICOSVersion = version
                if version == "V02":
                    del ds.file_meta[0x00020004]
                else:
                    ds.file_meta.add_new(0x00020004, "CS", version)
                for tag in (0x00080118, 0x00082108, 0x43000902):
                    if tag in ds:
                        del ds[tag]
                if ds.Modality == "XRAY":
                    ds.Modality = "DX"
                for item in ds.get("ThreatSequence", []):
                    if item.ATDAssessmentSequence[0].ThreatCategory == "PI":
                        item.ATDAssessmentSequence[0].ThreatCategory = "PROHIBITED ITEM"

            _edit(path, downgrade)
        with caplog.at_level("WARNING"):
            back = nii.read(tmp_path / "s.dicos")
        np.testing.assert_array_equal(back.view("top").channels["low"], scan.view("top").channels["low"])
        assert [t.category for t in back.threats] == [t.category for t in scan.threats]
        assert ("V04" in caplog.text) == (version == "V04")

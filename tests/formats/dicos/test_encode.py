"""nii's Explicit VR Little Endian encoder writes the bytes pydicom's writer writes."""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from nii.formats.dicos.encode import NotEncodable, encode_dataset, encode_file
from nii.formats.dicos.files import Compression, _file_meta
from nii.formats.dicos.mapping import WriteOptions, scan_to_instances
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from nii.model import Operator, Site
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan


def pydicom_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def instances(scan, compression=Compression.NONE, **options):
    for name, instance in scan_to_instances(scan, WriteOptions(**options)):
        syntax = compression.transfer_syntax if instance._pixels is not None else ExplicitVRLittleEndian
        instance.file_meta = _file_meta(instance, syntax, "V03")
        yield name, instance


def scans():
    baggage = make_baggage_scan()
    # Text beyond ASCII in every character-set VR nii writes (ISO_IR 192 is UTF-8).
    accented = replace(
        make_scan(30, 50, seed=3),
        site=Site(name="Zollamt Zürich Süd", machine_id="TOR-3", address="Rue de l'Échelle 5", country="CH"),
        operator=Operator("o-1", "Ørsted^Åsa"),
    )
    # No line positions, no operator, an odd-length OOI ID.
    plain = replace(make_scan(17, 33, seed=4), operator=None)
    plain.views = [replace(view, geometry=replace(view.geometry, line_positions_mm=None)) for view in plain.views]
    return {"baggage": baggage, "accented": accented, "plain": plain}


@pytest.mark.parametrize("name", ["baggage", "accented", "plain"])
@pytest.mark.parametrize("compression", [Compression.NONE, Compression.JPEG_LOSSLESS])
def test_every_instance_nii_writes_encodes_as_pydicom_encodes_it(name, compression):
    kinds = set()
    for file_name, instance in instances(scans()[name], compression, created_at=None):
        kinds.add(file_name.split("-")[0])
        encode_dataset(instance)  # no fallback to pydicom
        assert encode_file(instance) == pydicom_bytes(instance), file_name
    assert kinds >= {"dx"}


def test_presentation_instances_with_windows():
    for _, instance in instances(make_scan(20, 30), presentation=True):
        assert encode_file(instance) == pydicom_bytes(instance)


def test_odd_lengths_empty_values_nested_sequences_and_long_text():
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = "1.2.3"  # odd: padded with NUL
    ds.PatientID = "ABC"  # odd: padded with a space
    ds.PatientComments = "é" * 5_001  # 10 002 bytes of UTF-8
    ds.add_new(0x00091001, "UT", "x" * 70_001)
    ds.add_new(0x00091002, "OB", b"\x01\x02\x03")  # odd OB: padded with NUL
    ds.StudyID = ""
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.PixelSpacing = [0.5, 1 / 3]
    ds.add_new(0x00280010, "US", 512)
    ds.add_new(0x00189306, "FD", [1.5, -2.25])
    inner = Dataset()
    inner.PatientID = "IN"
    outer = Dataset()
    outer.OtherPatientIDsSequence = Sequence([inner, Dataset()])
    ds.ReferencedImageSequence = Sequence([outer])
    ds.ReferencedStudySequence = Sequence([])
    ds.file_meta = FileMetaDataset()
    ds.file_meta.FileMetaInformationVersion = b"\x00\x01"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.3"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.ImplementationClassUID = "1.2.3.4.5"
    ds.file_meta.ImplementationVersionName = "NII"
    assert encode_file(ds) == pydicom_bytes(ds)
    back = pydicom.dcmread(io.BytesIO(encode_file(ds)))
    assert (
        back.PatientComments == "é" * 5_001
        and back.ReferencedImageSequence[0].OtherPatientIDsSequence[0].PatientID == "IN"
    )


def test_what_the_encoder_does_not_know_goes_to_pydicom():
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 144"  # Cyrillic: not one of this encoder's character sets
    ds.PatientName = "Иванов"
    with pytest.raises(NotEncodable, match="ISO_IR 144"):
        encode_dataset(ds)
    ds.file_meta = FileMetaDataset()
    ds.file_meta.FileMetaInformationVersion = b"\x00\x01"
    ds.file_meta.MediaStorageSOPClassUID = "1.2.3"
    ds.file_meta.MediaStorageSOPInstanceUID = "1.2.3.4"
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    assert encode_file(ds) == pydicom_bytes(ds)
    ds.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian  # another encoding altogether
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert encode_file(ds) == pydicom_bytes(ds)


def test_raw_elements_of_a_file_read_back_go_to_pydicom(tmp_path):
    scan = make_scan()
    path = tmp_path / "scan.dicos"
    import nii

    nii.write(scan, path)
    dataset = pydicom.dcmread(path / "dx-side-high.dcs", stop_before_pixels=True)
    with pytest.raises(NotEncodable, match="raw"):
        encode_dataset(dataset)
    assert encode_file(dataset) == pydicom_bytes(dataset)
    np.testing.assert_array_equal(nii.read(path).view("side").channels["high"], scan.view("side").channels["high"])


def test_an_element_copied_from_a_template_and_changed_is_encoded_anew():
    (_, first), (_, second), *_ = instances(make_scan())
    first.PatientID = "CHANGED-ID"  # the template's encoding of the old ID must not be reused
    first.InstitutionName = "Zoll Süd"
    first.OtherPatientIDsSequence[0].PatientID = "X"
    for instance in (first, second):
        assert encode_file(instance) == pydicom_bytes(instance)
    back = pydicom.dcmread(io.BytesIO(encode_file(first)))
    assert back.PatientID == "CHANGED-ID" and back.InstitutionName == "Zoll Süd"
    assert pydicom.dcmread(io.BytesIO(encode_file(second))).PatientID == "CSQU3054383"

"""nii's Explicit VR Little Endian encoder writes the bytes pydicom's writer writes."""

from __future__ import annotations

import copy
import io
from dataclasses import replace

import numpy as np
import pydicom
import pytest
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from nii.formats.dicos.encode import (
    NotEncodable,
    TemplateElement,
    encode_dataset,
    encode_file,
    set_elements,
    set_private_elements,
)
from nii.formats.dicos.files import Compression, _file_meta
from nii.formats.dicos.mapping import WriteOptions, scan_to_instances
from nii.model import Operator, Site
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan


def pydicom_bytes(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def pydicom_dataset_bytes(dataset: Dataset) -> bytes:
    """The dataset's elements as pydicom encodes them in Explicit VR Little Endian (no file meta)."""
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_dataset(buffer, dataset)
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


SET_BY_KEYWORD = {
    "KVP": 160.0,  # DS from float
    "SliceThickness": "1.50",  # DS from text: keeps its text
    "SeriesNumber": 3,  # IS
    "ImagerPixelSpacing": [0.5, 1.25],  # DS, two values
    "ImageType": ["ORIGINAL", "HIGH ENERGY"],  # CS, two values
    "Rows": 512,  # US
    "SOPInstanceUID": "2.25.1234567",  # UI from str
    "FrameOfReferenceUID": pydicom.uid.UID("2.25.7654321"),  # UI from UID
    "Manufacturer": "Zoll Süd",  # LO, not ASCII
    "StudyDate": "20261201",  # DA: converted every time
    "XRayTubeCurrentInuA": 2.5,  # FL
}


def test_set_elements_gives_what_setattr_gives():
    ours, theirs = Dataset(), Dataset()
    for _ in range(2):  # the second time from the cache of converted elements
        set_elements(ours, SET_BY_KEYWORD)
        set_elements(ours, {(0x00080118, "CS"): "MACHINE"})
        for keyword, value in SET_BY_KEYWORD.items():
            setattr(theirs, keyword, value)
        theirs.add_new(0x00080118, "CS", "MACHINE")
        for tag, element in theirs._dict.items():
            mine = ours[tag]
            assert (mine.tag, mine.VR, mine.value) == (element.tag, element.VR, element.value), element.keyword
            assert type(mine.value) is type(element.value), element.keyword
        ours.SpecificCharacterSet = theirs.SpecificCharacterSet = "ISO_IR 192"
        assert encode_dataset(ours) == pydicom_dataset_bytes(theirs)


def test_elements_set_from_the_cache_belong_to_their_dataset():
    first, second = Dataset(), Dataset()
    set_elements(first, {"ImageType": ["ORIGINAL", "LOW ENERGY"], "KVP": 80.0})
    set_elements(second, {"ImageType": ["ORIGINAL", "LOW ENERGY"], "KVP": 80.0})
    assert first["KVP"] is not second["KVP"] and first.KVP is second.KVP  # one conversion, two elements
    first.ImageType.append("EXTRA")
    first.KVP = 100.0
    assert second.ImageType == ["ORIGINAL", "LOW ENERGY"] and second.KVP == 80.0
    third = Dataset()
    set_elements(third, {"ImageType": ["ORIGINAL", "LOW ENERGY"], "KVP": 80.0})
    assert third.ImageType == ["ORIGINAL", "LOW ENERGY"] and third.KVP == 80.0
    for dataset in (first, second, third):  # memoized encodings follow the changes
        assert encode_dataset(dataset) == pydicom_dataset_bytes(dataset)


def test_values_that_are_equal_but_convert_differently_are_not_confused():
    dataset = Dataset()
    set_elements(dataset, {"KVP": 1.5})
    set_elements(dataset, {"KVP": "1.50"})
    assert dataset["KVP"].value.original_string == "1.50"
    assert encode_dataset(dataset).endswith(b"1.50")
    set_elements(dataset, {"SeriesNumber": 1})
    set_elements(dataset, {"InstanceNumber": True})  # bool is not the int 1 to the cache
    assert type(dataset["InstanceNumber"].value) is type(pydicom.DataElement(0x00200013, "IS", True).value)


def test_a_multivalue_changed_in_place_is_encoded_anew():
    dataset = Dataset()
    set_elements(dataset, {"ImageOrientationPatient": [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]})
    before = encode_dataset(dataset)
    dataset.ImageOrientationPatient[4] = -1.0
    assert encode_dataset(dataset) != before
    assert encode_dataset(dataset) == pydicom_dataset_bytes(dataset)


def test_one_uid_under_two_tags_encodes_each_tag():
    uid = "2.25.99887766"
    dataset, meta = Dataset(), FileMetaDataset()
    set_elements(dataset, {"SOPInstanceUID": uid})
    set_elements(meta, {"MediaStorageSOPInstanceUID": pydicom.uid.UID(uid)})
    assert meta["MediaStorageSOPInstanceUID"].tag == 0x00020003
    assert encode_dataset(meta).startswith(b"\x02\x00\x03\x00UI")
    assert encode_dataset(dataset).startswith(b"\x08\x00\x18\x00UI")


def test_set_elements_refuses_what_it_does_not_set():
    with pytest.raises(ValueError, match="not a DICOM keyword"):
        set_elements(Dataset(), {"NoSuchKeyword": 1})
    with pytest.raises(ValueError, match="public elements"):
        set_elements(Dataset(), {(0x00091001, "LO"): "private"})
    with pytest.raises(ValueError, match="private elements"):
        set_private_elements(Dataset(), "ACME", {(0x00100010, "PN"): "public"})


def test_private_elements_know_their_creator_as_add_new_would_set_it():
    ours, theirs = Dataset(), Dataset()
    set_private_elements(ours, "ACME 1", {(0x00090010, "LO"): "ACME 1", (0x00091001, "OB"): b"\x01\x02"})
    theirs.add_new(0x00090010, "LO", "ACME 1")
    theirs.add_new(0x00091001, "OB", b"\x01\x02")
    assert ours[0x00091001].private_creator == theirs[0x00091001].private_creator == "ACME 1"
    assert ours.private_block(0x0009, "ACME 1")[0x01].value == b"\x01\x02"
    assert encode_dataset(ours) == encode_dataset(theirs)
    again, public = Dataset(), Dataset()  # the creator's value now comes from the cache
    set_private_elements(again, "ACME 1", {(0x00090010, "LO"): "ACME 1", (0x00091001, "OB"): b"\x01\x02"})
    set_elements(public, {"InstitutionName": "ACME 1"})  # the same LO value, under a public tag
    assert encode_dataset(again) == encode_dataset(theirs)
    assert public["InstitutionName"].tag == 0x00080080 and public["InstitutionName"].private_creator is None
    assert encode_dataset(public) == pydicom_dataset_bytes(public)


def test_derived_uids_are_name_based_uuids():
    import uuid

    from nii.formats.dicos.mapping import _UID_NAMESPACE, derived_uid

    for scan_uid in ("2.25.1", "1.2.826.0.1.3680043.8.498." + "9" * 30):
        for parts in (("dx", "side", "high"), ("tdr",), ()):
            name = "/".join((scan_uid, *parts))
            assert derived_uid(scan_uid, *parts) == f"2.25.{uuid.uuid5(_UID_NAMESPACE, name).int}"


def _dx_with_mapping():
    from datetime import UTC, datetime

    from nii.formats.dicos.common import ObjectOfInspection, ScanContext
    from nii.formats.dicos.dx import DXImage
    from nii.formats.dicos.real_world import RealWorldValue

    moment = datetime(2026, 12, 2, tzinfo=UTC)
    context = ScanContext(
        "2.25.11", moment, ObjectOfInspection("BAGGAGE", "BAG-7"), frame_of_reference_uid="2.25.14", created_at=moment
    )
    mapping = RealWorldValue(slope=0.25, unit="1", unit_meaning="no units", label="ATTENUATION", explanation="x")
    image = DXImage(
        np.zeros((3, 4), np.uint16),
        context=context,
        sop_instance_uid="2.25.13",
        series_uid="2.25.12",
        series_number=1,
        image_type=("ORIGINAL", "HIGH ENERGY"),
        kvp_kv=160.0,
        value_mapping=mapping,
    )
    image.file_meta = _file_meta(image, ExplicitVRLittleEndian, "V03")
    return image


def _borrowed(instance: Dataset) -> set[int]:
    return {int(tag) for tag, element in instance._dict.items() if type(element) is TemplateElement}


def test_instances_borrow_template_elements_and_give_out_their_own_copies():
    """A DX holds its templates' elements until one is accessed; every way of reaching an element gives the
    instance's own copy, so no change to one instance reaches another, or the instances built later."""
    first, second = _dx_with_mapping(), _dx_with_mapping()
    kvp, mapping, manufacturer = 0x00180060, 0x00409096, 0x00080070
    assert {kvp, mapping, manufacturer} <= _borrowed(first) and first._dict[kvp] is second._dict[kvp]
    original = encode_file(second)
    assert original == pydicom_bytes(_dx_with_mapping())  # borrowed elements encode as their copies do

    first.KVP = 80.0  # by keyword
    assert kvp not in _borrowed(first) and first._dict[kvp] is not second._dict[kvp]
    first.ImageType.append("EXTRA")  # a multi-value changed in place
    first[manufacturer].value = "CHANGED"  # by tag
    first.RealWorldValueMappingSequence[0].LUTLabel = "CHANGED"  # in a sequence item
    first.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "mm"  # nested deeper
    assert not any(type(element) is TemplateElement for element in first.values())
    sliced, popped = second[0x00280000:0x00290000], second.pop(0x00080060)
    assert type(popped) is DataElement and not any(type(e) is TemplateElement for e in sliced._dict.values())
    popped.value = "DX"
    for element in sliced._dict.values():
        element.value = None if element.VR != "SQ" else []
    third = copy.deepcopy(_dx_with_mapping())
    assert not _borrowed(third)
    third.PresentationLUTShape = "INVERSE"

    # Around the instance (a dataset sharing its elements), a template's element refuses the change.
    fourth = _dx_with_mapping()
    with pytest.raises(TypeError, match="template"):
        Dataset(fourth).KVP = 1.0
    assert encode_file(fourth) == original  # nothing changed: not this one, nor the templates

    back = pydicom.dcmread(io.BytesIO(encode_file(first)))
    assert back.KVP == 80.0 and back.ImageType[-1] == "EXTRA" and back.Manufacturer == "CHANGED"
    assert back.RealWorldValueMappingSequence[0].LUTLabel == "CHANGED"
    assert encode_file(first) == pydicom_bytes(first)
    later = _dx_with_mapping()
    assert later.ImageType == ["ORIGINAL", "HIGH ENERGY"] and later.KVP == 160.0 and later.Manufacturer == ""
    assert later.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "1"
    assert encode_file(later) == original

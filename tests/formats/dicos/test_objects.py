"""The IOD classes: validation at construction, typed read-back, PTO encodings."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pydicom
import pytest

from nii.errors import UnsupportedError, ValidationError
from nii.formats.dicos import CTImage, DXImage, ObjectOfInspection, PotentialThreat, ScanContext, ThreatReport
from nii.formats.dicos.dictionary import AssessmentFlag, TDRType, ThreatCategory, current_term
from nii.formats.dicos.files import write_instance
from nii.formats.dicos.format import DicosFormat
from nii.formats.dicos.real_world import RealWorldValue
from nii.formats.dicos.tdr import pack_bitmap, unpack_bitmap

MOMENT = datetime(2026, 5, 17, 12, 30, tzinfo=UTC)
CONTEXT = ScanContext("2.25.11", MOMENT, ObjectOfInspection("CARGO", "MSCU1234565"))


def _pto(**changes):
    fields = {
        "id": 1,
        "referenced_instances": (("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.5"),),
        "base": (1.0, 2.0, 0.0),
        "extents": (4.0, 3.0, 2.0),
        "processing_start": MOMENT,
        "processing_end": MOMENT,
    }
    return PotentialThreat(**{**fields, **changes})


def test_bitmap_is_packed_lsb_first_like_the_reference():
    mask = np.fromfunction(lambda z, y, x: (x + y + z) % 2 == 0, (2, 3, 4))
    assert pack_bitmap(mask) == bytes.fromhex("a5a5a500")
    np.testing.assert_array_equal(unpack_bitmap(bytes.fromhex("a5a5a500"), (4, 3, 2)), mask)
    with pytest.raises(ValueError, match="too short"):
        unpack_bitmap(b"\xa5", (4, 3, 2))


def test_legacy_enumeration_strings_map_to_current_values(tmp_path):
    assert current_term("PROHIBITED ITEM") == "PI" and current_term("other pi") == "OTHER"
    assert TDRType("TRUTH") is TDRType.GROUND_TRUTH
    report = ThreatReport(
        context=CONTEXT,
        series_uid="2.25.12",
        series_number=3,
        threats=[_pto()],
        referenced_images=[("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.5")],
        alarm_decision_time=MOMENT,
    )
    report.ThreatSequence[0].ATDAssessmentSequence[0].ThreatCategory = "PROHIBITED ITEM"
    assert report.threats[0].category is ThreatCategory.PI
    assert AssessmentFlag("high-threat") is AssessmentFlag.HIGH_THREAT


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"probability": 1.5}, "neither in"),
        ({"referenced_instances": ()}, "references no image"),
        ({"bitmap": np.ones((1, 3, 4), bool)}, "bitmap shape"),
        ({"polygon": np.zeros((1, 3))}, "polygon"),
        ({"id": 70000}, "US"),
    ],
)
def test_pto_validation(changes, message):
    with pytest.raises(ValidationError, match=message):
        _pto(**changes)


def test_report_derives_alarm_decision_and_counts(tmp_path):
    threats = [_pto(), _pto(id=2, flag="NO_THREAT"), _pto(id=3, flag="HIGH_THREAT", probability=0.25)]
    report = ThreatReport(
        context=CONTEXT,
        series_uid="2.25.12",
        series_number=3,
        threats=threats,
        referenced_images=[("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.5")],
        alarm_decision_time=MOMENT,
        algorithm=["atr", "2.0", "-threshold=0.5"],
    )
    assert report.AlarmDecision == "ALARM" and report.NumberOfAlarmObjects == 2 and report.NumberOfTotalObjects == 3
    write_instance(tmp_path / "t.dcs", report, version="V03")
    back = ThreatReport.from_dataset(pydicom.dcmread(tmp_path / "t.dcs"), path=tmp_path / "t.dcs")
    assert back.algorithm == ["atr", "2.0", "-threshold=0.5"]
    assert back.tdr_type is TDRType.MACHINE
    parsed = back.threats
    assert [(p.id, p.flag, p.probability) for p in parsed] == [
        (1, AssessmentFlag.THREAT, -1.0),
        (2, AssessmentFlag.NO_THREAT, -1.0),
        (3, AssessmentFlag.HIGH_THREAT, 0.25),
    ]
    assert parsed[0].base == (1.0, 2.0, 0.0) and parsed[0].extents == (4.0, 3.0, 2.0)
    clear = ThreatReport(
        context=CONTEXT,
        series_uid="2.25.13",
        series_number=4,
        threats=[],
        referenced_images=[("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.5")],
        alarm_decision_time=MOMENT,
    )
    assert clear.AlarmDecision == "CLEAR" and clear.NumberOfTotalObjects == 0


def test_report_refuses_what_the_reference_refuses():
    common = {"context": CONTEXT, "series_uid": "2.25.1", "series_number": 1, "alarm_decision_time": MOMENT}
    images = [("1.2.840.10008.5.1.4.1.1.501.2.2", "2.25.5")]
    with pytest.raises(ValidationError, match="at least one image"):
        ThreatReport(threats=[], referenced_images=[], **common)
    with pytest.raises(ValidationError, match="must be > 0"):
        ThreatReport(threats=[], referenced_images=images, image_scale=0.0, **common)
    with pytest.raises(ValidationError, match="unique"):
        ThreatReport(threats=[_pto(), _pto()], referenced_images=images, **common)
    with pytest.raises(ValidationError, match="OPERATOR report needs"):
        ThreatReport(threats=[], referenced_images=images, tdr_type="OPERATOR", **common)


def test_dx_validation_at_construction():
    pixels = np.zeros((4, 5), np.uint16)
    common = {"context": CONTEXT, "series_uid": "2.25.2", "series_number": 1}
    with pytest.raises(ValidationError, match="needs a window"):
        DXImage(pixels, intent="FOR PRESENTATION", **common)
    with pytest.raises(UnsupportedError, match="int32"):
        DXImage(pixels.astype(np.int32), **common)
    with pytest.raises(ValidationError, match="one 2-D frame"):
        DXImage(np.zeros((2, 4, 5), np.uint16), **common)
    with pytest.raises(ValueError, match="not a valid"):
        DXImage(pixels, image_type=("ORIGINAL", "ULTRA"), **common)
    with pytest.raises(ValidationError, match="XRAY or DX"):
        DXImage(pixels, modality="CT", **common)
    image = DXImage(pixels, intent="for presentation", window=(10.0, 20.0), **common)
    assert image.SOPClassUID == "1.2.840.10008.5.1.4.1.1.501.2.1" and np.shares_memory(image.pixels, pixels)


def test_ct_positions_and_spacing_read_back(tmp_path):
    volume = np.arange(3 * 4 * 5, dtype=np.int16).reshape(3, 4, 5) - 30
    ct = CTImage(volume, context=CONTEXT, series_uid="2.25.3", series_number=1, spacing_mm=(2.0, 0.5, 0.25),
                 origin_mm=(1.0, 2.0, 3.0), kvp_kv=160.0)  # fmt: skip
    assert ct.PixelRepresentation == 1
    write_instance(tmp_path / "ct.dcs", ct, ct.volume, version="V03")
    read = CTImage.from_dataset(pydicom.dcmread(tmp_path / "ct.dcs"), path=tmp_path / "ct.dcs")
    np.testing.assert_array_equal(read.positions_mm[:, 2], [3.0, 5.0, 7.0])
    assert read.pixel_spacing_mm == (0.5, 0.25) and read.kvp_kv == 160.0
    np.testing.assert_array_equal(read.volume, volume)
    with pytest.raises(UnsupportedError, match="not a DXImage class"):
        DXImage.from_dataset(read, path=tmp_path / "ct.dcs")


def test_format_sniffs_dicos_content(tmp_path):
    pixels = np.zeros((4, 5), np.uint16)
    image = DXImage(pixels, context=CONTEXT, series_uid="2.25.2", series_number=1)
    write_instance(tmp_path / "noext", image, pixels, version="V03")
    head = (tmp_path / "noext").read_bytes()[:4096]
    assert DicosFormat().can_read(head, tmp_path / "noext")
    assert DicosFormat().can_read(b"", tmp_path)
    assert not DicosFormat().can_read(b"\0" * 128 + b"DICM" + b"1.2.840.10008.5.1.4.1.1.2", tmp_path / "ct.dcm")


def test_instances_of_one_context_share_no_element():
    context = ScanContext(
        "2.25.12", MOMENT, ObjectOfInspection("CARGO", "MSCU1234565", alternate_ids=(("AB-123-CD", "plate"),))
    )
    pixels = np.zeros((4, 6), np.uint16)
    first, second = (DXImage(pixels, context=context, series_uid=f"2.25.{n}", series_number=n) for n in (20, 21))
    assert first.PatientID == second.PatientID == "MSCU1234565"
    assert first.InstanceCreationTime == second.InstanceCreationTime  # one creation time per scan
    first.PatientID = "CHANGED"
    first.OtherPatientIDsSequence[0].PatientID = "CHANGED"
    first.ImageType[1] = "LOW ENERGY"
    assert second.PatientID == "MSCU1234565"
    assert second.OtherPatientIDsSequence[0].PatientID == "AB-123-CD"
    assert list(second.ImageType) == ["ORIGINAL", "INTENSITY"]
    assert DXImage(pixels, context=context, series_uid="2.25.22", series_number=3).PatientID == "MSCU1234565"


def _dx_bytes(**arguments) -> bytes:
    from nii.formats.dicos.encode import encode_dataset

    pixels = np.zeros((4, 6), np.uint16)
    image = DXImage(
        pixels, context=CONTEXT, series_uid="2.25.30", series_number=1, sop_instance_uid="2.25.31", **arguments
    )
    return encode_dataset(image)


LAYOUTS = [
    {},
    {"kvp_kv": 160.0},
    {"kvp_kv": 160},  # an int: a key of its own, the same text
    {"kvp_kv": 160.0, "orientation": (-1.0, 0.0, 0.0, 0.0, 1.0, 0.0)},
    {"kvp_kv": 160.0, "orientation": (-1.0, -0.0, 0.0, 0.0, 1.0, 0.0)},  # "-0.0" is its own text
    {"kvp_kv": 160.0, "image_type": ("DERIVED", "HIGH ENERGY"), "rescale_type": "ATTENUATION"},
    {"intent": "FOR PRESENTATION", "window": (100.0, 50.0)},
    {"intent": "FOR PRESENTATION", "window": (100.0, 51.0)},
    {"imager_pixel_spacing_mm": (2.0, 5.0), "detector_element_spacing_mm": (2.0, 2.0), "belt_speed_mm_s": 200},
    {"value_mapping": RealWorldValue(0.001, "1", "no units", "ATTENUATION", "attenuation")},
    {"value_mapping": RealWorldValue(0.002, "1", "no units", "ATTENUATION", "attenuation")},
    {"image_origin": "SYNTHETIC", "coordinate_system": "RHS"},
]


def test_dx_layout_templates_give_the_elements_built_anew():
    """A DX copies the elements its arguments give from a template built once per distinct layout:
    each layout, built first with the templates emptied, then again among all the others from its
    template, gives the same bytes; layouts that write different values never share a template."""
    from nii.formats.dicos import dx

    fresh = []
    for arguments in LAYOUTS:
        dx._LAYOUTS.clear()
        fresh.append(_dx_bytes(**arguments))
    assert len(set(fresh)) == len(LAYOUTS) - 1  # every layout writes something of its own, but 160 and 160.0
    assert fresh[3] != fresh[4]  # "-0.0" is not "0.0"
    for _ in range(2):
        for arguments, expected in zip(LAYOUTS, fresh, strict=True):
            assert _dx_bytes(**arguments) == expected, arguments
    assert len(dx._LAYOUTS) == len(LAYOUTS)  # one template per layout, 160 and 160.0 included


def test_dx_layouts_are_copied_not_shared():
    mapping = RealWorldValue(0.001, "1", "no units", "ATTENUATION", "attenuation")
    pixels = np.zeros((4, 6), np.uint16)
    first, second = (
        DXImage(pixels, context=CONTEXT, series_uid=f"2.25.{n}", series_number=n, value_mapping=mapping, kvp_kv=6000.0)
        for n in (40, 41)
    )
    first.RealWorldValueMappingSequence[0].LUTLabel = "CHANGED"
    first.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue = "mm"
    first.ImageOrientationPatient[0] = -1.0
    first.KVP = 100.0
    for image in (
        second,
        DXImage(pixels, context=CONTEXT, series_uid="2.25.42", series_number=3, value_mapping=mapping, kvp_kv=6000.0),
    ):
        assert image.RealWorldValueMappingSequence[0].LUTLabel == "ATTENUATION"
        assert image.RealWorldValueMappingSequence[0].MeasurementUnitsCodeSequence[0].CodeValue == "1"
        assert list(image.ImageOrientationPatient) == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
        assert image.KVP == 6000.0

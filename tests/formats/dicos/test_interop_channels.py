"""Processed channels and scans without identifiers: the reference toolkit loads them and
every DICOM tool finds the physical scale in the standard Real World Value Mapping."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

import nii
from nii.cli import main
from nii.formats.dicos.validate import validate_paths
from nii.kernels import QUANTIZATION
from nii.model import CalibrationState, InspectedObject, Scan
from nii.pipeline import Recipe, convert_scan
from nii.volume_threats import Box3D, VolumeThreat
from tests.conftest import make_scan
from tests.formats.dicos.conftest import make_baggage_scan
from tests.formats.dicos.tools import run_pydicos

EXPECTED_SCALES = {
    "high": (QUANTIZATION["ATTENUATION"], "1", "ATTENUATION"),
    "low": (QUANTIZATION["ATTENUATION"], "1", "ATTENUATION"),
    "steel_mm": (0.1, "mm", "STEEL_MM"),
    "zeff": (0.01, "1", "Z_EFFECTIVE"),
    "material": (1.0, "{class}", "MATERIAL"),
}


def _processed_scan() -> Scan:
    """make_scan's raw dual-energy scan through the pipeline: attenuation, steel, Z, material, 16-bit codes."""
    scan = convert_scan(make_scan(24, 40), Recipe.parse("attenuate,steel=linac-6/4,materials=linac-6/4,quantize"))
    assert scan.views[0].calibration is CalibrationState.ATTENUATION
    # make_scan's random counts include starved and saturated samples; their pixel_flags channel has no
    # value mapping of its own yet (it loads in the reference toolkit: tests/nii/test_onboard_interop.py).
    views = [view.with_channels({k: v for k, v in view.channels.items() if k != "pixel_flags"}) for view in scan.views]
    return scan.with_views(views)


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, tuple[Scan, Path]]:
    root = tmp_path_factory.mktemp("channels")
    processed = _processed_scan()
    anonymous = make_scan(24, 40)
    anonymous.inspected_object = InspectedObject("CARGO")  # no container number, plate, declaration or id
    anonymous.threats = []
    result = {}
    for name, scan in (("processed", processed), ("anonymous", anonymous)):
        for compression in ("none", "jpeg-lossless"):
            nii.write(scan, root / f"{name}-{compression}", format="dicos", compression=compression)
            result[f"{name}-{compression}"] = (scan, root / f"{name}-{compression}")
    return result


def _channel(path: Path) -> tuple[str, str]:
    _, view, channel = path.stem.split("-", 2)
    return view, channel


def test_reference_toolkit_loads_processed_channels_and_scans_without_identifier(written, tmp_path):
    files = [f for _, folder in written.values() for f in sorted(folder.glob("dx-*.dcs"))]
    assert len(files) == 2 * 2 * 5 + 2 * 2 * 2
    reports = run_pydicos("check", tmp_path, *files)
    for path, report in zip(files, reports, strict=True):
        assert report["read"] and report["errors"] == [], (path, report["log"])
        scan = written[path.parent.name][0]
        view, channel = _channel(path)
        np.testing.assert_array_equal(np.load(report["pixels"]), scan.view(view).channels[channel])


def test_physical_scales_are_in_the_real_world_value_mapping(written):
    scan, folder = written["processed-none"]
    assert {_channel(p)[1] for p in folder.glob("dx-*.dcs")} == set(EXPECTED_SCALES)
    for path in sorted(folder.glob("dx-*.dcs")):
        dataset = pydicom.dcmread(path)
        assert float(dataset.RescaleSlope) == 1  # the reference toolkit refuses anything else on DX
        (mapping,) = dataset.RealWorldValueMappingSequence
        slope, unit, label = EXPECTED_SCALES[_channel(path)[1]]
        assert float(mapping.RealWorldValueSlope) == pytest.approx(slope)
        assert float(mapping.RealWorldValueIntercept) == 0
        assert mapping.MeasurementUnitsCodeSequence[0].CodeValue == unit
        assert mapping.MeasurementUnitsCodeSequence[0].CodingSchemeDesignator == "UCUM"
        assert mapping.LUTLabel == label
    # A reader that knows only DICOM gets millimetres of steel from the codes.
    steel = pydicom.dcmread(folder / "dx-side-steel_mm.dcs")
    millimetres = steel.pixel_array * float(steel.RealWorldValueMappingSequence[0].RealWorldValueSlope)
    np.testing.assert_allclose(millimetres, scan.view("side").channels["steel_mm"] * 0.1)
    assert millimetres.max() > 1


def test_scan_without_identifier_uses_the_reference_placeholder(written):
    _, folder = written["anonymous-none"]
    dataset = pydicom.dcmread(folder / "dx-side-high.dcs", stop_before_pixels=True)
    assert (dataset.PatientID, dataset.IssuerOfPatientID) == ("unknown", "unknown")
    back = nii.read(folder)
    assert back.inspected_object.identifier is None and back.inspected_object.container_numbers == ()


@pytest.mark.parametrize("name", ["processed-none", "processed-jpeg-lossless", "anonymous-none"])
def test_nii_validates_and_reads_back_what_it_wrote(written, name):
    scan, folder = written[name]
    reports = validate_paths([folder])
    assert reports and all(r.ok and not r.warnings for r in reports), [r.as_dict() for r in reports]
    back = nii.read(folder)
    for view in scan.views:
        for channel, pixels in view.channels.items():
            np.testing.assert_array_equal(back.view(view.name).channels[channel], pixels)


def test_reference_toolkit_loads_the_readme_sample_output(tmp_path):
    """The README's main job, smaller: simulate a cargo scan and a suitcase with threats, convert
    to DICOS with attenuation codes, validate; the reference toolkit loads every file."""
    inputs = tmp_path / "in"
    assert main(["simulate", "cargo", "--out", str(inputs / "cargo.npz"), "--seed", "1", "--scale", "0.1"]) == 0
    suitcase = ["simulate", "suitcase", "--out", str(inputs / "suitcase.npz"), "--seed", "2", "--threats-in-scan"]
    assert main([*suitcase, "--scale", "0.5"]) == 0
    out = tmp_path / "dicos"
    assert main(["convert", str(inputs), "--out", str(out), "--normalize", "attenuate=uint16"]) == 0
    assert main(["validate", str(out / "cargo"), str(out / "suitcase")]) == 0
    files = sorted(out.glob("*/*.dcs"))
    # two channels of one view, two of two views, one TDR; and the views' starved/saturated pixel flags
    assert len([f for f in files if "pixel_flags" not in f.name]) == 7
    reports = run_pydicos("check", tmp_path, *files)
    for path, report in zip(files, reports, strict=True):
        assert report["read"] and report["errors"] == [], (path, report["log"])
    (tdr,) = [r for r in reports if "ptos" in r]
    assert len(tdr["ptos"]) == len(nii.read(out / "suitcase").threats) > 0
    mapping = pydicom.dcmread(out / "cargo" / "dx-side-high.dcs").RealWorldValueMappingSequence[0]
    assert (mapping.LUTLabel, float(mapping.RealWorldValueSlope)) == ("ATTENUATION", QUANTIZATION["ATTENUATION"])


def test_reference_toolkit_loads_threats_nii_marks_on_a_ct_volume(tmp_path):
    scan = make_baggage_scan(large=True)
    mask = np.zeros((2, 5, 6), bool)
    mask[:, 1:4, 2:5] = True
    scan.volume_threats = [
        VolumeThreat(
            Box3D(3, 4, 1, 6, 5, 2), volume="ct", category="EXPLOSIVE", probability=0.75, mass=420.0, mask=mask
        )
    ]
    nii.write(scan, tmp_path / "scan", format="dicos")
    files = sorted((tmp_path / "scan").glob("tdr-*.dcs"))
    reports = run_pydicos("check", tmp_path, *files)
    assert all(report["read"] and not report["errors"] for report in reports), reports
    ptos = {pto["id"]: pto for report in reports for pto in report["ptos"]}
    pto = ptos[len(scan.threats) + 1]  # volume threats follow the view threats
    assert pto["base"] + pto["extents"] == [3.0, 4.0, 1.0, 6.0, 5.0, 2.0]
    assert pto["bitmap_bits"] == mask.size
    (back,) = nii.read(tmp_path / "scan").volume_threats
    assert back == scan.volume_threats[0] or (
        back.box == scan.volume_threats[0].box and np.array_equal(back.mask, mask) and back.mass == 420.0
    )


def test_without_the_private_block_channels_are_found_by_their_value_mapping(written, tmp_path):
    """A file stripped of nii's private block (as a de-identifier may do) still reads as steel,
    Z and material channels, with the view's calibration from Rescale Type."""
    scan, folder = written["processed-none"]
    for path in sorted(folder.glob("dx-side-*.dcs")):
        dataset = pydicom.dcmread(path)
        dataset.remove_private_tags()
        dataset.save_as(tmp_path / path.name, enforce_file_format=True)
    (view,) = nii.read(tmp_path).views
    side = scan.view("side")
    assert set(view.channels) == set(side.channels)
    assert view.calibration is CalibrationState.ATTENUATION
    for channel, pixels in side.channels.items():
        np.testing.assert_array_equal(view.channels[channel], pixels)

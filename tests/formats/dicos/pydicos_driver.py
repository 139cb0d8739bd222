"""Driver for the reference DICOS toolkit (pyDICOS), run in its own virtual environment.

The closed SDK inside pyDICOS can crash the process, so the tests never import it: they
run this script with the pyDICOS interpreter and read its JSON answer on stdout.

Commands::

    check OUT_DIR FILE...      load each file with the SDK reader chosen from its SOP class;
                               report Read(), the error log, pixels (saved as .npy in OUT_DIR)
                               and PTO boxes
    write OUT_DIR              write reference files with known pixels and boxes, one scan per
                               folder: dx/ (DX + TDR), dx_jpeg/, ct/ and ct_jpeg/ (JPEG Lossless),
                               tdr_alone/ (the dx TDR without its image), ct_tdr/ (CT + TDR with a
                               3-D threat), dual_ct/ (high and low CT of different scans sharing a
                               frame of reference + one TDR on both), dx_types/ (32-bit, 64-bit
                               and float DX)
    bench-dx OUT_DIR IMAGES.npy REPEATS TRANSFER
                               time the SDK's DX writer (build + write one DX per image of the
                               (channels, rows, columns) array), best of REPEATS; TRANSFER is
                               "explicit" or "default" (JPEG Lossless)

This file is executed by pyDICOS's interpreter, never imported by the test suite.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
from pyDICOS import (
    CT,
    DX,
    TDR,
    Array1DPoint3Dfloat,
    Array1DS_UINT16,
    Bitmap,
    CustomArray1DDcsLongString,
    DcsDate,
    DcsDateTime,
    DcsLongString,
    DcsLongText,
    DcsTime,
    DcsUniqueIdentifier,
    ErrorLog,
    Filename,
    Point3Dfloat,
    Section,
    Vector3Dfloat,
    Volume,
)

CLASSES = {
    "1.2.840.10008.5.1.4.1.1.501.1": CT,
    "1.2.840.10008.5.1.4.1.1.501.2.1": DX,
    "1.2.840.10008.5.1.4.1.1.501.2.2": DX,
    "1.2.840.10008.5.1.4.1.1.501.3": TDR,
}
OOI, TS = CT.OBJECT_OF_INSPECTION_TYPE, CT.TRANSFER_SYNTAX


def _log_lines(log: ErrorLog) -> list[str]:
    return [line.strip() for line in log.GetErrorLog().Get().splitlines() if line.strip()]


def _pixels(obj: object, kind: type) -> np.ndarray:
    if kind is DX:
        return np.array(obj.GetXRayData().GetUnsigned16(), copy=True)
    sections = []
    iterator = obj.Begin()
    while iterator != obj.End():
        volume = iterator.deref().GetPixelData()
        data = volume.GetUnsigned16()
        sections.append(np.stack([np.array(data[z], copy=True) for z in range(volume.GetDepth())]))
        next(iterator)
    return np.concatenate(sections) if sections else np.zeros((0, 0, 0), np.uint16)


def _ptos(tdr: TDR) -> list[dict]:
    ids = Array1DS_UINT16()
    tdr.GetPTOIds(ids)
    result = []
    for index in range(ids.GetSize()):
        base, extents, bitmap, polygon = Point3Dfloat(), Point3Dfloat(), Bitmap(), Array1DPoint3Dfloat()
        tdr.GetThreatRegionOfInterest(ids[index], base, extents, bitmap, 0)
        tdr.GetThreatBoundingPolygon(ids[index], polygon, 0)
        result.append(
            {
                "id": int(ids[index]),
                "base": [base.x, base.y, base.z],
                "extents": [extents.x, extents.y, extents.z],
                "bitmap_bits": int(bitmap.GetNumBits()) if bitmap.GetSize() else 0,
                "polygon_points": int(polygon.GetSize()),
            }
        )
    return result


def check(out_dir: Path, files: list[str]) -> list[dict]:
    reports = []
    for number, name in enumerate(files):
        sop_class = str(pydicom.dcmread(name, stop_before_pixels=True).SOPClassUID)
        kind = CLASSES[sop_class]
        obj = kind()
        log = ErrorLog()
        ok = bool(obj.Read(Filename(name), log, None))
        lines = _log_lines(log)
        errors = [line for line in lines if line.startswith("Error")]
        report = {"file": name, "read": ok, "errors": errors, "log": lines}
        if ok and kind is not TDR:
            pixels = _pixels(obj, kind)
            target = out_dir / f"pixels-{number}.npy"
            np.save(target, pixels)
            report["pixels"] = str(target)
        if ok and kind is TDR:
            report["ptos"] = _ptos(obj)
            report["alarm_objects"] = int(obj.GetNumAlarmObjects())
        reports.append(report)
    return reports


def _dx(image: np.ndarray) -> DX:
    dx = DX(
        OOI.enumTypeCargo,
        DX.PRESENTATION_INTENT_TYPE.enumProcessing,
        DX.PIXEL_DATA_CHARACTERISTICS.enumOriginal,
        CT.PHOTOMETRIC_INTERPRETATION.enumMonochrome2,
    )
    data = dx.GetXRayData()
    data.Allocate(Volume.IMAGE_DATA_TYPE.enumUnsigned16Bit, image.shape[1], image.shape[0])
    np.array(data.GetUnsigned16(), copy=False)[:] = image
    dx.SetKVP(6000.0)
    dx.SetXRayTubeCurrent(2.5)
    dx.SetImageOrientation(Vector3Dfloat(1, 0, 0), Vector3Dfloat(0, 1, 0))
    dx.SetImagePosition(Point3Dfloat(0, 0, 0))
    return dx


def _write(obj: object, path: Path, transfer: object | None) -> None:
    log = ErrorLog()
    ok = obj.Write(Filename(str(path)), log, transfer) if transfer is not None else obj.Write(Filename(str(path)), log)
    if not ok:
        raise RuntimeError(log.GetErrorLog().Get())


def write(out_dir: Path) -> dict:
    rng = np.random.default_rng(7)
    for name in ("dx", "dx_jpeg", "ct", "ct_jpeg"):
        (out_dir / name).mkdir()
    image = rng.integers(0, 65535, (200, 300), dtype=np.uint16)
    np.save(out_dir / "dx.npy", image)
    _write(_dx(image), out_dir / "dx" / "dx.dcs", TS.enumLittleEndianExplicit)
    _write(_dx(image), out_dir / "dx_jpeg" / "dx.dcs", None)

    ct = CT(
        OOI.enumTypeBaggage,
        CT.OOI_IMAGE_CHARACTERISTICS.enumHighEnergy,
        CT.IMAGE_FLAVOR.enumVolume,
        CT.PHOTOMETRIC_INTERPRETATION.enumMonochrome2,
    )
    ct.SetImageAcquisitionDuration(5.2)
    ct.SetNumberOfSections(1)
    section = ct.GetSectionByIndex(0)
    section.SetFilterMaterial(Section.FILTER_MATERIAL.enumAluminum)
    section.SetFocalSpotSizeInMM(1.0)
    section.SetKVP(160)
    section.SetPlaneOrientation(Vector3Dfloat(1, 0, 0), Vector3Dfloat(0, 1, 0))
    section.SetPositionInMM(0, 0, 0)
    section.SetSpacingInMM(1.0, 1.0, 1.5)
    section.SetSliceThickness(1.5)
    volume = section.GetPixelData()
    volume.Allocate(Volume.IMAGE_DATA_TYPE.enumUnsigned16Bit, 64, 48, 8)
    cube = rng.integers(0, 4000, (8, 48, 64), dtype=np.uint16)
    for z in range(8):
        np.array(volume.GetUnsigned16().GetSlice(z), copy=False)[:] = cube[z]
    np.save(out_dir / "ct.npy", cube)
    _write(ct, out_dir / "ct" / "ct.dcs", TS.enumLittleEndianExplicit)
    _write(ct, out_dir / "ct_jpeg" / "ct.dcs", None)

    reference = pydicom.dcmread(out_dir / "dx" / "dx.dcs")
    tdr = TDR(OOI.enumTypeCargo, TDR.TDR_TYPE.enumMachine, 1)
    tdr.SetOOIID(DcsLongString("MSCU1234565"))
    tdr.SetScanInstanceUID(DcsUniqueIdentifier(str(reference.StudyInstanceUID)))
    tdr.SetContentDateAndTime(DcsDate(2024, 5, 17), DcsTime(12, 30, 15, 0))
    tdr.SetTDRTypeATR(DcsLongString("ExampleATR"), DcsLongString("1.0"), CustomArray1DDcsLongString(0))
    tdr.SetImageScaleRepresentation(1.0)
    tdr.SetAlarmDecision(TDR.ALARM_DECISION.enumAlarm)
    tdr.SetAlarmDecisionDateTime(DcsDate(2024, 5, 17), DcsTime(12, 30, 16, 0))
    tdr.SetAbortFlag(TDR.ABORT_FLAG.enumSuccess)
    tdr.SetTotalProcessingTimeInMS(500.0)
    boxes = [((120, 40), (30, 25)), ((10, 150), (60, 20))]
    for pto, ((x, y), (w, h)) in enumerate(boxes, start=1):
        tdr.AddPotentialThreatObject(pto, TDR.ThreatType.enumThreatTypeBaggage)
        tdr.AddPTOAssessment(
            pto,
            TDR.ASSESSMENT_FLAG.enumThreat,
            TDR.THREAT_CATEGORY.enumContraband,
            TDR.ABILITY_ASSESSMENT.enumNoInterference,
            DcsLongText("cigarettes"),
            0.8,
        )
        tdr.SetBaggagePTODetails(pto, 0.0, 0.0, 0)
        tdr.SetThreatRegionOfInterest(pto, Point3Dfloat(x, y, 0), Point3Dfloat(w, h, 1), Bitmap(), 0)
        now = DcsDateTime()
        now.SetNow()
        tdr.SetPTOProcessingTime(pto, now, now, 12.0)
        tdr.AddReferencedInstance(
            pto,
            DcsUniqueIdentifier(str(reference.SOPClassUID)),
            DcsUniqueIdentifier(str(reference.SOPInstanceUID)),
            0,
        )
    _write(tdr, out_dir / "dx" / "tdr.dcs", None)
    (out_dir / "tdr_alone").mkdir()
    shutil.copy(out_dir / "dx" / "tdr.dcs", out_dir / "tdr_alone" / "tdr.dcs")
    answer = {"boxes": [[x, y, w, h] for (x, y), (w, h) in boxes]}
    answer |= _write_ct_with_tdr(out_dir, rng)
    answer |= _write_dx_types(out_dir)
    return answer


def _ct(cube: np.ndarray, energy: object, kvp: float) -> CT:
    ct = CT(OOI.enumTypeBaggage, energy, CT.IMAGE_FLAVOR.enumVolume, CT.PHOTOMETRIC_INTERPRETATION.enumMonochrome2)
    ct.SetImageAcquisitionDuration(5.2)
    ct.SetNumberOfSections(1)
    section = ct.GetSectionByIndex(0)
    section.SetFilterMaterial(Section.FILTER_MATERIAL.enumAluminum)
    section.SetFocalSpotSizeInMM(1.0)
    section.SetKVP(kvp)
    section.SetPlaneOrientation(Vector3Dfloat(1, 0, 0), Vector3Dfloat(0, 1, 0))
    section.SetPositionInMM(0, 0, 0)
    section.SetSpacingInMM(1.0, 1.0, 2.0)
    section.SetSliceThickness(2.0)
    volume = section.GetPixelData()
    depth, height, width = cube.shape
    volume.Allocate(Volume.IMAGE_DATA_TYPE.enumUnsigned16Bit, width, height, depth)
    for z in range(depth):
        np.array(volume.GetUnsigned16().GetSlice(z), copy=False)[:] = cube[z]
    return ct


def _baggage_tdr(scan_uid: str, references: list[pydicom.Dataset], box: tuple, mass: float, density: float) -> TDR:
    tdr = TDR(OOI.enumTypeBaggage, TDR.TDR_TYPE.enumMachine, 1)
    tdr.SetOOIID(DcsLongString("BAG-0001"))
    tdr.SetScanInstanceUID(DcsUniqueIdentifier(scan_uid))
    tdr.SetContentDateAndTime(DcsDate(2024, 5, 17), DcsTime(12, 30, 15, 0))
    tdr.SetTDRTypeATR(DcsLongString("ExampleATR"), DcsLongString("2.1"), CustomArray1DDcsLongString(0))
    tdr.SetImageScaleRepresentation(1.0)
    tdr.SetAlarmDecision(TDR.ALARM_DECISION.enumAlarm)
    tdr.SetAlarmDecisionDateTime(DcsDate(2024, 5, 17), DcsTime(12, 30, 16, 0))
    tdr.SetAbortFlag(TDR.ABORT_FLAG.enumSuccess)
    tdr.SetTotalProcessingTimeInMS(500.0)
    tdr.AddPotentialThreatObject(1, TDR.ThreatType.enumThreatTypeBaggage)
    tdr.AddPTOAssessment(
        1,
        TDR.ASSESSMENT_FLAG.enumHighThreat,
        TDR.THREAT_CATEGORY.enumExplosive,
        TDR.ABILITY_ASSESSMENT.enumNoInterference,
        DcsLongText("sheet explosive"),
        0.9,
    )
    tdr.SetBaggagePTODetails(1, mass, density, 0)
    (x, y, z), (w, h, d) = box
    tdr.SetThreatRegionOfInterest(1, Point3Dfloat(x, y, z), Point3Dfloat(w, h, d), Bitmap(), 0)
    now = DcsDateTime()
    now.SetNow()
    tdr.SetPTOProcessingTime(1, now, now, 12.0)
    for reference in references:
        tdr.AddReferencedInstance(
            1, DcsUniqueIdentifier(str(reference.SOPClassUID)), DcsUniqueIdentifier(str(reference.SOPInstanceUID)), 0
        )
    return tdr


def _write_ct_with_tdr(out_dir: Path, rng: np.random.Generator) -> dict:
    """ct_tdr/: a CT and its TDR; dual_ct/: high and low CT, each its own scan, one TDR on both."""
    for name in ("ct_tdr", "dual_ct"):
        (out_dir / name).mkdir()
    cube = rng.integers(0, 4000, (6, 40, 50), dtype=np.uint16)
    np.save(out_dir / "ct_tdr.npy", cube)
    box = ((12, 8, 1), (20, 10, 3))
    _write(_ct(cube, CT.OOI_IMAGE_CHARACTERISTICS.enumHighEnergy, 160), out_dir / "ct_tdr" / "ct.dcs", None)
    ct = pydicom.dcmread(out_dir / "ct_tdr" / "ct.dcs", stop_before_pixels=True)
    _write(_baggage_tdr(str(ct.StudyInstanceUID), [ct], box, 350.0, 1.6), out_dir / "ct_tdr" / "tdr.dcs", None)
    low = rng.integers(0, 4000, cube.shape, dtype=np.uint16)
    np.save(out_dir / "dual_ct_low.npy", low)
    frame_of_reference = "1.2.826.0.1.3680043.10.1234.1"
    written = []
    for name, data, energy, kvp in (
        ("high", cube, CT.OOI_IMAGE_CHARACTERISTICS.enumHighEnergy, 160),
        ("low", low, CT.OOI_IMAGE_CHARACTERISTICS.enumLowEnergy, 80),
    ):
        image = _ct(data, energy, kvp)
        image.SetFrameOfReferenceUID(DcsUniqueIdentifier(frame_of_reference))
        _write(image, out_dir / "dual_ct" / f"ct_{name}.dcs", TS.enumLittleEndianExplicit)
        written.append(pydicom.dcmread(out_dir / "dual_ct" / f"ct_{name}.dcs", stop_before_pixels=True))
    tdr = _baggage_tdr(pydicom.uid.generate_uid(prefix=None), written, box, 350.0, 1.6)
    tdr.SetFrameOfReferenceUID(DcsUniqueIdentifier(frame_of_reference))
    _write(tdr, out_dir / "dual_ct" / "tdr.dcs", None)
    return {"ct_box": [*box[0], *box[1]], "mass": 350.0, "density": 1.6}


def _write_dx_types(out_dir: Path) -> dict:
    """dx_types/: one DX each with 32-bit unsigned, 64-bit unsigned and float pixels (V02A types)."""
    (out_dir / "dx_types").mkdir()
    kinds = {
        "u32": (Volume.IMAGE_DATA_TYPE.enumUnsigned32Bit, "GetUnsigned32", np.uint32),
        "u64": (Volume.IMAGE_DATA_TYPE.enumUnsigned64Bit, "GetUnsigned64", np.uint64),
        "float": (Volume.IMAGE_DATA_TYPE.enumFloat, "GetFloat", np.float32),
    }
    values = np.arange(12 * 20).reshape(12, 20)
    for name, (kind, getter, dtype) in kinds.items():
        dx = _dx(np.zeros((12, 20), np.uint16))
        data = dx.GetXRayData()
        data.Allocate(kind, 20, 12)
        image = (values * 0.25).astype(dtype) if dtype == np.float32 else (values * 70000 + 3).astype(dtype)
        np.array(getattr(data, getter)(), copy=False)[:] = image
        np.save(out_dir / "dx_types" / f"{name}.npy", image)
        _write(dx, out_dir / "dx_types" / f"{name}.dcs", TS.enumLittleEndianExplicit)
    return {"dx_types": sorted(kinds)}


def bench_dx(out_dir: Path, images: np.ndarray, repeats: int, transfer: str) -> dict:
    syntax = TS.enumLittleEndianExplicit if transfer == "explicit" else None
    times = []
    for repeat in range(repeats):
        folder = out_dir / f"run-{repeat}"
        folder.mkdir()
        start = time.perf_counter()
        for index, image in enumerate(images):
            _write(_dx(image), folder / f"dx-{index}.dcs", syntax)
        times.append(time.perf_counter() - start)
        if repeat:  # keep run-0 for the caller; drop the rest so dirty pages do not pile up
            shutil.rmtree(folder)
    return {"seconds": min(times), "all_seconds": times, "folder": str(out_dir / "run-0")}


def main(argv: list[str]) -> None:
    command, out_dir = argv[0], Path(argv[1])
    if command == "check":
        result: object = check(out_dir, argv[2:])
    elif command == "write":
        result = write(out_dir)
    elif command == "bench-dx":
        result = bench_dx(out_dir, np.load(argv[2]), int(argv[3]), argv[4])
    else:
        raise SystemExit(f"unknown command {command!r}")
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1:])

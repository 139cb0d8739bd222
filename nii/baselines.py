"""Baselines of ``nii bench``: conversions of a stored-uncompressed ``.npz`` scan to DX files, written as users
of numpy, OpenCV, numba and pydicom would write them, each giving nii's attenuation codes.

* **naive**: ``numpy.load`` → the calibration (dark, air, source monitor) in plain numpy float64 with
  temporaries, without dead-element repair → 16-bit codes → one pydicom dataset per channel written with
  pydicom's default path (``Dataset.save_as``);
* **numpy-float32**: what a competent numpy user writes: float32 in place (``out=``) in one reused buffer, with
  nii's dead-element repair, the same pydicom write;
* **opencv**: numpy-float32 with OpenCV's vectorised ``cv2.log``;
* **numba-stream**: what a careful user writes: the stored arrays mapped from the file, calibration,
  source-monitor correction, dead-element repair and logarithm fused in one parallel numba loop into a
  reused code buffer, and a pydicom header (built once per image size, new UIDs per file) followed by the pixel
  data written straight from that buffer, without a dataset copy of the pixels.

:data:`BASELINES` holds them by name; :func:`code_difference` compares a baseline's codes with nii's.
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numba
import numpy as np

from nii.errors import ConfigurationError

__all__ = [
    "BASELINES",
    "code_difference",
    "naive_convert",
    "numba_stream_convert",
    "numpy_float32_convert",
    "opencv_convert",
]


def naive_convert(source: Path, target: Path) -> None:
    """The naive baseline: numpy read, plain float64 calibration with temporaries, pydicom's default write."""
    _baseline_convert(source, target, _naive_codes)


def numpy_float32_convert(source: Path, target: Path) -> None:
    """A competent numpy baseline: float32 in place (``out=``, one buffer per shape, reused), with the
    source-monitor correction and the dead-element repair nii does, pydicom's default write."""
    _baseline_convert(source, target, partial(_float32_codes, log=np.log))


def opencv_convert(source: Path, target: Path) -> None:
    """:func:`numpy_float32_convert` with OpenCV's vectorised ``cv2.log`` (the log is the costly pass)."""
    import cv2

    _baseline_convert(source, target, partial(_float32_codes, log=cv2.log))


_Calibrate = Callable[[dict[str, np.ndarray], str, str, dict[tuple[int, ...], Any]], np.ndarray]


def _dx_header(shape: tuple[int, ...]) -> Any:
    """A pydicom dataset of a 16-bit DX image of ``shape`` (no pixel data), under a new SOP Instance UID."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.501.2.2")
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "XRAY"
    ds.Rows, ds.Columns = shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    return ds


def _baseline_convert(source: Path, target: Path, codes_of: _Calibrate) -> None:
    target.mkdir()
    written = 0
    buffers: dict[tuple[int, ...], Any] = {}
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files if name.startswith("views/")}
    for key in arrays:
        parts = key.split("/")
        if parts[2] != "channels":
            continue
        view, channel = parts[1], parts[3]
        codes = codes_of(arrays, view, channel, buffers)
        ds = _dx_header(codes.shape)
        ds.PixelData = codes.tobytes()
        ds.save_as(target / f"dx-{view}-{channel}.dcs", enforce_file_format=True)
        written += 1
    if not written:
        raise ConfigurationError(f"{source}: no channels found for the baseline")


def _naive_codes(arrays: dict[str, np.ndarray], view: str, channel: str, buffers: dict[Any, Any]) -> np.ndarray:
    raw = arrays[f"views/{view}/channels/{channel}"]
    dark = arrays[f"views/{view}/dark/{channel}"].astype(np.float64)
    air = arrays[f"views/{view}/air/{channel}"].astype(np.float64)
    dark = dark.mean(axis=1) if dark.ndim == 2 else dark
    air = air.mean(axis=1) if air.ndim == 2 else air
    transmission = (raw.astype(np.float64) - dark[:, None]) / (air - dark)[:, None]
    monitor = arrays.get(f"views/{view}/reference/{channel}")
    if monitor is not None:  # source fluctuation, as nii corrects it
        transmission *= np.median(monitor) / monitor[None, :]
    attenuation = -np.log(np.clip(transmission, 1e-6, 1.0))
    return np.clip(np.rint(attenuation * 4096), 0, 65535).astype(np.uint16)


def _bad_elements(dark: np.ndarray, air: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dead or saturated detector elements (nii's rule), the mean dark level and the gain of every element."""
    air_peak = air if air.ndim == 1 else air.max(axis=1)
    dark = dark.mean(axis=1) if dark.ndim == 2 else dark.astype(np.float64)
    gain = (air.mean(axis=1) if air.ndim == 2 else air) - dark
    return (gain <= 0.1 * np.median(gain)) | (gain <= 0) | (air_peak >= 65535), dark, gain


def _repair_sources(bad: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every detector element, the nearest good elements below and above and the weight of the upper one
    (the element itself and weight 0 when it is good; the nearest good one at the ends of the detector)."""
    rows, good = np.arange(bad.size), np.flatnonzero(~bad)
    lower = good[np.clip(np.searchsorted(good, rows, side="right") - 1, 0, good.size - 1)]
    upper = good[np.clip(np.searchsorted(good, rows), 0, good.size - 1)]
    weight = np.where(upper > lower, (rows - lower) / np.maximum(upper - lower, 1), 0).astype(np.float32)
    return lower.astype(np.int64), upper.astype(np.int64), weight


def code_difference(source: Path, ours: Path, theirs: Path, *, repaired: bool = True) -> int:
    """The largest difference between the attenuation codes of the DICOS folders ``ours`` (nii's) and
    ``theirs`` (a baseline's), both converted from ``source``, over the images the baseline wrote (by name).
    Pixels nii flags as starved or saturated (its ``pixel_flags`` images) are left out: nii marks them
    instead of giving them the clipped value. ``repaired=False`` for a baseline that repairs no dead
    element: those detector rows are left out too.

    Raises
    ------
    ConfigurationError
        The baseline wrote an image nii did not, or of another size.
    """
    import pydicom

    names = sorted(p.name for p in theirs.iterdir())
    if missing := set(names) - {p.name for p in ours.iterdir()}:
        raise ConfigurationError(f"{theirs} holds {sorted(missing)}, which nii did not write")
    largest = 0
    with np.load(source) as archive:
        for name in names:
            view, channel = name.removesuffix(".dcs").split("-")[1:]
            a, b = (pydicom.dcmread(folder / name).pixel_array.astype(np.int32) for folder in (ours, theirs))
            if a.shape != b.shape:
                raise ConfigurationError(f"{name}: {a.shape} pixels from nii, {b.shape} from the baseline")
            keep = np.ones(a.shape, bool)
            flags = ours / f"dx-{view}-pixel_flags.dcs"
            if flags.exists():
                keep &= pydicom.dcmread(flags).pixel_array == 0
            if not repaired:
                references = (archive[f"views/{view}/{kind}/{channel}"] for kind in ("dark", "air"))
                keep[_bad_elements(*references)[0]] = False
            largest = max(largest, int(np.abs(a[keep] - b[keep]).max(initial=0)))
    return largest


def _float32_codes(
    arrays: dict[str, np.ndarray], view: str, channel: str, buffers: dict[Any, Any], *, log: Callable[..., Any]
) -> np.ndarray:
    raw = arrays[f"views/{view}/channels/{channel}"]
    if raw.shape not in buffers:
        buffers[raw.shape] = (np.empty(raw.shape, np.float32), np.empty(raw.shape, np.uint16))
    work, codes = buffers[raw.shape]
    dark, air = (arrays[f"views/{view}/{name}/{channel}"] for name in ("dark", "air"))
    bad, dark, gain = _bad_elements(dark, air)
    np.subtract(raw, dark[:, None].astype(np.float32), out=work)
    np.multiply(work, np.where(bad, 0, 1 / np.where(bad, 1, gain)).astype(np.float32)[:, None], out=work)
    monitor = arrays.get(f"views/{view}/reference/{channel}")
    if monitor is not None:
        np.multiply(work, (np.median(monitor) / monitor).astype(np.float32)[None, :], out=work)
    if bad.any() and not bad.all():  # linear between the nearest good elements, as nii repairs
        lower, upper, weight = (values[bad] for values in _repair_sources(bad))
        work[bad] = (1 - weight[:, None]) * work[lower] + weight[:, None] * work[upper]
    np.clip(work, 1e-6, 1.0, out=work)
    log(work, work)
    np.multiply(work, -4096, out=work)
    np.rint(work, out=work)
    np.clip(work, 0, 65535, out=work)
    np.copyto(codes, work, casting="unsafe")
    return codes


_STREAM_BUFFERS: dict[tuple[int, ...], tuple[np.ndarray, Any]] = {}
"""The numba-stream baseline's code buffer and DX header of every image size, kept from scan to scan."""
_PIXEL_DATA_OW = struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, 0)[:-4]
"""Explicit VR little endian element header of Pixel Data (OW), before its 32-bit length."""


def numba_stream_convert(source: Path, target: Path) -> None:
    """The careful user's baseline: mapped input, one fused parallel numba pass per channel into a reused
    code buffer, a pydicom header (built once per size) and the pixels written from the buffer."""
    from pydicom import dcmwrite
    from pydicom.uid import generate_uid

    target.mkdir()
    arrays = _mapped_arrays(source)
    channels = [key.split("/") for key in arrays if key.count("/") == 3 and key.split("/")[2] == "channels"]
    if not channels:
        raise ConfigurationError(f"{source}: no channels found for the baseline")
    for _, view, _, channel in channels:
        raw = arrays[f"views/{view}/channels/{channel}"]
        if raw.shape not in _STREAM_BUFFERS:
            _STREAM_BUFFERS[raw.shape] = (np.empty(raw.shape, np.uint16), _dx_header(raw.shape))
        codes, header = _STREAM_BUFFERS[raw.shape]
        bad, dark, gain = _bad_elements(*(arrays[f"views/{view}/{kind}/{channel}"] for kind in ("dark", "air")))
        inverse_gain = np.where(bad, 0, 1 / np.where(bad, 1, gain)).astype(np.float32)
        monitor = arrays.get(f"views/{view}/reference/{channel}")
        line_scale = np.ones(raw.shape[1], np.float32) if monitor is None else np.median(monitor) / monitor
        # One thread below a million pixels: waking the others costs more than it saves (much more when the
        # machine is busy and a woken thread waits for a core), as nii's kernels also know.
        threads = numba.get_num_threads()
        numba.set_num_threads(1 if raw.size < 1 << 20 else threads)
        try:
            _fused_codes(
                raw, dark.astype(np.float32), inverse_gain, line_scale.astype(np.float32), *_repair_sources(bad), codes
            )
        finally:
            numba.set_num_threads(threads)
        header.SOPInstanceUID = header.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        stream = io.BytesIO()
        dcmwrite(stream, header, enforce_file_format=True)
        with open(target / f"dx-{view}-{channel}.dcs", "wb") as output:
            output.write(stream.getbuffer())
            output.write(_PIXEL_DATA_OW + struct.pack("<I", codes.nbytes))
            output.write(codes.data)


def _mapped_arrays(source: Path) -> dict[str, np.ndarray]:
    """The stored ``.npy`` members of the ``.npz`` ``source`` as views of one read-only map of the file."""
    whole = np.memmap(source, dtype=np.uint8, mode="r")
    arrays = {}
    with zipfile.ZipFile(source) as archive:
        for info in archive.infolist():
            if info.compress_type != zipfile.ZIP_STORED or not info.filename.endswith(".npy"):
                continue
            local = bytes(whole[info.header_offset : info.header_offset + 30])
            start = (
                info.header_offset
                + 30
                + int.from_bytes(local[26:28], "little")
                + int.from_bytes(local[28:30], "little")
            )
            header = io.BytesIO(bytes(whole[start : start + min(info.file_size, 4096)]))
            version = np.lib.format.read_magic(header)
            read_header = (
                np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(header)
            count = int(np.prod(shape))
            offset = start + header.tell()
            flat = whole[offset : offset + count * dtype.itemsize].view(dtype)
            arrays[info.filename.removesuffix(".npy")] = flat.reshape(shape, order="F" if fortran else "C")
    return arrays


@numba.njit(parallel=True, cache=True)
def _fused_codes(raw, offset, inverse_gain, line_scale, lower, upper, weight, codes):  # pragma: no cover - compiled
    """Codes ``round(−ln T × 4096)`` of the transmission ``T`` calibrated, monitor-corrected, repaired, clipped."""
    rows, lines = raw.shape
    for r in numba.prange(rows):
        lo, hi, w = lower[r], upper[r], weight[r]
        for j in range(lines):
            t = (np.float32(raw[lo, j]) - offset[lo]) * inverse_gain[lo]
            if lo != hi:
                t = (np.float32(1) - w) * t + w * ((np.float32(raw[hi, j]) - offset[hi]) * inverse_gain[hi])
            t = min(max(t * line_scale[j], np.float32(1e-6)), np.float32(1))
            codes[r, j] = np.uint16(-np.log(t) * np.float32(4096) + np.float32(0.5))


BASELINES: dict[str, Callable[[Path, Path], None]] = {
    "naive": naive_convert,
    "numpy-float32": numpy_float32_convert,
    "opencv": opencv_convert,
    "numba-stream": numba_stream_convert,
}
"""Baselines of the conversion, each writing the same attenuation codes as nii (within one code; the naive
one repairs no dead detector element)."""

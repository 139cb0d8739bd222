"""Conversion throughput on the standard workloads, beside a naive baseline measured in the same run.

Workloads (simulated, then stored as stored-uncompressed ``.npz``, the input of both paths):

* ``cargo``: one view, high and low channels of 2048 detector rows × 8192 lines (uint16);
* ``baggage``: the two-view 160/80 kV suitcase at the simulator's default size.

Paths, each timed per scan from the input file to the DICOS files on disk:

* **nii**: ``nii.read`` → the fused kernel from raw counts to 16-bit attenuation codes →
  DICOS folder (``nii.write``);
* **naive**: ``numpy.load`` → the same calibration (dark, air, source monitor) in plain numpy
  float64, without dead-element repair → 16-bit codes → one
  pydicom dataset per channel written with pydicom's default path (``Dataset.save_as``).

The disk's sequential write rate is measured in the same run (the same number of bytes as the
DICOS output, in blocks of up to 16 MiB, then fsync) and set against the rate at which the
DICOS writer puts a converted scan on disk with ``fsync`` (files written, flushed and renamed
into place, the rename flushed too). Each pair of paths is timed in turn, round after round,
and the best of each is kept, so that a busy machine or disk slows both alike.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import nii
from nii.errors import ConfigurationError
from nii.io import atomic_output
from nii.model import Scan, new_uid
from nii.pipeline import Recipe, convert_scan, find_scans, output_bytes

__all__ = [
    "BUSY_SPREAD",
    "WORKLOADS",
    "BenchResult",
    "FileTiming",
    "best_in_turn",
    "disk_write_seconds",
    "naive_convert",
    "new_identity",
    "nii_convert",
    "run_bench",
    "seconds_to_write",
    "time_files",
    "write_dicos_durably",
]

WORKLOADS: dict[str, dict[str, Any]] = {
    "cargo": {"scenario": "cargo", "rows": 2048, "lines": 8192},
    "baggage": {"scenario": "suitcase"},
}
"""Standard workloads: arguments of :func:`nii.simulate.simulator.simulate`."""

RECIPE = Recipe.parse("attenuate=uint16", target="dicos")
MIN_SECONDS = 2.0
"""Each comparison runs for at least this long (rounds beyond ``repeats``, up to :data:`MAX_ROUNDS`)."""
MAX_ROUNDS = 200


@dataclass
class BenchResult:
    """Measured rates of one workload (best of the repeats; MB = 10⁶ bytes of input pixels)."""

    workload: str
    shape: str
    input_mb: float
    nii_scans_per_s: float
    nii_mb_per_s: float
    naive_scans_per_s: float
    naive_mb_per_s: float
    speedup: float
    output_mb: float
    dicos_fsync_mb_per_s: float
    disk_mb_per_s: float
    fsync_fraction_of_disk: float


def nii_convert(
    source: Path, target: Path, *, fsync: bool = False, read_options: Mapping[str, Any] | None = None
) -> None:
    """The nii path: read (with :func:`nii.read`'s ``read_options``, e.g. a profile), fused calibrate +
    attenuate, DICOS (as a new scan: see :func:`new_identity`)."""
    scan = convert_scan(new_identity(nii.read(source, **(read_options or {}))), RECIPE)
    nii.write(scan, target, format="dicos", fsync=fsync)


def new_identity(scan: Scan) -> Scan:
    """``scan`` under new UIDs. Every timed round writes a scan the writer has not seen, as in
    a batch: the DICOS writer converts each distinct element value once (UIDs included), so
    writing the same scan again would time less work than a batch does."""
    return dataclasses.replace(scan, scan_uid=new_uid(), frame_of_reference_uid=new_uid())


def naive_convert(source: Path, target: Path) -> None:
    """The baseline: numpy read, plain float64 calibration, pydicom's default write path."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

    target.mkdir()
    written = 0
    with np.load(source) as archive:
        arrays = {name: archive[name] for name in archive.files if name.startswith("views/")}
    for key, raw in arrays.items():
        parts = key.split("/")
        if parts[2] != "channels":
            continue
        view, channel = parts[1], parts[3]
        dark = arrays[f"views/{view}/dark/{channel}"].astype(np.float64)
        air = arrays[f"views/{view}/air/{channel}"].astype(np.float64)
        dark = dark.mean(axis=1) if dark.ndim == 2 else dark
        air = air.mean(axis=1) if air.ndim == 2 else air
        transmission = (raw.astype(np.float64) - dark[:, None]) / (air - dark)[:, None]
        monitor = arrays.get(f"views/{view}/reference/{channel}")
        if monitor is not None:  # source fluctuation, as nii corrects it
            transmission *= np.median(monitor) / monitor[None, :]
        attenuation = -np.log(np.clip(transmission, 1e-6, 1.0))
        codes = np.clip(np.rint(attenuation * 4096), 0, 65535).astype(np.uint16)
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = UID("1.2.840.10008.5.1.4.1.1.501.2.2")
        ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
        ds.Modality = "XRAY"
        ds.Rows, ds.Columns = codes.shape
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = codes.tobytes()
        ds.save_as(target / f"dx-{view}-{channel}.dcs", enforce_file_format=True)
        written += 1
    if not written:
        raise ConfigurationError(f"{source}: no channels found for the baseline")


def disk_write_seconds(folder: Path, nbytes: int) -> float:
    """Seconds ``folder``'s disk takes to write exactly ``nbytes`` sequentially (blocks of up to
    16 MiB) and fsync them: the reference of the durable DICOS writes."""
    block = np.random.default_rng(0).integers(0, 255, min(nbytes, 16 << 20), dtype=np.uint8).tobytes()
    path = folder / ".nii-disk-rate"
    start = time.perf_counter()
    with open(path, "wb") as handle:
        written = 0
        while written < nbytes:
            written += handle.write(memoryview(block)[: nbytes - written])
        handle.flush()
        os.fsync(handle.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return seconds


def seconds_to_write(function: Callable[[Path], None], folder: Path) -> float:
    """Seconds ``function(target)`` takes to write the new output ``target`` in ``folder`` (removed afterwards)."""
    target = folder / f"out-{time.perf_counter_ns()}"
    start = time.perf_counter()
    function(target)
    seconds = time.perf_counter() - start
    shutil.rmtree(target)
    return seconds


def best_in_turn(
    functions: Sequence[Callable[[], float]], repeats: int, *, min_seconds: float = MIN_SECONDS
) -> list[float]:
    """Each function's least result, the functions run in turn in each round, so that a busy
    machine or disk slows them alike: ``repeats`` rounds, and more until the rounds have taken
    ``min_seconds`` (a baggage scan writes in milliseconds; a few rounds of it measure the
    machine's hiccups more than nii)."""
    best = [float("inf")] * len(functions)
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_seconds and rounds < MAX_ROUNDS):
        for index, function in enumerate(functions):
            best[index] = min(best[index], function())
        rounds += 1
    return best


def write_dicos_durably(scans: list[Scan], target: Path) -> None:
    """Write the next of ``scans`` (taken from the list) as DICOS with fsync."""
    nii.write(scans.pop(), target, format="dicos", fsync=True)


def run_bench(
    workloads: Sequence[str] = ("cargo", "baggage"),
    *,
    repeats: int = 5,
    min_seconds: float = MIN_SECONDS,
    folder: str | os.PathLike[str] | None = None,
    seed: int = 1,
) -> list[BenchResult]:
    """Measure every workload; see the module docstring.

    Examples
    --------
    >>> [r.workload for r in run_bench(["baggage"], repeats=1)]  # doctest: +SKIP
    ['baggage']
    """
    from nii.simulate.simulator import simulate

    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise ConfigurationError(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")
    results = []
    with tempfile.TemporaryDirectory(dir=folder, prefix="nii-bench-") as temporary:
        root = Path(temporary)
        for name in workloads:
            scan, _ = simulate(seed=seed, **WORKLOADS[name])
            source = root / f"{name}.npz"
            nii.write(scan, source)
            pixels = sum(a.nbytes for v in scan.views for a in v.channels.values())
            # Warm-up (numba compilation, page cache of the input), not timed.
            nii_convert(source, root / "warm")
            output = output_bytes(root / "warm")
            shutil.rmtree(root / "warm")
            converted = convert_scan(nii.read(source), RECIPE)
            new_scans = [new_identity(converted) for _ in range(max(repeats, MAX_ROUNDS))]
            nii_seconds, naive_seconds = best_in_turn(
                [
                    partial(seconds_to_write, partial(nii_convert, source), root),
                    partial(seconds_to_write, partial(naive_convert, source), root),
                ],
                repeats,
                min_seconds=min_seconds,
            )
            fsync_seconds, disk_seconds = best_in_turn(
                [
                    partial(seconds_to_write, partial(write_dicos_durably, new_scans), root),
                    partial(disk_write_seconds, root, output),
                ],
                repeats,
                min_seconds=min_seconds,
            )
            fsync_rate, disk = output / fsync_seconds / 1e6, output / disk_seconds / 1e6
            results.append(
                BenchResult(
                    workload=name,
                    shape=" + ".join(f"{v.name} {len(v.channels)}×{v.shape[0]}×{v.shape[1]}" for v in scan.views),
                    input_mb=pixels / 1e6,
                    nii_scans_per_s=1 / nii_seconds,
                    nii_mb_per_s=pixels / nii_seconds / 1e6,
                    naive_scans_per_s=1 / naive_seconds,
                    naive_mb_per_s=pixels / naive_seconds / 1e6,
                    speedup=naive_seconds / nii_seconds,
                    output_mb=output / 1e6,
                    dicos_fsync_mb_per_s=fsync_rate,
                    disk_mb_per_s=disk,
                    fsync_fraction_of_disk=fsync_rate / disk,
                )
            )
    return results


def write_results(results: Sequence[BenchResult], path: str | os.PathLike[str]) -> None:
    """Save results as JSON with the time and machine they were measured on."""
    import json
    import platform

    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "nii": nii.__version__,
        "results": [asdict(r) for r in results],
    }
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(document, indent=1))


BUSY_SPREAD = 0.2
"""Relative spread of a file's rounds (standard deviation / mean) above which the machine is called busy."""


@dataclass
class FileTiming:
    """Conversion of one of the user's files to DICOS, timed over rounds (MB = 10⁶ bytes of the input file)."""

    path: str
    format: str
    input_mb: float
    rounds: int
    seconds_mean: float
    seconds_std: float
    seconds_best: float

    @property
    def scans_per_s(self) -> float:
        return 1 / self.seconds_mean

    @property
    def mb_per_s(self) -> float:
        return self.input_mb / self.seconds_mean

    @property
    def busy(self) -> bool:
        """The rounds spread widely: other work shared the machine, the rates are lower bounds."""
        return self.seconds_std > BUSY_SPREAD * self.seconds_mean


def time_files(
    paths: Sequence[str | os.PathLike[str]],
    *,
    repeats: int = 3,
    min_seconds: float = MIN_SECONDS,
    folder: str | os.PathLike[str] | None = None,
    read_options: Mapping[str, Any] | None = None,
) -> list[FileTiming]:
    """Time the conversion of each scan (any readable format) to DICOS with ``attenuate=uint16``: a warm-up
    round, then ``repeats`` rounds and more until ``min_seconds`` have passed (at most :data:`MAX_ROUNDS`).

    ``paths`` are scan files, scan folders or folders holding them (found as ``nii convert`` finds them);
    ``read_options`` are :func:`nii.read`'s for every scan (``format``, ``profile``, reader options).

    Raises
    ------
    FileAccessError
        A path that does not exist.
    """
    from nii.registry import find_format, get_format

    options = dict(read_options or {})
    convert_one = partial(nii_convert, read_options=options)
    results = []
    with tempfile.TemporaryDirectory(dir=folder, prefix="nii-bench-") as temporary:
        root = Path(temporary)
        sources = find_scans(paths, read_options=options)
        if not sources:
            raise ConfigurationError(f"no scan found in {', '.join(map(str, paths))}")
        for source in sources:
            fmt = get_format(options["format"]) if options.get("format") else find_format(source)
            convert_one(source, root / "warm")  # numba compilation, the page cache: not timed
            shutil.rmtree(root / "warm")
            times: list[float] = []
            start = time.perf_counter()
            while len(times) < repeats or (time.perf_counter() - start < min_seconds and len(times) < MAX_ROUNDS):
                times.append(seconds_to_write(partial(convert_one, source), root))
            spread = np.asarray(times)
            results.append(
                FileTiming(
                    str(source),
                    fmt.name,
                    output_bytes(source) / 1e6,
                    len(times),
                    float(spread.mean()),
                    float(spread.std(ddof=1)) if len(times) > 1 else 0.0,
                    float(spread.min()),
                )
            )
    return results

"""Conversion throughput on the standard workloads, beside baselines measured in the same run.

Workloads (simulated, then stored as stored-uncompressed ``.npz``, the input of every path):

* ``cargo``: one view, high and low channels of 2048 detector rows × 8192 lines (uint16);
* ``baggage``: the two-view 160/80 kV suitcase at the simulator's default size.

Paths, each timed per scan from the input file to the DICOS files on disk:

* **nii**: ``nii.read`` → the fused kernel from raw counts to 16-bit attenuation codes →
  DICOS folder (``nii.write``);
* **naive**: ``numpy.load`` → the same calibration (dark, air, source monitor) in plain numpy
  float64 with temporaries, without dead-element repair → 16-bit codes → one pydicom dataset per
  channel written with pydicom's default path (``Dataset.save_as``);
* **numpy-float32**: what a competent numpy user writes: float32 in place (``out=``) in one reused
  buffer, with nii's dead-element repair, the same pydicom write;
* **opencv**: numpy-float32 with OpenCV's vectorised ``cv2.log``.

Every baseline's codes are checked against nii's before timing (:func:`check_baselines`). The
paths are timed in turn, round after round, so that a busy machine slows them alike; the ratio to
the best baseline comes first, each time with its spread over the rounds, and a warning when other
processes took CPU time meanwhile (:func:`watch_machine`). The disk's sequential write rate is
measured in the same run (the same number of bytes as the DICOS output, in blocks of up to 16 MiB,
then fsync) and set against the rate at which the DICOS writer puts a converted scan on disk with
``fsync`` (files written, flushed and renamed into place, the rename flushed too).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import nii
from nii.errors import ConfigurationError
from nii.io import atomic_output
from nii.model import Scan, new_uid
from nii.pipeline import Recipe, convert_scan, find_scans, output_bytes

if TYPE_CHECKING:
    from nii.bench_durable import DurableBatch

__all__ = [
    "BASELINES",
    "BUSY_SPREAD",
    "CODE_TOLERANCE",
    "WORKLOADS",
    "BenchResult",
    "FileTiming",
    "MachineLoad",
    "best_in_turn",
    "check_baselines",
    "code_difference",
    "disk_write_seconds",
    "format_results",
    "naive_convert",
    "new_identity",
    "nii_convert",
    "numpy_float32_convert",
    "opencv_convert",
    "run_bench",
    "seconds_to_write",
    "spread",
    "time_files",
    "times_in_turn",
    "watch_machine",
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
    best_baseline: str = "naive"
    speedup_vs_best: float = 0.0
    baseline_mb_per_s: dict[str, float] = dataclasses.field(default_factory=dict)
    seconds_spread: dict[str, tuple[float, float, float]] = dataclasses.field(default_factory=dict)
    """Seconds per scan of nii and each baseline over the rounds: least, median, largest."""
    busy: str = ""
    """Why the machine was busy while measuring (other processes' CPU use, steal time), or empty."""
    durable_batch: DurableBatch | None = None
    """``nii convert --fsync`` on a batch against the disk's durable rate (:mod:`nii.bench_durable`), if measured."""


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


BASELINES: dict[str, Callable[[Path, Path], None]] = {
    "naive": naive_convert,
    "numpy-float32": numpy_float32_convert,
    "opencv": opencv_convert,
}
"""Baselines of the conversion, each writing the same attenuation codes as nii (within one code; the naive
one repairs no dead detector element)."""

_Calibrate = Callable[[dict[str, np.ndarray], str, str, dict[tuple[int, ...], Any]], np.ndarray]


def _baseline_convert(source: Path, target: Path, codes_of: _Calibrate) -> None:
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

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
        rows, good = np.arange(bad.size), np.flatnonzero(~bad)
        lower = good[np.clip(np.searchsorted(good, rows) - 1, 0, good.size - 1)][bad]
        upper = good[np.clip(np.searchsorted(good, rows), 0, good.size - 1)][bad]
        weight = np.where(upper > lower, (rows[bad] - lower) / np.maximum(upper - lower, 1), 0).astype(np.float32)
        work[bad] = (1 - weight[:, None]) * work[lower] + weight[:, None] * work[upper]
    np.clip(work, 1e-6, 1.0, out=work)
    log(work, work)
    np.multiply(work, -4096, out=work)
    np.rint(work, out=work)
    np.clip(work, 0, 65535, out=work)
    np.copyto(codes, work, casting="unsafe")
    return codes


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


def times_in_turn(
    functions: Sequence[Callable[[], float]], repeats: int, *, min_seconds: float = MIN_SECONDS
) -> list[list[float]]:
    """Every result of each function, the functions run in turn in each round, so that a busy
    machine or disk slows them alike: ``repeats`` rounds, and more until the rounds have taken
    ``min_seconds`` (a baggage scan writes in milliseconds; a few rounds of it measure the
    machine's hiccups more than nii)."""
    results: list[list[float]] = [[] for _ in functions]
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_seconds and rounds < MAX_ROUNDS):
        for index, function in enumerate(functions):
            results[index].append(function())
        rounds += 1
    return results


def best_in_turn(
    functions: Sequence[Callable[[], float]], repeats: int, *, min_seconds: float = MIN_SECONDS
) -> list[float]:
    """Each function's least result of :func:`times_in_turn`."""
    return [min(times) for times in times_in_turn(functions, repeats, min_seconds=min_seconds)]


def spread(times: Sequence[float]) -> tuple[float, float, float]:
    """Least, median and largest of ``times``."""
    return float(np.min(times)), float(np.median(times)), float(np.max(times))


@dataclass
class MachineLoad:
    """What else ran while measuring: other processes' share of all CPUs and the hypervisor's steal time
    (from ``/proc/stat``, less this process's own CPU time), and the 1-minute load average at the end.
    The kernel's write-back of the benchmark's own files counts as another process's (a few per cent)."""

    others_cpu_fraction: float = 0.0
    steal_fraction: float = 0.0
    load_average: float = 0.0

    def warning(self) -> str:
        """Why the figures are unreliable, or empty when the machine was quiet enough."""
        if self.others_cpu_fraction <= 0.2 and self.steal_fraction <= 0.05:
            return ""
        return (
            f"machine busy: other processes used {self.others_cpu_fraction:.0%} of the CPUs and steal time was "
            f"{self.steal_fraction:.0%} (load average {self.load_average:.1f} on {os.cpu_count()} CPUs); "
            "ratios measured in turn hold better than the rates"
        )


def _cpu_ticks() -> tuple[int, int, int] | None:
    """Busy, steal and total ticks of all CPUs since boot, or None without ``/proc/stat``."""
    try:
        with open("/proc/stat") as stat:
            fields = [int(value) for value in stat.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields + [0] * (8 - len(fields))
    return user + nice + system + irq + softirq, steal, sum(fields)


@contextmanager
def watch_machine() -> Iterator[MachineLoad]:
    """Measure :class:`MachineLoad` over the ``with`` block (filled in at its end)."""
    load = MachineLoad()
    before, own_before = _cpu_ticks(), os.times()
    yield load
    after, own_after = _cpu_ticks(), os.times()
    if before is None or after is None or after[2] <= before[2]:
        return
    tick = os.sysconf("SC_CLK_TCK")
    total = (after[2] - before[2]) / tick  # CPU-seconds of all CPUs over the block
    own = (own_after.user + own_after.system) - (own_before.user + own_before.system)
    load.others_cpu_fraction = max(0.0, ((after[0] - before[0]) / tick - own) / total)
    load.steal_fraction = (after[1] - before[1]) / tick / total
    load.load_average = os.getloadavg()[0]


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
    batch_scans: Mapping[str, int] | None = None,
) -> list[BenchResult]:
    """Measure every workload; see the module docstring. ``batch_scans``: scans per durable batch of each
    workload named (``nii convert --fsync`` against the disk, :func:`nii.bench_durable.time_durable_batch`).

    Examples
    --------
    >>> [r.workload for r in run_bench(["baggage"], repeats=1)]  # doctest: +SKIP
    ['baggage']
    """
    unknown = [w for w in workloads if w not in WORKLOADS]
    if unknown:
        raise ConfigurationError(f"unknown workloads {unknown}; known: {sorted(WORKLOADS)}")
    with tempfile.TemporaryDirectory(dir=folder, prefix="nii-bench-") as temporary:
        results = [_bench_workload(name, Path(temporary), repeats, min_seconds, seed) for name in workloads]
    for result in results:
        if (batch_scans or {}).get(result.workload):
            from nii.bench_durable import time_durable_batch

            result.durable_batch = time_durable_batch(
                result.workload, rounds=repeats, scans=(batch_scans or {})[result.workload], folder=folder
            )
    return results


CODE_TOLERANCE = 1
"""Largest difference of attenuation codes between nii's output and a baseline's (float32 against float64
logarithms), checked before timing; the naive baseline is compared outside the elements nii repairs."""


def check_baselines(source: Path, folder: Path) -> None:
    """Run nii and every baseline on ``source`` once (compiling and warming up) and check they write the
    same codes within :data:`CODE_TOLERANCE`, so that no figure times wrong work.

    Raises
    ------
    ConfigurationError
        A baseline's output differs from nii's.
    """
    nii_convert(source, folder / "nii")
    for name, convert in BASELINES.items():
        convert(source, folder / name)
        difference = code_difference(source, folder / "nii", folder / name, repaired=name != "naive")
        shutil.rmtree(folder / name)
        if difference > CODE_TOLERANCE:
            raise ConfigurationError(f"the {name} baseline's codes differ from nii's by {difference}", path=source)
    shutil.rmtree(folder / "nii")


def _bench_workload(name: str, root: Path, repeats: int, min_seconds: float, seed: int) -> BenchResult:
    from nii.simulate.simulator import simulate

    scan, _ = simulate(seed=seed, **WORKLOADS[name])
    source = root / f"{name}.npz"
    nii.write(scan, source)
    pixels = sum(a.nbytes for v in scan.views for a in v.channels.values())
    check_baselines(source, root)  # also the warm-up (numba compilation, page cache of the input), not timed
    nii_convert(source, root / "warm")
    output = output_bytes(root / "warm")
    shutil.rmtree(root / "warm")
    converted = convert_scan(nii.read(source), RECIPE)
    new_scans = [new_identity(converted) for _ in range(max(repeats, MAX_ROUNDS))]
    paths = {"nii": nii_convert, **BASELINES}
    with watch_machine() as load:
        times = times_in_turn(
            [partial(seconds_to_write, partial(convert, source), root) for convert in paths.values()],
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
    best = dict(zip(paths, (min(t) for t in times), strict=True))
    best_baseline = min(BASELINES, key=best.__getitem__)
    fsync_rate, disk = output / fsync_seconds / 1e6, output / disk_seconds / 1e6
    return BenchResult(
        workload=name,
        shape=" + ".join(f"{v.name} {len(v.channels)}×{v.shape[0]}×{v.shape[1]}" for v in scan.views),
        input_mb=pixels / 1e6,
        nii_scans_per_s=1 / best["nii"],
        nii_mb_per_s=pixels / best["nii"] / 1e6,
        naive_scans_per_s=1 / best["naive"],
        naive_mb_per_s=pixels / best["naive"] / 1e6,
        speedup=best["naive"] / best["nii"],
        output_mb=output / 1e6,
        dicos_fsync_mb_per_s=fsync_rate,
        disk_mb_per_s=disk,
        fsync_fraction_of_disk=fsync_rate / disk,
        best_baseline=best_baseline,
        speedup_vs_best=best[best_baseline] / best["nii"],
        baseline_mb_per_s={b: pixels / best[b] / 1e6 for b in BASELINES},
        seconds_spread={path: spread(t) for path, t in zip(paths, times, strict=True)},
        busy=load.warning(),
    )


def format_results(results: Sequence[BenchResult]) -> list[str]:
    """Lines for people: per workload the ratio to the best baseline first, then every path's time per
    scan (least, with median and largest over the rounds), the durable write, and any busy warning."""
    lines = []
    for r in results:
        lines.append(
            f"{r.workload} ({r.shape}, {r.input_mb:.1f} MB): nii {r.speedup_vs_best:.2f}× the best baseline "
            f"({r.best_baseline}), {r.speedup:.2f}× the naive one"
        )
        for path, (least, median, largest) in sorted(r.seconds_spread.items(), key=lambda item: item[1][0]):
            lines.append(
                f"  {path:<14} {least * 1e3:9.1f} ms per scan (median {median * 1e3:.1f}, max {largest * 1e3:.1f})"
                f" {r.input_mb / least:8.0f} MB/s"
            )
        lines.append(
            f"  DICOS with fsync {r.dicos_fsync_mb_per_s:.0f} MB/s: {r.fsync_fraction_of_disk:.0%} of the disk's "
            f"{r.disk_mb_per_s:.0f} MB/s"
        )
        if r.durable_batch is not None:
            lines.append(r.durable_batch.line())
        if r.busy:
            lines.append(f"  warning: {r.busy}")
        if r.durable_batch is not None and r.durable_batch.busy:
            lines.append(f"  warning (durable batch): {r.durable_batch.busy}")
    return lines


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

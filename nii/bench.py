"""Conversion throughput on the standard workloads, beside baselines measured in the same run.

Workloads (simulated, then stored as stored-uncompressed ``.npz``, the input of every path):

* ``cargo``: one view, high and low channels of 2048 detector rows × 8192 lines (uint16);
* ``baggage``: the two-view 160/80 kV suitcase at the simulator's default size.

Paths, each timed per scan from the input file to the DICOS files on disk (:func:`time_conversion`):

* **nii**: ``nii.read`` → the fused kernel from raw counts to 16-bit attenuation codes (starved and saturated
  pixels flagged) → DICOS folder (``nii.write``);
* the baselines of :mod:`nii.baselines`: naive float64 numpy, numpy float32 in place, the same with OpenCV's
  log, and the careful user's fused numba pass with a streamed pydicom write;
* **read+write**: the machine's limit for the same bytes, a plain read of the input and write of as many bytes
  as nii's DICOS output (:func:`plain_copy`).

Every baseline's codes are checked against nii's before timing (:func:`check_baselines`). The paths are timed in
turn, round after round (in an order shuffled every round, :func:`shuffled_rounds`), with the input in the page
cache and, in the same rounds, cold (its pages dropped before each, :func:`drop_cached_pages`), so that a busy
machine slows them alike. A ratio is the median of the rounds' own ratios, with their spread (:class:`Ratio`); the
ratio to the best baseline comes first, and the goal (:data:`GOAL_SPEEDUP` × the best baseline, or
:data:`GOAL_LIMIT_FRACTION` of the limit) is judged. One judgment of a busy machine serves every measurement:
:meth:`MachineLoad.warning`, from the CPU time other processes and the hypervisor took meanwhile
(:func:`watch_machine`). The disk's sequential write rate is measured in the same run (the same number of bytes as
the DICOS output, in blocks of up to 16 MiB, then fsync) and set against the rate at which the DICOS writer puts a
converted scan on disk with ``fsync`` (files written, flushed and renamed into place, the rename flushed too).

``nii bench --json benchmarks/results/nii-bench.json`` rewrites the results the README cites.
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
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

import nii
from nii.baselines import BASELINES, code_difference
from nii.errors import ConfigurationError
from nii.io import atomic_output
from nii.model import Scan, new_uid
from nii.pipeline import Recipe, convert_scan, find_scans, output_bytes

if TYPE_CHECKING:
    from nii.bench_durable import DurableBatch

__all__ = [
    "CODE_TOLERANCE",
    "GOAL_LIMIT_FRACTION",
    "GOAL_SPEEDUP",
    "WORKLOADS",
    "BenchResult",
    "Conversion",
    "FileTiming",
    "MachineLoad",
    "Ratio",
    "best_in_turn",
    "check_baselines",
    "disk_write_seconds",
    "drop_cached_pages",
    "format_results",
    "memory_returned_to_host",
    "new_identity",
    "nii_convert",
    "own_cpu_seconds",
    "plain_copy",
    "ratio_in_turn",
    "run_bench",
    "seconds_to_write",
    "shuffled_rounds",
    "spread",
    "time_conversion",
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


GOAL_SPEEDUP = 1.5
"""Goal: nii converts at least this many times as fast as the best baseline, ..."""
GOAL_LIMIT_FRACTION = 0.9
"""... or at least this fraction of the machine's limit (:func:`plain_copy`), whichever is the lower bar."""


@dataclass(frozen=True)
class Ratio:
    """Time of another path over nii's, from rounds in which the paths ran in turn: the median of the rounds' own
    ratios (the figure quoted: on a shared machine one lucky round of either path moves the ratio of the best
    rounds), their least and largest (the spread), and the ratio of each path's best round."""

    median: float
    least: float
    largest: float
    best: float

    def __str__(self) -> str:
        return f"{self.median:.2f}× (rounds {self.least:.2f}–{self.largest:.2f}; best rounds {self.best:.2f}×)"


def ratio_in_turn(theirs: Sequence[float], ours: Sequence[float]) -> Ratio:
    """:class:`Ratio` of ``theirs`` over ``ours``, round by round (the ``i``-th of each ran in turn)."""
    each = np.asarray(theirs) / np.asarray(ours)
    return Ratio(float(np.median(each)), float(each.min()), float(each.max()), min(theirs) / min(ours))


@dataclass
class Conversion:
    """Every round of every conversion path of one scan, the paths timed in turn (:func:`time_conversion`).

    ``seconds`` holds ``nii``, each of :data:`~nii.baselines.BASELINES` and ``read+write``
    (:func:`plain_copy`, the machine's limit), with the input in the page cache, and the same with `` cold``
    appended, the input's pages dropped before each round (:func:`drop_cached_pages`; the naive baseline is
    timed warm only). Ratios are another path's time over nii's: above 1, nii is faster.
    """

    seconds: dict[str, list[float]]
    busy: str = ""
    """Why the machine was busy while measuring (:meth:`MachineLoad.warning`), or empty."""

    def ratio(self, path: str, *, cold: bool = False) -> Ratio:
        """``path``'s time over nii's, both with the input in the page cache or both cold."""
        suffix = " cold" if cold else ""
        return ratio_in_turn(self.seconds[path + suffix], self.seconds["nii" + suffix])

    def best_baseline(self, *, cold: bool = False) -> str:
        """The baseline nii is least ahead of (smallest median ratio)."""
        timed = [b for b in BASELINES if (f"{b} cold" if cold else b) in self.seconds]
        return min(timed, key=lambda baseline: self.ratio(baseline, cold=cold).median)

    def goal_met(self) -> bool:
        """nii at least :data:`GOAL_SPEEDUP` × the best baseline, or within :data:`GOAL_LIMIT_FRACTION` of the
        machine's limit, warm and cold (median ratios)."""
        return all(
            self.ratio(self.best_baseline(cold=cold), cold=cold).median >= GOAL_SPEEDUP
            or self.ratio("read+write", cold=cold).median >= GOAL_LIMIT_FRACTION
            for cold in (False, True)
        )

    def summary(self) -> dict[str, Any]:
        """The figures derived from the rounds, for JSON: best baselines, ratios with spread, the goal."""
        return {
            "best_baseline": self.best_baseline(),
            "best_baseline_cold": self.best_baseline(cold=True),
            "vs_best": asdict(self.ratio(self.best_baseline())),
            "vs_best_cold": asdict(self.ratio(self.best_baseline(cold=True), cold=True)),
            "vs_limit": asdict(self.ratio("read+write")),
            "vs_limit_cold": asdict(self.ratio("read+write", cold=True)),
            "vs_baselines": {baseline: asdict(self.ratio(baseline)) for baseline in BASELINES},
            "goal_met": self.goal_met(),
        }

    def lines(self) -> list[str]:
        """Lines for people: nii's ratio to the best baseline first (page cache, then cold input), the machine's
        limit and the goal, the other baselines, every path's time per scan over the rounds."""
        best, best_cold = self.best_baseline(), self.best_baseline(cold=True)
        goal = "met" if self.goal_met() else "not met"
        lines = [
            f"  nii {self.ratio(best)} the best baseline ({best}); cold input {self.ratio(best_cold, cold=True)} "
            f"({best_cold})",
            f"  nii at {self.ratio('read+write')} of the machine's limit (plain read+write of the same bytes), cold "
            f"{self.ratio('read+write', cold=True)}; goal ≥ {GOAL_SPEEDUP:g}× the best or ≥ {GOAL_LIMIT_FRACTION:g} "
            f"of the limit: {goal}",
            *(f"  {self.ratio(b)} {b}" for b in BASELINES if b != best),
        ]
        for path, times in sorted(self.seconds.items(), key=lambda item: min(item[1])):
            least, median, largest = spread(times)
            lines.append(
                f"  {path:<18} {least * 1e3:9.1f} ms per scan (median {median * 1e3:.1f}, max {largest * 1e3:.1f})"
            )
        if self.busy:
            lines.append(f"  warning: {self.busy}")
        return lines


@dataclass
class BenchResult:
    """Measured conversion of one workload (MB = 10⁶ bytes of input pixels) and its durable write."""

    workload: str
    shape: str
    input_mb: float
    output_mb: float
    conversion: Conversion
    dicos_fsync_mb_per_s: float
    disk_mb_per_s: float
    fsync_fraction_of_disk: float
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


_Result = TypeVar("_Result")


def times_in_turn(
    functions: Sequence[Callable[[], _Result]], repeats: int, *, min_seconds: float = MIN_SECONDS
) -> list[list[_Result]]:
    """Every result of each function, the functions run in turn in each round (in a new order each round,
    :func:`shuffled_rounds`), so that a busy machine or disk slows them alike: ``repeats`` rounds, and more until
    the rounds have taken ``min_seconds`` (a baggage scan writes in milliseconds; a few rounds of it measure the
    machine's hiccups more than nii)."""
    results: list[list[_Result]] = [[] for _ in functions]
    orders = shuffled_rounds(len(functions))
    start = time.perf_counter()
    rounds = 0
    while rounds < repeats or (time.perf_counter() - start < min_seconds and rounds < MAX_ROUNDS):
        for index in next(orders):
            results[index].append(functions[index]())
        rounds += 1
    return results


def shuffled_rounds(count: int, *, seed: int = 0) -> Iterator[list[int]]:
    """The order in which ``count`` paths run in each round: shuffled anew every round (seeded, so that runs
    repeat), so that no path always runs just after the same other one. What ran just before moves a path's
    time: memory the previous path freed is faster to write into than memory a virtual machine handed back to
    its host, and caches stay warm; in a fixed order OpenCV's baggage baseline took 26 ms right after the naive
    baseline and 34–35 ms after anything else.

    Examples
    --------
    >>> orders = shuffled_rounds(3)
    >>> sorted(next(orders)), sorted(next(orders))
    ([0, 1, 2], [0, 1, 2])
    """
    generator = np.random.default_rng(seed)
    while True:
        yield [int(index) for index in generator.permutation(count)]


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
    (from ``/proc/stat``, less the CPU time of this process and its descendants, :func:`own_cpu_seconds`),
    and the 1-minute load average at the end.
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


def own_cpu_seconds() -> float:
    """CPU time of this process and every process below it: its own, its waited-for children's, and
    that of each live descendant with the children it waited for. A batch's pool workers are reaped by
    the fork server, which lives on, so their time is counted; they are not "other processes"."""
    times = os.times()
    total = times.user + times.system + times.children_user + times.children_system
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    ticks: dict[int, int] = {}
    try:
        entries = [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:  # not Linux
        return total
    for entry in entries:
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # ended meanwhile
        parents[int(entry)] = int(fields[1])
        ticks[int(entry)] = sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
    found: set[int] = set()
    frontier = {os.getpid()}
    while frontier:  # bounded: each pid joins `found` once
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return total + sum(ticks[pid] for pid in found) / tick


@contextmanager
def watch_machine() -> Iterator[MachineLoad]:
    """Measure :class:`MachineLoad` over the ``with`` block (filled in at its end)."""
    load = MachineLoad()
    before, own_before = _cpu_ticks(), own_cpu_seconds()
    yield load
    after, own_after = _cpu_ticks(), own_cpu_seconds()
    if before is None or after is None or after[2] <= before[2]:
        return
    tick = os.sysconf("SC_CLK_TCK")
    total = (after[2] - before[2]) / tick  # CPU-seconds of all CPUs over the block
    own = own_after - own_before
    load.others_cpu_fraction = max(0.0, ((after[0] - before[0]) / tick - own) / total)
    load.steal_fraction = (after[1] - before[1]) / tick / total
    load.load_average = os.getloadavg()[0]


_BALLOON_DEVICES = "/sys/bus/virtio/drivers/virtio_balloon"
_FREE_PAGE_REPORTING_BIT = 5
"""VIRTIO_BALLOON_F_REPORTING (virtio 1.2, 5.5.3): the guest reports its free pages to the host."""


def memory_returned_to_host(devices: str | os.PathLike[str] = _BALLOON_DEVICES) -> bool:
    """Whether this machine is a virtual machine that hands its free memory back to the host (virtio-balloon
    free page reporting). There, touching memory or page cache that was free for a few seconds costs the host's
    page faults again: on the 2-core machine, writing new files ran at 230-270 MB/s (CPU time: page faults),
    against 0.7-3.9 GB/s into pages freed less than a second before, so figures that write new files or read
    cold input vary with what ran before them.

    ``devices`` is the balloon driver's sysfs folder; each bound device lists its feature bits as '0'/'1'.
    """
    try:
        bound = [entry for entry in os.scandir(devices) if entry.name.startswith("virtio")]
    except OSError:  # no balloon driver (bare metal, other hypervisors, not Linux)
        return False
    for device in bound:
        try:
            features = Path(device.path, "features").read_text().strip()
        except OSError:
            continue
        if len(features) > _FREE_PAGE_REPORTING_BIT and features[_FREE_PAGE_REPORTING_BIT] == "1":
            return True
    return False


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


def drop_cached_pages(path: Path, *, flush: bool = False) -> None:
    """Drop ``path``'s clean pages from the page cache (``posix_fadvise(DONTNEED)``): the next read comes from
    the disk. Pages not yet written back stay: ``flush`` writes them back first (once, after writing an input)."""
    descriptor = os.open(path, os.O_RDONLY)
    try:
        if flush:
            os.fsync(descriptor)
        os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(descriptor)


def plain_copy(source: Path, target: Path, *, nbytes: int, buffer: bytearray) -> None:
    """The machine's limit for a conversion: read ``source`` whole into ``buffer`` (reused, at least the file's
    size) and write ``nbytes`` of it (repeated when the file is shorter) to one file in the new folder ``target``."""
    target.mkdir()
    view = memoryview(buffer)
    with open(source, "rb", buffering=0) as handle:
        size = handle.readinto(view)
    with open(target / "pixels", "wb", buffering=0) as output:
        written = 0
        while written < nbytes:
            written += output.write(view[: min(size, nbytes - written)])


def _in_turn_cold(convert: Callable[[Path, Path], None], source: Path, root: Path) -> float:
    drop_cached_pages(source)
    return seconds_to_write(partial(convert, source), root)


def time_conversion(source: Path, root: Path, *, repeats: int, min_seconds: float = MIN_SECONDS) -> Conversion:
    """Time every path of :class:`Conversion` on ``source`` (a stored ``.npz``), in turn, writing in ``root``:
    ``repeats`` rounds, more until ``min_seconds`` have passed. Run :func:`check_baselines` first (it also
    compiles and warms up); flush ``source`` to disk once before (``drop_cached_pages(source, flush=True)``),
    so that its pages can be dropped."""
    nii_convert(source, root / "size")
    output = output_bytes(root / "size")
    shutil.rmtree(root / "size")
    buffer = bytearray(source.stat().st_size)
    converts: dict[str, Callable[[Path, Path], None]] = {
        "nii": nii_convert,
        **BASELINES,
        "read+write": partial(plain_copy, nbytes=output, buffer=buffer),
    }
    timed = {name: partial(seconds_to_write, partial(convert, source), root) for name, convert in converts.items()}
    cold = {f"{name} cold": partial(_in_turn_cold, c, source, root) for name, c in converts.items() if name != "naive"}
    paths = timed | cold
    with watch_machine() as load:
        seconds = times_in_turn(list(paths.values()), repeats, min_seconds=min_seconds)
    return Conversion(dict(zip(paths, seconds, strict=True)), load.warning())


def _bench_workload(name: str, root: Path, repeats: int, min_seconds: float, seed: int) -> BenchResult:
    from nii.simulate.simulator import simulate

    scan, _ = simulate(seed=seed, **WORKLOADS[name])
    source = root / f"{name}.npz"
    nii.write(scan, source)
    drop_cached_pages(source, flush=True)  # its pages clean, so that cold rounds can drop them
    pixels = sum(a.nbytes for v in scan.views for a in v.channels.values())
    check_baselines(source, root)  # also the warm-up (numba compilation, page cache of the input), not timed
    conversion = time_conversion(source, root, repeats=repeats, min_seconds=min_seconds)
    converted = convert_scan(nii.read(source), RECIPE)
    nii.write(converted, root / "size", format="dicos")
    output = output_bytes(root / "size")
    shutil.rmtree(root / "size")
    new_scans = [new_identity(converted) for _ in range(max(repeats, MAX_ROUNDS))]
    fsync_seconds, disk_seconds = best_in_turn(
        [
            partial(seconds_to_write, partial(write_dicos_durably, new_scans), root),
            partial(disk_write_seconds, root, output),
        ],
        repeats,
        min_seconds=min_seconds,
    )
    fsync_rate, disk = output / fsync_seconds / 1e6, output / disk_seconds / 1e6
    return BenchResult(
        workload=name,
        shape=" + ".join(f"{v.name} {len(v.channels)}×{v.shape[0]}×{v.shape[1]}" for v in scan.views),
        input_mb=pixels / 1e6,
        output_mb=output / 1e6,
        conversion=conversion,
        dicos_fsync_mb_per_s=fsync_rate,
        disk_mb_per_s=disk,
        fsync_fraction_of_disk=fsync_rate / disk,
    )


def format_results(results: Sequence[BenchResult]) -> list[str]:
    """Lines for people: per workload :meth:`Conversion.lines`, then the durable write against the disk."""
    lines = []
    for r in results:
        lines += [
            f"{r.workload} ({r.shape}, {r.input_mb:.1f} MB):",
            *r.conversion.lines(),
            f"  DICOS with fsync {r.dicos_fsync_mb_per_s:.0f} MB/s: {r.fsync_fraction_of_disk:.0%} of the disk's "
            f"{r.disk_mb_per_s:.0f} MB/s",
        ]
        if r.durable_batch is not None:
            lines.append(r.durable_batch.line())
            if r.durable_batch.busy:
                lines.append(f"  warning (durable batch): {r.durable_batch.busy}")
    return lines


def write_results(results: Sequence[BenchResult], path: str | os.PathLike[str]) -> None:
    """Save results as JSON with the time and machine they were measured on."""
    import json
    import platform

    document = {
        "measured_at": datetime.now(UTC).isoformat(),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "memory_returned_to_host": memory_returned_to_host(),
        },
        "nii": nii.__version__,
        "results": [asdict(r) | {"summary": r.conversion.summary()} for r in results],
    }
    with atomic_output(path) as temporary:
        temporary.write_text(json.dumps(document, indent=1))


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
    busy: str = ""
    """Why the machine was busy while the file was timed (:meth:`MachineLoad.warning`), or empty."""

    @property
    def scans_per_s(self) -> float:
        return 1 / self.seconds_mean

    @property
    def mb_per_s(self) -> float:
        return self.input_mb / self.seconds_mean


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
            with watch_machine() as load:
                (times,) = times_in_turn(
                    [partial(seconds_to_write, partial(convert_one, source), root)], repeats, min_seconds=min_seconds
                )
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
                    load.warning(),
                )
            )
    return results

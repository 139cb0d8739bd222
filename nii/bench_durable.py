"""Durable batches against the disk: ``nii convert --fsync`` on two workers, timed in turn with the
same batch without ``--fsync`` and with the disk's durable sequential rate.

The disk's durable sequential rate is what ``dd bs=16M conv=fsync`` measures: the batch's total
output bytes written to one file in blocks of up to 16 MiB, then one ``fsync``
(:func:`nii.bench.disk_write_seconds`). The durable batch is the whole of :func:`nii.pipeline.convert`
with ``Recipe.durable`` (its process pool started, every input read, converted, written, flushed,
renamed and journaled with group commit, :mod:`nii.group_commit`); the plain batch the same
without durability, the bound the CPU sets when the machine's cores are slower than its disk.
The three are timed in turn, round after round, so that a busy machine or disk slows them alike;
each ratio is given from the best rounds and with its spread over the rounds. Each batch starts its
process pool (seconds on a busy machine, a large share of a batch of tens of scans), so the ratios are
given again after start-up: from the end of each batch's first scan (its pool started)
to its end, with the bytes of the scans converted in that time.

Examples
--------
>>> batch = time_durable_batch("baggage", rounds=1)  # doctest: +SKIP
>>> f"{batch.fraction_of_disk:.0%}"  # doctest: +SKIP
'85%'
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nii
from nii.bench import RECIPE, WORKLOADS, disk_write_seconds, new_identity, spread, watch_machine
from nii.pipeline import Recipe, convert, read_report

__all__ = ["BATCH_SCANS", "BatchTiming", "DurableBatch", "make_batch", "time_batch", "time_durable_batch"]

BATCH_SCANS = {"cargo": 8, "baggage": 40}
"""Scans per batch: a few hundred MB of output, seconds of the disk's time per round."""


@dataclass
class DurableBatch:
    """One workload's durable batch against the disk (seconds per batch over the rounds: least, median, largest)."""

    workload: str
    scans: int
    workers: int
    output_mb: float
    durable_seconds: tuple[float, float, float]
    plain_seconds: tuple[float, float, float]
    disk_seconds: tuple[float, float, float]
    fraction_of_disk: float
    """The disk's best round over the durable batch's best round: the durable batch's share of the disk's rate."""
    fraction_spread: tuple[float, float, float]
    """The same ratio within each round: least, median, largest."""
    fraction_of_plain: float
    """The plain batch's best round over the durable batch's."""
    steady_fraction_of_disk: float = 0.0
    """After start-up (from the end of each batch's first scan on, its pool started; the durable batch's time runs
    until its last output is on disk): the durable batch's best rate over the disk's best rate."""
    steady_fraction_spread: tuple[float, float, float] = (0.0, 0.0, 0.0)
    steady_fraction_of_plain: float = 0.0
    """After start-up: the durable batch's best rate over the plain batch's best rate."""
    busy: str = ""

    @property
    def durable_mb_per_s(self) -> float:
        return self.output_mb / self.durable_seconds[0]

    @property
    def disk_mb_per_s(self) -> float:
        return self.output_mb / self.disk_seconds[0]

    def line(self) -> str:
        """The figures for people."""
        least, median, largest = self.fraction_spread
        steady = self.steady_fraction_spread
        return (
            f"  durable batch (nii convert --fsync, {self.workers} workers, {self.scans} scans,"
            f" {self.output_mb:.0f} MB): {self.durable_mb_per_s:.0f} MB/s,"
            f" {self.fraction_of_disk:.0%} of the disk's durable rate"
            f" {self.disk_mb_per_s:.0f} MB/s (rounds {least:.0%}, median {median:.0%}, {largest:.0%});"
            f" {self.fraction_of_plain:.0%} of the same batch without --fsync; after start-up"
            f" {self.steady_fraction_of_disk:.0%} of the disk's rate (rounds {steady[0]:.0%}, median {steady[1]:.0%},"
            f" {steady[2]:.0%}), {self.steady_fraction_of_plain:.0%} of the batch without --fsync"
        )


def make_batch(workload: str, folder: Path, scans: int, **simulate: Any) -> list[Path]:
    """``scans`` inputs of ``workload`` (one simulated scan under new UIDs each), as ``.npz`` in ``folder``."""
    from nii.simulate.simulator import simulate as simulate_scan

    scan, _ = simulate_scan(seed=1, **{**WORKLOADS[workload], **simulate})
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / f"scan{index:03d}.npz" for index in range(scans)]
    for path in paths:
        nii.write(new_identity(scan), path)
    return paths


@dataclass
class BatchTiming:
    """One batch's seconds: the whole of it, and from the end of its first scan's conversion on (its pool
    started) with the output bytes of the scans that ended after it."""

    seconds: float
    steady_seconds: float
    steady_bytes: int


def time_batch(inputs: list[Path], out: Path, recipe: Recipe, *, workers: int = 2, keep: bool = False) -> BatchTiming:
    """Time :func:`nii.pipeline.convert` on the batch (report beside ``out``); ``out`` removed afterwards
    unless ``keep``. Raises ``RuntimeError`` when an input failed: no figure times failed work."""
    report = out.with_name(f"{out.name}.json")
    finished: list[tuple[float, int]] = []
    start = time.perf_counter()
    results = convert(
        inputs,
        out,
        recipe=recipe,
        workers=workers,
        report=report,
        on_result=lambda result: finished.append((time.perf_counter(), result.bytes)),
    )
    end = time.perf_counter()
    if failed := [r.error for r in results if r.status != "ok"]:
        raise RuntimeError(f"the benchmark's batch failed: {failed[0]}")
    if not keep:
        shutil.rmtree(out)
        report.unlink()
    first = finished[0][0]
    return BatchTiming(end - start, end - first, sum(nbytes for _, nbytes in finished[1:]))


def time_durable_batch(
    workload: str,
    *,
    rounds: int = 3,
    scans: int | None = None,
    workers: int = 2,
    folder: str | os.PathLike[str] | None = None,
    **simulate: Any,
) -> DurableBatch:
    """Time the durable batch, the plain one and the disk in turn (see the module's docstring)."""
    scans = scans or BATCH_SCANS[workload]
    durable = dataclasses.replace(RECIPE, durable=True)
    with tempfile.TemporaryDirectory(dir=folder, prefix="nii-bench-durable-") as temporary:
        root = Path(temporary)
        inputs = make_batch(workload, root / "in", scans, **simulate)
        time_batch(inputs, root / "warm", RECIPE, workers=workers, keep=True)  # numba's cache, the page cache
        output = sum(row.bytes for row in read_report(root / "warm.json"))
        shutil.rmtree(root / "warm")
        durable_runs, plain_runs, disk_times = [], [], []
        with watch_machine() as load:
            for index in range(rounds):
                durable_runs.append(time_batch(inputs, root / f"durable{index}", durable, workers=workers))
                plain_runs.append(time_batch(inputs, root / f"plain{index}", RECIPE, workers=workers))
                disk_times.append(disk_write_seconds(root, output))
    durable_times, plain_times = [run.seconds for run in durable_runs], [run.seconds for run in plain_runs]
    durable_rates, plain_rates = (
        [run.steady_bytes / run.steady_seconds if run.steady_bytes else 0.0 for run in runs]
        for runs in (durable_runs, plain_runs)
    )
    disk_rates = [output / seconds for seconds in disk_times]
    return DurableBatch(
        workload=workload,
        scans=scans,
        workers=workers,
        output_mb=output / 1e6,
        durable_seconds=spread(durable_times),
        plain_seconds=spread(plain_times),
        disk_seconds=spread(disk_times),
        fraction_of_disk=min(disk_times) / min(durable_times),
        fraction_spread=spread([disk / durable for disk, durable in zip(disk_times, durable_times, strict=True)]),
        fraction_of_plain=min(plain_times) / min(durable_times),
        steady_fraction_of_disk=max(durable_rates) / max(disk_rates),
        steady_fraction_spread=spread([rate / disk for rate, disk in zip(durable_rates, disk_rates, strict=True)]),
        steady_fraction_of_plain=max(durable_rates) / max(plain_rates) if max(plain_rates) else 0.0,
        busy=load.warning(),
    )

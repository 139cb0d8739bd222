"""Durable batches against the disk: ``nii convert --fsync`` on two workers, timed in turn with the
same batch without ``--fsync`` and with the disk's durable sequential rate.

The disk's durable sequential rate is what ``dd bs=16M conv=fsync`` measures: the batch's total
output bytes written to one file in blocks of up to 16 MiB, then one ``fsync``
(:func:`nii.bench.disk_write_seconds`). The durable batch is the whole of :func:`nii.pipeline.convert`
with ``Recipe.durable`` (its process pool started, every input read, converted, written, flushed,
renamed and journaled with group commit, :mod:`nii.group_commit`); the plain batch the same
without durability, the bound the CPU sets when the machine's cores are slower than its disk.
The three are timed in turn, round after round, in an order shuffled every round
(:func:`nii.bench.times_in_turn`), so that a busy machine or disk slows them alike;
each share is the median of the rounds' own ratios, with their range and the ratio of the best rounds
(:class:`nii.bench.Ratio`). The plain batch's rate bounds the durable one when the cores are slower
than the disk, so each share is also given of the lower of the disk's and the plain batch's rates. Each batch starts its
process pool (seconds on a busy machine, a large share of a batch of tens of scans), so the ratios are
given again after start-up: from the end of each batch's first scan (its pool started)
to its end, with the bytes of the scans converted in that time.

Examples
--------
>>> batch = time_durable_batch("baggage", rounds=1)  # doctest: +SKIP
>>> f"{batch.of_disk.median:.0%}"  # doctest: +SKIP
'85%'
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import nii
from nii.bench import (
    RECIPE,
    WORKLOADS,
    Ratio,
    disk_write_seconds,
    new_identity,
    ratio_in_turn,
    spread,
    times_in_turn,
    watch_machine,
)
from nii.pipeline import Recipe, convert, read_report

__all__ = ["BATCH_SCANS", "BatchTiming", "DurableBatch", "make_batch", "share", "time_batch", "time_durable_batch"]

BATCH_SCANS = {"cargo": 8, "baggage": 40}
"""Scans per batch: a few hundred MB of output, seconds of the disk's time per round."""


def share(ratio: Ratio) -> str:
    """A :class:`~nii.bench.Ratio` of rates as percentages: the median of the rounds, their range, the best rounds."""
    return f"{ratio.median:.0%} (rounds {ratio.least:.0%}–{ratio.largest:.0%}; best rounds {ratio.best:.0%})"


@dataclass
class DurableBatch:
    """One workload's durable batch against the disk and against the same batch without ``--fsync``.

    Seconds per batch are given over the rounds (least, median, largest); every share is a
    :class:`~nii.bench.Ratio` of the rounds, in which the three ran in turn: the durable batch's rate over
    another's (above 1, the durable batch is the faster)."""

    workload: str
    scans: int
    workers: int
    output_mb: float
    durable_seconds: tuple[float, float, float]
    plain_seconds: tuple[float, float, float]
    disk_seconds: tuple[float, float, float]
    of_disk: Ratio
    """The durable batch's share of the disk's durable sequential rate (the goal's measure)."""
    of_plain: Ratio
    """Its share of the rate of the same batch without ``--fsync``: what durability costs."""
    of_bound: Ratio
    """Its share of the lower of the two rates in each round: the disk's, or the plain batch's when the cores,
    not the disk, set the pace."""
    steady_of_disk: Ratio
    """After start-up (from the end of each batch's first scan on, its pool started; the durable batch's time runs
    until its last output is on disk): the durable batch's rate over the disk's."""
    steady_of_plain: Ratio
    steady_of_bound: Ratio
    busy: str = ""

    @property
    def durable_mb_per_s(self) -> float:
        return self.output_mb / self.durable_seconds[0]

    @property
    def disk_mb_per_s(self) -> float:
        return self.output_mb / self.disk_seconds[0]

    def line(self) -> str:
        """The figures for people."""
        return (
            f"  durable batch (nii convert --fsync, {self.workers} workers, {self.scans} scans,"
            f" {self.output_mb:.0f} MB): {self.durable_mb_per_s:.0f} MB/s in its best round, against the disk's"
            f" durable rate {self.disk_mb_per_s:.0f} MB/s: {share(self.of_disk)} of the disk's rate,"
            f" {share(self.of_plain)} of the same batch without --fsync, {share(self.of_bound)} of the lower of the"
            f" two; after start-up {share(self.steady_of_disk)} of the disk's rate, {share(self.steady_of_plain)} of"
            f" the batch without --fsync, {share(self.steady_of_bound)} of the lower"
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
        paths: list[Callable[[], Any]] = [
            partial(time_batch, inputs, root / "durable", durable, workers=workers),
            partial(time_batch, inputs, root / "plain", RECIPE, workers=workers),
            partial(disk_write_seconds, root, output),
        ]
        with watch_machine() as load:
            # Exactly `rounds` rounds (a batch takes seconds); a batch's output is removed after it is timed.
            durable_runs, plain_runs, disk_times = times_in_turn(paths, rounds, min_seconds=0)
    durable_times, plain_times = [run.seconds for run in durable_runs], [run.seconds for run in plain_runs]
    # Seconds per byte after start-up, so that ratio_in_turn gives ratios of rates.
    durable_steady, plain_steady = (
        [run.steady_seconds / max(run.steady_bytes, 1) for run in runs] for runs in (durable_runs, plain_runs)
    )
    disk_steady = [seconds / output for seconds in disk_times]
    return DurableBatch(
        workload=workload,
        scans=scans,
        workers=workers,
        output_mb=output / 1e6,
        durable_seconds=spread(durable_times),
        plain_seconds=spread(plain_times),
        disk_seconds=spread(disk_times),
        of_disk=ratio_in_turn(disk_times, durable_times),
        of_plain=ratio_in_turn(plain_times, durable_times),
        of_bound=ratio_in_turn(np.maximum(disk_times, plain_times).tolist(), durable_times),
        steady_of_disk=ratio_in_turn(disk_steady, durable_steady),
        steady_of_plain=ratio_in_turn(plain_steady, durable_steady),
        steady_of_bound=ratio_in_turn(np.maximum(disk_steady, plain_steady).tolist(), durable_steady),
        busy=load.warning(),
    )

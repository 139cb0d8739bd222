"""Durable batches: ``nii convert --fsync`` on two workers against the disk's durable sequential rate.

The same measurement as ``nii bench``'s durable-batch line (:mod:`nii.bench_durable`): the whole batch
with group commit, the same batch without ``--fsync`` and the disk writing the batch's bytes with one
fsync, timed in turn (goals: baggage ≥ 80 %, cargo ≥ 90 % of the disk's rate). Before timing, in CI's
smoke mode too, one durable batch is checked: its outputs equal the plain batch's (the reports'
checksums, file by file), and the batch's process made each output durable in order (every file of
its staged output flushed, then the rename, then its folder flushed, then the journal flushed)
before it journaled the output, and flushed the report before removing the journal.

Run for real with ``python -m pytest benchmarks/test_durable_batch.py --benchmark-enable -s``.
"""

from __future__ import annotations

import dataclasses
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from benchmarks import benchmarking
from nii.batch import Journal
from nii.bench import RECIPE
from nii.bench_durable import BATCH_SCANS, make_batch, time_batch, time_durable_batch
from nii.io import staged_path
from nii.pipeline import read_report

SMOKE = {"cargo": {"rows": 128, "lines": 512}, "baggage": {"scale": 0.1}}


def durable_order_problems(events: list[tuple[str, str]], rows: list[dict[str, object]], journal: str) -> list[str]:
    """What in ``events`` (("fsync", path) and ("rename", target) of the batch's process, in order) breaks
    the durable order for the journaled ``rows``; empty when nothing does."""
    problems = []
    journal_syncs = [i for i, (kind, path) in enumerate(events) if kind == "fsync" and path == journal]
    for row in rows:
        output = str(row["output"])
        staged = str(staged_path(output))
        flushed = [i for i, (kind, path) in enumerate(events) if kind == "fsync" and path.startswith(staged)]
        renamed = [i for i, (kind, path) in enumerate(events) if kind == "rename" and path == output]
        if not flushed or len(renamed) != 1:
            problems.append(f"{output}: flushed {len(flushed)} times, renamed {len(renamed)} times")
            continue
        folder = [i for i in range(renamed[0], len(events)) if events[i] == ("fsync", str(Path(output).parent))]
        synced = [i for i in journal_syncs if folder and i > folder[0]]
        if max(flushed) > renamed[0] or not folder or not synced:
            problems.append(f"{output}: flush, rename, folder flush, journal flush out of order")
    return problems


@pytest.mark.parametrize("workload", list(BATCH_SCANS))
def test_durable_batch_against_the_disk(benchmark, workload, tmp_path, monkeypatch, request):
    benchmark.group = f"durable-batch-{workload}"
    real = benchmarking(request.config)
    simulate = {} if real else SMOKE[workload]
    inputs = make_batch(workload, tmp_path / "in", 4, **simulate)
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: str, target: str) -> None:
        events.append(("rename", str(target)))
        real_replace(source, target)

    # One creation time for both batches: then their outputs are byte for byte the same.
    plain = dataclasses.replace(RECIPE, options={"created_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)})
    durable = dataclasses.replace(plain, durable=True)
    with monkeypatch.context() as patch:  # this process's calls: the group commit's, not the workers'
        patch.setattr(os, "fsync", fsync)
        patch.setattr(os, "replace", replace)
        time_batch(inputs, tmp_path / "durable", durable, keep=True)
    time_batch(inputs, tmp_path / "plain", plain, keep=True)
    durable_rows, plain_rows = (read_report(tmp_path / f"{name}.json") for name in ("durable", "plain"))
    assert [(r.status, r.checksum) for r in durable_rows] == [(r.status, r.checksum) for r in plain_rows]
    assert all(r.status == "ok" for r in durable_rows)
    journal = str(tmp_path / "durable.json.journal")
    assert not Path(journal).exists()  # replaced by the report at the end
    rows = [dataclasses.asdict(r) for r in durable_rows]
    assert durable_order_problems(events, rows, journal) == []
    # The report too is on disk (flushed, renamed, its folder flushed) before the journal is removed.
    [renamed] = [i for i, event in enumerate(events) if event == ("rename", str(tmp_path / "durable.json"))]
    assert events[renamed - 1][0] == "fsync" and events[renamed + 1] == ("fsync", str(tmp_path))
    assert Journal.read(journal) == []

    def measure() -> object:
        return time_durable_batch(
            workload,
            rounds=3 if real else 1,
            scans=BATCH_SCANS[workload] if real else 4,
            folder=tmp_path,
            **simulate,
        )

    batch = benchmark.pedantic(measure, rounds=1, iterations=1)
    benchmark.extra_info.update(dataclasses.asdict(batch))
    goal = {"cargo": 0.9, "baggage": 0.8}[workload]
    print(f"\n{workload}:{batch.line()} (goal ≥ {goal:.0%})")
    if batch.busy:
        print(f"{workload}: {batch.busy}")
    assert batch.of_disk.median > 0 and batch.of_plain.median > 0

"""Conversion throughput (read → fused calibration → DICOS) against the naive baseline, in the same run.

The same two paths as ``nii bench`` (:mod:`nii.bench`): nii's, and numpy read + plain-numpy float64 calibration +
pydicom's default write. Workloads: the simulated cargo scan (one view, 2 × 2048 × 8192) and the two-view suitcase;
with benchmarks disabled (the default) both run once on small scans as smoke tests of the same code.

A second test writes the converted scan as DICOS with fsync (under new UIDs each round, as a batch
would) and sets it against the disk writing the same number of bytes with fsync (goal: at least 80 % of
the disk's rate). Each ratio comes from the two timed in turn, round after round for at least
``nii.bench.MIN_SECONDS`` (as ``nii bench``), best of each.

Run for real with ``python -m pytest benchmarks/test_pipeline.py --benchmark-enable -s``; the speed-up per
workload is printed and stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import itertools
import shutil
from functools import partial
from pathlib import Path

import pytest

import nii
from benchmarks import alternate, benchmarking
from nii.bench import (
    MAX_ROUNDS,
    MIN_SECONDS,
    RECIPE,
    WORKLOADS,
    best_in_turn,
    disk_write_seconds,
    naive_convert,
    new_identity,
    nii_convert,
    seconds_to_write,
    write_dicos_durably,
)
from nii.pipeline import convert_scan, output_bytes
from nii.simulate.simulator import simulate

ROUNDS = 9


@pytest.fixture(scope="module", params=list(WORKLOADS))
def workload(request, tmp_path_factory):
    arguments = dict(WORKLOADS[request.param])
    if not benchmarking(request.config):
        arguments.update(scale=0.1) if arguments.get("scenario") == "suitcase" else arguments.update(
            rows=128, lines=512
        )
    scan, _ = simulate(seed=1, **arguments)
    source = tmp_path_factory.mktemp(request.param) / "scan.npz"
    nii.write(scan, source)
    return request.param, source


def test_conversion(benchmark, workload, tmp_path, request):
    """nii's conversion under pytest-benchmark; the ratio to the naive path from the two timed in turn."""
    name, source = workload
    benchmark.group = f"pipeline-{name}"
    counter = itertools.count()

    def converter(convert):
        def run() -> None:
            target = tmp_path / f"out{next(counter)}"
            convert(source, target)
            shutil.rmtree(target)  # keep dirty pages of earlier rounds out of later ones

        return run

    nii_convert(source, tmp_path / "warm")  # compile and cache outside the timing
    benchmark.pedantic(converter(nii_convert), rounds=ROUNDS, iterations=1)
    rounds, seconds = (ROUNDS, MIN_SECONDS) if benchmarking(request.config) else (1, 0)
    ratio = alternate(converter(naive_convert), converter(nii_convert), rounds, min_seconds=seconds)
    benchmark.extra_info["speedup_vs_naive"] = round(ratio, 3)
    print(f"\n{name}: nii {ratio:.2f}× the speed of the naive path (best, in turn; goal ≥ 3)")
    assert Path(tmp_path / "warm").is_dir()


def test_durable_dicos_write_against_the_disk(benchmark, workload, tmp_path, request):
    """DICOS with fsync under pytest-benchmark; its rate as a fraction of the disk's, the two timed in turn."""
    name, source = workload
    benchmark.group = f"durable-{name}"
    converted = convert_scan(nii.read(source), RECIPE)
    nii.write(converted, tmp_path / "warm", format="dicos")  # also loads the writer thread
    output = output_bytes(tmp_path / "warm")
    # Rounds for at least MIN_SECONDS, as nii bench: a baggage scan is written in milliseconds,
    # and the best of a few measures the machine's hiccups more than the writer.
    rounds, seconds = (ROUNDS, MIN_SECONDS) if benchmarking(request.config) else (1, 0)
    scans = [new_identity(converted) for _ in range(ROUNDS + MAX_ROUNDS)]  # new UIDs each round, as in a batch
    counter = itertools.count()

    def durable() -> None:
        target = tmp_path / f"durable{next(counter)}"
        write_dicos_durably(scans, target)
        shutil.rmtree(target)

    benchmark.pedantic(durable, rounds=ROUNDS, iterations=1)
    nii_seconds, disk_seconds = best_in_turn(
        [
            partial(seconds_to_write, partial(write_dicos_durably, scans), tmp_path),
            partial(disk_write_seconds, tmp_path, output),
        ],
        rounds,
        min_seconds=seconds,
    )
    fraction = disk_seconds / nii_seconds
    benchmark.extra_info["fraction_of_disk_rate"] = round(fraction, 3)
    print(f"\n{name}: DICOS with fsync at {fraction:.0%} of the disk's rate (best, in turn; goal ≥ 80 %)")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["warm"]

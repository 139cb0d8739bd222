"""Conversion throughput (read → fused calibration → DICOS) against the baselines, in the same run.

The same paths as ``nii bench`` (:func:`nii.bench.time_conversion`): nii's, the baselines of
:mod:`nii.baselines` (naive float64 numpy, numpy float32 in place, the same with OpenCV's log, and the careful
user's numba-fused calibration with a streamed pydicom write), and a plain read+write of the same bytes (the
machine's limit), with the input in the page cache and dropped from it; every baseline checked to write
nii's attenuation codes (within ``nii.bench.CODE_TOLERANCE``) before it is timed, with benchmarks enabled
or not. Workloads: the simulated cargo scan (one view, 2 × 2048 × 8192) and the two-view suitcase;
with benchmarks disabled (the default) both run once on small scans as smoke tests of the same code.

A second test writes the converted scan as DICOS with fsync (under new UIDs each round, as a batch
would) and sets it against the disk writing the same number of bytes with fsync (goal: at least 80 % of
the disk's rate). Each ratio comes from the two timed in turn, round after round for at least
``nii.bench.MIN_SECONDS`` (as ``nii bench``), best of each.

Run for real with ``python -m pytest benchmarks/test_pipeline.py --benchmark-enable -s``; the ratio to the
best baseline (then to the limit and the others, warm and cold, each with its spread over the rounds) per
workload is printed and stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import itertools
import shutil
from functools import partial

import numpy as np
import pytest

import nii
from benchmarks import benchmarking
from nii.baselines import BASELINES
from nii.bench import (
    MAX_ROUNDS,
    MIN_SECONDS,
    RECIPE,
    WORKLOADS,
    best_in_turn,
    check_baselines,
    disk_write_seconds,
    drop_cached_pages,
    new_identity,
    nii_convert,
    seconds_to_write,
    time_conversion,
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
    drop_cached_pages(source, flush=True)  # clean pages: the cold rounds can drop them
    return request.param, source


def test_conversion(benchmark, workload, tmp_path, request):
    """nii's conversion under pytest-benchmark; its ratio to each baseline and to the machine's limit (a plain
    read+write of the same bytes), input warm and cold, from all paths timed in turn (``time_conversion``), after
    checking that every baseline writes nii's codes (within ``CODE_TOLERANCE``), in smoke mode too."""
    name, source = workload
    benchmark.group = f"pipeline-{name}"
    check_baselines(source, tmp_path)  # also compiles and warms up, outside the timing
    counter = itertools.count()

    def converted() -> None:
        target = tmp_path / f"out{next(counter)}"
        nii_convert(source, target)
        shutil.rmtree(target)  # keep dirty pages of earlier rounds out of later ones

    benchmark.pedantic(converted, rounds=ROUNDS, iterations=1)
    rounds, seconds = (ROUNDS, MIN_SECONDS) if benchmarking(request.config) else (1, 0)
    conversion = time_conversion(source, tmp_path, repeats=rounds, min_seconds=seconds)
    summary = conversion.summary()
    benchmark.extra_info.update(summary, busy=conversion.busy)
    print(f"\n{name}:", *conversion.lines(), sep="\n")
    assert set(conversion.seconds) >= {"nii", "nii cold", "read+write", *BASELINES}
    assert summary["vs_best"]["best"] > 0 and summary["vs_limit_cold"]["best"] > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_durable_dicos_write_against_the_disk(benchmark, workload, tmp_path, request):
    """DICOS with fsync under pytest-benchmark; its rate as a fraction of the disk's, the two timed in turn."""
    name, source = workload
    benchmark.group = f"durable-{name}"
    converted = convert_scan(nii.read(source), RECIPE)
    nii.write(converted, tmp_path / "warm", format="dicos")  # also loads the writer thread
    output = output_bytes(tmp_path / "warm")  # the disk baseline writes exactly as many bytes
    written = nii.read(tmp_path / "warm")  # the durable writer's work, checked in smoke mode too
    for view in converted.views:
        for channel, pixels in view.channels.items():
            assert np.array_equal(written.view(view.name).channels[channel], pixels), (view.name, channel)
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

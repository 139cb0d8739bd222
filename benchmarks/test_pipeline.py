"""Conversion throughput (read → fused calibration → DICOS) against the naive baseline, in the same run.

The same two paths as ``nii bench`` (:mod:`nii.bench`): nii's, and numpy read + plain-numpy float64 calibration +
pydicom's default write. Workloads: the simulated cargo scan (one view, 2 × 2048 × 8192) and the two-view suitcase;
with benchmarks disabled (the default) both run once on small scans as smoke tests of the same code.

Run for real with ``python -m pytest benchmarks/test_pipeline.py --benchmark-enable -s``; the speed-up per
workload is printed and stored in the benchmark's ``extra_info``.
"""

from __future__ import annotations

import itertools
import shutil
import time
from pathlib import Path

import pytest

import nii
from benchmarks import benchmarking
from nii.bench import WORKLOADS, naive_convert, nii_convert
from nii.simulate.simulator import simulate

ROUNDS = 5
_speeds: dict[str, dict[str, float]] = {}


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


@pytest.mark.parametrize("path", ["nii", "naive"])
def test_conversion(benchmark, workload, path, tmp_path):
    name, source = workload
    convert = nii_convert if path == "nii" else naive_convert
    counter = itertools.count()

    def run() -> None:
        target = tmp_path / f"out{next(counter)}"
        convert(source, target)
        shutil.rmtree(target)  # keep dirty pages of earlier rounds out of later ones

    convert(source, tmp_path / "warm")  # compile and cache outside the timing
    start = time.perf_counter()
    benchmark.pedantic(run, rounds=ROUNDS, iterations=1)
    _speeds.setdefault(name, {})[path] = benchmark.stats.stats.min if benchmark.stats else time.perf_counter() - start
    times = _speeds[name]
    if {"nii", "naive"} <= set(times):
        ratio = times["naive"] / times["nii"]
        benchmark.extra_info["speedup_vs_naive"] = ratio
        print(f"\n{name}: nii {times['nii'] * 1e3:.1f} ms, naive {times['naive'] * 1e3:.1f} ms, speed-up {ratio:.2f}×")
    assert Path(tmp_path / "warm").is_dir()

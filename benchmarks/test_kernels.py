"""Kernel benchmarks against baselines measured in the same run (cargo case: 2 frames of 2048 × 8192 uint16).

Run for real with ``python -m pytest benchmarks --benchmark-enable -s``: each test prints the ratios to
its baselines and stores them in the benchmark's ``extra_info``. Under ``--benchmark-disable`` (the
default) they run once on small frames as smoke tests, which check that the kernel and its baseline give
the same result. Timings are the best of several rounds, the kernel and its baselines interleaved so that
a busy machine slows them alike; ratios come with their spread over the rounds (least, median, largest)
and a warning when other processes took the CPUs meanwhile.

* ``test_fused_calibration_against_a_frame_copy``: :func:`nii.kernels.calibrated_attenuation` against
  ``np.copyto`` of the same frame into a preallocated output of the output dtype, the memory-bound floor
  (goal, issue #21: at most 1.5 times the copy's time).
* ``test_fused_calibration_with_a_core_taken``: the same kernel while a busy loop holds one core, as nii
  runs it (threads chosen by load), on all of numba's threads regardless, and on one thread (goal: no
  slower than one thread).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numba
import numpy as np
import pytest

from benchmarks import timed
from nii.bench import spread, times_in_turn, watch_machine
from nii.kernels import (
    Calibration,
    MaterialTable,
    ZeffGrid,
    _common,
    calibrated_attenuation,
    material_classes,
)
from nii.kernels.attenuation import calibrated_attenuation_reference
from nii.kernels.dual_energy import material_classes_reference

CARGO = (2048, 8192)
SMOKE = (64, 256)


def _shape(benchmark) -> tuple[int, int]:
    return SMOKE if benchmark.disabled else CARGO


def _frames(rows: int, lines: int) -> tuple[np.ndarray, list[Calibration], list[dict[str, np.ndarray]]]:
    """Two frames of a smooth object (ramp, block, Poisson noise) with their references."""
    rng = np.random.default_rng(0)
    a = np.tile(np.linspace(0.0, 7.0, lines, dtype=np.float32), (rows, 1))
    a[rows // 4 : rows // 2, lines // 4 : lines // 2] += 2.0
    raw = np.empty((2, rows, lines), np.uint16)
    calibrations, references = [], []
    for k in range(2):
        dark = rng.normal(1000, 20, rows)
        gain = rng.normal(50000, 2000, rows)
        source = rng.normal(1, 0.01, lines)
        raw[k] = np.clip(rng.poisson(gain[:, None] * source[None, :] * np.exp(-a)) + dark[:, None], 0, 65535)
        calibrations.append(Calibration.from_references(dark, dark + gain, reference=source, reference_air=1.0))
        references.append({"dark": dark, "air": dark + gain, "scale": 1.0 / source})
    return raw, calibrations, references


def _best(function: Callable[[], object], rounds: int) -> float:
    best = np.inf
    for _ in range(rounds):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def _compare(benchmark, ours: Callable[[], object], baselines: dict[str, Callable[[], object]], rounds: int) -> None:
    """Time ``ours`` and each baseline interleaved; record baseline/ours ratios; hand ``ours`` to pytest-benchmark."""
    if benchmark.disabled:
        for baseline in baselines.values():
            baseline()
        benchmark(ours)
        return
    ours()
    times = {"ours": np.inf} | {name: np.inf for name in baselines}
    for _ in range(rounds):
        times["ours"] = min(times["ours"], _best(ours, 3))
        for name, baseline in baselines.items():
            times[name] = min(times[name], _best(baseline, 1 if name.startswith("numpy") else 3))
    for name in baselines:
        benchmark.extra_info[f"{name} / ours"] = times[name] / times["ours"]
    benchmark.extra_info["seconds"] = times
    print(f"\n{benchmark.name}: " + ", ".join(f"{n} / ours = {times[n] / times['ours']:.2f}" for n in baselines))
    benchmark.pedantic(ours, rounds=5, iterations=1)


def _time_ratios(benchmark, ours: Callable[[], object], others: dict[str, Callable[[], object]], rounds: int) -> None:
    """Time ``ours`` and the ``others`` in turn; record and print each ``ours / other`` time ratio: of the
    best times, and its spread over the rounds (ratios of the times of one round)."""
    with watch_machine() as load:
        times = times_in_turn([timed(ours), *map(timed, others.values())], rounds, min_seconds=1.0)
    lines = []
    for name, other in zip(others, times[1:], strict=True):
        per_round = [a / b for a, b in zip(times[0], other, strict=True)]
        best = min(times[0]) / min(other)
        benchmark.extra_info[f"ours / {name}"] = best
        benchmark.extra_info[f"ours / {name} spread"] = spread(per_round)
        low, median, high = spread(per_round)
        lines.append(f"ours / {name} = {best:.2f} (rounds {low:.2f} / {median:.2f} / {high:.2f})")
    benchmark.extra_info["seconds"] = {"ours": min(times[0])} | {
        name: min(other) for name, other in zip(others, times[1:], strict=True)
    }
    benchmark.extra_info["machine"] = load.warning()
    print(f"\n{benchmark.name}: " + "; ".join(lines) + (f"\n  {load.warning()}" if load.warning() else ""))


def _assert_same_attenuation(out: np.ndarray, raw: np.ndarray, calibration: Calibration) -> None:
    """The kernel's output equals the numpy reference's: the same codes, float32 within the documented
    tolerance of the float64 logarithm."""
    expected = calibrated_attenuation_reference(raw, calibration, dtype=out.dtype)
    if out.dtype == np.uint16:
        np.testing.assert_array_equal(out, expected)
    else:
        np.testing.assert_allclose(out, expected, rtol=3e-7, atol=1.2e-6)


@pytest.mark.parametrize("dtype", [np.uint16, np.float32], ids=["codes", "float32"])
def test_fused_calibration_against_a_frame_copy(benchmark, dtype):
    rows, lines = _shape(benchmark)
    raw, calibrations, _ = _frames(rows, lines)
    frame, calibration = raw[0], calibrations[0]
    out = np.empty(frame.shape, dtype)
    copied = np.empty(frame.shape, dtype)
    calibrated_attenuation(frame, calibration, dtype=dtype, out=out)
    _assert_same_attenuation(out, frame, calibration)
    if not benchmark.disabled:
        _time_ratios(
            benchmark,
            lambda: calibrated_attenuation(frame, calibration, dtype=dtype, out=out),
            {"copy": lambda: np.copyto(copied, frame, casting="unsafe")},
            20,
        )
    benchmark(calibrated_attenuation, frame, calibration, dtype=dtype, out=out)


@pytest.fixture
def core_taken() -> Iterator[None]:
    """A busy loop pinned on the last core for the test's duration."""
    cores = sorted(os.sched_getaffinity(0))
    busy = subprocess.Popen(
        [sys.executable, "-c", f"import os\nos.sched_setaffinity(0, {{{cores[-1]}}})\nwhile True: pass"]
    )
    time.sleep(0.2)
    try:
        yield
    finally:
        busy.kill()
        busy.wait()


def test_fused_calibration_with_a_core_taken(benchmark, core_taken, monkeypatch):
    rows, lines = _shape(benchmark)
    raw, calibrations, _ = _frames(rows, lines)
    frame, calibration = raw[0], calibrations[0]
    out = np.empty(frame.shape, np.uint16)

    def on_threads(count: int | None) -> Callable[[], object]:
        def run() -> object:
            if count is None:  # nii's choice
                return calibrated_attenuation(frame, calibration, dtype=np.uint16, out=out)
            with monkeypatch.context() as patch:
                patch.setattr(_common, "threads_for", lambda pixels: count)
                return calibrated_attenuation(frame, calibration, dtype=np.uint16, out=out)

        return run

    all_threads = numba.get_num_threads()
    for count in (None, all_threads, 1):
        on_threads(count)()
        _assert_same_attenuation(out, frame, calibration)  # right with any number of threads
    if not benchmark.disabled:
        _time_ratios(
            benchmark,
            on_threads(None),
            {f"{all_threads} threads": on_threads(all_threads), "1 thread": on_threads(1)},
            20,
        )
    benchmark(on_threads(None))


def test_dual_energy_classification_against_numpy(benchmark):
    rows, lines = _shape(benchmark)
    raw, calibrations, _ = _frames(rows, lines)
    a_high = calibrated_attenuation(raw[0], calibrations[0])
    a_low = np.ascontiguousarray(a_high * np.float32(1.15) + calibrated_attenuation(raw[1], calibrations[1]) * 0.05)
    grid = ZeffGrid(np.linspace(5, 82, 97 * 257, dtype=np.float32).reshape(97, 257), 12.0, 0.95, 1.3)
    table = MaterialTable(min_attenuation=0.5, max_attenuation=5.3)
    out = np.empty(a_high.shape, np.uint8)
    _compare(
        benchmark,
        lambda: material_classes(a_high, a_low, grid, table, out=out),
        {"numpy": lambda: material_classes_reference(a_high, a_low, grid, table)},
        2,
    )
    np.testing.assert_array_equal(out, material_classes_reference(a_high, a_low, grid, table))  # the same classes


@pytest.mark.slow
def test_first_call_time_with_a_warm_cache(benchmark):
    """Fresh processes: the first fills numba's cache (if needed), the second's first calls are reported."""
    script = Path(__file__).with_name("first_call.py")
    subprocess.run([sys.executable, str(script)], check=True, capture_output=True)
    result = subprocess.run([sys.executable, str(script)], check=True, capture_output=True, text=True)
    seconds = json.loads(result.stdout)
    benchmark.extra_info.update(seconds)
    print(f"\nfirst call with a warm cache: {seconds['total']:.2f} s in all (goal < 1.5 s)")
    assert set(seconds) > {"grey_levels", "area_resample", "total"}
    benchmark(lambda: None)

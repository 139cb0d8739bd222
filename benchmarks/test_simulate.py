"""Simulator speed, each against a baseline measured in the same run.

* Full-size dual-energy cargo (2048 rows × 8192 lines) against the same simulation with the
  spectral sum done per pixel in plain numpy (``polychromatic_transmission_numpy``) on a
  smaller scan; the ratio of time per pixel is reported in ``extra_info``.
* The transmission kernel alone against its numpy reference on the same projected cargo.
* A full-size two-view baggage scan (700 × 1200) for scale.

With ``--benchmark-disable`` (the default) every benchmark runs once on small sizes as a smoke test.
"""

from __future__ import annotations

import numpy as np
import pytest

import nii.simulate.simulator as simulator
from benchmarks import best_seconds
from nii.kernels.spectral import polychromatic_transmission, polychromatic_transmission_numpy
from nii.simulate import SCANNERS, simulate
from nii.simulate.phantoms import container_phantom
from nii.simulate.solids import Grid


def _report(benchmark, pixels: int, baseline_per_pixel: float, name: str) -> None:
    if benchmark.disabled:
        return
    per_pixel = benchmark.stats.stats.min / pixels
    benchmark.extra_info["seconds_per_megapixel"] = per_pixel * 1e6
    benchmark.extra_info[f"speed-up over {name}"] = baseline_per_pixel / per_pixel
    print(f"\n{name}: {baseline_per_pixel / per_pixel:.1f}× slower per pixel than the simulator")


def test_full_size_cargo(benchmark, monkeypatch):
    rows, lines = (2048, 8192) if not benchmark.disabled else (64, 256)
    small_rows, small_lines = (512, 2048) if not benchmark.disabled else (32, 128)
    simulate("cargo", seed=1, rows=32, lines=64)  # load the numba kernels from their cache
    with monkeypatch.context() as patch:
        patch.setattr(simulator, "polychromatic_transmission", polychromatic_transmission_numpy)
        baseline = best_seconds(lambda: simulate("cargo", seed=1, rows=small_rows, lines=small_lines), 1)
        by_numpy, _ = simulate("cargo", seed=1, rows=small_rows, lines=small_lines)
    # The baseline simulates the same scan: the same counts, within one (float rounding before the noise).
    ours, _ = simulate("cargo", seed=1, rows=small_rows, lines=small_lines)
    for channel, counts in ours.views[0].channels.items():
        difference = np.abs(counts.astype(np.int64) - by_numpy.views[0].channels[channel])
        assert difference.max() <= 1 and (difference == 0).mean() > 0.99, (channel, difference.max())
    benchmark.pedantic(simulate, args=("cargo",), kwargs={"seed": 1, "rows": rows, "lines": lines}, rounds=3)
    _report(benchmark, rows * lines, baseline / (small_rows * small_lines), "per-pixel numpy spectral sum")


def test_transmission_kernel(benchmark):
    rows, lines = (1024, 2048) if not benchmark.disabled else (64, 128)
    phantom = container_phantom(np.random.default_rng(1))
    step = phantom.scan_length_mm / lines
    columns = np.arange(lines) * step + step / 2 - phantom.margin_mm
    pitch = 4800.0 / rows
    grid = Grid("side", columns, np.full(lines, step), (rows - np.arange(rows) - 0.5) * pitch, pitch)
    area = simulator.project(phantom, grid).area_density.reshape(len(phantom.material_names), -1)
    spectrum = SCANNERS["linac-6/4"].spectra["high"]
    mu = np.stack([simulator.mass_attenuation(m, spectrum.energies_mev) for m in phantom.material_names])
    chunk = area[:, : area.shape[1] // 8]  # the numpy reference holds (energies × rays) at once
    baseline = best_seconds(lambda: polychromatic_transmission_numpy(chunk, mu, spectrum.weights), 3) / chunk.shape[1]
    result = benchmark(polychromatic_transmission, area, mu, spectrum.weights)
    np.testing.assert_allclose(result[: chunk.shape[1]], polychromatic_transmission_numpy(chunk, mu, spectrum.weights))
    _report(benchmark, area.shape[1], baseline, "numpy reference")


@pytest.mark.parametrize("scale", [1.0])
def test_full_size_baggage(benchmark, scale):
    scale = scale if not benchmark.disabled else 0.1
    scan, _ = benchmark.pedantic(simulate, args=("suitcase",), kwargs={"seed": 1, "scale": scale}, rounds=3)
    assert [view.name for view in scan.views] == ["side", "top"]

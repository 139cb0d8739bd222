"""Reading the reference vendor formats, and the decoding kernels, against same-run baselines.

Run for real with ``python -m pytest benchmarks/test_formats.py --benchmark-enable`` (a cargo
scan of 2 channels × 2048 rows × 8192 lines, 64 MiB of pixels); the normal run executes each
once on a thumbnail as a smoke test. Goals (issue #5):

* ``formats-read``: ``nii.read`` of each format (the reference formats, raw profiles and the
  NII archive, each written with its default options), every channel loaded into memory,
  reaches at least 0.5 of the speed of ``numpy.fromfile`` reading the same pixel bytes
  (64 MiB of uint16). Timings of the two alternate, and the best of each is compared, so that the load
  of a shared machine affects both alike.
* ``decode-unpack12``: the numba 12-bit unpacker at least 5× faster than the numpy reference.
* ``decode-deinterleave``: the numba line de-interleaver (with byte swap) against numpy.

Ratios are in ``extra_info`` (``--benchmark-json``) and printed as a table at the end.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

import nii
from benchmarks import alternate, benchmarking, write_table
from nii.kernels.decode import (
    deinterleave_lines,
    deinterleave_lines_reference,
    pack12,
    unpack12,
    unpack12_reference,
)
from nii.model import Geometry, Scan, Scanner, View

GOALS = {"read": 0.5, "unpack12": 5.0}
RESULTS: list[tuple[str, float, str]] = []


@pytest.fixture(scope="module")
def size(request) -> tuple[int, int]:
    return (2048, 8192) if benchmarking(request.config) else (128, 512)


@pytest.fixture(scope="module")
def rounds(request) -> int:
    return 7 if benchmarking(request.config) else 1


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    rows = [f"  {name:<34} {ratio:6.2f}   {goal}" for name, ratio, goal in RESULTS]
    write_table(request.config, "ratio to baseline (same run; machine shared with other jobs):", rows)


def cargo_counts(rows: int, lines: int) -> dict[str, np.ndarray]:
    """Dual-energy counts of a loaded container: steel boxes attenuate an open beam, Poisson noise."""
    rng = np.random.default_rng(0)
    steel_mm = np.full((rows, lines), 4.0, np.float32)
    for _ in range(30):
        y, x = int(rng.integers(0, rows - rows // 8)), int(rng.integers(0, lines - lines // 10))
        height, width = int(rng.integers(rows // 20, rows // 4)), int(rng.integers(lines // 50, lines // 8))
        steel_mm[y : y + height, x : x + width] += rng.uniform(5, 150)
    return {
        channel: np.clip(rng.poisson(beam * np.exp(-mu * steel_mm)) + 100, 0, 65535).astype(np.uint16)
        for channel, mu, beam in (("high", 0.025, 52000.0), ("low", 0.032, 60000.0))
    }


def scan_of(channels: dict[str, np.ndarray]) -> Scan:
    return Scan(
        [View("side", channels, Geometry(5.0, 4.2))],
        acquired_at=datetime(2026, 3, 4, 10, 0, tzinfo=UTC),
        scanner=Scanner(energies_kv={"high": 6000.0, "low": 4000.0}, line_rate_hz=200.0),
    )


PROFILE = """
[data]
dtype = "uint16"
endian = "big"
layout = "line"
channels = ["high", "low"]
rows = {rows}
lines = "auto"
[scan]
acquired_at = "file-mtime"
[geometry]
detector_spacing_mm = 5.0
travel_spacing_mm = 4.2
"""


@pytest.fixture(scope="module")
def files(size, tmp_path_factory) -> dict[str, Any]:
    """Each format written from the same cargo pixels, and the raw pixels for numpy.fromfile."""
    folder = tmp_path_factory.mktemp("formats")
    rows, lines = size
    counts = cargo_counts(rows, lines)
    twelve_bit = {name: array >> 4 for name, array in counts.items()}
    raw = folder / "pixels.u16"
    np.stack(list(counts.values())).tofile(raw)
    written: dict[str, Any] = {"raw": raw}
    for name in ("ref-rawxml", "ref-tiff", "ref-hdf5", "ref-packed12", "nii-archive"):
        pixels = twelve_bit if name == "ref-packed12" else counts
        path = folder / f"scan.{name}"
        nii.write(scan_of(pixels), path, format=name)
        written[name] = (path, {}, pixels)
    profile = folder / "interleaved.toml"
    profile.write_text(PROFILE.format(rows=rows))
    path = folder / "scan.profile"
    np.stack([array.T for array in counts.values()], axis=1).astype(">u2").tofile(path)  # (lines, channels, rows)
    written["profile"] = (path, {"format": "profile", "profile": profile}, counts)
    return written


@pytest.mark.parametrize("name", ["ref-rawxml", "ref-tiff", "ref-hdf5", "ref-packed12", "profile", "nii-archive"])
def test_read(benchmark, files, rounds, name):
    benchmark.group = "formats-read"
    path, options, expected = files[name]

    def read() -> list[np.ndarray]:
        scan = nii.read(path, **options)
        return [np.asarray(channel) for view in scan.views for channel in view.channels.values()]

    channels = benchmark.pedantic(read, rounds=rounds, iterations=1)
    for got, want in zip(channels, expected.values(), strict=True):
        np.testing.assert_array_equal(got, want)
    ratio = alternate(lambda: np.fromfile(files["raw"], dtype=np.uint16), read, rounds)
    benchmark.extra_info["speed_vs_fromfile"] = round(ratio, 3)
    RESULTS.append((f"read {name} / fromfile", ratio, f"goal ≥ {GOALS['read']}"))


def test_unpack12(benchmark, size, rounds):
    benchmark.group = "decode-unpack12"
    rows, lines = size
    rng = np.random.default_rng(1)
    samples = rng.integers(0, 4096, 2 * rows * lines, dtype=np.uint16)
    packed = pack12(samples)
    unpacked = benchmark.pedantic(unpack12, args=(packed, samples.size), rounds=rounds, iterations=1)
    np.testing.assert_array_equal(unpacked, samples)
    ratio = alternate(lambda: unpack12_reference(packed, samples.size), lambda: unpack12(packed, samples.size), rounds)
    benchmark.extra_info["speedup_vs_numpy"] = round(ratio, 3)
    RESULTS.append(("unpack12 numba / numpy", ratio, f"goal ≥ {GOALS['unpack12']}"))


def test_deinterleave(benchmark, size, rounds):
    benchmark.group = "decode-deinterleave"
    rows, lines = size
    rng = np.random.default_rng(2)
    records = rng.integers(0, 65535, (lines, 2, rows + 1), dtype=np.uint16)[:, :, 1:]
    split = benchmark.pedantic(deinterleave_lines, args=(records,), kwargs={"swap_bytes": True}, rounds=rounds)
    np.testing.assert_array_equal(split, deinterleave_lines_reference(records, swap_bytes=True))
    ratio = alternate(
        lambda: deinterleave_lines_reference(records, swap_bytes=True),
        lambda: deinterleave_lines(records, swap_bytes=True),
        rounds,
    )
    benchmark.extra_info["speedup_vs_numpy"] = round(ratio, 3)
    RESULTS.append(("deinterleave+swap numba / numpy", ratio, "kept where faster than numpy"))

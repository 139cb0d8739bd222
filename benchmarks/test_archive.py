"""NII archive benchmarks: the choice of filter and tile, read speed and random access.

Run for real with ``python -m pytest benchmarks/test_archive.py --benchmark-enable -s``; the
normal test run executes each once on small images as a smoke test. Every group has its
baseline measured in the same run:

* ``archive-filter``: candidate HDF5 filters and tile sizes on simulated dual-energy cargo
  counts (2 × 2048 × 8192 uint16), written in the archive's layout and read back through
  nii's reader (:func:`nii.formats._hdf5.read_whole`). For each: the compression ratio, the
  write time against uncompressed HDF5, and the read speed against ``numpy.fromfile`` of the
  same pixels (timed in turn, best of each). Printed as a table at the end and stored in
  ``extra_info``. The read goal of issue #5 (at least 0.5 of ``fromfile``) is measured on
  the default in ``benchmarks/test_formats.py``.
* ``archive-random-access``: reading the last scan of a many-scan archive against reading the
  same scan from a one-scan archive.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

import h5py
import hdf5plugin
import numpy as np
import pytest

from benchmarks import alternate, benchmarking, write_table
from nii.formats._hdf5 import read_whole
from nii.formats.archive import open_archive, write_archive
from nii.model import Geometry, Scan, View


def _blosc(cname: str, shuffle: int, level: int) -> dict:
    return dict(hdf5plugin.Blosc(cname=cname, clevel=level, shuffle=shuffle))


BIT, BYTE = hdf5plugin.Blosc.BITSHUFFLE, hdf5plugin.Blosc.SHUFFLE
CANDIDATES = {
    # name: (filter options, tile edge; 0 = contiguous)
    "none": ({}, 0),
    "gzip-4-shuffle": ({"compression": "gzip", "compression_opts": 4, "shuffle": True}, 512),
    "lzf-shuffle": ({"compression": "lzf", "shuffle": True}, 512),
    "blosc-lz4-shuffle": (_blosc("lz4", BYTE, 5), 512),
    "blosc-lz4-bitshuffle-256": (_blosc("lz4", BIT, 5), 256),
    "blosc-lz4-bitshuffle": (_blosc("lz4", BIT, 5), 512),
    "blosc-lz4hc-bitshuffle": (_blosc("lz4hc", BIT, 5), 512),
    "blosc-zstd-1-bitshuffle": (_blosc("zstd", BIT, 1), 512),
    "blosc-zstd-3-bitshuffle-256": (_blosc("zstd", BIT, 3), 256),
    "blosc-zstd-3-bitshuffle": (_blosc("zstd", BIT, 3), 512),
}
"""The archive writes ``blosc-lz4-bitshuffle`` (default), ``blosc-zstd-3-bitshuffle``, ``gzip-4-shuffle`` and
``none`` in 512 × 512 tiles; the others are there to show why."""
FILTER_RESULTS: dict[str, dict[str, float]] = {}


def cargo_counts(rows: int, lines: int, *, seed: int = 0) -> dict[str, np.ndarray]:
    """Dual-energy raw detector counts of a loaded container, as a line scanner records them.

    Steel-equivalent path lengths (container walls, roof, floor, 40 pallets with smooth
    internal texture, a tractor) attenuate an open beam (Beer-Lambert, one effective
    attenuation coefficient per energy); each detector row has its own gain, counts carry
    Poisson noise plus a dark offset with read noise.
    """
    rng = np.random.default_rng(seed)
    steel_mm = np.zeros((rows, lines), np.float32)
    left, right, top, bottom = lines // 13, lines - lines // 13, rows // 8, rows - rows // 20
    steel_mm[top:bottom, left:right] += 4.0
    steel_mm[top : top + max(rows // 200, 1), left:right] += 60.0
    steel_mm[bottom - max(rows // 120, 1) : bottom, left:right] += 80.0
    for _ in range(40):
        x = int(rng.integers(left, right - lines // 80))
        y = int(rng.integers(top, bottom - rows // 30))
        height, width = int(rng.integers(rows // 40, bottom - y)), int(rng.integers(lines // 100, lines // 10))
        region = steel_mm[y : y + height, x : min(x + width, right)]
        v = np.linspace(0.0, 1.0, region.shape[0])[:, None]
        u = np.linspace(0.0, 1.0, region.shape[1])[None, :]
        region += rng.uniform(2.0, 60.0) * (1 + 0.2 * np.sin(v * rng.uniform(5, 40)) * np.cos(u * rng.uniform(5, 40)))
    steel_mm[rows - rows // 6 : bottom, lines // 50 : left - lines // 50] += 120.0
    gain = rng.normal(1.0, 0.02, (rows, 1)).astype(np.float32)
    counts = {}
    for channel, mu_per_mm, open_beam in (("high", 0.025, 52000.0), ("low", 0.032, 60000.0)):
        signal = rng.poisson(open_beam * gain * np.exp(-mu_per_mm * steel_mm)) + rng.normal(120.0, 3.0, (rows, lines))
        counts[channel] = np.clip(signal, 0, 65535).astype(np.uint16)
    return counts


def cargo_scan(rows: int, lines: int, *, seed: int = 0) -> Scan:
    view = View("side", cargo_counts(rows, lines, seed=seed), Geometry(5.0, 4.2))
    return Scan([view], acquired_at=datetime(2026, 3, 4, 10, 0, tzinfo=UTC))


@pytest.fixture(scope="module")
def size(request) -> tuple[int, int]:
    """A 40-ft container's scan when benchmarking for real, a thumbnail in the smoke run."""
    return (2048, 8192) if benchmarking(request.config) else (120, 400)


@pytest.fixture(scope="module")
def counts(size) -> dict[str, np.ndarray]:
    return cargo_counts(*size)


@pytest.fixture(scope="module")
def raw_pixels(counts, tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "pixels.u16"
    np.stack(list(counts.values())).tofile(path)
    return path


@pytest.fixture(scope="module", autouse=True)
def report(request):
    yield
    rows = [
        f"  {name:<28} {row['compression_ratio']:10.3f} {row['write_vs_none']:13.1f} {row['read_vs_fromfile']:16.2f}"
        for name, row in FILTER_RESULTS.items()
    ]
    write_table(request.config, "filter                         size ratio  write / none  read / fromfile", rows)


def write_filtered(path, counts, options, tile) -> None:
    with h5py.File(path, "w") as file:
        for name, array in counts.items():
            chunks = (min(array.shape[0], tile), min(array.shape[1], tile)) if tile else None
            file.create_dataset(name, data=array, chunks=chunks, **options)


def _write_seconds(path, counts, options, tile, rounds) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        write_filtered(path, counts, options, tile)
        best = min(best, time.perf_counter() - start)
    return best


@pytest.fixture(scope="module")
def rounds(request) -> int:
    return 5 if benchmarking(request.config) else 1


@pytest.mark.parametrize("name", CANDIDATES)
def test_filter(benchmark, counts, raw_pixels, tmp_path, rounds, name):
    benchmark.group = "archive-filter"
    options, tile = CANDIDATES[name]
    path = tmp_path / f"{name}.h5"
    # Uncompressed and candidate writes in turn, so that both see the same state of the disk.
    none_seconds = _write_seconds(tmp_path / "none.h5", counts, {}, 0, rounds)
    write_seconds = _write_seconds(path, counts, options, tile, rounds)

    def read() -> list[np.ndarray]:
        with h5py.File(path, "r") as file:
            return [read_whole(file[key], path=path) for key in counts]

    back = benchmark.pedantic(read, rounds=rounds, iterations=1)
    for got, array in zip(back, counts.values(), strict=True):
        np.testing.assert_array_equal(got, array)
    row = {
        "compression_ratio": sum(array.nbytes for array in counts.values()) / path.stat().st_size,
        "write_vs_none": write_seconds / none_seconds,
        "read_vs_fromfile": alternate(lambda: np.fromfile(raw_pixels, np.uint16), read, rounds),
    }
    FILTER_RESULTS[name] = row
    benchmark.extra_info.update({key: round(value, 3) for key, value in row.items()})


@pytest.mark.parametrize("layout", ["one-scan-archive", "last-of-many"])
def test_random_access(benchmark, tmp_path, request, layout):
    benchmark.group = "archive-random-access"
    count = 24 if benchmarking(request.config) else 4
    size = (1200, 4000) if benchmarking(request.config) else (120, 400)  # 24 scans of a 20-ft container
    target = cargo_scan(*size, seed=99)
    path = tmp_path / f"{layout}.niih5"
    if layout == "one-scan-archive":
        write_archive(path, [target])
    else:
        write_archive(path, (cargo_scan(*size, seed=seed) if seed < count - 1 else target for seed in range(count)))

    def read_last():
        with open_archive(path) as archive:
            return archive.read(len(archive) - 1)

    back = benchmark(read_last)
    assert back.scan_uid == target.scan_uid
    for view in target.views:  # the pixels themselves, not only the right scan
        for channel, pixels in view.channels.items():
            np.testing.assert_array_equal(np.asarray(back.view(view.name).channels[channel]), pixels)
    benchmark.extra_info["scans_in_archive"] = 1 if layout == "one-scan-archive" else count
    benchmark.extra_info["archive_bytes"] = path.stat().st_size

"""NII archive benchmarks: the choice of filter, read speed and random access.

Run for real with ``python -m pytest benchmarks/test_archive.py --benchmark-enable``; the
normal test run executes each once on small images as a smoke test. Every group has its
baseline measured in the same run:

* ``archive-filter-write`` / ``archive-filter-read``: candidate HDF5 filters on simulated
  dual-energy cargo counts, against uncompressed storage; the compression ratio of each is in
  ``extra_info`` (``--benchmark-json``).
* ``archive-read``: ``nii.read`` of an archive against ``numpy.fromfile`` of the same pixels.
* ``archive-random-access``: reading the last scan of a many-scan archive against reading the
  same scan from a one-scan archive.
"""

from __future__ import annotations

from datetime import UTC, datetime

import h5py
import hdf5plugin
import numpy as np
import pytest
from nii.formats.archive import open_archive, write_archive

import nii
from benchmarks import benchmarking
from nii.model import Geometry, Scan, View

CANDIDATE_FILTERS = {
    "none": {},
    "gzip-1-shuffle": {"compression": "gzip", "compression_opts": 1, "shuffle": True},
    "gzip-4-shuffle": {"compression": "gzip", "compression_opts": 4, "shuffle": True},
    "gzip-6-shuffle": {"compression": "gzip", "compression_opts": 6, "shuffle": True},
    "lzf": {"compression": "lzf"},
    "lzf-shuffle": {"compression": "lzf", "shuffle": True},
    "zstd-3": dict(hdf5plugin.Zstd(clevel=3)),
    "blosc-lz4-bitshuffle": dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
    "blosc-zstd-3-bitshuffle": dict(hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
    "blosc-zstd-5-bitshuffle": dict(hdf5plugin.Blosc(cname="zstd", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE)),
}


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
    """A 20-ft container at 5 mm when benchmarking for real, a thumbnail in the smoke run."""
    return (1200, 4000) if benchmarking(request.config) else (120, 400)


@pytest.fixture(scope="module")
def counts(size) -> dict[str, np.ndarray]:
    return cargo_counts(*size)


def write_filtered(path, counts, options) -> None:
    with h5py.File(path, "w") as file:
        for name, array in counts.items():
            if options:
                file.create_dataset(name, data=array, chunks=(min(array.shape[0], 256), 256), **options)
            else:
                file.create_dataset(name, data=array)


@pytest.mark.parametrize("name", CANDIDATE_FILTERS)
def test_filter_write(benchmark, counts, tmp_path, name):
    benchmark.group = "archive-filter-write"
    path = tmp_path / f"{name}.h5"
    benchmark(write_filtered, path, counts, CANDIDATE_FILTERS[name])
    raw = sum(array.nbytes for array in counts.values())
    benchmark.extra_info["compression_ratio"] = round(raw / path.stat().st_size, 3)


@pytest.mark.parametrize("name", CANDIDATE_FILTERS)
def test_filter_read(benchmark, counts, tmp_path, name):
    benchmark.group = "archive-filter-read"
    path = tmp_path / f"{name}.h5"
    write_filtered(path, counts, CANDIDATE_FILTERS[name])

    def read():
        with h5py.File(path, "r") as file:
            return {key: file[key][()] for key in counts}

    back = benchmark(read)
    for key, array in counts.items():
        np.testing.assert_array_equal(back[key], array)
    raw = sum(array.nbytes for array in counts.values())
    benchmark.extra_info["compression_ratio"] = round(raw / path.stat().st_size, 3)


@pytest.mark.parametrize("reader", ["numpy-fromfile", "archive-blosc-zstd", "archive-gzip", "archive-none"])
def test_read_against_fromfile(benchmark, size, tmp_path, reader):
    benchmark.group = "archive-read"
    scan = cargo_scan(*size)
    pixels = scan.views[0].channels
    if reader == "numpy-fromfile":
        files = []
        for name, array in pixels.items():
            files.append(tmp_path / f"{name}.raw")
            array.tofile(files[-1])
        back = benchmark(lambda: [np.fromfile(file, np.uint16) for file in files])
        assert sum(array.size for array in back) == sum(array.size for array in pixels.values())
        return
    path = tmp_path / "scan.niih5"
    write_archive(path, [scan], compression=reader.removeprefix("archive-"))
    back_scan = benchmark(nii.read, path)
    np.testing.assert_array_equal(back_scan.views[0].channels["high"], pixels["high"])


@pytest.mark.parametrize("layout", ["one-scan-archive", "last-of-many"])
def test_random_access(benchmark, size, tmp_path, request, layout):
    benchmark.group = "archive-random-access"
    count = 24 if benchmarking(request.config) else 4
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
    benchmark.extra_info["scans_in_archive"] = 1 if layout == "one-scan-archive" else count
    benchmark.extra_info["archive_bytes"] = path.stat().st_size

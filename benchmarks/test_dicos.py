"""DICOS writing speed against the reference toolkit's own DX writer, measured in the same run.

Case: one view with two energy channels of 2048 × 8192 uint16 (a cargo scan), written as a
DICOS folder. Baseline: pyDICOS 1.3.0 (the Stratovan SDK) building and writing one DX per
channel from the same arrays, in its own environment (``NII_PYDICOS_PYTHON``); its time is
measured inside that process with ``time.perf_counter`` around the build + ``Write`` calls
only (interpreter start-up and array loading excluded), best of the same number of rounds
as nii's. Both write to fresh folders on the same file system.

* uncompressed (Explicit VR Little Endian): nii must be at least 3× faster;
* lossless compression: nii's JPEG Lossless SV1 (``compression="jpeg-lossless"``, the same
  transfer syntax as the SDK's default) must be at least 2× faster than the SDK's default
  JPEG Lossless, with a compression ratio at least as good (raw pixel bytes over the bytes
  of the encapsulated Pixel Data, so the two writers' different metadata do not count).

Every round writes a new folder; the folders of rounds after the first are deleted at once,
so neither side is slowed by the other's dirty pages waiting for write-back. nii writes the
instances of a scan in parallel threads (2 cores here), the SDK one after the other.

Run for real with ``python -m pytest benchmarks --benchmark-enable``; with benchmarks
disabled (the default) the tests run once on a small scan as smoke tests of the same code, the
SDK's output checked against the scan's pixels as nii's is.
"""

from __future__ import annotations

import itertools
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pydicom
import pytest

import nii
from nii.model import Geometry, InspectedObject, Scan, Scanner, View
from tests.formats.dicos.tools import run_pydicos
from tests.helpers import assert_scans_equal

ROUNDS = 9
FULL = (2048, 8192)
SMOKE = (128, 512)


def cargo_image(rows: int, columns: int, *, seed: int) -> np.ndarray:
    """A container-like transmission image: walls, cargo rows, a dense block, Poisson noise."""
    rng = np.random.default_rng(seed)
    y = np.linspace(0, 1, rows, dtype=np.float32)[:, None]
    x = np.linspace(0, 1, columns, dtype=np.float32)[None, :]
    thickness = (
        0.5
        + 2.0 * ((x > 0.1) & (x < 0.9) & (y > 0.1) & (y < 0.9))
        + 1.5 * np.sin(40 * x) ** 2 * (y > 0.4)
        + 3.0 * ((x - 0.5) ** 2 + (y - 0.6) ** 2 < 0.01)
    )
    return rng.poisson(60000 * np.exp(-thickness)).clip(0, 65535).astype(np.uint16)


def cargo_scan(shape: tuple[int, int]) -> Scan:
    channels = {"high": cargo_image(*shape, seed=1), "low": cargo_image(*shape, seed=2)}
    return Scan(
        views=[View("side", channels, Geometry(5.0, 4.2))],
        acquired_at=datetime(2026, 3, 4, 10, 20, tzinfo=UTC),
        inspected_object=InspectedObject("CARGO", container_numbers=("CSQU3054383",)),
        scanner=Scanner(manufacturer="bench", energies_kv={"high": 6000, "low": 4000}, speed_mm_s=840.0),
    )


def _pixel_data_bytes(folder: Path) -> int:
    return sum(len(pydicom.dcmread(path).PixelData) for path in folder.iterdir())


def _measure(benchmark, scan: Scan, tmp_path: Path, compression: str) -> tuple[float | None, Path]:
    counter = itertools.count()

    def target_path() -> tuple[tuple[Scan, Path], dict]:
        number = next(counter)
        if number > 1:
            shutil.rmtree(tmp_path / f"nii-{compression}-{number - 1}")
        return (scan, tmp_path / f"nii-{compression}-{number}"), {}

    def write(scan: Scan, path: Path) -> None:
        nii.write(scan, path, format="dicos", compression=compression)

    if benchmark.disabled:
        benchmark(write, *target_path()[0])
        return None, tmp_path / f"nii-{compression}-0"
    benchmark.pedantic(write, setup=target_path, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    return benchmark.stats.stats.min, tmp_path / f"nii-{compression}-0"


def _pydicos(tmp_path: Path, scan: Scan, transfer: str, rounds: int) -> dict:
    images = tmp_path / "images.npy"
    np.save(images, np.stack(list(scan.view("side").channels.values())))
    out = tmp_path / f"pydicos-{transfer}"
    out.mkdir()
    return run_pydicos("bench-dx", out, images, rounds, transfer)


def assert_same_pixels(scan: Scan, reference_folder: Path) -> None:
    """The SDK's DX images hold the scan's channels exactly (the same work as nii's, which
    :func:`assert_scans_equal` checks), in the order they were handed over."""
    for index, pixels in enumerate(scan.view("side").channels.values()):
        np.testing.assert_array_equal(pydicom.dcmread(reference_folder / f"dx-{index}.dcs").pixel_array, pixels)


@pytest.mark.parametrize(
    ("compression", "baseline", "speedup"), [("none", "explicit", 3.0), ("jpeg-lossless", "default", 2.0)]
)
def test_dicos_write_speed_against_pydicos(benchmark, tmp_path, compression, baseline, speedup):
    scan = cargo_scan(SMOKE if benchmark.disabled else FULL)
    # The baseline runs first, so its files are written back while nii is measured, not the reverse;
    # once in smoke mode, to check that both write the same pixels.
    reference = _pydicos(tmp_path, scan, baseline, 1 if benchmark.disabled else ROUNDS)
    seconds, folder = _measure(benchmark, scan, tmp_path, compression)
    assert_scans_equal(nii.read(folder), scan)
    assert_same_pixels(scan, Path(reference["folder"]))
    if seconds is None:
        return
    raw = sum(array.nbytes for array in scan.view("side").channels.values())
    ours_ratio = raw / _pixel_data_bytes(folder)
    reference_ratio = raw / _pixel_data_bytes(Path(reference["folder"]))
    faster = reference["seconds"] / seconds
    benchmark.extra_info.update(
        {
            "pydicos_seconds": reference["seconds"],
            "speedup_vs_pydicos": faster,
            "compression_ratio": ours_ratio,
            "pydicos_compression_ratio": reference_ratio,
        }
    )
    print(
        f"\n{compression}: nii {seconds * 1000:.1f} ms, pyDICOS {reference['seconds'] * 1000:.1f} ms "
        f"-> {faster:.2f}x faster; compression ratio nii {ours_ratio:.6f}, pyDICOS {reference_ratio:.6f}"
    )
    assert faster >= speedup
    assert ours_ratio >= reference_ratio

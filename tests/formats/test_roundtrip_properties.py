"""Property-based round trips (hypothesis) for every writable scan format: for any size and any
pixel values the format can hold (all zero, all full scale, noise, ramps), what is read back has
the pixels written, bit for bit, and writing what was read gives the same scan again."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nii
from nii.model import Scan
from tests.conftest import make_scan
from tests.formats.vendor_scans import counts_scan, portal_scan
from tests.helpers import assert_scans_equal


def _pixels(rows: int, lines: int, pattern: str, seed: int, top: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if pattern == "zeros":
        return np.zeros((rows, lines), np.uint16)
    if pattern == "full":
        return np.full((rows, lines), top, np.uint16)
    if pattern == "ramp":
        return (np.arange(rows * lines) % (top + 1)).astype(np.uint16).reshape(rows, lines)
    return rng.integers(0, top, (rows, lines), endpoint=True, dtype=np.uint16)


def _with_pixels(scan: Scan, pattern: str, seed: int, top: int = 65535) -> Scan:
    views = []
    for number, view in enumerate(scan.views):
        channels = {
            name: _pixels(*array.shape, pattern, seed + number * 7 + index, top)
            for index, (name, array) in enumerate(view.channels.items())
        }
        views.append(replace(view, channels=channels))
    return replace(scan, views=views)


FORMATS: dict[str, tuple[str, Callable[[int, int], Scan], int]] = {
    "npz": ("scan.npz", make_scan, 65535),
    "nii-archive": ("scans.niih5", make_scan, 65535),
    "ref-rawxml": ("scan.rxr", counts_scan, 65535),
    "ref-tiff": ("scan.tif", make_scan, 65535),
    "ref-hdf5": ("scan.rh5", make_scan, 65535),
    "ref-packed12": ("scan.p12", portal_scan, 4095),
    "dicos": ("scan.dicos", make_scan, 65535),
}
"""Format → (file name, a scan it can store of a given size, largest pixel value it stores)."""

sizes = st.tuples(st.integers(16, 72), st.integers(32, 120))
patterns = st.sampled_from(["zeros", "full", "ramp", "noise"])


@pytest.mark.parametrize("name", sorted(FORMATS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(size=sizes, pattern=patterns, seed=st.integers(0, 2**16))
def test_what_is_written_reads_back_exactly(name, size, pattern, seed):
    file_name, make, top = FORMATS[name]
    scan = _with_pixels(make(*size), pattern, seed, top)
    with TemporaryDirectory() as folder:
        path = Path(folder) / file_name
        nii.write(scan, path, format=name)
        back = nii.read(path)
        assert [view.name for view in back.views] == [view.name for view in scan.views]
        for view_back, view in zip(back.views, scan.views, strict=True):
            assert set(view_back.channels) == set(view.channels)
            for channel, array in view.channels.items():
                np.testing.assert_array_equal(view_back.channels[channel], array)
        again = Path(folder) / f"again-{file_name}"
        nii.write(back, again, format=name)
        assert_scans_equal(nii.read(again), back, ignore=("provenance", "scan_uid", "frame_of_reference_uid"))

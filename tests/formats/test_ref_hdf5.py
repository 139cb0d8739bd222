import os
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pytest

import nii
from nii.errors import ConfigurationError, CorruptFileError, UnknownFormatError
from nii.formats.ref_hdf5 import USER_BLOCK
from nii.lazy import LazyArray
from tests.conftest import make_scan
from tests.formats.vendor_scans import assert_refused_before_allocating
from tests.helpers import assert_scans_equal


def bytes_read() -> int:
    """Bytes this process has read through system calls (Linux)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture
def written(tmp_path):
    scan = make_scan()
    path = tmp_path / "cargo.rh5"
    nii.write(scan, path)
    return scan, path


@pytest.mark.parametrize("compression", ["blosc-lz4", "gzip"])
def test_round_trip_is_lossless_but_for_the_processing_history(tmp_path, compression):
    scan = make_scan()
    path = tmp_path / "cargo.rh5"
    nii.write(scan, path, compression=compression)
    back = nii.read(path)
    assert_scans_equal(back, scan, ignore=("provenance", "frame_of_reference_uid"))
    assert back.operator == scan.operator and back.provenance.source_format == "ref-hdf5"
    assert back.provenance.steps == ()


def test_groups_attributes_chunks_and_compression(written):
    _, path = written
    assert path.read_bytes()[:8] == b"NIIREFH5"
    with h5py.File(path, "r") as file:
        assert file.userblock_size == USER_BLOCK
        assert file.attrs["format"] == "nii-ref-hdf5"
        high = file["views/side/channels/high"]
        assert high.chunks == (48, 80)
        assert high.id.get_create_plist().get_filter(0)[0] == 32001  # Blosc
        assert high.attrs["energy_kv"] == 6000.0
        assert file["views/top"].attrs["detector_spacing_mm"] == 5.0
        assert list(file["views"]) == ["side", "top"]
        assert file["scanner"].attrs["model"] == "sim-6/4"


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io to count bytes read")
def test_a_cargo_scan_opens_without_reading_its_pixels(tmp_path):
    rows, lines = 512, 4096
    rng = np.random.default_rng(0)
    smooth = np.linspace(1000, 60000, rows * lines).reshape(rows, lines)
    channels = {name: (smooth + rng.normal(0, 200, (rows, lines))).astype(np.uint16) for name in ("high", "low")}
    scan = replace(make_scan(), views=[nii.View("side", channels, nii.Geometry(5.0, 4.0))], threats=[])
    path = tmp_path / "big.rh5"
    nii.write(scan, path)
    size = path.stat().st_size
    assert size > 4 * 2**20

    before = bytes_read()
    back = nii.read(path)
    opened = bytes_read() - before
    high = back.view("side").channels["high"]
    assert isinstance(high, LazyArray) and high.shape == (rows, lines) and high.dtype == np.uint16
    assert opened < size // 50, f"opening read {opened} of {size} bytes"

    before = bytes_read()
    tile = high[:256, 1024:1280]  # one chunk of full-height lines holds it
    tile_read = bytes_read() - before
    np.testing.assert_array_equal(tile, channels["high"][:256, 1024:1280])
    assert tile_read < size // 10, f"one tile read {tile_read} of {size} bytes"

    # A whole channel is decoded from a memory map of the file (formats/_hdf5.py), which
    # read() system calls, and so rchar, do not see.
    np.testing.assert_array_equal(np.asarray(high), channels["high"])


def test_lazy_channels_work_with_numpy_and_writers(written, tmp_path):
    scan, path = written
    back = nii.read(path)
    assert int(np.max(back.view("top").channels["low"])) == int(scan.view("top").channels["low"].max())
    copy = tmp_path / "copy.npz"
    nii.write(back, copy)
    assert_scans_equal(nii.read(copy), scan, ignore=("provenance", "frame_of_reference_uid"))


def test_lazy_channels_export_as_pictures(written, tmp_path):
    _, path = written
    back = nii.read(path)
    picture = tmp_path / "side.png"
    nii.write(back, picture, view="side", channel="high")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_writer_refuses_unknown_compression(written, tmp_path):
    scan, _ = written
    with pytest.raises(ConfigurationError, match="ref-hdf5 writer option 'compression' must be one of blosc-lz4, gzip"):
        nii.write(scan, tmp_path / "x.rh5", compression="zip")
    assert not (tmp_path / "x.rh5").exists()


def test_a_plain_hdf5_file_is_not_taken_for_ref_hdf5(tmp_path):
    path = tmp_path / "other.h5"
    with h5py.File(path, "w") as file:
        file["x"] = np.zeros(3)
    with pytest.raises(UnknownFormatError, match="other.h5"):
        nii.read(path)


# --- bad input ---------------------------------------------------------------------------


def test_truncated(written):
    # HDF5 stores each dimension with its data: a file shorter than its dimensions is truncated.
    _, path = written
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    with pytest.raises(CorruptFileError, match="cargo.rh5: HDF5 does not open"):
        nii.read(path)


def test_zero_size(written):
    _, path = written
    with h5py.File(path, "r+") as file:
        del file["views/top/channels/low"]
        file["views/top/channels"].create_dataset("low", shape=(0, 80), dtype=np.uint16)
    with pytest.raises(CorruptFileError, match=r"cargo.rh5: invalid dimensions \(0, 80\)"):
        nii.read(path)


def test_absurd_size_is_refused_before_allocation(written):
    _, path = written
    with h5py.File(path, "r+") as file:
        del file["views/side/channels/high"]
        # A chunked dataset with nothing written takes no room in the file.
        file["views/side/channels"].create_dataset("high", shape=(900_000, 900_000), dtype=np.uint16, chunks=(64, 64))
    assert path.stat().st_size < 2**20
    assert_refused_before_allocating(path)


def test_wrong_magic(written):
    _, path = written
    path.write_bytes(b"NIIREFH6" + path.read_bytes()[8:])
    with pytest.raises(UnknownFormatError, match="cargo.rh5"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="cargo.rh5: not a ref-hdf5 file"):
        nii.read(path, format="ref-hdf5")


def test_inconsistent_channel_count(written):
    _, path = written
    with h5py.File(path, "r+") as file:
        file["views/side"].attrs["channel_names"] = ["high", "low", "zeff"]
    with pytest.raises(CorruptFileError, match="inconsistent channel count"):
        nii.read(path)


def test_damaged_chunk_is_reported_when_the_pixels_are_read(tmp_path):
    # Smooth pixels compress (noise-like ones are stored raw, which no damage can detect).
    ramp = np.tile(np.arange(80, dtype=np.uint16), (48, 1))
    scan = replace(make_scan(), views=[nii.View("side", {"high": ramp}, nii.Geometry(5.0, 4.0))], threats=[])
    path = tmp_path / "cargo.rh5"
    nii.write(scan, path)
    with h5py.File(path, "r") as file:
        chunk = file["views/side/channels/high"].id.get_chunk_info(0)
    assert chunk.filter_mask == 0 and chunk.size < ramp.nbytes  # compressed
    data = bytearray(path.read_bytes())
    data[chunk.byte_offset : chunk.byte_offset + 16] = bytes(16)
    path.write_bytes(bytes(data))
    back = nii.read(path)  # lazy: the metadata is intact
    message = r"cargo.rh5: /views/side/channels/high: the chunk at \(0, 0\) does not decode"
    with pytest.raises(CorruptFileError, match=message):
        np.asarray(back.view("side").channels["high"])

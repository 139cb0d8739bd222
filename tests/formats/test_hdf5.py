"""Whole-dataset reads outside HDF5 (formats/_hdf5.py) against h5py's own reading of the same files."""

import os

import h5py
import hdf5plugin
import numpy as np
import pytest

from nii.errors import CorruptFileError, TruncatedFileError
from nii.formats._hdf5 import ChunkedChannel, read_whole
from nii.threads import set_thread_count

BLOSC = {
    "lz4-shuffle": hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE),
    "lz4-bitshuffle": hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.BITSHUFFLE),
    "zstd-bitshuffle": hdf5plugin.Blosc(cname="zstd", clevel=3, shuffle=hdf5plugin.Blosc.BITSHUFFLE),
    "blosclz-noshuffle": hdf5plugin.Blosc(cname="blosclz", clevel=9, shuffle=hdf5plugin.Blosc.NOSHUFFLE),
}


@pytest.fixture(params=[1, 2], ids=["1-thread", "2-threads"])
def threads(request):
    set_thread_count(request.param)
    yield request.param
    set_thread_count(None)


def counts(shape, dtype=np.uint16, seed=0):
    """Detector-like values: a smooth field plus noise (compresses, but not to nothing)."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).sum(axis=0).astype(np.float64)
    values = 3000 + 2000 * np.sin(grid / 37.0) + rng.normal(0, 40, shape)
    return values.astype(dtype)


def write(path, data, **options):
    with h5py.File(path, "w", userblock_size=options.pop("userblock_size", 0)) as file:
        file.create_dataset("x", data=data, **options)


def read_both(path):
    with h5py.File(path, "r") as file:
        return read_whole(file["x"], path=path), file["x"][()]


@pytest.mark.parametrize("filter_name", list(BLOSC))
@pytest.mark.parametrize(
    ("shape", "chunks"),
    [((300, 700), (128, 256)), ((512, 512), (512, 512)), ((1000,), (64,)), ((3, 70, 90), (1, 32, 32))],
    ids=["2d-edge-chunks", "2d-one-chunk", "1d", "3d"],
)
def test_blosc_datasets_read_as_h5py_reads_them(tmp_path, threads, filter_name, shape, chunks):
    data = counts(shape)
    path = tmp_path / "a.h5"
    write(path, data, chunks=chunks, userblock_size=512, **BLOSC[filter_name])
    fast, reference = read_both(path)
    np.testing.assert_array_equal(fast, reference)
    np.testing.assert_array_equal(fast, data)
    assert fast.dtype == data.dtype and fast.flags.c_contiguous


@pytest.mark.parametrize("dtype", [">u2", "<i2", "<f4", ">f8", "u1"])
def test_element_types_and_byte_orders(tmp_path, threads, dtype):
    data = counts((130, 260), dtype=np.dtype(dtype))
    path = tmp_path / "a.h5"
    write(path, data, chunks=(64, 64), **BLOSC["lz4-bitshuffle"])
    fast, reference = read_both(path)
    assert fast.dtype == reference.dtype
    np.testing.assert_array_equal(fast, data)


def test_incompressible_chunks_stored_unfiltered_are_copied(tmp_path, threads):
    # Random bytes do not shrink: the HDF5 Blosc filter gives up and marks such chunks as
    # stored without it (filter mask bit 0); smooth chunks of the same dataset are compressed.
    rng = np.random.default_rng(1)
    data = rng.integers(0, 65535, (256, 512), dtype=np.uint16)
    data[:, 256:] = counts((256, 256))[:, :]  # compressible right half
    path = tmp_path / "a.h5"
    write(path, data, chunks=(256, 256), **BLOSC["lz4-shuffle"])
    with h5py.File(path, "r") as file:
        masks = [file["x"].id.get_chunk_info(i).filter_mask for i in range(2)]
    assert masks == [1, 0]
    fast, _ = read_both(path)
    np.testing.assert_array_equal(fast, data)


@pytest.mark.parametrize(
    "options",
    [{}, {"chunks": (64, 64)}, {"chunks": (64, 64), "compression": "gzip", "shuffle": True}],
    ids=["contiguous", "chunked-unfiltered", "gzip"],
)
def test_other_layouts(tmp_path, threads, options):
    data = counts((200, 300))
    path = tmp_path / "a.h5"
    write(path, data, **options)
    fast, _ = read_both(path)
    np.testing.assert_array_equal(fast, data)


def test_missing_chunks_read_as_the_fill_value(tmp_path, threads):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w") as file:
        dataset = file.create_dataset(
            "x", shape=(128, 128), dtype=np.uint16, chunks=(64, 64), fillvalue=7, **BLOSC["lz4-shuffle"]
        )
        dataset[:64, :64] = 1  # one chunk of four written
    fast, reference = read_both(path)
    np.testing.assert_array_equal(fast, reference)
    assert fast[0, 0] == 1 and fast[127, 127] == 7


def test_a_chunk_beyond_the_end_of_the_file_is_a_truncation(tmp_path):
    data = counts((256, 256))
    path = tmp_path / "cut.h5"
    write(path, data, chunks=(64, 64), **BLOSC["lz4-shuffle"])
    with h5py.File(path, "r") as file:
        dataset = file["x"]
        last = max(dataset.id.get_chunk_info(i).byte_offset for i in range(dataset.id.get_num_chunks()))
        os.truncate(path, last + 3)  # HDF5 checked the size when opening; the chunks are read later
        with pytest.raises(TruncatedFileError, match=r"cut.h5: /x: the chunk at \(\d+, \d+\) ends at byte"):
            read_whole(dataset, path=path)


def test_a_contiguous_dataset_cut_short_is_a_truncation(tmp_path):
    path = tmp_path / "cut.h5"
    write(path, counts((256, 256)))
    with h5py.File(path, "r") as file:
        dataset = file["x"]
        os.truncate(path, dataset.id.get_offset() + 1000)
        with pytest.raises(TruncatedFileError, match="cut.h5: /x: 131072 bytes from byte"):
            read_whole(dataset, path=path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda chunk: bytes(16) + chunk[16:], "announces 0 bytes from 0"),
        (lambda chunk: chunk[:4] + (10**6).to_bytes(4, "little") + chunk[8:], "announces 1000000 bytes"),
        (lambda chunk: chunk[:16] + bytes(len(chunk) - 16), "does not decode"),
    ],
    ids=["zeroed-header", "lying-size", "zeroed-payload"],
)
def test_damaged_chunks_are_corrupt_files(tmp_path, threads, damage, message):
    ramp = np.tile(np.arange(256, dtype=np.uint16), (64, 2))
    path = tmp_path / "bad.h5"
    write(path, ramp, chunks=(64, 256), **BLOSC["lz4-shuffle"])
    with h5py.File(path, "r") as file:
        info = file["x"].id.get_chunk_info(1)
    data = bytearray(path.read_bytes())
    chunk = bytes(data[info.byte_offset : info.byte_offset + info.size])
    data[info.byte_offset : info.byte_offset + info.size] = damage(chunk)
    path.write_bytes(bytes(data))
    with (
        h5py.File(path, "r") as file,
        pytest.raises(CorruptFileError, match=f"bad.h5: /x: the chunk at \\(0, 256\\) .*{message}"),
    ):
        read_whole(file["x"], path=path)


def test_chunked_channel_reads_whole_or_sliced(tmp_path):
    data = counts((300, 700))
    path = tmp_path / "a.h5"
    write(path, data, chunks=(128, 256), **BLOSC["lz4-shuffle"])
    with h5py.File(path, "r") as file:
        channel = ChunkedChannel(file["x"], path=path)
        assert channel.shape == (300, 700) and channel.dtype == np.uint16
        np.testing.assert_array_equal(channel[()], data)
        np.testing.assert_array_equal(channel[...], data)
        np.testing.assert_array_equal(channel[10:20, 650:], data[10:20, 650:])


@pytest.mark.parametrize("options", [{"chunks": (64, 64), **BLOSC["lz4-shuffle"]}, {}], ids=["blosc", "contiguous"])
def test_reads_the_file_h5py_opened_even_after_its_path_was_replaced(tmp_path, options):
    data = counts((200, 300))
    path = tmp_path / "a.h5"
    write(path, data, **options)
    with h5py.File(path, "r") as file:
        write(tmp_path / "new.h5", counts((200, 300), seed=9), chunks=(100, 100), **BLOSC["zstd-bitshuffle"])
        os.replace(tmp_path / "new.h5", path)  # as an archive append does
        np.testing.assert_array_equal(read_whole(file["x"], path=path), data)

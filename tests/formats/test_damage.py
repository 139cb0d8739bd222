"""Damage that readers once hung on or accepted silently: each is now a clear ``nii.errors`` naming the file."""

import io
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tifffile

import nii
from nii.errors import ConfigurationError, CorruptFileError, FileAccessError, TruncatedFileError
from nii.registry import Format, find_format, get_format
from tests.conftest import make_scan
from tests.formats.fuzzing import make_special
from tests.formats.vendor_scans import counts_scan


@pytest.mark.parametrize("name", ["scan.npz", "scan.tif", "scan.dcs", "scan.rxr", "scan.niih5"])
def test_a_fifo_is_refused_before_it_is_opened(tmp_path, name):
    fifo = tmp_path / name
    os.mkfifo(fifo)  # opening it would block until a writer comes: the reader must not open it
    with pytest.raises(FileAccessError, match=f"{name}: not a regular file"):
        nii.read(fifo)
    with pytest.raises(FileAccessError, match=f"{name}: not a regular file"):
        nii.read(fifo, format="npz")


def _tiff(tmp_path):
    path = tmp_path / "bag.tif"
    nii.write(make_scan(), path)
    with tifffile.TiffFile(path) as tif:
        return path, [page.offset for page in tif.pages], tif.byteorder, tif.pages[0].tags["StripOffsets"].valueoffset


def test_a_tiff_whose_last_page_points_back_to_the_first_is_refused(tmp_path):
    path, offsets, order, _ = _tiff(tmp_path)
    data = bytearray(path.read_bytes())
    entries = struct.unpack(order + "H", data[offsets[-1] : offsets[-1] + 2])[0]
    link = offsets[-1] + 2 + 12 * entries
    data[link : link + 4] = struct.pack(order + "I", offsets[0])
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match=f"bag.tif: the TIFF's chain of IFDs loops back to byte {offsets[0]}"):
        nii.read(path)


def test_tiff_pixels_at_offset_0_are_refused(tmp_path):
    path, _, _, strip_offsets = _tiff(tmp_path)
    data = bytearray(path.read_bytes())
    data[strip_offsets : strip_offsets + 4] = bytes(4)  # one strip per page: the offset is in the tag
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="bag.tif: page 0 data starts at byte 0, inside the header"):
        nii.read(path)


@pytest.mark.parametrize("content", [b"", bytes(100), bytes(128) + b"DICM" + bytes(40)])
def test_a_dicos_folder_with_a_damaged_member_fails(tmp_path, content):
    folder = tmp_path / "scan.dicos"
    nii.write(make_scan(), folder)
    (folder / "dx-side-low.dcs").write_bytes(content)
    with pytest.raises(CorruptFileError, match=r"dx-side-low.dcs: not a DICOS file \(no Part 10 header"):
        nii.read(folder)
    with pytest.raises(CorruptFileError, match="dx-side-low.dcs: not a DICOS file"):
        nii.read(folder / "dx-side-high.dcs")


@pytest.mark.parametrize("kind", ["fifo", "symlink-loop"])
def test_a_dicos_folder_whose_member_is_not_a_regular_file_fails_without_opening_it(tmp_path, kind):
    # Found by the final campaign: such a member was left out and the scan read with a channel missing.
    folder = tmp_path / "scan.dicos"
    nii.write(make_scan(), folder)
    member = folder / "dx-side-high.dcs"
    make_special(kind, member)
    with pytest.raises(FileAccessError, match="dx-side-high.dcs: not a regular file"):
        nii.read(folder)


def test_a_profile_that_is_a_fifo_is_refused_before_it_is_opened(tmp_path):
    # Found by the final campaign: reading the profile waited for a writer forever.
    data, profile = tmp_path / "export.raw", tmp_path / "profile.toml"
    data.write_bytes(bytes(64))
    os.mkfifo(profile)
    with pytest.raises(ConfigurationError, match="profile.toml: profile is not a regular file"):
        nii.read(data, format="profile", profile=profile)


def test_a_rawxml_line_count_that_shifts_the_pixels_is_refused(tmp_path):
    path = tmp_path / "scan.rxr"
    nii.write(counts_scan(), path)
    data = path.read_bytes()
    # One more dark line in the first view: its pixels would start a line later, the second view's too.
    path.write_bytes(
        data.replace(b'dark-lines="1" air-lines="4" offset="1536"', b'dark-lines="2" air-lines="4" offset="1536"')
    )
    with pytest.raises(CorruptFileError, match="scan.rxr: view 'top' starts at byte .* the header's line counts"):
        nii.read(path)


def test_an_npz_array_of_raw_bytes_is_refused(tmp_path):
    source, damaged = tmp_path / "scan.npz", tmp_path / "v2.npz"
    nii.write(make_scan(), source)
    with zipfile.ZipFile(source) as original, zipfile.ZipFile(damaged, "w") as copy:
        for name in original.namelist():
            data = original.read(name)
            if name == "views/side/channels/high.npy":
                buffer = io.BytesIO()
                np.save(buffer, np.load(io.BytesIO(data)).view("V2"))
                data = buffer.getvalue()
            copy.writestr(name, data)
    with pytest.raises(CorruptFileError, match=r"v2.npz: entry views/side/channels/high.npy: arrays of \|V2"):
        nii.read(damaged)


class _FragileSniffer(Format):
    name = "test-fragile-sniffer"
    extensions = (".frag",)

    def can_read(self, head: bytes, path):  # type: ignore[no-untyped-def]
        raise ValueError("empty attribute")  # as h5py does on a damaged HDF5 attribute

    def read(self, path, **options):  # type: ignore[no-untyped-def]
        raise AssertionError("never reached")


def test_a_sniffer_that_fails_on_damaged_content_gives_a_corrupt_file_error(tmp_path):
    path = tmp_path / "scan.frag"
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(CorruptFileError, match="scan.frag: damaged: format detection failed .*empty attribute"):
        find_format(path, candidates=[_FragileSniffer()])


def test_a_library_panic_in_a_reader_becomes_a_corrupt_file_error(tmp_path):
    """An RLE DICOS of the corpus whose decoder panics (pyo3_runtime.PanicException, a BaseException)."""
    folder = sorted((Path(__file__).parent / "fuzz_corpus" / "dicos-rle").glob("text-*.dicos"))[0]
    copy = tmp_path / folder.name
    shutil.copytree(folder, copy)
    with pytest.raises(CorruptFileError, match=f"{folder.name}: damaged dicos file \\(PanicException"):
        nii.read(copy)
    with pytest.raises(CorruptFileError, match="PanicException"):  # also when the reader is called directly
        get_format("dicos").read(copy, scan_uid=None)


def test_an_hdf5_heap_that_hdf5_would_loop_on_forever_is_refused(tmp_path):
    name = "scan.rh5"  # its text attributes live in a global heap
    path = tmp_path / name
    nii.write(make_scan(), path)
    data = bytearray(path.read_bytes())
    heap = data.find(b"GCOL\x01\x00\x00\x00")
    data[heap + 16 : heap + 32] = bytes(16)  # the first text object: index 0 (free space) of size 0
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match=f"{name}: global heap at byte {heap}: object 0 .* has size 0"):
        nii.read(path)


def test_a_symlink_loop_is_a_file_access_error(tmp_path):
    (tmp_path / "a.npz").symlink_to(tmp_path / "b.npz")
    (tmp_path / "b.npz").symlink_to(tmp_path / "a.npz")
    with pytest.raises(FileAccessError, match="a.npz: cannot open: Too many levels of symbolic links"):
        nii.read(tmp_path / "a.npz")


def test_a_profile_header_size_of_2_to_the_63_is_a_truncation_not_an_overflow(tmp_path):
    # Found by the final campaign: the header was read before its size was compared with the file's.
    profile = tmp_path / "profile.toml"
    text = (Path(__file__).parents[2] / "docs/formats/example-profile.toml").read_text()
    profile.write_text(text.replace("size = 64", f"size = {2**63}"))
    data = tmp_path / "export.bin"
    data.write_bytes(b"NIIX" + bytes(60))
    with pytest.raises(TruncatedFileError, match=f"the profile's header alone is {2**63}"):
        nii.read(data, format="profile", profile=profile)

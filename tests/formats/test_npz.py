import zipfile

import numpy as np
import pytest

import nii
from nii.errors import CorruptFileError, LimitExceededError
from nii.limits import Limits, set_limits
from tests.helpers import assert_scans_equal


def test_round_trip_is_bit_exact_and_memory_mapped(scan, tmp_path):
    path = tmp_path / "scan.npz"
    assert nii.write(scan, path) == [path]
    back = nii.read(path)
    assert_scans_equal(back, scan)
    assert back.provenance.source_format == "npz"
    assert isinstance(back.views[0].channels["high"], np.memmap)


def test_content_is_sniffed_not_the_extension(scan, tmp_path):
    path = tmp_path / "scan.bin"
    nii.write(scan, path, format="npz")
    assert nii.read(path).scan_uid == scan.scan_uid


def test_failed_write_leaves_nothing(scan, tmp_path):
    path = tmp_path / "scan.npz"
    scan.views[0].channels["high"] = np.zeros((48, 80), dtype=object)  # cannot be written without pickle
    with pytest.raises(ValueError):
        nii.write(scan, path)
    assert list(tmp_path.iterdir()) == []


def test_lying_header_and_absurd_size(scan, tmp_path):
    path = tmp_path / "scan.npz"
    nii.write(scan, path)
    data = bytearray(path.read_bytes())
    # Announce a larger shape in the first array header than the entry holds.
    at = data.index(b"'shape': (48, 80)")
    data[at : at + 17] = b"'shape': (98, 80)"
    lying = tmp_path / "lying.npz"
    lying.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="lying.npz.*header announces"):
        nii.read(lying)
    previous = set_limits(Limits(max_pixels=1000))
    try:
        with pytest.raises(LimitExceededError, match="over the limit"):
            nii.read(path)
    finally:
        set_limits(previous)


def test_truncated_archive(scan, tmp_path):
    path = tmp_path / "scan.npz"
    nii.write(scan, path)
    cut = tmp_path / "cut.npz"
    cut.write_bytes(path.read_bytes()[:5000])
    with pytest.raises(CorruptFileError, match="cut.npz"):
        nii.read(cut)


def test_same_scan_same_bytes(scan, tmp_path):
    # Entries carry a fixed time stamp, so writing later gives the same file.
    nii.write(scan, tmp_path / "a.npz")
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert {info.compress_type for info in archive.infolist()} == {zipfile.ZIP_STORED}
    nii.write(scan, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()


def test_an_entry_announcing_more_than_the_file_holds(scan, tmp_path):
    """The ZIP directory and the array header agree on a size the file does not have."""
    path = tmp_path / "scan.npz"
    nii.write(scan, path)
    bad = tmp_path / "short.npz"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(bad, "w") as target:
        names = source.namelist()
        victim = next(name for name in names if name.endswith("/channels/high.npy"))
        for name in names:
            data = source.read(name)
            if name == victim:
                data = data.replace(b"'shape': (48, 80)", b"'shape': (4800, 8)", 1)  # same header length
            target.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    data = bytearray(bad.read_bytes())
    entry = data.index(b"PK\x01\x02")  # the central directory records, one per entry
    while data[entry + 46 : entry + 46 + len(victim)] != victim.encode():
        entry = data.index(b"PK\x01\x02", entry + 4)
    header = 128  # .npy header of a version 1.0 array written by numpy
    announced = header + 4800 * 8 * 2
    data[entry + 20 : entry + 28] = announced.to_bytes(4, "little") * 2  # compressed and uncompressed size
    bad.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"short.npz: entry .*high.npy: data runs past the end of the file"):
        nii.read(bad)


@pytest.mark.parametrize("mmap", [True, False])
def test_an_entry_whose_local_header_names_another_file(scan, tmp_path, mmap):
    """Mapped entries are read from the map, not through zipfile: their local header is checked as zipfile checks it."""
    path = tmp_path / "scan.npz"
    nii.write(scan, path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        victim = next(info for info in archive.infolist() if info.filename.endswith("/channels/high.npy"))
    name_at = victim.header_offset + 30
    assert data[name_at : name_at + len(victim.filename)] == victim.filename.encode()
    data[name_at + len(victim.filename) - 5] = ord("X")  # high.npy -> higX.npy, in the local header only
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match=r"scan.npz: .*high.npy"):
        nii.read(path, mmap=mmap)

import io
import os

import pytest

import nii.io
from nii.errors import FileAccessError, TruncatedFileError
from nii.io import atomic_output, read_exactly, start_writeback, write_parts


@pytest.fixture
def fsynced(monkeypatch):
    """The paths os.fsync was called on (files and folders), in order."""
    calls = []
    real = os.fsync

    def record(descriptor):
        calls.append(os.readlink(f"/proc/self/fd/{descriptor}"))
        real(descriptor)

    monkeypatch.setattr(nii.io.os, "fsync", record)
    return calls


def test_a_file_appears_only_when_complete(tmp_path):
    target = tmp_path / "out.bin"
    with pytest.raises(RuntimeError), atomic_output(target) as temporary:
        temporary.write_bytes(b"half")
        assert not target.exists()
        raise RuntimeError("writer failed")
    assert list(tmp_path.iterdir()) == []
    with atomic_output(target) as temporary:
        temporary.write_bytes(b"whole")
    assert target.read_bytes() == b"whole" and [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_folder_replaces_the_old_one_whole(tmp_path):
    target = tmp_path / "scan.dicos"
    target.mkdir()
    (target / "old.dcs").write_bytes(b"old")
    with atomic_output(target) as temporary:
        temporary.mkdir()
        (temporary / "new.dcs").write_bytes(b"new")
    assert [p.name for p in target.iterdir()] == ["new.dcs"]
    assert [p.name for p in tmp_path.iterdir()] == ["scan.dicos"]


def test_fsync_flushes_every_file_then_the_folder_then_the_rename(tmp_path, fsynced):
    target = tmp_path / "scan.dicos"
    with atomic_output(target, fsync=True) as temporary:
        temporary.mkdir()
        for name in ("a.dcs", "b.dcs"):
            (temporary / name).write_bytes(name.encode())
    partial = fsynced[2]
    assert [os.path.basename(p) for p in fsynced[:2]] == ["a.dcs", "b.dcs"]
    assert partial.endswith(".partial") and os.path.dirname(fsynced[0]) == partial
    assert fsynced[3:] == [str(tmp_path)]  # the parent, after the rename


def test_no_fsync_unless_asked(tmp_path, fsynced):
    with atomic_output(tmp_path / "x") as temporary:
        temporary.write_bytes(b"x")
    assert fsynced == []


def test_missing_output_folder_is_a_file_access_error(tmp_path):
    with pytest.raises(FileAccessError, match="output folder does not exist"), atomic_output(tmp_path / "no" / "x"):
        pass


def test_start_writeback_keeps_the_content(tmp_path):
    path = tmp_path / "f.bin"
    with open(path, "wb") as handle:
        handle.write(b"abc" * 100_000)
        handle.flush()
        start_writeback(handle.fileno())
        assert os.path.getsize(path) == 300_000
    assert path.read_bytes() == b"abc" * 100_000
    assert nii.io._sync_file_range() is not None  # Linux: the real call, not the no-op


def test_read_exactly_names_what_was_cut():
    assert read_exactly(io.BytesIO(b"abcdef"), 4, path="h.bin", what="header") == b"abcd"
    with pytest.raises(TruncatedFileError, match=r"h.bin: file ends inside the header \(2 of 4 bytes\)"):
        read_exactly(io.BytesIO(b"ab"), 4, path="h.bin", what="header")


@pytest.mark.parametrize("start", [0, 3, 4, 5, 12])
def test_write_parts_writes_from_any_byte_of_the_parts(tmp_path, monkeypatch, start):
    parts = [b"head", memoryview(b""), bytearray(b"body"), memoryview(b"tail")]
    whole = b"headbodytail"
    path = tmp_path / "file"
    path.write_bytes(whole[:start])  # what an earlier write left
    real = os.writev
    monkeypatch.setattr(os, "writev", lambda fd, buffers: real(fd, [memoryview(buffers[0])[:3]]))  # short writes
    descriptor = os.open(path, os.O_WRONLY)
    try:
        write_parts(descriptor, parts, start=start)
    finally:
        os.close(descriptor)
    assert path.read_bytes() == whole

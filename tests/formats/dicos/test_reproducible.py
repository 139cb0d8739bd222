"""Same scan, same options → same bytes; UIDs derive from the scan UID."""

import os
from datetime import UTC, datetime

import pydicom
import pytest

import nii
import nii.formats.dicos.files
import nii.io
import nii.writer_thread
from nii.threads import set_thread_count
from nii.writer_thread import WriterThread
from tests.conftest import make_scan


def test_fixed_creation_time_gives_identical_bytes_and_derived_uids(tmp_path):
    scan = make_scan()
    moment = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    nii.write(scan, tmp_path / "a", format="dicos", created_at=moment)
    nii.write(scan, tmp_path / "b", format="dicos", created_at=moment)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    first = pydicom.dcmread(tmp_path / "a" / "dx-side-high.dcs")
    assert first.InstanceCreationDate == "20261125" and first.SOPInstanceUID.startswith("2.25.")
    other = make_scan()  # another scan UID: other instance UIDs
    nii.write(other, tmp_path / "c", format="dicos", created_at=moment)
    assert pydicom.dcmread(tmp_path / "c" / "dx-side-high.dcs").SOPInstanceUID != first.SOPInstanceUID
    uids = {pydicom.dcmread(tmp_path / "a" / name).SOPInstanceUID for name in names}
    assert len(uids) == len(names)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("compression", ["none", "jpeg-lossless"])
def test_durable_writes_on_any_thread_count_give_the_same_bytes(tmp_path, monkeypatch, threads, compression):
    """fsync=True sends each file to the disk as it is written and flushes it before the rename."""
    scan = make_scan()
    moment = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    set_thread_count(1)
    nii.write(scan, tmp_path / "plain", format="dicos", created_at=moment, compression=compression)
    flushed = []
    real = os.fsync
    monkeypatch.setattr(nii.io.os, "fsync", lambda fd: (flushed.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    queued = []
    real_write = WriterThread.write
    monkeypatch.setattr(
        WriterThread,
        "write",
        lambda self, path, *a, **k: (queued.append(path.name), real_write(self, path, *a, **k))[1],
    )
    set_thread_count(threads)
    try:
        files = nii.write(
            scan, tmp_path / "durable", format="dicos", created_at=moment, compression=compression, fsync=True
        )
    finally:
        set_thread_count(None)
    # Uncompressed files on more than one thread go to the GIL-free writer thread; the rest are written here.
    uses_writer_thread = threads > 1 and compression == "none" and nii.writer_thread.available()
    assert sorted(queued) == (sorted(f.name for f in files) if uses_writer_thread else [])
    assert sorted(f.name for f in files) == sorted(p.name for p in (tmp_path / "plain").iterdir())
    for file in files:
        assert file.read_bytes() == (tmp_path / "plain" / file.name).read_bytes(), file.name
    assert sorted(os.path.basename(p) for p in flushed[: len(files)]) == sorted(f.name for f in files)
    assert flushed[-1] == str(tmp_path)  # the rename into place is flushed too
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".partial")] == []


def test_short_writes_of_the_operating_system_are_continued(tmp_path, monkeypatch):
    scan = make_scan()
    moment = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    nii.write(scan, tmp_path / "whole", format="dicos", created_at=moment)
    real = os.writev

    def short(descriptor, buffers):  # a write may take fewer bytes than given (signals, pipes, 2 GiB cap)
        return real(descriptor, [memoryview(buffers[0])[:1001]])

    monkeypatch.setattr(nii.formats.dicos.files.os, "writev", short)
    set_thread_count(1)  # this thread writes with writev (with more threads, the writer thread does)
    try:
        files = nii.write(scan, tmp_path / "short", format="dicos", created_at=moment)
    finally:
        set_thread_count(None)
    for file in files:
        assert file.read_bytes() == (tmp_path / "whole" / file.name).read_bytes(), file.name

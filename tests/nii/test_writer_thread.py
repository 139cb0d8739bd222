"""The GIL-free writer thread writes exactly the bytes queued, reports the operating system's errors
with the file's name, and ends with its caller, whatever happens."""

import errno
import threading
from pathlib import Path

import numpy as np
import pytest

from nii import writer_thread
from nii.writer_thread import WriterThread, _finish_in_python

pytestmark = pytest.mark.skipif(not writer_thread.available(), reason="the writer thread is for Linux")


def _writer_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "nii-writer"]


def test_files_hold_their_parts_in_order(tmp_path):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 65535, (300, 217), dtype=np.uint16)  # odd sizes: no alignment assumed
    files = {
        "two.bin": [b"header" * 7, pixels.data.cast("B")],
        "four.bin": [b"a", memoryview(b""), bytearray(b"bc"), rng.bytes(100_001)],
        "empty.bin": [],
        "slice.bin": [memoryview(b"0123456789")[3:7]],
    }
    with WriterThread() as writer:
        for name, parts in files.items():
            writer.write(tmp_path / name, parts, start_writeback=name == "two.bin")
    for name, parts in files.items():
        assert (tmp_path / name).read_bytes() == b"".join(bytes(memoryview(p).cast("B")) for p in parts), name
    assert not _writer_threads()  # the thread ended with the writer


def test_more_files_than_may_be_in_flight(tmp_path):
    with WriterThread() as writer:
        for index in range(writer_thread._MAX_IN_FLIGHT * 3 + 5):
            writer.write(tmp_path / f"{index}.bin", [index.to_bytes(4, "little"), b"x" * index])
    for index in range(writer_thread._MAX_IN_FLIGHT * 3 + 5):
        assert (tmp_path / f"{index}.bin").read_bytes() == index.to_bytes(4, "little") + b"x" * index


def test_a_failed_write_raises_the_system_error_naming_the_file(tmp_path):
    with pytest.raises(OSError) as caught, WriterThread() as writer:
        writer.write(tmp_path / "fine.bin", [b"fine"])
        writer.write(Path("/dev/full"), [b"no room"])  # every write fails with ENOSPC
    assert caught.value.errno == errno.ENOSPC and caught.value.filename == "/dev/full"
    assert (tmp_path / "fine.bin").read_bytes() == b"fine"
    assert not _writer_threads()


def test_a_file_that_cannot_be_created_raises_at_once_and_earlier_files_complete(tmp_path):
    with pytest.raises(FileNotFoundError), WriterThread() as writer:
        writer.write(tmp_path / "first.bin", [b"1" * 1000])
        writer.write(tmp_path / "missing" / "second.bin", [b"2"])
    assert (tmp_path / "first.bin").read_bytes() == b"1" * 1000
    assert not _writer_threads()


def test_an_error_in_the_caller_wins_and_queued_files_are_still_finished(tmp_path):
    with pytest.raises(KeyError), WriterThread() as writer:
        writer.write(Path("/dev/full"), [b"fails too, but the caller's error is the one raised"])
        writer.write(tmp_path / "queued.bin", [b"q" * 5000])
        raise KeyError("caller")
    assert (tmp_path / "queued.bin").read_bytes() == b"q" * 5000
    assert not _writer_threads()


def test_a_closed_writer_refuses_more_and_limits_parts(tmp_path):
    writer = WriterThread()
    with pytest.raises(ValueError, match="at most 4 parts"):
        writer.write(tmp_path / "x", [b"1"] * 5)
    writer.close()
    writer.close()  # twice is harmless
    with pytest.raises(RuntimeError, match="closed"):
        writer.write(tmp_path / "y", [b"1"])


def test_an_unfinished_file_is_completed_from_where_the_thread_stopped(tmp_path):
    path = tmp_path / "partial.bin"
    parts = [memoryview(b"HEADER"), memoryview(bytes(range(200)))]
    path.write_bytes(b"HEADER" + bytes(range(50)))  # the thread stopped 56 bytes in
    assert _finish_in_python(path, parts, 56) == []
    assert path.read_bytes() == b"HEADER" + bytes(range(200))
    errors = _finish_in_python(tmp_path / "gone" / "x.bin", parts, 0)
    assert len(errors) == 1 and errors[0].filename == str(tmp_path / "gone" / "x.bin")

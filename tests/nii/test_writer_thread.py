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


@pytest.fixture(autouse=True)
def one_writer_thread_at_most():
    """Writers share the process's thread: none of a test's own threads outlives it."""
    yield
    assert len(_writer_threads()) <= 1


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


def test_a_file_that_cannot_be_created_raises_at_once_and_earlier_files_complete(tmp_path):
    with pytest.raises(FileNotFoundError), WriterThread() as writer:
        writer.write(tmp_path / "first.bin", [b"1" * 1000])
        writer.write(tmp_path / "missing" / "second.bin", [b"2"])
    assert (tmp_path / "first.bin").read_bytes() == b"1" * 1000


def test_an_error_in_the_caller_wins_and_queued_files_are_still_finished(tmp_path):
    with pytest.raises(KeyError), WriterThread() as writer:
        writer.write(Path("/dev/full"), [b"fails too, but the caller's error is the one raised"])
        writer.write(tmp_path / "queued.bin", [b"q" * 5000])
        raise KeyError("caller")
    assert (tmp_path / "queued.bin").read_bytes() == b"q" * 5000


def test_writers_take_turns_on_one_thread_and_a_second_open_writer_gets_its_own(tmp_path):
    with WriterThread() as first:
        first.write(tmp_path / "a.bin", [b"a" * 10])
    with WriterThread() as again:
        assert again._loop is first._loop  # no new thread for the next writer
        with WriterThread() as meanwhile:  # while `again` is open
            assert meanwhile._loop is not again._loop and len(_writer_threads()) == 2
            meanwhile.write(tmp_path / "b.bin", [b"b" * 20])
            again.write(tmp_path / "c.bin", [b"c" * 30])
    assert [(tmp_path / n).read_bytes() for n in ("a.bin", "b.bin", "c.bin")] == [b"a" * 10, b"b" * 20, b"c" * 30]
    assert len(_writer_threads()) == 1  # the second thread ended with its writer


def test_files_of_an_interrupted_writer_are_reported_to_the_next_without_mixing_errors(tmp_path):
    interrupted = WriterThread()
    interrupted.write(Path("/dev/full"), [b"fails, but nobody waits for it any more"])
    interrupted.write(tmp_path / "late.bin", [b"l" * 100_000])
    interrupted._loop.user.release()  # as close() does when Ctrl-C ends the wait for its files
    with WriterThread() as writer:
        assert writer._loop is interrupted._loop
        writer.write(tmp_path / "next.bin", [b"n"])
    assert (tmp_path / "next.bin").read_bytes() == b"n"  # and the stale ENOSPC was not raised here
    assert (tmp_path / "late.bin").read_bytes() == b"l" * 100_000
    assert not writer._loop.pending  # every buffer released once reported


def test_a_forked_child_starts_its_own_thread(tmp_path):
    import os

    with WriterThread() as writer:
        writer.write(tmp_path / "parent.bin", [b"p"])
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        try:
            with WriterThread() as writer:
                writer.write(tmp_path / "child.bin", [b"c" * 1000])
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "child.bin").read_bytes() == b"c" * 1000
    with WriterThread() as writer:  # the parent's thread still serves the parent
        writer.write(tmp_path / "parent2.bin", [b"q"])
    assert (tmp_path / "parent2.bin").read_bytes() == b"q"


def test_a_closed_writer_refuses_more_and_limits_parts(tmp_path):
    writer = WriterThread()
    with pytest.raises(ValueError, match="at most 4 parts"):
        writer.write(tmp_path / "x", [b"1"] * 5)
    writer.close()
    writer.close()  # twice is harmless
    assert writer._loop.user.acquire(blocking=False)  # closing gave the thread back
    writer._loop.user.release()
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


def test_where_the_loop_cannot_be_compiled_files_are_written_in_python(tmp_path, monkeypatch, caplog):
    from datetime import UTC, datetime

    import nii
    from nii.threads import set_thread_count
    from tests.conftest import make_scan

    def broken():
        raise RuntimeError("no compiler here")

    moment, scan = datetime(2026, 12, 1, tzinfo=UTC), make_scan()
    nii.write(scan, tmp_path / "threaded", format="dicos", created_at=moment)
    monkeypatch.setattr(writer_thread, "_loop", None)
    monkeypatch.setattr(writer_thread, "_get_loop", broken)
    writer_thread.available.cache_clear()
    queued = []
    monkeypatch.setattr(WriterThread, "write", lambda *args, **kwargs: queued.append(args))
    set_thread_count(2)
    try:
        files = nii.write(scan, tmp_path / "python", format="dicos", created_at=moment)
    finally:
        set_thread_count(None)
        writer_thread.available.cache_clear()
    assert "without the writer thread" in caplog.text and not queued
    for file in files:
        assert file.read_bytes() == (tmp_path / "threaded" / file.name).read_bytes(), file.name

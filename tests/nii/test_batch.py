import doctest
import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

import nii.batch
import nii.threads
from nii.batch import Journal, PoolProcesses, remove_leftovers


def test_docstring_examples_run():
    for module in (nii.batch, nii.threads):
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, module.__name__


def test_a_journal_cut_by_a_kill_keeps_its_whole_rows(tmp_path):
    journal = Journal(tmp_path / "r.json.journal", [{"input": "a", "status": "skipped"}])
    journal.append({"input": "b", "status": "ok"})
    journal.close()
    with open(journal.path, "a") as handle:
        handle.write('{"input": "c", "sta')  # the row being written when the batch was killed
    assert [row["input"] for row in Journal.read(journal.path)] == ["a", "b"]
    assert Journal.read(tmp_path / "missing.journal") == []


def test_only_the_temporaries_of_atomic_writes_are_leftovers(tmp_path):
    keep = [
        tmp_path / "scan.npz",
        tmp_path / ".hidden",
        tmp_path / ".scan.npz.partial",
        tmp_path / "x.0123456789ab.partial",
    ]
    for path in keep:
        path.write_bytes(b"")
    folder = tmp_path / "lane" / ".scan.dicos.0123456789ab.partial"
    folder.mkdir(parents=True)
    (folder / "dx-side-high.dcs").write_bytes(b"half")
    old = tmp_path / ".scan.dicos.fedcba987654.old"
    old.write_bytes(b"")
    assert sorted(remove_leftovers(tmp_path)) == sorted([folder, old])
    assert all(path.exists() for path in keep) and not folder.exists() and not old.exists()
    assert sorted(os.listdir(tmp_path / "lane")) == []


def _announce_and_block(flag: Path) -> None:
    flag.write_text(str(os.getpid()))
    threading.Event().wait()


def test_a_dead_worker_is_seen_and_the_survivors_are_ended(tmp_path):
    """What a batch relies on when the pool itself misses a worker's death (CPython 3.11)."""
    processes = PoolProcesses()
    flags = [tmp_path / "first", tmp_path / "second"]
    with ProcessPoolExecutor(2, multiprocessing.get_context("forkserver")) as pool:
        futures = [pool.submit(_announce_and_block, flag) for flag in flags]
        deadline = time.monotonic() + 60
        while not all(flag.exists() for flag in flags):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert not processes.any_died()
        os.kill(int(flags[0].read_text()), signal.SIGKILL)
        while not processes.any_died():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        processes.end()
        for future in futures:
            with pytest.raises(BrokenProcessPool):
                future.result(timeout=60)
    survivor = int(flags[1].read_text())
    assert not Path(f"/proc/{survivor}").exists() or "Z" in Path(f"/proc/{survivor}/stat").read_text().split()[2]

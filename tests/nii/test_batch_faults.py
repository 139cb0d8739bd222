"""Fault scenarios of ``nii convert``, end to end through the CLI in subprocesses: a batch killed
with ``kill -9`` and resumed, a worker killed mid-batch, two batches into one folder, garbage
in input folders, an output that cannot be created, no writable HOME, a fork after decoding."""

import csv
import errno
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nii
import nii.pipeline
from nii.batch import LOCK_NAME, Journal, journal_path
from nii.pipeline import Job, Recipe, checksum, run_job
from tests.conftest import make_scan
from tests.helpers import assert_scans_equal
from tests.nii.test_pipeline import make_inputs


def nii_cli(*args: object, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nii", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,  # type: ignore[call-overload]
    )


def run_cli(*args: object, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "nii", *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children, ...), from /proc."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, timeout: float = 60.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc to find the workers")
def test_kill_9_mid_batch_leaves_no_orphans_and_resume_skips_finished_work(tmp_path):
    make_inputs(tmp_path / "in", 12, rows=400, lines=2000)
    report = tmp_path / "report.json"
    batch = nii_cli(
        "convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz", "--workers", "2", "--report", report
    )
    journal = journal_path(report)
    assert wait_for(lambda: journal.exists() and len(Journal.read(journal)) >= 2), batch.stderr
    workers = descendants(batch.pid)
    assert workers, "the batch runs its work in worker processes"
    batch.kill()
    batch.wait(timeout=30)
    # Workers and the fork server end with the batch: no orphan keeps converting (or holding memory).
    assert wait_for(lambda: not any(alive(pid) for pid in workers), timeout=10), [p for p in workers if alive(p)]
    assert not report.exists()  # killed before the end: only the journal tells what was done
    done = {row["input"]: row for row in Journal.read(journal)}
    assert 2 <= len(done) < 12
    for row in done.values():
        assert row["status"] == "ok" and checksum(Path(row["output"])) == row["checksum"]

    resumed = run_cli(
        "convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz", "--report", report, "--resume"
    )
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads(report.read_text())
    assert len(rows) == 12 and not journal.exists()
    assert {row["input"] for row in rows if row["status"] == "skipped"} == set(done)
    assert all(row["status"] == "ok" for row in rows if row["input"] not in done)
    assert f"{12 - len(done)} converted" in resumed.stderr and f"{len(done)} skipped" in resumed.stderr
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith((".partial", ".old"))]
    for row in rows:
        assert row["checksum"] == checksum(Path(row["output"]))
        assert_scans_equal(nii.read(row["output"]), nii.read(row["input"]))


def test_a_killed_worker_fails_no_input(tmp_path):
    """A worker killed mid-batch (the OOM killer, a crash): the inputs it had are run again alone."""
    make_inputs(tmp_path / "in", 8, rows=400, lines=2000)
    report = tmp_path / "report.json"
    batch = nii_cli(
        "convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz", "--workers", "2", "--report", report
    )
    assert wait_for(lambda: len(descendants(batch.pid)) >= 3)  # the fork server and two workers
    assert wait_for(lambda: any((tmp_path / "out").rglob(".*.partial")))  # a worker is writing
    victim = max(descendants(batch.pid))
    os.kill(victim, signal.SIGKILL)
    _, stderr = batch.communicate(timeout=300)
    assert batch.returncode == 0, stderr
    rows = json.loads(report.read_text())
    assert [row["status"] for row in rows] == ["ok"] * 8
    for row in rows:
        assert_scans_equal(nii.read(row["output"]), nii.read(row["input"]))


def test_a_worker_dying_between_a_wait_and_the_next_submit_fails_no_input(tmp_path, monkeypatch):
    """The race the test above can hit: a scan finishes, and a worker dies before the batch gives out the next, so
    the submit itself finds the pool broken. Made certain here: a real pool whose worker is killed just before the
    third submit, which then waits until the pool knows."""
    make_inputs(tmp_path / "in", 8)
    submits = []

    class PoolKilledBeforeTheThirdSubmit(ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.others = set(multiprocessing.active_children())
            self.given: list[Future[Any]] = []
            super().__init__(*args, **kwargs)

        def submit(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            submits.append(fn)
            if len(submits) == 3:
                victim = min(set(multiprocessing.active_children()) - self.others, key=lambda p: p.pid)
                os.kill(victim.pid, signal.SIGKILL)
                assert not wait(self.given, timeout=60).not_done  # the scan it had ends as broken
            future = super().submit(fn, *args, **kwargs)
            self.given.append(future)
            return future

    monkeypatch.setattr(nii.pipeline, "ProcessPoolExecutor", PoolKilledBeforeTheThirdSubmit)
    results = nii.pipeline.convert([tmp_path / "in"], tmp_path / "out", recipe=Recipe(target="npz"), workers=2)
    assert len(submits) > 8  # the scan in flight when the pool broke was given again, alone
    assert [result.status for result in results] == ["ok"] * 8
    for result in results:
        assert_scans_equal(nii.read(result.output), nii.read(result.input))


def test_resume_without_a_report_is_a_usage_error(tmp_path):
    make_inputs(tmp_path / "in", 1)
    result = run_cli("convert", tmp_path / "in", "--out", tmp_path / "out", "--resume")
    assert result.returncode == 2
    assert "--resume needs the --report" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_second_batch_into_the_same_folder_is_refused(tmp_path):
    make_inputs(tmp_path / "in", 6, rows=400, lines=2000)
    slow = ("--normalize", "calibrate,attenuate,materials=linac-6/4")  # seconds per scan: time to collide
    first = nii_cli("convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz", "--workers", "1", *slow)
    lock = tmp_path / "out" / LOCK_NAME
    assert wait_for(lambda: lock.exists() and lock.read_text().strip() == str(first.pid))
    second = run_cli("convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz")
    _, stderr = first.communicate(timeout=300)
    assert first.returncode == 0, stderr
    assert not lock.exists()  # a finished batch leaves only its outputs
    assert second.returncode == 1, second.stderr
    [line] = second.stderr.splitlines()
    assert f"{tmp_path / 'out'}: another nii convert (process {first.pid}) is writing into this folder" in line
    outputs = sorted((tmp_path / "out").rglob("*.npz"))
    assert len(outputs) == 6
    for output in outputs:
        assert [step.name for step in nii.read(output).provenance.steps][-3:] == ["calibrate", "attenuate", "materials"]
    # Once the first has ended, the folder is free.
    assert run_cli("convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz").returncode == 0


def test_garbage_in_folders_is_reported_and_each_error_printed_once(tmp_path):
    make_inputs(tmp_path / "in", 2)
    site = tmp_path / "in" / "site"
    (site / "notes.txt").write_text("lane 0 was closed on Monday")
    (site / "garbage.npz").write_bytes(os.urandom(300))
    (site / "empty.tif").write_bytes(b"")
    np.savez(site / "truth.npz", label=np.zeros(3))  # what nii simulate writes beside a scan
    (site / "truth.json").write_text("{}")
    leftover = tmp_path / "out" / "site" / ".scan0.npz.0123456789ab.partial"
    leftover.mkdir(parents=True)  # what a killed run leaves
    (leftover / "data").write_bytes(b"half")
    report = tmp_path / "report.csv"
    result = run_cli(
        "convert", tmp_path / "in", "--out", tmp_path / "out", "--to", "npz", "--workers", "2", "--report", report
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("nii: error:")]
    assert len(errors) == 2
    assert sum("garbage.npz: " in line for line in errors) == 1
    assert sum("empty.tif: file is empty" in line for line in errors) == 1
    assert "2 converted" in result.stderr and "3 skipped" in result.stderr and "2 failed" in result.stderr
    assert not journal_path(report).exists()  # gone once the report is written
    with open(report, newline="") as handle:
        rows = {Path(row["input"]).name: row for row in csv.DictReader(handle)}
    assert rows["notes.txt"]["status"] == "skipped" and "not a known scan format" in rows["notes.txt"]["error"]
    assert rows["truth.npz"]["status"] == "skipped" and "ground truth of a simulated scan" in rows["truth.npz"]["error"]
    assert rows["garbage.npz"]["status"] == "failed" and rows["empty.tif"]["status"] == "failed"
    assert rows["scan0.npz"]["status"] == rows["scan1.npz"]["status"] == "ok"
    assert not leftover.exists()


def test_an_output_folder_that_cannot_be_made_is_one_line_naming_it(tmp_path):
    make_inputs(tmp_path / "in", 1)
    out = Path("/proc/nii-cannot-exist/out")
    result = run_cli("convert", tmp_path / "in", "--out", out, "--to", "npz")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith(f"nii: error: {out}: cannot create the output folder")


def test_a_full_disk_names_the_file(tmp_path, monkeypatch):
    path = tmp_path / "scan.npz"
    nii.write(make_scan(48, 80), path)

    def full(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as os.write raises it: no file name

    monkeypatch.setattr(nii, "write", full)
    result = run_job(Job(path, tmp_path / "out" / "scan.npz"), Recipe(target="npz"))
    assert result.status == "failed"
    assert result.error == f"{tmp_path / 'out' / 'scan.npz'}: No space left on device"


def test_a_library_panic_fails_the_input_but_ctrl_c_stops_the_batch(tmp_path, monkeypatch):
    path = tmp_path / "scan.npz"
    nii.write(make_scan(48, 80), path)

    class PanicException(BaseException):  # what pyo3 raises for a Rust panic
        pass

    def panic(*args: object, **kwargs: object) -> None:
        raise PanicException("index out of bounds")

    monkeypatch.setattr(nii, "read", panic)
    result = run_job(Job(path, tmp_path / "out.npz"), Recipe(target="npz"))
    assert result.status == "failed" and result.error == f"{path}: PanicException: index out of bounds"

    def interrupt(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(nii, "read", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_job(Job(path, tmp_path / "out.npz"), Recipe(target="npz"))


@pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare to mount the sources read-only")
def test_no_writable_home_nor_sources_still_converts(tmp_path):
    """Kernels compiled with cache=True need a cache folder; without a writable HOME or source
    tree, nii gives numba one in the temporary folder instead of failing at import."""
    make_inputs(tmp_path / "in", 1)
    import nii.kernels

    kernels = Path(nii.kernels.__file__).parent
    script = (
        f"mount --bind {kernels} {kernels} && mount -o remount,bind,ro {kernels} || exit 77\n"
        f"exec env HOME=/proc/no-home XDG_CACHE_HOME= {sys.executable} -m nii convert {tmp_path / 'in'} "
        f"--out {tmp_path / 'out'} --normalize calibrate --to npz"
    )
    result = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=600)
    if result.returncode == 77 or "unshare failed" in result.stderr:
        pytest.skip(f"cannot mount read-only here: {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    assert "1 converted" in result.stderr


def test_the_thread_pool_works_in_a_child_forked_after_decoding(tmp_path):
    """A process forked after nii decoded Blosc chunks on its thread pool can use the pool."""
    path = tmp_path / "scan.rh5"
    nii.write(make_scan(256, 512, seed=3), path, format="ref-hdf5")
    code = (
        "import os, sys, numpy as np, nii\n"
        "from nii.threads import set_thread_count\n"
        "set_thread_count(2)\n"
        "first = np.asarray(nii.read(sys.argv[1]).views[0].channels['high'])\n"
        "child = os.fork()\n"
        "if child == 0:\n"
        "    again = np.asarray(nii.read(sys.argv[1]).views[0].channels['high'])\n"
        "    os._exit(0 if np.array_equal(first, again) else 3)\n"
        "_, status = os.waitpid(child, 0)\n"
        "sys.exit(os.waitstatus_to_exitcode(status))\n"
    )
    result = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


# A durable batch (--fsync) killed at a point of a group commit (nii.group_commit) after a first
# group was committed: the batch's process kills itself there with SIGKILL.
_KILLED_AT = """
import os, signal, sys
import nii.group_commit as commit
from nii.batch import Journal
point = sys.argv[1]
real_sync, real_place, real_flush = Journal.sync, commit.put_in_place, commit.fsync_tree
committed = []
def sync(self):
    real_sync(self)
    committed.append(True)
def place(*args):
    if point == "before-rename" and committed:  # this group's outputs are flushed, none renamed
        os.kill(os.getpid(), signal.SIGKILL)
    real_place(*args)
def flush(path, files=True):
    real_flush(path, files=files)
    if point == "before-journal" and committed and not files:  # renamed and flushed, not journaled
        os.kill(os.getpid(), signal.SIGKILL)
Journal.sync, commit.put_in_place, commit.fsync_tree = sync, place, flush
real_init = commit.GroupCommit.__init__
def small_groups(self, *args, **options):
    real_init(self, *args, **options, max_count=3)  # several groups in a batch of ten
commit.GroupCommit.__init__ = small_groups
from nii.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.parametrize("point", ["before-rename", "before-journal"])
def test_a_durable_batch_killed_mid_commit_counts_only_durable_outputs_and_resumes(tmp_path, point):
    make_inputs(tmp_path / "in", 10, rows=200, lines=600)
    report, out = tmp_path / "report.json", tmp_path / "out"
    convert = ("convert", tmp_path / "in", "--out", out, "--to", "npz", "--report", report, "--fsync")
    # Output to a file, not a pipe: processes the batch started may hold it open a while after the kill.
    with open(tmp_path / "stderr", "w") as stderr:
        killed = subprocess.Popen(
            [sys.executable, "-c", _KILLED_AT, point, *map(str, convert), "--workers", "2"], stderr=stderr
        )
        assert killed.wait(timeout=300) == -signal.SIGKILL, (tmp_path / "stderr").read_text()
    done = {row["input"]: row for row in Journal.read(journal_path(report))}
    assert done and all(row["status"] == "ok" for row in done.values())
    for row in done.values():  # nothing counted as done is missing or half written
        assert checksum(Path(row["output"])) == row["checksum"]
    in_place = {str(p) for p in out.rglob("scan*.npz")}
    staged = [p for p in out.rglob(".*.partial")]
    assert staged, "the killed group's outputs were flushed under their staged names"
    if point == "before-rename":
        assert in_place == {row["output"] for row in done.values()}
    else:  # the killed group is in place, but no row counts it
        assert in_place > {row["output"] for row in done.values()}

    resumed = run_cli(*convert, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    rows = json.loads(report.read_text())
    assert {row["input"] for row in rows if row["status"] == "skipped"} == set(done)
    assert sorted(row["status"] for row in rows if row["input"] not in done) == ["ok"] * (10 - len(done))
    assert not [p for p in out.rglob("*") if p.name.endswith((".partial", ".old"))]
    for row in rows:
        assert row["checksum"] == checksum(Path(row["output"]))
        assert_scans_equal(nii.read(row["output"]), nii.read(row["input"]))

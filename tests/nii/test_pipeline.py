import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

import nii
from nii.errors import ConfigurationError, FileAccessError
from nii.pipeline import WORKER_MODULES, Recipe, checksum, convert, plan, read_report
from tests.conftest import make_scan
from tests.helpers import assert_scans_equal

NPZ = Recipe(target="npz")


def make_inputs(root: Path, count: int = 3, *, rows: int = 48, lines: int = 80) -> list[Path]:
    paths = []
    for i in range(count):
        folder = root / "site" / f"lane{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"scan{i}.npz"
        nii.write(make_scan(rows, lines, seed=i), path)
        paths.append(path)
    return paths


def test_plan_walks_folders_and_globs_keeping_relative_paths(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    (tmp_path / "in" / "site" / "notes.txt").write_text("not a scan")
    everything = plan([tmp_path / "in"], tmp_path / "out", NPZ)
    [notes] = [j for j in everything if j.skip]
    assert notes.input.name == "notes.txt" and "notes.txt: not a known scan format" in notes.skip
    jobs = [j for j in everything if not j.skip]
    assert [j.input for j in jobs] == sorted(inputs)
    assert jobs[0].output == tmp_path / "out" / "site" / "lane0" / "scan0.npz"
    globbed = plan([str(tmp_path / "in" / "**" / "scan1.*")], tmp_path / "out", NPZ)
    assert [j.output for j in globbed] == [tmp_path / "out" / "site" / "lane1" / "scan1.npz"]
    with pytest.raises(FileAccessError, match="no such file"):
        plan([tmp_path / "missing"], tmp_path / "out", NPZ)
    with pytest.raises(ConfigurationError, match="unknown processing step 'sharpen'"):
        Recipe.parse("sharpen")


def test_batch_goes_on_past_bad_inputs_and_reports_them(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    bad = tmp_path / "in" / "bad.npz"
    bad.write_bytes(b"PK\x03\x04" + bytes(100))
    report = tmp_path / "report.json"
    results = convert([*inputs, bad], tmp_path / "out", recipe=NPZ, workers=2, report=report)
    assert [r.status for r in results] == ["ok", "ok", "ok", "failed"]
    assert "bad.npz" in results[3].error
    assert not any(p.name.endswith(".partial") for p in (tmp_path / "out").rglob("*"))
    assert not (tmp_path / "out" / "bad.npz").exists()
    rows = json.loads(report.read_text())
    assert [row["status"] for row in rows] == ["ok", "ok", "ok", "failed"]
    for row, source in zip(rows[:3], inputs, strict=True):
        assert row["checksum"] == checksum(Path(row["output"])) and row["bytes"] > 0
        assert_scans_equal(nii.read(row["output"]), nii.read(source))


def test_resume_skips_verified_outputs_and_redoes_damaged_ones(tmp_path):
    inputs = make_inputs(tmp_path / "in")
    report = tmp_path / "report.csv"
    first = convert([tmp_path / "in"], tmp_path / "out", recipe=NPZ, workers=1, report=report)
    assert all(r.status == "ok" for r in first)
    damaged = Path(first[1].output)
    damaged.write_bytes(damaged.read_bytes()[:-10] + bytes(10))
    second = convert([tmp_path / "in"], tmp_path / "out", recipe=NPZ, workers=1, report=report, resume=True)
    assert [r.status for r in second] == ["skipped", "ok", "skipped"]
    assert [r.checksum for r in read_report(report)] == [r.checksum for r in first]
    assert len(inputs) == 3


def test_resume_verifies_the_sha256_checksums_of_older_reports(tmp_path):
    """Reports written before BLAKE3 hold bare SHA-256 hex digests: resume checks those with SHA-256."""
    make_inputs(tmp_path / "in")
    report = tmp_path / "report.json"
    first = convert([tmp_path / "in"], tmp_path / "out", recipe=NPZ, workers=1, report=report)
    assert all(r.checksum.startswith("blake3:") for r in first)
    rows = json.loads(report.read_text())
    for row in rows:
        row["checksum"] = hashlib.sha256(Path(row["output"]).read_bytes()).hexdigest()  # a file: its bytes
    rows[2]["checksum"] = "0" * 64  # recorded for other bytes
    report.write_text(json.dumps(rows))
    second = convert([tmp_path / "in"], tmp_path / "out", recipe=NPZ, workers=1, report=report, resume=True)
    assert [r.status for r in second] == ["skipped", "skipped", "ok"]
    assert [r.checksum for r in second[:2]] == [row["checksum"] for row in rows[:2]]
    assert second[2].checksum == first[2].checksum


def test_cli_exit_code_and_one_line_errors(tmp_path):
    make_inputs(tmp_path / "in", 2)
    (tmp_path / "in" / "junk.npz").write_bytes(b"\x00" * 64)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "nii",
            "convert",
            str(tmp_path / "in"),
            str(tmp_path / "in" / "junk.npz"),
            "--out",
            str(tmp_path / "out"),
            "--to",
            "npz",
            "--workers",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "junk.npz: not a known scan format" in result.stderr and "Traceback" not in result.stderr
    assert "2 converted" in result.stderr and "1 failed" in result.stderr
    ok = subprocess.run(
        [
            sys.executable,
            "-m",
            "nii",
            "convert",
            str(tmp_path / "in" / "site"),
            "--out",
            str(tmp_path / "out2"),
            "--to",
            "npz",
        ],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr


def test_interrupt_leaves_only_complete_outputs(tmp_path):
    make_inputs(tmp_path / "in", 12, rows=400, lines=2000)
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nii",
            "convert",
            str(tmp_path / "in"),
            "--out",
            str(tmp_path / "out"),
            "--to",
            "npz",
            "--workers",
            "2",
            "--report",
            str(tmp_path / "r.json"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A shell without job control starts background jobs with SIGINT ignored, and Python
        # keeps an ignored SIGINT ignored: give the CLI the disposition a terminal gives it.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list((tmp_path / "out").rglob("scan*.npz")):
        time.sleep(0.02)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    outputs = list((tmp_path / "out").rglob("*.npz"))
    assert 1 <= len(outputs) < 12
    assert not [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".partial")]
    done = {row["output"]: row for row in json.loads((tmp_path / "r.json").read_text())}
    # The report is written on interrupt too (possibly before any result came back).
    assert all(row["status"] == "ok" for row in done.values())
    for output in outputs:
        # Every file under its final name is complete. A worker may finish one after the
        # interrupt reached the parent: complete, but not in the report (resume redoes it).
        source = tmp_path / "in" / output.relative_to(tmp_path / "out")
        assert_scans_equal(nii.read(output), nii.read(source))
        if str(output) in done:
            assert done[str(output)]["checksum"] == checksum(output)


def test_memory_stays_bounded_by_scans_in_flight(tmp_path):
    """Convert 16 scans of 24 MB each (384 MB) with 2 workers; no worker grows with the batch."""
    make_inputs(tmp_path / "in", 16, rows=1024, lines=6000)
    code = (
        "import resource, sys, json;"
        "from nii.pipeline import Recipe, convert;"
        "convert([sys.argv[1]], sys.argv[2], recipe=Recipe(target='npz'), workers=2);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "in"), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=True,
    )
    peak_child_mb = int(result.stdout.strip()) / 1024
    scan_mb = 2 * 2 * 1024 * 6000 * 2 / 1e6  # two views x two uint16 channels
    assert len(list((tmp_path / "out").rglob("*.npz"))) == 16
    # A worker holds one scan at a time (memory-mapped on read); far below the 16-scan total.
    assert peak_child_mb < 300 + 2 * scan_mb, peak_child_mb
    assert 16 * scan_mb > 300 + 2 * scan_mb


@pytest.mark.skipif(os.environ.get("NII_SKIP_DASK") == "1", reason="explicitly disabled")
def test_dask_cluster_gives_byte_identical_outputs(tmp_path):
    make_inputs(tmp_path / "in", 4)
    # DICOS with a fixed instance-creation time: every other byte derives from the input.
    dicos = Recipe.parse("calibrate", target="dicos", created_at=datetime(2026, 11, 25, tzinfo=UTC))
    local = convert([tmp_path / "in"], tmp_path / "local", recipe=dicos, workers=2)
    port = 20000 + os.getpid() % 20000
    scheduler = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "distributed.cli.dask_scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dashboard",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    address = f"tcp://127.0.0.1:{port}"
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "distributed.cli.dask_worker",
                address,
                "--nthreads",
                "1",
                "--nworkers",
                "1",
                "--host",
                "127.0.0.1",
                "--no-dashboard",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert len(client.scheduler_info()["workers"]) == 2
        remote = convert(
            [tmp_path / "in"], tmp_path / "dask", recipe=dicos, workers=2, engine="dask", scheduler=address
        )
    finally:
        for process in [*workers, scheduler]:
            process.terminate()
        for process in [*workers, scheduler]:
            process.wait(timeout=30)
    assert [r.status for r in local] == [r.status for r in remote] == ["ok"] * 4
    for a, b in zip(local, remote, strict=True):
        assert Path(a.output).relative_to(tmp_path / "local") == Path(b.output).relative_to(tmp_path / "dask")
        files = sorted(p.name for p in Path(a.output).iterdir())
        assert files == sorted(p.name for p in Path(b.output).iterdir()) and "dx-side-high.dcs" in files
        for name in files:
            assert (Path(a.output) / name).read_bytes() == (Path(b.output) / name).read_bytes(), name
        assert a.checksum == b.checksum


def test_a_durable_batch_writes_what_a_plain_one_does_and_leaves_nothing_staged(tmp_path):
    """--fsync through the CLI: the same scans as without, checksums of what is in place, nothing staged left."""
    make_inputs(tmp_path / "in", 3)
    (tmp_path / "in" / "site" / "broken.npz").write_bytes(b"not a scan")
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    plain = Recipe(options={"created_at": moment})
    convert([tmp_path / "in"], tmp_path / "plain", recipe=plain, workers=1, report=tmp_path / "plain.json")
    durable = sys.executable, "-m", "nii", "convert", tmp_path / "in", "--out", tmp_path / "durable", "--fsync"
    result = subprocess.run([*map(str, durable), "--report", tmp_path / "durable.csv"], capture_output=True, text=True)
    assert result.returncode == 1 and "3 converted" in result.stderr and "1 failed" in result.stderr
    rows = {Path(row.input).name: row for row in read_report(tmp_path / "durable.csv")}
    assert rows["broken.npz"].status == "failed" and rows["broken.npz"].error.startswith(str(tmp_path / "in"))
    assert not [p for p in (tmp_path / "durable").rglob("*") if p.name.startswith(".")]  # nothing staged is left
    for name in ("scan0.npz", "scan1.npz", "scan2.npz"):
        output = Path(rows[name].output)
        assert rows[name].status == "ok" and rows[name].checksum == checksum(output)
        assert_scans_equal(nii.read(output), nii.read(tmp_path / "plain" / output.relative_to(tmp_path / "durable")))


_FORK_SERVER_PROBE = """
import os, sys
from pathlib import Path
from nii.bench import RECIPE
from nii.bench_durable import make_batch
from nii.pipeline import convert

if __name__ == "__main__":
    root = Path(sys.argv[1])
    results = convert(make_batch("baggage", root / "in", 2, scale=0.1), root / "out", recipe=RECIPE, workers=2)
    assert [r.status for r in results] == ["ok", "ok"], results
    for process in Path("/proc").iterdir():
        try:
            ppid = int((process / "stat").read_text().rsplit(")", 1)[1].split()[1])
            command = (process / "cmdline").read_bytes().decode()
            if ppid == os.getpid() and "forkserver" in command:
                status = (process / "status").read_text()
                threads = next(line.split()[1] for line in status.splitlines() if line.startswith("Threads:"))
                print(threads, "numba" in (process / "maps").read_text(), command.replace("\\0", " "))
        except (OSError, ValueError, IndexError):
            continue
"""


def test_workers_fork_from_a_server_that_imported_nii_and_runs_no_threads(tmp_path):
    """The fork server imports what workers need (:data:`nii.pipeline.WORKER_MODULES`), so workers start
    without importing it; it must stay single-threaded, or the workers forked from it could inherit a
    lock held by a thread that no longer exists (numba's thread pool is why batches use a fork server)."""
    probe = tmp_path / "probe.py"
    probe.write_text(_FORK_SERVER_PROBE)
    done = subprocess.run([sys.executable, str(probe), str(tmp_path)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    [server] = done.stdout.splitlines()
    threads, numba_loaded, command = server.split(" ", 2)
    assert threads == "1" and numba_loaded == "True"  # nii's kernels imported (numba mapped), no thread started
    assert all(f"'{module}'" in command for module in WORKER_MODULES)

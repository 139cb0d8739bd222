"""Network throughput: ``nii send`` → ``nii receive`` against DCMTK ``storescu`` → ``storescp``, same files, same run.

Workloads (DICOS written by nii, Explicit VR Little Endian):

* ``cargo``: one simulated cargo scan, high and low channels of 2048 × 8192 (two 32 MiB DX files);
* ``many``: 100 one-file simulated scans (about 3 kB each): per-object overhead.

Baseline: DCMTK's ``storescu -R`` into a running ``storescp +B`` (bit-preserving, no checks), the
competent user's tool. storescp 3.6.7 cannot bind 127.0.0.1 only, so it runs in a private
loopback-only network namespace (``unshare -n``) and each round's storescu enters it with
``nsenter``. nii: :func:`nii.network.send` in this process into a running ``nii receive`` (which
also validates every object and writes it atomically). Each round sends every file over one
association; the two are timed in turn, best of each (:func:`benchmarks.alternate`). The ratio
printed is DCMTK's time over nii's (above 1: nii is faster).

With benchmarks disabled (the default) both paths run once on small files and the test checks
that the same files arrive on both sides. Run for real with
``python -m pytest benchmarks/test_network.py --benchmark-enable -s``; needs root for ``unshare``.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import time
from pathlib import Path

import pydicom
import pytest

import nii
from benchmarks import alternate, benchmarking
from nii.model import View, new_uid
from nii.network import Peer, send
from nii.simulate import simulate
from tests.formats.dicos.tools import require_program, system_program
from tests.nii.network.tools import ReceiverProcess, digest, free_port

ROUNDS = 5
GOALS = {"cargo": 0.7, "many": 1.0}
"""nii's throughput at least this fraction of DCMTK's (measured on a busy 2-core machine, see the docs)."""


def _namespaces_work() -> bool:
    if system_program("storescp") is None or shutil.which("nsenter") is None:
        return False
    return subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs DCMTK and root for unshare -n")


def _files(workload: str, folder: Path, full: bool) -> list[Path]:
    if workload == "cargo":
        rows, lines = (2048, 8192) if full else (64, 256)
        scan, _ = simulate("cargo", seed=1, rows=rows, lines=lines)
        return sorted(nii.write(scan, folder / "cargo", format="dicos"))
    scan, _ = simulate("suitcase", seed=1, rows=16, lines=24)
    view = scan.views[0]
    single = dataclasses.replace(scan, views=[View(view.name, {"high": view.channels["high"]}, view.geometry)])
    files = []
    (folder / "many").mkdir()
    for index in range(100 if full else 10):
        copy = dataclasses.replace(single, threats=[], scan_uid=new_uid(), frame_of_reference_uid=new_uid())
        files.extend(nii.write(copy, folder / "many" / f"{index:03d}", format="dicos"))
    return files


@pytest.fixture(scope="module", params=["cargo", "many"])
def workload(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    return request.param, _files(request.param, folder, benchmarking(request.config))


def test_send_throughput_against_dcmtk(benchmark, workload, tmp_path, request):
    name, files = workload
    nii_store, dcmtk_store = tmp_path / "nii", tmp_path / "dcmtk"
    nii_store.mkdir(), dcmtk_store.mkdir()
    port = free_port()
    storescp = subprocess.Popen(
        [
            "unshare",
            "-n",
            "sh",
            "-c",
            f"ip link set lo up; exec {require_program('storescp')} +B -od {dcmtk_store} -aet DCMTK {port}",
        ]
    )
    receiver = ReceiverProcess(nii_store, "--ae-title", "NII").start()
    inside = ["nsenter", f"--net=/proc/{storescp.pid}/ns/net"]
    storescu = [*inside, require_program("storescu"), "-R", "-aec", "DCMTK", "127.0.0.1", str(port), *map(str, files)]
    echoscu = [*inside, require_program("echoscu"), "-aec", "DCMTK", "127.0.0.1", str(port)]
    while subprocess.run(echoscu, capture_output=True).returncode != 0:  # storescp starting
        time.sleep(0.05)
    peer = Peer("127.0.0.1", receiver.port, called_ae="NII")

    def dcmtk() -> None:
        subprocess.run(storescu, check=True, capture_output=True)

    def ours() -> None:
        assert all(result.stored for result in send(files, peer))

    try:
        dcmtk()
        benchmark.pedantic(ours, rounds=1 if benchmark.disabled else ROUNDS)
        if not benchmark.disabled:
            ratio = alternate(dcmtk, ours, ROUNDS)
            megabytes = sum(f.stat().st_size for f in files) / 1e6
            benchmark.extra_info.update({"dcmtk_over_nii": ratio, "megabytes": megabytes, "files": len(files)})
            print(f"\n{name}: {len(files)} files, {megabytes:.1f} MB; DCMTK time / nii time = {ratio:.2f}")
            assert ratio >= GOALS[name]
    finally:
        storescp.terminate()
        storescp.wait()
        receiver.stop()
    sent = sorted(digest(path) for path in files)
    assert sorted(digest(path) for path in dcmtk_store.iterdir()) == sent
    assert sorted(digest(path) for path in nii_store.glob("*/*.dcs")) == sent
    if name == "cargo":
        arrived = next(nii_store.glob("*/*.dcs"))
        assert pydicom.dcmread(arrived, stop_before_pixels=True).file_meta[0x00020004].value == "V03"

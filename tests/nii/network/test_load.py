"""`nii receive` under load, killed mid-transfer, over TLS, and converting what it receives."""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from nii.cli import main
from nii.network import Peer, Receiver, ReceiverOptions, SendResult, send
from tests.formats.dicos.tools import require_program

from .conftest import LOAD_SCANS
from .tools import ReceiverProcess, digest, every_file, nii_command


def send_command(port: int, *paths: Path, aet: str = "NII", retries: int = 1, extra: tuple = ()) -> list[str]:
    return nii_command(
        "send", *paths, "--to", f"127.0.0.1:{port}", "--called-ae", "NIISCP", "--calling-ae", aet,
        "--retries", str(retries), "--backoff", "0.5", *extra,
    )  # fmt: skip


def expected_digests(folders: list[Path]) -> dict[str, str]:
    """Scan UID/instance UID → digest of what was sent."""
    result = {}
    for folder in folders:
        for path in folder.glob("*.dcs"):
            header = pydicom.dcmread(path, stop_before_pixels=True)
            result[f"{header.StudyInstanceUID}/{header.SOPInstanceUID}.dcs"] = digest(path)
    return result


def received_digests(store: Path) -> dict[str, str]:
    return {str(p.relative_to(store)): digest(p) for p in store.glob("*/*.dcs") if p.parent.name != "converted"}


@pytest.fixture
def store(tmp_path: Path) -> Path:
    folder = tmp_path / "store"
    folder.mkdir()
    return folder


def send_in_process(port: int, paths: list[Path], aet: str = "NII") -> list[SendResult]:
    """The sender in this process (its CLI is tested elsewhere): saves an interpreter start per sender."""
    return send(paths, Peer("127.0.0.1", port, called_ae="NIISCP", calling_ae=aet), retries=1, backoff=0.5)


def test_hundred_scans_over_one_association(dicos, store):
    scans = sorted((dicos / "load").iterdir())
    receiver = ReceiverProcess(store, "--ae-title", "NIISCP").start()
    try:
        results = send_in_process(receiver.port, [dicos / "load"])
        assert len(results) == LOAD_SCANS and all(result.stored for result in results)
    finally:
        assert receiver.stop() == 0
    assert received_digests(store) == expected_digests(scans)
    assert len(received_digests(store)) == LOAD_SCANS
    assert receiver.log.count("association from NII@") == 1
    assert f"released: {LOAD_SCANS} stored" in receiver.log


def test_hundred_scans_over_four_concurrent_associations(dicos, store):
    scans = sorted((dicos / "load").iterdir())
    receiver = ReceiverProcess(store, "--ae-title", "NIISCP", "--max-associations", "4").start()
    try:
        with ThreadPoolExecutor(4) as pool:
            batches = pool.map(lambda i: send_in_process(receiver.port, scans[i::4], f"NII{i}"), range(4))
            assert all(result.stored for batch in batches for result in batch)
    finally:
        assert receiver.stop() == 0
    assert received_digests(store) == expected_digests(scans)
    assert all(f"association from NII{i}@" in receiver.log for i in range(4))


def test_receiver_killed_mid_transfer_then_restarted(dicos, store):
    """The sender's retries carry the transfer over a receiver crash; no partial file is left."""
    folders = sorted((dicos / "load").iterdir())
    receiver = ReceiverProcess(store, "--ae-title", "NIISCP").start()
    sender = subprocess.Popen(send_command(receiver.port, dicos / "load", retries=6), stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(list(store.glob("*/*.dcs"))) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    receiver.stop(kill=True)
    stored_before_restart = received_digests(store)
    assert sender.poll() is None and 5 <= len(stored_before_restart) < LOAD_SCANS  # really mid-transfer
    expected = expected_digests(folders)
    # Whatever is under a final name is complete; anything else is a hidden partial in .incoming.
    assert all(expected[name] == value for name, value in stored_before_restart.items())
    assert all(name.startswith(".incoming/") for name in every_file(store) if not name.endswith(".dcs"))
    receiver.start()
    try:
        assert sender.wait(timeout=120) == 0
    finally:
        assert receiver.stop() == 0
    assert received_digests(store) == expected
    assert [name for name in every_file(store) if "partial" in name or name.startswith(".incoming")] == []


def test_sigint_lets_the_open_association_finish(dicos, store):
    """Graceful shutdown: no new associations, but the one under way completes before the receiver exits."""
    receiver = ReceiverProcess(store, "--ae-title", "NIISCP").start()
    with ThreadPoolExecutor(1) as pool:
        sending = pool.submit(send_in_process, receiver.port, [dicos / "load"])
        deadline = time.monotonic() + 60
        while len(list(store.glob("*/*.dcs"))) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        stored_when_stopped = len(list(store.glob("*/*.dcs")))
        assert receiver.stop(number=signal.SIGINT) == 0
        results = sending.result()
    assert stored_when_stopped < LOAD_SCANS  # the signal came mid-transfer
    assert len(results) == LOAD_SCANS and all(result.stored for result in results)
    assert received_digests(store) == expected_digests(sorted((dicos / "load").iterdir()))
    assert f"released: {LOAD_SCANS} stored" in receiver.log and "receiver stopped" in receiver.log


def test_tls_with_client_certificates(dicos, certificates, store):
    c = {name: str(path) for name, path in certificates.items()}
    receiver = ReceiverProcess(
        store, "--ae-title", "NIISCP", "--tls", "--cert", c["server"], "--key", c["server-key"], "--ca", c["ca"]
    ).start()
    sent = sorted((dicos / "bag-rle").glob("*.dcs"))
    storescu = [require_program("storescu"), "-R", "-xr", "-aet", "STORESCU", "-aec", "NIISCP", "+cf", c["ca"], "-pw"]
    address = ["127.0.0.1", str(receiver.port), *map(str, sent)]
    try:
        rogue = subprocess.run([*storescu, "+tls", c["rogue-client-key"], c["rogue-client"], *address])
        assert rogue.returncode != 0
        assert every_file(store) == [".incoming"] or every_file(store) == []
        trusted = subprocess.run([*storescu, "+tls", c["client-key"], c["client"], *address])
        assert trusted.returncode == 0  # still serving after refusing the rogue client
        plain = subprocess.run(
            [require_program("echoscu"), "-aec", "NIISCP", "127.0.0.1", str(receiver.port)], capture_output=True
        )
        assert plain.returncode != 0  # no unencrypted association on a TLS port
    finally:
        assert receiver.stop() == 0
    assert received_digests(store) == expected_digests([dicos / "bag-rle"])
    assert "(TLS)" in receiver.log


def test_each_complete_scan_is_converted(dicos, store, tmp_path):
    receiver = ReceiverProcess(store, "--ae-title", "NIISCP", "--convert", "png").start()
    try:
        result = subprocess.run(send_command(receiver.port, dicos / "suitcase"), capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        scan = pydicom.dcmread(next((dicos / "suitcase").glob("*.dcs")), stop_before_pixels=True).StudyInstanceUID
        converted = store / "converted" / f"{scan}.png"
        deadline = time.monotonic() + 60
        while not converted.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        assert receiver.stop() == 0  # waits for conversions under way
    reference = tmp_path / "reference"
    assert main(["convert", str(dicos / "suitcase"), "--out", str(reference), "--to", "png"]) == 0
    expected = np.asarray(Image.open(reference / "suitcase.png"))
    np.testing.assert_array_equal(np.asarray(Image.open(converted)), expected)
    assert f"converted scan {scan}" in receiver.log


def test_port_in_use_is_one_line(store, capsys):
    first = Receiver(ReceiverOptions(store=store, port=0))
    first.start()
    try:
        assert main(["receive", "--port", str(first.port), "--store", str(store)]) == 1
    finally:
        first.stop()
    error = capsys.readouterr().err
    assert error.startswith("nii: error: cannot listen on 127.0.0.1") and error.count("\n") == 1

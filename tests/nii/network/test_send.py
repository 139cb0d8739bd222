"""`nii send` into DCMTK's storescp (plain and TLS), in a private loopback-only network namespace:
storescp 3.6.7 cannot be told to bind 127.0.0.1, so it runs where 127.0.0.1 is the only network."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
from pathlib import Path

import pydicom
import pytest

from tests.formats.dicos.tools import require_program, system_program

from .conftest import COMPRESSIONS
from .tools import dataset_bytes, free_port, nii_command


def _namespaces_work() -> bool:
    if system_program("storescp") is None or shutil.which("unshare") is None:
        return False
    probe = subprocess.run(["unshare", "-n", "sh", "-c", "ip link set lo up"], capture_output=True)
    return probe.returncode == 0


pytestmark = pytest.mark.skipif(not _namespaces_work(), reason="needs DCMTK and root for unshare -n")


def send_to_storescp(
    paths: list[Path], out: Path, *, storescp_tls: list[str] = (), send_tls: list[str] = (), retries: int = 5
) -> tuple[subprocess.CompletedProcess[str], list[dict]]:
    """Run storescp (bit-preserving, every transfer syntax) and `nii send` in one private network namespace."""
    port = free_port()
    report = out.parent / f"{out.name}-report.json"
    storescp = [require_program("storescp"), "+B", "+xa", "-od", str(out), "-aet", "DICOSSCP", *storescp_tls, str(port)]
    # nii send's retries with back-off also wait for storescp to start listening.
    send = nii_command(
        "send", *paths, "--to", f"127.0.0.1:{port}", "--called-ae", "DICOSSCP", "--report", report,
        "--retries", str(retries), "--backoff", "0.1", *send_tls,
    )  # fmt: skip
    script = (
        f"ip link set lo up; {shlex.join(storescp)} & server=$!; sleep 0.3; "
        f"{shlex.join(send)}; status=$?; kill $server; wait $server; exit $status"
    )
    result = subprocess.run(["unshare", "-n", "sh", "-c", script], capture_output=True, text=True, timeout=120)
    rows = json.loads(report.read_text()) if report.exists() else []
    return result, rows


def by_instance(folder: Path) -> dict[str, Path]:
    return {str(pydicom.dcmread(p, stop_before_pixels=True).SOPInstanceUID): p for p in folder.iterdir()}


def assert_arrived_unchanged(sent: list[Path], out: Path) -> None:
    arrived = by_instance(out)
    assert len(arrived) == len(sent)
    for path in sent:
        uid = str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)
        assert dataset_bytes(arrived[uid]) == dataset_bytes(path), path


def test_send_every_transfer_syntax_to_storescp(dicos, tmp_path):
    folders = [dicos / "suitcase", *(dicos / f"bag-{c}" for c in COMPRESSIONS)]
    sent = sorted(p for folder in folders for p in folder.glob("*.dcs"))
    out = tmp_path / "storescp"
    out.mkdir()
    result, rows = send_to_storescp(folders, out)
    assert result.returncode == 0, result.stderr
    assert_arrived_unchanged(sent, out)
    assert len(rows) == len(sent) and {row["status"] for row in rows} == {"stored"}
    assert {row["code"] for row in rows} == {"0x0000"}
    assert all(row["bytes"] == Path(row["path"]).stat().st_size and row["seconds"] > 0 for row in rows)
    assert f"{len(sent)} stored" in result.stderr


def test_send_over_tls_to_storescp(dicos, certificates, tmp_path):
    c = {name: str(path) for name, path in certificates.items()}
    sent = sorted((dicos / "bag-jpeg-lossless").glob("*.dcs"))
    out = tmp_path / "storescp"
    out.mkdir()
    storescp_tls = ["+tls", c["server-key"], c["server"], "-pw", "+cf", c["ca"]]  # client certificate required
    send_tls = ["--tls", "--cert", c["client"], "--key", c["client-key"], "--ca", c["ca"]]
    result, rows = send_to_storescp([dicos / "bag-jpeg-lossless"], out, storescp_tls=storescp_tls, send_tls=send_tls)
    assert result.returncode == 0, result.stderr
    assert_arrived_unchanged(sent, out)
    # The same server, but nii does not trust its certificate: nothing is sent.
    refused = tmp_path / "refused"
    refused.mkdir()
    untrusted = ["--tls", "--cert", c["client"], "--key", c["client-key"], "--ca", c["rogue-ca"]]
    result, rows = send_to_storescp(
        [dicos / "bag-none"], refused, storescp_tls=storescp_tls, send_tls=untrusted, retries=1
    )
    assert result.returncode == 1
    assert "connection or TLS failed" in result.stderr and "Traceback" not in result.stderr
    assert rows and {row["status"] for row in rows} == {"failed"}
    assert list(refused.iterdir()) == []


def test_send_to_nobody_fails_after_retries(dicos, tmp_path):
    report = tmp_path / "report.csv"
    command = nii_command(
        "send", dicos / "suitcase", "--to", f"127.0.0.1:{free_port()}", "--called-ae", "NOBODY",
        "--retries", "2", "--backoff", "0.05", "--report", report,
    )  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert result.stderr.count("not stored") == len(list((dicos / "suitcase").glob("*.dcs")))
    assert report.read_text().splitlines()[0] == "path,status,code,bytes,seconds,message"

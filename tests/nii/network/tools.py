"""Helpers for the network tests: a `nii receive` process, free ports, throw-away TLS certificates."""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydicom.filereader import read_file_meta_info

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def nii_command(*args: str | os.PathLike[str]) -> list[str]:
    return [sys.executable, "-m", "nii", *map(str, args)]


class ReceiverProcess:
    """`nii receive` in a subprocess; its log goes to a file the tests read."""

    def __init__(self, store: Path, *options: str, port: int | None = None) -> None:
        self.store, self.options, self.port = store, options, port or free_port()
        self.log_path = store.parent / f"{store.name}-receive-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, *, timeout: float = 30.0) -> ReceiverProcess:
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            command = nii_command("receive", "--port", str(self.port), "--store", self.store, *self.options)
            self.process = subprocess.Popen(command, stdout=log, stderr=log, cwd=ROOT)
        deadline = time.monotonic() + timeout
        while "receiving DICOS" not in self.log_path.read_text()[offset:]:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nii receive did not start:\n{self.log_path.read_text()}")
            time.sleep(0.05)
        return self

    @property
    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self, *, kill: bool = False, number: signal.Signals = signal.SIGTERM) -> int:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL if kill else number)
        return self.process.wait(timeout=30)


def dataset_bytes(path: Path) -> bytes:
    """A Part 10 file's bytes after its file meta: what travels in a C-STORE."""
    meta = read_file_meta_info(path)
    return path.read_bytes()[132 + 12 + int(meta.FileMetaInformationGroupLength) :]


def digest(path: Path) -> str:
    return hashlib.sha256(dataset_bytes(path)).hexdigest()


def every_file(folder: Path) -> list[str]:
    """Every file under ``folder`` (hidden ones too), relative, sorted: to show nothing was stored."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _write(path: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate) -> tuple[Path, Path]:
    key_path, cert_path = path.with_suffix(".key"), path.with_suffix(".pem")
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[str, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    issuer_name, issuer_key = (issuer[0], issuer[1]) if issuer else (subject, key)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
    else:
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_certificates(folder: Path) -> dict[str, Path]:
    """A CA, a server and a client certificate it signs, and a rogue CA with its own client."""
    paths: dict[str, Path] = {}
    for ca_name, leaves in (("ca", ("server", "client")), ("rogue-ca", ("rogue-client",))):
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_cert = _certificate(ca_name, ca_key, None, server=False)
        paths[ca_name], _ = _write(folder / ca_name, ca_key, ca_cert)
        for leaf in leaves:
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _certificate(leaf, key, (ca_name, ca_key), server=leaf == "server")
            paths[leaf], paths[f"{leaf}-key"] = _write(folder / leaf, key, cert)
    return paths

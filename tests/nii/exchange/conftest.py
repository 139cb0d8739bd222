"""Scans of every kind (DX, CT, TDR; cargo and baggage) with known identifiers planted everywhere nii puts them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pydicom
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence

import nii
from nii.model import Box, Operator, Site, Threat, ThreatOrigin, Volume
from nii.simulate import simulate

PLANTED = {
    "container": "MSKU1234565",
    "second container": "TGHU7654320",
    "licence plate": "AB-123-CD",
    "operator id": "OFFICER-4711",
    "operator name": "Okonkwo",
    "site": "Testville",
    "address": "Quay Road",
    "machine": "SCANNER-X9",
    "serial": "SN-55501",
    "free text": "seal 998877",
    "consignee": "ACME Trading",
    "threat note": "Dr. Doe",
    "date": "20310517",
    "creation date": "20310518",
    "owner": "Ferreira Shipping",
    "itinerary": "ITIN-3344",
    "route": "RT-77",
    "carrier": "CARRIER-XY",
    "boarding pass": "BP-0099",
    "route segment": "SEG-5521",
    "foreign private": "VENDOR SECRET",
    "country": '"country":"TV"',
}
"""What must not survive de-identification, by what it is."""

ACQUIRED = datetime(2031, 5, 17, 9, 30, tzinfo=timezone(timedelta(hours=2)))
CREATED = datetime(2031, 5, 18, 8, 0, tzinfo=UTC)


def _planted_scan(kind: str) -> nii.Scan:
    if kind == "cargo":
        scan, _ = simulate("cargo", seed=1, rows=48, lines=96)
    else:
        scan, _ = simulate("suitcase", seed=2, rows=40, lines=64)
        rng = np.random.default_rng(3)
        scan.volumes = [Volume("bag", rng.integers(0, 4000, (4, 16, 20), dtype=np.uint16), channel="high")]
    scan.inspected_object = dataclasses.replace(
        scan.inspected_object,
        container_numbers=(PLANTED["container"], PLANTED["second container"]) if kind == "cargo" else (),
        licence_plate=PLANTED["licence plate"] if kind == "cargo" else None,
        identifier=None if kind == "cargo" else PLANTED["container"],
        description=f"{PLANTED['free text']} broken, consignee {PLANTED['consignee']}",
    )
    scan.scanner = dataclasses.replace(scan.scanner, serial_number=PLANTED["serial"])
    scan.site = Site(
        name=f"Port of {PLANTED['site']}",
        machine_id=PLANTED["machine"],
        address=f"1 {PLANTED['address']}",
        country="TV",
    )
    scan.operator = Operator(PLANTED["operator id"], f"{PLANTED['operator name']}^Ada")
    scan.acquired_at = ACQUIRED
    box = Box(2, 3, 10, 8)
    scan.threats = [
        Threat(
            view=scan.views[0].name,
            box=box,
            description=f"seen by {PLANTED['threat note']}",
            probability=0.3,
            # nii writes an empty Threat Detection Algorithm without one, which the reference reader refuses.
            algorithm="test-atr",
            algorithm_version="1.0",
        ),
        Threat(view=scan.views[-1].name, box=box, origin=ThreatOrigin.OPERATOR),
    ]
    return scan


def _plant_dicos_attributes(path: Path) -> None:
    """Group 4010 owner and journey attributes and a foreign private block, which nii does not write."""
    dataset = pydicom.dcmread(path)
    owner = Dataset()
    owner.add_new(0x40101009, "CS", "COMPANY")
    owner.PersonName = PLANTED["owner"]
    dataset.add_new(0x40101047, "SQ", DicomSequence([owner]))
    segment = Dataset()
    segment.add_new(0x40101007, "SH", PLANTED["route segment"])
    segment.add_new(0x4010101E, "SH", "LHR")
    segment.add_new(0x40101025, "DT", "20310516220000")
    dataset.add_new(0x4010100A, "SQ", DicomSequence([segment]))
    dataset.add_new(0x40101051, "LO", PLANTED["itinerary"])
    dataset.add_new(0x40101054, "SH", PLANTED["route"])
    dataset.add_new(0x40101058, "SH", PLANTED["carrier"])
    dataset.add_new(0x4010101A, "SH", PLANTED["boarding pass"])
    # Attributes the action table does not list: a person name and free text.
    dataset.ConsultingPhysicianName = f"{PLANTED['operator name']}^Ada"
    dataset.ImagePresentationComments = f"for {PLANTED['consignee']}"
    dataset.add_new(0x60004000, "LT", f"overlay by {PLANTED['operator name']}")  # Overlay Comments (60xx,4000)
    dataset.AcquisitionDate = PLANTED["date"]  # X/Z in the basic profile; shifted with --keep dates
    block = dataset.private_block(0x0011, "ACME VENDOR 1", create=True)
    block.add_new(0x01, "LO", PLANTED["foreign private"])
    dataset.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="session")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with ``cargo/`` (DX + TDR) and ``suitcase/`` (DX, CT + TDR) holding every planted identifier."""
    root = tmp_path_factory.mktemp("planted")
    for kind in ("cargo", "suitcase"):
        nii.write(_planted_scan(kind), root / kind, format="dicos", created_at=CREATED)
        for path in sorted((root / kind).glob("*.dcs")):
            _plant_dicos_attributes(path)
    everything = b"".join(path.read_bytes() for path in root.rglob("*.dcs"))
    for name, value in PLANTED.items():
        assert value.encode() in everything, f"{name} was not planted"
    return root


@pytest.fixture(scope="session")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "exchange.key"
    path.write_bytes(bytes(range(32)))
    return path


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _certificate(
    subject: str, key: rsa.RSAPrivateKey, issuer: str, issuer_key: rsa.RSAPrivateKey, ca: bool
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


def _pem(path: Path, certificate: x509.Certificate) -> Path:
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def flip_pixel(path: Path) -> None:
    """Alter one bit of a DICOM file's pixel data (to show a signature no longer holds)."""
    dataset = pydicom.dcmread(path)
    pixels = bytearray(dataset.PixelData)
    pixels[len(pixels) // 2] ^= 0x01
    dataset.PixelData = bytes(pixels)
    dataset.save_as(path, enforce_file_format=True)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A customs CA, a signer it issued (certificate + key), an unrelated CA, and a stranger: a signer with a
    certificate of its own making (certificate + key)."""
    root = tmp_path_factory.mktemp("pki")
    ca_key, signer_key, other_key, stranger_key = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(4)
    )

    def key(path: Path, private: rsa.RSAPrivateKey) -> Path:
        path.write_bytes(
            private.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
            )
        )
        return path

    return {
        "ca": _pem(root / "ca.pem", _certificate("Test Customs CA", ca_key, "Test Customs CA", ca_key, True)),
        "cert": _pem(root / "signer.pem", _certificate("Officer Signer", signer_key, "Test Customs CA", ca_key, False)),
        "key": key(root / "signer.key", signer_key),
        "other ca": _pem(root / "other.pem", _certificate("Other CA", other_key, "Other CA", other_key, True)),
        "stranger cert": _pem(
            root / "stranger.pem", _certificate("Stranger", stranger_key, "Stranger", stranger_key, False)
        ),
        "stranger key": key(root / "stranger.key", stranger_key),
    }

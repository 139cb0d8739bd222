"""What the DICOS sender and receiver share: SOP classes, transfer syntaxes, status codes,
AE titles, TLS contexts and safe names for things that come from the network."""

from __future__ import annotations

import hashlib
import re
import ssl
from pathlib import Path

from pydicom.uid import (
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)
from pynetdicom import sop_class
from pynetdicom.service_class import StorageServiceClass

from nii.errors import ConfigurationError
from nii.formats.dicos.dictionary import CT_STORAGE, DX_PRESENTATION_STORAGE, DX_PROCESSING_STORAGE, TDR_STORAGE

__all__ = [
    "DICOS_STORAGE",
    "RECEIVED_TRANSFER_SYNTAXES",
    "VERIFICATION",
    "Status",
    "ae_title",
    "client_tls_context",
    "parse_address",
    "safe_name",
    "server_tls_context",
]

DICOS_STORAGE: dict[str, str] = {
    "DICOSCTImageStorage": CT_STORAGE,
    "DICOSDigitalXRayImageStorageForPresentation": DX_PRESENTATION_STORAGE,
    "DICOSDigitalXRayImageStorageForProcessing": DX_PROCESSING_STORAGE,
    "DICOSThreatDetectionReportStorage": TDR_STORAGE,
}
"""The DICOS storage SOP classes nii sends and receives (keyword → UID)."""

VERIFICATION = "1.2.840.10008.1.1"
"""The Verification SOP class (C-ECHO)."""

RECEIVED_TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
    JPEGLosslessSV1,
    JPEGLossless,
    JPEGLSLossless,
    JPEG2000Lossless,
]
"""Every transfer syntax nii writes (and the reference toolkit's), all lossless."""


class Status:
    """DIMSE C-STORE status codes nii answers with (DICOM PS3.4 B.2.3)."""

    SUCCESS = 0x0000
    OUT_OF_RESOURCES = 0xA700
    NOT_DICOS = 0xA900  # "data set does not match SOP class"
    CANNOT_UNDERSTAND = 0xC000
    NOT_AUTHORIZED = 0x0124  # "refused: not authorized" (PS3.7 C.4): no valid signature from a trusted signer
    WARNINGS = frozenset({0x0001, 0xB000, 0xB006, 0xB007})
    """Stored, with a warning: the object is on the peer."""


def _register_dicos_storage() -> None:
    """pynetdicom knows the DICOS UIDs but not as storage classes: register them once."""
    for keyword, uid in DICOS_STORAGE.items():
        if not hasattr(sop_class, keyword):
            sop_class.register_uid(uid, keyword, StorageServiceClass)


_register_dicos_storage()

_AE_TITLE = re.compile(r"[\x20-\x5b\x5d-\x7e]{1,16}")  # printable ASCII but backslash, at most 16


def ae_title(text: str) -> str:
    """Check an Application Entity title (1 to 16 printable characters, no backslash).

    >>> ae_title("NII_SCP")
    'NII_SCP'
    """
    if not _AE_TITLE.fullmatch(text) or not text.strip():
        raise ConfigurationError(f"invalid AE title {text!r}: 1 to 16 printable ASCII characters, no backslash")
    return text.strip()


def parse_address(text: str) -> tuple[str, int]:
    """``"HOST:PORT"`` → (host, port); IPv6 hosts in brackets.

    >>> parse_address("127.0.0.1:11112")
    ('127.0.0.1', 11112)
    """
    host, separator, port = text.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(f"address {text!r} is not HOST:PORT")
    return host, int(port)


_UID = re.compile(r"[0-9]+(\.[0-9]+)*")


def safe_name(uid: object) -> str:
    """A file-name component for a UID received from the network.

    A valid UID (digits and dots, at most 64 characters) is its own name; anything else
    becomes ``invalid-`` and a digest, so no received value can name a path outside the store.

    >>> safe_name("1.2.3")
    '1.2.3'
    >>> safe_name("../../etc/passwd")
    'invalid-3754d6cb3a38e118'
    """
    text = str(uid)
    if len(text) <= 64 and _UID.fullmatch(text):
        return text
    return "invalid-" + hashlib.sha256(text.encode(errors="replace")).hexdigest()[:16]


def _path(value: str | Path, what: str) -> str:
    path = Path(value)
    if not path.is_file():
        raise ConfigurationError(f"{what} file not found", path=path)
    return str(path)


def server_tls_context(*, cert: str | Path, key: str | Path, ca: str | Path | None = None) -> ssl.SSLContext:
    """TLS 1.2+ for a server; with ``ca`` every client must show a certificate that CA signed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(_path(cert, "certificate"), _path(key, "private key"))
        if ca is not None:
            context.load_verify_locations(_path(ca, "CA certificate"))
            context.verify_mode = ssl.CERT_REQUIRED
    except ssl.SSLError as error:
        raise ConfigurationError(f"TLS set-up failed: {error}") from error
    return context


def client_tls_context(
    *, ca: str | Path | None = None, cert: str | Path | None = None, key: str | Path | None = None
) -> ssl.SSLContext:
    """TLS 1.2+ for a client, verifying the server's certificate and name (against ``ca``,
    or the system's CAs); ``cert`` and ``key`` are the client's own certificate."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        if ca is not None:
            context.load_verify_locations(_path(ca, "CA certificate"))
        if (cert is None) != (key is None):
            raise ConfigurationError("a client certificate needs both --cert and --key")
        if cert is not None and key is not None:
            context.load_cert_chain(_path(cert, "certificate"), _path(key, "private key"))
    except ssl.SSLError as error:
        raise ConfigurationError(f"TLS set-up failed: {error}") from error
    return context

"""DICOM digital signatures (PS3.15 Annex C, PS3.3 C.12.1.1.3) on DICOS files, interoperable with dcmtk's dcmsign.

A signature is an item of the Digital Signatures Sequence (FFFA,FFFA) with the signer's
X.509 certificate (DER), plus an item of the MAC Parameters Sequence (4FFE,0001) that says
which elements were signed (Data Elements Signed (0400,0020)), the MAC algorithm and the
transfer syntax of the byte stream. The byte stream is the one dcmsign builds (checked
byte for byte against ``dcmsign --dump``):

* every signed element as in Explicit VR Little Endian: tag, VR, length, value;
* a sequence as its tag and VR (``SQ`` + two zero bytes) without length, each item as the
  item tag (FFFE,E000) without length followed by its elements, and the sequence delimitation
  tag (FFFE,E0DD) without length; encapsulated pixel data likewise, as VR OB (also where the
  file says OW), each fragment as its item tag and bytes;
* then, from the Digital Signatures item, MAC ID Number, Digital Signature UID, Digital
  Signature DateTime and Certificate Type.

The signature is RSA (PKCS #1 v1.5) over the hash of that stream (Base RSA Digital Signature
Profile); hashing, RSA and X.509 are the ``cryptography`` package's. nii signs every element
of the dataset except the signature sequences themselves (pixels and identifying attributes
included) with SHA-256.

For a receiver (``nii receive``): :func:`verify_dataset` checks a dataset in memory (give it
its ``file_meta`` with the Transfer Syntax UID it arrived in), :func:`verify_file` a file;
``FileVerification.ok`` / ``SignatureCheck.ok`` say whether to accept it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_data_element
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from nii.errors import ConfigurationError, FileAccessError, NiiError, ValidationError
from nii.io import atomic_output

from .deidentify import is_dicom, read_dicom

__all__ = [
    "FileVerification",
    "SignatureCheck",
    "Signer",
    "dicom_files",
    "load_authorities",
    "sign_dataset",
    "sign_file",
    "signature_stream",
    "verify_dataset",
    "verify_file",
]

DIGITAL_SIGNATURES = 0xFFFAFFFA
MAC_PARAMETERS = 0x4FFE0001
_NOT_SIGNABLE = frozenset({DIGITAL_SIGNATURES, MAC_PARAMETERS, 0xFFFCFFFC})
_ITEM, _SEQUENCE_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0"
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
    "SHA1": hashes.SHA1,
    "MD5": hashes.MD5,
}
"""MAC algorithms (0400,0015) nii verifies; it signs with SHA256. RIPEMD160 (dcmsign's
default) is not in ``cryptography``: such signatures are reported as not checkable."""
CERTIFICATE_TYPE = "X509_1993_SIG"


# ----------------------------------------------------------------------------- byte stream


def _tag_bytes(tag: BaseTag) -> bytes:
    return tag.group.to_bytes(2, "little") + tag.elem.to_bytes(2, "little")


def _element_bytes(element: DataElement | RawDataElement) -> bytes:
    if isinstance(element, RawDataElement) and element.length == 0xFFFFFFFF:
        # Encapsulated pixel data is a pixel sequence, VR OB, even where a writer labelled it OW
        # (the reference DICOS toolkit does): dcmtk streams it as OB.
        return _tag_bytes(Tag(element.tag)) + b"OB\0\0" + _fragments(bytes(element.value or b""))
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_data_element(buffer, element)
    return buffer.getvalue()


def _fragments(value: bytes) -> bytes:
    """Encapsulated fragments as dcmsign streams them: each item tag and its bytes, no lengths."""
    out, position = [], 0
    while position + 8 <= len(value):
        tag, length = value[position : position + 4], int.from_bytes(value[position + 4 : position + 8], "little")
        if tag == _SEQUENCE_END:
            break
        if tag != _ITEM or position + 8 + length > len(value):
            raise ValidationError(f"encapsulated pixel data is malformed at byte {position}")
        out.append(_ITEM + value[position + 8 : position + 8 + length])
        position += 8 + length
    return b"".join(out) + _SEQUENCE_END


def _stream_of(item: Dataset, tag: BaseTag, out: list[bytes], *, as_stored: bool) -> None:
    """Append the signature encoding of one element; ``as_stored``: the file's bytes are
    Explicit VR Little Endian, so raw values go out unchanged (else they are re-encoded)."""
    raw = item.get_item(tag)
    if raw is None:
        raise ValidationError(f"signed element {tag} is missing")
    element: DataElement | RawDataElement = raw
    if not as_stored or raw.VR in (None, "UN", "SQ") or not isinstance(raw, RawDataElement):
        element = item[tag]  # converted: the VR from the dictionary, sequences as datasets
    if element.VR != "SQ":
        out.append(_element_bytes(element))
        return
    out.append(_tag_bytes(tag) + b"SQ\0\0")
    for child in element.value or []:
        out.append(_ITEM)
        for child_tag in list(child.keys()):
            _stream_of(child, child_tag, out, as_stored=as_stored)
    out.append(_SEQUENCE_END)


def _mac_transfer_syntax(dataset: Dataset) -> UID:
    """The file's transfer syntax when it encodes the dataset in Explicit VR Little Endian
    (uncompressed or encapsulated pixels: dcmsign signs compressed files in their own syntax),
    else Explicit VR Little Endian itself."""
    syntax = _file_syntax(dataset)
    return syntax if _explicit_little_endian(syntax) else ExplicitVRLittleEndian


def _file_syntax(dataset: Dataset) -> UID:
    return UID(str(getattr(dataset, "file_meta", Dataset()).get("TransferSyntaxUID", ExplicitVRLittleEndian)))


def _explicit_little_endian(syntax: UID) -> bool:
    """Whether a transfer syntax stores the dataset as Explicit VR Little Endian (not deflated)."""
    return (
        syntax.is_transfer_syntax and not syntax.is_implicit_VR and syntax.is_little_endian and not syntax.is_deflated
    )


def signable_tags(dataset: Dataset) -> list[BaseTag]:
    """Every top-level element a signature covers: all but the signature sequences, padding, group
    lengths and, as dcmtk decides, elements of unknown VR (UN) or sequences holding one."""
    return [
        tag
        for tag in list(dataset.keys())
        if int(tag) not in _NOT_SIGNABLE and tag.element != 0 and not _holds_unknown(dataset, tag)
    ]


def _holds_unknown(item: Dataset, tag: BaseTag) -> bool:
    raw = item.get_item(tag)
    if raw is None or raw.VR == "UN":
        return True
    if raw.VR != "SQ":
        return False
    return any(_holds_unknown(child, child_tag) for child in item[tag].value for child_tag in list(child.keys()))


def signature_stream(dataset: Dataset, tags: Iterable[BaseTag], signature_item: Dataset) -> bytes:
    """The byte stream whose hash is signed (see the module doc); ``tags`` in ascending order.

    Examples
    --------
    >>> dataset, item = Dataset(), Dataset()
    >>> dataset.PatientID = "X1"
    >>> item.MACIDNumber, item.DigitalSignatureUID = 0, "2.25.1"
    >>> item.DigitalSignatureDateTime, item.CertificateType = "20260101000000", "X509_1993_SIG"
    >>> signature_stream(dataset, signable_tags(dataset), item)[:10]  # (0010,0020) LO, length 2, "X1"
    b'\\x10\\x00 \\x00LO\\x02\\x00X1'
    """
    out: list[bytes] = []
    as_stored = _explicit_little_endian(_file_syntax(dataset))
    for tag in sorted(Tag(t) for t in tags):
        _stream_of(dataset, tag, out, as_stored=as_stored)
    for keyword in ("MACIDNumber", "DigitalSignatureUID", "DigitalSignatureDateTime", "CertificateType"):
        out.append(_element_bytes(signature_item[keyword]))
    return b"".join(out)


# ----------------------------------------------------------------------------- signing


@dataclass(frozen=True)
class Signer:
    """An RSA private key and its X.509 certificate (PEM files)."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)

    @classmethod
    def from_files(cls, certificate: str | os.PathLike[str], key: str | os.PathLike[str]) -> Signer:
        """Load a PEM certificate and an unencrypted PEM RSA key; they must belong together."""
        try:
            cert = x509.load_pem_x509_certificate(Path(certificate).read_bytes())
        except OSError as error:
            raise FileAccessError(f"cannot read the certificate: {error.strerror}", path=certificate) from error
        except ValueError as error:
            raise ConfigurationError(f"not a PEM X.509 certificate: {error}", path=certificate) from error
        try:
            private = serialization.load_pem_private_key(Path(key).read_bytes(), password=None)
        except OSError as error:
            raise FileAccessError(f"cannot read the key: {error.strerror}", path=key) from error
        except (ValueError, TypeError, UnsupportedAlgorithm) as error:
            raise ConfigurationError(f"not an unencrypted PEM private key: {error}", path=key) from error
        if not isinstance(private, rsa.RSAPrivateKey):
            raise ConfigurationError("the Base RSA signature profile needs an RSA key", path=key)
        if private.public_key().public_numbers() != cert.public_key().public_numbers():  # type: ignore[union-attr]
            raise ConfigurationError("the key does not belong to the certificate", path=key)
        return cls(cert, private)


def sign_dataset(dataset: Dataset, signer: Signer, *, moment: datetime | None = None) -> str:
    """Add a signature over every signable element of ``dataset``; return the Digital Signature UID."""
    tags = signable_tags(dataset)
    signatures = dataset.get("DigitalSignaturesSequence") or DicomSequence()
    parameters = dataset.get("MACParametersSequence") or DicomSequence()
    mac_id = 1 + max((int(item.MACIDNumber) for item in parameters if "MACIDNumber" in item), default=-1)
    item = Dataset()
    item.MACIDNumber = mac_id
    item.DigitalSignatureUID = generate_uid(prefix=None)
    item.DigitalSignatureDateTime = (moment or datetime.now(UTC)).strftime("%Y%m%d%H%M%S.%f%z")
    item.CertificateType = CERTIFICATE_TYPE
    item.CertificateOfSigner = signer.certificate.public_bytes(serialization.Encoding.DER)
    stream = signature_stream(dataset, tags, item)
    item.Signature = signer.private_key.sign(stream, padding.PKCS1v15(), hashes.SHA256())
    mac = Dataset()
    mac.MACIDNumber = mac_id
    mac.MACCalculationTransferSyntaxUID = _mac_transfer_syntax(dataset)
    mac.MACAlgorithm = "SHA256"
    mac.DataElementsSigned = [int(tag) for tag in tags]
    parameters.append(mac)
    signatures.append(item)
    dataset.MACParametersSequence = parameters
    dataset.DigitalSignaturesSequence = signatures
    return str(item.DigitalSignatureUID)


def sign_file(path: str | os.PathLike[str], signer: Signer, *, out: str | os.PathLike[str] | None = None) -> str:
    """Sign a DICOM file in place (or into ``out``), atomically; return the Digital Signature UID."""
    path = Path(path)
    dataset = read_dicom(path)
    if not _explicit_little_endian(_file_syntax(dataset)):
        # Implicit VR leaves each reader to guess VRs (and dcmtk does not sign what it cannot type).
        raise ConfigurationError(
            f"transfer syntax {_file_syntax(dataset)} is not signed here: convert the file to Explicit VR "
            "Little Endian first (dcmconv +te)",
            path=path,
        )
    uid = sign_dataset(dataset, signer)
    with atomic_output(Path(out) if out is not None else path) as temporary:
        dataset.save_as(temporary, enforce_file_format=True)
    return uid


# ----------------------------------------------------------------------------- verifying


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of one signature: who signed, when, and whether it holds."""

    uid: str
    signer: str
    signed_at: str
    algorithm: str
    elements: int
    valid: bool
    trusted: bool | None = None  # None: no CA given
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.valid and self.trusted is not False


@dataclass(frozen=True)
class FileVerification:
    """Every signature of one file (none: the file is not signed)."""

    path: str
    signatures: tuple[SignatureCheck, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.signatures) and all(check.ok for check in self.signatures)


def _certificate(data: bytes) -> x509.Certificate:
    # OB values are padded to an even length: read exactly the DER SEQUENCE.
    if len(data) >= 2 and data[1] & 0x80:
        count = data[1] & 0x7F
        size = 2 + count + int.from_bytes(data[2 : 2 + count])
    else:
        size = 2 + (data[1] if len(data) > 1 else 0)
    return x509.load_der_x509_certificate(data[:size])


def _trusted(certificate: x509.Certificate, authorities: Sequence[x509.Certificate], moment: datetime) -> str:
    """ "" when ``certificate`` is one of the authorities or directly issued by one and valid at ``moment``."""
    if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
        return "certificate not valid at the signature time"
    for authority in authorities:
        if authority == certificate:
            return ""
        try:
            certificate.verify_directly_issued_by(authority)
        except (ValueError, TypeError, InvalidSignature):
            continue
        return ""
    return "certificate not issued by a trusted authority"


def _signed_at(text: str) -> datetime:
    for pattern in ("%Y%m%d%H%M%S.%f%z", "%Y%m%d%H%M%S%z", "%Y%m%d%H%M%S.%f", "%Y%m%d%H%M%S"):
        try:
            moment = datetime.strptime(text, pattern)
        except ValueError:
            continue
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.now(UTC)


def _check(
    dataset: Dataset, item: Dataset, parameters: dict[int, Dataset], authorities: Sequence[x509.Certificate] | None
) -> SignatureCheck:
    uid, signed_at = str(item.get("DigitalSignatureUID", "")), str(item.get("DigitalSignatureDateTime", ""))
    mac = parameters.get(int(item.get("MACIDNumber", -1)))
    signer, algorithm, elements = "?", "?", 0

    def failed(problem: str) -> SignatureCheck:
        return SignatureCheck(uid, signer, signed_at, algorithm, elements, False, None, problem)

    try:
        certificate = _certificate(bytes(item.get("CertificateOfSigner") or b""))
    except ValueError as error:
        return failed(f"unreadable certificate: {error}")
    signer = certificate.subject.rfc4514_string()
    if mac is None:
        return failed("no MAC Parameters item with its MAC ID Number")
    algorithm = str(mac.get("MACAlgorithm", ""))
    if algorithm not in _HASHES:
        return failed(f"MAC algorithm {algorithm!r} cannot be checked")
    mac_syntax = str(mac.get("MACCalculationTransferSyntaxUID", ""))
    if mac_syntax != _mac_transfer_syntax(dataset):
        return failed(f"MAC transfer syntax {mac_syntax} is not the one this file can be checked in")
    listed = mac.get(0x04000020)  # by tag: the element, not its value
    values = [] if listed is None or listed.is_empty else (listed.value if listed.VM > 1 else [listed.value])
    tags = [Tag(value) for value in values] or signable_tags(dataset)
    elements = len(tags)
    try:
        stream = signature_stream(dataset, tags, item)
    except ValidationError as error:
        return failed(error.problem)
    public = certificate.public_key()
    if not isinstance(public, rsa.RSAPublicKey):
        return failed("not an RSA certificate")
    try:
        public.verify(bytes(item.get("Signature") or b""), stream, padding.PKCS1v15(), _HASHES[algorithm]())
    except InvalidSignature:
        return failed("signature does not match the data (altered after signing)")
    trusted = None
    problem = ""
    if authorities is not None:
        problem = _trusted(certificate, authorities, _signed_at(signed_at))
        trusted = not problem
    return SignatureCheck(uid, signer, signed_at, algorithm, elements, True, trusted, problem)


def verify_dataset(dataset: Dataset, *, authorities: Sequence[x509.Certificate] | None = None) -> list[SignatureCheck]:
    """Check every signature of ``dataset`` (top level); empty when it has none.

    ``authorities``: trusted CA certificates; each signer must be one of them or directly
    issued by one (``trusted``), else only the mathematics is checked (``trusted`` None).
    """
    items = dataset.get("MACParametersSequence") or []
    parameters = {int(item.MACIDNumber): item for item in items if "MACIDNumber" in item}
    return [_check(dataset, item, parameters, authorities) for item in dataset.get("DigitalSignaturesSequence") or []]


def dicom_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The files named, and the DICOM Part 10 files under the folders named (sorted)."""
    files: list[Path] = []
    for item in map(Path, paths):
        if item.is_dir():
            files.extend(path for path in sorted(item.rglob("*")) if path.is_file() and is_dicom(path))
        else:
            files.append(item)
    return files


def load_authorities(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """The certificates of a PEM bundle."""
    try:
        return x509.load_pem_x509_certificates(Path(path).read_bytes())
    except OSError as error:
        raise FileAccessError(f"cannot read the CA file: {error.strerror}", path=path) from error
    except ValueError as error:
        raise ConfigurationError(f"not PEM certificates: {error}", path=path) from error


def verify_file(
    path: str | os.PathLike[str], *, authorities: Sequence[x509.Certificate] | None = None
) -> FileVerification:
    """Check the signatures of one file; a file that cannot be read gives ``error``, not an exception."""
    try:
        dataset = read_dicom(Path(path))
    except NiiError as error:
        return FileVerification(str(path), error=str(error))
    return FileVerification(str(path), tuple(verify_dataset(dataset, authorities=authorities)))

"""A DICOS storage SCP: validate every received object, store it atomically, one folder per scan.

Layout of the store::

    STORE/<Study Instance UID>/<SOP Instance UID>.dcs   received objects, grouped by scan
    STORE/converted/<Study Instance UID>[.suffix]       with a conversion recipe
    STORE/.incoming/                                    objects being written or checked

Every name comes from :func:`~nii.network.common.safe_name`, so nothing a peer sends can
name a path outside the store. A scan counts as complete, and is converted, when the
association that brought its objects is released.

Examples
--------
>>> receiver = Receiver(ReceiverOptions(store=Path("inbox"), port=11112))   # doctest: +SKIP
>>> receiver.serve_until_signal()                                           # doctest: +SKIP
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filereader import read_dataset
from pydicom.filewriter import write_file_meta_info
from pydicom.tag import BaseTag
from pynetdicom import AE, evt
from pynetdicom.events import Event

from nii.errors import ConfigurationError, NiiError
from nii.formats.dicos.dictionary import META_VERSION, PIXEL_DATA
from nii.formats.dicos.files import NII_IMPLEMENTATION_UID, NII_IMPLEMENTATION_VERSION
from nii.formats.dicos.files import read_dataset as read_file
from nii.formats.dicos.validate import validate_file
from nii.io import atomic_output
from nii.pipeline import Job, Recipe, run_job

from .common import DICOS_STORAGE, RECEIVED_TRANSFER_SYNTAXES, VERIFICATION, Status, ae_title, safe_name

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["Receiver", "ReceiverOptions"]

log = logging.getLogger(__name__)

DICOS_VERSION = 0x4010103A
"""DICOS Version in the dataset: copied to the file meta's (0002,0004), which a transfer loses."""
MAX_PDU = 1 << 20
"""Largest PDU we receive: big PDUs mean fewer trips through pynetdicom's Python loops for a large scan."""
ARRIVING_SLACK = 2 * MAX_PDU
"""Bytes an arriving object may pass the size limit by before its association is aborted: its command set
and the PDU it completes in (an object within them gets A700 when complete)."""
INCOMING = ".incoming"
CONVERTED = "converted"


@dataclass(frozen=True)
class ReceiverOptions:
    """How the storage SCP listens and what it accepts."""

    store: Path
    port: int
    host: str = "127.0.0.1"
    ae_title: str = "NII"
    allow: frozenset[str] | None = None
    """Calling AE titles allowed to associate; None: any."""
    tls: ssl.SSLContext | None = None
    recipe: Recipe | None = None
    """Convert every complete scan with this recipe; None: store only."""
    max_object_bytes: int = 4 << 30
    max_associations: int = 4
    trusted_signers: tuple[x509.Certificate, ...] | None = None
    """Require DICOM digital signatures: every object must be signed, and each of its signatures must hold
    and come from one of these certificates or one they issued directly (a signer's own or its CA's).
    None: signatures are not required."""

    def __post_init__(self) -> None:
        ae_title(self.ae_title)
        for title in self.allow or ():
            ae_title(title)
        if self.max_object_bytes < 1 or self.max_associations < 1:
            raise ConfigurationError("the object size and association limits must be positive")
        if self.trusted_signers is not None and not self.trusted_signers:
            raise ConfigurationError("signatures are required but no signer or authority is trusted")
        if not self.store.is_dir():
            raise ConfigurationError("store folder does not exist", path=self.store)


@dataclass
class _Tally:
    """What one association brought: for its log line and the scans to convert."""

    peer: str
    calling: str
    stored: int = 0
    refused: int = 0
    bytes: int = 0
    scans: set[str] = field(default_factory=set)
    arriving: int = 0
    """Bytes received since the last complete object (the one arriving, as pynetdicom collects it)."""


def _at_pixel_data(tag: BaseTag, vr: str | None, length: int) -> bool:
    return tag >= PIXEL_DATA


class _Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


class Receiver:
    """The storage SCP of :class:`ReceiverOptions`; :meth:`start` it, :meth:`stop` it."""

    def __init__(self, options: ReceiverOptions) -> None:
        self.options = options
        self.incoming = options.store / INCOMING
        self._tallies: dict[int, _Tally] = {}
        self._lock = threading.Lock()
        self._converter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nii-convert")
        self._server: Any = None
        self._ae = AE(ae_title=options.ae_title)
        self._ae.maximum_associations = options.max_associations
        self._ae.maximum_pdu_size = MAX_PDU
        self._ae.require_called_aet = True
        if options.allow is not None:
            self._ae.require_calling_aet = sorted(options.allow)
        self._ae.add_supported_context(VERIFICATION)
        for uid in DICOS_STORAGE.values():
            self._ae.add_supported_context(uid, RECEIVED_TRANSFER_SYNTAXES)

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when the options said 0)."""
        return int(self._server.server_address[1])

    def start(self) -> None:
        """Clear what an earlier run left half-written, then listen (returns at once)."""
        shutil.rmtree(self.incoming, ignore_errors=True)
        self.incoming.mkdir()
        handlers: list[Any] = [
            (evt.EVT_DATA_RECV, self._on_data),
            (evt.EVT_C_STORE, self._on_store),
            (evt.EVT_ESTABLISHED, self._on_established),
            (evt.EVT_RELEASED, self._on_ended),
            (evt.EVT_ABORTED, self._on_ended),
            (evt.EVT_REJECTED, self._on_rejected),
        ]
        try:
            self._server = self._ae.start_server(
                (self.options.host, self.options.port), block=False, ssl_context=self.options.tls, evt_handlers=handlers
            )
        except OSError as error:
            raise ConfigurationError(
                f"cannot listen on {self.options.host}:{self.options.port}: {error.strerror}"
            ) from error
        tls = " (TLS)" if self.options.tls else ""
        log.info("receiving DICOS as %s on %s:%d%s", self.options.ae_title, self.options.host, self.port, tls)

    def stop(self, *, grace: float = 10.0) -> None:
        """Stop listening, let open associations finish for ``grace`` seconds, abort the rest,
        and finish the conversions under way."""
        if self._server is None:
            return
        server, self._server = self._server, None
        deadline = time.monotonic() + grace
        while server.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        for association in server.active_associations:
            association.abort()
        server.shutdown()
        self._converter.shutdown(wait=True)
        log.info("receiver stopped")

    def serve_until_signal(self) -> None:
        """Serve until SIGINT or SIGTERM, then stop gracefully."""
        stopping = threading.Event()

        def on_signal(number: int, frame: FrameType | None) -> None:
            stopping.set()

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            self.start()
            while not stopping.wait(0.5):
                pass
        finally:
            self.stop()
            for number, handler in previous.items():
                signal.signal(number, handler)

    # ------------------------------------------------------------------ events

    def _on_established(self, event: Event) -> None:
        requestor = event.assoc.requestor
        with self._lock:
            self._tallies[id(event.assoc)] = _Tally(f"{requestor.address}:{requestor.port}", requestor.ae_title)

    def _on_rejected(self, event: Event) -> None:
        requestor = event.assoc.requestor
        log.warning(
            "association from %s@%s:%s rejected (AE title not allowed, wrong called AE, or too many associations)",
            requestor.ae_title,
            requestor.address,
            requestor.port,
        )

    def _on_ended(self, event: Event) -> None:
        with self._lock:
            tally = self._tallies.pop(id(event.assoc), None)
        if tally is None:
            return
        result = "released" if event.event is evt.EVT_RELEASED else "aborted"
        log.info(
            "association from %s@%s to %s %s: %d stored (%d bytes), %d refused",
            tally.calling,
            tally.peer,
            self.options.ae_title,
            result,
            tally.stored,
            tally.bytes,
            tally.refused,
        )
        if self.options.recipe is not None and event.event is evt.EVT_RELEASED:
            for scan in sorted(tally.scans):
                self._converter.submit(self._convert, scan)

    def _on_data(self, event: Event) -> None:
        """Abort an association whose object grows past the size limit, before pynetdicom has collected
        it whole (it holds a C-STORE's data set in memory until the last fragment): the PDUs of a
        peer's object are counted as they arrive. Up to :data:`ARRIVING_SLACK` over the limit, the
        object is answered A700 once complete instead."""
        tally = self._tallies.get(id(event.assoc))
        limit = self.options.max_object_bytes + ARRIVING_SLACK
        if tally is None or tally.arriving > limit:  # (already aborted)
            return
        tally.arriving += len(event.data)
        if tally.arriving > limit:
            log.warning(
                "aborting the association from %s@%s: an object passed %d bytes, over the limit %d",
                tally.calling,
                tally.peer,
                tally.arriving,
                self.options.max_object_bytes,
            )
            event.assoc.abort(block=False)  # from pynetdicom's own thread: queued, not waited for

    def _on_store(self, event: Event) -> int | Dataset:
        with self._lock:
            tally = self._tallies.setdefault(id(event.assoc), _Tally("?", "?"))
        tally.arriving = 0  # this object is complete; the next one's bytes are counted afresh
        try:
            path, size, scan = self._receive(event)
        except _Refusal as refusal:
            tally.refused += 1
            instance = getattr(event.request, "AffectedSOPInstanceUID", "?")
            log.warning("refused %s from %s@%s: %s", instance, tally.calling, tally.peer, refusal)
            answer = Dataset()
            answer.Status = refusal.status
            answer.ErrorComment = str(refusal)[:64]  # LO: the sender sees why
            return answer
        tally.stored += 1
        tally.bytes += size
        tally.scans.add(scan)
        log.info("stored %s", path)
        return Status.SUCCESS

    # ------------------------------------------------------------------ storing

    def _receive(self, event: Event) -> tuple[Path, int, str]:
        encoded = event.encoded_dataset(include_meta=False)
        if len(encoded) > self.options.max_object_bytes:
            raise _Refusal(
                Status.OUT_OF_RESOURCES, f"{len(encoded)} bytes, over the limit {self.options.max_object_bytes}"
            )
        context_class = str(event.context.abstract_syntax)
        syntax = event.context.transfer_syntax
        assert syntax is not None  # an accepted context always has one
        try:
            # The header only: decoding Pixel Data would copy the largest part for nothing.
            dataset = read_dataset(
                BytesIO(encoded), syntax.is_implicit_VR, syntax.is_little_endian, stop_when=_at_pixel_data
            )
            sop_class, instance = str(dataset.SOPClassUID), str(dataset.SOPInstanceUID)
            scan = safe_name(dataset.get("StudyInstanceUID", ""))
            version = dataset.get(DICOS_VERSION)
        except Exception as error:  # a peer's bytes can make the decoder raise anything
            raise _Refusal(Status.CANNOT_UNDERSTAND, f"cannot decode the dataset: {error}") from error
        if sop_class != context_class:
            raise _Refusal(Status.NOT_DICOS, f"SOP class {sop_class} sent as {context_class}")
        announced = str(getattr(event.request, "AffectedSOPInstanceUID", ""))
        if instance != announced:
            raise _Refusal(Status.NOT_DICOS, f"SOP instance {instance} sent as {announced}")
        meta = event.file_meta
        meta.ImplementationClassUID = NII_IMPLEMENTATION_UID
        meta.ImplementationVersionName = NII_IMPLEMENTATION_VERSION
        meta.SourceApplicationEntityTitle = event.assoc.requestor.ae_title
        if version is not None:  # DICOS readers need it in the meta, which the transfer did not carry
            meta.add_new(META_VERSION, "CS", str(version.value))
        header = DicomBytesIO()
        header.write(b"\0" * 128 + b"DICM")
        write_file_meta_info(header, meta, enforce_standard=True)
        staged = self.incoming / f"{uuid.uuid4().hex}.dcs"
        target = self.options.store / scan / f"{safe_name(instance)}.dcs"
        try:
            with atomic_output(staged) as partial:
                with open(partial, "wb") as handle:
                    handle.write(header.getvalue())
                    handle.write(encoded)
                if self.options.trusted_signers is not None:
                    self._check_signatures(partial, self.options.trusted_signers, implicit=syntax.is_implicit_VR)
                self._check(partial)
            target.parent.mkdir(exist_ok=True)
            os.replace(staged, target)
        except (OSError, NiiError) as error:  # disk full, store removed, ...: the peer may try again later
            with suppress(OSError):
                staged.unlink(missing_ok=True)
            raise _Refusal(Status.OUT_OF_RESOURCES, f"cannot store: {error}") from error
        return target, len(encoded), scan

    @staticmethod
    def _check(path: Path) -> None:
        """Refuse what nii cannot read (status C000) or what is not conformant DICOS (A900)."""
        try:
            read_file(path, stop_before_pixels=True)
        except NiiError as error:
            raise _Refusal(Status.CANNOT_UNDERSTAND, error.problem) from error
        errors = validate_file(path).errors
        if errors:
            raise _Refusal(
                Status.NOT_DICOS, "; ".join(f"{finding.tag or ''} {finding.message}".strip() for finding in errors[:3])
            )

    @staticmethod
    def _check_signatures(path: Path, trusted: tuple[x509.Certificate, ...], *, implicit: bool) -> None:
        """Refuse (status 0124, not authorized) an object without signatures, or with one that does not hold
        or whose signer is not trusted. Signatures cover the explicit VRs, which Implicit VR transfers drop:
        such a failure says so."""
        from nii.exchange.sign import verify_file

        verification = verify_file(path, authorities=trusted)
        if verification.error:
            raise _Refusal(Status.NOT_AUTHORIZED, f"signature not checked: {verification.error}")
        if not verification.signatures:
            raise _Refusal(Status.NOT_AUTHORIZED, "not signed")
        for check in verification.signatures:
            if implicit and not check.valid:
                raise _Refusal(Status.NOT_AUTHORIZED, "signature fails on Implicit VR data; send Explicit VR")
            if not check.ok:
                raise _Refusal(Status.NOT_AUTHORIZED, f"{check.problem}: signed by {check.signer}")

    def _convert(self, scan: str) -> None:
        recipe = self.options.recipe
        assert recipe is not None
        converted = self.options.store / CONVERTED
        converted.mkdir(exist_ok=True)
        result = run_job(Job(self.options.store / scan, converted / f"{scan}{recipe.suffix}"), recipe)
        if result.status == "ok":
            log.info("converted scan %s to %s (%d bytes)", scan, result.output, result.bytes)
        else:
            log.error("conversion of scan %s failed: %s", scan, result.error)

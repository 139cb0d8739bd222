"""DICOS over DICOM networking (pynetdicom): send scans to a storage SCP, receive them as one.

:func:`send` is the storage SCU of ``nii send``; :class:`Receiver` the storage SCP of
``nii receive`` (validation, atomic storage per scan, optional conversion). TLS contexts
come from :func:`client_tls_context` and :func:`server_tls_context`.
"""

from .common import DICOS_STORAGE, Status, client_tls_context, parse_address, safe_name, server_tls_context
from .receive import Receiver, ReceiverOptions
from .send import Peer, SendResult, dicos_files_of, send

__all__ = [
    "DICOS_STORAGE",
    "Peer",
    "Receiver",
    "ReceiverOptions",
    "SendResult",
    "Status",
    "client_tls_context",
    "dicos_files_of",
    "parse_address",
    "safe_name",
    "send",
    "server_tls_context",
]

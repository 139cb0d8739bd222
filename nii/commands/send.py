"""``nii send PATH... --to HOST:PORT --called-ae AE``: C-STORE DICOS scans to a storage SCP."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from nii.errors import ConfigurationError

REPORT_FIELDS = ["path", "status", "code", "bytes", "seconds", "message"]


def add_tls_arguments(parser: argparse.ArgumentParser, *, server: bool) -> None:
    """``--tls --cert --key --ca``, shared by ``nii send`` and ``nii receive``."""
    group = parser.add_argument_group("TLS (1.2 or later)")
    group.add_argument("--tls", action="store_true", help="use TLS")
    own = "this server's" if server else "the client's own (optional)"
    group.add_argument("--cert", metavar="PEM", help=f"{own} certificate")
    group.add_argument("--key", metavar="PEM", help=f"{own} private key")
    trusted = (
        "CA that signs the clients' certificates: when given, clients must show one"
        if server
        else "CA that signs the server's certificate (default: the system's CAs)"
    )
    group.add_argument("--ca", metavar="PEM", help=trusted)


def quiet_library_logs(verbose: int) -> None:
    """pynetdicom logs every refused connection with a traceback: keep its log for ``-vv``;
    nii's own lines say what failed."""
    logging.getLogger("pynetdicom").setLevel(logging.DEBUG if verbose >= 2 else logging.CRITICAL)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send",
        help="send DICOS scans to a DICOM storage SCP (C-ECHO, then C-STORE of every file)",
        description="Send every DICOS file of the given files and folders (walked recursively) in its own transfer "
        "syntax. A dropped association is retried with back-off. Exit 1 if any file was not stored.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOS files or scan folders")
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="the storage SCP")
    parser.add_argument("--called-ae", required=True, metavar="AE", help="the SCP's AE title")
    parser.add_argument("--calling-ae", default="NII", metavar="AE", help="our AE title (default NII)")
    parser.add_argument("--retries", type=int, default=3, help="new associations tried per file (default 3)")
    parser.add_argument("--backoff", type=float, default=1.0, help="first wait before a retry, doubling (s)")
    parser.add_argument("--timeout", type=float, default=30.0, help="network and DIMSE timeout (s)")
    parser.add_argument("--report", metavar="FILE", help="per-file report, JSON (.json) or CSV")
    add_tls_arguments(parser, server=False)
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.io import write_table
    from nii.network import Peer, client_tls_context, parse_address, send

    quiet_library_logs(args.verbose)
    host, port = parse_address(args.to)
    if args.retries < 0 or args.backoff < 0 or args.timeout <= 0:
        raise ConfigurationError("--retries and --backoff must not be negative, --timeout must be positive")
    if not args.tls and (args.cert or args.key or args.ca):
        raise ConfigurationError("--cert, --key and --ca need --tls")
    tls = client_tls_context(ca=args.ca, cert=args.cert, key=args.key) if args.tls else None
    peer = Peer(host, port, called_ae=args.called_ae, calling_ae=args.calling_ae, tls=tls, timeout=args.timeout)
    results = send(args.paths, peer, retries=args.retries, backoff=args.backoff)
    if args.report:
        write_table([result.as_dict() for result in results], args.report, fields=REPORT_FIELDS)
    stored = [r for r in results if r.stored]
    for result in results:
        if not result.stored:
            code = f" (status 0x{result.code:04X})" if result.code is not None else ""
            print(f"nii: error: {result.path}: not stored{code}: {result.message}", file=sys.stderr)
    megabytes = sum(r.bytes for r in stored) / 1e6
    seconds = sum(r.seconds for r in results)
    print(
        f"{len(stored)} stored ({megabytes:.1f} MB in {seconds:.1f} s), {len(results) - len(stored)} failed",
        file=sys.stderr,
    )
    return 0 if results and len(stored) == len(results) else 1

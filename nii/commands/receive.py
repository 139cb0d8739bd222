"""``nii receive --port P --store DIR``: a DICOS storage SCP (validates, stores per scan, converts)."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from nii.commands.send import add_tls_arguments, quiet_library_logs
from nii.errors import ConfigurationError
from nii.pipeline import TARGETS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "receive",
        help="receive DICOS scans as a DICOM storage SCP (validated, stored atomically, one folder per scan)",
        description="Accept C-ECHO and C-STORE of DICOS CT, DX and TDR objects. Each object is validated as by "
        "'nii validate' and stored under --store/<scan>/; refused objects get a failure status. Stop with Ctrl-C "
        "or SIGTERM.",
    )
    parser.add_argument("--port", type=int, required=True, help="TCP port (0: any free port)")
    parser.add_argument("--store", required=True, metavar="DIR", help="where received scans go (must exist)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1 only)")
    parser.add_argument("--ae-title", default="NII", metavar="AE", help="our AE title (default NII)")
    parser.add_argument("--allow", metavar="AE,...", help="calling AE titles allowed (default: any)")
    parser.add_argument(
        "--convert", choices=list(TARGETS), metavar="TARGET", help=f"convert each complete scan: {', '.join(TARGETS)}"
    )
    parser.add_argument("--normalize", metavar="SPEC", help="processing steps before --convert (as in nii convert)")
    parser.add_argument("--max-object-bytes", type=int, default=4 << 30, metavar="N", help="largest object accepted")
    parser.add_argument("--max-associations", type=int, default=4, metavar="N", help="concurrent associations")
    parser.add_argument(
        "--require-signature",
        action="store_true",
        help="refuse (status 0124) objects without a valid DICOM digital signature from a --trust signer",
    )
    parser.add_argument(
        "--trust",
        nargs="+",
        metavar="PEM",
        help="certificates trusted to sign (PEM files: signers, or the authorities that issued them)",
    )
    add_tls_arguments(parser, server=True)
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.network import Receiver, ReceiverOptions, server_tls_context
    from nii.pipeline import Recipe

    quiet_library_logs(args.verbose)
    if args.normalize and not args.convert:
        raise ConfigurationError("--normalize needs --convert")
    tls = None
    if args.tls:
        if not args.cert or not args.key:
            raise ConfigurationError("--tls needs --cert and --key")
        tls = server_tls_context(cert=args.cert, key=args.key, ca=args.ca)
    elif args.cert or args.key or args.ca:
        raise ConfigurationError("--cert, --key and --ca need --tls")
    allow = frozenset(t.strip() for t in args.allow.split(",") if t.strip()) if args.allow else None
    if args.require_signature != bool(args.trust):
        raise ConfigurationError("--require-signature and --trust go together")
    trusted = None
    if args.trust:
        from nii.exchange.sign import load_authorities

        trusted = tuple(certificate for path in args.trust for certificate in load_authorities(path))
    options = ReceiverOptions(
        store=Path(args.store),
        port=args.port,
        host=args.host,
        ae_title=args.ae_title,
        allow=allow,
        tls=tls,
        recipe=Recipe.parse(args.normalize, target=args.convert) if args.convert else None,
        max_object_bytes=args.max_object_bytes,
        max_associations=args.max_associations,
        trusted_signers=trusted,
    )
    if not args.quiet:  # a server's log lines (one per association, one per refusal) are its output
        logging.getLogger("nii.network").setLevel(logging.INFO)
    Receiver(options).serve_until_signal()
    return 0

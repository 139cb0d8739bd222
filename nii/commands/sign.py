"""``nii sign PATH... --cert C --key K``: add a PS3.15 digital signature to DICOS files."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nii.errors import NiiError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "sign",
        help="sign DICOS files (DICOM digital signature: X.509 certificate, RSA, SHA-256 over every element)",
        description="Add a signature (Digital Signatures Sequence, Base RSA profile) covering every element of "
        "each file, pixels and identifying attributes included. Files are replaced atomically. dcmtk's "
        "`dcmsign --verify` checks them.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders of them")
    parser.add_argument("--cert", required=True, help="signer's X.509 certificate (PEM)")
    parser.add_argument("--key", required=True, help="signer's RSA private key (PEM, unencrypted)")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.exchange.sign import Signer, dicom_files, sign_file

    signer = Signer.from_files(args.cert, args.key)
    signed = failed = 0
    for path in dicom_files(args.paths):
        try:
            uid = sign_file(path, signer)
        except NiiError as error:
            print(f"nii: error: {error}", file=sys.stderr)
            failed += 1
            continue
        signed += 1
        print(f"{path}: signed by {signer.certificate.subject.rfc4514_string()} ({uid})")
    print(f"{signed} signed, {failed} failed", file=sys.stderr)
    return 1 if failed or not signed else 0

"""``nii verify PATH... [--ca CA]``: check the digital signatures of DICOM files (exit 1 if any fails)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "verify",
        help="check DICOM digital signatures: which files are signed, by whom, whether each holds (exit 1 if not)",
        description="Exit status 1 when any file is unsigned or unreadable, or any signature does not hold "
        "(or, with --ca, its signer is not issued by a trusted authority).",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOM files or folders of them")
    parser.add_argument("--ca", metavar="FILE", help="trusted authorities (PEM bundle); signers must be issued by one")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.exchange.sign import dicom_files, load_authorities, verify_file

    authorities = load_authorities(args.ca) if args.ca else None
    results = [verify_file(path, authorities=authorities) for path in dicom_files(args.paths)]
    if args.json:
        print(json.dumps([{**asdict(r), "ok": r.ok} for r in results], indent=1))
    for result in [] if args.json else results:
        if result.error:
            print(f"{result.path}: ERROR {result.error}")
        elif not result.signatures:
            print(f"{result.path}: not signed")
        for check in result.signatures:
            trust = {None: "", True: ", trusted", False: f", NOT TRUSTED ({check.problem})"}[check.trusted]
            state = "OK" if check.valid else f"FAILED ({check.problem})"
            print(f"{result.path}: {state}: signed by {check.signer} at {check.signed_at}{trust}")
    return 0 if results and all(result.ok for result in results) else 1

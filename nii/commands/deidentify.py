"""``nii deidentify PATH... --out DIR --key-file K``: DICOS files without personal and commercial data."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from nii.exchange.deidentify import KeepOption


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    options = ", ".join(option.value for option in KeepOption)
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "deidentify",
        help="remove identities from DICOS files (PS3.15 basic profile + DICOS attributes, keyed pseudonyms)",
        description="Write de-identified copies of DICOS files and folders under --out: identifiers of the object, "
        "its owner and journey, operator, site, free text and dates removed or replaced; OOI IDs, UIDs and other "
        "replaced values are HMAC-SHA256 pseudonyms under the key, the same in every file and run with one key. "
        "Pixels are untouched. Make a key with e.g. `head -c 32 /dev/urandom > exchange.key` and keep it secret.",
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="DICOS files or folders")
    parser.add_argument("--out", required=True, help="output folder (inputs keep their names)")
    parser.add_argument("--key-file", required=True, metavar="K", help="secret key of the pseudonyms (≥ 16 bytes)")
    parser.add_argument("--keep", default="", metavar="OPTIONS", help=f"retain, comma-separated: {options}")
    parser.add_argument("--report", metavar="FILE", help="JSON report: per file, status and counts of actions")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.exchange.deidentify import Deidentifier, deidentify_paths

    profile = Deidentifier.from_key_file(args.key_file, keep=args.keep)
    results = deidentify_paths(args.paths, args.out, profile, report=args.report)
    failed = [result for result in results if result.status != "ok"]
    for result in failed:
        print(f"nii: error: {result.error}", file=sys.stderr)
    print(f"{len(results) - len(failed)} de-identified, {len(failed)} failed", file=sys.stderr)
    return 1 if failed or not results else 0

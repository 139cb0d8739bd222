"""``nii profile check PROFILE.toml FILE``: compare a raw export with its profile before converting."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "profile", help="work with raw-export profiles (TOML files describing headerless exports)"
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="report mismatches between a profile and a file (size, header, value range); exit 1 if any"
    )
    check.add_argument("profile", help="the TOML profile")
    check.add_argument("files", nargs="+", metavar="FILE", help="raw export(s) to check")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.formats.profile import RawProfile, check_file

    profile = RawProfile.load(args.profile)
    failed = 0
    for path in args.files:
        report = check_file(profile, path)
        print(f"{path}: {'ok' if report.ok else f'{len(report.mismatches)} mismatch(es)'} with {args.profile}")
        for fact in report.facts:
            print(f"  {fact}")
        for mismatch in report.mismatches:
            print(f"  MISMATCH {mismatch}")
        failed += not report.ok
    return 1 if failed else 0

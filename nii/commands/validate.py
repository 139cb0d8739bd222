"""``nii validate PATH...``: check DICOS files against the reference toolkit's requirements."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "validate",
        help="check DICOS files: required attributes, enumerations, encodings, TDR semantics",
        description="Check DICOS DX, CT and TDR files against what the reference toolkit requires, per DICOS "
        "version. Exit status: 0 clean, 1 errors found, 2 a file could not be validated.",
    )
    parser.add_argument(
        "paths", nargs="+", metavar="PATH", help="DICOS files, folders (walked recursively) or glob patterns"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--warnings", action="store_true", help="also list warnings")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.formats.dicos.validate import validate_paths

    reports = validate_paths(args.paths)
    if args.json:
        print(json.dumps([report.as_dict() for report in reports], indent=2))
    else:
        for report in reports:
            if report.failed is not None:
                print(f"{report.path}: cannot validate: {report.failed}")
                continue
            status = "OK" if report.ok else f"{len(report.errors)} error(s)"
            print(f"{report.path}: {report.iod} {report.version or '?'} {status}, {len(report.warnings)} warning(s)")
            shown = report.findings if args.warnings else report.errors
            for finding in shown:
                tag = f"{finding.tag} " if finding.tag else ""
                print(f"  {finding.severity}: {tag}{finding.message}")
        if not reports:
            print("no DICOS files found")
    if not reports or any(report.failed is not None for report in reports):
        return 2
    return 0 if all(report.ok for report in reports) else 1

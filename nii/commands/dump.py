"""``nii dump FILE``: every attribute of a DICOS file, with DICOS names (group 4010 and renamed tags)."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "dump",
        help="list every attribute of a DICOS file with its DICOS name (like dcmdump, in DICOS terms)",
    )
    parser.add_argument("path", metavar="FILE", help="a DICOS .dcs file")
    parser.add_argument("--json", action="store_true", help="machine-readable output (sequences nested)")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.formats.dicos.dump import dump_file

    entries = dump_file(args.path)
    if args.json:
        print(json.dumps([entry.as_dict() for entry in entries], indent=1))
    else:
        for entry in entries:
            for line in entry.lines():
                print(line)
    return 0

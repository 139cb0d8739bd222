"""``nii formats``: what can be read and written."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nii.registry import available


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser("formats", help="list the formats nii reads and writes")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def run(args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {
            "name": fmt.name,
            "read": fmt.can_read_files,
            "write": fmt.can_write_files,
            "extensions": list(fmt.extensions),
            "capabilities": sorted(fmt.capabilities),
            "description": fmt.description,
            "module": type(fmt).__module__,
        }
        for fmt in available()
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<14} {'mode':<5} {'extensions':<18} description")
    for row in rows:
        mode = ("r" if row["read"] else "-") + ("w" if row["write"] else "-")
        print(f"{row['name']:<14} {mode:<5} {' '.join(row['extensions']):<18} {row['description']}")
    return 0

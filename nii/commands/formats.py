"""``nii formats``: what can be read and written, and the options of each reader and writer."""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from typing import Any

from nii.registry import Option, available


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser("formats", help="list the formats nii reads and writes")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


def _options(declared: Mapping[str, Option] | None) -> dict[str, str] | None:
    """Each declared option's one-line description; ``None`` when the format declares none (a plug-in)."""
    return None if declared is None else {name: option.describe() for name, option in declared.items()}


def _option_line(role: str, options: dict[str, str] | None) -> str:
    if options is None:
        return f"{role} options not declared"
    return f"{role} options: {', '.join(options) or 'none'}"


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
            "read_options": _options(fmt.read_options) if fmt.can_read_files else {},
            "write_options": _options(fmt.write_options) if fmt.can_write_files else {},
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
        roles = [("reader", row["read_options"])] if row["read"] else []
        roles += [("writer", row["write_options"])] if row["write"] else []
        print(" " * 21 + "; ".join(_option_line(role, options) for role, options in roles))
    print("(nii formats --json describes each option: type, allowed values, default)")
    return 0

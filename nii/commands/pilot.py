"""``nii pilot run PILOT --out DIR``: run an interoperability pilot and write its report."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pilot",
        help="run a multi-vendor interoperability pilot (pilots/NAME/pilot.toml): results.json and report.html",
        description="Produces (simulated scanners) or collects (real files) every scanner's scans of the pilot's "
        "objects, converts them to DICOS, and measures image quality on test objects, agreement across scanners, "
        "interoperability and conversion throughput.",
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    run = actions.add_parser("run", help="run a pilot")
    run.add_argument("pilot", type=Path, help="pilot folder holding pilot.toml (or the file)")
    run.add_argument("--out", type=Path, required=True, help="output folder (scans, DICOS, pictures, report)")
    check = actions.add_parser("check", help="read and check a pilot.toml without running it")
    check.add_argument("pilot", type=Path, help="pilot folder holding pilot.toml (or the file)")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.pilot import load_pilot, run_pilot

    config = load_pilot(args.pilot)
    if args.action == "check":
        print(f"{config.name}: {len(config.scanners)} scanners, {len(config.objects)} objects: OK")
        return 0
    results = run_pilot(config, args.out)
    agreement = results["agreement"]["summary"]
    print(f"report: {args.out / 'report.html'}")
    print(f"results: {args.out / 'results.json'}")
    same = agreement["same_object_confidence"]
    if same["n"]:
        print(f"agreement of one object across scanners: confidence {same['mean']:.3f} (n={same['n']})")
    for name, entry in results["quality"].items():
        penetration = entry["penetration_mm"]["measured"]
        print(f"{name}: penetration {penetration['mean']:.0f} ± {penetration['std']:.0f} mm steel")
    return 0

"""``nii simulate SCENARIO --out PATH``: a physics-based simulated scan with its ground truth."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from nii.simulate import SCANNERS, SCENARIOS

log = logging.getLogger(__name__)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "simulate",
        help="simulate a raw dual-energy scan (cargo, truck, suitcase, step wedges) with ground truth",
        description="Simulate a scan with the physics of nii.simulate and write it in any writable format, "
        "with the ground truth (SCAN.truth.npz + SCAN.truth.json unless --truth names them) and a PNG preview "
        "beside it. The portal-6/4 scanner (12-bit) writes --format ref-packed12.",
    )
    parser.add_argument("scenario", choices=sorted(SCENARIOS), help="what to scan")
    parser.add_argument("--out", required=True, type=Path, help="output scan file (or folder, for folder formats)")
    parser.add_argument("--format", help="output format (default: from the extension)")
    parser.add_argument("--seed", type=int, default=0, help="random seed: same seed, same bytes (default 0)")
    parser.add_argument("--scanner", choices=sorted(SCANNERS), help="scanner model (default: the scenario's)")
    parser.add_argument("--rows", type=int, help="detector rows (default: the scanner's)")
    parser.add_argument("--lines", type=int, help="scan lines (default: from the scanner's speed and line rate)")
    parser.add_argument("--scale", type=float, default=1.0, help="factor on the default rows and lines")
    parser.add_argument("--speed-variation", type=float, help="relative amplitude of speed changes along the scan")
    parser.add_argument("--threats-in-scan", action="store_true", help="also store the known threats in the scan")
    parser.add_argument(
        "--truth", help="name of the truth files beside the scan (default: the scan's name + .truth, e.g. x.truth.json)"
    )
    parser.add_argument("--no-preview", action="store_true", help="do not write the PNG preview")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.registry import write
    from nii.simulate import preview_image, simulate, write_preview

    scan, truth = simulate(
        args.scenario,
        scanner=args.scanner,
        seed=args.seed,
        rows=args.rows,
        lines=args.lines,
        scale=args.scale,
        speed_variation=args.speed_variation,
        threats_in_scan=args.threats_in_scan,
    )
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    written = write(scan, out, format=args.format)
    written += truth.save(out.parent / (args.truth or f"{out.stem}.truth"))
    if not args.no_preview:
        written.append(write_preview(preview_image(scan, truth.threats), out.with_name(out.stem + ".png")))
    shapes = ", ".join(f"{view.name} {view.shape[0]}×{view.shape[1]}" for view in scan.views)
    print(f"{args.scenario} on {scan.scanner.model}, seed {args.seed}: {shapes}, {len(truth.threats)} known threats")
    for path in written:
        print(f"  wrote {path}")
    return 0

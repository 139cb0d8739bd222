"""``nii compare A B``: register two scans of one object and say how well they agree, with pictures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from nii.commands import add_read_options, read_arguments
from nii.compare import MAX_SIDE_PX, compare_scans, write_pictures


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "compare",
        help="register two scans of one object (any formats, scanners) and measure their agreement",
        description="Brings both scans to attenuation, canonical orientation and one square pixel spacing, registers "
        "the second onto the first (affine), and prints the registration confidence (near 1 for one object, low for "
        "unrelated scans), NCC, SSIM, PSNR, the offset, scales and rotation, and the steel-equivalent difference when "
        "both scanners are known models. --out writes difference, checkerboard and flicker pictures.",
    )
    parser.add_argument("reference", help="first scan (file or folder, any readable format)")
    parser.add_argument("moving", help="second scan, registered onto the first")
    parser.add_argument("--view", help="view to compare (default: the first)")
    parser.add_argument("--channel", help="measured channel to compare (default: high, else single)")
    parser.add_argument(
        "--model", choices=["translation", "travel_scale", "affine"], default="affine", help="registration model"
    )
    parser.add_argument(
        "--max-side", type=int, default=MAX_SIDE_PX, help=f"longest side of the common grid (default {MAX_SIDE_PX})"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--out", type=Path, help="folder for comparison.json and the pictures")
    add_read_options(parser)  # one profile for both: two exports of one scanner
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.io import atomic_output
    from nii.registry import read

    options = read_arguments(args)
    comparison = compare_scans(
        read(args.reference, **options),
        read(args.moving, **options),
        view=args.view,
        channel=args.channel,
        model=args.model,
        max_side_px=args.max_side,
    )
    result = {"reference_path": str(args.reference), "moving_path": str(args.moving), **comparison.to_dict()}
    written: list[Path] = []
    if args.out is not None:
        written = write_pictures(comparison, args.out)
        path = args.out / "comparison.json"
        with atomic_output(path) as temporary:
            temporary.write_text(json.dumps(result, indent=1))
        written.append(path)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    steel = comparison.steel_difference_mm
    found = comparison.parameters
    # One object seen twice registers (converges) with a high confidence; unrelated scans of the same kind of
    # vehicle can share a trailer's structure and reach 0.7 without the registration converging.
    same = comparison.confidence >= 0.8 and comparison.registration.converged
    verdict = "same object" if same else "not the same object?"
    steel_line = (
        f"median |Δ| {steel['median']:.1f} mm, 90 % within {steel['p90']:.1f} mm" if steel else "scanners not known"
    )
    rows, columns = comparison.reference.attenuation.shape
    lines = [
        f"confidence   {comparison.confidence:.3f}  ({verdict})",
        f"registration {'converged' if comparison.registration.converged else 'did not converge'}",
        f"NCC          {comparison.ncc:.3f}",
        f"SSIM         {comparison.ssim:.3f}",
        f"PSNR         {comparison.psnr_db:.1f} dB",
        f"offset       {found['offset_mm'][0]:+.1f} mm down, {found['offset_mm'][1]:+.1f} mm along travel",
        f"scale        {found['scale_rows']:.4f} rows, {found['scale_travel']:.4f} travel",
        f"rotation     {found['rotation_deg']:+.3f}°",
        f"steel        {steel_line}",
        f"grid         {comparison.reference.spacing_mm:.2f} mm pixels, {rows} × {columns}",
    ]
    print("\n".join(lines))
    for path in written:
        print(f"  wrote {path}")
    return 0

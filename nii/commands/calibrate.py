"""``nii calibrate materials SCAN... --wedges wedges.toml --out scanner.toml``: measured dual-energy response."""

from __future__ import annotations

import argparse
from typing import Any

from nii.commands import add_read_options, read_arguments


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "calibrate",
        help="fit a scanner's dual-energy material response from step-wedge scans (materials=/steel=scanner.toml)",
        description="Measure every step of the wedges described in --wedges (top to bottom, steps left to right) "
        "in each scan, and write the measured curves of every material as a calibration for the materials "
        "and steel steps.",
    )
    parser.add_argument("what", choices=["materials"], help="what to calibrate")
    parser.add_argument("paths", nargs="+", metavar="SCAN", help="scans of the step wedges (raw or calibrated)")
    parser.add_argument("--wedges", required=True, metavar="wedges.toml", help="the wedges' materials and steps")
    parser.add_argument("--out", required=True, metavar="scanner.toml", help="calibration to write")
    parser.add_argument("--name", default="measured", help="the scanner's name in the calibration")
    add_read_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from nii.errors import ValidationError
    from nii.material_calibration import MaterialCalibration, WedgeSet, measure_wedges
    from nii.model import CalibrationState
    from nii.pipeline import Recipe, convert_scan
    from nii.registry import read
    from nii.values import attenuation_of

    wedges = WedgeSet.load(args.wedges)
    options = read_arguments(args)
    points = []
    for path in args.paths:
        scan = read(path, **options)
        if any(view.calibration is not CalibrationState.ATTENUATION for view in scan.views):
            scan = convert_scan(scan, Recipe.parse("attenuate", target="npz"))
        for view in scan.views:
            try:
                found = measure_wedges(attenuation_of(view, "high"), attenuation_of(view, "low"), wedges)
            except ValidationError as error:
                raise ValidationError(f"view {view.name}: {error.problem}", path=path) from error
            points += found
            print(f"{path}: view {view.name}: {len(found)} steps measured")
    calibration = MaterialCalibration.fit(points, scanner=args.name)
    written = calibration.save(args.out)
    for material, (_, a_high, a_low) in calibration.curves.items():
        ratio = a_low / a_high
        print(
            f"  {material:<14} {len(a_high)} steps, A_high {a_high[0]:.2f}..{a_high[-1]:.2f}, "
            f"A_low/A_high {np.min(ratio):.3f}..{np.max(ratio):.3f}"
        )
    print(f"wrote {written}")
    return 0

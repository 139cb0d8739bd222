"""``nii export SCAN --out picture.png``: a PNG, TIFF or JPEG picture of one view."""

from __future__ import annotations

import argparse
from typing import Any

from nii.commands import add_read_options, add_scan_option, read_input
from nii.formats.export import IMAGE_FORMAT_BY_SUFFIX, ExportMode, export_view


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write a picture (PNG, TIFF, JPEG) of one view: windowed 8-bit, exact 16-bit or material false colour",
        description="Rows are detector elements from the top down, columns scan lines in the direction of travel.",
    )
    parser.add_argument("path", help="scan file or folder")
    parser.add_argument("--out", required=True, help=f"picture to write ({', '.join(IMAGE_FORMAT_BY_SUFFIX)})")
    parser.add_argument("--view", help="view name (default: the first view)")
    parser.add_argument("--channel", help="channel name (default: the view's first channel)")
    parser.add_argument(
        "--mode",
        choices=[str(mode) for mode in ExportMode],
        default=str(ExportMode.WINDOW),
        help="8-bit grey, 16-bit grey, or material false colour",
    )
    parser.add_argument(
        "--window", metavar="C,W", help="centre and width in channel units (default: 0.5-99.5 percentiles)"
    )
    parser.add_argument(
        "--invert",
        action=argparse.BooleanOptionalAction,
        help="low values white (default: only for attenuation, so dense matter is dark)",
    )
    parser.add_argument(
        "--scanner",
        metavar="MODEL",
        help="false colour: scanner model whose Zeff table classifies the pixels (default: the scan's own model)",
    )
    add_scan_option(parser)
    add_read_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    _, scan = read_input(args)
    written = export_view(
        scan,
        args.out,
        view=args.view,
        channel=args.channel,
        mode=args.mode,
        window=args.window,
        invert=args.invert,
        scanner_model=args.scanner,
    )
    print(written)
    return 0

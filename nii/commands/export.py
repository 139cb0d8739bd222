"""``nii export SCAN --out picture.png``: a PNG, TIFF or JPEG picture of one view, drawn by :mod:`nii.render`."""

from __future__ import annotations

import argparse
from typing import Any

from nii.commands import add_read_options, add_scan_option, read_input
from nii.errors import ConfigurationError
from nii.render import Preset, Quantity, Strip
from nii.render.export import IMAGE_FORMAT_BY_SUFFIX


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "export",
        help="write a picture (PNG, TIFF, JPEG) of one view: attenuation, steel, Zeff, material colours, ...",
        description="Pictures are in the canonical orientation (top of the object up, travel left to right), "
        "with square pixels, cropped to the object and windowed on it unless told otherwise.",
    )
    parser.add_argument("path", help="scan file or folder")
    parser.add_argument("--out", required=True, help=f"picture to write ({', '.join(IMAGE_FORMAT_BY_SUFFIX)})")
    parser.add_argument("--view", help="view name (default: the first view)")
    parser.add_argument("--channel", help="measured channel (default: high or single)")
    parser.add_argument(
        "--display",
        "--quantity",
        dest="quantity",
        choices=[str(q) for q in Quantity],
        help="what to show (default: attenuation when the scan allows it, else raw counts)",
    )
    parser.add_argument(
        "--mode",
        choices=sorted(_MODES),
        help="shorthand: window (the default picture), 16bit (as --16bit), false-colour (as --display material)",
    )
    window = parser.add_mutually_exclusive_group()
    window.add_argument(
        "--window", metavar="auto|LOW,HIGH", default="auto", help="window in the quantity's units (default: auto)"
    )
    window.add_argument("--preset", choices=[str(p) for p in Preset], help="window on part of the object's range")
    parser.add_argument("--gamma", type=float, default=1.0, help="exponent on the windowed values (default 1)")
    parser.add_argument(
        "--invert", action=argparse.BooleanOptionalAction, help="swap black and white (default: dense matter dark)"
    )
    parser.add_argument("--enhance", action="store_true", help="local contrast enhancement (CLAHE)")
    parser.add_argument("--strip", choices=[str(s) for s in Strip], help="show one material class only")
    parser.add_argument("--threats", action="store_true", help="draw the scan's threat boxes")
    parser.add_argument("--legend", action="store_true", help="add a legend (window and unit, or material colours)")
    parser.add_argument("--scale-bar", action="store_true", help="add a scale bar in mm")
    parser.add_argument("--no-crop", action="store_true", help="keep the whole view (default: crop to the object)")
    parser.add_argument("--sample-pixels", action="store_true", help="one pixel per sample (default: square pixels)")
    parser.add_argument("--max-width", type=int, help="picture width at most this many pixels")
    parser.add_argument(
        "--16bit", dest="sixteen_bit", action="store_true", help="exact 16-bit values, scale and unit in the metadata"
    )
    parser.add_argument(
        "--scanner", metavar="MODEL", help="scanner model for steel, Zeff and classes (default: the scan's own)"
    )
    add_scan_option(parser)
    add_read_options(parser)
    return parser


_MODES = {"window": (None, False), "16bit": (None, True), "false-colour": (Quantity.MATERIAL, False)}
"""``--mode`` of earlier versions (the README's first commands use it) → (quantity, 16-bit)."""


def run(args: argparse.Namespace) -> int:
    from nii.render import RenderOptions
    from nii.render.export import export_picture

    quantity, sixteen_bit = _MODES.get(args.mode, (None, False))
    if args.mode and args.quantity and quantity and args.quantity != quantity:
        raise ConfigurationError(
            f"--mode {args.mode} shows {quantity}; it cannot be combined with --display {args.quantity}"
        )
    options = RenderOptions(
        quantity=args.quantity or quantity,
        channel=args.channel,
        window=args.preset or args.window,
        gamma=args.gamma,
        invert=args.invert,
        enhance=args.enhance,
        strip=args.strip,
        threats=args.threats,
        legend=args.legend,
        scale_bar=args.scale_bar,
        square_pixels=not args.sample_pixels,
        crop=not args.no_crop,
        scanner=args.scanner,
    )
    _, scan = read_input(args)
    written = export_picture(
        scan,
        args.out,
        view=args.view,
        options=options,
        max_width=args.max_width,
        sixteen_bit=args.sixteen_bit or sixteen_bit,
    )
    print(written)
    return 0

"""``nii convert INPUT... --out DIR``: batch conversion to DICOS (or another output)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any

from nii.commands import add_read_options, read_arguments
from nii.pipeline import TARGETS, Recipe, convert
from nii.steps import STEPS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "convert",
        help="convert scans (files, folders, globs) to DICOS or another format",
        description="Read every input in any known format, apply the processing steps, write the outputs atomically "
        "under --out keeping the inputs' relative paths. A failing input is reported and the batch goes on.",
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="scan files, folders (recursive) or glob patterns")
    parser.add_argument("--out", required=True, help="output folder")
    add_read_options(parser)
    parser.add_argument(
        "--to",
        choices=list(TARGETS),
        default="dicos",
        help="DICOS folder per scan (default), NII HDF5 archive, PNG picture of the first view, or npz",
    )
    parser.add_argument(
        "--normalize",
        metavar="SPEC",
        help=f"processing steps, comma-separated, each step[=arg]; steps: {', '.join(sorted(STEPS)) or 'none yet'}",
    )
    parser.add_argument(
        "--compression",
        choices=["none", "rle", "jpeg-lossless", "jpegls", "j2k"],
        help="DICOS transfer syntax (lossless; default none)",
    )
    parser.add_argument(
        "--strict", action="store_true", help="a material calibration that does not fit a scan fails it (not a warning)"
    )
    parser.add_argument(
        "--fsync",
        action="store_true",
        help="report an output done only once it and its rename are on disk (several outputs flushed at once)",
    )
    parser.add_argument("--workers", type=int, help="scans in flight at once (default: number of cores)")
    parser.add_argument("--engine", choices=["local", "dask"], default="local")
    parser.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler, e.g. tcp://127.0.0.1:8786")
    parser.add_argument(
        "--resume", action="store_true", help="skip inputs converted and verified by an earlier run (needs --report)"
    )
    parser.add_argument("--report", metavar="FILE", help="write a JSON or CSV report, one row per input")
    parser.add_argument(
        "--deidentify", metavar="KEY_FILE", help="de-identify the DICOS output with this key (as nii deidentify)"
    )
    parser.add_argument("--keep", default="", help="with --deidentify: retain device, institution, dates")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.exchange.deidentify import Deidentifier

    if args.resume and not args.report:
        print("nii convert: error: --resume needs the --report of the earlier run", file=sys.stderr)
        return 2
    options: dict[str, object] = {"compression": args.compression} if args.compression and args.to == "dicos" else {}
    recipe = Recipe.parse(args.normalize, target=args.to, **options)
    recipe = dataclasses.replace(recipe, read_options=read_arguments(args), strict=args.strict, durable=args.fsync)
    if args.deidentify:
        recipe = dataclasses.replace(recipe, deidentify=Deidentifier.from_key_file(args.deidentify, keep=args.keep))
    results = convert(
        args.inputs,
        args.out,
        recipe=recipe,
        workers=args.workers,
        engine=args.engine,
        scheduler=args.scheduler,
        resume=args.resume,
        report=args.report,
    )
    failed = [r for r in results if r.status == "failed"]
    converted = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    for result in failed:
        print(f"nii: error: {result.error}", file=sys.stderr)
    total_mb = sum(r.bytes for r in results if r.status == "ok") / 1e6
    print(f"{converted} converted ({total_mb:.1f} MB), {skipped} skipped, {len(failed)} failed", file=sys.stderr)
    return 1 if failed else 0

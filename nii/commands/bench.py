"""``nii bench``: conversion throughput on the standard workloads against a naive baseline."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from nii.bench import MIN_SECONDS, WORKLOADS
from nii.commands import add_read_options, read_arguments
from nii.errors import ConfigurationError


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure conversion throughput against numpy, OpenCV, numba and naive baselines",
        description="Simulate the standard workloads, then time nii's conversion to DICOS, the baselines (naive "
        "float64 numpy; numpy float32 in place; the same with OpenCV's log; a careful user's fused numba pass with "
        "a streamed pydicom write; each checked first to write nii's codes) and a plain read+write of the same "
        "bytes (the machine's limit) in turn, with the input in the page cache and dropped from it; ratios are "
        "medians over the rounds with their spread. Also the disk's sequential write rate against nii's DICOS rate "
        "with fsync and against a durable batch (nii convert --fsync, two workers). "
        "`nii bench --json benchmarks/results/nii-bench.json` rewrites the committed results.",
    )
    parser.add_argument(
        "workloads",
        nargs="*",
        metavar="WORKLOAD|PATH",
        help=f"{', '.join(WORKLOADS)} (default: all), or your own scan files and folders: their conversion to DICOS "
        "is timed over rounds, with the spread and a warning when the machine was busy",
    )
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help=f"best of at least N rounds, more until each comparison has run {MIN_SECONDS:g} s (default 3)",
    )
    parser.add_argument("--dir", help="folder on the disk to measure (default: the system temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    parser.add_argument(
        "--no-durable-batch",
        action="store_true",
        help="skip the durable batch (nii convert --fsync on two workers, timed in turn with the same batch "
        "without --fsync and the disk's durable rate; a few hundred MB per round)",
    )
    add_read_options(parser)
    return parser


def _run_files(args: argparse.Namespace) -> int:
    from nii.bench import time_files
    from nii.io import atomic_output

    timings = time_files(args.workloads, repeats=args.repeats, folder=args.dir, read_options=read_arguments(args))
    print(f"{'file':<40} {'format':<12} {'input MB':>9} {'rounds':>6} {'scans/s':>8} {'MB/s':>7} {'± %':>5}")
    for t in timings:
        name = t.path if len(t.path) <= 40 else "…" + t.path[-39:]
        spread = 100 * t.seconds_std / t.seconds_mean
        print(
            f"{name:<40} {t.format:<12} {t.input_mb:>9.1f} {t.rounds:>6} {t.scans_per_s:>8.2f} {t.mb_per_s:>7.1f}"
            f" {spread:>5.0f}"
        )
    for t in timings:
        if t.busy:
            print(f"warning: {t.path}: {t.busy}; best round {t.input_mb / t.seconds_best:.1f} MB/s", file=sys.stderr)
    if args.json:
        with atomic_output(args.json) as temporary:
            temporary.write_text(
                json.dumps(
                    [asdict(t) | {"scans_per_s": t.scans_per_s, "mb_per_s": t.mb_per_s} for t in timings],
                    indent=1,
                )
            )
    return 0


def run(args: argparse.Namespace) -> int:
    from nii.bench import format_results, memory_returned_to_host, run_bench, write_results

    if any(name not in WORKLOADS for name in args.workloads):
        return _run_files(args)
    if read_arguments(args):
        raise ConfigurationError("--format, --profile and --reader-option apply to your own files, not workloads")
    from nii.bench_durable import BATCH_SCANS

    batch_scans = {} if args.no_durable_batch else BATCH_SCANS
    results = run_bench(
        args.workloads or list(WORKLOADS), repeats=args.repeats, folder=args.dir, batch_scans=batch_scans
    )
    for line in format_results(results):
        print(line)
    if memory_returned_to_host():
        print(
            "note: this virtual machine returns free memory to its host (virtio-balloon free page reporting): "
            "writing new files and reading cold input vary with what ran before them"
        )
    if args.json:
        write_results(results, args.json)
    return 0

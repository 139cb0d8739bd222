"""``nii bench``: conversion throughput on the standard workloads against a naive baseline."""

from __future__ import annotations

import argparse
from typing import Any

from nii.bench import MIN_SECONDS, WORKLOADS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure conversion throughput against numpy, OpenCV and naive baselines",
        description="Simulate the standard workloads, then time nii's conversion to DICOS and baselines in the "
        "same run (numpy float32 in place, the same with OpenCV's log, naive float64 numpy; pydicom writes; each "
        "checked to write nii's codes), and the disk's sequential write rate against nii's DICOS rate with fsync.",
    )
    parser.add_argument("workloads", nargs="*", metavar="WORKLOAD", help=f"{', '.join(WORKLOADS)} (default: all)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=3,
        help=f"best of at least N rounds, more until each comparison has run {MIN_SECONDS:g} s (default 3)",
    )
    parser.add_argument("--dir", help="folder on the disk to measure (default: the system temporary folder)")
    parser.add_argument("--json", metavar="FILE", help="also save the results as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.bench import format_results, run_bench, write_results

    results = run_bench(args.workloads or list(WORKLOADS), repeats=args.repeats, folder=args.dir)
    for line in format_results(results):
        print(line)
    if args.json:
        write_results(results, args.json)
    return 0

"""``nii bench``: conversion throughput on the standard workloads against a naive baseline."""

from __future__ import annotations

import argparse
from typing import Any

from nii.bench import MIN_SECONDS, WORKLOADS


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure conversion throughput (scans/s, MB/s) against a naive numpy + pydicom baseline",
        description="Simulate the standard workloads, then time nii's conversion to DICOS and a naive baseline "
        "(numpy read, plain numpy calibration, pydicom default write) in the same run, and the disk's "
        "sequential write rate against nii's DICOS output rate with fsync.",
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
    from nii.bench import run_bench, write_results

    results = run_bench(args.workloads or list(WORKLOADS), repeats=args.repeats, folder=args.dir)
    print(
        f"{'workload':<9} {'input MB':>9} {'nii scans/s':>12} {'nii MB/s':>9} {'naive MB/s':>11} {'speed-up':>9}"
        f" {'fsync MB/s':>11} {'disk MB/s':>10} {'of disk':>8}"
    )
    for r in results:
        print(
            f"{r.workload:<9} {r.input_mb:>9.1f} {r.nii_scans_per_s:>12.2f} {r.nii_mb_per_s:>9.0f} "
            f"{r.naive_mb_per_s:>11.0f} {r.speedup:>8.1f}× {r.dicos_fsync_mb_per_s:>11.0f} "
            f"{r.disk_mb_per_s:>10.0f} {r.fsync_fraction_of_disk:>7.0%}"
        )
    if args.json:
        write_results(results, args.json)
    return 0

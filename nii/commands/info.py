"""``nii info PATH``: what a scan file holds."""

from __future__ import annotations

import argparse
import json
from typing import Any

from nii.commands import add_read_options, add_scan_option, read_input
from nii.registry import Format


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "info", help="describe a scan: format, views, channels, spacing, metadata, threats"
    )
    parser.add_argument("path", help="scan file or folder")
    add_read_options(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--personal", action="store_true", help="include personal data (operator)")
    add_scan_option(parser)
    return parser


def _archive_entries(args: argparse.Namespace, fmt: Format) -> list[dict[str, Any]] | None:
    """Index, UID, time, views and threat count of every scan of a multi-scan file (no pixels read)."""
    if "multi-scan" not in fmt.capabilities:
        return None
    from nii.formats.archive import open_archive

    with open_archive(args.path) as archive:
        return [
            {
                "index": entry.index,
                "scan_uid": entry.scan_uid,
                "acquired_at": entry.acquired_at.isoformat(),
                "views": {name: list(shape) for name, shape in entry.views.items()},
                "threats": entry.threat_count,
                "truth": list(entry.truth_names),
            }
            for entry in archive.entries
        ]


def _mm(value: float | None) -> str:
    return "?" if value is None else f"{value:g}"


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from nii.metadata import scan_to_dict

    fmt, scan = read_input(args)  # recognised once, for the reader and the archive listing
    info = scan_to_dict(scan, include_personal=args.personal)
    entries = _archive_entries(args, fmt)
    if entries is not None:
        info["archive"] = entries
    # Value ranges help spot a wrongly decoded file at a glance.
    for entry, view in zip(info["views"], scan.views, strict=True):
        for name, channel in entry["channels"].items():
            array = view.channels[name]
            channel["shape"] = list(array.shape)
            channel["min"] = float(np.min(array))
            channel["max"] = float(np.max(array))
    for entry, volume in zip(info["volumes"], scan.volumes, strict=True):
        entry["min"] = float(np.min(volume.data))
        entry["max"] = float(np.max(volume.data))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    obj, scanner, prov = info["inspected_object"], info["scanner"], info["provenance"]
    ids = ", ".join(
        filter(None, [*obj["container_numbers"], obj["licence_plate"], obj["identifier"], obj["declaration"]])
    )
    if entries is not None:
        print(f"{args.path}: {prov['source_format']} of {len(entries)} scans")
        for entry in entries:
            views = ", ".join(f"{name} {rows}×{lines}" for name, (rows, lines) in entry["views"].items())
            truth = f", truth {', '.join(entry['truth'])}" if entry["truth"] else ""
            print(
                f"  [{entry['index']}] {entry['scan_uid']}  {entry['acquired_at']}  {views}, "
                f"{entry['threats']} threats{truth}"
            )
    where = f"{args.path}[{args.scan or 0}]" if entries is not None else args.path
    print(f"{where}: {prov['source_format']} scan {info['scan_uid']}")
    print(f"  acquired   {info['acquired_at']}")
    print(f"  object     {obj['type']}{' ' + ids if ids else ''}")
    energies = ", ".join(f"{k} {v:g} kV" for k, v in scanner["energies_kv"].items())
    print(f"  scanner    {scanner['manufacturer'] or '?'} {scanner['model'] or ''} {energies}".rstrip())
    for entry in info["views"]:
        g = entry["geometry"]
        print(
            f"  view {entry['name']:<6} {entry['shape'][0]} rows × {entry['shape'][1]} lines, "
            f"{_mm(g['detector_spacing_mm'])} × {_mm(g['travel_spacing_mm'])} mm, {entry['calibration']}"
        )
        for name, channel in entry["channels"].items():
            print(f"    {name:<12} {channel['dtype']:<8} range {channel['min']:g} .. {channel['max']:g}")
    for entry in info["volumes"]:
        frames, rows, columns = entry["shape"]
        spacing = " × ".join(f"{value:g}" for value in entry["spacing_mm"])
        print(
            f"  volume {entry['name']:<4} {frames} frames × {rows} rows × {columns} columns, {spacing} mm, "
            f"{entry['channel']} {entry['calibration']} {entry['dtype']} range {entry['min']:g} .. {entry['max']:g}"
        )
    for reference in info["referenced_images"]:
        print(f"  references {reference[1]} ({reference[0]}), not in this scan")
    print(f"  threats    {len(info['threats']) + len(info['volume_threats'])}")
    for spatial in info["volume_threats"]:
        x, y, z, w, h, d = spatial["box"]
        where = spatial["volume"] or "referenced images"
        probability = f" p={spatial['probability']:.2f}" if spatial["probability"] is not None else ""
        mass = f" mass={spatial['mass']:g}" if spatial["mass"] is not None else ""
        print(
            f"    {where}: {spatial['category']} {spatial['assessment']} at x={x} y={y} z={z} {w}×{h}×{d}"
            f"{probability}{mass}"
        )
    for threat in info["threats"]:
        x, y, w, h = threat["box"]
        probability = f" p={threat['probability']:.2f}" if threat["probability"] is not None else ""
        print(f"    {threat['view']}: {threat['category']} {threat['assessment']} at x={x} y={y} {w}×{h}{probability}")
    return 0

"""``nii view PATH...``: the scan viewer in the browser (officer inspection and pilot comparison)."""

from __future__ import annotations

import argparse
from typing import Any

from nii.commands import add_read_options, read_arguments


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "view",
        help="show scans in a web browser: zoom, window, materials, threat boxes, side-by-side comparison",
        description=(
            "Serves the scans named (files, DICOS folders, NII archives, or folders of them) to a browser. "
            "Listens on 127.0.0.1 only unless --host says otherwise; then every request needs the token printed."
        ),
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="scan file or folder, DICOS folder, NII archive")
    parser.add_argument("--port", type=int, default=8765, help="TCP port (0: any free port; default 8765)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    add_read_options(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from nii.viewer.server import serve  # the web stack loads only for this command

    serve(
        args.paths,
        host=args.host,
        port=args.port,
        open_browser=not args.no_browser,
        read_options=read_arguments(args),
    )
    return 0

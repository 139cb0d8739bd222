"""The viewer's web application (Starlette): scan list, tiles, readout, threat reports, comparisons.

Routes (all ``GET`` but the report):

``/``, ``/assets/<name>``
    The client (fixed files, see :func:`nii.viewer.security.asset_table`).
``/api/scans``
    The scans named on the command line: id, label and group (nothing opened), and the reports of the
    pilots named.
``/reports/<id>``
    A pilot's ``report.html`` (the file found at start, nothing else of its folder).
``/api/scans/<id>``
    One scan: views, channels, pixel spacing, pyramid, threats, metadata.
``/api/scans/<id>/thumbnail``
    A small picture of the first view.
``/api/scans/<id>/tile?view&channel&quantity&…&scale&x&y&format``
    One tile (PNG or lossless WebP) of the view as displayed.
``/api/scans/<id>/readout?view&x&y``
    Values under the cursor: raw, attenuation, steel equivalent, material class.
``POST /api/scans/<id>/threats``
    An officer's box (JSON) saved as an operator TDR into the scan's DICOS folder.
``/api/pair?a&b&view&channel``, ``/api/pair/tile?…&mode``
    Two scans registered: the transform and its confidence; tiles of the second scan in the first's
    frame, or their difference or checkerboard.

Errors are JSON ``{"error": "..."}`` with a 4xx status (never a traceback): unknown scans and
files 404, bad parameters 400, too large bodies 413, unreadable scans 422.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Route

from nii.errors import ConfigurationError, LimitExceededError, NiiError, ValidationError
from nii.formats.dicos.annotate import add_operator_report
from nii.model import Box, Operator, Threat, ThreatCategory, ThreatOrigin
from nii.viewer.catalogue import Catalogue, OpenScan
from nii.viewer.compare import PairCache, pair_tile
from nii.viewer.describe import describe_display, describe_scan, readout
from nii.viewer.security import REPORT_HEADERS, SECURITY_HEADERS, TokenGate, asset_table
from nii.viewer.tiles import (
    IMAGE_TYPES,
    Display,
    TileSpec,
    encode,
    picture_to_samples,
    render_tile,
    renderer,
    thumbnail,
)

__all__ = ["MAX_BODY", "STATIC", "create_app"]

STATIC = Path(__file__).with_name("static")
"""The client's files."""
MAX_BODY = 16 * 1024
"""Largest request body accepted (a threat box is a few hundred bytes)."""
MAX_QUERY = 2048
"""Longest query string accepted."""


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(SECURITY_HEADERS))


def _status(error: NiiError) -> int:
    if isinstance(error, ConfigurationError | ValidationError):
        return 400
    if isinstance(error, LimitExceededError):
        return 413
    return 422


async def _nii_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, NiiError)
    return _error(_status(error), error.problem)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return _error(error.status_code, str(error.detail))


class Viewer:
    """The request handlers over one :class:`Catalogue`."""

    def __init__(self, catalogue: Catalogue, assets: dict[str, tuple[Path, str]]) -> None:
        self.catalogue = catalogue
        self.assets = assets
        self.pairs = PairCache()

    def _query(self, request: Request) -> dict[str, str]:
        if len(request.url.query) > MAX_QUERY:
            raise HTTPException(414, "query too long")
        return dict(request.query_params)

    def _open(self, request: Request, name: str = "scan_id") -> OpenScan:
        scan_id = request.path_params.get(name) or request.query_params.get(name, "")
        try:
            self.catalogue.entry(scan_id)
        except KeyError:
            raise HTTPException(404, f"no scan {scan_id!r}") from None
        return self.catalogue.open(scan_id)

    def asset(self, request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        if name not in self.assets:
            raise HTTPException(404, "not found")
        path, kind = self.assets[name]
        return FileResponse(path, media_type=kind, headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})

    def scans(self, request: Request) -> Response:
        entries = [
            {"id": e.id, "label": e.label, "group": e.group, "format": e.format, "can_annotate": e.is_dicos_folder}
            for e in self.catalogue.entries
        ]
        reports = [
            {"id": f"r{index}", "title": report.title, "url": f"reports/r{index}", "scans": report.scans}
            for index, report in enumerate(self.catalogue.reports)
        ]
        return JSONResponse({"scans": entries, "reports": reports}, headers=dict(SECURITY_HEADERS))

    def report(self, request: Request) -> Response:
        """A pilot's report.html, by its index: no path from the browser reaches the file system."""
        names = {f"r{index}": report.path for index, report in enumerate(self.catalogue.reports)}
        path = names.get(request.path_params["report_id"])
        if path is None or path.is_symlink() or not path.is_file():
            raise HTTPException(404, "no such report")
        return FileResponse(
            path, media_type="text/html; charset=utf-8", headers={**REPORT_HEADERS, "Cache-Control": "no-cache"}
        )

    def scan(self, request: Request) -> Response:
        opened = self._open(request)
        return JSONResponse(describe_scan(opened), headers=dict(SECURITY_HEADERS))

    def display(self, request: Request) -> Response:
        query = self._query(request)
        opened = self._open(request)
        return JSONResponse(describe_display(opened, Display.from_query(query)), headers=dict(SECURITY_HEADERS))

    def thumbnail(self, request: Request) -> Response:
        scan_id = request.path_params["scan_id"]
        if scan_id not in {entry.id for entry in self.catalogue.entries}:
            raise HTTPException(404, f"no scan {scan_id!r}")
        data = self.catalogue.thumbnail(scan_id, "png", thumbnail)
        return Response(data, media_type="image/png", headers={**SECURITY_HEADERS, "Cache-Control": "max-age=3600"})

    def tile(self, request: Request) -> Response:
        query = self._query(request)
        opened = self._open(request)
        display = Display.from_query(query)
        spec = TileSpec.from_query(query)
        kind = query.get("format", "png")
        data = encode(render_tile(opened, display, spec), kind)
        return _image(data, kind)

    def readout(self, request: Request) -> Response:
        query = self._query(request)
        opened = self._open(request)
        return JSONResponse(readout(opened, query), headers=dict(SECURITY_HEADERS))

    async def add_threat(self, request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > MAX_BODY):
            raise HTTPException(413, f"request body over {MAX_BODY} bytes")
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                raise HTTPException(413, f"request body over {MAX_BODY} bytes")
        try:
            document = json.loads(body)
        except ValueError:
            raise HTTPException(400, "the body must be JSON") from None
        return await run_in_threadpool(self._save_threat, request, document)

    def _save_threat(self, request: Request, document: Any) -> Response:
        opened = self._open(request)
        entry = opened.entry
        if not entry.is_dicos_folder:
            raise HTTPException(409, "operator reports are saved into DICOS folders; this scan is not one")
        threat = _threat_from(document, opened, Display.from_query(self._query(request)))
        operator = Operator(str(document.get("operator") or "officer")[:64])
        written = add_operator_report(entry.path, opened.scan.scan_uid, [threat], operator=operator)
        self.catalogue.close(entry.id)
        reopened = self.catalogue.open(entry.id)
        return JSONResponse(
            {"file": written.name, "scan": describe_scan(reopened)}, status_code=201, headers=dict(SECURITY_HEADERS)
        )

    def pair(self, request: Request) -> Response:
        query = self._query(request)
        first, second = self._open(request, "a"), self._open(request, "b")
        result = self.pairs.get(first, second, query)
        return JSONResponse(result.describe(), headers=dict(SECURITY_HEADERS))

    def pair_tile(self, request: Request) -> Response:
        query = self._query(request)
        first, second = self._open(request, "a"), self._open(request, "b")
        result = self.pairs.get(first, second, query)
        kind = query.get("format", "png")
        return _image(encode(pair_tile(result, query), kind), kind)


def _image(data: bytes, kind: str) -> Response:
    return Response(data, media_type=IMAGE_TYPES[kind], headers={**SECURITY_HEADERS, "Cache-Control": "no-cache"})


def _threat_from(document: Any, opened: OpenScan, display: Display) -> Threat:
    """The officer's box: corners ``x0, y0, x1, y1`` in the display's finest picture pixels."""
    if not isinstance(document, dict):
        raise ConfigurationError("the body must be a JSON object")
    try:
        numbers = [float(document[name]) for name in ("x0", "y0", "x1", "y1")]
    except (KeyError, TypeError, ValueError):
        raise ConfigurationError("a box needs numbers x0, y0, x1 and y1") from None
    if not all(math.isfinite(n) for n in numbers):
        raise ConfigurationError("box corners must be finite")
    prepared = renderer(opened, display)
    first = picture_to_samples(prepared, min(numbers[0], numbers[2]), min(numbers[1], numbers[3]))
    second = picture_to_samples(prepared, max(numbers[0], numbers[2]), max(numbers[1], numbers[3]))
    top, bottom = sorted((first[0], second[0]))
    left, right = sorted((first[1], second[1]))
    try:
        category = ThreatCategory(str(document.get("category", "ANOMALY")))
    except ValueError:
        raise ConfigurationError(f"category must be one of {', '.join(ThreatCategory)}") from None
    description = document.get("description")
    return Threat(
        prepared.view.name,
        Box(left, top, right - left + 1, bottom - top + 1),
        category=category,
        origin=ThreatOrigin.OPERATOR,
        probability=1.0,
        description=str(description)[:64] if description else None,
    )


def create_app(
    catalogue: Catalogue,
    *,
    token: str | None = None,
    allowed_hosts: list[str] | None = None,
    assets: Path = STATIC,
) -> Starlette:
    """The application serving ``catalogue``.

    Parameters
    ----------
    catalogue
        The scans.
    token
        Required on every request when given (a server bound beyond loopback).
    allowed_hosts
        ``Host`` header values accepted (against DNS rebinding); any when ``None``.
    assets
        The client's folder.
    """
    viewer = Viewer(catalogue, asset_table(assets))
    routes = [
        Route("/", viewer.asset),
        Route("/assets/{name:path}", viewer.asset),
        Route("/api/scans", viewer.scans),
        Route("/reports/{report_id}", viewer.report),
        Route("/api/scans/{scan_id}", viewer.scan),
        Route("/api/scans/{scan_id}/thumbnail", viewer.thumbnail),
        Route("/api/scans/{scan_id}/display", viewer.display),
        Route("/api/scans/{scan_id}/tile", viewer.tile),
        Route("/api/scans/{scan_id}/readout", viewer.readout),
        Route("/api/scans/{scan_id}/threats", viewer.add_threat, methods=["POST"]),
        Route("/api/pair", viewer.pair),
        Route("/api/pair/tile", viewer.pair_tile),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts or ["*"])]
    if token is not None:
        middleware.append(Middleware(TokenGate, token=token))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={NiiError: _nii_error, HTTPException: _http_error},
    )

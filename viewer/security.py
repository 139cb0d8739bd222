"""What keeps the viewer's server to its scans: a token off loopback, a size limit, fixed assets.

* :class:`TokenGate`: when the server listens on an address other than loopback, every request
  must carry the token printed at start (query ``token=``, header ``X-NII-Token`` or the cookie
  the first page load sets); scans are sensitive.
* :func:`asset_table`: the client's files, listed once at start (regular files inside the
  assets folder, no symbolic link followed), so a request can only name one of them: there is
  no path from the browser to the file system, encoded or not, and no directory listing.
* :data:`SECURITY_HEADERS`: no remote resources (Content-Security-Policy), no sniffing, no referrer;
  :data:`REPORT_HEADERS` the same for a pilot's self-contained report (no script, pictures inline).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["REPORT_HEADERS", "SECURITY_HEADERS", "TOKEN_COOKIE", "TokenGate", "asset_table", "is_loopback", "new_token"]

TOKEN_COOKIE = "nii_token"
TOKEN_HEADER = b"x-nii-token"

SECURITY_HEADERS: Mapping[str, str] = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}

REPORT_HEADERS: Mapping[str, str] = {
    **SECURITY_HEADERS,
    # A pilot's report.html is self-contained: its own styles, pictures as data: URLs, no script at all.
    "Content-Security-Policy": (
        "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ),
}

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
}


def is_loopback(host: str) -> bool:
    """True for ``127.0.0.0/8``, ``::1`` and ``localhost``.

    Examples
    --------
    >>> is_loopback("127.0.0.1"), is_loopback("::1"), is_loopback("0.0.0.0")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    """A random token for a server reachable from other machines."""
    return secrets.token_urlsafe(24)


def asset_table(folder: Path) -> dict[str, tuple[Path, str]]:
    """``name → (file, content type)`` of the client's files: regular files of known types, links not followed."""
    root = folder.resolve()
    table: dict[str, tuple[Path, str]] = {}
    for current, folders, files in os.walk(root, followlinks=False):
        here = Path(current)
        for name in files:
            path = here / name
            kind = CONTENT_TYPES.get(path.suffix.lower())
            if kind is None or path.is_symlink() or not path.is_file() or not path.resolve().is_relative_to(root):
                continue
            table[path.relative_to(root).as_posix()] = (path, kind)
        folders[:] = [f for f in folders if not (here / f).is_symlink()]
    return table


class TokenGate:
    """ASGI middleware: refuse (403) any request without the token; set it as a cookie on the first page."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.token = token

    def _presented(self, scope: Scope) -> tuple[str | None, bool]:
        headers = dict(scope.get("headers") or [])
        if TOKEN_HEADER in headers:
            return headers[TOKEN_HEADER].decode("latin-1"), False
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        if "token" in query:
            return query["token"][0], True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
        except Exception:  # a malformed cookie header is no token
            return None, False
        morsel = cookie.get(TOKEN_COOKIE)
        return (morsel.value if morsel is not None else None), False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        presented, from_query = self._presented(scope)
        if presented is None or not secrets.compare_digest(presented.encode(), self.token.encode()):
            body = b'{"error": "this viewer needs the token printed when it started"}'
            await send(
                {
                    "type": "http.response.start",
                    "status": 403,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if not from_query:
            await self.app(scope, receive, send)
            return
        cookie = f"{TOKEN_COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict".encode()

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"set-cookie", cookie)]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)

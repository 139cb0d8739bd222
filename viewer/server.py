"""Running the viewer: a uvicorn server on a socket bound here, so the address printed is the real one."""

from __future__ import annotations

import ctypes
import os
import socket
import threading
import webbrowser
from collections.abc import Mapping, Sequence
from typing import Any

import uvicorn

from nii.errors import ConfigurationError
from nii.viewer.app import create_app
from nii.viewer.catalogue import Catalogue
from nii.viewer.security import is_loopback, new_token

__all__ = ["access_rules", "bind", "return_freed_memory", "serve"]

LOOPBACK_HOSTS = ["127.0.0.1", "localhost"]
"""Host header values a loopback server answers (a web page elsewhere cannot rebind a name to it)."""


M_MMAP_THRESHOLD = -3
"""glibc's ``mallopt`` parameter: blocks from this size up are mapped apart and unmapped when freed."""


def return_freed_memory() -> None:
    """Have glibc give freed blocks of 1 MiB and more (the arrays of scans no longer shown) back to the system.

    Otherwise glibc raises that threshold after each large free, keeps later arrays in its per-thread heaps,
    and a server that has shown ten scans holds several scans' worth of memory it no longer uses. No-op
    where the C library is not glibc.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        return


def access_rules(host: str) -> tuple[str | None, list[str] | None]:
    """``(token, allowed Host names)`` of a server listening on ``host``: on loopback no token and only
    loopback names; elsewhere a fresh random token and any name."""
    if is_loopback(host):
        return None, LOOPBACK_HOSTS
    return new_token(), None


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        raise ConfigurationError(f"cannot listen on {host}:{port}: {error.strerror}") from None
    return sock


def serve(
    paths: Sequence[str | os.PathLike[str]],
    *,
    host: str = "127.0.0.1",
    port: int = 8765,
    open_browser: bool = True,
    announce: bool = True,
    read_options: Mapping[str, Any] | None = None,
) -> None:
    """Serve the scans at ``paths`` until interrupted, each read with :func:`nii.read`'s ``read_options``
    (``format``, ``profile``, reader options).

    On an address other than loopback a random token is made; the URL printed carries it and every
    request must present it.
    """
    return_freed_memory()
    catalogue = Catalogue(paths, read_options=read_options)
    token, allowed_hosts = access_rules(host)
    app = create_app(catalogue, token=token, allowed_hosts=allowed_hosts)
    sock = bind(host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound_port}/" + (f"?token={token}" if token else "")
    if announce:
        print(f"nii view: {len(catalogue.entries)} scan(s) at {url}", flush=True)
        for report in catalogue.reports:
            print(f"nii view: pilot report {report.title!r}: the 'report' link at the top of the page", flush=True)
        if token:
            print("nii view: listening beyond this machine; every request needs the token above", flush=True)
    config = uvicorn.Config(app, log_level="warning", limit_concurrency=64, timeout_keep_alive=5)
    server = uvicorn.Server(config)
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    server.run(sockets=[sock])

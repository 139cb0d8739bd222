"""A viewer server in a thread and Debian's chromium through Playwright, for the end-to-end tests and benchmarks.

Chromium is the system's (``/usr/bin/chromium``, installed by ``.ci/run``); no browser is ever
downloaded. Without it (or without Playwright) the tests are skipped locally and fail in CI.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from nii.viewer.app import STATIC, create_app
from nii.viewer.catalogue import Catalogue
from nii.viewer.server import LOOPBACK_HOSTS, bind

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def require_browser() -> Any:
    """Playwright's sync API, or skip (fail in CI) when Playwright or chromium is missing."""
    reason = None
    try:
        from playwright import sync_api
    except ImportError:
        reason = "playwright is not installed (pip install -e '.[test]')"
    if reason is None and not CHROMIUM.exists():
        reason = "chromium is not installed (apt-get install chromium)"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI installs it in .ci/run)")
        pytest.skip(reason)
    return sync_api


@contextmanager
def running_viewer(paths: Sequence[Path], *, assets: Path = STATIC) -> Iterator[str]:
    """A viewer of ``paths`` (client from ``assets``) on 127.0.0.1 and a free port; yields its URL."""
    app = create_app(Catalogue(paths), allowed_hosts=LOOPBACK_HOSTS, assets=assets)
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


@contextmanager
def browser_page(
    url: str, *, width: int = 1500, height: int = 850, failed_requests: bool = False
) -> Iterator[tuple[Any, list[str]]]:
    """A chromium page at ``url`` and the list its page errors and console errors go to (and, with
    ``failed_requests``, every request that failed: for self-contained pages, where none may)."""
    sync_api = require_browser()
    errors: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
            page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
            if failed_requests:
                page.on("requestfailed", lambda request: errors.append(f"request failed: {request.url}"))
            page.goto(url)
            yield page, errors
        finally:
            browser.close()


CANVAS_SPREAD = """(selector) => {
  const canvas = document.querySelector(selector + ' canvas');
  const context = canvas.getContext('2d');
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, squares = 0, count = 0;
  for (let i = 0; i < data.length; i += 4 * 7) { const v = data[i]; sum += v; squares += v * v; count += 1; }
  const mean = sum / count;
  return {mean, std: Math.sqrt(squares / count - mean * mean)};
}"""
"""Mean and standard deviation of the red channel of a viewer's canvas (a blank canvas has std 0)."""

LOADED = """(name) => {
  const viewer = window.niiView[name];
  const count = viewer && viewer.world.getItemCount();
  if (!count) return false;
  for (let i = 0; i < count; i++) if (!viewer.world.getItemAt(i).getFullyLoaded()) return false;
  return true;
}"""
"""True when every picture of a viewer (``viewer``, ``left``, ``right``) has all its tiles."""

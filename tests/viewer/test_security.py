"""The viewer serves its scans and its assets only; bad requests get a 4xx and a JSON message, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from nii.viewer.app import STATIC, create_app
from nii.viewer.catalogue import Catalogue
from nii.viewer.security import asset_table, is_loopback
from nii.viewer.server import access_rules

TRAVERSALS = [
    "/assets/../pyproject.toml",
    "/assets/..%2f..%2fpyproject.toml",
    "/assets/%2e%2e/%2e%2e/pyproject.toml",
    "/assets/%2e%2e%2f%2e%2e%2fpyproject.toml",
    "/assets/..%5c..%5cpyproject.toml",
    "/assets/%252e%252e/%252e%252e/pyproject.toml",
    "/assets//etc/passwd",
    "/assets/vendor/openseadragon/../../../app.py",
    "/assets/vendor",
    "/assets/vendor/",
    "/assets/",
    "/api/scans/..%2fs0",
    "/api/scans/%2e%2e/s0/tile",
    "/api/scans/s9",
    "/etc/passwd",
]


def no_traceback(response) -> None:
    assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_outside_the_assets_and_scans_are_refused(client, path):
    response = client.get(path)
    assert response.status_code in (400, 404), (path, response.status_code)
    assert "[tool." not in response.text and "root:" not in response.text
    no_traceback(response)


def test_the_client_and_its_vendored_library_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "nii view" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert client.get("/assets/app.js").headers["content-type"].startswith("text/javascript")
    library = client.get("/assets/vendor/openseadragon/openseadragon.min.js")
    assert library.status_code == 200 and "openseadragon" in library.text[:200].lower()


def test_no_remote_resource_in_the_client():
    for name in ("index.html", "app.js", "style.css"):
        text = (STATIC / name).read_text()
        assert "http://" not in text.replace("http://www.w3.org/2000/svg", "")
        assert "https://" not in text and "//cdn" not in text


def test_symbolic_links_out_of_the_assets_are_not_served(tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index.html").write_text("<html>ok</html>")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret")
    (assets / "leak.txt").symlink_to(secret)
    (assets / "linked").symlink_to(tmp_path, target_is_directory=True)
    table = asset_table(assets)
    assert set(table) == {"index.html"}


def test_symbolic_links_are_not_followed_by_the_server(scan_files, tmp_path):
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "index.html").write_text("<html>ok</html>")
    (assets / "leak.txt").symlink_to(scan_files["a"].parent / "secret.txt")
    (scan_files["a"].parent / "secret.txt").write_text("secret")
    client = TestClient(create_app(Catalogue([scan_files["a"]]), assets=assets))
    assert client.get("/").text == "<html>ok</html>"
    assert client.get("/assets/leak.txt").status_code == 404


BAD_TILES = [
    {"view": "side", "level": "abc", "x": 0, "y": 0},
    {"view": "side", "level": -1, "x": 0, "y": 0},
    {"view": "side", "level": 99, "x": 0, "y": 0},
    {"view": "side", "level": 0, "x": 10**6, "y": 0},
    {"view": "side", "level": 0, "x": "1e3", "y": 0},
    {"view": "side", "level": 0, "x": 0},
    {"view": "nope", "level": 0, "x": 0, "y": 0},
    {"view": "side", "level": 0, "x": 0, "y": 0, "window": "abc"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "window": "5,1"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "window": "nan,inf"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "quantity": "x-ray"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "strip": "gold"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "invert": "maybe"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "format": "gif"},
    {"view": "side", "level": 0, "x": 0, "y": 0, "channel": "ultra"},
]


@pytest.mark.parametrize("params", BAD_TILES)
def test_malformed_tile_requests_get_400_with_a_message(client, params):
    response = client.get("/api/scans/s0/tile", params=params)
    assert response.status_code == 400, (params, response.status_code, response.text)
    assert response.json()["error"]
    no_traceback(response)


def test_oversized_and_malformed_requests_get_4xx(client):
    assert client.get("/api/scans/s0/tile", params={"view": "side", "window": "1," * 5000}).status_code == 414
    big = client.post("/api/scans/s2/threats", params={"view": "side"}, content=b"{" + b" " * 100_000 + b"}")
    assert big.status_code == 413
    assert client.post("/api/scans/s2/threats", params={"view": "side"}, content=b"{not json").status_code == 400
    assert client.post("/api/scans/s2/threats", params={"view": "side"}, json=[1, 2]).status_code == 400
    assert client.post("/api/scans/s2/threats", params={"view": "side"}, json={"x0": "a"}).status_code == 400
    category = {"x0": 1, "y0": 1, "x1": 9, "y1": 9, "category": "BANANA"}
    assert client.post("/api/scans/s2/threats", params={"view": "side"}, json=category).status_code == 400
    assert client.get("/api/scans/s0/readout", params={"view": "side", "x": "left", "y": 1}).status_code == 400
    assert client.get("/api/pair/tile", params={"a": "s0", "b": "s1", "mode": "blend"}).status_code in (400, 404)
    assert client.get("/api/pair", params={"a": "s0", "b": "../s1"}).status_code == 404
    assert client.put("/api/scans/s0/threats").status_code == 405
    assert client.get("/api/scans/s2/threats").status_code == 405


def test_off_loopback_every_request_needs_the_token(scan_files):
    client = TestClient(create_app(Catalogue([scan_files["a"]]), token="t0ken"))
    assert client.get("/api/scans").status_code == 403
    assert client.get("/assets/app.js").status_code == 403
    assert client.get("/api/scans", headers={"X-NII-Token": "wrong"}).status_code == 403
    assert client.get("/api/scans", headers={"X-NII-Token": "t0ken"}).status_code == 200
    first = client.get("/", params={"token": "t0ken"})
    assert first.status_code == 200 and "nii_token=t0ken" in first.headers["set-cookie"]
    assert "HttpOnly" in first.headers["set-cookie"]
    assert client.get("/api/scans").status_code == 200  # the cookie from the first page
    client.cookies.clear()
    assert client.get("/api/scans/s0/thumbnail").status_code == 403


def test_loopback_server_answers_only_loopback_host_names(scan_files):
    client = TestClient(
        create_app(Catalogue([scan_files["a"]]), allowed_hosts=["127.0.0.1", "localhost"]),
        base_url="http://127.0.0.1:8765",
    )
    assert client.get("/api/scans").status_code == 200
    assert client.get("/api/scans", headers={"Host": "attacker.example"}).status_code == 400


def test_a_server_beyond_loopback_gets_a_fresh_token_and_loopback_none():
    assert access_rules("127.0.0.1") == (None, ["127.0.0.1", "localhost"])
    assert access_rules("::1")[0] is None
    first, hosts = access_rules("0.0.0.0")
    second, _ = access_rules("192.168.1.5")
    assert hosts is None and first and second and first != second and len(first) >= 32


def test_loopback_addresses():
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.1.2.3")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("example.org")


def test_nii_view_listens_on_loopback_by_default(scan_files):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "nii", "view", str(scan_files["a"]), "--port", "0", "--no-browser"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("nii view: 1 scan(s) at http://127.0.0.1:"), line
        url = line.split(" at ")[1].strip()
        with urllib.request.urlopen(url + "api/scans", timeout=30) as response:
            assert b'"s0"' in response.read()
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_nii_view_says_what_is_wrong_in_one_line(tmp_path):
    missing = tmp_path / "nothing.npz"
    result = subprocess.run(
        [sys.executable, "-m", "nii", "view", str(missing), "--no-browser"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "no such file" in result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "nii", "view", str(empty), "--no-browser"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "no scan found" in result.stderr


def test_static_folder_has_the_vendored_licence():
    licence = Path(STATIC, "vendor", "openseadragon", "LICENSE.txt").read_text()
    assert "Redistribution and use in source and binary forms" in licence

"""``nii view --profile`` and ``--reader-option``: exports no format recognises, shown with the scanner's profile."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import urllib.request

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

from nii.cli import build_parser
from nii.commands import read_arguments
from nii.simulate import simulate
from nii.viewer.app import create_app
from nii.viewer.catalogue import Catalogue
from tests.nii.commands.exports import raw_profile, write_raw_export


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    """``raw``: a folder of two headerless raw exports of one truck (the second pass entering 9 lines later)
    and a note; ``profile``: their profile; ``npy``: the first pass as a pixel-interleaved 2-D .npy."""
    folder = tmp_path_factory.mktemp("view-exports")
    view = simulate("cargo", seed=4, rows=64, lines=300)[0].views[0]
    (folder / "raw").mkdir()
    write_raw_export(folder / "raw" / "pass1.bin", view)
    write_raw_export(folder / "raw" / "pass2.bin", view, first_line=9)
    (folder / "raw" / "notes.txt").write_text("not a scan")
    np.save(folder / "pass1.npy", np.stack([view.channels["high"], view.channels["low"]], axis=-1).reshape(64, -1))
    return {"raw": folder / "raw", "profile": raw_profile(folder / "raw.toml", view), "npy": folder / "pass1.npy"}


def view_client(*arguments: str) -> tuple[Catalogue, TestClient]:
    """The app over the scans of ``nii view ARGUMENTS``, read with the read options parsed from them."""
    args = build_parser().parse_args(["view", *arguments])
    catalogue = Catalogue(args.paths, read_options=read_arguments(args))
    return catalogue, TestClient(create_app(catalogue), raise_server_exceptions=False)


def test_raw_exports_are_listed_and_shown_with_the_profile(exports):
    catalogue, client = view_client(str(exports["raw"]), "--profile", str(exports["profile"]))
    scans = client.get("/api/scans").json()["scans"]
    assert [s["label"] for s in scans] == ["pass1.bin", "pass2.bin"]  # the note does not fit the profile
    assert catalogue.open_ids == []
    for scan_id, lines in (("s0", 300), ("s1", 291)):
        described = client.get(f"/api/scans/{scan_id}").json()
        (view,) = described["views"]
        assert described["format"] == "profile"
        assert (view["rows"], view["lines"], view["channels"]) == (64, lines, ["high", "low"])
        assert view["travel_spacing_mm"] == 5.0  # the profile's geometry
        assert described["metadata"]["scanner"]["manufacturer"] == "Example"
    display = client.get("/api/scans/s1/display", params={"view": "side"}).json()
    tile = client.get("/api/scans/s1/tile", params={"view": "side", "level": 0, "x": 0, "y": 0})
    assert tile.status_code == 200, tile.text
    pixels = np.asarray(Image.open(io.BytesIO(tile.content)).convert("L"))
    assert pixels.shape[0] == display["height"] and pixels.std() > 5  # the truck, not a blank tile
    pair = client.get("/api/pair", params={"a": "s0", "b": "s1"})  # both passes read with the profile
    assert pair.status_code == 200, pair.text
    assert pair.json()["converged"] and pair.json()["confidence"] > 0.9


def test_reader_options_reach_every_read_of_the_scan(exports):
    _, client = view_client(str(exports["npy"]), "--reader-option", "channels=high,low")
    (view,) = client.get("/api/scans/s0").json()["views"]
    assert (view["lines"], view["channels"]) == (300, ["high", "low"])
    _, plain = view_client(str(exports["npy"]))
    (view,) = plain.get("/api/scans/s0").json()["views"]
    assert (view["lines"], view["channels"]) == (600, ["single"])


def test_nii_view_serves_raw_exports_with_a_profile(exports):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, "-m", "nii", "view", str(exports["raw"]), "--profile", str(exports["profile"])]
    process = subprocess.Popen(
        [*command, "--port", "0", "--no-browser"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("nii view: 2 scan(s) at http://127.0.0.1:"), line + process.stderr.read()
        url = line.split(" at ")[1].strip()
        with urllib.request.urlopen(url + "api/scans/s1", timeout=60) as response:
            (view,) = json.load(response)["views"]
        assert (view["rows"], view["lines"]) == (64, 291)
    finally:
        process.terminate()
        process.wait(timeout=30)
    unread = subprocess.run([*command[:5], "--no-browser"], capture_output=True, text=True, timeout=60)
    assert unread.returncode == 1 and "no scan found" in unread.stderr

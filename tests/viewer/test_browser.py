"""End to end in headless chromium: an officer inspects a simulated cargo scan and marks a threat; a pilot
team compares two scanners' images of one container. The screen is checked, not only the DOM.

Screenshots go to ``tmp_path`` (and to ``$NII_SCREENSHOTS`` when set, to look at them).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nii
from nii.model import ThreatOrigin
from tests.viewer.browser import CANVAS_SPREAD, LOADED, browser_page, running_viewer


def screenshot(page, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    page.screenshot(path=str(path))
    if os.environ.get("NII_SCREENSHOTS"):
        shutil.copy(path, Path(os.environ["NII_SCREENSHOTS"]) / name)
    return path


def canvas_centre(page, selector: str = "#osd") -> tuple[float, float]:
    box = page.locator(f"{selector} canvas").first.bounding_box()
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def wait_loaded(page, name: str = "viewer") -> None:
    page.wait_for_function(LOADED, arg=name, timeout=30_000)


@pytest.fixture
def officer(scan_files, dicos_copy):
    with running_viewer([dicos_copy, scan_files["a"]]) as url, browser_page(url) as (page, errors):
        wait_loaded(page)
        yield page, errors


def test_officer_zooms_windows_and_toggles_threat_boxes(officer, tmp_path):
    page, errors = officer
    first = page.evaluate(CANVAS_SPREAD, "#osd")
    assert first["std"] > 10, first  # a picture, not a blank canvas
    assert page.locator("#scan-list li").count() == 2
    assert page.locator("#scan-list img").first.evaluate("img => img.complete && img.naturalWidth > 0")
    screenshot(page, tmp_path, "officer-overview.png")

    zoom = page.evaluate("niiView.viewer.viewport.getZoom()")
    page.click("#zoom-in")
    page.wait_for_function(f"() => niiView.viewer.viewport.getZoom() > {zoom * 1.3}")
    page.mouse.click(*canvas_centre(page))
    page.keyboard.press("-")  # OpenSeadragon's keyboard zoom
    page.wait_for_function(f"() => niiView.viewer.viewport.getZoom() < {zoom * 1.4}")
    wait_loaded(page)

    shown = page.text_content("#window-text")
    x, y = canvas_centre(page)
    with page.expect_response(lambda r: "/tile?" in r.url and "window=auto" not in r.url):
        page.keyboard.down("Shift")
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + 120, y + 60, steps=6)
        page.mouse.up()
        page.keyboard.up("Shift")
    assert page.text_content("#window-text") != shown
    wait_loaded(page)
    after = page.evaluate(CANVAS_SPREAD, "#osd")
    assert abs(after["mean"] - first["mean"]) > 1 or abs(after["std"] - first["std"]) > 1

    boxes = page.locator(".threat-box")
    assert boxes.count() == 2  # the two threats of the simulated container
    assert "alarm" in page.text_content("#threat-list").lower()
    page.uncheck("#threats")
    assert boxes.count() == 0
    page.check("#threats")
    assert boxes.count() == 2

    page.mouse.move(x, y)
    page.mouse.move(x + 5, y + 3)
    page.wait_for_function("() => document.getElementById('readout').textContent.includes('attenuation')")
    assert "steel" in page.text_content("#readout")

    page.click("#ruler")
    page.mouse.click(x - 100, y)
    page.mouse.click(x + 100, y)
    assert page.text_content("#ruler-text").endswith("mm")

    with page.expect_download() as download:
        page.click("#export")
    exported = tmp_path / "export.png"
    download.value.save_as(exported)
    picture = Image.open(exported)
    assert picture.format == "PNG" and picture.size[0] > 500 and np.asarray(picture.convert("L")).std() > 10

    page.select_option("#quantity", "material")
    page.wait_for_function("() => document.getElementById('legend').textContent.includes('organic')")
    wait_loaded(page)
    screenshot(page, tmp_path, "officer-material.png")
    assert errors == []


def test_officer_saves_a_box_as_an_operator_report(officer, dicos_copy, tmp_path):
    page, errors = officer
    x, y = canvas_centre(page)
    page.click("#mark")
    page.mouse.move(x - 80, y - 40)
    page.mouse.down()
    page.mouse.move(x + 80, y + 40, steps=5)
    page.mouse.up()
    page.wait_for_selector("#mark-dialog[open]")
    page.select_option("#mark-category", "EXPLOSIVE")
    page.fill("#mark-officer", "officer-7")
    page.click("#mark-save")
    page.wait_for_function("() => document.getElementById('message').textContent.includes('saved tdr-operator-1.dcs')")
    page.wait_for_function("() => document.querySelectorAll('.threat-box.operator').length === 1")
    screenshot(page, tmp_path, "officer-marked.png")
    scan = nii.read(dicos_copy)
    (saved,) = [t for t in scan.threats if t.origin is ThreatOrigin.OPERATOR]
    assert str(saved.category) == "EXPLOSIVE" and saved.box.width > 5 and saved.box.height > 5
    assert "explosive" in page.text_content("#threat-list")
    assert errors == []


def test_two_scanners_side_by_side_in_step_and_flicker(scan_files, tmp_path):
    with running_viewer([scan_files["a"], scan_files["b"]]) as url, browser_page(url) as (page, errors):
        wait_loaded(page)
        page.click("#tab-compare")
        page.select_option("#pair-a", "s0")
        page.select_option("#pair-b", "s1")
        page.click("#pair-go")
        page.wait_for_function("() => document.getElementById('pair-info').textContent.includes('confidence')")
        assert "NOT converged" not in page.text_content("#pair-info")
        wait_loaded(page, "left")
        wait_loaded(page, "right")
        for side in ("#osd-left", "#osd-right"):
            assert page.evaluate(CANVAS_SPREAD, side)["std"] > 10
        page.evaluate("niiView.left.viewport.zoomBy(2.5); niiView.left.viewport.panBy(new OpenSeadragon.Point(0.1, 0))")
        page.wait_for_timeout(600)
        left, right = (page.evaluate(f"niiView.{s}.viewport.getBounds(true)") for s in ("left", "right"))
        assert left["x"] == pytest.approx(right["x"], abs=1e-3) and left["width"] == pytest.approx(
            right["width"], rel=1e-3
        )
        screenshot(page, tmp_path, "compare-side.png")

        page.click("#pair-modes button[data-mode=flicker]")
        wait_loaded(page, "left")
        seen = set()
        for _ in range(8):
            page.wait_for_timeout(250)
            seen.add(page.get_attribute("#pair-info", "data-flicker"))
        assert {"A", "B"} <= seen
        assert page.evaluate("niiView.left.world.getItemCount()") == 2
        assert page.is_hidden("#osd-right")

        page.click("#pair-modes button[data-mode=difference]")
        wait_loaded(page, "left")
        assert page.evaluate(CANVAS_SPREAD, "#osd-left")["std"] > 1
        screenshot(page, tmp_path, "compare-difference.png")
        assert errors == []

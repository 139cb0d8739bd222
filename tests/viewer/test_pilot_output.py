"""``nii view PILOT_OUT``: a pilot's output folder in the viewer (Starlette's TestClient, and chromium): its DICOS
scans grouped by scanner, not its vendor files, and its report served as one fixed file."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from nii.pilot import load_pilot, run_pilot
from nii.viewer.app import create_app
from nii.viewer.catalogue import Catalogue
from nii.viewer.pilot_output import is_pilot_output
from tests.viewer.browser import browser_page, running_viewer

PILOT = """
[pilot]
title = "Viewer pilot"
throughput_rounds = 1

[quality]
enabled = false

[[scanners]]
name = "gate-b"
model = "linac-9/6"
format = "npz"
scale = 0.12

[[scanners]]
name = "gate-a"
model = "linac-6/4"
format = "ref-rawxml"
scale = 0.12

[[objects]]
name = "truck"
scenario = "truck"
seed = 5

[[objects]]
name = "container"
scenario = "cargo"
seed = 3
"""


@pytest.fixture(scope="module")
def pilot_out(tmp_path_factory):
    """A real pilot run: two scanners (listed b before a), two objects (truck before container)."""
    folder = tmp_path_factory.mktemp("viewer-pilot")
    (folder / "pilot.toml").write_text(PILOT)
    out = folder / "out"
    run_pilot(load_pilot(folder), out)
    (folder / "secret.txt").write_text("not for the browser")
    return out


@pytest.fixture
def pilot_client(pilot_out):
    return TestClient(create_app(Catalogue([pilot_out])), raise_server_exceptions=False)


def test_a_pilot_lists_its_dicos_scans_by_scanner_in_the_pilots_order(pilot_out, pilot_client):
    assert is_pilot_output(pilot_out)
    assert sorted(p.parent.name for p in (pilot_out / "scans").rglob("*.*")) == ["gate-a"] * 2 + ["gate-b"] * 2
    listing = pilot_client.get("/api/scans").json()
    scans = listing["scans"]
    assert [(s["group"], s["label"], s["format"]) for s in scans] == [
        ("gate-b", "truck", "dicos"),
        ("gate-b", "container", "dicos"),
        ("gate-a", "truck", "dicos"),
        ("gate-a", "container", "dicos"),
    ]  # no vendor file: each scan once
    assert all(s["can_annotate"] for s in scans)
    assert listing["reports"] == [{"id": "r0", "title": "Viewer pilot", "url": "reports/r0", "scans": 4}]
    described = pilot_client.get(f"/api/scans/{scans[0]['id']}").json()
    assert (described["group"], described["label"], described["views"][0]["name"]) == ("gate-b", "truck", "side")


def test_the_report_is_served_as_one_file_with_no_script(pilot_out, pilot_client):
    response = pilot_client.get("/reports/r0")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.content == (pilot_out / "report.html").read_bytes()
    policy = response.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script-src" not in policy and "img-src data:" in policy
    for path in ("/reports/r1", "/reports/report.html", "/reports/..%2Fresults.json", "/reports/r0/../secret.txt"):
        answer = pilot_client.get(path)
        assert answer.status_code == 404, path
        assert b"not for the browser" not in answer.content
    for path in ("/results.json", "/assets/../results.json", "/dicos/gate-a/truck"):
        assert pilot_client.get(path).status_code == 404, path


def test_a_plain_folder_of_scans_has_no_report(scan_files, client):
    listing = client.get("/api/scans").json()
    assert listing["reports"] == []
    assert {s["group"] for s in listing["scans"]} == {None}
    assert client.get("/reports/r0").status_code == 404


@pytest.mark.slow
def test_the_viewer_shows_the_pilot_and_opens_its_report(pilot_out):
    with running_viewer([pilot_out]) as url, browser_page(url) as (page, errors):
        page.wait_for_selector("#scan-list li img")
        assert page.locator("#scan-list li.group-heading").all_text_contents() == ["gate-b", "gate-a"]
        assert page.locator("#pair-a option").all_text_contents()[:2] == ["gate-b / truck", "gate-b / container"]
        assert page.input_value("#pair-b") == "s2"  # gate-a's truck: the same object on the other scanner
        link = page.locator("a.report-link")
        assert link.text_content() == "report: Viewer pilot"
        with page.context.expect_page() as opened:
            link.click()
        report = opened.value
        report_errors: list[str] = []
        report.on("pageerror", lambda error: report_errors.append(str(error)))
        report.wait_for_load_state()
        assert report.title() == "Viewer pilot"
        assert report.locator("img").count() > 0
        assert report.evaluate("[...document.images].every((img) => img.complete && img.naturalWidth > 0)")
        assert not errors and not report_errors, errors + report_errors

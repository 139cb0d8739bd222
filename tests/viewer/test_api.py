"""The viewer's HTTP API, in process (Starlette's TestClient): tiles, displays, readout, reports, pairs."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from starlette.testclient import TestClient

import nii
from nii.render import Renderer, RenderOptions, render
from nii.viewer.app import create_app
from nii.viewer.catalogue import Catalogue
from nii.viewer.tiles import TILE


def decoded(response) -> np.ndarray:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] in ("image/png", "image/webp")
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_scan_list_names_every_scan_without_opening_any(client, catalogue):
    response = client.get("/api/scans")
    assert response.status_code == 200
    scans = response.json()["scans"]
    assert [s["id"] for s in scans] == ["s0", "s1", "s2"]
    assert [s["can_annotate"] for s in scans] == [False, False, True]
    assert catalogue.open_ids == []


def test_tile_is_a_png_of_the_right_size_inside_and_at_the_edge(client):
    display = client.get("/api/scans/s0/display", params={"view": "side"}).json()
    width, height, levels = display["width"], display["height"], display["levels"]
    assert levels >= 2 and width > TILE
    inner = decoded(client.get("/api/scans/s0/tile", params={"view": "side", "level": 0, "x": 0, "y": 0}))
    assert inner.shape == (min(TILE, height), TILE, 3)
    last_x = (width - 1) // TILE
    edge = decoded(client.get("/api/scans/s0/tile", params={"view": "side", "level": 0, "x": last_x, "y": 0}))
    assert edge.shape[1] == width - last_x * TILE
    top = decoded(client.get("/api/scans/s0/tile", params={"view": "side", "level": levels - 1, "x": 0, "y": 0}))
    assert max(top.shape[:2]) <= TILE and top.std() > 5  # the whole scan, not blank


def test_webp_tiles_decode_to_the_png_pixels(client):
    params = {"view": "side", "level": 0, "x": 1, "y": 0}
    png = decoded(client.get("/api/scans/s0/tile", params=params))
    webp = decoded(client.get("/api/scans/s0/tile", params={**params, "format": "webp"}))
    assert np.array_equal(png, webp)  # lossless


def test_window_change_changes_the_pixels(client):
    params = {"view": "side", "level": 0, "x": 1, "y": 0}
    wide = decoded(client.get("/api/scans/s0/tile", params={**params, "window": "0,8"}))
    narrow = decoded(client.get("/api/scans/s0/tile", params={**params, "window": "1,3"}))
    assert wide.shape == narrow.shape
    assert np.mean(wide != narrow) > 0.2
    preset = decoded(client.get("/api/scans/s0/tile", params={**params, "window": "metal"}))
    assert not np.array_equal(preset, wide)


@pytest.mark.parametrize("level", [0, 1, 2])
def test_tile_equals_the_crop_of_the_full_rendering(client, scan_files, level):
    scan = nii.read(scan_files["a"])
    options = RenderOptions(window="0.5,7", enhance=False)
    whole = render(scan, view="side", options=options, level=level).image
    params = {"view": "side", "window": "0.5,7", "level": level, "x": 1, "y": 0}
    if whole.shape[1] <= TILE:
        params["x"] = 0
    tile = decoded(client.get("/api/scans/s0/tile", params=params))
    x0 = params["x"] * TILE
    assert np.array_equal(tile, whole[: tile.shape[0], x0 : x0 + tile.shape[1]])


def test_quantities_steel_and_material_come_with_units_and_legend(client):
    steel = client.get("/api/scans/s0/display", params={"view": "side", "quantity": "steel"}).json()
    assert steel["unit"] == "mm steel" and steel["window"][1] > steel["window"][0]
    material = client.get("/api/scans/s0/display", params={"view": "side", "quantity": "material"}).json()
    assert [entry["name"] for entry in material["legend"]] == ["organic", "inorganic", "metal", "high z"]
    tile = decoded(
        client.get("/api/scans/s0/tile", params={"view": "side", "quantity": "material", "level": 0, "x": 1, "y": 0})
    )
    colourful = np.abs(tile[..., 0].astype(int) - tile[..., 2].astype(int)) > 40
    assert colourful.mean() > 0.05  # false colour, not grey
    stripped = decoded(
        client.get("/api/scans/s0/tile", params={"view": "side", "strip": "metal", "level": 0, "x": 1, "y": 0})
    )
    assert stripped.shape == tile.shape


def test_display_gives_threat_boxes_in_picture_pixels(client, scan_files):
    scan = nii.read(scan_files["a"])
    display = client.get("/api/scans/s0/display", params={"view": "side"}).json()
    assert len(display["threats"]) == len(scan.threats) > 0
    prepared = Renderer(scan, view="side")
    expected = [box for _, box in prepared.threat_boxes(prepared.base_pixel_mm)]
    got = [(t["x0"], t["y0"], t["x1"] - 1, t["y1"] - 1) for t in display["threats"]]
    assert got == expected
    assert all(t["category"] and isinstance(t["alarm"], bool) for t in display["threats"])


def test_readout_gives_raw_attenuation_steel_and_material(client, scan_files):
    display = client.get("/api/scans/s0/display", params={"view": "side"}).json()
    x, y = display["width"] / 2, display["height"] / 2
    values = client.get("/api/scans/s0/readout", params={"view": "side", "x": x, "y": y}).json()
    scan = nii.read(scan_files["a"])
    raw = np.asarray(scan.view("side").channels["high"])
    assert values["raw"]["high"] == float(raw[values["row"], values["line"]])
    prepared = Renderer(scan, view="side")
    whole = {q: Renderer(scan, options=RenderOptions(quantity=q, crop=False)).values for q in ("steel", "material")}
    assert values["attenuation"] == pytest.approx(float(prepared.values[values["row"], values["line"]]), abs=1e-6)
    assert values["steel_mm"] == pytest.approx(float(whole["steel"][values["row"], values["line"]]), rel=0.005, abs=0.5)
    assert values["material"] in ("unknown", "organic", "inorganic", "metal", "high z")
    assert values["x_mm"] == pytest.approx(x * display["pixel_mm"][1])


def test_thumbnail_is_a_small_picture(client):
    picture = decoded(client.get("/api/scans/s1/thumbnail"))
    assert picture.shape[1] <= 200 and picture.std() > 5


def test_scan_description_has_metadata_without_personal_data(client):
    info = client.get("/api/scans/s2").json()
    assert info["format"] == "dicos" and info["can_annotate"]
    assert info["views"][0]["name"] == "side"
    assert info["metadata"]["scanner"]["energies_kv"] == {"high": 6000.0, "low": 4000.0}
    assert info["metadata"]["object"]["container_numbers"]
    assert "operator" not in info["metadata"]


def test_an_operator_box_is_saved_into_the_dicos_folder_and_read_back(client, dicos_copy):
    before = len(nii.read(dicos_copy).threats)
    display = client.get("/api/scans/s2/display", params={"view": "side"}).json()
    box = {"x0": 100.0, "y0": 40.0, "x1": 160.0, "y1": 90.0, "category": "EXPLOSIVE", "operator": "officer-9"}
    response = client.post("/api/scans/s2/threats", params={"view": "side"}, json=box)
    assert response.status_code == 201, response.text
    assert response.json()["file"] == "tdr-operator-1.dcs"
    scan = nii.read(dicos_copy)
    assert len(scan.threats) == before + 1
    (saved,) = [t for t in scan.threats if str(t.origin) == "OPERATOR"]
    assert str(saved.category) == "EXPLOSIVE" and saved.view == "side"
    # The box comes back where it was drawn, in picture pixels of the same display.
    again = client.get("/api/scans/s2/display", params={"view": "side"}).json()
    (shown,) = [t for t in again["threats"] if t["origin"] == "OPERATOR"]
    pixel = display["pixel_mm"]
    assert abs(shown["x0"] - 100) * pixel[1] < 2 * 24.5 + pixel[1]  # within a sample or two of the scan
    assert abs(shown["y1"] - 90) * pixel[0] < 2 * 30.0 + pixel[0]


def test_operator_boxes_only_go_into_dicos_folders(client):
    response = client.post("/api/scans/s0/threats", params={"view": "side"}, json={"x0": 1, "y0": 1, "x1": 5, "y1": 5})
    assert response.status_code == 409
    assert "DICOS" in response.json()["error"]


def test_pair_registers_two_scanners_and_serves_every_mode(client):
    pair = client.get("/api/pair", params={"a": "s0", "b": "s1", "view": "side"}).json()
    assert pair["confidence"] > 0.6 and pair["converged"]
    assert set(pair["transform"]) >= {"matrix"}
    tiles = {
        mode: decoded(
            client.get("/api/pair/tile", params={"a": "s0", "b": "s1", "mode": mode, "level": 0, "x": 0, "y": 0})
        )
        for mode in ("reference", "moving", "difference", "checkerboard")
    }
    assert len({tile.shape for tile in tiles.values()}) == 1
    assert not np.array_equal(tiles["reference"], tiles["moving"])
    # Registered and matched: the two scanners' pictures agree far better than either does with the difference.
    reference, moving = (tiles[m][..., 0].astype(float) for m in ("reference", "moving"))
    assert np.corrcoef(reference.ravel(), moving.ravel())[0, 1] > 0.8
    assert tiles["difference"].std() > 0


def test_high_and_low_energy_of_one_scan_are_compared_too(client):
    query = {"a": "s0", "b": "s0", "view": "side", "channel": "high", "channel_b": "low"}
    pair = client.get("/api/pair", params=query).json()
    assert pair["confidence"] > 0.8
    moving = decoded(client.get("/api/pair/tile", params={**query, "mode": "moving", "level": 0, "x": 0, "y": 0}))
    same = decoded(client.get("/api/pair/tile", params={**query, "mode": "reference", "level": 0, "x": 0, "y": 0}))
    assert moving.shape == same.shape and not np.array_equal(moving, same)


def test_lazy_catalogue_keeps_at_most_two_scans_open(scan_files):
    catalogue = Catalogue([scan_files["a"], scan_files["b"], scan_files["dicos"]])
    assert catalogue.open_ids == []
    for entry in catalogue.entries:
        catalogue.open(entry.id)
    assert catalogue.open_ids == ["s1", "s2"]


@pytest.mark.parametrize(
    "options",
    [
        RenderOptions(window="0.5,5"),
        RenderOptions(window="metal", invert=False),
        RenderOptions(strip="metal", enhance=True, gamma=0.7),
        RenderOptions(threats=True, window="1,4"),
        RenderOptions(quantity="material"),
    ],
)
def test_a_restyled_renderer_draws_what_a_fresh_one_draws(scan_files, options):
    scan = nii.read(scan_files["a"])
    restyled = Renderer(scan, options=RenderOptions()).restyled(options)
    fresh = Renderer(scan, options=options)
    assert (restyled.window, restyled.invert) == (fresh.window, fresh.invert)
    for level in (0, 1):
        assert np.array_equal(restyled.picture(level=level).image, fresh.picture(level=level).image)


def test_every_scan_of_an_archive_is_listed_and_shown(scan_files, tmp_path):
    from nii.formats.archive import write_archive

    first, second = nii.read(scan_files["a"]), nii.read(scan_files["b"])
    write_archive(tmp_path / "lib.niih5", [first, second])
    catalogue = Catalogue([tmp_path / "lib.niih5"])
    client = TestClient(create_app(catalogue), raise_server_exceptions=False)
    scans = client.get("/api/scans").json()["scans"]
    assert [(s["id"], s["label"], s["format"]) for s in scans] == [
        ("s0", "lib.niih5 #0", "nii-archive"),
        ("s1", "lib.niih5 #1", "nii-archive"),
    ]
    assert catalogue.open_ids == []
    info = client.get("/api/scans/s1").json()
    assert (info["views"][0]["rows"], info["views"][0]["lines"]) == second.view("side").shape
    tile = decoded(client.get("/api/scans/s1/tile", params={"view": "side", "level": 0, "x": 0, "y": 0}))
    assert tile.std() > 5

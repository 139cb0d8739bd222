"""``nii export`` end to end: simulated scans with their truth, exported with default options."""

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import nii
import nii.values
from nii.cli import main
from nii.formats.archive import write_archive
from nii.model import View
from nii.render import Picture, Renderer, RenderOptions, render
from nii.render.export import picture_metadata
from nii.render.quantities import cell_edges
from nii.simulate import simulate
from tests.conftest import make_scan


def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "nii", *args], capture_output=True, text=True)


def read_pixels(path) -> np.ndarray:
    with Image.open(path) as picture:
        return np.array(picture)


def truth_in_picture(mask: np.ndarray, picture: Picture, view) -> np.ndarray:
    """The truth mask (canonical orientation) sampled at the centre of every picture pixel."""
    row_edges, column_edges = cell_edges(view)
    rows, columns = picture.content_rows, picture.image.shape[1]
    row_mm = picture.origin_mm[0] + (np.arange(rows) + 0.5) * picture.mm_per_pixel[0]
    column_mm = picture.origin_mm[1] + (np.arange(columns) + 0.5) * picture.mm_per_pixel[1]
    row_index = np.clip(np.searchsorted(row_edges, row_mm, side="right") - 1, 0, mask.shape[0] - 1)
    column_index = np.clip(np.searchsorted(column_edges, column_mm, side="right") - 1, 0, mask.shape[1] - 1)
    return mask[row_index[:, None], column_index[None, :]]


def assert_object_visible(path, scan, truth, view_name="side"):
    """At least 80 % of the object's pixels (by the simulator's truth) neither black nor white."""
    pixels = read_pixels(path)
    picture = render(scan, view=view_name)  # what the CLI drew, and where
    assert pixels.ndim == 2, "a grey picture is written as one grey channel"
    np.testing.assert_array_equal(pixels, picture.image[:, :, 0])
    view = scan.view(view_name)
    inside = truth_in_picture(truth.views[view_name].label > 0, picture, view)
    assert inside.sum() > 100
    shown = pixels[inside]
    visible = float(((shown > 0) & (shown < 255)).mean())
    assert visible >= 0.8, f"only {visible:.0%} of the object is neither black nor white"
    return visible


@pytest.fixture(scope="module")
def cargo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cargo")
    scan, truth = simulate("cargo", seed=4, scale=0.2, threats_in_scan=True)
    nii.write(scan, folder / "raw.npz")
    return folder, scan, truth


@pytest.mark.parametrize("steps", ["", "calibrate", "attenuate"])
def test_cargo_exports_visibly_with_default_options(cargo, steps, tmp_path):
    folder, _, truth = cargo
    source = folder / "raw.npz"
    if steps:
        assert main(["convert", str(source), "--to", "npz", "--normalize", steps, "--out", str(tmp_path)]) == 0
        source = tmp_path / "raw.npz"
    out = tmp_path / "cargo.png"
    assert main(["export", str(source), "--out", str(out)]) == 0
    assert_object_visible(out, nii.read(source), truth)


@pytest.mark.parametrize("scenario", ["suitcase", "steps"])
def test_suitcase_and_step_wedges_export_visibly(scenario, tmp_path):
    scan, truth = simulate(scenario, seed=5, scale=0.3)
    nii.write(scan, tmp_path / "scan.npz")
    out = tmp_path / f"{scenario}.png"
    assert main(["export", str(tmp_path / "scan.npz"), "--out", str(out)]) == 0
    for view in scan.views:
        assert main(["export", str(tmp_path / "scan.npz"), "--view", view.name, "--out", str(out)]) == 0
        assert_object_visible(out, scan, truth, view.name)


def assert_boxes_drawn(pixels: np.ndarray, picture: Picture, scan, threats) -> None:
    """Every threat's frame is red exactly where its truth box lies in the picture."""
    red = (pixels[:, :, 0] == 255) & (pixels[:, :, 1] == 0) & (pixels[:, :, 2] == 0)
    reddish = pixels[:, :, 0].astype(int) - pixels[:, :, 1] > 80  # text is anti-aliased
    for threat in threats:
        row_edges, column_edges = cell_edges(scan.view(threat.view))
        box = threat.box
        # the truth box in picture pixels, computed here from the geometry alone
        pixel = picture.mm_per_pixel[0]
        y0 = int(np.floor((row_edges[box.y] - picture.origin_mm[0]) / pixel))
        x0 = int(np.floor((column_edges[box.x] - picture.origin_mm[1]) / pixel))
        y1 = int(np.ceil((row_edges[box.y + box.height] - picture.origin_mm[0]) / pixel)) - 1
        x1 = int(np.ceil((column_edges[box.x + box.width] - picture.origin_mm[1]) / pixel)) - 1
        for edge in (red[y0, x0 : x1 + 1], red[y1, x0 : x1 + 1], red[y0 : y1 + 1, x0], red[y0 : y1 + 1, x1]):
            assert edge.all(), f"{threat.category} box edge not drawn at its place"
        if y1 - y0 > 6 and x1 - x0 > 6:
            assert red[y0 + 3 : y1 - 2, x0 + 3 : x1 - 2].mean() < 0.2  # a frame, not a filled box
        assert reddish[max(0, y0 - 12) : y0, x0 : x0 + 40].sum() > 10 or y0 < 12  # the category label above the box


@pytest.mark.parametrize("scenario", ["cargo", "suitcase"])
def test_threat_boxes_are_drawn_at_their_true_place(cargo, scenario, tmp_path):
    if scenario == "cargo":
        folder, scan, truth = cargo
        source = folder / "raw.npz"
    else:
        scan, truth = simulate("suitcase", seed=3, scale=0.4, threats_in_scan=True)
        source = tmp_path / "suitcase.npz"
        nii.write(scan, source)
    assert truth.threats and [t.box for t in scan.threats] == [t.box for t in truth.threats]
    for view in scan.views:
        out = tmp_path / f"{view.name}.png"
        assert main(["export", str(source), "--view", view.name, "--threats", "--out", str(out)]) == 0
        pixels = read_pixels(out)
        picture = render(scan, view=view.name, options=RenderOptions(threats=True))
        np.testing.assert_array_equal(pixels, picture.image)
        on_view = [t for t in truth.threats if t.view == view.name]
        assert_boxes_drawn(pixels, picture, scan, on_view)
        plain = render(scan, view=view.name).image
        assert (pixels != plain).any(axis=2).sum() > 0 if on_view else (pixels == plain).all()


def test_materials_export_from_npz_and_from_dicos(cargo, tmp_path):
    folder, _, _ = cargo
    assert (
        main(
            [
                "convert",
                str(folder / "raw.npz"),
                "--to",
                "npz",
                "--normalize",
                "materials",
                "--out",
                str(tmp_path / "npz"),
            ]
        )
        == 0
    )
    assert main(["convert", str(folder / "raw.npz"), "--normalize", "materials", "--out", str(tmp_path / "dicos")]) == 0
    pictures = {}
    for kind, source in (("npz", tmp_path / "npz" / "raw.npz"), ("dicos", tmp_path / "dicos" / "raw")):
        out = tmp_path / f"{kind}.png"
        assert main(["export", str(source), "--display", "material", "--legend", "--out", str(out)]) == 0
        pictures[kind] = read_pixels(out)
        assert picture_metadata(out)["quantity"] == "material"
    npz, dicos = pictures["npz"], pictures["dicos"]
    assert npz.shape == dicos.shape and npz.ndim == 3
    # DICOS stores the same classes (as uint16) and attenuation codes: the colours agree almost everywhere
    assert (np.abs(npz.astype(int) - dicos).max(axis=2) <= 3).mean() > 0.99
    colours = {tuple(c) for c in npz.reshape(-1, 3)[::7]}
    assert len(colours) > 20  # classes in colour, brightness from the attenuation


def test_sixteen_bit_export_writes_exact_values_with_scale_and_unit(tmp_path):
    scan = make_scan()
    source = tmp_path / "scan.npz"
    nii.write(scan, source)
    out = tmp_path / "side.tiff"
    assert main(["export", str(source), "--display", "raw", "--16bit", "--out", str(out)]) == 0
    np.testing.assert_array_equal(read_pixels(out), scan.views[0].channels["high"])
    assert picture_metadata(out) == {"quantity": "raw", "unit": "counts", "scale": 1.0}
    png = tmp_path / "side.png"
    assert main(["export", str(source), "--16bit", "--out", str(png)]) == 0
    metadata = picture_metadata(png)
    assert metadata["quantity"] == "attenuation" and metadata["unit"] == "-ln(I/I0)"
    codes = read_pixels(png)
    assert codes.dtype == np.uint16
    assert np.abs(codes * metadata["scale"] - Renderer(scan).values).max() <= metadata["scale"]


def test_export_of_an_archive_scan_with_options(tmp_path):
    scans = [make_scan(seed=0), make_scan(seed=1)]
    archive = tmp_path / "two.niih5"
    write_archive(archive, scans)
    out = tmp_path / "top.png"
    arguments = ["--scan", "1", "--view", "top", "--channel", "low", "--window", "0.5,3", "--invert", "--no-crop"]
    result = run_cli("export", str(archive), *arguments, "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    options = RenderOptions(channel="low", window="0.5,3", invert=True, crop=False)
    np.testing.assert_array_equal(read_pixels(out), render(scans[1], view="top", options=options).image[:, :, 0])


def test_export_errors_are_one_line(tmp_path, capsys):
    scan = make_scan()
    source = tmp_path / "scan.npz"
    nii.write(scan, source)

    def error(*arguments: str) -> str:
        assert main(["export", str(source), *arguments]) == 1
        message = capsys.readouterr().err
        assert message.count("\n") == 1 and message.startswith("nii: error: ")
        return message.strip()

    out = ["--out", str(tmp_path / "x.png")]
    assert error("--scan", "1", *out) == f"nii: error: {source}: --scan needs a multi-scan file; this is npz"
    assert "JPEG holds 8-bit images only" in error("--16bit", "--out", str(tmp_path / "x.jpg"))
    assert "LOW,HIGH" in error("--window", "5,1", *out)
    assert "scanner model" in error("--display", "steel", *out)  # sim-6/4 is no model nii can compute with
    assert "no view 'front'" in error("--view", "front", *out)
    with pytest.raises(SystemExit) as exit_status:
        main(["export", str(source), "--display", "sepia", *out])
    assert exit_status.value.code == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scan.npz"]


def test_mode_shorthands_of_the_readme(cargo, tmp_path):
    folder, scan, _ = cargo
    source = str(folder / "raw.npz")
    assert main(["export", source, "--mode", "false-colour", "--out", str(tmp_path / "a.png")]) == 0
    assert main(["export", source, "--display", "material", "--out", str(tmp_path / "b.png")]) == 0
    np.testing.assert_array_equal(read_pixels(tmp_path / "a.png"), read_pixels(tmp_path / "b.png"))
    assert main(["export", source, "--mode", "16bit", "--out", str(tmp_path / "c.png")]) == 0
    assert read_pixels(tmp_path / "c.png").dtype == np.uint16
    assert main(["export", source, "--mode", "window", "--out", str(tmp_path / "d.png")]) == 0
    np.testing.assert_array_equal(read_pixels(tmp_path / "d.png"), render(scan).image[:, :, 0])


def test_a_raw_export_without_references_finds_its_open_beam_once_per_channel(tmp_path, monkeypatch):
    scan, _ = simulate("truck", seed=5, scale=0.1)
    view = scan.views[0]
    counts = {  # what a vendor without calibration lines exports: dark-subtracted counts, no references
        name: np.clip(view.channels[name] - view.dark[name].mean(axis=1)[:, None], 0, None).astype(np.uint16)
        for name in ("high", "low")
    }
    nii.write(scan.with_views([View(view.name, counts, view.geometry)]), tmp_path / "vendor.npz")
    searches = []
    real_find_air = nii.values.find_air
    monkeypatch.setattr(nii.values, "find_air", lambda raw: searches.append(raw.shape) or real_find_air(raw))
    out = tmp_path / "vendor.png"
    assert main(["export", str(tmp_path / "vendor.npz"), "--out", str(out), "--legend"]) == 0
    assert searches == [view.shape]  # choosing attenuation, computing it and the object mask share one search
    searches.clear()
    material = ["--display", "material", "--scanner", "linac-6/4", "--out", str(tmp_path / "material.png")]
    assert main(["export", str(tmp_path / "vendor.npz"), *material]) == 0
    assert searches == [view.shape, view.shape]  # high and low, once each
    nii.write(scan, tmp_path / "references.npz")
    reference_picture = tmp_path / "references.png"
    assert main(["export", str(tmp_path / "references.npz"), "--out", str(reference_picture), "--legend"]) == 0
    difference = np.abs(read_pixels(out).astype(int) - read_pixels(reference_picture).astype(int))
    assert np.quantile(difference, 0.99) <= 4  # the scan's own open beam calibrates as its reference lines do

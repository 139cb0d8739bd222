from datetime import UTC, datetime

import numpy as np
import pytest
from nii.formats.export import ExportMode, WindowLevel, export_view, oriented_channel, render_view
from nii.kernels import CONVENTIONAL_PALETTE, MaterialClass, MaterialTable, ZeffGrid, false_colour, material_classes
from PIL import Image

import nii
from nii.errors import ConfigurationError, FileAccessError, UnsupportedError, ValidationError
from nii.model import CalibrationState, Geometry, Scan, Scanner, View
from nii.physics import SCANNERS
from nii.physics import transmission as physics_transmission


def gradient_scan(**view_options) -> Scan:
    """One view whose 'high' channel rises left to right and has a bright marker at the top left."""
    high = np.tile(np.linspace(1000, 61000, 200), (60, 1)).astype(np.uint16)
    high[:5, :8] = 65535
    low = (np.arange(60 * 200, dtype=np.float32).reshape(60, 200) / 100).astype(np.float32)
    view = View("side", {"high": high, "low": low}, Geometry(5.0, 4.2), **view_options)
    return Scan([view], acquired_at=datetime(2026, 1, 1, tzinfo=UTC))


def read_picture(path) -> tuple[np.ndarray, Image.Image]:
    with Image.open(path) as picture:
        picture.load()
        return np.array(picture), picture


def test_explicit_window_maps_its_bounds_to_black_and_white():
    view = View("side", {"high": np.array([[0, 250, 500, 750, 1000, 1200]], np.uint16)})
    assert render_view(view, window=WindowLevel(750, 500)).tolist() == [[0, 0, 0, 128, 255, 255]]
    assert render_view(view, window=WindowLevel(750, 500), invert=True).tolist() == [[255, 255, 255, 127, 0, 0]]
    assert render_view(view, window=WindowLevel.from_bounds(0, 1000)).tolist() == [[0, 64, 128, 191, 255, 255]]


def test_automatic_window_spans_the_percentiles(tmp_path):
    scan = gradient_scan()
    path = export_view(scan, tmp_path / "side.png")
    pixels, picture = read_picture(path)
    assert picture.mode == "L" and pixels.shape == (60, 200)
    np.testing.assert_array_equal(pixels, render_view(scan.views[0]))
    high = scan.views[0].channels["high"].astype(float)
    low_value, high_value = np.percentile(high, [0.5, 99.5])
    assert (pixels[high <= low_value] == 0).all() and (pixels[high >= high_value] == 255).all()
    middle = (high > low_value) & (high < high_value)
    expected = np.rint((high[middle] - low_value) * 255 / (high_value - low_value))
    np.testing.assert_array_equal(pixels[middle], expected)


def test_rows_top_down_and_travel_left_to_right(tmp_path):
    scan = gradient_scan()
    pixels, _ = read_picture(export_view(scan, tmp_path / "canonical.png", window="33000,64000"))
    assert pixels[0, 0] == 255 and pixels[-1, 0] < 10 and pixels[-1, -1] == 239  # marker top left, bright right
    view = scan.views[0]
    flipped = view.with_channels(
        {name: array[::-1, ::-1] for name, array in view.channels.items()},
        geometry=Geometry(5.0, 4.2, travel_direction="right_to_left", row_order="bottom_up"),
    )
    again, _ = read_picture(export_view(scan.with_views([flipped]), tmp_path / "flipped.png", window="33000,64000"))
    np.testing.assert_array_equal(again, pixels)
    np.testing.assert_array_equal(oriented_channel(flipped, "high"), view.channels["high"])


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_sixteen_bit_keeps_uint16_values_exactly(tmp_path, suffix):
    scan = gradient_scan()
    pixels, picture = read_picture(export_view(scan, tmp_path / f"side{suffix}", mode="16bit"))
    assert picture.mode == "I;16"
    np.testing.assert_array_equal(pixels, scan.views[0].channels["high"])


def test_sixteen_bit_stretches_float_channels(tmp_path):
    scan = gradient_scan()
    pixels, _ = read_picture(export_view(scan, tmp_path / "low.png", channel="low", mode=ExportMode.SIXTEEN_BIT))
    low = scan.views[0].channels["low"].astype(float)
    np.testing.assert_array_equal(pixels, np.rint((low - low.min()) * 65535 / (low.max() - low.min())))


def test_attenuation_is_shown_dense_dark(tmp_path):
    attenuation = np.tile(np.linspace(0, 8, 100, dtype=np.float32), (10, 1))
    view = View("side", {"high": attenuation}, calibration=CalibrationState.ATTENUATION)
    scan = Scan([view], acquired_at=datetime(2026, 1, 1, tzinfo=UTC))
    pixels, _ = read_picture(export_view(scan, tmp_path / "a.png", window=WindowLevel.from_bounds(0, 8)))
    assert pixels[0, 0] == 255 and pixels[0, -1] == 0
    pixels, _ = read_picture(export_view(scan, tmp_path / "b.png", window="4,8", invert=False))
    assert pixels[0, 0] == 0 and pixels[0, -1] == 255


def test_registry_writes_pictures_with_resolution(tmp_path):
    scan = gradient_scan()
    assert nii.write(scan, tmp_path / "side.png", channel="low") == [tmp_path / "side.png"]
    pixels, picture = read_picture(tmp_path / "side.png")
    np.testing.assert_array_equal(pixels, render_view(scan.views[0], channel="low"))
    assert picture.info["dpi"] == pytest.approx((25.4 / 4.2, 25.4 / 5.0), rel=1e-3)
    nii.write(scan, tmp_path / "side.jpeg")
    pixels, picture = read_picture(tmp_path / "side.jpeg")
    assert picture.format == "JPEG" and picture.mode == "L"
    assert np.abs(pixels.astype(int) - render_view(scan.views[0])).mean() < 2  # lossy but close
    nii.write(scan, tmp_path / "side.picture", format="tiff-export", mode="16bit")
    pixels, picture = read_picture(tmp_path / "side.picture")
    assert picture.format == "TIFF"
    np.testing.assert_array_equal(pixels, scan.views[0].channels["high"])
    with pytest.raises(TypeError, match="png-export writer takes"):
        nii.write(scan, tmp_path / "x.png", colour="red")


def test_bad_requests_leave_nothing(tmp_path):
    scan = gradient_scan()
    with pytest.raises(UnsupportedError, match="side.jpg: JPEG holds 8-bit images only"):
        export_view(scan, tmp_path / "side.jpg", mode="16bit")
    with pytest.raises(ConfigurationError, match="view 'side' has no channel 'zeff'"):
        export_view(scan, tmp_path / "side.png", channel="zeff")
    with pytest.raises(ConfigurationError, match="side.png: scan has no view 'top'"):
        export_view(scan, tmp_path / "side.png", view="top")
    with pytest.raises(ConfigurationError, match="side.bmp: cannot tell the image format"):
        export_view(scan, tmp_path / "side.bmp")
    with pytest.raises(ConfigurationError, match="window '3000' must be CENTRE,WIDTH"):
        export_view(scan, tmp_path / "side.png", window="3000")
    with pytest.raises(ConfigurationError, match=r"window '3000,-5' must be CENTRE,WIDTH \(two numbers, width > 0\)"):
        export_view(scan, tmp_path / "side.png", window="3000,-5")
    with pytest.raises(ValidationError, match="positive width"):
        WindowLevel(3000, 0)
    with pytest.raises(ValueError):
        export_view(scan, tmp_path / "side.png", mode="colour")
    with pytest.raises(FileAccessError, match="missing: output folder does not exist"):
        export_view(scan, tmp_path / "missing" / "side.png")
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- false colour

GRID = ZeffGrid(np.array([[6.0, 26.0], [6.0, 26.0]], np.float32), a_high_max=10.0, ratio_min=1.0, ratio_max=1.2)
"""Z = 6 at A_low / A_high = 1.0 rising to 26 at 1.2, whatever A_high."""
REGIONS = {
    "organic": (slice(10, 40), 1.0, 1.02),
    "inorganic": (slice(45, 75), 2.0, 1.1),
    "metal": (slice(80, 110), 3.0, 1.18),
}
"""Columns, A_high and A_low / A_high (Z 8, 16, 24) of three blocks on a thin background."""


def dual_energy_view(calibration: str = "attenuation") -> View:
    a_high = np.full((40, 120), 0.01, np.float32)
    a_low = np.full((40, 120), 0.0102, np.float32)
    for columns, high, ratio in REGIONS.values():
        a_high[5:35, columns] = high
        a_low[5:35, columns] = high * ratio
    if calibration == "attenuation":
        return View("side", {"high": a_high, "low": a_low}, calibration="ATTENUATION")
    dark, air = np.full(40, 100.0), np.full(40, 60100.0)
    counts = {
        name: np.rint(100 + 60000 * np.exp(-a)).astype(np.uint16) for name, a in (("high", a_high), ("low", a_low))
    }
    return View("side", counts, dark={"high": dark, "low": dark}, air={"high": air, "low": air})


@pytest.mark.parametrize("calibration", ["attenuation", "raw"])
def test_false_colour_from_a_zeff_table(calibration):
    view = dual_energy_view(calibration)
    window = WindowLevel.from_bounds(0, 4) if calibration == "attenuation" else WindowLevel.from_bounds(1000, 60100)
    colour = render_view(view, mode="false-colour", zeff_grid=GRID, window=window)
    assert colour.dtype == np.uint8 and colour.shape == (40, 120, 3)
    red, green, blue = (
        colour[20, REGIONS[name][0].start + 5].astype(int) for name in ("organic", "inorganic", "metal")
    )
    assert red[0] > red[1] > red[2]  # orange
    assert green[1] > max(green[0], green[2])  # green
    assert blue[2] > max(blue[0], blue[1])  # blue
    assert red.sum() > green.sum() > blue.sum()  # brightness falls with attenuation
    assert (colour[0, 0] >= 250).all()  # thin background: unknown class, shown white
    table = MaterialTable()
    if calibration == "attenuation":  # the kernels, called directly, give the same picture
        classes = material_classes(view.channels["high"], view.channels["low"], GRID, table)
        expected = false_colour(classes, render_view(view, channel="high", window=window), table.palette)
        np.testing.assert_array_equal(colour, expected)


def test_false_colour_from_a_material_channel_follows_orientation(tmp_path):
    classes = np.zeros((30, 60), np.uint8)
    classes[:, :20], classes[:, 20:40], classes[:, 40:] = (
        MaterialClass.ORGANIC,
        MaterialClass.METAL,
        MaterialClass.UNKNOWN,
    )
    grey = np.tile(np.linspace(60000, 1000, 60), (30, 1)).astype(np.uint16)
    view = View(
        "top",
        {"high": grey[::-1, ::-1], "material": classes[::-1, ::-1]},
        Geometry(4.0, 4.0, "right_to_left", "bottom_up"),
    )
    scan = Scan([view], acquired_at=datetime(2026, 1, 1, tzinfo=UTC))
    pixels, picture = read_picture(export_view(scan, tmp_path / "top.png", mode="false-colour", window="30500,59000"))
    assert picture.mode == "RGB"
    brightness = render_view(View("top", {"high": grey}), window=WindowLevel(30500, 59000))
    expected = np.rint(CONVENTIONAL_PALETTE[classes].astype(float) * brightness[..., None] / 255)
    np.testing.assert_array_equal(pixels, expected)


def test_false_colour_needs_classes():
    with pytest.raises(ConfigurationError, match="needs a 'material' channel or a Zeff table"):
        render_view(dual_energy_view(), mode="false-colour")
    view = View("side", {"high": np.ones((4, 4), np.uint16), "material": np.full((4, 4), 7, np.uint8)})
    with pytest.raises(ValidationError, match="must hold uint8 material class codes 0..4"):
        render_view(view, mode="false-colour")
    raw = View("side", {"high": np.ones((4, 4), np.uint16), "low": np.ones((4, 4), np.uint16)})
    with pytest.raises(ValidationError, match="raw counts without dark and air references"):
        render_view(raw, mode="false-colour", zeff_grid=GRID)


def test_false_colour_with_the_zeff_table_of_the_scanner_model(tmp_path):
    """Blocks of polyethylene, aluminium and iron simulated for a 6/4 MV linac come out orange, green, blue."""
    model = SCANNERS["linac-6/4"]
    blocks = {"polyethylene": 40.0, "aluminium": 40.0, "iron": 60.0}  # area densities, g/cm²
    a = {name: np.full((30, 100), 0.01, np.float32) for name in ("high", "low")}
    for index, (material, area_density) in enumerate(blocks.items()):
        for name in a:
            t = physics_transmission(model.spectra[name], material, np.array([area_density]))[0]
            a[name][5:25, 10 + 30 * index : 30 + 30 * index] = -np.log(t)
    scan = Scan(
        [View("side", a, calibration="ATTENUATION")],
        acquired_at=datetime(2026, 1, 1, tzinfo=UTC),
        scanner=Scanner(model="linac-6/4"),
    )
    pixels, _ = read_picture(export_view(scan, tmp_path / "side.png", mode="false-colour", window="2,4"))
    organic, inorganic, metal = (pixels[15, 20 + 30 * index].astype(int) for index in range(3))
    assert organic[0] > organic[1] > organic[2] and inorganic[1] > max(inorganic[0], inorganic[2])
    assert metal[2] > max(metal[0], metal[1])
    unknown_model = Scan(scan.views, acquired_at=scan.acquired_at, scanner=Scanner(model="vendor-x"))
    with pytest.raises(ConfigurationError, match="needs a 'material' channel or a Zeff table"):
        export_view(unknown_model, tmp_path / "x.png", mode="false-colour")
    again, _ = read_picture(
        export_view(unknown_model, tmp_path / "y.png", mode="false-colour", window="2,4", scanner_model="linac-6/4")
    )
    np.testing.assert_array_equal(again, pixels)
    with pytest.raises(ConfigurationError, match="scanner model 'linac-6' is not dual-energy"):
        export_view(scan, tmp_path / "z.png", mode="false-colour", scanner_model="linac-6")

from dataclasses import replace

import numpy as np
import pytest

from nii.errors import ConfigurationError, ValidationError
from nii.kernels import MaterialClass
from nii.model import Geometry, RowOrder, TravelDirection, Volume
from nii.render import (
    Picture,
    Preset,
    Quantity,
    Renderer,
    RenderOptions,
    Window,
    auto_window,
    render,
    render_tile,
    stored_codes,
)
from nii.simulate import simulate
from nii.steps import STEPS, CalibrateParameters, MaterialsParameters, QuantizeParameters


@pytest.fixture(scope="module")
def cargo():
    scan, truth = simulate("cargo", seed=2, scale=0.2, threats_in_scan=True)
    return scan, truth


@pytest.mark.parametrize("options", [RenderOptions(threats=True), RenderOptions(quantity="material", enhance=True)])
def test_a_tile_is_exactly_the_crop_of_the_whole_picture_at_three_levels(cargo, options):
    scan, _ = cargo
    renderer = Renderer(scan, options=options)
    assert renderer.levels >= 3
    for level in (0, 1, 2):
        whole = renderer.picture(level=level).image
        rows, columns = whole.shape[:2]
        assert (rows, columns) == renderer.shape(level)
        for row0, column0 in ((0, 0), (rows // 3, columns // 2), (max(0, rows - 40), max(0, columns - 50))):
            tile = renderer.tile(level=level, region=(row0, column0, 64, 64))
            inside = whole[row0 : row0 + 64, column0 : column0 + 64]
            np.testing.assert_array_equal(tile[: inside.shape[0], : inside.shape[1]], inside)
            assert (tile[inside.shape[0] :] == 255).all() and (tile[:, inside.shape[1] :] == 255).all()
    one_call = render_tile(scan, options=options, level=1, region=(5, 7, 30, 40))
    np.testing.assert_array_equal(one_call, renderer.picture(level=1).image[5:35, 7:47])


def test_levels_halve_the_picture_and_pixels_are_square(cargo):
    scan, _ = cargo
    renderer = Renderer(scan)
    view = scan.views[0]
    # the detector pitch and the travel step differ; level 0 takes the finer of the two, square
    assert view.geometry.detector_spacing_mm != view.geometry.travel_spacing_mm
    side = min(view.geometry.detector_spacing_mm, view.geometry.travel_spacing_mm)
    assert renderer.pixel_mm(0) == pytest.approx((side, side))
    assert renderer.pixel_mm(2) == pytest.approx((4 * side, 4 * side))
    (r0, c0), (r1, c1) = renderer.shape(0), renderer.shape(1)
    assert abs(r1 - r0 / 2) <= 1 and abs(c1 - c0 / 2) <= 1
    height_mm = view.shape[0] * view.geometry.detector_spacing_mm
    width_mm = view.shape[1] * view.geometry.travel_spacing_mm
    uncropped = Renderer(scan, options=RenderOptions(crop=False))
    rows, columns = uncropped.shape(0)
    assert rows / columns == pytest.approx(height_mm / width_mm, rel=0.01)  # not squashed
    assert rows * columns > renderer.shape(0)[0] * renderer.shape(0)[1]  # cropping cut away air


def test_max_width_fits_the_picture(cargo):
    scan, _ = cargo
    picture = render(scan, max_width=300, options=RenderOptions(scale_bar=True, legend=True))
    assert isinstance(picture, Picture) and picture.level is None
    assert picture.image.shape[1] <= 300 and picture.image.shape[2] == 3
    assert picture.image.shape[0] > picture.content_rows  # the band under the picture
    assert picture.drawn == ("scale bar", "legend")
    assert picture.mm_per_pixel[0] == picture.mm_per_pixel[1]


def test_auto_window_leaves_out_air_and_starved_pixels(cargo):
    scan, _ = cargo
    renderer = Renderer(scan)
    a = renderer.values
    assert renderer.quantity is Quantity.ATTENUATION and renderer.invert
    assert (a >= 13.0).any(), "the test scan should have photon-starved pixels"
    assert renderer.window.low > 0.05 and renderer.window.high < 13.0
    assert not renderer.object_mask[a < 0.05].any() and not renderer.object_mask[a >= 13.0].any()


def test_auto_window_and_presets():
    values = np.linspace(0.0, 10.0, 1001, dtype=np.float32).reshape(7, 143)
    assert auto_window(values, values > 1.0, percentiles=(0, 100)).low == pytest.approx(1.01, abs=1e-5)
    assert auto_window(values, np.zeros_like(values, bool), percentiles=(0, 100)) == Window(0.0, 10.0)
    assert auto_window(np.full((2, 2), np.nan, np.float32)) == Window(0.0, 1.0)
    assert Preset("high penetration").percentiles == (80.0, 100.0)


def test_presets_order_by_density(cargo):
    scan, _ = cargo
    windows = {preset: Renderer(scan, options=RenderOptions(window=preset)).window for preset in Preset}
    assert windows[Preset.ORGANIC].high < windows[Preset.METAL].high
    assert windows[Preset.ORGANIC].low < windows[Preset.HIGH_PENETRATION].low
    raw = {p: Renderer(scan, options=RenderOptions(window=p, quantity="raw")).window for p in Preset}
    assert raw[Preset.ORGANIC].low > raw[Preset.METAL].low  # raw counts fall with density


def test_options_are_validated():
    assert RenderOptions(quantity="Steel", window="0.5,6", strip="metal").window == Window(0.5, 6.0)
    assert RenderOptions(window="organic").window is Preset.ORGANIC
    for bad in (dict(quantity="sepia"), dict(window="1,0"), dict(window="bright"), dict(gamma=0), dict(strip="x")):
        with pytest.raises(ConfigurationError):
            RenderOptions(**bad)
    with pytest.raises(ValidationError):
        Window(2.0, 1.0)


def test_quantities_of_a_raw_scan(cargo):
    scan, _ = cargo
    transmission = Renderer(scan, options=RenderOptions(quantity="transmission"))
    attenuation = Renderer(scan)
    assert not transmission.invert
    np.testing.assert_allclose(transmission.values, np.exp(-attenuation.values), rtol=1e-5, atol=1e-7)
    steel = Renderer(scan, options=RenderOptions(quantity="steel"))  # computed from the scanner's physics
    assert steel.quantity.unit == "mm steel" and 0 < steel.window.high < 500
    assert Renderer(scan, options=RenderOptions(quantity="raw")).values.max() > 40000


def test_material_classes_in_uint16_as_dicos_stores_them(cargo):
    scan, _ = cargo
    with_classes, _ = STEPS["materials"](scan, MaterialsParameters())
    quantized, _ = STEPS["quantize"](with_classes, QuantizeParameters())
    assert quantized.views[0].channels["material"].dtype == np.uint16
    options = RenderOptions(quantity="material")
    np.testing.assert_array_equal(render(quantized, options=options).image, render(with_classes, options=options).image)
    classes = quantized.views[0].channels["material"]
    wrong = quantized.views[0].with_channels({**quantized.views[0].channels, "material": classes + 9})
    with pytest.raises(ValidationError, match="material class codes"):
        render(quantized.with_views([wrong]), options=options)


def test_material_colours_follow_the_classes(cargo):
    scan, _ = cargo
    classes = np.full(scan.views[0].shape, int(MaterialClass.ORGANIC), np.uint8)
    classes[:, : classes.shape[1] // 2] = MaterialClass.METAL
    view = scan.views[0].with_channels({**scan.views[0].channels, "material": classes})
    image = render(scan.with_views([view]), options=RenderOptions(quantity="material", crop=False)).image
    # object pixels (neither white nor black): blue on the left half, orange on the right
    left, right = image[:, : image.shape[1] // 2 - 2].reshape(-1, 3), image[:, image.shape[1] // 2 + 2 :].reshape(-1, 3)
    left, right = (part[(part.min(axis=1) < 200) & (part.max(axis=1) > 40)].astype(int) for part in (left, right))
    assert (left[:, 2] > left[:, 0]).mean() > 0.95 and (right[:, 0] > right[:, 2]).mean() > 0.95


def test_orientation_is_canonical(cargo):
    scan, _ = cargo
    view = scan.views[0]
    g = view.geometry
    flipped_geometry = Geometry(
        g.detector_spacing_mm, g.travel_spacing_mm, TravelDirection.RIGHT_TO_LEFT, RowOrder.BOTTOM_UP
    )
    flipped = view.with_channels(
        {name: np.ascontiguousarray(array[::-1, ::-1]) for name, array in view.channels.items()},
        geometry=flipped_geometry,
        dark={k: v[::-1] for k, v in view.dark.items()},
        air={k: v[::-1] for k, v in view.air.items()},
        reference={k: v[::-1] for k, v in view.reference.items()},
    )
    threats = []
    rows, lines = view.shape
    for threat in scan.threats:
        box = threat.box
        moved = replace(box, x=lines - box.x - box.width, y=rows - box.y - box.height)
        threats.append(replace(threat, box=moved, mask=None))
    mirrored = replace(scan, views=[flipped], threats=threats)
    options = RenderOptions(threats=True)
    np.testing.assert_array_equal(render(mirrored, options=options).image, render(scan, options=options).image)


def test_sixteen_bit_codes_are_exact(cargo):
    scan, _ = cargo
    stored = stored_codes(scan, options=RenderOptions(quantity="raw"))
    np.testing.assert_array_equal(stored.codes, scan.views[0].channels["high"])
    assert (stored.scale, stored.unit) == (1.0, "counts")
    stored = stored_codes(scan)
    assert stored.quantity is Quantity.ATTENUATION and stored.unit == "-ln(I/I0)"
    np.testing.assert_allclose(stored.codes * stored.scale, Renderer(scan).values, atol=stored.scale)


def test_unknown_view_channel_and_impossible_quantities(cargo):
    scan, _ = cargo
    with pytest.raises(ConfigurationError, match="no view"):
        render(scan, view="front")
    with pytest.raises(ConfigurationError, match="no channel"):
        render(scan, options=RenderOptions(channel="zeff"))
    calibrated, _ = STEPS["calibrate"](scan, CalibrateParameters())
    with pytest.raises(ConfigurationError, match="not raw counts"):
        render(calibrated, options=RenderOptions(quantity="raw"))
    with pytest.raises(ConfigurationError, match="zoom level"):
        Renderer(scan).tile(level=-1, region=(0, 0, 8, 8))
    only_volume = replace(scan, views=[], threats=[], volumes=[Volume("ct", np.zeros((2, 3, 4), np.uint16))])
    with pytest.raises(ConfigurationError, match="no projection views"):
        render(only_volume)

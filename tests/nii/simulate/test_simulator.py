import numpy as np
import pytest

import nii
import nii.simulate.simulator as simulator
from nii.errors import ValidationError
from nii.materials import MATERIALS
from nii.model import CalibrationState, SourceKind, ThreatOrigin
from nii.physics import transmission
from nii.simulate import SCANNERS, Phantom, Truth, simulate
from nii.simulate.phantoms import STEP_MATERIALS, container_phantom
from nii.simulate.solids import Box
from nii.values import attenuation_of

STEP_AREAS = np.geomspace(5.0, 300.0, 8)  # the linac step wedges


def scan_bytes(scan):
    return [array.tobytes() for view in scan.views for group in (view.channels, view.dark, view.air, view.reference)
            for array in group.values()]  # fmt: skip


def pixel(view, x_mm, row_mm, margin_mm):
    """Row and column of the pixel whose centre is nearest to (x, height) in object coordinates."""
    pitch, lines = view.geometry.detector_spacing_mm, view.shape[1]
    positions = view.geometry.line_positions_mm
    if positions is None:
        positions = np.arange(lines) * view.geometry.travel_spacing_mm
    steps = np.diff(np.append(positions, positions[-1] + view.geometry.travel_spacing_mm))
    centres = positions + steps / 2 - margin_mm
    heights = (view.shape[0] - np.arange(view.shape[0]) - 0.5) * pitch
    return int(np.argmin(abs(heights - row_mm))), int(np.argmin(abs(centres - x_mm)))


@pytest.fixture(scope="module")
def steps():
    return simulate("steps", seed=3, rows=96, lines=240)


def test_raw_scan_with_references_and_metadata(steps):
    scan, truth = steps
    (view,) = scan.views
    assert view.calibration is CalibrationState.RAW and view.shape == (96, 240)
    assert set(view.channels) == {"high", "low"} and all(a.dtype == np.uint16 for a in view.channels.values())
    assert view.dark["high"].shape == (96, simulator.REFERENCE_LINES) == view.air["low"].shape
    assert view.reference["low"].shape == (240,) and view.reference["low"].dtype == np.float32
    assert np.all(view.air["high"].mean(axis=1)[truth.views["side"].dead_elements] < 2000)  # dead: dark level only
    assert view.dark["high"].mean() < 0.05 * 65535 < 0.5 * 65535 < view.air["high"].mean()
    model = SCANNERS["linac-6/4"]
    assert scan.scanner.model == "linac-6/4" and scan.scanner.source is SourceKind.LINAC
    assert dict(scan.scanner.energies_kv) == {"high": 6000.0, "low": 4000.0}
    assert view.geometry.detector_spacing_mm == pytest.approx(model.rows * model.detector_pitch_mm / 96)
    assert scan.scanner.speed_mm_s == pytest.approx(view.geometry.travel_spacing_mm * model.line_rate_hz)
    assert scan.provenance.steps[0].name == "simulate" and scan.threats == []
    assert truth.scan_uid == scan.scan_uid and truth.channel_offsets_lines == {"high": 0.0, "low": 0.5}


def test_truth_matches_the_step_wedges_and_the_physics(steps):
    scan, truth = steps
    view, side = scan.views[0], truth.views["side"]
    margin = 4 * 300.0
    model = SCANNERS["linac-6/4"]
    for row, name in enumerate(STEP_MATERIALS):
        for k, area in enumerate(STEP_AREAS):
            r, c = pixel(view, k * 600.0 + 250.0, 300.0 + row * 1000.0 + 350.0, margin)
            assert side.area_density_g_cm2[r, c] == pytest.approx(area, rel=1e-5)
            assert truth.material(int(side.label[r, c])).name == name
            assert side.thickness_mm[r, c] == pytest.approx(10 * area / MATERIALS[name].density_g_cm3, rel=1e-5)
            for channel in ("high", "low"):
                expected = transmission(model.spectra[channel], name, area)
                assert side.transmission[channel][r, c] == pytest.approx(expected, rel=1e-5)
            # The raw counts, corrected with their own dark, air and reference values, measure it.
            if expected > 0.02:
                block = (slice(r - 2, r + 3), slice(c - 2, c + 3))
                measured = np.exp(-attenuation_of(view, "low"))[block]
                live = ~np.isin(np.arange(r - 2, r + 3), side.dead_elements)
                assert measured[live].mean() == pytest.approx(expected, rel=0.02)
    assert side.label[0, 0] == 0 and side.area_density_g_cm2[0, 0] == 0


def test_channels_are_displaced_by_a_fraction_of_a_line():
    edge, depth = 1003.0, 100.0
    phantom = Phantom(
        "edge", (Box("steel", 1.0, (edge, 2000.0), (-depth / 2, depth / 2), (0.0, 4000.0)),), 2000.0,
        nii.InspectedObject(), margin_mm=0.0,
    )  # fmt: skip
    scan, truth = simulate(phantom, scanner="linac-6/4", rows=8, lines=200)
    step = scan.views[0].geometry.travel_spacing_mm
    assert step == pytest.approx(10.0)
    area = MATERIALS["steel"].density_g_cm3 * depth / 10
    model = SCANNERS["linac-6/4"]
    for channel, offset in (("high", 0.0), ("low", 0.5)):
        column = int((edge / step) - offset)  # the pixel containing the edge
        left = (column + offset) * step
        covered = (left + step - edge) / step
        expected = transmission(model.spectra[channel], "steel", covered * area)
        assert truth.views["side"].transmission[channel][5, column] == pytest.approx(expected, rel=1e-5)


def test_identical_seeds_give_identical_bytes(monkeypatch, tmp_path):
    first, truth = simulate("suitcase", seed=11, scale=0.08)
    second, _ = simulate("suitcase", seed=11, scale=0.08)
    assert scan_bytes(first) == scan_bytes(second)
    monkeypatch.setattr(simulator, "WORKERS", 1)
    single_thread, _ = simulate("suitcase", seed=11, scale=0.08)
    assert scan_bytes(single_thread) == scan_bytes(first)
    other, _ = simulate("suitcase", seed=12, scale=0.08)
    assert scan_bytes(other) != scan_bytes(first)
    nii.write(first, tmp_path / "a.npz")
    nii.write(second, tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    truth.save(tmp_path / "truth")
    loaded = Truth.load(tmp_path / "truth")
    assert loaded.to_dict() == truth.to_dict()
    for key, array in truth.arrays().items():
        np.testing.assert_array_equal(loaded.arrays()[key], array)


def test_two_views_and_known_threats():
    phantom = container_phantom(np.random.default_rng(5), threats=["uranium", "lead_shielding"])
    scan, truth = simulate(phantom, scanner="linac-6/4", seed=5, scale=0.15, threats_in_scan=True)
    assert [t.description.split(",")[0] for t in truth.threats] == ["uranium sphere", "lead-shielded container"]
    side = truth.views["side"]
    for threat in truth.threats:
        assert threat.origin is ThreatOrigin.GROUND_TRUTH and threat.view == "side"
        assert threat.mask is not None and threat.mask.any()
        assert side.area_density_g_cm2[threat.box.slices][threat.mask].min() > 0
    uranium = 1 + [m.name for m in truth.materials].index("uranium")
    assert np.any(side.label[truth.threats[0].box.slices] == uranium)
    assert [t.box for t in scan.threats] == [t.box for t in truth.threats]  # Scan checked they fit the view

    bag, bag_truth = simulate("suitcase", seed=2, scale=0.1)
    assert [v.name for v in bag.views] == ["side", "top"] and bag.scanner.source is SourceKind.TUBE
    laptops = [t for t in bag_truth.threats if t.category.value == "LAPTOP"]
    assert {t.view for t in laptops} == {"side", "top"} and laptops[0].assessment.value == "NO_THREAT"


def test_speed_variation_moves_the_lines():
    scan, truth = simulate("steps", seed=4, rows=48, lines=300, speed_variation=0.3)
    view = scan.views[0]
    positions = view.geometry.line_positions_mm
    steps = np.diff(positions)
    assert positions.shape == (300,) and steps.min() > 0 and steps.max() / steps.min() > 1.5
    assert positions[-1] + steps[-1] == pytest.approx(300 * view.geometry.travel_spacing_mm, rel=0.02)
    # Every step wedge still lands where the line positions say.
    for k, area in enumerate(STEP_AREAS):
        r, c = pixel(view, k * 600.0 + 250.0, 300.0 + 2 * 1000.0 + 350.0, 4 * 300.0)
        assert truth.views["side"].area_density_g_cm2[r, c] == pytest.approx(area, rel=1e-5)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"scenario": "nope"}, "unknown scenario"),
        ({"scenario": "cargo", "scanner": "nope"}, "unknown scanner"),
        ({"scenario": "cargo", "rows": 4}, "at least 8"),
        ({"scenario": "cargo", "scale": 0.0}, "scale"),
        ({"scenario": "cargo", "speed_variation": 0.7}, "speed variation"),
    ],
)
def test_bad_arguments(arguments, message):
    scenario = arguments.pop("scenario")
    with pytest.raises(ValidationError, match=message):
        simulate(scenario, **arguments)

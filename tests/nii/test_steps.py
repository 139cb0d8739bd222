"""Pipeline steps on simulated scans, checked against the simulator's ground truth."""

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

import nii
from nii.errors import ConfigurationError, ValidationError
from nii.kernels import QUANTIZATION, MaterialClass, target_positions
from nii.model import CalibrationState, Geometry, RowOrder, TravelDirection
from nii.pipeline import Recipe, Step, convert, convert_scan
from nii.simulate.simulator import simulate
from nii.steps import (
    STEP_PARAMETERS,
    STEPS,
    AlignParameters,
    AttenuateParameters,
    CalibrateParameters,
    MaterialsParameters,
    OrientParameters,
    QuantizeParameters,
    ResampleParameters,
    SpacingParameters,
    SteelParameters,
)

# Every step's command-line text, the typed parameters it means, and how the recipe writes it back.
PARSED_AND_TYPED = [
    ("calibrate", CalibrateParameters(), "calibrate"),
    ("attenuate", AttenuateParameters(), "attenuate"),
    ("attenuate=float32", AttenuateParameters("float32"), "attenuate"),
    ("attenuate=uint16", AttenuateParameters("uint16"), "attenuate=uint16"),
    ("orient", OrientParameters(), "orient"),
    ("spacing=5x8", SpacingParameters((5.0, 8.0)), "spacing=5x8"),
    ("resample=4", ResampleParameters((4.0, 4.0)), "resample=4x4"),
    ("resample=10X8.4", ResampleParameters((10, 8.4)), "resample=10x8.4"),
    ("steel", SteelParameters(), "steel"),
    ("steel=linac-6/4", SteelParameters("linac-6/4"), "steel=linac-6/4"),
    ("steel=site.toml", SteelParameters(Path("site.toml")), "steel=site.toml"),
    ("materials", MaterialsParameters(), "materials"),
    ("materials=linac-9", MaterialsParameters("linac-9"), "materials=linac-9"),
    ("align", AlignParameters(), "align"),
    ("align=4", AlignParameters(4), "align=4"),
    ("quantize", QuantizeParameters(), "quantize"),
]


@pytest.fixture(scope="module")
def steps_scan():
    return simulate("steps", seed=3, rows=96, lines=320)


def test_calibrate_recovers_the_noise_free_transmission(steps_scan):
    scan, truth = steps_scan
    out = convert_scan(scan, Recipe.parse("calibrate", target="npz"))
    view = out.view("side")
    assert view.calibration is CalibrationState.TRANSMISSION and not view.dark and not view.air
    for channel in ("high", "low"):
        expected = truth.views["side"].transmission[channel]
        measured = view.channels[channel]
        usable = expected > 0.05  # where noise is small against the signal
        relative = np.abs(measured[usable] - expected[usable]) / expected[usable]
        assert np.median(relative) < 0.01, channel
    step = out.provenance.steps[-1]
    assert step.name == "calibrate" and set(step.parameters["repaired_elements"]) == {"side/high", "side/low"}


def test_fused_attenuation_equals_calibrate_then_attenuate(steps_scan):
    scan, _ = steps_scan
    fused = convert_scan(scan, Recipe.parse("attenuate", target="npz")).view("side")
    two_step = convert_scan(scan, Recipe.parse("calibrate,attenuate", target="npz")).view("side")
    assert fused.calibration is CalibrationState.ATTENUATION
    np.testing.assert_allclose(fused.channels["high"], two_step.channels["high"], rtol=1e-5, atol=1e-5)


def test_steel_equivalent_thickness_of_the_iron_steps(steps_scan):
    scan, truth = steps_scan
    out = convert_scan(scan, Recipe.parse("attenuate,steel", target="npz"))
    steel = out.view("side").channels["steel_mm"]
    view_truth = truth.views["side"]
    iron = [m.name for m in truth.materials].index("iron") + 1
    measured_steps = 0
    for thickness in np.unique(view_truth.thickness_mm[view_truth.label == iron]):
        where = (view_truth.label == iron) & (view_truth.thickness_mm == thickness)
        if 20 <= thickness <= 200 and where.sum() > 50:
            assert np.median(steel[where]) == pytest.approx(thickness, rel=0.05), thickness
            measured_steps += 1
    assert measured_steps >= 2
    assert out.provenance.steps[-1].parameters == {"scanner": "linac-6/4"}


def test_materials_classify_the_steps(steps_scan):
    """Inside each step (away from edges the 5-pixel average mixes), above the stated minimum
    attenuation (1.0; 2.5 for high Z) and below the quantum limit, the class is right."""
    scan, truth = steps_scan
    out = convert_scan(scan, Recipe.parse("attenuate,materials", target="npz")).view("side")
    parameters = convert_scan(scan, Recipe.parse("materials", target="npz")).provenance.steps[-1].parameters
    view_truth = truth.views["side"]
    names = [m.name for m in truth.materials]
    expected = {
        "polyethylene": (MaterialClass.ORGANIC, 1.0),
        "aluminium": (MaterialClass.INORGANIC, 1.0),
        "iron": (MaterialClass.METAL, 1.0),
        "lead": (MaterialClass.HIGH_Z, 2.5),
    }
    for name, (cls, minimum) in expected.items():
        block = (view_truth.label == names.index(name) + 1).astype(np.uint8)
        inside = cv2.erode(block, np.ones((7, 7), np.uint8)).astype(bool)
        a_high = out.channels["high"]
        judged = inside & (a_high >= minimum) & (a_high <= parameters["max_attenuation"])
        assert judged.sum() > 200, name
        assert np.mean(out.channels["material"][judged] == cls) >= 0.95, name
        too_thin = inside & (a_high < parameters["min_attenuation"])
        assert np.all(out.channels["material"][too_thin] == MaterialClass.UNKNOWN), name
    assert out.channels["zeff"].dtype == np.float32 and parameters["smoothing_px"] == 5


def test_orient_and_resample(scan):
    view = scan.views[0]
    flipped = view.with_channels(
        {k: v[::-1, ::-1].copy() for k, v in view.channels.items()},
        geometry=Geometry(5.0, 4.2, TravelDirection.RIGHT_TO_LEFT, RowOrder.BOTTOM_UP),
        dark={k: v[::-1] for k, v in view.dark.items()},
        air={k: v[::-1] for k, v in view.air.items()},
        reference={k: v[::-1] for k, v in view.reference.items()},
    )
    one_view = replace(scan, views=[view], threats=[])
    oriented = convert_scan(replace(one_view, views=[flipped]), Recipe.parse("orient", target="npz")).views[0]
    np.testing.assert_array_equal(oriented.channels["high"], view.channels["high"])
    np.testing.assert_array_equal(oriented.dark["high"], view.dark["high"])
    assert oriented.geometry.is_canonical
    resampled = convert_scan(one_view, Recipe.parse("calibrate,resample=10x8.4", target="npz")).views[0]
    positions = view.geometry.line_positions_mm
    assert resampled.shape == (view.shape[0] // 2, target_positions(positions, 8.4).size)
    assert (resampled.geometry.detector_spacing_mm, resampled.geometry.travel_spacing_mm) == (10.0, 8.4)
    with pytest.raises(ValidationError, match="calibrate before resampling"):
        convert_scan(scan, Recipe.parse("resample=4x4", target="npz"))
    with pytest.raises(ValidationError, match="ROWSxLINES"):
        convert_scan(scan, Recipe.parse("calibrate,resample=big", target="npz"))


def test_quantize_uses_the_documented_codes(steps_scan):
    scan, _ = steps_scan
    floats = convert_scan(scan, Recipe.parse("attenuate,steel", target="npz")).view("side")
    codes = convert_scan(scan, Recipe.parse("attenuate,steel,quantize", target="npz")).view("side")
    assert codes.channels["high"].dtype == np.uint16
    np.testing.assert_allclose(
        codes.channels["high"] * QUANTIZATION["ATTENUATION"], floats.channels["high"], atol=QUANTIZATION["ATTENUATION"]
    )
    np.testing.assert_allclose(codes.channels["steel_mm"] * 0.1, floats.channels["steel_mm"], atol=0.051)


def test_convert_with_steps_records_provenance(tmp_path, steps_scan):
    scan, _ = steps_scan
    (tmp_path / "in").mkdir()
    nii.write(scan, tmp_path / "in" / "steps.npz")
    results = convert([tmp_path / "in"], tmp_path / "out", recipe=Recipe.parse("calibrate,resample=8x8", target="npz"))
    assert [r.status for r in results] == ["ok"]
    out = nii.read(results[0].output)
    assert [s.name for s in out.provenance.steps][-2:] == ["calibrate", "resample"]
    assert out.provenance.steps[-1].parameters == {"spacing_mm": [8.0, 8.0]}
    assert out.views[0].geometry.detector_spacing_mm == 8.0


@pytest.mark.parametrize(("text", "typed", "written"), PARSED_AND_TYPED)
def test_parsed_steps_equal_typed_ones(text, typed, written):
    name, _, argument = text.partition("=")
    assert STEP_PARAMETERS[name].parse(argument or None) == typed
    step = Step.parse(text)
    assert step == Step(name, typed) and step.parameters == typed
    assert str(step) == written and Step.parse(written) == step


def test_every_step_has_typed_parameters():
    assert set(STEP_PARAMETERS) == set(STEPS) == {text.partition("=")[0] for text, _, _ in PARSED_AND_TYPED}
    assert Step("align").parameters == AlignParameters(8) and Step("steel").parameters == SteelParameters(None)
    with pytest.raises(ValidationError, match="resample needs ROWSxLINES in mm such as 4x4, got None"):
        Step("resample")  # no default spacing


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("resample=big", "resample needs ROWSxLINES in mm such as 4x4, got 'big'"),
        ("spacing=0x4", "spacing spacing must be positive, got '0x4'"),
        ("attenuate=int8", "attenuate takes float32 or uint16, got 'int8'"),
        ("align=0", "align takes a positive whole number, got '0'"),
        ("align=two", "align takes a positive whole number, got 'two'"),
        ("calibrate=fast", "calibrate takes no argument, got 'fast'"),
        ("orient=left", "orient takes no argument, got 'left'"),
    ],
)
def test_a_bad_argument_is_refused_when_the_recipe_is_parsed(text, message):
    with pytest.raises(ValidationError) as refused:
        Recipe.parse(f"attenuate,{text}", target="npz")
    assert refused.value.problem == message


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: AttenuateParameters("int8"), "attenuate takes float32 or uint16, got 'int8'"),
        (lambda: ResampleParameters((4.0, 0.0)), "resample spacing must be positive, got (4.0, 0.0)"),
        (lambda: SpacingParameters((-1.0, 2.0)), "spacing spacing must be positive, got (-1.0, 2.0)"),
        (lambda: ResampleParameters((4.0,)), "resample needs (rows, lines) in mm, got (4.0,)"),
        (lambda: ResampleParameters(("a", "b")), "resample needs (rows, lines) in mm, got ('a', 'b')"),
        (lambda: AlignParameters(0), "align takes a positive whole number, got 0"),
        (lambda: AlignParameters(2.5), "align takes a positive whole number, got 2.5"),
        (lambda: AlignParameters(True), "align takes a positive whole number, got True"),
        (lambda: SteelParameters(""), "steel takes a scanner model or a calibration file, got ''"),
        (lambda: MaterialsParameters(6), "materials takes a scanner model or a calibration file, got 6"),
    ],
)
def test_typed_parameters_are_validated_at_construction(build, message):
    with pytest.raises(ValidationError) as refused:
        build()
    assert refused.value.problem == message


def test_a_step_refuses_another_steps_parameters():
    with pytest.raises(ConfigurationError, match="step 'resample' takes ResampleParameters, got SpacingParameters"):
        Step("resample", SpacingParameters((4.0, 4.0)))
    with pytest.raises(ConfigurationError, match="unknown processing step 'sharpen'"):
        Step("sharpen")


def test_a_typed_recipe_converts_as_the_parsed_one(steps_scan):
    scan, _ = steps_scan
    typed = Recipe(
        steps=[
            Step("calibrate"),
            Step("attenuate", AttenuateParameters("float32")),
            Step("resample", ResampleParameters((8.0, 6.0))),
        ],
        target="npz",
    )
    assert typed == Recipe.parse("calibrate,attenuate,resample=8x6", target="npz")
    by_type, by_text = (
        convert_scan(scan, typed),
        convert_scan(scan, Recipe.parse("calibrate,attenuate,resample=8x6", target="npz")),
    )
    np.testing.assert_array_equal(by_type.view("side").channels["high"], by_text.view("side").channels["high"])
    assert by_type.provenance.steps == by_text.provenance.steps
    assert by_type.provenance.steps[-1].parameters == {"spacing_mm": [8.0, 6.0]}


def test_the_command_line_refuses_a_bad_argument_before_reading_any_input(tmp_path, capsys, steps_scan):
    from nii.cli import main

    scan, _ = steps_scan
    nii.write(scan, tmp_path / "steps.npz")
    command = ["convert", str(tmp_path / "steps.npz"), "--to", "npz", "--out", str(tmp_path / "out"), "--normalize"]
    assert main([*command, "calibrate,resample=big"]) == 1
    assert capsys.readouterr().err == "nii: error: resample needs ROWSxLINES in mm such as 4x4, got 'big'\n"
    assert not (tmp_path / "out").exists()
    assert main([*command, "calibrate,resample=8"]) == 0
    written = nii.read(tmp_path / "out" / "steps.npz").provenance.steps
    assert [step.name for step in written][-2:] == ["calibrate", "resample"]
    assert written[-1].parameters == {"spacing_mm": [8.0, 8.0]}

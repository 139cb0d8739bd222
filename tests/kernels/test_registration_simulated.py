"""Registration on scans from the physics simulator (:mod:`nii.simulate`): one cargo load seen at two energies
of one scanner, and by two scanners of other energies driven at other speeds.

The truth comes from the simulator's sampling: line ``c`` of a channel displaced by ``o`` lines sees the
object at ``(c + 0.5 + o) * step`` along travel, so two scans with steps ``a`` and ``b`` are related by a
travel scale ``a / b`` and a column shift ``(0.5 + o_a) * a / b - 0.5 - o_b``; rows are the same detector.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nii.kernels import estimate_channel_offset, register, valid_mask
from nii.simulate import SCANNERS, simulate
from nii.steps import AttenuateParameters, attenuate

ROWS = 256


def channels(scan):
    attenuated, _ = attenuate(scan, AttenuateParameters())
    view = attenuated.view("side")
    return view.channels["high"], view.channels["low"]


def mask(image):
    # Air is near 0; the calibration floors the transmission at 1e-6 (attenuation 13.8): saturated.
    return valid_mask(image, low=0.02, high=13.0)


@pytest.mark.parametrize("low_offset_lines", [0.5, 0.3, -0.2])
def test_channel_offset_of_a_dual_energy_linac(low_offset_lines):
    model = dataclasses.replace(SCANNERS["linac-6/4"], channel_offsets_lines={"low": low_offset_lines})
    scan, truth = simulate("cargo", scanner=model, seed=2, rows=ROWS, lines=900, speed_variation=0.0)
    high, low = channels(scan)
    result = estimate_channel_offset(high, low, segments=4, reference_mask=mask(high), other_mask=mask(low))
    # The low channel sees each line's object position shifted by its offset, so a feature comes offset
    # lines earlier in it.
    expected = truth.channel_offsets_lines["high"] - truth.channel_offsets_lines["low"]
    assert result.offset == pytest.approx(expected, abs=0.05)
    measured = np.isfinite(result.segment_offsets)
    # The top segment sees air and a roof, the bottom one the chassis: their offsets scatter along the
    # scan by more than the 0.03-column limit, so they are not measured.
    assert measured.sum() >= 2
    np.testing.assert_allclose(result.segment_offsets[measured], expected, atol=0.05)


@pytest.fixture(scope="module")
def two_scanners():
    """Seed 3's cargo at 4 MV on a 6/4 MV linac (900 lines), and at 9 MV on a 9/6 MV linac driven slower
    (960 lines); seed 13's cargo on the second scanner for an unrelated pair."""
    first, first_truth = simulate("cargo", scanner="linac-6/4", seed=3, rows=ROWS, lines=900, speed_variation=0.0)
    second, second_truth = simulate("cargo", scanner="linac-9/6", seed=3, rows=ROWS, lines=960, speed_variation=0.0)
    other, _ = simulate("cargo", scanner="linac-9/6", seed=13, rows=ROWS, lines=960, speed_variation=0.0)
    scale = 960 / 900
    reference_offset = first_truth.channel_offsets_lines["low"]
    moving_offset = second_truth.channel_offsets_lines["high"]
    return {
        "reference": channels(first)[1],
        "moving": channels(second)[0],
        "unrelated": channels(other)[0],
        "scale": scale,
        "column_shift": (0.5 + reference_offset) * scale - 0.5 - moving_offset,
    }


@pytest.mark.parametrize("model", ["travel_scale", "affine"])
def test_two_scanners_at_two_speeds(two_scanners, model):
    reference, moving = two_scanners["reference"], two_scanners["moving"]
    result = register(reference, moving, model=model, reference_mask=mask(reference), moving_mask=mask(moving))
    center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
    found = result.transform.parameters(center=center)
    scale = two_scanners["scale"]
    assert result.converged
    # The centre of the reference moves by (scale - 1) * its column, plus the shift of column 0.
    expected_shift = (0.0, (scale - 1) * center[1] + two_scanners["column_shift"])
    np.testing.assert_allclose(found["translation"], expected_shift, atol=0.05)
    assert found["scale_travel"] / scale - 1 == pytest.approx(0, abs=1e-3)
    assert found["scale_rows"] - 1 == pytest.approx(0, abs=1e-3)
    assert found["rotation_deg"] == pytest.approx(0, abs=0.02)
    assert result.confidence > 0.85
    unrelated = two_scanners["unrelated"]
    other = register(reference, unrelated, model=model, reference_mask=mask(reference), moving_mask=mask(unrelated))
    assert other.confidence < 0.5 < result.confidence


@pytest.fixture(scope="module")
def repeated_scans():
    """Four scans of the same scanner (other loads, other noise): raw attenuation, no masks."""
    return [channels(simulate("cargo", seed=seed, rows=ROWS, lines=900, speed_variation=0.0)[0]) for seed in range(4)]


def test_segment_uncertainties_cover_the_spread_across_repeated_scans(repeated_scans):
    results = [estimate_channel_offset(high, low, segments=4) for high, low in repeated_scans]
    offsets = np.array([r.segment_offsets for r in results])
    uncertainty = np.array([r.segment_uncertainty for r in results])
    for k in range(4):
        measured = np.isfinite(offsets[:, k])
        if measured.sum() >= 3:
            assert offsets[measured, k].std(ddof=1) <= 1.5 * np.median(uncertainty[measured, k])
    assert np.isfinite(offsets).sum() >= 6


def test_starved_pixels_are_left_out_and_a_runaway_is_nan_with_a_reason(repeated_scans):
    high, low = (image.copy() for image in repeated_scans[0])
    # Scattered starved pixels behind the load: the calibration's floor (13.8), not a measurement.
    starved = (np.random.default_rng(1).random(high.shape) < 0.05) & (high > 3)
    high[starved], low[np.roll(starved, 1, axis=0)] = 13.8, 13.8
    result = estimate_channel_offset(high, low, segments=4)
    assert result.offset == pytest.approx(-0.5, abs=0.05) and result.reason is None
    fooled = estimate_channel_offset(high, low, segments=4, max_attenuation=np.inf)
    assert abs(fooled.offset + 0.5) > abs(result.offset + 0.5)
    shifted = np.roll(repeated_scans[0][0], 6, axis=1)  # 6 columns: no layer displacement is that large
    runaway = estimate_channel_offset(repeated_scans[0][0], shifted, segments=4, max_offset=3.0)
    assert np.isnan(runaway.offset) and np.isnan(runaway.segment_offsets).all()
    assert "ran away" in runaway.reason and runaway.to_dict()["reason"] == runaway.reason


def test_align_step_puts_low_on_high_and_warns_naming_the_file_when_it_cannot(repeated_scans, caplog):
    import logging

    from nii.model import CalibrationState, Scan, View
    from nii.pipeline import Recipe, convert_scan
    from nii.provenance import Provenance

    high, low = repeated_scans[0]

    def scan_of(low_channel):
        view = View("side", {"high": high, "low": low_channel}, calibration=CalibrationState.ATTENUATION)
        provenance = Provenance(source_path="lane3/truck-0042.npy")
        return Scan([view], acquired_at=simulate("steps", rows=16, lines=16)[0].acquired_at, provenance=provenance)

    aligned = convert_scan(scan_of(low), Recipe.parse("align=4", target="npz"))
    measured = aligned.provenance.steps[-1].parameters["offsets"]["side"]["offset"]
    assert measured == pytest.approx(-0.5, abs=0.05)
    again = estimate_channel_offset(high, aligned.views[0].channels["low"], segments=4)
    assert again.offset == pytest.approx(0.0, abs=0.05)
    with caplog.at_level(logging.WARNING, logger="nii.steps"):
        unaligned = convert_scan(scan_of(np.roll(high, 6, axis=1)), Recipe.parse("align", target="npz"))
    assert "lane3/truck-0042.npy: view 'side': channels left unaligned: the global offset ran away" in caplog.text
    np.testing.assert_array_equal(unaligned.views[0].channels["low"], np.roll(high, 6, axis=1))

"""One reading of channels, whatever they hold: raw counts, transmission or attenuation, float or 16-bit codes."""

import gc
import weakref

import numpy as np

import nii.values
from nii.kernels import QUANTIZATION
from nii.model import Geometry, View
from nii.pipeline import Recipe, convert_scan
from nii.simulate.simulator import simulate
from nii.values import attenuation_of, calibration_and_air_of, open_beam_calibration


def test_attenuation_of_agrees_across_representations():
    scan, _ = simulate("suitcase", seed=4, scale=0.2)
    from_raw = attenuation_of(scan.view("side"), "high")
    for recipe in ("calibrate", "attenuate", "calibrate,quantize", "attenuate=uint16"):
        view = convert_scan(scan, Recipe.parse(recipe, target="npz")).view("side")
        # 16-bit codes are within half a code of the float value.
        tolerance = QUANTIZATION[str(view.calibration)] if view.channels["high"].dtype == np.uint16 else 1e-5
        lossy = recipe == "calibrate,quantize"  # transmission codes lose precision where T is small
        # Starved and saturated pixels are flagged by the steps and given a bounded value instead.
        measured = view.channels["pixel_flags"] == 0 if "pixel_flags" in view.channels else slice(None)
        np.testing.assert_allclose(
            attenuation_of(view, "high")[measured],
            from_raw[measured],
            rtol=0.02 if lossy else 0,
            atol=0.05 if lossy else tolerance,
        )


def own_air_counts(rows: int = 40, lines: int = 120) -> np.ndarray:
    """Raw counts with no references: open beam before, after and above a block of steel."""
    counts = np.full((rows, lines), 42000, np.uint16)
    counts[8:, 30:90] = 3000
    return counts


def test_open_beam_is_found_once_per_channel_array_and_again_for_a_new_one(monkeypatch):
    searches = []
    real_find_air = nii.values.find_air
    monkeypatch.setattr(nii.values, "find_air", lambda raw: searches.append(raw.shape) or real_find_air(raw))
    counts = own_air_counts()
    view = View("side", {"high": counts}, Geometry(5.0, 5.0))
    first = attenuation_of(view, "high")
    np.testing.assert_array_equal(attenuation_of(view, "high"), first)
    assert calibration_and_air_of(view, "high")[1] is not None and len(searches) == 1
    view.channels["high"] = own_air_counts(lines=150)  # another array: searched again
    assert attenuation_of(view, "high").shape == (40, 150) and len(searches) == 2
    view.air["high"] = np.full((40, 4), 42000.0)  # references win over the open beam
    view.dark["high"] = np.zeros(40)
    assert calibration_and_air_of(view, "high")[1] is None and len(searches) == 2


def test_a_remembered_calibration_goes_with_its_array():
    counts = own_air_counts()
    calibration, _ = open_beam_calibration(counts)
    alive = weakref.ref(calibration)
    del counts, calibration
    gc.collect()
    assert alive() is None

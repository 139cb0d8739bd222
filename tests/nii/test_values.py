"""One reading of channels, whatever they hold: raw counts, transmission or attenuation, float or 16-bit codes."""

import numpy as np

from nii.kernels import QUANTIZATION
from nii.pipeline import Recipe, convert_scan
from nii.simulate.simulator import simulate
from nii.values import attenuation_of


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

"""First-call time of every nii kernel in a fresh process (run twice: the first run fills numba's cache).

Usage: ``python benchmarks/first_call.py`` prints one JSON object: seconds for importing ``nii.kernels``
and for the first call of each kernel on small arrays, and their total.
"""

from __future__ import annotations

import json
import time

_started = time.perf_counter()

import numpy as np  # noqa: E402

import nii.kernels as k  # noqa: E402

_imported = time.perf_counter() - _started


def main() -> dict[str, float]:
    rng = np.random.default_rng(0)
    raw = rng.integers(100, 60000, (16, 32), dtype=np.uint16)
    calibration = k.Calibration.from_references(np.full(16, 100.0), np.full(16, 60000.0), reference=np.ones(32))
    a = k.calibrated_attenuation(raw, calibration)
    grid = k.ZeffGrid(np.ones((4, 4), np.float32), 10.0, 0.9, 1.3)
    table = k.MaterialTable()
    taps = k.area_taps(np.arange(17.0), 0.0, 2.5, 7), k.area_taps(np.arange(33.0), 0.0, 2.5, 13)
    classes = np.zeros(a.shape, np.uint8)
    grid_rows, grid_cols = np.mgrid[0:32, 0:64]
    pattern = (np.sin(grid_rows / 3.0) + np.cos(grid_cols / 5.0)).astype(np.float32)
    calls = {
        "transmission": lambda: k.transmission(raw, calibration),
        "attenuation float32": lambda: k.attenuation(k.transmission(raw, calibration)),
        "attenuation uint16": lambda: k.attenuation(k.transmission(raw, calibration), dtype=np.uint16),
        "calibrated_attenuation uint16": lambda: k.calibrated_attenuation(raw, calibration, dtype=np.uint16),
        "equivalent_thickness": lambda: k.equivalent_thickness(a, np.arange(4, dtype=np.float32), step=1.0),
        "area_resample": lambda: k.area_resample(a, *taps),
        "grey_levels": lambda: k.grey_levels(a, 0.0, 8.0, invert=True),
        "grey_levels gamma": lambda: k.grey_levels(a, 0.0, 8.0, gamma=0.8),
        "local_contrast": lambda: k.local_contrast(k.grey_levels(a, 0.0, 8.0)),
        "resample": lambda: k.resample(a, pitch_mm=2.0, line_positions_mm=np.arange(32) * 3.0),
        "effective_z": lambda: k.effective_z(a, a, grid),
        "material_classes": lambda: k.material_classes(a, a, grid, table),
        "false_colour": lambda: k.false_colour(classes, classes, k.CONVENTIONAL_PALETTE),
        "register translation": lambda: k.register(pattern, pattern, model="translation"),
        "register affine": lambda: k.register(pattern, pattern),
        "estimate_channel_offset": lambda: k.estimate_channel_offset(pattern, pattern, segments=2),
        "warp bicubic": lambda: k.AffineTransform.identity().warp(pattern, order="bicubic"),
        "ssim": lambda: k.ssim(pattern, pattern),
        "ncc": lambda: k.ncc(pattern, pattern),
    }
    seconds = {"import nii.kernels": _imported}
    for name, call in calls.items():
        start = time.perf_counter()
        call()
        seconds[name] = time.perf_counter() - start
    seconds["total"] = sum(seconds.values())
    return seconds


if __name__ == "__main__":
    print(json.dumps(main()))

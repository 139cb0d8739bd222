"""Array kernels (installed as ``nii.kernels``): numba implementations with plain-numpy references beside
them. Kernels take and return arrays; they never open files or see a Scan.

Groups:

* storage and normalisation: :func:`calibrated_attenuation` (raw counts to attenuation in one pass), then
  :func:`equivalent_thickness` and :func:`resample`; alone, :func:`transmission`, :func:`attenuation`,
  :func:`orient`;
* dual energy: :func:`effective_z`, :func:`material_classes`, :func:`false_colour`;
* display (the array steps of :mod:`nii.render`): :func:`area_taps` and :func:`area_resample` (pictures at
  any pixel size, tiles equal to crops), :func:`grey_levels` (window, gamma, invert), :func:`local_contrast`.

The ``*_reference`` functions in the modules are the plain-numpy versions the tests compare against.
"""

import importlib
import os
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nii.kernels.attenuation import (
        ATTENUATION_SCALE,
        QUANTIZATION,
        attenuation,
        calibrated_attenuation,
        equivalent_thickness,
    )
    from nii.kernels.calibrate import TRANSMISSION_FLOOR, Calibration, transmission
    from nii.kernels.display import area_resample, area_taps, grey_levels, local_contrast
    from nii.kernels.dual_energy import (
        CONVENTIONAL_PALETTE,
        MaterialClass,
        MaterialTable,
        ZeffGrid,
        effective_z,
        false_colour,
        material_classes,
    )
    from nii.kernels.resample import orient, resample, resample_lines, resample_rows, target_positions

__all__ = [
    "ATTENUATION_SCALE",
    "CONVENTIONAL_PALETTE",
    "QUANTIZATION",
    "TRANSMISSION_FLOOR",
    "Calibration",
    "MaterialClass",
    "MaterialTable",
    "ZeffGrid",
    "area_resample",
    "area_taps",
    "attenuation",
    "calibrated_attenuation",
    "effective_z",
    "equivalent_thickness",
    "false_colour",
    "grey_levels",
    "local_contrast",
    "material_classes",
    "orient",
    "resample",
    "resample_lines",
    "resample_rows",
    "target_positions",
    "transmission",
]

if TYPE_CHECKING:
    # --- decoding kernels (issue #5: vendor formats); re-exported by name, no __all__ of their own ---
    from nii.kernels.decode import deinterleave_lines as deinterleave_lines
    from nii.kernels.decode import pack12 as pack12
    from nii.kernels.decode import packed12_size as packed12_size
    from nii.kernels.decode import unpack12 as unpack12

    # --- end of decoding kernels ---

    # --- registration and comparison (issue #7); re-exported by name, no __all__ of their own ---
    # isort: split
    from nii.kernels.compare import checkerboard as checkerboard
    from nii.kernels.compare import flicker as flicker
    from nii.kernels.compare import match_intensity as match_intensity
    from nii.kernels.compare import mean_absolute_difference as mean_absolute_difference
    from nii.kernels.compare import ncc as ncc
    from nii.kernels.compare import psnr as psnr
    from nii.kernels.compare import signed_difference as signed_difference
    from nii.kernels.compare import ssim as ssim
    from nii.kernels.registration import AffineTransform as AffineTransform
    from nii.kernels.registration import ChannelOffset as ChannelOffset
    from nii.kernels.registration import Features as Features
    from nii.kernels.registration import Interpolation as Interpolation
    from nii.kernels.registration import Registration as Registration
    from nii.kernels.registration import TransformModel as TransformModel
    from nii.kernels.registration import estimate_channel_offset as estimate_channel_offset
    from nii.kernels.registration import register as register
    from nii.kernels.registration import shift_along_travel as shift_along_travel
    from nii.kernels.registration import valid_mask as valid_mask

    # --- end of registration and comparison ---


# Numba's OpenMP threads wait for the next parallel loop by spinning (libgomp's default): on a machine
# whose cores other processes share, that burns the CPU time the working thread and the others need
# (measured: 16 ms of CPU instead of 9.5 for one fused calibration of a 2048 x 8192 frame). Read by
# libgomp when numba starts its threads, on the first parallel kernel; a user's setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

_HOMES = {
    name: module
    for module, names in {
        "nii.kernels.attenuation": (
            "ATTENUATION_SCALE QUANTIZATION attenuation calibrated_attenuation equivalent_thickness"
        ),
        "nii.kernels.calibrate": "Calibration TRANSMISSION_FLOOR transmission",
        "nii.kernels.display": "area_resample area_taps grey_levels local_contrast",
        "nii.kernels.dual_energy": (
            "CONVENTIONAL_PALETTE MaterialClass MaterialTable ZeffGrid effective_z false_colour material_classes"
        ),
        "nii.kernels.resample": "orient resample resample_lines resample_rows target_positions",
        "nii.kernels.decode": "deinterleave_lines pack12 packed12_size unpack12",
        "nii.kernels.compare": (
            "checkerboard flicker match_intensity mean_absolute_difference ncc psnr signed_difference ssim"
        ),
        "nii.kernels.registration": (
            "AffineTransform ChannelOffset Features Interpolation Registration TransformModel "
            "estimate_channel_offset register shift_along_travel valid_mask"
        ),
    }.items()
    for name in names.split()
}
"""Module of every kernel (the names ``__all__`` and the imports above list)."""


def __getattr__(name: str) -> Any:
    """The kernels, imported on first use: a module needing one kernel loads that kernel's module
    (and numba) only, not OpenCV and SciPy with every other kernel."""
    if name not in _HOMES:
        raise AttributeError(f"module 'nii.kernels' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value
    return value


class _KernelsPackage(types.ModuleType):
    """``nii.kernels.attenuation`` and ``nii.kernels.resample`` name a kernel and its module: keep
    the kernel when the import system sets the package's attribute to the freshly imported module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _KernelsPackage

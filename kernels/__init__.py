"""Array kernels (installed as ``nii.kernels``): numba implementations with plain-numpy
references beside them. Kernels take and return arrays; they never open files or see a Scan."""

# --- registration and comparison (issue #7) -------------------------------------------------------------------
from nii.kernels.compare import (
    checkerboard,
    flicker,
    match_intensity,
    mean_absolute_difference,
    ncc,
    psnr,
    signed_difference,
    ssim,
)
from nii.kernels.registration import (
    AffineTransform,
    ChannelOffset,
    Features,
    Interpolation,
    Registration,
    TransformModel,
    estimate_channel_offset,
    register,
    shift_along_travel,
    valid_mask,
)

__all__ = [
    "AffineTransform",
    "ChannelOffset",
    "Features",
    "Interpolation",
    "Registration",
    "TransformModel",
    "checkerboard",
    "estimate_channel_offset",
    "flicker",
    "match_intensity",
    "mean_absolute_difference",
    "ncc",
    "psnr",
    "register",
    "shift_along_travel",
    "signed_difference",
    "ssim",
    "valid_mask",
]
# --- end of registration and comparison ------------------------------------------------------------------------

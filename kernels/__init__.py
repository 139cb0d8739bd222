"""Array kernels (installed as ``nii.kernels``): numba implementations with plain-numpy
references beside them. Kernels take and return arrays; they never open files or see a Scan."""

# --- decoding kernels (issue #5: vendor formats) ---
from nii.kernels.decode import deinterleave_lines, pack12, packed12_size, unpack12

__all__ = ["deinterleave_lines", "pack12", "packed12_size", "unpack12"]
# --- end of decoding kernels ---

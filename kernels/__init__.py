"""Array kernels (installed as ``nii.kernels``): numba implementations with plain-numpy
references beside them. Kernels take and return arrays; they never open files or see a Scan."""

# --- decoding kernels (issue #5: vendor formats); re-exported by name, no __all__ of their own ---
from nii.kernels.decode import deinterleave_lines as deinterleave_lines
from nii.kernels.decode import pack12 as pack12
from nii.kernels.decode import packed12_size as packed12_size
from nii.kernels.decode import unpack12 as unpack12

# --- end of decoding kernels ---

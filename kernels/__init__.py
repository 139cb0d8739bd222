"""Array kernels (installed as ``nii.kernels``): numba implementations with plain-numpy
references beside them. Kernels take and return arrays; they never open files or see a Scan."""

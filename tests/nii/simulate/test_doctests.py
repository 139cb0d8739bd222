import doctest
import importlib

import pytest

MODULES = [
    "nii.simulate",
    "nii.physics",
    "nii.simulate.solids",
    "nii.simulate.phantoms",
    "nii.simulate.detector",
    "nii.simulate.simulator",
    "nii.kernels.spectral",
    "nii.kernels.raster",
    "nii.kernels.detector",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

"""Every docstring example of nii runs, in every module of the installed packages."""

import doctest
import importlib
import pkgutil

import pytest

import nii
import nii.formats
import nii.kernels
import nii.viewer

PACKAGES = (nii, nii.formats, nii.kernels, nii.viewer)


def module_names() -> list[str]:
    names = {package.__name__ for package in PACKAGES}
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.endswith("__main__"):  # runs the command line on import
                names.add(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", module_names())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE, report=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples in {name} failed"


def test_the_examples_are_found():
    assert len(module_names()) > 60
    assert doctest.testmod(importlib.import_module("nii.render"), report=False).attempted > 0

"""The docstring examples of the DICOS modules run."""

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "name",
    [
        "nii.formats.dicos.real_world",
        "nii.formats.dicos.private",
        "nii.formats.dicos.mapping",
        "nii.formats.dicos.dictionary",
        "nii.formats.dicos.dx",
        "nii.formats.dicos.ct",
        "nii.formats.dicos.dump",
        "nii.volume_threats",
    ],
)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

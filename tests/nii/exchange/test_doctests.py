import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["nii.exchange.deidentify", "nii.exchange.sign"])
def test_docstring_examples_run(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0

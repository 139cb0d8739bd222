"""Imports deferred to first use, so that a command pays only for the libraries it runs.

Every ``nii`` call imports the modules of all registered formats (to recognise a file by its
content), so a module-level ``import h5py`` or a module-level numba kernel would make ``nii info
scan.npz`` load h5py, hdf5plugin and numba (about 0.3 s before any work). A leaf module: it imports
nothing of nii. Kernels defer numba with :func:`nii.kernels.jit.jit_on_first_call`.

Examples
--------
>>> json = lazy_module("json")
>>> json.dumps([1])  # imported here
'[1]'
"""

from __future__ import annotations

import importlib
import types
from collections.abc import Sequence
from typing import Any

__all__ = ["lazy_module"]


class LazyModule(types.ModuleType):
    """A stand-in for the module ``name``, imported (after the modules ``also``) when first used."""

    def __init__(self, name: str, also: Sequence[str] = ()):
        super().__init__(name)
        self._also = tuple(also)

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("__") or attribute == "_also":
            raise AttributeError(attribute)
        for name in self._also:
            importlib.import_module(name)
        module = importlib.import_module(self.__name__)
        self.__dict__.update(module.__dict__)  # later look-ups skip this method
        return getattr(module, attribute)


def lazy_module(name: str, *, also: Sequence[str] = ()) -> Any:
    """The module ``name``, imported on first attribute access; ``also``: modules imported just
    before it, for their side effects (``hdf5plugin`` registers HDF5's compression filters).

    Type checkers need the real import: write ``if TYPE_CHECKING: import h5py`` /
    ``else: h5py = lazy_module("h5py")``.
    """
    return LazyModule(name, also)

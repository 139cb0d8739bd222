"""Numba kernels compiled on their first call, so that importing a kernel module does not import numba.

Every format module is imported to recognise a file; the decoders among them would otherwise make
``nii info scan.npz`` import numba (about 0.2 s) without running a kernel.

Examples
--------
>>> double = jit_on_first_call(lambda x: 2 * x)  # numba loads and compiles here, on the first call
>>> double(21)
42
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["jit_on_first_call"]


def jit_on_first_call(function: Callable[..., Any] | None = None, **options: Any) -> Any:
    """``numba.njit(**options)(function)``, imported and compiled on the first call.

    For kernels called from Python only: numba code cannot call the returned wrapper (decorate
    kernels that other kernels call with ``numba.njit`` itself).
    """
    if function is None:
        return functools.partial(jit_on_first_call, **options)
    compiled: list[Callable[..., Any]] = []
    lock = threading.Lock()

    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        if not compiled:
            with lock:
                if not compiled:
                    import numba

                    compiled.append(numba.njit(**options)(function))
        return compiled[0](*args, **kwargs)

    return call

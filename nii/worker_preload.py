"""Imported by the batch's fork server (:data:`nii.pipeline.WORKER_MODULES`) so that workers start warm.

A process's first compiled function, loaded from numba's cache or compiled, makes numba load its CPU
target's typing and lowering registries: numpy's array functions and, through numba's check for a BLAS,
``scipy.linalg`` (about 0.4 s in all, paid by every worker on its first scan). Loading one small
function here pays it once in the fork server; every worker forked from it inherits the registries. The
function is not parallel and is never run, so no thread starts in the fork server.
"""

from __future__ import annotations

from numba import njit

__all__: list[str] = []


@njit(cache=True)
def _first_compiled(value: int) -> int:  # pragma: no cover - compiled, never run
    return value


_first_compiled.compile("int64(int64)")  # loads it from numba's cache (or compiles it), and the registries

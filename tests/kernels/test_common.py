import os

import numba
import numpy as np
import pytest

from nii.kernels import _common


@numba.njit(parallel=True)
def _threads_used(out):
    for i in numba.prange(out.size):
        out[i] = numba.get_num_threads()


@pytest.fixture
def threads():
    """Two threads for the kernels, or one where numba has only one (NUMBA_NUM_THREADS=1)."""
    previous = numba.get_num_threads()
    count = min(2, numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(count)
    yield count
    numba.set_num_threads(previous)


def test_free_cores_counts_the_other_running_threads():
    assert _common.free_cores("1.0 1.0 1.0 1/100 7", 2) == 2
    assert _common.free_cores("1.0 1.0 1.0 3/100 7", 2) == 0
    assert _common.free_cores("1.0 1.0 1.0 2/100 7", 8) == 7


def test_a_kernel_runs_on_one_thread_when_the_work_is_small_or_the_other_cores_are_busy(threads, monkeypatch):
    big = _common.PARALLEL_PIXELS
    monkeypatch.setattr(_common, "_free_cores", lambda: 2)
    assert _common.threads_for(big - 1) == 1
    assert _common.threads_for(big) == threads
    monkeypatch.setattr(_common, "_free_cores", lambda: 1)  # another process holds a core
    assert _common.threads_for(big) == 1
    monkeypatch.setattr(_common, "_free_cores", lambda: 0)
    assert _common.threads_for(big) == 1
    out = np.zeros(4, np.int64)
    _common.run(_threads_used, big, out)
    assert out.tolist() == [1, 1, 1, 1]
    assert numba.get_num_threads() == threads  # restored for the caller


def test_free_cores_of_this_machine_is_a_count_of_cores():
    assert 0 <= _common._free_cores() <= len(os.sched_getaffinity(0))

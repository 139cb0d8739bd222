import numba
import numpy as np
import pytest

from nii.errors import ValidationError
from nii.kernels._core import check_array, code_ln, code_ln_reference, fast_ln, fast_ln_reference, output_array


@numba.njit
def _fast_ln_array(x, out):
    for i in range(x.size):
        out[i] = fast_ln(x[i])


def test_fast_ln_is_accurate_and_its_numpy_mirror_is_bit_identical():
    x = np.concatenate([np.geomspace(1e-6, 1.0, 2_000_001), np.random.default_rng(0).uniform(1e-6, 1, 100_000)])
    x = x.astype(np.float32)
    compiled = np.empty_like(x)
    _fast_ln_array(x, compiled)
    exact = np.log(x.astype(np.float64))
    error = np.abs(compiled - exact)
    assert error.max() <= 1.2e-6  # documented: absolute
    assert (error / np.maximum(np.abs(exact), 1e-30)).max() <= 3e-7  # and relative (near T = 1)
    np.testing.assert_array_equal(fast_ln_reference(x), compiled)


def test_fast_ln_is_within_its_tolerance_on_every_float32_of_the_transmission_range():
    start, stop = (int(np.float32(bound).view(np.int32)) for bound in (1e-6, 1.0))
    worst_absolute = worst_relative = 0.0
    for first in range(start, stop + 1, 1 << 22):  # the reference's bits are the kernel's (test above)
        x = np.arange(first, min(first + (1 << 22), stop + 1), dtype=np.int32).view(np.float32)
        exact = np.log(x.astype(np.float64))
        error = np.abs(fast_ln_reference(x) - exact)
        worst_absolute = max(worst_absolute, float(error.max()))
        nonzero = exact != 0
        worst_relative = max(worst_relative, float((error[nonzero] / -exact[nonzero]).max()))
    assert worst_absolute <= 1.2e-6 and worst_relative <= 3e-7  # the documented tolerance


@numba.njit
def _code_ln_array(x, out):
    for i in range(x.size):
        out[i] = code_ln(x[i], np.float32(-4096.0))


def test_code_logarithm_gives_the_codes_of_exact_rounding_as_often_as_fast_ln():
    x = np.geomspace(1e-6, 1.0, 2_000_001).astype(np.float32)
    compiled = np.empty_like(x)
    _code_ln_array(x, compiled)
    np.testing.assert_array_equal(code_ln_reference(x, np.float32(-4096.0)), compiled)
    start, stop = (int(np.float32(bound).view(np.int32)) for bound in (1e-6, 1.0))
    off = {"code_ln": 0, "fast_ln": 0}
    for first in range(start, stop + 1, 1 << 22):  # every float32 transmission
        x = np.arange(first, min(first + (1 << 22), stop + 1), dtype=np.int32).view(np.float32)
        exact = np.rint(-np.log(x.astype(np.float64)) * 4096)
        codes = np.rint(code_ln_reference(x, np.float32(-4096.0)))
        assert np.abs(codes - exact).max() <= 1
        off["code_ln"] += np.count_nonzero(codes != exact)
        off["fast_ln"] += np.count_nonzero(np.rint(-fast_ln_reference(x) * np.float32(4096)) != exact)
    assert off["code_ln"] <= 1.01 * off["fast_ln"] and off["code_ln"] < 0.0013 * (stop - start + 1)


def test_check_array_refuses_what_would_need_a_hidden_copy():
    good = np.zeros((3, 4), np.uint16)
    assert check_array(good, "raw", dtype=np.uint16, ndim=2) is good
    with pytest.raises(ValidationError, match="raw must have dtype uint16, got float64"):
        check_array(good.astype(float), "raw", dtype=np.uint16)
    with pytest.raises(ValidationError, match="C-contiguous"):
        check_array(good[:, ::2], "raw", dtype=np.uint16)
    with pytest.raises(ValidationError, match="2-D"):
        check_array(good[0], "raw", dtype=np.uint16, ndim=2)
    with pytest.raises(ValidationError, match="shape"):
        check_array(good, "raw", dtype=np.uint16, shape=(4, 3))
    with pytest.raises(ValidationError, match="numpy array"):
        check_array([[1]], "raw", dtype=np.uint16)
    with pytest.raises(ValidationError, match="empty"):
        check_array(np.zeros((0, 3), np.uint16), "raw", dtype=np.uint16)


def test_output_array_allocates_or_checks():
    assert output_array(None, (2, 3), np.float32).shape == (2, 3)
    out = np.empty((2, 3), np.float32)
    assert output_array(out, (2, 3), np.float32) is out
    out.flags.writeable = False
    with pytest.raises(ValidationError, match="read-only"):
        output_array(out, (2, 3), np.float32)
    with pytest.raises(ValidationError, match="out must have shape"):
        output_array(np.empty((3, 2), np.float32), (2, 3), np.float32)

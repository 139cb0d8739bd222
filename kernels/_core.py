"""Pieces shared by the kernels: argument checks at the Python boundary and a vectorisable logarithm.

The logarithm exists because numba's ``math.log`` compiles to a scalar library call per element (no
vector math library in the llvmlite wheels), which makes ``-ln T`` five times slower than everything else
in the calibration pass together. :func:`fast_ln` splits the float32 into exponent and mantissa with bit
casts and evaluates ``ln`` of the mantissa with the atanh series, so LLVM vectorises it. The numpy
mirror :func:`fast_ln_reference` performs the same float32 operations in the same order, so integer
outputs derived from it are bit-identical to the numba kernels'. Accuracy against the true logarithm on
[1e-6, 1]: within 1.2e-6 absolute and 3e-7 relative (every float32 there: at most 1.08e-6 and 2.75e-7, the
latter where ``T`` is just below √½ and ``ln 2 − ln m`` cancels; ``tests/kernels/test_core.py``).

Attenuation *codes* (steps of 1/4096) need only the absolute accuracy: :func:`code_ln` evaluates the series with
three minimax coefficients instead of four Taylor ones (one multiply-add less on the loop's longest chain, a
tenth of the codes kernel's time). It is as accurate in absolute terms (1.1e-6; 3.7e-7 relative, too coarse for
float32 attenuation near ``T = 1``), and over every float32 ``T`` in [1e-6, 1] its codes differ from the
float64 logarithm's rounding as often as :func:`fast_ln`'s do (0.12 % of them, by one).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from nii.errors import ValidationError

__all__ = [
    "check_array",
    "code_ln",
    "code_ln_reference",
    "fast_ln",
    "fast_ln_reference",
    "nearest_int32",
    "output_array",
    "prefetch",
    "scaled_ln",
]

_F32 = np.float32
_LN2 = _F32(0.6931471805599453)
_ONE = _F32(1.0)
# ln m = 2 atanh(s) = 2 s + 2 s^3 / 3 + 2 s^5 / 5 + ...; |s| <= 0.1716, so the first term left out, 2 s^9 / 9,
# is below 3e-8 (half a float32 ulp of ln m).
_C7 = _F32(2.0 / 7.0)
_C5 = _F32(2.0 / 5.0)
_C3 = _F32(2.0 / 3.0)
_C1 = _F32(2.0)
# The same series with three coefficients, minimax for the relative error on |s| <= 0.1716 (a linear programme
# over 20 000 points, in float64): the series' error is 4.7e-8 absolute, below float32 rounding.
_D5 = _F32(0.4126153732279672)
_D3 = _F32(0.6665349757705638)
_D1 = _F32(2.0000002009927447)
_MANTISSA = 0x007FFFFF
_LOWER_BOUND = 0x3F3504F4
"""Bits of the float32 just above √½: mantissas from it up to √2 (float32) keep ln m within the series' range."""


@intrinsic
def _mantissa_exponent(typingctx: Any, value: Any) -> Any:
    """Split a positive normal float32 ``x = m · 2^e`` with ``m`` in (√½, √2] into ``m`` and ``e`` (as float32).

    Subtracting the bits of the lower bound before the split moves the mantissa's range without a compare
    and selects; written as LLVM IR so that every integer step stays 32 bits wide (numba would widen them
    to 64 bits and halve the vector width).
    """
    signature = types.UniTuple(types.float32, 2)(types.float32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        int32, float32 = ir.IntType(32), ir.FloatType()
        shifted = builder.sub(builder.bitcast(args[0], int32), int32(_LOWER_BOUND))
        mantissa_bits = builder.add(builder.and_(shifted, int32(_MANTISSA)), int32(_LOWER_BOUND))
        mantissa = builder.bitcast(mantissa_bits, float32)
        exponent = builder.sitofp(builder.ashr(shifted, int32(23)), float32)
        return context.make_tuple(builder, sig.return_type, [mantissa, exponent])

    return signature, codegen


@numba.njit(inline="always", cache=True)
def _atanh_argument(x: np.float32) -> tuple[np.float32, np.float32]:  # pragma: no cover - compiled
    """``s = (m − 1) / (m + 1)`` of the mantissa ``m`` of ``x = m · 2^e``, and ``e``: ``ln x = 2 atanh s + e ln 2``."""
    mantissa, exponent = _mantissa_exponent(x)  # type: ignore[call-arg, var-annotated]
    return (mantissa - _ONE) / (mantissa + _ONE), exponent


@numba.njit(inline="always", cache=True)
def scaled_ln(x: np.float32, scale: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``scale × ln x`` for a positive, finite, normal float32 ``x`` and a constant power of two ``scale``.

    The scale goes into the series' coefficients (LLVM folds the constant products), which saves the
    multiplication after it. Scaling by a power of two is exact in every step, so the result is bit for
    bit ``scale × fast_ln(x)`` (and :func:`fast_ln` is this with ``scale`` 1).
    """
    s, exponent = _atanh_argument(x)
    s2 = s * s
    series = (_C7 * scale) * s2 + (_C5 * scale)
    series = series * s2 + (_C3 * scale)
    series = series * s2 + (_C1 * scale)
    return series * s + exponent * (_LN2 * scale)


@numba.njit(inline="always", cache=True)
def code_ln(x: np.float32, scale: np.float32) -> np.float32:  # pragma: no cover - compiled
    """``scale × ln x`` (``scale`` a constant power of two) with the three-term series: for integer codes,
    which need the absolute accuracy only (see the module docstring)."""
    s, exponent = _atanh_argument(x)
    s2 = s * s
    series = (_D5 * scale) * s2 + (_D3 * scale)
    series = series * s2 + (_D1 * scale)
    return series * s + exponent * (_LN2 * scale)


@numba.njit(inline="always", cache=True)
def fast_ln(x: np.float32) -> np.float32:  # pragma: no cover - compiled
    """Natural logarithm of a positive, finite, normal float32 (see the module docstring)."""
    return scaled_ln(x, _ONE)


def fast_ln_reference(x: np.ndarray) -> np.ndarray:
    """Numpy mirror of :func:`fast_ln`: the same float32 operations, so the same bits.

    Examples
    --------
    >>> import numpy as np
    >>> float(fast_ln_reference(np.array([1.0, 0.5], np.float32))[1])  # doctest: +ELLIPSIS
    -0.693147...
    """
    s, exponent = _atanh_argument_reference(x)
    s2 = s * s
    series = _C7 * s2 + _C5
    series = series * s2 + _C3
    series = series * s2 + _C1
    return series * s + exponent * _LN2


def code_ln_reference(x: np.ndarray, scale: np.float32) -> np.ndarray:
    """Numpy mirror of :func:`code_ln`: the same float32 operations, so the same bits.

    Examples
    --------
    >>> import numpy as np
    >>> float(code_ln_reference(np.array([0.5], np.float32), np.float32(-4096))[0])  # doctest: +ELLIPSIS
    2839.13...
    """
    s, exponent = _atanh_argument_reference(x)
    s2 = s * s
    series = (_D5 * scale) * s2 + (_D3 * scale)
    series = series * s2 + (_D1 * scale)
    return series * s + exponent * (_LN2 * scale)


def _atanh_argument_reference(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.ascontiguousarray(x, dtype=np.float32)
    shifted = x.view(np.int32) - np.int32(_LOWER_BOUND)
    mantissa = ((shifted & _MANTISSA) + np.int32(_LOWER_BOUND)).view(np.float32)
    exponent = (shifted >> 23).astype(np.float32)
    return (mantissa - _ONE) / (mantissa + _ONE), exponent


@intrinsic
def nearest_int32(typingctx: Any, value: Any) -> Any:
    """A float32 rounded to the nearest int32, ties to even (``np.rint``), in one instruction.

    ``llvm.lrint`` vectorises to a single conversion in the current rounding mode (to nearest unless a
    program changes it); numba's ``round`` and ``np.rint`` followed by a cast take two.
    """
    if value != types.float32:
        return None
    signature = types.int32(types.float32)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        lrint = ir.FunctionType(ir.IntType(32), [ir.FloatType()])
        return builder.call(cgutils.get_or_insert_function(builder.module, lrint, "llvm.lrint.i32.f32"), args)

    return signature, codegen


@intrinsic
def prefetch(typingctx: Any, array: Any, row: Any, column: Any) -> Any:
    """Ask the cache for the line holding ``array[row, column]`` of a C-contiguous 2-D array (a hint).

    The address is computed without bounds checks, so a kernel can ask for data some way ahead of what it
    reads, past the end of a row (into the next, which it reads next) or of the array: a prefetch never
    faults and changes no result. Kernels that compute for long between loads need it: their loop keeps too
    few loads in flight to hide the memory's latency, and the hardware prefetcher does not run far enough
    ahead of them (measured on the calibration kernels: a quarter of their time waited on loads).
    """
    if not (isinstance(array, types.Array) and array.ndim == 2 and array.layout == "C"):
        return None
    signature = types.void(array, row, column)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        int64, int8_pointer = ir.IntType(64), ir.IntType(8).as_pointer()
        data = context.make_array(sig.args[0])(context, builder, args[0])
        strides = cgutils.unpack_tuple(builder, data.strides, 2)
        row_index = context.cast(builder, args[1], sig.args[1], types.int64)
        column_index = context.cast(builder, args[2], sig.args[2], types.int64)
        offset = builder.add(builder.mul(row_index, strides[0]), builder.mul(column_index, strides[1]))
        address = builder.inttoptr(builder.add(builder.ptrtoint(data.data, int64), offset), int8_pointer)
        int32 = ir.IntType(32)
        hint = ir.FunctionType(ir.VoidType(), [int8_pointer, int32, int32, int32])
        function = cgutils.get_or_insert_function(builder.module, hint, "llvm.prefetch.p0i8")
        builder.call(function, [address, int32(0), int32(3), int32(1)])  # read, keep in all levels, data
        return context.get_dummy_value()

    return signature, codegen


def check_array(
    array: Any,
    name: str,
    *,
    dtype: Any,
    ndim: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Return ``array`` if it is a C-contiguous ndarray of this dtype and shape, else raise.

    Kernels never convert silently: a wrong dtype or a strided view is a caller's bug that would
    otherwise cost a hidden full-size copy.

    Raises
    ------
    ValidationError
        Not an ndarray, wrong dtype, wrong number of dimensions, wrong shape, or not C-contiguous.
    """
    if not isinstance(array, np.ndarray):
        raise ValidationError(f"{name} must be a numpy array, got {type(array).__name__}")
    if array.dtype != np.dtype(dtype):
        raise ValidationError(f"{name} must have dtype {np.dtype(dtype)}, got {array.dtype}")
    if ndim is not None and array.ndim != ndim:
        raise ValidationError(f"{name} must be {ndim}-D, got shape {array.shape}")
    if shape is not None and array.shape != tuple(shape):
        raise ValidationError(f"{name} must have shape {tuple(shape)}, got {array.shape}")
    if not array.flags.c_contiguous:
        raise ValidationError(f"{name} must be C-contiguous (use np.ascontiguousarray); got strides {array.strides}")
    if array.size == 0:
        raise ValidationError(f"{name} is empty")
    return array


def output_array(out: np.ndarray | None, shape: tuple[int, ...], dtype: Any, name: str = "out") -> np.ndarray:
    """``out`` checked for shape, dtype and contiguity and writability, or a new array when it is None."""
    if out is None:
        return np.empty(shape, dtype=dtype)
    check_array(out, name, dtype=dtype, shape=shape)
    if not out.flags.writeable:
        raise ValidationError(f"{name} is read-only")
    return out

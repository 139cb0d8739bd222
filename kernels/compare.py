"""Comparison of two aligned images: similarity measures, a difference image and composites for a viewer.

Every measure is taken over the *overlapping valid pixels*: those finite in both images (a warp leaves
NaN outside the moving image) and inside the optional mask. Put the moving image on the reference grid
first (:meth:`nii.kernels.AffineTransform.warp`); images of two energies or two scanners compare better
after :func:`match_intensity`.

Examples
--------
>>> import numpy as np
>>> reference = np.linspace(0.0, 1.0, 64, dtype=np.float32).reshape(8, 8)
>>> moving = 2.0 * reference + 0.5
>>> round(ncc(reference, moving), 6)
1.0
>>> float(mean_absolute_difference(reference, match_intensity(reference, moving))) < 1e-6
True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from numba import njit, prange

from nii.errors import ValidationError
from nii.kernels import _common
from nii.kernels._common import FAST as _FAST
from nii.kernels._common import run as _run

__all__ = [
    "checkerboard",
    "flicker",
    "match_intensity",
    "mean_absolute_difference",
    "ncc",
    "psnr",
    "signed_difference",
    "ssim",
]

_MOMENTS = 8  # count, sum a, sum b, sum a², sum b², sum ab, sum |a - b|, sum (a - b)²


@njit(cache=True, parallel=True, fastmath=_FAST)
def _moments(first: np.ndarray, second: np.ndarray, mask: np.ndarray, use_mask: bool, sums: np.ndarray) -> None:
    """Per-row sums over the pixels finite in both images (and inside the mask)."""
    rows, cols = first.shape
    for i in prange(rows):
        n = sa = sb = saa = sbb = sab = sad = ssd = 0.0
        for j in range(cols):
            a = float(first[i, j])
            b = float(second[i, j])
            ok = math.isfinite(a) and math.isfinite(b) and (not use_mask or mask[i, j])
            a = a if ok else 0.0
            b = b if ok else 0.0
            d = a - b
            n += 1.0 if ok else 0.0
            sa += a
            sb += b
            saa += a * a
            sbb += b * b
            sab += a * b
            sad += abs(d)
            ssd += d * d
        sums[i, 0] = n
        sums[i, 1] = sa
        sums[i, 2] = sb
        sums[i, 3] = saa
        sums[i, 4] = sbb
        sums[i, 5] = sab
        sums[i, 6] = sad
        sums[i, 7] = ssd


def moments_reference(first: np.ndarray, second: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Plain-numpy reference of :func:`_moments` (summed over rows), for tests."""
    a = first.astype(np.float64)
    b = second.astype(np.float64)
    valid = np.isfinite(a) & np.isfinite(b) & (True if mask is None else mask)
    a, b = a[valid], b[valid]
    return np.array(
        [
            valid.sum(),
            a.sum(),
            b.sum(),
            (a * a).sum(),
            (b * b).sum(),
            (a * b).sum(),
            np.abs(a - b).sum(),
            ((a - b) ** 2).sum(),
        ]
    )


def _pair(reference: Any, moving: Any, mask: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    first = _common.image(reference, "reference")
    second = _common.image(moving, "moving image")
    if first.shape != second.shape:
        raise ValidationError(
            f"images must have one shape, got {first.shape} and {second.shape}: warp the moving image first"
        )
    return first, second, None if mask is None else _common.mask(mask, first.shape, "mask")


def _sums(first: np.ndarray, second: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    sums = np.empty((first.shape[0], _MOMENTS))
    use_mask = mask is not None
    _run(_moments, first.size, first, second, mask if mask is not None else np.ones((1, 1), np.bool_), use_mask, sums)
    total = sums.sum(axis=0)
    if total[0] < 2:
        raise ValidationError(f"the images share {int(total[0])} valid pixels: nothing to compare")
    return total


def _spread(total: np.ndarray) -> tuple[float, float, float]:
    """Sums of squared deviations of a and b, and their cross product."""
    n, sa, sb, saa, sbb, sab = total[:6]
    return saa - sa * sa / n, sbb - sb * sb / n, sab - sa * sb / n


def ncc(reference: Any, moving: Any, *, mask: Any = None) -> float:
    """Normalised cross-correlation (Pearson) over the overlapping valid pixels, in [-1, 1].

    Returns 0 when either image is constant there.

    Examples
    --------
    >>> a = np.arange(20.0).reshape(4, 5)
    >>> round(ncc(a, -a), 6)
    -1.0
    """
    total = _sums(*_pair(reference, moving, mask))
    var_a, var_b, cov = _spread(total)
    return float(cov / math.sqrt(var_a * var_b)) if var_a > 0 and var_b > 0 else 0.0


def mean_absolute_difference(reference: Any, moving: Any, *, mask: Any = None) -> float:
    """Mean of ``|moving - reference|`` over the overlapping valid pixels.

    Examples
    --------
    >>> mean_absolute_difference(np.zeros((2, 2)), np.array([[1.0, -1.0], [np.nan, 4.0]]))
    2.0
    """
    total = _sums(*_pair(reference, moving, mask))
    return float(total[6] / total[0])


def psnr(reference: Any, moving: Any, *, mask: Any = None, data_range: float | None = None) -> float:
    """Peak signal-to-noise ratio in dB over the overlapping valid pixels.

    Parameters
    ----------
    data_range
        The peak value; by default the range (max - min) of the reference's valid pixels.

    Returns
    -------
    float
        ``10 log10(data_range² / mean squared difference)``; ``inf`` for identical images.

    Examples
    --------
    >>> round(psnr(np.array([[0.0, 1.0]]), np.array([[0.1, 1.0]])), 2)
    23.01
    """
    first, second, valid_mask = _pair(reference, moving, mask)
    total = _sums(first, second, valid_mask)
    peak = _data_range(first, second, valid_mask) if data_range is None else float(data_range)
    if not peak > 0:
        raise ValidationError(f"data range must be positive, got {peak}")
    mse = total[7] / total[0]
    return float(10 * math.log10(peak * peak / mse)) if mse > 0 else math.inf


def _data_range(first: np.ndarray, second: np.ndarray, mask: np.ndarray | None) -> float:
    valid = np.isfinite(first) & np.isfinite(second)
    if mask is not None:
        valid &= mask
    values = first[valid]
    return float(values.max() - values.min())


@njit(cache=True, parallel=True, fastmath=_FAST)
def _ssim_rows(
    first: np.ndarray, second: np.ndarray, valid: np.ndarray, window: int, c1: float, c2: float, out: np.ndarray
) -> None:
    """Sum and count of SSIM over the windows of each output row that hold only valid pixels.

    Output row i is the row of windows centred on image row i + window // 2: sums down the window's rows for
    every column, then a window sum slid along the row.
    """
    rows, cols = first.shape
    out_rows = rows - window + 1
    count = window * window
    covariance_norm = count / (count - 1.0)
    for i in prange(out_rows):
        sa = np.zeros(cols)
        sb = np.zeros(cols)
        saa = np.zeros(cols)
        sbb = np.zeros(cols)
        sab = np.zeros(cols)
        bad = np.zeros(cols)
        for r in range(i, i + window):
            for j in range(cols):
                ok = valid[r, j]
                a = np.float64(first[r, j]) if ok else 0.0
                b = np.float64(second[r, j]) if ok else 0.0
                sa[j] += a
                sb[j] += b
                saa[j] += a * a
                sbb[j] += b * b
                sab[j] += a * b
                bad[j] += 0.0 if ok else 1.0
        total = 0.0
        used = 0.0
        wa = wb = waa = wbb = wab = wbad = 0.0
        # Slide the window along the row: add the entering column, evaluate once the window is full, then
        # drop the leaving column.
        for j0 in range(1 - window, cols - window + 1):
            j = j0 + window - 1
            wa += sa[j]
            wb += sb[j]
            waa += saa[j]
            wbb += sbb[j]
            wab += sab[j]
            wbad += bad[j]
            if j0 < 0:
                continue
            if wbad == 0.0:
                ma = wa / count
                mb = wb / count
                va = covariance_norm * (waa / count - ma * ma)
                vb = covariance_norm * (wbb / count - mb * mb)
                vab = covariance_norm * (wab / count - ma * mb)
                total += ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
                used += 1.0
            wa -= sa[j0]
            wb -= sb[j0]
            waa -= saa[j0]
            wbb -= sbb[j0]
            wab -= sab[j0]
            wbad -= bad[j0]
        out[i, 0] = total
        out[i, 1] = used


def ssim_reference(first: np.ndarray, second: np.ndarray, valid: np.ndarray, window: int, data_range: float) -> float:
    """Plain-numpy reference of :func:`ssim` (mean over fully valid windows), for tests."""
    a = np.where(valid, first, 0.0).astype(np.float64)
    b = np.where(valid, second, 0.0).astype(np.float64)

    def window_sum(x: np.ndarray) -> np.ndarray:
        return np.lib.stride_tricks.sliding_window_view(x, (window, window)).sum(axis=(2, 3))

    count = window * window
    ma, mb = window_sum(a) / count, window_sum(b) / count
    norm = count / (count - 1)
    va = norm * (window_sum(a * a) / count - ma**2)
    vb = norm * (window_sum(b * b) / count - mb**2)
    vab = norm * (window_sum(a * b) / count - ma * mb)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    index = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma**2 + mb**2 + c1) * (va + vb + c2))
    return float(index[window_sum((~valid).astype(np.float64)) == 0].mean())


def ssim(reference: Any, moving: Any, *, mask: Any = None, data_range: float | None = None, window: int = 7) -> float:
    """Mean structural similarity (Wang et al. 2004) over the windows that hold only valid pixels.

    Uniform ``window`` × ``window`` windows, sample covariances, K1 = 0.01 and K2 = 0.03: on images
    without invalid pixels this is ``skimage.metrics.structural_similarity`` with its defaults.

    Parameters
    ----------
    data_range
        The peak value; by default the range of the reference's valid pixels.
    window
        Odd window side, at least 3.

    Examples
    --------
    >>> a = np.add.outer(np.arange(16.0), np.arange(16.0))
    >>> ssim(a, a)
    1.0
    """
    first, second, valid_mask = _pair(reference, moving, mask)
    if window < 3 or window % 2 == 0 or window > min(first.shape):
        raise ValidationError(f"window must be odd, at least 3 and at most {min(first.shape)}, got {window}")
    peak = _data_range(first, second, valid_mask) if data_range is None else float(data_range)
    if not peak > 0:
        raise ValidationError(f"data range must be positive, got {peak}")
    valid = np.isfinite(first) & np.isfinite(second)
    if valid_mask is not None:
        valid &= valid_mask
    out = np.empty((first.shape[0] - window + 1, 2))
    _run(_ssim_rows, first.size, first, second, valid, window, (0.01 * peak) ** 2, (0.03 * peak) ** 2, out)
    total, used = out.sum(axis=0)
    if used == 0:
        raise ValidationError(f"no {window} × {window} window of valid pixels: nothing to compare")
    return float(total / used)


def signed_difference(reference: Any, moving: Any, *, mask: Any = None) -> np.ndarray:
    """``moving - reference`` where both are valid, NaN elsewhere (float64 if either input is, else float32).

    Examples
    --------
    >>> signed_difference(np.array([[1.0, 2.0]]), np.array([[1.5, np.nan]]))
    array([[0.5, nan]])
    """
    first, second, valid_mask = _pair(reference, moving, mask)
    dtype = np.dtype(np.float64 if np.float64 in (first.dtype, second.dtype) else np.float32)
    difference = second.astype(dtype) - first.astype(dtype)
    if valid_mask is not None:
        difference[~valid_mask] = np.nan
    return difference


def match_intensity(reference: Any, moving: Any, *, mask: Any = None) -> np.ndarray:
    """The moving image mapped by the gain and offset that best fit it to the reference (least squares
    over the overlapping valid pixels), so that two energies or two scanners share one scale.

    Examples
    --------
    >>> match_intensity(np.array([[0.0, 1.0, 2.0]]), np.array([[1.0, 3.0, 5.0]]))
    array([[0., 1., 2.]])
    """
    first, second, valid_mask = _pair(reference, moving, mask)
    total = _sums(first, second, valid_mask)
    _, var_b, cov = _spread(total)
    if not var_b > 0:
        raise ValidationError("the moving image is constant over the overlap: no gain to fit")
    gain = cov / var_b
    offset = (total[1] - gain * total[2]) / total[0]
    dtype = np.dtype(np.float64 if second.dtype == np.float64 else np.float32)
    return second.astype(dtype) * gain + offset  # Python floats keep float32 float32


def checkerboard(reference: Any, moving: Any, *, tile: int | Sequence[int] = 64) -> np.ndarray:
    """Composite of alternating tiles, the reference's where ``(tile row + tile column)`` is even.

    Misregistration shows as broken edges at the tile borders.

    Parameters
    ----------
    tile
        Tile size in pixels, one for both directions or ``(rows, columns)``.

    Examples
    --------
    >>> checkerboard(np.zeros((2, 4)), np.ones((2, 4)), tile=(1, 2))
    array([[0., 0., 1., 1.],
           [1., 1., 0., 0.]])
    """
    first, second, _ = _pair(reference, moving, None)
    size = (tile, tile) if isinstance(tile, int | np.integer) else tuple(int(t) for t in tile)
    if len(size) != 2 or min(size) < 1:
        raise ValidationError(f"tile must be one or two positive sizes, got {tile!r}")
    rows = np.arange(first.shape[0])[:, None] // size[0]
    cols = np.arange(first.shape[1])[None, :] // size[1]
    return np.where((rows + cols) % 2 == 0, first, second)


def flicker(reference: Any, moving: Any, *, steps: int = 0) -> np.ndarray:
    """Frames for a flicker (blink) comparison: the reference, ``steps`` cross-fades, the moving image and
    ``steps`` cross-fades back, to be shown in a loop.

    Returns
    -------
    numpy.ndarray
        Shape ``(2 * (steps + 1), rows, columns)``, float64 if either input is, else float32.

    Examples
    --------
    >>> flicker(np.zeros((1, 1)), np.ones((1, 1)), steps=1)[:, 0, 0]
    array([0. , 0.5, 1. , 0.5])
    """
    first, second, _ = _pair(reference, moving, None)
    if not 0 <= steps <= 64:
        raise ValidationError(f"steps must be between 0 and 64, got {steps}")
    dtype = np.dtype(np.float64 if np.float64 in (first.dtype, second.dtype) else np.float32)
    going = np.linspace(0.0, 1.0, steps + 2)
    weights = np.concatenate([going, going[-2:0:-1]])
    a = first.astype(dtype)
    b = second.astype(dtype)
    frames = np.empty((weights.size, *a.shape), dtype)
    for k, weight in enumerate(weights.tolist()):
        frames[k] = a + weight * (b - a)
    return frames

"""Preparation for registration: valid-pixel masks, image pyramids and the features compared.

Both images of a registration become C-contiguous float32 with NaN for pixels not to use, then a pyramid
of 2 × 2 means (masked pixels left out); the fine registration compares each level's gradient magnitude
(or the values themselves, :class:`Features`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit, prange

from nii.errors import ValidationError
from nii.kernels import _common
from nii.kernels._common import FAST as _FAST
from nii.kernels._common import run as _run

FLOAT32_MAX = np.float32(np.finfo(np.float32).max)
"""Largest float32: ``abs(total) <= FLOAT32_MAX`` tells a finite sum from NaN or overflow in a form fast-math
keeps (it folds ``x - x == 0`` to True)."""


class Features(_common.Option):
    """What the fine registration compares."""

    GRADIENT = "gradient"
    """Gradient magnitude after a Gaussian-like blur of one pixel (binomial 1-4-6-4-1): every edge gives a
    ridge centred on it whatever its contrast, so images whose contrasts differ from material to
    material (two energies, two scanners) align without bias."""
    INTENSITY = "intensity"
    """The pixel values themselves, up to a gain and an offset (as ECC): best for images of one energy."""


def valid_mask(image: Any, *, low: float | None = None, high: float | None = None) -> np.ndarray:
    """True where a pixel can take part in a registration: finite, above ``low`` and below ``high``.

    In attenuation images air is near 0 and a saturated detector reports its maximum, so ``low`` just
    above the air noise and ``high`` just below the saturation value leave out both; for transmission
    images the roles swap (air near 1 is the high end).

    Examples
    --------
    >>> valid_mask(np.array([[0.01, 0.5, 6.0, np.nan]]), low=0.05, high=5.9)
    array([[False,  True, False, False]])
    """
    source = _common.image(image, "image")
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(source)
        if low is not None:
            valid &= source > low
        if high is not None:
            valid &= source < high
    return valid


# ---------------------------------------------------------------------------------------------------------------
# Preparation: masks and pyramids


@njit(cache=True, parallel=True)
def _masked_float32(image: np.ndarray, mask: np.ndarray, use_mask: bool, out: np.ndarray) -> int:
    """float32 copy with NaN where the mask is False or the value is not finite; returns the valid count."""
    rows, cols = image.shape
    valid = 0
    for i in prange(rows):
        for j in range(cols):
            value = np.float32(image[i, j])
            keep = np.isfinite(value) and (not use_mask or mask[i, j])
            out[i, j] = value if keep else np.float32(np.nan)
            valid += 1 if keep else 0
    return valid


@njit(cache=True, parallel=True)
def _count_valid(image: np.ndarray) -> tuple[int, int]:
    """Numbers of non-NaN and of infinite pixels."""
    rows, cols = image.shape
    valid = 0
    infinite = 0
    for i in prange(rows):
        line = image[i]
        row_valid = 0
        row_infinite = 0
        for j in range(cols):
            value = line[j]
            row_valid += 1 if value == value else 0
            row_infinite += 1 if abs(value) == np.inf else 0
        valid += row_valid
        infinite += row_infinite
    return valid, infinite


def prepare(image: Any, mask: Any, what: str) -> tuple[np.ndarray, int]:
    """The image as C-contiguous float32 with NaN for pixels not to use, and the number of valid pixels.
    A float32 image without mask and without infinities is used as it is (no copy)."""
    source = _common.image(image, what, min_size=8)
    if mask is None and source.dtype == np.float32 and source.flags.c_contiguous:
        valid, infinite = _run(_count_valid, source.size, source)
        if infinite == 0:
            return source, int(valid)
    out = np.empty(source.shape, np.float32)
    if mask is None:
        valid = _run(_masked_float32, out.size, source, np.ones((1, 1), np.bool_), False, out)
    else:
        valid = _run(_masked_float32, out.size, source, _common.mask(mask, source.shape, f"{what} mask"), True, out)
    return out, int(valid)


@njit(cache=True, fastmath=_FAST, inline="always")
def _mean_row(top: np.ndarray, bottom: np.ndarray, line: np.ndarray) -> bool:
    """2 × 2 means of two rows, taking every pixel as valid; False if the row of means came out not
    finite (a NaN or infinite pixel): then :func:`_masked_mean_row` must do the row."""
    quarter = np.float32(0.25)
    total = np.float32(0.0)
    for j in range(line.size):
        mean = (top[2 * j] + top[2 * j + 1] + bottom[2 * j] + bottom[2 * j + 1]) * quarter
        line[j] = mean
        total += mean
    return bool(abs(total) <= FLOAT32_MAX)


@njit(cache=True, fastmath=_FAST, inline="always")
def _masked_mean_row(top: np.ndarray, bottom: np.ndarray, line: np.ndarray) -> tuple[int, int]:
    """2 × 2 means of the valid pixels of two rows, NaN where fewer than two of the four are valid; the
    numbers of valid (not NaN) and of infinite pixels read."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    valid = 0
    infinite = 0
    for j in range(line.size):
        a = top[2 * j]
        b = top[2 * j + 1]
        c = bottom[2 * j]
        d = bottom[2 * j + 1]
        count = (
            (one if a == a else zero)
            + (one if b == b else zero)
            + (one if c == c else zero)
            + (one if d == d else zero)
        )
        total = (a if a == a else zero) + (b if b == b else zero) + (c if c == c else zero) + (d if d == d else zero)
        line[j] = total / count if count >= 2 else np.float32(np.nan)
        valid += int(count)
        infinite += (abs(a) == np.inf) + (abs(b) == np.inf) + (abs(c) == np.inf) + (abs(d) == np.inf)
    return valid, infinite


@njit(cache=True, parallel=True, fastmath=_FAST)
def _downsample(image: np.ndarray, out: np.ndarray) -> tuple[int, int]:
    """2 × 2 means of the valid pixels of a float32 image; NaN where fewer than two of the four are valid.
    Returns the numbers of valid (not NaN) and of infinite pixels of the image read (all but an odd last
    row or column), so that a prepared image needs no pass of its own to be counted."""
    valid = 0
    infinite = 0
    for i in prange(out.shape[0]):
        top = image[2 * i]
        bottom = image[2 * i + 1]
        if _mean_row(top, bottom, out[i]):
            valid += 4 * out.shape[1]
        else:
            row_valid, row_infinite = _masked_mean_row(top, bottom, out[i])
            valid += row_valid
            infinite += row_infinite
    return valid, infinite


def downsample_reference(image: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of :func:`_downsample`, for tests."""
    rows, cols = image.shape[0] // 2, image.shape[1] // 2
    blocks = image[: 2 * rows, : 2 * cols].reshape(rows, 2, cols, 2).astype(np.float64)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 2, total / count, np.nan).astype(np.float32)


def _downsampled(image: np.ndarray) -> tuple[np.ndarray, tuple[int, int]]:
    out = np.empty((image.shape[0] // 2, image.shape[1] // 2), np.float32)
    return out, _run(_downsample, image.size, image, out)


def build_pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    result = [image]
    for _ in range(levels - 1):
        result.append(_downsampled(result[-1])[0])
    return result


def _pyramid_and_counts(image: np.ndarray, levels: int) -> tuple[list[np.ndarray], int, int]:
    """The pyramid (``levels`` > 1), and the numbers of valid (not NaN) and of infinite pixels of ``image``."""
    first, (valid, infinite) = _downsampled(image)
    # An odd last row or column is not read by the 2 × 2 means.
    rows, cols = 2 * first.shape[0], 2 * first.shape[1]
    for rest in (image[rows:], image[:rows, cols:]):
        if rest.size:
            rest_valid, rest_infinite = _count_valid(np.ascontiguousarray(rest))
            valid, infinite = valid + rest_valid, infinite + rest_infinite
    return [image, *build_pyramid(first, levels - 1)], int(valid), int(infinite)


def prepared_pyramid(image: np.ndarray, mask: Any, what: str, levels: int) -> tuple[list[np.ndarray], int]:
    """:func:`prepare` and :func:`build_pyramid` in one. A float32 image without mask is counted while its
    first level is computed (one pass over the full-size image instead of two) and used as it is if it
    holds no infinities."""
    if levels > 1 and mask is None and image.dtype == np.float32 and image.flags.c_contiguous:
        pyramid, valid, infinite = _pyramid_and_counts(image, levels)
        if infinite == 0:
            return pyramid, valid
    prepared, valid = prepare(image, mask, what)
    return build_pyramid(prepared, levels), valid


# Binomial smoothing (variance 1) of both axes, then central differences: the derivative filter
# (-1 -4 -5 0 5 4 1) / 32 is the binomial (1 4 6 4 1) / 16 followed by (-1 0 1) / 2, so smoothing once and
# differencing takes about half the arithmetic of filtering each derivative separately.
_SMOOTH = (1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16)


@njit(cache=True, fastmath=_FAST, inline="always")
def _binomial(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, e: np.ndarray, out: np.ndarray) -> None:
    """``a + 4 b + 6 c + 4 d + e``, element by element: the binomial smoothing, unnormalised (× 16)."""
    four = np.float32(4.0)
    six = np.float32(6.0)
    for k in range(out.size):
        out[k] = (a[k] + e[k]) + (b[k] + d[k]) * four + c[k] * six


@njit(cache=True, fastmath=_FAST, inline="always")
def _smooth_row(line: np.ndarray, out: np.ndarray) -> None:
    """Binomial smoothing along one row, unnormalised; NaN within 2 pixels of the ends."""
    cols = line.size
    for j in range(min(2, cols)):
        out[j] = np.nan
        out[cols - 1 - j] = np.nan
    if cols > 4:
        n = cols - 4
        _binomial(line[0:n], line[1 : n + 1], line[2 : n + 2], line[3 : n + 3], line[4 : n + 4], out[2 : n + 2])


@njit(cache=True, fastmath=_FAST, inline="always")
def _magnitude_row(above: np.ndarray, middle: np.ndarray, below: np.ndarray, line: np.ndarray) -> None:
    """|gradient| of one row by central differences of the smoothed rows around it (each × 256)."""
    cols = line.size
    line[0] = np.nan
    line[cols - 1] = np.nan
    if cols > 2:
        n = cols - 2
        left = middle[0:n]
        right = middle[2 : n + 2]
        up = above[1 : n + 1]
        down = below[1 : n + 1]
        out = line[1 : n + 1]
        scale = np.float32(1 / 512)  # the central difference's 1/2 and the two smoothings' 1/256
        for k in range(n):
            across = right[k] - left[k]
            along = down[k] - up[k]
            out[k] = math.sqrt(across * across + along * along) * scale


@njit(cache=True, fastmath=_FAST, inline="always")
def feature_rows(
    image: np.ndarray, along_rows: np.ndarray, smoothed: np.ndarray, ring: np.ndarray, state: np.ndarray, last: int
) -> None:
    """Computes the gradient features of ``image`` row by row up to row ``last``, row r into
    ``ring[r % len(ring)]``, continuing from ``state`` (see :func:`feature_state`); ``along_rows`` (5 rows)
    and ``smoothed`` (3 rows) hold the last rows smoothed along rows and along both axes."""
    rows = image.shape[0]
    while state[0] <= last:
        i = state[0]
        target = ring[i % ring.shape[0]]
        if i < 3 or i >= rows - 3:
            for j in range(target.size):
                target[j] = np.nan
        else:
            while state[1] <= i + 1:
                r = state[1]
                while state[2] <= r + 2:
                    _smooth_row(image[state[2]], along_rows[state[2] % 5])
                    state[2] += 1
                _binomial(
                    along_rows[(r - 2) % 5],
                    along_rows[(r - 1) % 5],
                    along_rows[r % 5],
                    along_rows[(r + 1) % 5],
                    along_rows[(r + 2) % 5],
                    smoothed[r % 3],
                )
                state[1] += 1
            _magnitude_row(smoothed[(i - 1) % 3], smoothed[i % 3], smoothed[(i + 1) % 3], target)
        state[0] += 1


@njit(cache=True, inline="always")
def feature_state(first: int) -> np.ndarray:
    """State of :func:`feature_rows` before feature row ``first``: the next feature row, smoothed row and
    row smoothed along rows to compute (features of row i need the smoothed rows i ± 1, and a smoothed
    row r the rows r - 2 ... r + 2)."""
    state = np.empty(3, np.int64)
    state[0] = first
    state[1] = max(first, 3) - 1
    state[2] = max(first, 3) - 3
    return state


FEATURE_BLOCK = 64
"""Rows per parallel task of the kernels that compute gradient features row by row; each task smooths 4 rows
more than it outputs."""


@njit(cache=True, parallel=True, fastmath=_FAST)
def _gradient_magnitude(image: np.ndarray, out: np.ndarray) -> None:
    """|gradient| of the binomially smoothed image (see :class:`Features`), NaN within 3 pixels of the
    border. One pass: each task keeps its last 5 row-smoothed rows and 3 smoothed rows in rings."""
    rows, cols = image.shape
    for block in prange((rows + FEATURE_BLOCK - 1) // FEATURE_BLOCK):
        start = block * FEATURE_BLOCK
        stop = min(rows, start + FEATURE_BLOCK)
        along_rows = np.empty((5, cols), image.dtype)
        smoothed = np.empty((3, cols), image.dtype)
        feature_rows(image, along_rows, smoothed, out, feature_state(start), stop - 1)


def gradient_features(image: np.ndarray) -> np.ndarray:
    out = np.empty_like(image)
    _run(_gradient_magnitude, image.size, image, out)
    return out


def gradient_features_reference(image: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of the gradient features (float64), for tests."""
    x = image.astype(np.float64)
    smooth = np.asarray(_SMOOTH)

    def along(a: np.ndarray, axis: int) -> np.ndarray:
        a = np.moveaxis(a, axis, -1)
        out = np.full(a.shape, np.nan)
        n = a.shape[-1]
        if n > 4:
            out[..., 2 : n - 2] = sum(w * a[..., k : n - 4 + k] for k, w in enumerate(smooth))
        return np.moveaxis(out, -1, axis)

    blurred = along(along(x, 1), 0)
    across = np.full(x.shape, np.nan)
    down = np.full(x.shape, np.nan)
    across[:, 1:-1] = 0.5 * (blurred[:, 2:] - blurred[:, :-2])
    down[1:-1] = 0.5 * (blurred[2:] - blurred[:-2])
    return np.hypot(across, down)


TO_FINER = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
"""Coordinates of a pyramid level's pixel centre on the next finer level (2 × 2 means)."""


def auto_levels(shape_a: tuple[int, ...], shape_b: tuple[int, ...], coarsest: int) -> int:
    # Halve until the longer side is at most ``coarsest`` pixels, keeping at least 16 pixels on the shorter side.
    longest = max(*shape_a, *shape_b)
    shortest = min(*shape_a, *shape_b)
    levels = 1
    while longest > coarsest and shortest >= 32:
        longest //= 2
        shortest //= 2
        levels += 1
    return levels


def refined_levels(levels: int) -> list[int]:
    """The pyramid levels the fine registration works on, coarsest first: the coarsest and every second
    level below it, down to the finest (0).

    Gauss–Newton with features blurred by about a pixel converges from within a pixel or two of the
    optimum; a level's estimate is within a fraction of its pixel, so it starts the level four times finer
    well inside that range. Leaving out the levels between saves half of the work above full resolution
    (their features too), and the finest level is what sets the accuracy.

    Examples
    --------
    >>> refined_levels(6), refined_levels(1)
    ([5, 4, 2, 0], [0])
    """
    return [level for level in range(levels - 1, -1, -1) if level % 2 == 0 or level == levels - 1]


def feature_pyramid(pyramid: list[np.ndarray], features: Features, *, finest: bool = True) -> dict[int, np.ndarray]:
    """The features of the :func:`refined_levels` of a pyramid, by level; without ``finest`` level 0 is the
    image itself (for a kernel that computes its features on the fly)."""
    chosen = refined_levels(len(pyramid))
    if features is Features.GRADIENT:
        return {level: gradient_features(pyramid[level]) if finest or level else pyramid[0] for level in chosen}
    return {level: pyramid[level] for level in chosen}


def pyramid_levels(levels: int | None, shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> int:
    if levels is None:
        return auto_levels(shape_a, shape_b, 256)
    if not 1 <= levels <= 16 or min(*shape_a, *shape_b) >> (levels - 1) < 8:
        raise ValidationError(f"levels must leave at least 8 × 8 pixels on the coarsest level, got {levels}")
    return levels

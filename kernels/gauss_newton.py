"""Coarse-to-fine estimation of a transform: phase correlation on the coarsest pyramid level, then
Gauss–Newton on the finer ones (see :mod:`nii.kernels.registration` for the method)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from nii.errors import ValidationError
from nii.kernels._common import FAST as _FAST
from nii.kernels._common import run as _run
from nii.kernels.pyramid import FEATURE_BLOCK, FLOAT32_MAX, TO_FINER, feature_rows, feature_state
from nii.kernels.warp import affine_bicubic, samples_inside, shifted_bicubic_rows, warp_reference

# ---------------------------------------------------------------------------------------------------------------
# Coarse translation: phase correlation


def phase_correlation(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, float]:
    """Translation t with moving(p + t) ≈ reference(p), and the peak's height over the surface's spread."""
    shape = (max(reference.shape[0], moving.shape[0]), max(reference.shape[1], moving.shape[1]))
    spectra = []
    for image in (reference, moving):
        valid = np.isfinite(image)
        if valid.sum() < 16:
            raise ValidationError(f"only {int(valid.sum())} valid pixels on the coarsest level: nothing to register")
        centred = np.where(valid, image - image[valid].mean(), 0.0).astype(np.float32)
        # A Tukey window on the image frame keeps the wrap-around of the FFT from adding edges.
        centred *= np.outer(_tukey(image.shape[0]), _tukey(image.shape[1])).astype(np.float32)
        spectra.append(np.fft.rfft2(centred, s=shape))
    cross = np.conj(spectra[0]) * spectra[1]
    cross /= np.maximum(np.abs(cross), 1e-12 * np.abs(cross).max())
    surface = np.fft.irfft2(cross, s=shape)
    peak = np.unravel_index(int(np.argmax(surface)), shape)
    shift = np.zeros(2)
    for axis in range(2):
        size = shape[axis]
        index = list(peak)
        values = []
        for step in (-1, 0, 1):
            index[axis] = (peak[axis] + step) % size
            values.append(surface[tuple(index)])
        curvature = values[0] - 2 * values[1] + values[2]
        fraction = 0.5 * (values[0] - values[2]) / curvature if curvature < 0 else 0.0
        position = peak[axis] + float(np.clip(fraction, -0.5, 0.5))
        shift[axis] = position - size if position > size / 2 else position
    strength = float((surface[peak] - surface.mean()) / (surface.std() + 1e-30))
    return shift, strength


def _tukey(n: int, fraction: float = 0.25) -> np.ndarray:
    x = np.arange(n) / max(n - 1, 1)
    width = fraction / 2
    window = np.ones(n)
    rising = x < width
    falling = x > 1 - width
    window[rising] = 0.5 * (1 - np.cos(np.pi * x[rising] / width))
    window[falling] = 0.5 * (1 - np.cos(np.pi * (1 - x[falling]) / width))
    return window


# ---------------------------------------------------------------------------------------------------------------
# Fine registration: Gauss-Newton sums

# Normal equations of the residual e = moving(W(p)) - gain * reference(p) - bias, with the compositional
# update W <- W o (1 + delta) and the Jacobian taken from the reference's gradient (so it does not depend
# on the current warp). Each kernel returns per-row sums so the reduction is deterministic and the
# parallel loop has no shared state.

TRANSLATION_SUMS = 16  # 10 Hessian terms of (ry, rx, r, 1), 4 gradient terms, sum e², sum m²
_CHUNK = 1024  # float32 partial sums over at most this many pixels, then float64
_EDGE = 16  # pixels at each end of a row summed checked


@njit(cache=True, fastmath=_FAST, inline="always")
def _pixel_terms(
    sampled: np.ndarray,
    line: np.ndarray,
    above: np.ndarray,
    below: np.ndarray,
    k: int,
    gain: Any,
    bias: Any,
    checked: bool,
    zero: Any,
    one: Any,
    half: Any,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Pixel ``k`` of a row's Gauss-Newton sums: its weight w, the moving sample m, the reference r and its
    central differences rx (along the row; ``line`` starts one pixel before) and ry (from ``above`` and
    ``below``), and the residual e = m - gain r - bias. ``checked``: all zero where e, rx or ry is NaN (an
    invalid pixel), by selects, not branches, so that the loops vectorise. ``zero``, ``one`` and ``half`` set
    the arithmetic's type (float32 constants keep float32 sums in float32 lanes)."""
    m = sampled[k]
    r = line[k + 1]
    rx = half * (line[k + 2] - line[k])
    ry = half * (below[k] - above[k])
    e = m - gain * r - bias
    w = one
    if checked:
        ok = e == e and rx == rx and ry == ry
        w = one if ok else zero
        e = e if ok else zero
        rx = rx if ok else zero
        ry = ry if ok else zero
        r = r if ok else zero
        m = m if ok else zero
    return w, m, r, rx, ry, e


@njit(cache=True, fastmath=_FAST, inline="always")
def _chunk_sums(
    sampled: np.ndarray,
    line: np.ndarray,
    above: np.ndarray,
    below: np.ndarray,
    gain: np.float32,
    bias: np.float32,
    acc: np.ndarray,
    checked: bool,
) -> bool:
    """Adds a chunk's float32 sums to ``acc``. Unchecked (``checked`` False), every pixel is taken as
    valid, which saves six selects a pixel; the sums are then added only if they came out finite (a NaN
    pixel makes them NaN), and False says to sum the chunk again, checked."""
    half = np.float32(0.5)
    zero = np.float32(0.0)
    one = np.float32(1.0)
    syy = syx = syr = sy = sxx = sxr = sx = srr = sr = n = zero
    gy = gx = gr = ge = see = smm = zero
    for k in range(sampled.size):
        w, m, r, rx, ry, e = _pixel_terms(sampled, line, above, below, k, gain, bias, checked, zero, one, half)
        syy += ry * ry
        syx += ry * rx
        syr += ry * r
        sy += ry
        sxx += rx * rx
        sxr += rx * r
        sx += rx
        srr += r * r
        sr += r
        n += w
        gy += ry * e
        gx += rx * e
        gr += r * e
        ge += e
        see += e * e
        smm += m * m
    total = syy + syx + syr + sy + sxx + sxr + sx + srr + sr + gy + gx + gr + ge + see + smm
    if not checked and not abs(total) <= FLOAT32_MAX:  # NaN (or overflow): some pixel was not valid
        return False
    for index, value in enumerate((syy, syx, syr, sy, sxx, sxr, sx, srr, sr, n, gy, gx, gr, ge, see, smm)):
        acc[index] += value
    return True


@njit(cache=True, fastmath=_FAST, inline="always")
def _row_sums(
    acc: np.ndarray,
    work: tuple[np.ndarray, np.ndarray],
    moving_rows: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    j_shift: int,
    fr: float,
    fc: float,
    reference_rows: tuple[np.ndarray, np.ndarray, np.ndarray],
    lo: int,
    hi: int,
    gain: np.float32,
    bias: np.float32,
) -> None:
    """Adds the sums of reference pixels ``lo`` to ``hi`` of a row to ``acc``: the moving image is sampled
    at the column offset ``j_shift + fc`` between its four rows around the row offset ``fr``, chunk by
    chunk (vectorised), and each chunk summed with float32 partial sums."""
    sampled, blend = work  # the samples of a chunk, and its four rows blended (3 longer)
    m0, m1, m2, m3 = moving_rows
    above_row, row, below_row = reference_rows
    # The first and last few pixels meet the NaN margins of the features: summed checked.
    edge_stop = min(lo + _EDGE, hi)
    tail_start = max(hi - _EDGE, edge_stop)
    optimistic = False
    start = lo
    while start < hi:
        if start < edge_stop:
            stop = edge_stop
        elif start < tail_start:
            stop = min(start + _CHUNK, tail_start)
        else:
            stop = hi
        chunk = sampled[: stop - start]
        first = start + j_shift - 1  # the first of the four bicubic neighbours of sample 0
        end = stop + j_shift + 2
        shifted_bicubic_rows(chunk, blend, m0[first:end], m1[first:end], m2[first:end], m3[first:end], fr, fc)
        above = above_row[start:stop]
        below = below_row[start:stop]
        line = row[start - 1 : stop + 1]
        middle = edge_stop <= start < tail_start
        if not (middle and optimistic and _chunk_sums(chunk, line, above, below, gain, bias, acc, False)):
            counted = acc[9]
            _chunk_sums(chunk, line, above, below, gain, bias, acc, True)
            # After a chunk with invalid pixels the next one is likely to have some too (a masked
            # region): it is summed checked at once, until a chunk is valid throughout.
            optimistic = acc[9] - counted == stop - start
        start = stop


@njit(cache=True, inline="always")
def _offsets(shift: float) -> tuple[int, float]:
    """Whole and fractional part of a shift (a far-off whole part for absurd shifts)."""
    whole = math.floor(shift) if abs(shift) < 1e9 else -(1 << 40)
    return whole, shift - whole if abs(shift) < 1e9 else 0.0


@njit(cache=True, parallel=True, fastmath=_FAST)
def translation_sums(
    reference: np.ndarray,
    moving: np.ndarray,
    shift_rows: np.ndarray,
    shift_cols: np.ndarray,
    gains: np.ndarray,
    biases: np.ndarray,
    sums: np.ndarray,
) -> None:
    """Per-row sums for a translation, gain and bias of each row (they differ between detector segments).

    With a translation the bicubic weights are the same along a row: each chunk of a row is first
    sampled from row slices (vectorised), then summed with float32 partial sums.
    """
    rows, cols = reference.shape
    moving_rows, moving_cols = moving.shape
    for i in prange(rows):
        acc = np.zeros(TRANSLATION_SUMS)
        work = (np.empty(_CHUNK, np.float32), np.empty(_CHUNK + 3, np.float32))
        i0, fr = _offsets(i + shift_rows[i])
        j_shift, fc = _offsets(shift_cols[i])
        lo = max(1, 1 - j_shift)  # 1: the bicubic neighbour before the sample point
        hi = min(cols - 1, moving_cols - 2 - j_shift)
        if 0 < i < rows - 1 and 1 <= i0 <= moving_rows - 3 and lo < hi:
            near = (moving[i0 - 1], moving[i0], moving[i0 + 1], moving[i0 + 2])
            around = (reference[i - 1], reference[i], reference[i + 1])
            gain = np.float32(gains[i])
            bias = np.float32(biases[i])
            _row_sums(acc, work, near, j_shift, fr, fc, around, lo, hi, gain, bias)
        for k in range(TRANSLATION_SUMS):
            sums[i, k] = acc[k]


@njit(cache=True, parallel=True, fastmath=_FAST)
def gradient_translation_sums(
    reference: np.ndarray,
    moving: np.ndarray,
    shift_row: float,
    shift_col: float,
    gain: float,
    bias: float,
    sums: np.ndarray,
) -> None:
    """:func:`translation_sums` of the gradient features of both images (one translation, gain and bias),
    the features computed row by row as the sums need them instead of as full-size images: at full
    resolution writing and reading them back would cost more than computing them."""
    rows, cols = reference.shape
    moving_rows, moving_cols = moving.shape
    i_shift, fr = _offsets(shift_row)
    j_shift, fc = _offsets(shift_col)
    lo = max(1, 1 - j_shift)
    hi = min(cols - 1, moving_cols - 2 - j_shift)
    for block in prange((rows + FEATURE_BLOCK - 1) // FEATURE_BLOCK):
        start = block * FEATURE_BLOCK
        stop = min(rows, start + FEATURE_BLOCK)
        acc = np.zeros(TRANSLATION_SUMS)
        work = (np.empty(_CHUNK, np.float32), np.empty(_CHUNK + 3, np.float32))
        reference_along, reference_smoothed = np.empty((5, cols), np.float32), np.empty((3, cols), np.float32)
        reference_ring = np.empty((3, cols), np.float32)  # feature rows i - 1, i, i + 1
        reference_state = feature_state(max(start - 1, 0))
        moving_along, moving_smoothed = np.empty((5, moving_cols), np.float32), np.empty((3, moving_cols), np.float32)
        moving_ring = np.empty((4, moving_cols), np.float32)  # the four rows of the bicubic neighbourhood
        moving_state = feature_state(min(max(start + i_shift - 1, 0), moving_rows))
        for i in range(start, stop):
            acc[:] = 0.0
            i0 = i + i_shift
            if 0 < i < rows - 1 and 1 <= i0 <= moving_rows - 3 and lo < hi:
                feature_rows(reference, reference_along, reference_smoothed, reference_ring, reference_state, i + 1)
                feature_rows(moving, moving_along, moving_smoothed, moving_ring, moving_state, i0 + 2)
                near = (
                    moving_ring[(i0 - 1) % 4],
                    moving_ring[i0 % 4],
                    moving_ring[(i0 + 1) % 4],
                    moving_ring[(i0 + 2) % 4],
                )
                around = (reference_ring[(i - 1) % 3], reference_ring[i % 3], reference_ring[(i + 1) % 3])
                _row_sums(acc, work, near, j_shift, fr, fc, around, lo, hi, np.float32(gain), np.float32(bias))
            for k in range(TRANSLATION_SUMS):
                sums[i, k] = acc[k]


def translation_system(total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hessian and gradient in the order (row shift, column shift, gain, bias) for unit gain, and the
    statistics (count, sum e², sum m²)."""
    syy, syx, syr, sy, sxx, sxr, sx, srr, sr, n, gy, gx, gr, ge, see, smm = total
    hessian = np.array([[syy, syx, -syr, -sy], [syx, sxx, -sxr, -sx], [-syr, -sxr, srr, sr], [-sy, -sx, sr, n]])
    return hessian, np.array([gy, gx, -gr, -ge]), np.array([n, see, smm])


# The affine Jacobian row of a pixel is (ry u, ry v, ry, rx u, rx v, rx, -r, -1) with u, v its row and
# column from the centre. u is constant along a row, so the kernel only sums the products of the six
# functions (ry, ry v, rx, rx v, r, 1) per row, and the 8 x 8 system is assembled from those sums
# weighted by 1, u and u².
_BASIS = 6
_GRAM = _BASIS * (_BASIS + 1) // 2
AFFINE_SUMS = _GRAM + _BASIS + 2  # Gram upper triangle, basis × e, sum e², sum m²
_AFFINE_INDEX = np.array([0, 1, 0, 2, 3, 2, 4, 5])  # basis function of each parameter
_AFFINE_POWER = np.array([1, 0, 0, 1, 0, 0, 0, 0])  # power of u in each parameter
_AFFINE_SIGN = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0])


@njit(cache=True, parallel=True, fastmath=_FAST)
def affine_sums(
    reference: np.ndarray,
    moving: np.ndarray,
    matrix: np.ndarray,
    center_c: float,
    gain: float,
    bias: float,
    sums: np.ndarray,
) -> None:
    """Per-row sums for an affine warp; ``moving`` must be C-contiguous. Each row is first sampled (bicubic,
    as :func:`warp_kernel` does), then summed."""
    rows, cols = reference.shape
    moving_rows, moving_cols = moving.shape
    flat = moving.ravel()
    for i in prange(rows):
        acc = np.zeros(AFFINE_SUMS)
        r0 = matrix[0, 0] * i + matrix[0, 2]
        c0 = matrix[1, 0] * i + matrix[1, 2]
        dr = matrix[0, 1]
        dc = matrix[1, 1]
        # Samples whose 4 x 4 neighbourhood lies inside the moving image.
        lo_r, hi_r = samples_inside(r0 - 1.0, dr, moving_rows - 3.0 - 1e-6, cols - 1)
        lo_c, hi_c = samples_inside(c0 - 1.0, dc, moving_cols - 3.0 - 1e-6, cols - 1)
        lo = max(1, lo_r, lo_c)
        hi = min(hi_r, hi_c)
        if 0 < i < rows - 1 and lo < hi:
            sampled = np.empty(hi - lo)
            affine_bicubic(sampled, flat, moving_cols, r0 + dr * lo, c0 + dc * lo, dr, dc)
            above = reference[i - 1, lo:hi]
            below = reference[i + 1, lo:hi]
            line = reference[i, lo - 1 : hi + 1]
            vs = lo - center_c
            # One scalar per sum (not an array indexed in a loop) so that LLVM keeps them in vector registers.
            g00 = g01 = g02 = g03 = g04 = g05 = g11 = g12 = g13 = g14 = g15 = 0.0
            g22 = g23 = g24 = g25 = g33 = g34 = g35 = g44 = g45 = g55 = 0.0
            e0 = e1 = e2 = e3 = e4 = e5 = see = smm = 0.0
            for k in range(hi - lo):
                w, m, r, rx, ry, e = _pixel_terms(sampled, line, above, below, k, gain, bias, True, 0.0, 1.0, 0.5)
                v = vs + k
                ryv = ry * v
                rxv = rx * v
                g00 += ry * ry
                g01 += ry * ryv
                g02 += ry * rx
                g03 += ry * rxv
                g04 += ry * r
                g05 += ry
                g11 += ryv * ryv
                g12 += ryv * rx
                g13 += ryv * rxv
                g14 += ryv * r
                g15 += ryv
                g22 += rx * rx
                g23 += rx * rxv
                g24 += rx * r
                g25 += rx
                g33 += rxv * rxv
                g34 += rxv * r
                g35 += rxv
                g44 += r * r
                g45 += r
                g55 += w
                e0 += ry * e
                e1 += ryv * e
                e2 += rx * e
                e3 += rxv * e
                e4 += r * e
                e5 += e
                see += e * e
                smm += m * m
            acc[0] = g00
            acc[1] = g01
            acc[2] = g02
            acc[3] = g03
            acc[4] = g04
            acc[5] = g05
            acc[6] = g11
            acc[7] = g12
            acc[8] = g13
            acc[9] = g14
            acc[10] = g15
            acc[11] = g22
            acc[12] = g23
            acc[13] = g24
            acc[14] = g25
            acc[15] = g33
            acc[16] = g34
            acc[17] = g35
            acc[18] = g44
            acc[19] = g45
            acc[20] = g55
            acc[21] = e0
            acc[22] = e1
            acc[23] = e2
            acc[24] = e3
            acc[25] = e4
            acc[26] = e5
            acc[27] = see
            acc[28] = smm
        for k in range(AFFINE_SUMS):
            sums[i, k] = acc[k]


def _affine_system(sums: np.ndarray, center_r: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The 8 x 8 Hessian and gradient (unit gain) from the per-row sums, and (count, sum e², sum m²)."""
    u = np.arange(sums.shape[0]) - center_r
    weighted = [sums.T @ u**power for power in range(3)]
    upper = np.triu_indices(_BASIS)
    grams = []
    for total in weighted:
        gram = np.zeros((_BASIS, _BASIS))
        gram[upper] = total[:_GRAM]
        grams.append(gram + np.triu(gram, 1).T)
    powers = _AFFINE_POWER[:, None] + _AFFINE_POWER[None, :]
    hessian = np.choose(powers, [g[np.ix_(_AFFINE_INDEX, _AFFINE_INDEX)] for g in grams])
    hessian = hessian * np.outer(_AFFINE_SIGN, _AFFINE_SIGN)
    gradient = np.choose(_AFFINE_POWER, [t[_GRAM + _AFFINE_INDEX] for t in weighted[:2]]) * _AFFINE_SIGN
    totals = weighted[0]
    return hessian, gradient, np.array([totals[_GRAM - 1], totals[_GRAM + _BASIS], totals[_GRAM + _BASIS + 1]])


def gauss_newton_reference(
    reference: np.ndarray,
    moving: np.ndarray,
    matrix: np.ndarray,
    center: tuple[float, float],
    gain: float,
    bias: float,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Plain-numpy reference of the affine normal equations (Hessian, gradient, pixel count), for tests."""
    ref = reference.astype(np.float64)
    sampled = warp_reference(moving, matrix, ref.shape, cubic=True)
    # The kernels use only samples whose 4 x 4 neighbourhood lies inside the moving image.
    i, j = np.meshgrid(np.arange(ref.shape[0]), np.arange(ref.shape[1]), indexing="ij")
    inside = np.ones(ref.shape, bool)
    for axis, size in enumerate(moving.shape):
        position = matrix[axis, 0] * i + matrix[axis, 1] * j + matrix[axis, 2]
        inside &= (position >= 1) & (position <= size - 2 - 1e-6)
    rx = np.full(ref.shape, np.nan)
    ry = np.full(ref.shape, np.nan)
    rx[1:-1, 1:-1] = 0.5 * (ref[1:-1, 2:] - ref[1:-1, :-2])
    ry[1:-1, 1:-1] = 0.5 * (ref[2:, 1:-1] - ref[:-2, 1:-1])
    e = sampled - gain * ref - bias
    valid = np.isfinite(e) & np.isfinite(rx) & np.isfinite(ry) & inside
    u = (i - center[0])[valid]
    v = (j - center[1])[valid]
    ry_v, rx_v = ry[valid], rx[valid]
    jacobian = np.column_stack([ry_v * u, ry_v * v, ry_v, rx_v * u, rx_v * v, rx_v, -ref[valid], -np.ones(u.size)])
    return jacobian.T @ jacobian, jacobian.T @ e[valid], int(valid.sum())


TRAVEL_ONLY = [5, 6, 7]  # dual-energy channels: a shift along travel only
TRANSLATION_INDEX = [2, 5, 6, 7]  # where the translation kernel's 4 unknowns sit among the 8


def scaled_system(
    hessian: np.ndarray, gradient: np.ndarray, gain: float, chosen: list[int]
) -> tuple[np.ndarray, np.ndarray]:
    """The normal equations of the chosen parameters. The last two parameters are gain and bias; the
    geometric columns of the Jacobian scale with the gain."""
    scaling = np.where(np.arange(len(gradient)) < len(gradient) - 2, gain, 1.0)
    return (hessian * np.outer(scaling, scaling))[np.ix_(chosen, chosen)], (gradient * scaling)[chosen]


def solve_step(hessian: np.ndarray, gradient: np.ndarray, gain: float, chosen: list[int]) -> np.ndarray | None:
    """Gauss-Newton step of the chosen parameters, or None if the equations are singular."""
    h, g = scaled_system(hessian, gradient, gain, chosen)
    try:
        step = -np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


@dataclass
class Estimate:
    matrix: np.ndarray
    gain: float
    bias: float


def normal_equations(
    reference: np.ndarray,
    moving: np.ndarray,
    estimate: Estimate,
    affine: bool,
    sums: np.ndarray,
    of_gradients: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8 x 8 Hessian, gradient (unit gain) and (count, sum e², sum m²) at the current estimate; with
    ``of_gradients`` (translation only) of the gradient features of the images given."""
    rows = reference.shape[0]
    if affine:
        center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
        # The kernel works about the centre: the compositional update is p -> p + B (p - centre) + s.
        _run(
            affine_sums,
            reference.size,
            reference,
            moving,
            estimate.matrix,
            center[1],
            estimate.gain,
            estimate.bias,
            sums,
        )
        return _affine_system(sums, center[0])
    if of_gradients:
        shift_row, shift_col = estimate.matrix[:2, 2]
        gain, bias = estimate.gain, estimate.bias
        _run(gradient_translation_sums, reference.size, reference, moving, shift_row, shift_col, gain, bias, sums)
    else:
        _run(
            translation_sums,
            reference.size,
            reference,
            moving,
            np.full(rows, estimate.matrix[0, 2]),
            np.full(rows, estimate.matrix[1, 2]),
            np.full(rows, estimate.gain),
            np.full(rows, estimate.bias),
            sums,
        )
    small_h, small_g, stats = translation_system(sums.sum(axis=0))
    hessian = np.zeros((8, 8))
    gradient = np.zeros(8)
    hessian[np.ix_(TRANSLATION_INDEX, TRANSLATION_INDEX)] = small_h
    gradient[TRANSLATION_INDEX] = small_g
    return hessian, gradient, stats


def refine(
    reference: np.ndarray,
    moving: np.ndarray,
    estimate: Estimate,
    chosen: list[int],
    *,
    tolerance: float,
    max_iterations: int,
    rate: float,
    of_gradients: bool = False,
) -> tuple[Estimate, int, np.ndarray, bool, float]:
    """Gauss-Newton on one pyramid level: (estimate, iterations, statistics, converged, convergence rate).

    The iterations converge linearly: each step is about ``rate`` times the one before (the ratio of the
    last two steps seen, on this level or a coarser one; 1 while unknown). The level is done when a step
    moves no corner by more than ``tolerance``, or when the step it predicts next would not: that saves
    the confirming iteration on the finest level, the most expensive one, and leaves the estimate about
    one predicted step (below the tolerance) from where the iterations would end."""
    affine = len(set(chosen) - set(TRANSLATION_INDEX)) > 0
    sums = np.empty((reference.shape[0], AFFINE_SUMS if affine else TRANSLATION_SUMS))
    center = np.array([(reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2])
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]) * (2 * center) - center
    stats = np.zeros(3)
    previous = np.zeros(6)
    previous_moved = math.inf
    for iteration in range(1, max_iterations + 1):
        hessian, gradient, stats = normal_equations(reference, moving, estimate, affine, sums, of_gradients)
        step = solve_step(hessian, gradient, estimate.gain, chosen) if stats[0] >= 8 * len(chosen) else None
        if step is None:
            return estimate, iteration, stats, False, rate
        delta = np.zeros(8)
        delta[chosen] = step
        # Pixels entering and leaving the masks make the cost slightly discontinuous; near the optimum
        # the iterations can then swing between two states. Take the midpoint and stop there.
        geometric = delta[:6]
        swinging = float(geometric @ previous) < -0.8 * float(np.linalg.norm(geometric) * np.linalg.norm(previous))
        if swinging:
            delta *= 0.5
        previous = geometric.copy()
        linear = np.array([[delta[0], delta[1]], [delta[3], delta[4]]])
        update = np.eye(3)
        update[:2, :2] += linear
        update[:2, 2] = np.array([delta[2], delta[5]]) - linear @ center
        matrix = estimate.matrix @ update
        singular_values = np.linalg.svd(matrix[:2, :2], compute_uv=False)
        if not (singular_values.min() > 0.5 and singular_values.max() < 2.0):
            return estimate, iteration, stats, False, rate  # diverging: registration of unrelated images
        estimate = Estimate(matrix, estimate.gain + delta[6], estimate.bias + delta[7])
        moved = float(np.abs(corners @ linear.T + [delta[2], delta[5]]).max())
        if previous_moved < math.inf:
            rate = min(moved / max(previous_moved, 1e-300), 1.0)
        previous_moved = moved
        if moved < tolerance or rate * moved < tolerance or (swinging and moved < 10 * tolerance):
            return estimate, iteration, stats, True, rate
    return estimate, max_iterations, stats, False, rate


def coarse_to_fine(
    refs: dict[int, np.ndarray],
    movs: dict[int, np.ndarray],
    chosen: list[int],
    *,
    tolerance: float,
    max_iterations: int,
    gradients_of_finest: bool = False,
) -> tuple[Estimate, int, np.ndarray, bool]:
    """Phase correlation on the coarsest level, then Gauss-Newton on each level given (pyramid level →
    image), coarsest to finest. With ``gradients_of_finest`` (translation only) the images of level 0
    are compared by their gradient features, computed as the sums need them."""
    levels = sorted(refs, reverse=True)
    coarsest_ref, coarsest_mov = refs[levels[0]], movs[levels[0]]
    shift, _ = phase_correlation(coarsest_ref, coarsest_mov)
    if chosen == TRAVEL_ONLY:
        shift[0] = 0.0
    matrix = np.eye(3)
    matrix[:2, 2] = shift
    coarse_ref = coarsest_ref[np.isfinite(coarsest_ref)]
    coarse_mov = coarsest_mov[np.isfinite(coarsest_mov)]
    gain = float(coarse_mov.std() / max(float(coarse_ref.std()), 1e-12))
    estimate = Estimate(matrix, gain, float(coarse_mov.mean() - gain * coarse_ref.mean()))
    iterations = 0
    converged = True
    stats = np.zeros(3)
    rate = 1.0  # of convergence, not known before two steps
    for coarser, level in zip([levels[0], *levels], levels, strict=False):
        to_finer = np.linalg.matrix_power(TO_FINER, coarser - level)
        estimate.matrix = to_finer @ estimate.matrix @ np.linalg.inv(to_finer)
        estimate, used, stats, level_converged, rate = refine(
            refs[level],
            movs[level],
            estimate,
            chosen,
            tolerance=tolerance,
            max_iterations=max_iterations,
            rate=rate,
            of_gradients=gradients_of_finest and level == 0,
        )
        iterations += used
        converged = converged and level_converged
    return estimate, iterations, stats, converged


def check_iterations(tolerance: float, max_iterations: int) -> None:
    if not (tolerance > 0 and max_iterations >= 1):
        raise ValidationError(
            f"tolerance must be positive and max_iterations at least 1, got {tolerance} and {max_iterations}"
        )

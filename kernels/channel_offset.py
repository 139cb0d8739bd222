"""Dual-energy channel alignment: the offset along travel between the two layers of a detector."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from nii.errors import ValidationError
from nii.kernels import _common
from nii.kernels._common import run as _run
from nii.kernels.gauss_newton import (
    TRANSLATION_SUMS,
    TRAVEL_ONLY,
    check_iterations,
    coarse_to_fine,
    scaled_system,
    solve_step,
    translation_sums,
    translation_system,
)
from nii.kernels.pyramid import Features, build_pyramid, feature_pyramid, prepare, pyramid_levels, valid_mask

__all__ = ["UNCERTAINTY_CHUNKS", "ChannelOffset", "estimate_channel_offset"]


@dataclass(frozen=True, eq=False)
class ChannelOffset:
    """Offset along travel between two channels of one view (see :func:`estimate_channel_offset`).

    A feature at column ``c`` of the reference channel is at column ``c + offset`` of the other.

    Attributes
    ----------
    offset
        The global offset, in columns.
    segment_starts
        First row of each detector segment.
    segment_offsets
        Offset of each segment; NaN where the segment has too little structure to measure.
    segment_uncertainty
        Standard error of each segment's offset (columns): the larger of the residual noise of the global
        fit carried through the segment's normal equations and the scatter of the offsets measured on
        :data:`UNCERTAINTY_CHUNKS` separate stretches of the scan (which also holds noise correlated
        between neighbouring pixels, and the object's own influence). A segment whose error exceeds the
        limit given to :func:`estimate_channel_offset` has a NaN offset.
    rows
        Number of rows of the channels.
    reason
        Why ``offset`` is NaN (no measurement), for the caller to report; None when it was measured.
    """

    offset: float
    segment_starts: np.ndarray
    segment_offsets: np.ndarray
    segment_uncertainty: np.ndarray
    rows: int
    reason: str | None = None

    def row_offsets(self) -> np.ndarray:
        """The offset of every row: its segment's, or the global one where the segment's is NaN."""
        per_segment = np.where(np.isfinite(self.segment_offsets), self.segment_offsets, self.offset)
        return np.repeat(per_segment, np.diff(np.append(self.segment_starts, self.rows)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for provenance (NaN offsets become None)."""
        return {
            "offset": self.offset,
            "segment_starts": self.segment_starts.tolist(),
            "segment_offsets": [v if math.isfinite(v) else None for v in self.segment_offsets.tolist()],
            "segment_uncertainty": [v if math.isfinite(v) else None for v in self.segment_uncertainty.tolist()],
            "rows": self.rows,
        } | ({"reason": self.reason} if self.reason else {})


def _segment_starts(segments: int | Sequence[int], rows: int) -> np.ndarray:
    if isinstance(segments, int | np.integer):
        if not 1 <= segments <= rows // 4:
            raise ValidationError(f"segments must be between 1 and {rows // 4} for {rows} rows, got {segments}")
        return (np.arange(int(segments)) * rows) // int(segments)
    starts = np.asarray(segments)
    if (
        starts.ndim != 1
        or starts.size == 0
        or starts.dtype.kind not in "iu"
        or starts[0] != 0
        or np.any(np.diff(starts) < 4)
        or rows - starts[-1] < 4
    ):
        raise ValidationError(
            f"segment starts must be increasing row indices from 0, at least 4 rows apart, within {rows} rows; "
            f"got {segments!r}"
        )
    return starts.astype(np.intp)


def estimate_channel_offset(
    reference: Any,
    other: Any,
    *,
    segments: int | Sequence[int] = 1,
    features: Features | str = Features.GRADIENT,
    reference_mask: Any = None,
    other_mask: Any = None,
    max_uncertainty: float = 0.03,
    max_offset: float = 3.0,
    max_attenuation: float = 8.0,
    tolerance: float = 0.001,
    max_iterations: int = 50,
) -> ChannelOffset:
    """Measure the sub-pixel offset along travel between two energy channels of one view.

    In a dual-energy line scanner the low- and high-energy detector layers are displaced along travel,
    so the two images of one object are shifted by a fraction of a line (more for some detector
    segments than others). The offset is found coarse to fine on all rows, then refined per segment,
    each segment with its own gain and bias between the channels.

    Parameters
    ----------
    reference, other
        The two channels (typically high and low energy), 2-D of one shape, at least 8 × 8.
    segments
        Number of equal detector segments, or the first row of each segment.
    features
        ``"gradient"`` or ``"intensity"`` (:class:`Features`): what is compared.
    reference_mask, other_mask
        Boolean arrays, True for pixels to use (leave out air and saturated pixels). Pixels that are not
        finite or whose value is ``max_attenuation`` or more are left out in any case.
    max_attenuation
        Attenuation from which a pixel is taken as starved: its detector saw no counts, so the value
        is the calibration's floor, not a measurement (from 8, −ln T: fewer than 3 in 10 000 photons).
    max_offset
        Largest plausible offset (columns): a larger global estimate is a runaway, reported as NaN
        with a :attr:`ChannelOffset.reason`.
    max_uncertainty
        Segments whose offset has a larger standard error (columns) get NaN: they see too little
        structure (air, a featureless roof) for their offset to mean anything.
    tolerance
        Stop when an iteration changes no offset by more than this (columns).
    max_iterations
        Limit of Gauss–Newton iterations per level and for the segments.

    Returns
    -------
    ChannelOffset
        The global offset and the offset of every segment.

    Examples
    --------
    >>> rows, cols = np.mgrid[0:64, 0:256]
    >>> high = np.sin(cols / 5.0) * np.cos(rows / 9.0) + np.cos(cols / 13.0)
    >>> low = 1.3 * (np.sin((cols - 0.3) / 5.0) * np.cos(rows / 9.0) + np.cos((cols - 0.3) / 13.0))
    >>> round(estimate_channel_offset(high, low).offset, 1)  # the true shift, within a twentieth of a line
    0.3
    """
    compared = _common.option(Features, features, "features")
    ref, _ = prepare(reference, _measured_mask(reference, reference_mask, max_attenuation), "reference channel")
    oth, _ = prepare(other, _measured_mask(other, other_mask, max_attenuation), "other channel")
    if ref.shape != oth.shape:
        raise ValidationError(f"channels must have one shape, got {ref.shape} and {oth.shape}")
    check_iterations(tolerance, max_iterations)
    if not max_uncertainty > 0:
        raise ValidationError(f"max_uncertainty must be positive, got {max_uncertainty}")
    starts = _segment_starts(segments, ref.shape[0])
    levels = pyramid_levels(None, ref.shape, oth.shape)
    refs = feature_pyramid(build_pyramid(ref, levels), compared)
    oths = feature_pyramid(build_pyramid(oth, levels), compared)
    estimate, _, stats, _ = coarse_to_fine(refs, oths, TRAVEL_ONLY, tolerance=tolerance, max_iterations=max_iterations)
    ref, oth = refs[0], oths[0]
    offset = float(estimate.matrix[1, 2])
    count = len(starts)
    if not (math.isfinite(offset) and abs(offset) <= max_offset):
        nothing = np.full(count, np.nan)
        reason = f"the global offset ran away to {offset:.3g} columns (limit {max_offset:g}): too little structure"
        return ChannelOffset(math.nan, starts, nothing, nothing.copy(), ref.shape[0], reason)
    noise = stats[1] / max(stats[0], 1.0)  # residual variance of the global fit
    sizes = np.diff(np.append(starts, ref.shape[0]))
    offsets, uncertainty, gains, biases = _refine_segments(
        ref, oth, starts, (offset, estimate.gain, estimate.bias), noise, tolerance, max_iterations
    )
    scatter = _chunk_scatter(ref, oth, starts, sizes, offsets, gains, biases)
    uncertainty = np.fmax(uncertainty, np.where(np.isfinite(offsets), scatter, np.nan))
    offsets[~(uncertainty <= max_uncertainty)] = np.nan
    return ChannelOffset(offset, starts, offsets, uncertainty, ref.shape[0])


def _refine_segments(
    ref: np.ndarray,
    oth: np.ndarray,
    starts: np.ndarray,
    start: tuple[float, float, float],
    noise: float,
    tolerance: float,
    max_iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Gauss–Newton on each segment's offset, gain and bias from the global ``start``; a segment without
    structure, or running away from the global offset, gets NaN. Returns offsets, their standard errors
    (from ``noise``, the global fit's residual variance), gains and biases."""
    count = len(starts)
    sizes = np.diff(np.append(starts, ref.shape[0]))
    offsets, gains, biases = (np.full(count, value) for value in start)
    uncertainty = np.full(count, np.nan)
    active = np.ones(count, bool)
    sums = np.empty((ref.shape[0], TRANSLATION_SUMS))
    zeros = np.zeros(ref.shape[0])
    for _ in range(max_iterations):
        per_row = (np.repeat(values, sizes) for values in (offsets, gains, biases))
        _run(translation_sums, ref.size, ref, oth, zeros, *per_row, sums)
        totals = np.add.reduceat(sums, starts, axis=0)
        changed = 0.0
        for k in np.flatnonzero(active):
            solved = _segment_step(totals[k], gains[k])
            if solved is None:
                active[k] = False
                offsets[k] = np.nan
                continue
            step, variance = solved
            uncertainty[k] = math.sqrt(max(noise * variance, 0.0))
            offsets[k] += step[0]
            gains[k] += step[1]
            biases[k] += step[2]
            changed = max(changed, abs(step[0]))
        if changed < tolerance:
            break
    return offsets, uncertainty, gains, biases


def _segment_step(totals: np.ndarray, gain: float) -> tuple[np.ndarray, float] | None:
    """One segment's Gauss–Newton step (offset, gain, bias) and the offset's variance per unit of residual
    variance, or None when it has too few pixels, no structure, or steps more than 2 columns."""
    hessian, gradient, stats = translation_system(totals)
    h, g = scaled_system(hessian, gradient, gain, [1, 2, 3])
    if stats[0] < 64:
        return None
    try:
        inverse = np.linalg.inv(h)
    except np.linalg.LinAlgError:
        return None
    step = -inverse @ g
    if not np.all(np.isfinite(step)) or abs(step[0]) > 2.0:
        return None
    return step, float(inverse[0, 0])


UNCERTAINTY_CHUNKS = 8
"""Stretches of the scan along travel whose separate offsets give each segment's scatter."""


def _measured_mask(image: Any, mask: Any, max_attenuation: float) -> np.ndarray:
    """The caller's mask without starved pixels (the calibration's floor) and values that are not finite."""
    measured = valid_mask(image, high=max_attenuation)
    return measured if mask is None else measured & _common.mask(mask, measured.shape, "mask")


def _chunk_scatter(
    ref: np.ndarray,
    oth: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    offsets: np.ndarray,
    gains: np.ndarray,
    biases: np.ndarray,
) -> np.ndarray:
    """Standard error of each segment's offset from the spread of its offsets on separate stretches."""
    edges = np.linspace(0, ref.shape[1], UNCERTAINTY_CHUNKS + 1).astype(int)
    found = np.full((UNCERTAINTY_CHUNKS, len(starts)), np.nan)
    sums = np.empty((ref.shape[0], TRANSLATION_SUMS))
    zeros = np.zeros(ref.shape[0])
    for c, (left, right) in enumerate(itertools.pairwise(edges)):
        if right - left < 16:
            continue
        part_ref, part_oth = np.ascontiguousarray(ref[:, left:right]), np.ascontiguousarray(oth[:, left:right])
        _run(
            translation_sums,
            part_ref.size,
            part_ref,
            part_oth,
            zeros,
            np.repeat(np.nan_to_num(offsets), sizes),
            np.repeat(gains, sizes),
            np.repeat(biases, sizes),
            sums,
        )
        for k, total in enumerate(np.add.reduceat(sums, starts, axis=0)):
            hessian, gradient, stats = translation_system(total)
            step = solve_step(hessian, gradient, gains[k], [1, 2, 3]) if stats[0] >= 64 else None
            if step is not None and np.all(np.isfinite(step)) and abs(step[0]) <= 2.0:
                found[c, k] = offsets[k] + step[0]
    counts = np.isfinite(found).sum(axis=0)
    mean = np.nansum(found, axis=0) / np.maximum(counts, 1)
    variance = np.nansum((found - mean) ** 2, axis=0) / np.maximum(counts - 1, 1)
    return np.where(counts >= 3, np.sqrt(variance / np.maximum(counts, 1)), np.inf)

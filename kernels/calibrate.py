"""Calibration: raw detector counts to transmission.

``T = (raw − dark) / (air − dark)`` per detector element (row), times a per-line factor that removes the
source's pulse-to-pulse fluctuation measured by the reference detector, with dead and saturated elements
replaced by linear interpolation across rows. ``T`` is clipped to ``[TRANSMISSION_FLOOR, 1]``: the floor
keeps ``−ln T`` finite (at most 13.8) and the ceiling removes the negative attenuation that noise in the
open beam would otherwise give.

The references are prepared once per view in a :class:`Calibration`; the kernels then need only the raw
frame.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numba
import numpy as np

from nii.errors import ValidationError
from nii.kernels._common import run
from nii.kernels._core import check_array, output_array

__all__ = ["TRANSMISSION_FLOOR", "Calibration", "transmission", "transmission_reference"]

TRANSMISSION_FLOOR = np.float32(1e-6)
"""Smallest transmission kept (attenuation at most −ln 1e-6 = 13.8, inside the uint16 attenuation range)."""

_ONE = np.float32(1.0)


@dataclass(frozen=True, eq=False)
class Calibration:
    """Dark, air and source-monitor references of one view, prepared for the kernels.

    Build it with :meth:`from_references`. Elements whose open-beam signal is missing (dead) or at the
    ADC maximum (saturated), and any listed by the caller, are *repaired*: their transmission is
    interpolated linearly from the nearest good elements above and below (copied from the nearest one at
    the ends of the detector). :attr:`repaired` lists them for the provenance record.

    Attributes
    ----------
    offset
        Dark level of every element, float32 ``(rows,)``.
    inverse_gain
        ``1 / (air − dark)`` of every element, float32 ``(rows,)`` (0 for repaired elements).
    line_scale
        Factor of every line that brings the source output back to that of the air reference, float32
        ``(lines,)``, or None when there is no reference detector.
    repaired
        Indices of the repaired elements (rows), ascending.
    """

    offset: np.ndarray
    inverse_gain: np.ndarray
    line_scale: np.ndarray | None = None
    repaired: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    lower: np.ndarray = field(init=False, repr=False)
    upper: np.ndarray = field(init=False, repr=False)
    weight: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        offset = check_array(self.offset, "calibration offset", dtype=np.float32, ndim=1)
        rows = offset.shape[0]
        check_array(self.inverse_gain, "calibration inverse gain", dtype=np.float32, shape=(rows,))
        if self.line_scale is not None:
            check_array(self.line_scale, "calibration line scale", dtype=np.float32, ndim=1)
        repaired = np.unique(np.asarray(self.repaired, dtype=np.int64))
        if repaired.size and (repaired[0] < 0 or repaired[-1] >= rows):
            raise ValidationError(f"repaired elements {repaired.tolist()} are outside 0..{rows - 1}")
        if repaired.size == rows:
            raise ValidationError(f"all {rows} detector elements are dead or saturated; nothing to interpolate from")
        object.__setattr__(self, "repaired", repaired)
        lower, upper, weight = _interpolation_sources(rows, repaired)
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)
        object.__setattr__(self, "weight", weight)

    @property
    def rows(self) -> int:
        """Number of detector elements."""
        return int(self.offset.shape[0])

    @classmethod
    def from_references(
        cls,
        dark: np.ndarray,
        air: np.ndarray,
        *,
        reference: np.ndarray | None = None,
        reference_air: float | None = None,
        saturation: float = 65535,
        min_gain_fraction: float = 0.1,
        bad_elements: Iterable[int] = (),
    ) -> Calibration:
        """Prepare the references of one view channel.

        Parameters
        ----------
        dark, air
            Dark-offset and open-beam references, ``(rows,)`` or ``(rows, k)`` (averaged over ``k``).
        reference
            Source-monitor value of every scan line, ``(lines,)``; None when the scanner has none.
        reference_air
            Monitor value during the air reference; by default the median of ``reference`` (the
            source's nominal output), so only the fluctuation around it is removed.
        saturation
            ADC maximum: an element whose air reference reaches it is saturated.
        min_gain_fraction
            An element whose ``air − dark`` is below this fraction of the median is dead.
        bad_elements
            Further elements to repair (a vendor's bad-pixel list).

        Examples
        --------
        >>> import numpy as np
        >>> calibration = Calibration.from_references(np.full(4, 100.0), np.array([60000.0, 100.0, 60000, 60000]))
        >>> calibration.repaired.tolist()
        [1]
        """
        dark_mean = _reference_mean(dark, "dark reference")
        air_values = np.asarray(air)
        air_mean = _reference_mean(air_values, "air reference")
        if air_mean.shape != dark_mean.shape:
            raise ValidationError(f"air reference has {air_mean.shape[0]} elements, dark has {dark_mean.shape[0]}")
        if not 0 <= min_gain_fraction < 1:
            raise ValidationError(f"min_gain_fraction must be in [0, 1), got {min_gain_fraction}")
        gain = air_mean - dark_mean
        bad = (gain <= min_gain_fraction * _median(gain)) | (gain <= 0)
        # The largest air value of each element reaches the saturation only if the largest of all does
        # (one vectorised pass, where a maximum per row of a (rows, k) array walks the rows one by one).
        if air_values.max() >= saturation:
            bad |= (air_values if air_values.ndim == 1 else air_values.max(axis=1)) >= saturation
        listed = np.asarray(list(bad_elements), dtype=np.int64)
        if listed.size and (listed.min() < 0 or listed.max() >= gain.size):
            raise ValidationError(f"bad elements {listed.tolist()} are outside 0..{gain.size - 1}")
        bad[listed] = True
        inverse_gain = np.zeros(gain.size, np.float32)
        inverse_gain[~bad] = (1.0 / gain[~bad]).astype(np.float32)
        return cls(
            offset=dark_mean.astype(np.float32),
            inverse_gain=inverse_gain,
            line_scale=None if reference is None else _line_scale(reference, reference_air),
            repaired=np.flatnonzero(bad),
        )

    def line_scale_for(self, lines: int) -> np.ndarray:
        """The per-line factors for a frame of ``lines`` lines (ones without a reference detector)."""
        if self.line_scale is None:
            return np.ones(lines, np.float32)
        if self.line_scale.shape[0] != lines:
            raise ValidationError(f"calibration has {self.line_scale.shape[0]} line factors, frame has {lines} lines")
        return self.line_scale

    def kernel_arguments(self, lines: int) -> tuple[np.ndarray, ...]:
        """What the kernels that start from raw counts take after the frame (see :func:`clipped_transmission`):
        offset, inverse gain, line factors, and the rows, weights of the repair interpolation."""
        return self.offset, self.inverse_gain, self.line_scale_for(lines), self.lower, self.upper, self.weight

    def check_raw(self, raw: np.ndarray, name: str = "raw") -> np.ndarray:
        """``raw`` checked as a C-contiguous uint16 frame of this calibration's detector."""
        check_array(raw, name, dtype=np.uint16, ndim=2)
        if raw.shape[0] != self.rows:
            raise ValidationError(f"{name} has {raw.shape[0]} detector rows, calibration has {self.rows}")
        return raw


def _reference_mean(values: np.ndarray, what: str) -> np.ndarray:
    original = np.asarray(values)
    array = np.asarray(original, dtype=np.float64)
    if array.ndim not in (1, 2) or array.shape[0] == 0 or array.size == 0:
        raise ValidationError(f"{what} must be (rows,) or (rows, k), got shape {array.shape}")
    integers = original.dtype.kind in "ui" and original.dtype.itemsize <= 4
    if not integers and not np.all(np.isfinite(array)):
        raise ValidationError(f"{what} holds non-finite values")
    if array.ndim == 1:
        return array
    if integers and array.shape[1] < 1 << 20:
        # Integer counts sum exactly in float64 (below 2**53) in any order, so einsum's vectorised
        # sum gives exactly the sums of mean(axis=1), which walks the rows one by one (a matrix-vector
        # product would be faster still, but BLAS would start threads that spin on this 2-core budget).
        return np.einsum("ij->i", array) / array.shape[1]
    return array.mean(axis=1)


def _median(values: np.ndarray) -> float:
    """``np.median`` of a 1-D float64 array without NaN, as numpy computes it (one partition, then
    the middle value or the mean of the two middle values), without its generic machinery."""
    size = values.shape[0]
    half = size // 2
    if size % 2:
        return float(np.partition(values, half)[half])
    low, high = np.partition(values, (half - 1, half))[half - 1 : half + 1]
    return float((low + high) / 2)


def _line_scale(reference: np.ndarray, reference_air: float | None) -> np.ndarray:
    monitor = np.asarray(reference, dtype=np.float64)
    if monitor.ndim != 1 or monitor.size == 0 or not np.all(np.isfinite(monitor)) or np.any(monitor <= 0):
        raise ValidationError("reference-detector values must be a non-empty 1-D array of positive numbers")
    nominal = _median(monitor) if reference_air is None else float(reference_air)
    if not (np.isfinite(nominal) and nominal > 0):
        raise ValidationError(f"reference_air must be a positive number, got {reference_air}")
    return (nominal / monitor).astype(np.float32)


_FEW_RUNS = 16
"""Runs of consecutive repaired rows up to which :func:`_interpolation_sources` fills them one by one."""


def _interpolation_sources(rows: int, repaired: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For every row, the good rows its transmission comes from and the weight of the upper one.

    ``repaired``: ascending, unique, not every row. A detector has a few dead elements: each run of
    consecutive repaired rows is filled here from the good rows around it (the same numbers as
    :func:`_interpolation_sources_of_all`, which many runs take, in a few µs instead of 20).
    """
    below = np.arange(rows, dtype=np.int32)
    above = below.copy()
    weight = np.zeros(rows, np.float32)
    if repaired.size == 0:
        return below, above, weight
    breaks = np.flatnonzero(np.diff(repaired) != 1)
    if breaks.size >= _FEW_RUNS:
        return _interpolation_sources_of_all(rows, repaired)
    firsts = repaired[np.concatenate(([0], breaks + 1))].tolist()
    lasts = repaired[np.concatenate((breaks, [repaired.size - 1]))].tolist()
    for first, last in zip(firsts, lasts, strict=True):
        # The good row before the run and the one after it; at an end of the detector, the one there is.
        low = first - 1 if first > 0 else last + 1
        high = last + 1 if last < rows - 1 else first - 1
        below[first : last + 1] = low
        above[first : last + 1] = high
        if high != low:
            weight[first : last + 1] = ((np.arange(first, last + 1) - low) / (high - low)).astype(np.float32)
    return below, above, weight


def _interpolation_sources_of_all(rows: int, repaired: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_interpolation_sources` computed for every row at once."""
    index = np.arange(rows)
    good = np.ones(rows, bool)
    good[repaired] = False
    good_rows = index[good]
    # Nearest good row at or below / at or above each row (by index); -1 / rows when there is none.
    below = np.maximum.accumulate(np.where(good, index, -1))
    above = np.minimum.accumulate(np.where(good, index, rows)[::-1])[::-1]
    below = np.where(below < 0, good_rows[0], below)
    above = np.where(above >= rows, good_rows[-1], above)
    span = np.maximum(above - below, 1)
    weight = np.where(above == below, 0.0, (index - below) / span).astype(np.float32)
    return below.astype(np.int32), above.astype(np.int32), weight


@numba.njit(inline="always", cache=True)
def clipped_transmission(
    raw: np.ndarray,
    r: int,
    j: int,
    offset: np.ndarray,
    inverse_gain: np.ndarray,
    line_scale: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    weight: np.ndarray,
) -> np.float32:  # pragma: no cover - compiled
    """Transmission of pixel (r, j), repaired and clipped; shared by every kernel that starts from raw counts."""
    lo = lower[r]
    hi = upper[r]
    scale = line_scale[j]
    t = (np.float32(raw[lo, j]) - offset[lo]) * inverse_gain[lo] * scale
    if lo != hi:
        t_hi = (np.float32(raw[hi, j]) - offset[hi]) * inverse_gain[hi] * scale
        w = weight[r]
        t = (_ONE - w) * t + w * t_hi
    return min(max(t, TRANSMISSION_FLOOR), _ONE)


@numba.njit(parallel=True, cache=True)
def _transmission_kernel(raw, offset, inverse_gain, line_scale, lower, upper, weight, out):  # pragma: no cover
    rows, lines = raw.shape
    for r in numba.prange(rows):
        for j in range(lines):
            out[r, j] = clipped_transmission(raw, r, j, offset, inverse_gain, line_scale, lower, upper, weight)


def transmission(raw: np.ndarray, calibration: Calibration, *, out: np.ndarray | None = None) -> np.ndarray:
    """Transmission ``(raw − dark) / (air − dark)``, per-line corrected, repaired and clipped.

    Parameters
    ----------
    raw
        Raw counts, C-contiguous uint16 ``(rows, lines)``.
    calibration
        The view channel's prepared references.
    out
        Optional float32 ``(rows, lines)`` result array.

    Returns
    -------
    numpy.ndarray
        float32 transmission in ``[TRANSMISSION_FLOOR, 1]``.

    Examples
    --------
    >>> import numpy as np
    >>> calibration = Calibration.from_references(np.full(2, 100.0), np.full(2, 10100.0))
    >>> transmission(np.array([[5100, 10100], [100, 20000]], np.uint16), calibration).tolist()
    [[0.5, 1.0], [9.999999974752427e-07, 1.0]]
    """
    raw = calibration.check_raw(raw)
    result = output_array(out, raw.shape, np.float32)
    run(_transmission_kernel, raw.size, raw, *calibration.kernel_arguments(raw.shape[1]), result)
    return result


def transmission_reference(raw: np.ndarray, calibration: Calibration) -> np.ndarray:
    """Plain-numpy :func:`transmission` (same float32 operations, so equal bits)."""
    c = calibration
    scale = c.line_scale_for(raw.shape[1])[None, :]
    t = (raw.astype(np.float32) - c.offset[:, None]) * c.inverse_gain[:, None] * scale
    t_lo, t_hi = t[c.lower], t[c.upper]
    w = c.weight[:, None]
    t = np.where((c.lower == c.upper)[:, None], t_lo, (_ONE - w) * t_lo + w * t_hi)
    return np.clip(t, TRANSMISSION_FLOOR, _ONE)

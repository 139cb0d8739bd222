"""Open-beam (air) references found in the scan itself, and pixels whose counts carry no measurement.

Many vendor exports carry no dark or air lines. The scan still shows the open beam: the lines
before the vehicle enters and after it leaves, and the detector rows above the object.
:func:`find_air` finds them from the counts alone; :func:`air_references` turns them into the
per-element air reference and per-line source level that :class:`nii.kernels.Calibration` takes.

:func:`pixel_flags` marks starved pixels (no counts: the attenuation is not measured, only
bounded) and saturated ones (the ADC maximum: the transmission is not measured either), so
that they are not taken for extreme attenuation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nii.errors import ValidationError

__all__ = [
    "SATURATED",
    "STARVED",
    "AirRegion",
    "air_references",
    "find_air",
    "pixel_flags_reference",
    "replace_flagged_reference",
]

STARVED = np.uint16(1)
"""Flag of a pixel with no counts above the dark level."""
SATURATED = np.uint16(2)
"""Flag of a pixel at the ADC maximum."""


@dataclass(frozen=True)
class AirRegion:
    """Where a scan shows the open beam: its first and last lines, and its top rows.

    Attributes
    ----------
    lines_before, lines_after
        Number of open-beam lines at the start and at the end of the scan.
    rows_above
        Number of detector rows, from row 0, open over the whole scan.
    """

    lines_before: int
    lines_after: int
    rows_above: int

    def as_dict(self) -> dict[str, int]:
        return {"lines_before": self.lines_before, "lines_after": self.lines_after, "rows_above": self.rows_above}


def _leading(flags: np.ndarray) -> int:
    """Length of the run of True at the start of ``flags``."""
    false = np.flatnonzero(~flags)
    return int(false[0]) if false.size else int(flags.size)


def find_air(raw: np.ndarray, *, tolerance: float = 0.05, open_quantile: float = 0.99) -> AirRegion:
    """Find the open-beam lines and rows of a raw view from its counts.

    Every detector row's open-beam level is a high quantile of its counts (the brightest lines
    see air); a line is open when nearly all its rows are within ``tolerance`` of their level,
    a row when nearly all the object's lines are.

    Parameters
    ----------
    raw
        Raw counts ``(rows, lines)``, dark offset removed or small.
    tolerance
        Relative shortfall from the open level still counted as air.
    open_quantile
        Quantile of each row's counts taken as its open-beam level.

    Examples
    --------
    >>> raw = np.full((6, 10), 1000.0)
    >>> raw[3:, 2:8] = 100.0  # an object in rows 3-5, lines 2-7
    >>> find_air(raw)
    AirRegion(lines_before=2, lines_after=2, rows_above=3)
    """
    counts = np.asarray(raw, dtype=np.float32)
    if counts.ndim != 2 or counts.size == 0:
        raise ValidationError(f"raw counts must be a non-empty 2-D array, got shape {counts.shape}")
    level = np.quantile(counts, open_quantile, axis=1)
    live = level > 0.1 * np.median(level)  # dead elements say nothing about the beam
    if not live.any():
        raise ValidationError("no detector element sees the beam")
    relative = counts[live] / level[live, None]
    # The source's output varies from line to line: compare each line's rows with its brightest ones.
    relative /= np.quantile(relative, 0.9, axis=0)[None, :]
    threshold = 1.0 - tolerance
    open_lines = np.quantile(relative, 0.02, axis=0) >= threshold
    before = _leading(open_lines)
    after = _leading(open_lines[::-1]) if before < open_lines.size else 0
    inside = relative[:, before : relative.shape[1] - after] if before + after < relative.shape[1] else relative
    open_rows = np.ones(counts.shape[0], bool)
    open_rows[live] = np.quantile(inside, 0.02, axis=1) >= threshold
    return AirRegion(before, after, _leading(open_rows))


def air_references(
    raw: np.ndarray, region: AirRegion, *, min_lines: int = 4, min_rows: int = 4
) -> tuple[np.ndarray, np.ndarray | None]:
    """The air reference of every element and the source level of every line, from the open beam.

    Returns
    -------
    air
        float32 ``(rows, k)``: the ``k`` open lines; when there are fewer than ``min_lines``,
        every element gets the median open level of the rows above the object.
    level
        float32 ``(lines,)``: the median of the rows above the object in every line (it follows
        the source's output like a reference detector), or None with fewer than ``min_rows`` rows.

    Raises
    ------
    ValidationError
        The scan shows no open beam to calibrate with.
    """
    counts = np.asarray(raw, dtype=np.float32)
    rows, lines = counts.shape
    level = np.median(counts[: region.rows_above], axis=0) if region.rows_above >= min_rows else None
    if region.lines_before + region.lines_after >= min_lines:
        air = np.concatenate([counts[:, : region.lines_before], counts[:, lines - region.lines_after :]], axis=1)
    elif level is not None:
        air = np.full((rows, 1), np.median(level), np.float32)
    else:
        raise ValidationError(
            f"no open beam in the scan to calibrate with: {region.lines_before + region.lines_after} open lines, "
            f"{region.rows_above} open rows (at least {min_lines} lines or {min_rows} rows are needed)"
        )
    return air.astype(np.float32), None if level is None else level.astype(np.float32)


def pixel_flags_reference(raw: np.ndarray, *, dark: np.ndarray | float = 0.0, saturation: float) -> np.ndarray:
    """:data:`STARVED` where the counts do not exceed the dark level (of every row, or one for all),
    :data:`SATURATED` at the ADC maximum (plain numpy; :func:`nii.kernels.flagged.calibrated_flagged` flags
    while it calibrates).

    Examples
    --------
    >>> pixel_flags_reference(np.array([[0, 500, 4095]], np.uint16), saturation=4095).tolist()
    [[1, 0, 2]]
    """
    counts = np.asarray(raw)
    offset = np.asarray(dark, dtype=np.float64)
    offset = offset[:, None] if offset.ndim == 1 else offset
    flags = np.zeros(counts.shape, np.uint16)
    flags[counts <= offset] = STARVED
    flags[counts >= saturation] = SATURATED
    return flags


def replace_flagged_reference(values: np.ndarray, flags: np.ndarray, *, attenuation: bool) -> None:
    """Give flagged pixels of a calibrated image, in place, a value that is not a measurement's extreme: starved
    pixels take the largest attenuation (smallest transmission) measured among the unflagged pixels, saturated
    ones open beam (attenuation 0, transmission 1). Plain numpy; the kernel is
    :func:`nii.kernels.flagged.calibrated_flagged`.

    Examples
    --------
    >>> values = np.array([[1.0, 13.8, 3.0, 0.2]], np.float32)
    >>> replace_flagged_reference(values, np.array([[0, 1, 0, 2]], np.uint16), attenuation=True)
    >>> values.tolist()
    [[1.0, 3.0, 3.0, 0.0]]
    """
    measured = values[flags == 0]
    if attenuation:
        values[flags == STARVED] = measured.max() if measured.size else 0
        values[flags == SATURATED] = 0
    else:
        values[flags == STARVED] = measured.min() if measured.size else 1
        values[flags == SATURATED] = 1

"""Affine transforms of pixel coordinates and the kernels that warp images with them.

Coordinates are pixel indices ``(row, column)`` = (detector, travel), with pixel centres on integers.
A transform maps a pixel of the *reference* image to the position of the same point of the object in
the *moving* image; :meth:`AffineTransform.warp` samples the moving image there, which puts it on the
reference's grid (see :mod:`nii.kernels.registration`, which finds such transforms).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit, prange

from nii.errors import ValidationError
from nii.kernels import _common
from nii.kernels._common import FAST as _FAST
from nii.kernels._common import run as _run
from nii.limits import check_image_size


class Interpolation(_common.Option):
    """How a warp samples between pixels."""

    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    """Catmull–Rom cubic convolution (Keys, a = -0.5): exact on quadratics, no overshoot on a linear ramp."""


# ---------------------------------------------------------------------------------------------------------------
# Transform


def _as_matrix(matrix: Any) -> np.ndarray:
    m = np.array(matrix, dtype=np.float64)
    if m.shape == (2, 3):
        m = np.vstack([m, [0.0, 0.0, 1.0]])
    if m.shape != (3, 3) or not np.array_equal(m[2], [0.0, 0.0, 1.0]):
        raise ValidationError(f"an affine matrix must be 2 × 3 or 3 × 3 with last row (0, 0, 1), got {m.tolist()}")
    if not np.all(np.isfinite(m)):
        raise ValidationError(f"an affine matrix must be finite, got {m.tolist()}")
    determinant = np.linalg.det(m[:2, :2])
    if not abs(determinant) > 1e-12:
        raise ValidationError(f"an affine matrix must be invertible, got determinant {determinant}")
    m.setflags(write=False)
    return m


def _rotation(angle_deg: float) -> np.ndarray:
    angle = math.radians(angle_deg)
    return np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])


@dataclass(frozen=True, eq=False)
class AffineTransform:
    """An affine map from reference pixel coordinates to moving pixel coordinates.

    ``matrix @ (row, col, 1)`` is where the reference pixel ``(row, col)`` lies in the moving image.
    The linear part factors as ``rotation(θ) @ [[1, 0], [shear, 1]] @ diag(scale_rows, scale_travel)``
    (see :meth:`from_parameters`).

    Parameters
    ----------
    matrix
        3 × 3 (last row ``0, 0, 1``) or 2 × 3, finite and invertible. Stored read-only in float64.

    Examples
    --------
    >>> t = AffineTransform.from_parameters(translation=(2.0, -3.0), scale=(1.0, 1.01))
    >>> t.apply([[0.0, 100.0]])
    array([[ 2., 98.]])
    >>> t.inverse().apply(t.apply([[10.0, 20.0]]))
    array([[10., 20.]])
    """

    matrix: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "matrix", _as_matrix(self.matrix))

    @classmethod
    def identity(cls) -> AffineTransform:
        """The transform that changes nothing."""
        return cls(np.eye(3))

    @classmethod
    def from_parameters(
        cls,
        *,
        translation: Sequence[float] = (0.0, 0.0),
        scale: Sequence[float] = (1.0, 1.0),
        rotation_deg: float = 0.0,
        shear: float = 0.0,
        center: Sequence[float] = (0.0, 0.0),
    ) -> AffineTransform:
        """Build a transform from its parameters, about ``center``.

        Parameters
        ----------
        translation
            Displacement ``(rows, columns)`` of ``center`` from reference to moving image.
        scale
            ``(scale_rows, scale_travel)``: a scale above 1 means the object spans more pixels in the
            moving image (along travel: it went by slower, or the line rate was higher).
        rotation_deg
            Rotation of the moving image's content, counter-clockwise as displayed (rows down).
        shear
            Columns by which each row of the moving image is delayed per row (a tilted detector line).
        center
            The fixed point of rotation, scale and shear ``(row, col)``.

        Examples
        --------
        >>> t = AffineTransform.from_parameters(rotation_deg=0.5, shear=0.002, center=(100.0, 400.0))
        >>> {k: round(float(v), 6) for k, v in t.parameters(center=(100.0, 400.0)).items() if k != "translation"}
        {'scale_rows': 1.0, 'scale_travel': 1.0, 'rotation_deg': 0.5, 'shear': 0.002}
        """
        scale_rows, scale_travel = (float(s) for s in scale)
        if not (scale_rows > 0 and scale_travel > 0):
            raise ValidationError(f"scales must be positive, got {(scale_rows, scale_travel)}")
        linear = _rotation(rotation_deg) @ np.array([[1.0, 0.0], [shear, 1.0]]) @ np.diag([scale_rows, scale_travel])
        c = np.asarray(center, np.float64)
        matrix = np.eye(3)
        matrix[:2, :2] = linear
        matrix[:2, 2] = c + np.asarray(translation, np.float64) - linear @ c
        return cls(matrix)

    def parameters(self, *, center: Sequence[float] = (0.0, 0.0)) -> dict[str, Any]:
        """The parameters of :meth:`from_parameters` that give this transform about ``center``.

        Returns a dict with ``translation`` (array of 2), ``scale_rows``, ``scale_travel``,
        ``rotation_deg`` and ``shear``. A mirror (negative determinant) shows as a negative
        ``scale_rows``.
        """
        linear = self.matrix[:2, :2]
        scale_travel = float(np.hypot(linear[0, 1], linear[1, 1]))
        angle = math.atan2(-linear[0, 1], linear[1, 1])
        rest = _rotation(math.degrees(angle)).T @ linear  # [[scale_rows, 0], [shear * scale_rows, scale_travel]]
        c = np.asarray(center, np.float64)
        return {
            "translation": linear @ c + self.matrix[:2, 2] - c,
            "scale_rows": float(rest[0, 0]),
            "scale_travel": scale_travel,
            "rotation_deg": math.degrees(angle),
            "shear": float(rest[1, 0] / rest[0, 0]),
        }

    def inverse(self) -> AffineTransform:
        """The transform from moving to reference coordinates."""
        return AffineTransform(np.linalg.inv(self.matrix))

    def apply(self, points: Any) -> np.ndarray:
        """Map reference points ``(n, 2)`` (row, col) to moving coordinates."""
        p = np.asarray(points, np.float64)
        if p.ndim != 2 or p.shape[1] != 2:
            raise ValidationError(f"points must have shape (n, 2), got {p.shape}")
        return p @ self.matrix[:2, :2].T + self.matrix[:2, 2]

    def warp(
        self,
        image: Any,
        *,
        order: Interpolation | str = Interpolation.BILINEAR,
        output_shape: Sequence[int] | None = None,
        fill: float = np.nan,
    ) -> np.ndarray:
        """Resample ``image`` (the moving image) on the reference grid: ``out[p] = image[matrix @ p]``.

        Parameters
        ----------
        image
            2-D, at least 2 × 2. NaN pixels spread to the outputs that interpolate from them.
        order
            ``"bilinear"`` or ``"bicubic"`` (:class:`Interpolation`).
        output_shape
            Shape of the reference grid; the input's shape by default.
        fill
            Value of outputs that fall outside the image.

        Returns
        -------
        numpy.ndarray
            float64 for float64 input, float32 otherwise.

        Examples
        --------
        >>> image = np.arange(12, dtype=np.float32).reshape(3, 4)
        >>> AffineTransform.from_parameters(translation=(0.0, 0.5)).warp(image)
        array([[ 0.5,  1.5,  2.5,  nan],
               [ 4.5,  5.5,  6.5,  nan],
               [ 8.5,  9.5, 10.5,  nan]], dtype=float32)
        """
        source = _common.image(image, "image to warp", min_size=2)
        kind = _common.option(Interpolation, order, "order")
        shape = source.shape if output_shape is None else _output_shape(output_shape)
        out = np.empty(shape, np.float64 if source.dtype == np.float64 else np.float32)
        cubic = kind is Interpolation.BICUBIC
        # A writable copy of the matrix: numba compiles read-only arrays separately.
        matrix = np.array(self.matrix)
        _run(warp_kernel, out.size, np.ascontiguousarray(source), matrix, np.zeros(shape[0]), out, float(fill), cubic)
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for provenance; :meth:`from_dict` reads it back."""
        parameters = self.parameters()
        return {
            "type": "affine",
            "coordinates": "pixel (row, column); maps reference to moving",
            "matrix": self.matrix[:2].tolist(),
            "parameters": {**parameters, "translation": parameters["translation"].tolist()},
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AffineTransform:
        """The transform described by :meth:`to_dict`'s output."""
        if data.get("type") != "affine" or "matrix" not in data:
            raise ValidationError(f"not an affine transform description: {data!r}")
        return cls(data["matrix"])


def _output_shape(shape: Sequence[int]) -> tuple[int, int]:
    dims = tuple(int(d) for d in shape)
    if len(dims) != 2 or min(dims) < 1:
        raise ValidationError(f"output shape must be two positive sizes, got {tuple(shape)}")
    check_image_size(dims, np.float32, path=None)
    return dims[0], dims[1]


# ---------------------------------------------------------------------------------------------------------------
# Warping kernels


@njit(cache=True, inline="always")
def samples_inside(start: float, step: float, last: float, count: int) -> tuple[int, int]:
    """Indices j in [lo, hi) with 0 <= start + step * j <= last."""
    if step == 0.0:
        return (0, count) if 0.0 <= start <= last else (0, 0)
    a = (0.0 - start) / step
    b = (last - start) / step
    if not (a == a and b == b):
        return (0, 0)
    if a > b:
        a, b = b, a
    slack = 1e-9 * (min(abs(a), 1e15) + min(abs(b), 1e15) + 1.0)
    # Clamp before converting: a transform that sends the row far away must not overflow the integers.
    a = min(max(a - slack, -1.0), count + 1.0)
    b = min(max(b + slack, -1.0), count + 1.0)
    lo = min(max(math.ceil(a), 0), count)
    hi = min(max(math.floor(b) + 1, 0), count)
    return lo, max(lo, hi)


@njit(cache=True, inline="always")
def _cubic_weights(t: float) -> tuple[float, float, float, float]:
    # Catmull-Rom weights of the samples at -1, 0, 1, 2 for a point t in [0, 1).
    t2 = t * t
    t3 = t2 * t
    return (
        -0.5 * t3 + t2 - 0.5 * t,
        1.5 * t3 - 2.5 * t2 + 1.0,
        -1.5 * t3 + 2.0 * t2 + 0.5 * t,
        0.5 * t3 - 0.5 * t2,
    )


@njit(cache=True, inline="always")
def _cubic_clamped(flat: np.ndarray, rows: int, cols: int, r: float, c: float) -> float:
    """Bicubic sample near the border, neighbours outside the image replaced by the nearest edge pixel."""
    i0 = min(max(int(r), 0), rows - 1)
    j0 = min(max(int(c), 0), cols - 1)
    wr0, wr1, wr2, wr3 = _cubic_weights(r - i0)
    wc0, wc1, wc2, wc3 = _cubic_weights(c - j0)
    jm = max(j0 - 1, 0)
    j1 = min(j0 + 1, cols - 1)
    j2 = min(j0 + 2, cols - 1)
    value = 0.0
    for k in range(4):
        line = min(max(i0 - 1 + k, 0), rows - 1) * cols
        weight = wr0 if k == 0 else wr1 if k == 1 else wr2 if k == 2 else wr3
        value += weight * (
            wc0 * flat[line + jm] + wc1 * flat[line + j0] + wc2 * flat[line + j1] + wc3 * flat[line + j2]
        )
    return value


@njit(cache=True, inline="always")
def _bilinear_clamped(flat: np.ndarray, rows: int, cols: int, r: float, c: float) -> float:
    """Bilinear sample at a point of the image's last row or column (reached with weight 1)."""
    i0 = min(max(int(r), 0), rows - 2)
    j0 = min(max(int(c), 0), cols - 2)
    fr = r - i0
    fc = c - j0
    base = i0 * cols + j0
    top = flat[base] + fc * (flat[base + 1] - flat[base])
    bottom = flat[base + cols] + fc * (flat[base + cols + 1] - flat[base + cols])
    return top + fr * (bottom - top)


@njit(cache=True, parallel=True, fastmath=_FAST)
def warp_kernel(
    image: np.ndarray, matrix: np.ndarray, row_shift: np.ndarray, out: np.ndarray, fill: float, cubic: bool
) -> None:
    """out[i, j] = image at (matrix @ (i, j, 1)) + (0, row_shift[i]); ``fill`` outside the image.

    ``image`` must be C-contiguous and at least 2 × 2. Each output row is split into the part outside
    the image (fill), a border part whose neighbours are clamped, and an interior part whose inner loop
    needs no clamping and indexes slices from 0, so that LLVM vectorises it. Rows whose source is one
    row at a constant column offset (translations, :func:`shift_along_travel`) use constant weights.
    """
    rows, cols = image.shape
    out_rows, out_cols = out.shape
    flat = image.ravel()
    margin = 1.0 if cubic else 0.0  # neighbours needed before the sample point
    for i in prange(out_rows):
        r0 = matrix[0, 0] * i + matrix[0, 2]
        c0 = matrix[1, 0] * i + matrix[1, 2] + row_shift[i]
        dr = matrix[0, 1]
        dc = matrix[1, 1]
        lo_r, hi_r = samples_inside(r0, dr, rows - 1.0, out_cols)
        lo_c, hi_c = samples_inside(c0, dc, cols - 1.0, out_cols)
        lo = max(lo_r, lo_c)
        hi = max(lo, min(hi_r, hi_c))
        lo_r, hi_r = samples_inside(r0 - margin, dr, rows - 1.0 - 2 * margin - 1e-6, out_cols)
        lo_c, hi_c = samples_inside(c0 - margin, dc, cols - 1.0 - 2 * margin - 1e-6, out_cols)
        inner_lo = min(max(lo, lo_r, lo_c), hi)
        inner_hi = max(inner_lo, min(hi, hi_r, hi_c))
        line = out[i]
        for j in range(lo):
            line[j] = fill
        for j in range(hi, out_cols):
            line[j] = fill
        for j in range(lo, inner_lo):
            r = r0 + dr * j
            c = c0 + dc * j
            line[j] = _cubic_clamped(flat, rows, cols, r, c) if cubic else _bilinear_clamped(flat, rows, cols, r, c)
        for j in range(inner_hi, hi):
            r = r0 + dr * j
            c = c0 + dc * j
            line[j] = _cubic_clamped(flat, rows, cols, r, c) if cubic else _bilinear_clamped(flat, rows, cols, r, c)
        if inner_hi <= inner_lo:
            continue
        segment = line[inner_lo:inner_hi]
        rs = r0 + dr * inner_lo
        cs = c0 + dc * inner_lo
        if dr == 0.0 and dc == 1.0:
            first = (int(rs) - (1 if cubic else 0)) * cols + int(cs) - (1 if cubic else 0)
            if cubic:
                shifted_bicubic(segment, flat, first, cols, rs - int(rs), cs - int(cs))
            else:
                _shifted_bilinear(segment, flat, first, cols, rs - int(rs), cs - int(cs))
        elif cubic:
            affine_bicubic(segment, flat, cols, rs, cs, dr, dc)
        else:
            _affine_bilinear(segment, flat, cols, rs, cs, dr, dc)


# The inner loops of warp_kernel. Inlined into the parallel loop: as separate functions LLVM leaves them scalar.


@njit(cache=True, fastmath=_FAST, inline="always")
def _shifted_bilinear(segment: np.ndarray, flat: np.ndarray, first: int, cols: int, fr: float, fc: float) -> None:
    count = segment.size
    top = flat[first : first + count + 1]
    bottom = flat[first + cols : first + cols + count + 1]
    for k in range(count):
        upper = top[k] + fc * (top[k + 1] - top[k])
        lower = bottom[k] + fc * (bottom[k + 1] - bottom[k])
        segment[k] = upper + fr * (lower - upper)


@njit(cache=True, fastmath=_FAST, inline="always")
def shifted_bicubic(segment: np.ndarray, flat: np.ndarray, first: int, cols: int, fr: float, fc: float) -> None:
    """Bicubic samples along a row at a constant offset: the 4 x 4 neighbourhood of sample k starts at
    ``flat[first + k]``."""
    count = segment.size
    shifted_bicubic_rows(
        segment,
        np.empty(count + 3, segment.dtype),
        flat[first : first + count + 3],
        flat[first + cols : first + cols + count + 3],
        flat[first + 2 * cols : first + 2 * cols + count + 3],
        flat[first + 3 * cols : first + 3 * cols + count + 3],
        fr,
        fc,
    )


@njit(cache=True, fastmath=_FAST, inline="always")
def shifted_bicubic_rows(
    segment: np.ndarray,
    blend: np.ndarray,
    s0: np.ndarray,
    s1: np.ndarray,
    s2: np.ndarray,
    s3: np.ndarray,
    fr: float,
    fc: float,
) -> None:
    """Bicubic samples along a row at a constant offset from the four rows of the neighbourhood, each
    starting at the first neighbour of sample 0. Separable: the four rows are blended first (into
    ``blend``, at least 3 longer than ``segment``), then four columns of the blend."""
    count = segment.size
    weights = np.empty(8, segment.dtype)  # in the output's precision: float32 images stay in float32
    weights[0], weights[1], weights[2], weights[3] = _cubic_weights(fr)
    weights[4], weights[5], weights[6], weights[7] = _cubic_weights(fc)
    wr0, wr1, wr2, wr3, wc0, wc1, wc2, wc3 = (
        weights[0],
        weights[1],
        weights[2],
        weights[3],
        weights[4],
        weights[5],
        weights[6],
        weights[7],
    )
    for k in range(count + 3):
        blend[k] = wr0 * s0[k] + wr1 * s1[k] + wr2 * s2[k] + wr3 * s3[k]
    for k in range(count):
        segment[k] = wc0 * blend[k] + wc1 * blend[k + 1] + wc2 * blend[k + 2] + wc3 * blend[k + 3]


@njit(cache=True, fastmath=_FAST, inline="always")
def _positions(
    count: int, cols: int, rs: float, cs: float, dr: float, dc: float, dtype: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat index of the pixel at or before each sample point of a row segment, and the fractions (in
    ``dtype``, the output's precision: float32 images are interpolated in float32).

    Computed in a loop of its own, which vectorises; the sampling loop that follows is then a plain
    sequence of loads (as OpenCV's remap after its coordinate pass).
    """
    index = np.empty(count, np.int64)
    fraction_r = np.empty(count, dtype)
    fraction_c = np.empty(count, dtype)
    for k in range(count):
        r = rs + dr * k
        c = cs + dc * k
        i0 = int(r)
        j0 = int(c)
        index[k] = i0 * cols + j0
        fraction_r[k] = r - i0
        fraction_c[k] = c - j0
    return index, fraction_r, fraction_c


@njit(cache=True, fastmath=_FAST, inline="always")
def _affine_bilinear(
    segment: np.ndarray, flat: np.ndarray, cols: int, rs: float, cs: float, dr: float, dc: float
) -> None:
    index, fraction_r, fraction_c = _positions(segment.size, cols, rs, cs, dr, dc, segment.dtype)
    for k in range(segment.size):
        base = index[k]
        fc = fraction_c[k]
        upper = flat[base] + fc * (flat[base + 1] - flat[base])
        lower = flat[base + cols] + fc * (flat[base + cols + 1] - flat[base + cols])
        segment[k] = upper + fraction_r[k] * (lower - upper)


@njit(cache=True, fastmath=_FAST, inline="always")
def affine_bicubic(
    segment: np.ndarray, flat: np.ndarray, cols: int, rs: float, cs: float, dr: float, dc: float
) -> None:
    count = segment.size
    index, fraction_r, fraction_c = _positions(count, cols, rs, cs, dr, dc, segment.dtype)
    weights = np.empty((8, count), segment.dtype)  # in the output's precision: float32 images stay in float32
    for k in range(count):
        weights[0, k], weights[1, k], weights[2, k], weights[3, k] = _cubic_weights(fraction_r[k])
        weights[4, k], weights[5, k], weights[6, k], weights[7, k] = _cubic_weights(fraction_c[k])
    wr0, wr1, wr2, wr3 = weights[0], weights[1], weights[2], weights[3]
    wc0, wc1, wc2, wc3 = weights[4], weights[5], weights[6], weights[7]
    for k in range(count):
        base = index[k] - cols - 1
        l0 = wc0[k] * flat[base] + wc1[k] * flat[base + 1] + wc2[k] * flat[base + 2] + wc3[k] * flat[base + 3]
        base += cols
        l1 = wc0[k] * flat[base] + wc1[k] * flat[base + 1] + wc2[k] * flat[base + 2] + wc3[k] * flat[base + 3]
        base += cols
        l2 = wc0[k] * flat[base] + wc1[k] * flat[base + 1] + wc2[k] * flat[base + 2] + wc3[k] * flat[base + 3]
        base += cols
        l3 = wc0[k] * flat[base] + wc1[k] * flat[base + 1] + wc2[k] * flat[base + 2] + wc3[k] * flat[base + 3]
        segment[k] = wr0[k] * l0 + wr1[k] * l1 + wr2[k] * l2 + wr3[k] * l3


def warp_reference(
    image: np.ndarray,
    matrix: np.ndarray,
    output_shape: tuple[int, int],
    *,
    cubic: bool,
    fill: float = np.nan,
    row_shift: np.ndarray | None = None,
) -> np.ndarray:
    """Plain-numpy reference of :func:`warp_kernel` (float64), for tests."""
    rows, cols = image.shape
    src = image.astype(np.float64)
    i, j = np.meshgrid(np.arange(output_shape[0]), np.arange(output_shape[1]), indexing="ij")
    r = matrix[0, 0] * i + matrix[0, 1] * j + matrix[0, 2]
    c = matrix[1, 0] * i + matrix[1, 1] * j + matrix[1, 2] + (0.0 if row_shift is None else row_shift[:, None])
    inside = (r >= 0) & (r <= rows - 1) & (c >= 0) & (c <= cols - 1)
    if cubic:
        i0 = np.clip(np.floor(r), 0, rows - 1).astype(np.intp)
        j0 = np.clip(np.floor(c), 0, cols - 1).astype(np.intp)
        t, s = r - i0, c - j0

        def weights(x: np.ndarray) -> list[np.ndarray]:
            return [
                ((-0.5 * x + 1.0) * x - 0.5) * x,
                (1.5 * x - 2.5) * x * x + 1.0,
                ((-1.5 * x + 2.0) * x + 0.5) * x,
                (0.5 * x - 0.5) * x * x,
            ]

        value = np.zeros(r.shape)
        for a, wa in zip(range(-1, 3), weights(t), strict=True):
            for b, wb in zip(range(-1, 3), weights(s), strict=True):
                value += wa * wb * src[np.clip(i0 + a, 0, rows - 1), np.clip(j0 + b, 0, cols - 1)]
    else:
        i0 = np.clip(np.floor(r), 0, rows - 2).astype(np.intp)
        j0 = np.clip(np.floor(c), 0, cols - 2).astype(np.intp)
        t, s = r - i0, c - j0
        value = (
            (1 - t) * (1 - s) * src[i0, j0]
            + (1 - t) * s * src[i0, j0 + 1]
            + t * (1 - s) * src[i0 + 1, j0]
            + t * s * src[i0 + 1, j0 + 1]
        )
    return np.where(inside, value, fill)


def shift_along_travel(
    image: Any,
    offsets: float | Sequence[float] | np.ndarray,
    *,
    order: Interpolation | str = Interpolation.BILINEAR,
    fill: float = np.nan,
) -> np.ndarray:
    """Shift each row along travel: ``out[r, c] = image[r, c + offsets[r]]``.

    This is how a channel is corrected with a :class:`ChannelOffset`:
    ``shift_along_travel(low, offset.row_offsets())`` puts the low-energy image on the high-energy one.

    Parameters
    ----------
    image
        2-D, at least 2 × 2.
    offsets
        One offset in columns for every row, or one for all.
    order
        ``"bilinear"`` or ``"bicubic"``.
    fill
        Value of outputs that fall outside the row.

    Examples
    --------
    >>> shift_along_travel(np.array([[0.0, 1.0, 2.0], [0.0, 10.0, 20.0]]), [0.5, -1.0])
    array([[ 0.5,  1.5,  nan],
           [ nan,  0. , 10. ]])
    """
    source = _common.image(image, "image to shift", min_size=2)
    kind = _common.option(Interpolation, order, "order")
    shifts = (
        np.broadcast_to(np.asarray(offsets, np.float64), (source.shape[0],))
        if np.ndim(offsets) == 0
        else (np.asarray(offsets, np.float64))
    )
    if shifts.shape != (source.shape[0],):
        raise ValidationError(
            f"offsets must be one number or one per row ({source.shape[0]}), got shape {shifts.shape}"
        )
    if not np.all(np.isfinite(shifts)):
        raise ValidationError("offsets must be finite")
    out = np.empty(source.shape, np.float64 if source.dtype == np.float64 else np.float32)
    cubic = kind is Interpolation.BICUBIC
    _run(
        warp_kernel,
        out.size,
        np.ascontiguousarray(source),
        np.eye(3),
        np.ascontiguousarray(shifts),
        out,
        float(fill),
        cubic,
    )
    return out

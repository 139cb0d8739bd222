"""Registration: dual-energy channel alignment and scan-to-scan registration.

Coordinates are pixel indices ``(row, column)`` = (detector, travel), with pixel centres on integers.
A transform maps a pixel of the *reference* image to the position of the same point of the object in
the *moving* image; :meth:`AffineTransform.warp` samples the moving image there, which puts it on the
reference's grid.

Registration runs coarse to fine: both images are reduced to a pyramid (2 × 2 means, masked pixels left
out), phase correlation finds the translation on the coarsest level, then a Gauss–Newton refinement
(Lucas–Kanade in its compositional form with the reference's gradient, plus a gain and an offset so that
two energies or two scanners can be compared) improves the transform on every level down to full
resolution. Pixels outside the masks (air, saturation) and NaN pixels take no part.

Examples
--------
>>> import numpy as np
>>> rows, cols = np.mgrid[0:96, 0:160]
>>> reference = (np.sin(rows / 5.0) * np.cos(cols / 7.0) + np.hypot(rows - 40, cols - 70) / 60).astype(np.float32)
>>> truth = AffineTransform.from_parameters(translation=(1.5, -2.25))
>>> moving = truth.inverse().warp(reference, order="bicubic")  # the content moves by (1.5, -2.25)
>>> result = register(reference, moving, model="translation")
>>> np.round(result.transform.parameters()["translation"], 2)
array([ 1.5 , -2.25])
"""

from __future__ import annotations

import itertools
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

__all__ = [
    "AffineTransform",
    "ChannelOffset",
    "Features",
    "Interpolation",
    "Registration",
    "TransformModel",
    "estimate_channel_offset",
    "register",
    "shift_along_travel",
    "valid_mask",
]


class Interpolation(_common.Option):
    """How a warp samples between pixels."""

    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    """Catmull–Rom cubic convolution (Keys, a = -0.5): exact on quadratics, no overshoot on a linear ramp."""


class TransformModel(_common.Option):
    """Which transforms a registration may find."""

    TRANSLATION = "translation"
    TRAVEL_SCALE = "travel_scale"
    """Translation and a scale along travel (a difference in conveyor or vehicle speed)."""
    AFFINE = "affine"
    """Translation, both scales, rotation and shear."""


class Features(_common.Option):
    """What the fine registration compares."""

    GRADIENT = "gradient"
    """Gradient magnitude after a Gaussian-like blur of one pixel (binomial 1-4-6-4-1): every edge gives a
    ridge centred on it whatever its contrast, so images whose contrasts differ from material to
    material (two energies, two scanners) align without bias."""
    INTENSITY = "intensity"
    """The pixel values themselves, up to a gain and an offset (as ECC): best for images of one energy."""


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
        _run(_warp, out.size, np.ascontiguousarray(source), matrix, np.zeros(shape[0]), out, float(fill), cubic)
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
def _inside(start: float, step: float, last: float, count: int) -> tuple[int, int]:
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
def _warp(
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
        lo_r, hi_r = _inside(r0, dr, rows - 1.0, out_cols)
        lo_c, hi_c = _inside(c0, dc, cols - 1.0, out_cols)
        lo = max(lo_r, lo_c)
        hi = max(lo, min(hi_r, hi_c))
        lo_r, hi_r = _inside(r0 - margin, dr, rows - 1.0 - 2 * margin - 1e-6, out_cols)
        lo_c, hi_c = _inside(c0 - margin, dc, cols - 1.0 - 2 * margin - 1e-6, out_cols)
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
                _shifted_bicubic(segment, flat, first, cols, rs - int(rs), cs - int(cs))
            else:
                _shifted_bilinear(segment, flat, first, cols, rs - int(rs), cs - int(cs))
        elif cubic:
            _affine_bicubic(segment, flat, cols, rs, cs, dr, dc)
        else:
            _affine_bilinear(segment, flat, cols, rs, cs, dr, dc)


# The inner loops of _warp. Inlined into the parallel loop: as separate functions LLVM leaves them scalar.


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
def _shifted_bicubic(segment: np.ndarray, flat: np.ndarray, first: int, cols: int, fr: float, fc: float) -> None:
    """Bicubic samples along a row at a constant offset: the 4 x 4 neighbourhood of sample k starts at
    ``flat[first + k]``. Separable: the four rows are blended first, then four columns of the blend."""
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
    s0 = flat[first : first + count + 3]
    s1 = flat[first + cols : first + cols + count + 3]
    s2 = flat[first + 2 * cols : first + 2 * cols + count + 3]
    s3 = flat[first + 3 * cols : first + 3 * cols + count + 3]
    blend = np.empty(count + 3, segment.dtype)
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
def _affine_bicubic(
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
    """Plain-numpy reference of :func:`_warp` (float64), for tests."""
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
        _warp, out.size, np.ascontiguousarray(source), np.eye(3), np.ascontiguousarray(shifts), out, float(fill), cubic
    )
    return out


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


def _prepare(image: Any, mask: Any, what: str) -> tuple[np.ndarray, int]:
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


@njit(cache=True, parallel=True, fastmath=_FAST)
def _downsample(image: np.ndarray, out: np.ndarray) -> None:
    """2 × 2 means of the valid pixels of a float32 image; NaN where fewer than two of the four are valid."""
    zero = np.float32(0.0)
    one = np.float32(1.0)
    for i in prange(out.shape[0]):
        top = image[2 * i]
        bottom = image[2 * i + 1]
        line = out[i]
        for j in range(out.shape[1]):
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
            total = (
                (a if a == a else zero) + (b if b == b else zero) + (c if c == c else zero) + (d if d == d else zero)
            )
            line[j] = total / count if count >= 2 else np.float32(np.nan)


def downsample_reference(image: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of :func:`_downsample`, for tests."""
    rows, cols = image.shape[0] // 2, image.shape[1] // 2
    blocks = image[: 2 * rows, : 2 * cols].reshape(rows, 2, cols, 2).astype(np.float64)
    count = np.isfinite(blocks).sum(axis=(1, 3))
    total = np.nansum(blocks, axis=(1, 3))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= 2, total / count, np.nan).astype(np.float32)


def _pyramid(image: np.ndarray, levels: int) -> list[np.ndarray]:
    result = [image]
    for _ in range(levels - 1):
        previous = result[-1]
        out = np.empty((previous.shape[0] // 2, previous.shape[1] // 2), np.float32)
        _run(_downsample, previous.size, previous, out)
        result.append(out)
    return result


# Binomial smoothing (variance 1) and its central difference, offsets -3..3 (the smoothing is zero at ±3).
_SMOOTH = (0.0, 1 / 16, 4 / 16, 6 / 16, 4 / 16, 1 / 16, 0.0)
_DERIVATIVE = (-1 / 32, -4 / 32, -5 / 32, 0.0, 5 / 32, 4 / 32, 1 / 32)


@njit(cache=True, fastmath=_FAST, inline="always")
def _filter_row(line: np.ndarray, smooth: np.ndarray, derivative: np.ndarray) -> None:
    """Binomial smoothing and its derivative along one row (NaN within 3 pixels of the ends)."""
    cols = line.size
    for j in range(min(3, cols)):
        smooth[j] = np.nan
        derivative[j] = np.nan
        smooth[cols - 1 - j] = np.nan
        derivative[cols - 1 - j] = np.nan
    if cols > 6:
        s_out = smooth[3 : cols - 3]
        d_out = derivative[3 : cols - 3]
        # float32 constants keep the arithmetic in float32 (the pyramids are float32).
        four = np.float32(4.0)
        five = np.float32(5.0)
        six = np.float32(6.0)
        sixteenth = np.float32(1 / 16)
        thirty_second = np.float32(1 / 32)
        for k in range(cols - 6):
            s_out[k] = (line[k + 1] + (line[k + 2] + line[k + 4]) * four + line[k + 3] * six + line[k + 5]) * sixteenth
            d_out[k] = (
                (line[k + 6] - line[k]) + (line[k + 5] - line[k + 1]) * four + (line[k + 4] - line[k + 2]) * five
            ) * thirty_second


@njit(cache=True, fastmath=_FAST, inline="always")
def _combine_rows(smooth: np.ndarray, derivative: np.ndarray, slots: np.ndarray, line: np.ndarray) -> None:
    """|gradient| of one row from the row-filtered rows -3..3 around it (their ring slots)."""
    s0 = smooth[slots[0]]
    s1 = smooth[slots[1]]
    s2 = smooth[slots[2]]
    s4 = smooth[slots[4]]
    s5 = smooth[slots[5]]
    s6 = smooth[slots[6]]
    d1 = derivative[slots[1]]
    d2 = derivative[slots[2]]
    d3 = derivative[slots[3]]
    d4 = derivative[slots[4]]
    d5 = derivative[slots[5]]
    four = np.float32(4.0)
    five = np.float32(5.0)
    six = np.float32(6.0)
    sixteenth = np.float32(1 / 16)
    thirty_second = np.float32(1 / 32)
    for j in range(line.size):
        across = (d1[j] + d5[j] + (d2[j] + d4[j]) * four + d3[j] * six) * sixteenth
        down = ((s6[j] - s0[j]) + (s5[j] - s1[j]) * four + (s4[j] - s2[j]) * five) * thirty_second
        line[j] = math.sqrt(across * across + down * down)


_FEATURE_BLOCK = 64  # rows per parallel task; each task filters 6 rows more than it outputs


@njit(cache=True, parallel=True, fastmath=_FAST)
def _gradient_magnitude(image: np.ndarray, out: np.ndarray) -> None:
    """|gradient| of the binomially smoothed image (see :class:`Features`), NaN within 3 pixels of the
    border. One pass: each task keeps its last 7 row-filtered rows in a ring."""
    rows, cols = image.shape
    for block in prange((rows + _FEATURE_BLOCK - 1) // _FEATURE_BLOCK):
        start = block * _FEATURE_BLOCK
        stop = min(rows, start + _FEATURE_BLOCK)
        smooth = np.empty((7, cols), image.dtype)
        derivative = np.empty((7, cols), image.dtype)
        slots = np.empty(7, np.intp)
        filtered = max(start - 3, 0)  # rows before this one are in the ring
        for i in range(start, stop):
            if i < 3 or i >= rows - 3:
                for j in range(cols):
                    out[i, j] = np.nan
                continue
            while filtered <= i + 3:
                _filter_row(image[filtered], smooth[filtered % 7], derivative[filtered % 7])
                filtered += 1
            for k in range(7):
                slots[k] = (i - 3 + k) % 7
            _combine_rows(smooth, derivative, slots, out[i])


def _gradient_features(image: np.ndarray) -> np.ndarray:
    out = np.empty_like(image)
    _run(_gradient_magnitude, image.size, image, out)
    return out


def gradient_features_reference(image: np.ndarray) -> np.ndarray:
    """Plain-numpy reference of the gradient features (float64), for tests."""
    x = image.astype(np.float64)
    smooth = np.asarray(_SMOOTH)
    derivative = np.asarray(_DERIVATIVE)

    def along(a: np.ndarray, weights: np.ndarray, axis: int) -> np.ndarray:
        a = np.moveaxis(a, axis, -1)
        out = np.full(a.shape, np.nan)
        n = a.shape[-1]
        if n > 6:
            out[..., 3 : n - 3] = sum(w * a[..., k : n - 6 + k] for k, w in enumerate(weights) if w)
        return np.moveaxis(out, -1, axis)

    across = along(along(x, derivative, 1), smooth, 0)
    down = along(along(x, smooth, 1), derivative, 0)
    return np.hypot(across, down)


_TO_FINER = np.array([[2.0, 0.0, 0.5], [0.0, 2.0, 0.5], [0.0, 0.0, 1.0]])
"""Coordinates of a pyramid level's pixel centre on the next finer level (2 × 2 means)."""


def _auto_levels(shape_a: tuple[int, ...], shape_b: tuple[int, ...], coarsest: int) -> int:
    # Halve until the longer side is at most ``coarsest`` pixels, keeping at least 16 pixels on the shorter side.
    longest = max(*shape_a, *shape_b)
    shortest = min(*shape_a, *shape_b)
    levels = 1
    while longest > coarsest and shortest >= 32:
        longest //= 2
        shortest //= 2
        levels += 1
    return levels


# ---------------------------------------------------------------------------------------------------------------
# Coarse translation: phase correlation


def _phase_correlation(reference: np.ndarray, moving: np.ndarray) -> tuple[np.ndarray, float]:
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

_TRANSLATION_SUMS = 16  # 10 Hessian terms of (ry, rx, r, 1), 4 gradient terms, sum e², sum m²
_CHUNK = 1024  # float32 partial sums over at most this many pixels, then float64


@njit(cache=True, parallel=True, fastmath=_FAST)
def _translation_sums(
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
    flat = moving.ravel()
    margin = 1  # the bicubic neighbours before the sample point
    for i in prange(rows):
        acc = np.zeros(_TRANSLATION_SUMS)
        sampled = np.empty(_CHUNK, np.float32)
        qr = i + shift_rows[i]
        i0 = math.floor(qr) if abs(qr) < 1e9 else -(1 << 40)
        j_shift = math.floor(shift_cols[i]) if abs(shift_cols[i]) < 1e9 else -(1 << 40)
        lo = max(1, margin - j_shift)
        hi = min(cols - 1, moving_cols - 1 - margin - j_shift)
        if 0 < i < rows - 1 and margin <= i0 <= moving_rows - 2 - margin and lo < hi:
            fr = qr - i0
            fc = shift_cols[i] - j_shift
            gain = np.float32(gains[i])
            bias = np.float32(biases[i])
            half = np.float32(0.5)
            zero = np.float32(0.0)
            one = np.float32(1.0)
            for start in range(lo, hi, _CHUNK):
                stop = min(start + _CHUNK, hi)
                first = (i0 - 1) * moving_cols + start + j_shift - 1
                _shifted_bicubic(sampled[: stop - start], flat, first, moving_cols, fr, fc)
                above = reference[i - 1, start:stop]
                below = reference[i + 1, start:stop]
                line = reference[i, start - 1 : stop + 1]
                syy = syx = syr = sy = sxx = sxr = sx = srr = sr = n = zero
                gy = gx = gr = ge = see = smm = zero
                for k in range(stop - start):
                    m = sampled[k]
                    r = line[k + 1]
                    rx = half * (line[k + 2] - line[k])
                    ry = half * (below[k] - above[k])
                    e = m - gain * r - bias
                    ok = e == e and rx == rx and ry == ry
                    w = one if ok else zero
                    e = e if ok else zero
                    rx = rx if ok else zero
                    ry = ry if ok else zero
                    r = r if ok else zero
                    m = m if ok else zero
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
                acc[0] += syy
                acc[1] += syx
                acc[2] += syr
                acc[3] += sy
                acc[4] += sxx
                acc[5] += sxr
                acc[6] += sx
                acc[7] += srr
                acc[8] += sr
                acc[9] += n
                acc[10] += gy
                acc[11] += gx
                acc[12] += gr
                acc[13] += ge
                acc[14] += see
                acc[15] += smm
        for k in range(_TRANSLATION_SUMS):
            sums[i, k] = acc[k]


def _translation_system(total: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
_AFFINE_SUMS = _GRAM + _BASIS + 2  # Gram upper triangle, basis × e, sum e², sum m²
_AFFINE_INDEX = np.array([0, 1, 0, 2, 3, 2, 4, 5])  # basis function of each parameter
_AFFINE_POWER = np.array([1, 0, 0, 1, 0, 0, 0, 0])  # power of u in each parameter
_AFFINE_SIGN = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, -1.0, -1.0])


@njit(cache=True, parallel=True, fastmath=_FAST)
def _affine_sums(
    reference: np.ndarray,
    moving: np.ndarray,
    matrix: np.ndarray,
    center_c: float,
    gain: float,
    bias: float,
    sums: np.ndarray,
) -> None:
    """Per-row sums for an affine warp; ``moving`` must be C-contiguous. Each row is first sampled (bicubic,
    as :func:`_warp` does), then summed."""
    rows, cols = reference.shape
    moving_rows, moving_cols = moving.shape
    flat = moving.ravel()
    for i in prange(rows):
        acc = np.zeros(_AFFINE_SUMS)
        r0 = matrix[0, 0] * i + matrix[0, 2]
        c0 = matrix[1, 0] * i + matrix[1, 2]
        dr = matrix[0, 1]
        dc = matrix[1, 1]
        # Samples whose 4 x 4 neighbourhood lies inside the moving image.
        lo_r, hi_r = _inside(r0 - 1.0, dr, moving_rows - 3.0 - 1e-6, cols - 1)
        lo_c, hi_c = _inside(c0 - 1.0, dc, moving_cols - 3.0 - 1e-6, cols - 1)
        lo = max(1, lo_r, lo_c)
        hi = min(hi_r, hi_c)
        if 0 < i < rows - 1 and lo < hi:
            sampled = np.empty(hi - lo)
            _affine_bicubic(sampled, flat, moving_cols, r0 + dr * lo, c0 + dc * lo, dr, dc)
            above = reference[i - 1, lo:hi]
            below = reference[i + 1, lo:hi]
            line = reference[i, lo - 1 : hi + 1]
            vs = lo - center_c
            # One scalar per sum (not an array indexed in a loop) so that LLVM keeps them in vector registers.
            g00 = g01 = g02 = g03 = g04 = g05 = g11 = g12 = g13 = g14 = g15 = 0.0
            g22 = g23 = g24 = g25 = g33 = g34 = g35 = g44 = g45 = g55 = 0.0
            e0 = e1 = e2 = e3 = e4 = e5 = see = smm = 0.0
            for k in range(hi - lo):
                m = sampled[k]
                r = line[k + 1]
                rx = 0.5 * (line[k + 2] - line[k])
                ry = 0.5 * (below[k] - above[k])
                e = m - gain * r - bias
                ok = e == e and rx == rx and ry == ry
                w = 1.0 if ok else 0.0
                e = e if ok else 0.0
                rx = rx if ok else 0.0
                ry = ry if ok else 0.0
                r = r if ok else 0.0
                m = m if ok else 0.0
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
        for k in range(_AFFINE_SUMS):
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


# ---------------------------------------------------------------------------------------------------------------
# Registration


# The 8 parameters of a Gauss-Newton step: the compositional update (d row/d row, d row/d col, row shift,
# d col/d row, d col/d col, column shift) about the level's centre, then gain and bias.
_MODEL_PARAMETERS = {
    TransformModel.TRANSLATION: [2, 5, 6, 7],
    TransformModel.TRAVEL_SCALE: [2, 4, 5, 6, 7],
    TransformModel.AFFINE: list(range(8)),
}
_TRAVEL_ONLY = [5, 6, 7]  # dual-energy channels: a shift along travel only
_TRANSLATION_INDEX = [2, 5, 6, 7]  # where the translation kernel's 4 unknowns sit among the 8


@dataclass(frozen=True, eq=False)
class Registration:
    """The result of :func:`register`.

    Attributes
    ----------
    transform
        Reference → moving coordinates; ``transform.warp(moving, output_shape=reference.shape)`` aligns.
    confidence
        Correlation, in [0, 1], of the gradients of the reference and of the aligned moving image over
        their overlap, at half resolution. Correct registrations of one object score high (above 0.9 on
        the simulated pairs of the tests, across energies and scanners), unrelated scans low (below 0.3).
    overlap
        Pixels used by the last iteration as a fraction of the reference's valid pixels (about 1 when
        the moving image covers the reference; borders and masked neighbours take a little off).
    gain, bias
        Intensity relation found along the way: ``moving ≈ gain * reference + bias``.
    iterations
        Gauss–Newton iterations, all levels together.
    converged
        False when a level ended without meeting the tolerance: the iterations ran out, the images
        stopped overlapping or the normal equations became singular (typical of unrelated scans).
    """

    transform: AffineTransform
    confidence: float
    overlap: float
    gain: float
    bias: float
    iterations: int
    converged: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description for provenance."""
        return {
            "transform": self.transform.to_dict(),
            "confidence": self.confidence,
            "overlap": self.overlap,
            "gain": self.gain,
            "bias": self.bias,
            "iterations": self.iterations,
            "converged": self.converged,
        }


def _scaled(hessian: np.ndarray, gradient: np.ndarray, gain: float, chosen: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """The normal equations of the chosen parameters. The last two parameters are gain and bias; the
    geometric columns of the Jacobian scale with the gain."""
    scaling = np.where(np.arange(len(gradient)) < len(gradient) - 2, gain, 1.0)
    return (hessian * np.outer(scaling, scaling))[np.ix_(chosen, chosen)], (gradient * scaling)[chosen]


def _solve(hessian: np.ndarray, gradient: np.ndarray, gain: float, chosen: list[int]) -> np.ndarray | None:
    """Gauss-Newton step of the chosen parameters, or None if the equations are singular."""
    h, g = _scaled(hessian, gradient, gain, chosen)
    try:
        step = -np.linalg.solve(h, g)
    except np.linalg.LinAlgError:
        return None
    return step if np.all(np.isfinite(step)) else None


@dataclass
class _Estimate:
    matrix: np.ndarray
    gain: float
    bias: float


def _normal_equations(
    reference: np.ndarray, moving: np.ndarray, estimate: _Estimate, affine: bool, sums: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """8 x 8 Hessian, gradient (unit gain) and (count, sum e², sum m²) at the current estimate."""
    rows = reference.shape[0]
    if affine:
        center = ((reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2)
        # The kernel works about the centre: the compositional update is p -> p + B (p - centre) + s.
        _run(
            _affine_sums,
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
    _run(
        _translation_sums,
        reference.size,
        reference,
        moving,
        np.full(rows, estimate.matrix[0, 2]),
        np.full(rows, estimate.matrix[1, 2]),
        np.full(rows, estimate.gain),
        np.full(rows, estimate.bias),
        sums,
    )
    small_h, small_g, stats = _translation_system(sums.sum(axis=0))
    hessian = np.zeros((8, 8))
    gradient = np.zeros(8)
    hessian[np.ix_(_TRANSLATION_INDEX, _TRANSLATION_INDEX)] = small_h
    gradient[_TRANSLATION_INDEX] = small_g
    return hessian, gradient, stats


def _refine(
    reference: np.ndarray,
    moving: np.ndarray,
    estimate: _Estimate,
    chosen: list[int],
    *,
    tolerance: float,
    max_iterations: int,
) -> tuple[_Estimate, int, np.ndarray, bool]:
    """Gauss-Newton on one pyramid level: (estimate, iterations, statistics, converged)."""
    affine = len(set(chosen) - set(_TRANSLATION_INDEX)) > 0
    sums = np.empty((reference.shape[0], _AFFINE_SUMS if affine else _TRANSLATION_SUMS))
    center = np.array([(reference.shape[0] - 1) / 2, (reference.shape[1] - 1) / 2])
    corners = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]) * (2 * center) - center
    stats = np.zeros(3)
    previous = np.zeros(6)
    for iteration in range(1, max_iterations + 1):
        hessian, gradient, stats = _normal_equations(reference, moving, estimate, affine, sums)
        step = _solve(hessian, gradient, estimate.gain, chosen) if stats[0] >= 8 * len(chosen) else None
        if step is None:
            return estimate, iteration, stats, False
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
            return estimate, iteration, stats, False  # diverging: registration of unrelated images
        estimate = _Estimate(matrix, estimate.gain + delta[6], estimate.bias + delta[7])
        moved = np.abs(corners @ linear.T + [delta[2], delta[5]]).max()
        if moved < tolerance or (swinging and moved < 10 * tolerance):
            return estimate, iteration, stats, True
    return estimate, max_iterations, stats, False


def _coarse_to_fine(
    refs: list[np.ndarray], movs: list[np.ndarray], chosen: list[int], *, tolerance: float, max_iterations: int
) -> tuple[_Estimate, int, np.ndarray, bool]:
    """Phase correlation on the coarsest level, then Gauss-Newton on every level down to the finest."""
    shift, _ = _phase_correlation(refs[-1], movs[-1])
    if chosen == _TRAVEL_ONLY:
        shift[0] = 0.0
    matrix = np.eye(3)
    matrix[:2, 2] = shift
    coarse_ref = refs[-1][np.isfinite(refs[-1])]
    coarse_mov = movs[-1][np.isfinite(movs[-1])]
    gain = float(coarse_mov.std() / max(float(coarse_ref.std()), 1e-12))
    estimate = _Estimate(matrix, gain, float(coarse_mov.mean() - gain * coarse_ref.mean()))
    iterations = 0
    converged = True
    stats = np.zeros(3)
    to_coarser = np.linalg.inv(_TO_FINER)
    for level in range(len(refs) - 1, -1, -1):
        if level < len(refs) - 1:
            estimate.matrix = _TO_FINER @ estimate.matrix @ to_coarser
        estimate, used, stats, level_converged = _refine(
            refs[level], movs[level], estimate, chosen, tolerance=tolerance, max_iterations=max_iterations
        )
        iterations += used
        converged = converged and level_converged
    return estimate, iterations, stats, converged


def register(
    reference: Any,
    moving: Any,
    *,
    model: TransformModel | str = TransformModel.AFFINE,
    features: Features | str = Features.GRADIENT,
    reference_mask: Any = None,
    moving_mask: Any = None,
    levels: int | None = None,
    tolerance: float = 0.01,
    max_iterations: int = 50,
) -> Registration:
    """Find the transform that maps the reference image onto the moving image.

    Parameters
    ----------
    reference, moving
        2-D images of one object (attenuation or any monotonic calibration), at least 8 × 8; they may
        differ in size and in energy. NaN pixels are ignored.
    model
        ``"translation"``, ``"travel_scale"`` or ``"affine"`` (:class:`TransformModel`).
    features
        ``"gradient"`` or ``"intensity"`` (:class:`Features`): what the fine registration compares.
    reference_mask, moving_mask
        Boolean arrays, True for pixels to use: leave out air and saturated pixels, which carry no
        structure (see :func:`valid_mask`).
    levels
        Pyramid levels; by default halve until the longer side is at most 256 pixels.
    tolerance
        A level is done when an iteration moves no corner of the frame by more than this (pixels).
    max_iterations
        Limit of Gauss–Newton iterations per level.

    Returns
    -------
    Registration
        The transform, a confidence score, the overlap and whether every level converged.

    Raises
    ------
    ValidationError
        Bad arrays or options, or images without enough valid pixels to register.

    Examples
    --------
    >>> rows, cols = np.mgrid[0:128, 0:256]
    >>> reference = np.sin(rows / 6.0) + np.cos(cols / 9.0) + (rows * cols) / 8000.0
    >>> truth = AffineTransform.from_parameters(translation=(1.2, -3.4), scale=(1.0, 1.01), center=(64, 128))
    >>> moving = truth.inverse().warp(reference, order="bicubic")
    >>> result = register(reference, moving, model="travel_scale")
    >>> round(result.transform.parameters()["scale_travel"], 3)
    1.01
    """
    kind = _common.option(TransformModel, model, "model")
    compared = _common.option(Features, features, "features")
    ref, valid_reference = _prepare(reference, reference_mask, "reference")
    mov, _ = _prepare(moving, moving_mask, "moving")
    levels = _levels(levels, ref.shape, mov.shape)
    _check_iterations(tolerance, max_iterations)
    refs = _pyramid(ref, levels)
    movs = _pyramid(mov, levels)
    estimate, iterations, stats, converged = _coarse_to_fine(
        _features(refs, compared),
        _features(movs, compared),
        _MODEL_PARAMETERS[kind],
        tolerance=tolerance,
        max_iterations=max_iterations,
    )
    confidence_level = min(1, levels - 1)
    return Registration(
        transform=AffineTransform(estimate.matrix),
        confidence=_gradient_correlation(
            refs[confidence_level], movs[confidence_level], estimate.matrix, confidence_level
        ),
        overlap=float(stats[0]) / max(valid_reference, 1),
        gain=estimate.gain,
        bias=estimate.bias,
        iterations=iterations,
        converged=converged,
    )


def _features(pyramid: list[np.ndarray], features: Features) -> list[np.ndarray]:
    return [_gradient_features(level) for level in pyramid] if features is Features.GRADIENT else pyramid


def _levels(levels: int | None, shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> int:
    if levels is None:
        return _auto_levels(shape_a, shape_b, 256)
    if not 1 <= levels <= 16 or min(*shape_a, *shape_b) >> (levels - 1) < 8:
        raise ValidationError(f"levels must leave at least 8 × 8 pixels on the coarsest level, got {levels}")
    return levels


def _check_iterations(tolerance: float, max_iterations: int) -> None:
    if not (tolerance > 0 and max_iterations >= 1):
        raise ValidationError(
            f"tolerance must be positive and max_iterations at least 1, got {tolerance} and {max_iterations}"
        )


@njit(cache=True, parallel=True, fastmath=_FAST)
def _gradient_sums(first: np.ndarray, second: np.ndarray, sums: np.ndarray) -> None:
    """Per-row sums of the central-difference gradients of two images where both are defined:
    count, the four component sums, both squared norms and the dot product."""
    rows, cols = first.shape
    for i in prange(rows):
        acc = np.zeros(8)
        if 0 < i < rows - 1:
            a_above = first[i - 1, 1 : cols - 1]
            a_below = first[i + 1, 1 : cols - 1]
            a_line = first[i]
            b_above = second[i - 1, 1 : cols - 1]
            b_below = second[i + 1, 1 : cols - 1]
            b_line = second[i]
            n = sar = sac = sbr = sbc = saa = sbb = sab = 0.0
            for k in range(cols - 2):
                ar = a_below[k] - a_above[k]
                ac = a_line[k + 2] - a_line[k]
                br = b_below[k] - b_above[k]
                bc = b_line[k + 2] - b_line[k]
                ok = ar == ar and ac == ac and br == br and bc == bc
                ar = ar if ok else 0.0
                ac = ac if ok else 0.0
                br = br if ok else 0.0
                bc = bc if ok else 0.0
                n += 1.0 if ok else 0.0
                sar += ar
                sac += ac
                sbr += br
                sbc += bc
                saa += ar * ar + ac * ac
                sbb += br * br + bc * bc
                sab += ar * br + ac * bc
            acc[0] = n
            acc[1] = sar
            acc[2] = sac
            acc[3] = sbr
            acc[4] = sbc
            acc[5] = saa
            acc[6] = sbb
            acc[7] = sab
        for k in range(8):
            sums[i, k] = acc[k]


def gradient_correlation_reference(first: np.ndarray, second: np.ndarray) -> float:
    """Plain-numpy reference of the correlation computed from :func:`_gradient_sums`, for tests."""
    a = first.astype(np.float64)
    b = second.astype(np.float64)
    parts = [(x[2:, 1:-1] - x[:-2, 1:-1], x[1:-1, 2:] - x[1:-1, :-2]) for x in (a, b)]
    valid = np.logical_and.reduce([np.isfinite(c) for pair in parts for c in pair])
    (ar, ac), (br, bc) = [(r[valid] - r[valid].mean(), c[valid] - c[valid].mean()) for r, c in parts]
    return float(np.clip((ar * br + ac * bc).sum() / np.sqrt((ar**2 + ac**2).sum() * (br**2 + bc**2).sum()), 0, 1))


def _correlation_from_sums(total: np.ndarray) -> float:
    n, sar, sac, sbr, sbc, saa, sbb, sab = total
    if n < 2:
        return 0.0
    covariance = sab - (sar * sbr + sac * sbc) / n
    variance_a = saa - (sar**2 + sac**2) / n
    variance_b = sbb - (sbr**2 + sbc**2) / n
    if not (variance_a > 0 and variance_b > 0):
        return 0.0
    return float(np.clip(covariance / math.sqrt(variance_a * variance_b), 0.0, 1.0))


def _gradient_correlation(reference: np.ndarray, moving: np.ndarray, matrix: np.ndarray, level: int) -> float:
    """Correlation of the gradients of the reference and the warped moving image on one pyramid level."""
    to_level = np.linalg.matrix_power(np.linalg.inv(_TO_FINER), level)
    level_matrix = to_level @ matrix @ np.linalg.inv(to_level)
    warped = np.empty(reference.shape, np.float32)
    _run(_warp, warped.size, moving, level_matrix, np.zeros(reference.shape[0]), warped, np.nan, False)
    sums = np.empty((reference.shape[0], 8))
    _run(_gradient_sums, warped.size, reference, warped, sums)
    return _correlation_from_sums(sums.sum(axis=0))


# ---------------------------------------------------------------------------------------------------------------
# Dual-energy channel alignment


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
    ref, _ = _prepare(reference, _measured_mask(reference, reference_mask, max_attenuation), "reference channel")
    oth, _ = _prepare(other, _measured_mask(other, other_mask, max_attenuation), "other channel")
    if ref.shape != oth.shape:
        raise ValidationError(f"channels must have one shape, got {ref.shape} and {oth.shape}")
    _check_iterations(tolerance, max_iterations)
    if not max_uncertainty > 0:
        raise ValidationError(f"max_uncertainty must be positive, got {max_uncertainty}")
    starts = _segment_starts(segments, ref.shape[0])
    levels = _levels(None, ref.shape, oth.shape)
    refs = _features(_pyramid(ref, levels), compared)
    oths = _features(_pyramid(oth, levels), compared)
    estimate, _, stats, _ = _coarse_to_fine(
        refs, oths, _TRAVEL_ONLY, tolerance=tolerance, max_iterations=max_iterations
    )
    ref, oth = refs[0], oths[0]
    offset = float(estimate.matrix[1, 2])
    count = len(starts)
    if not (math.isfinite(offset) and abs(offset) <= max_offset):
        nothing = np.full(count, np.nan)
        reason = f"the global offset ran away to {offset:.3g} columns (limit {max_offset:g}): too little structure"
        return ChannelOffset(math.nan, starts, nothing, nothing.copy(), ref.shape[0], reason)
    noise = stats[1] / max(stats[0], 1.0)  # residual variance of the global fit
    sizes = np.diff(np.append(starts, ref.shape[0]))
    offsets = np.full(count, offset)
    uncertainty = np.full(count, np.nan)
    gains = np.full(count, estimate.gain)
    biases = np.full(count, estimate.bias)
    active = np.ones(count, bool)
    sums = np.empty((ref.shape[0], _TRANSLATION_SUMS))
    zeros = np.zeros(ref.shape[0])
    for _ in range(max_iterations):
        _run(
            _translation_sums,
            ref.size,
            ref,
            oth,
            zeros,
            np.repeat(offsets, sizes),
            np.repeat(gains, sizes),
            np.repeat(biases, sizes),
            sums,
        )
        totals = np.add.reduceat(sums, starts, axis=0)
        changed = 0.0
        for k in np.flatnonzero(active):
            hessian, gradient, stats = _translation_system(totals[k])
            h, g = _scaled(hessian, gradient, gains[k], [1, 2, 3])
            try:
                inverse = np.linalg.inv(h) if stats[0] >= 64 else None
            except np.linalg.LinAlgError:
                inverse = None
            step = None if inverse is None else -inverse @ g
            if step is None or not np.all(np.isfinite(step)) or abs(step[0]) > 2.0:
                active[k] = False  # no structure, or running away from the global offset
                offsets[k] = np.nan
                continue
            assert inverse is not None
            uncertainty[k] = math.sqrt(max(noise * inverse[0, 0], 0.0))
            offsets[k] += step[0]
            gains[k] += step[1]
            biases[k] += step[2]
            changed = max(changed, abs(step[0]))
        if changed < tolerance:
            break
    scatter = _chunk_scatter(ref, oth, starts, sizes, offsets, gains, biases)
    uncertainty = np.fmax(uncertainty, np.where(np.isfinite(offsets), scatter, np.nan))
    offsets[~(uncertainty <= max_uncertainty)] = np.nan
    return ChannelOffset(offset, starts, offsets, uncertainty, ref.shape[0])


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
    sums = np.empty((ref.shape[0], _TRANSLATION_SUMS))
    zeros = np.zeros(ref.shape[0])
    for c, (left, right) in enumerate(itertools.pairwise(edges)):
        if right - left < 16:
            continue
        part_ref, part_oth = np.ascontiguousarray(ref[:, left:right]), np.ascontiguousarray(oth[:, left:right])
        _run(
            _translation_sums,
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
            hessian, gradient, stats = _translation_system(total)
            step = _solve(hessian, gradient, gains[k], [1, 2, 3]) if stats[0] >= 64 else None
            if step is not None and np.all(np.isfinite(step)) and abs(step[0]) <= 2.0:
                found[c, k] = offsets[k] + step[0]
    counts = np.isfinite(found).sum(axis=0)
    mean = np.nansum(found, axis=0) / np.maximum(counts, 1)
    variance = np.nansum((found - mean) ** 2, axis=0) / np.maximum(counts - 1, 1)
    return np.where(counts >= 3, np.sqrt(variance / np.maximum(counts, 1)), np.inf)

"""Synthetic cargo radiographs rendered analytically, for registration and comparison tests.

A :class:`CargoScene` is a sum of soft-edged objects (container walls, corrugated side walls, boxes,
drums, clutter, wheels, one dense block that saturates) in attenuation units, defined in continuous
(row, column) coordinates. It is evaluated at any points, so a moving image is rendered by sampling the
scene at the truly transformed pixel positions: the ground truth never goes through an image warp.
Each object has its own low/high attenuation ratio, so the two energies differ by material, as in a
real dual-energy scanner. :func:`measure` turns attenuation into what a detector reports: Poisson-like
noise on the transmission and saturation where too few photons get through.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SATURATION = 6.0
"""Attenuation reported when the transmission is below the detector's floor (exp(-6))."""


@dataclass(frozen=True)
class _Object:
    kind: str  # "box", "drum", "blob"
    center: tuple[float, float]
    half_size: tuple[float, float]
    angle: float  # radians, rotation of the object's own axes
    value: float  # high-energy attenuation
    ratio: float  # low-energy / high-energy attenuation
    period: float = 0.0  # corrugation period along travel (columns), 0 for none


def _edge(distance: np.ndarray, width: float) -> np.ndarray:
    # Detector blur turns a sharp edge into a smooth step: 0 outside, 1 inside.
    return 0.5 * (1.0 + np.tanh(distance / width))


class CargoScene:
    """A random container on a truck, reproducible from ``seed``, in a nominal frame of ``shape``."""

    def __init__(self, shape: tuple[int, int], *, seed: int, cargo: int = 30) -> None:
        rows, cols = shape
        rng = np.random.default_rng(seed)
        top, bottom, front, back = 0.1 * rows, 0.86 * rows, 0.03 * cols, 0.97 * cols
        mid_r, mid_c = (top + bottom) / 2, (front + back) / 2
        half_r, half_c = (bottom - top) / 2, (back - front) / 2
        objects = [
            _Object("box", (mid_r, mid_c), (half_r, half_c), 0.0, 0.12, 1.25, period=9.7),  # side walls
            _Object("box", (top + 1.5, mid_c), (1.5, half_c), 0.0, 0.6, 1.25),  # roof
            _Object("box", (bottom - 3.0, mid_c), (3.0, half_c), 0.0, 1.0, 1.15),  # floor
            _Object("box", (mid_r, front + 2.5), (half_r, 2.5), 0.0, 1.8, 1.25),  # front wall
            _Object("box", (mid_r, back - 2.5), (half_r, 2.5), 0.0, 1.8, 1.25),  # back wall
            _Object("box", (0.9 * rows, mid_c), (0.012 * rows, half_c * 0.95), 0.0, 1.5, 1.3),  # chassis
        ]
        for fraction in (0.12, 0.2, 0.75, 0.85):  # wheels
            radius = 0.045 * rows
            objects.append(_Object("drum", (0.93 * rows, fraction * cols), (radius, radius), 0.0, 2.5, 1.3))
        for _ in range(cargo):
            kind = "drum" if rng.random() < 0.3 else "box"
            size = (rng.uniform(0.03, 0.18) * rows, rng.uniform(0.008, 0.05) * cols)
            center = (rng.uniform(top + size[0], bottom - size[0]), rng.uniform(front + size[1], back - size[1]))
            angle = rng.uniform(-0.3, 0.3) if kind == "box" and rng.random() < 0.3 else 0.0
            objects.append(_Object(kind, center, size, angle, rng.uniform(0.2, 2.0), rng.uniform(1.02, 1.45)))
        for _ in range(4):  # clutter: bags of small items
            size = (rng.uniform(0.08, 0.2) * rows, rng.uniform(0.03, 0.08) * cols)
            center = (rng.uniform(top + size[0], bottom - size[0]), rng.uniform(front + size[1], back - size[1]))
            ratio = rng.uniform(1.05, 1.3)
            for _ in range(40):
                spot = (center[0] + rng.uniform(-size[0], size[0]), center[1] + rng.uniform(-size[1], size[1]))
                sigma = rng.uniform(1.2, 3.0)
                objects.append(_Object("blob", spot, (sigma, sigma), 0.0, rng.uniform(0.1, 0.5), ratio))
        dense = (rng.uniform(top + 0.15 * rows, bottom - 0.15 * rows), rng.uniform(0.3, 0.7) * cols)
        objects.append(_Object("box", dense, (0.07 * rows, 0.015 * cols), 0.0, 7.0, 1.3))  # saturates
        self.shape = shape
        self.objects = objects

    def render(
        self, shape: tuple[int, int], *, matrix: np.ndarray | None = None, energy: str = "high", blur: float = 0.6
    ) -> np.ndarray:
        """Attenuation image of ``shape`` whose pixel (row, col) shows the scene at ``matrix @ (row, col, 1)``
        (identity when None), seen with edge blur ``blur`` pixels."""
        m = np.eye(3) if matrix is None else np.asarray(matrix, np.float64)
        inverse = np.linalg.inv(m)
        total = np.zeros(shape)
        for obj in self.objects:
            # Only the pixels that can see the object are evaluated: the pre-image of its bounding box.
            blob = obj.kind == "blob"
            reach = 5 * np.hypot(obj.half_size[0], blur) if blob else np.hypot(*obj.half_size) + 6 * blur
            corners = np.array(
                [[obj.center[0] + a * reach, obj.center[1] + b * reach, 1.0] for a in (-1, 1) for b in (-1, 1)]
            )
            pixels = corners @ inverse.T
            r0, c0 = np.maximum(np.floor(pixels[:, :2].min(axis=0)).astype(int), 0)
            r1, c1 = np.minimum(np.ceil(pixels[:, :2].max(axis=0)).astype(int) + 1, shape)
            if r0 >= r1 or c0 >= c1:
                continue
            rows, cols = np.meshgrid(
                np.arange(r0, r1, dtype=np.float64), np.arange(c0, c1, dtype=np.float64), indexing="ij"
            )
            r = m[0, 0] * rows + m[0, 1] * cols + m[0, 2]
            c = m[1, 0] * rows + m[1, 1] * cols + m[1, 2]
            value = obj.value * (obj.ratio if energy == "low" else 1.0)
            total[r0:r1, c0:c1] += value * self._shape(obj, r, c, blur)
        return total

    @staticmethod
    def _shape(obj: _Object, r: np.ndarray, c: np.ndarray, blur: float) -> np.ndarray:
        if obj.kind == "blob":
            width = np.hypot(obj.half_size[0], blur)
            return np.exp(-((r - obj.center[0]) ** 2 + (c - obj.center[1]) ** 2) / (2 * width**2))
        cos, sin = np.cos(obj.angle), np.sin(obj.angle)
        u = cos * (r - obj.center[0]) + sin * (c - obj.center[1])
        v = -sin * (r - obj.center[0]) + cos * (c - obj.center[1])
        if obj.kind == "drum":
            rho = np.hypot(u / obj.half_size[0], v / obj.half_size[1])
            inside = _edge((1.0 - rho) * min(obj.half_size), blur)
            return inside * (0.6 + 0.4 * np.sqrt(np.clip(1.0 - rho**2, 0.0, None)))
        shape = _edge(obj.half_size[0] - np.abs(u), blur) * _edge(obj.half_size[1] - np.abs(v), blur)
        if obj.period:
            shape *= 1.0 + 0.25 * np.sin(2 * np.pi * c / obj.period)
        return shape


def measure(attenuation: np.ndarray, *, photons: float = 1e4, seed: int) -> np.ndarray:
    """What the detector reports: attenuation from a noisy transmission, saturated at :data:`SATURATION`.

    ``photons`` is the open-beam photon count per pixel; the transmission gets Poisson-like noise of
    variance ``transmission / photons``.
    """
    rng = np.random.default_rng(seed)
    transmission = np.exp(-attenuation)
    transmission = transmission + rng.standard_normal(attenuation.shape) * np.sqrt(transmission / photons)
    return (-np.log(np.clip(transmission, np.exp(-SATURATION), None))).astype(np.float32)


def affine_matrix(
    *,
    shift: tuple[float, float] = (0.0, 0.0),
    travel_scale: float = 1.0,
    rotation_deg: float = 0.0,
    shear: float = 0.0,
    center: tuple[float, float] = (0.0, 0.0),
) -> np.ndarray:
    """3×3 matrix on (row, col, 1) of a test truth, built here independently of nii's transform class.

    The content of the moving image is the reference's rotated by ``rotation_deg`` (counter-clockwise as
    displayed, rows down), stretched by ``travel_scale`` along the columns and sheared so each row is
    delayed by ``shear`` columns per row, about ``center``, then shifted by ``shift``.
    """
    angle = np.deg2rad(rotation_deg)
    # On (row, col) with rows pointing down, this matrix turns the column axis towards row -1: upwards,
    # counter-clockwise as displayed.
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    linear = rotation @ np.array([[1.0, 0.0], [shear, 1.0]]) @ np.diag([1.0, travel_scale])
    center_v = np.asarray(center, np.float64)
    matrix = np.eye(3)
    matrix[:2, :2] = linear
    matrix[:2, 2] = center_v + np.asarray(shift, np.float64) - linear @ center_v
    return matrix


def scanner_pair(
    truth: np.ndarray,
    *,
    seed: int,
    shape: tuple[int, int] = (256, 1024),
    moving_shape: tuple[int, int] | None = None,
    energy: str = "low",
    scene_seed: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One container seen by two scanners: the reference at high energy with sharp edges, the moving image
    at ``energy`` with more blur and noise, its pixel p showing the reference's point ``inv(truth) @ p``.
    A ``scene_seed`` other than ``seed`` renders the moving image from another container (an unrelated pair).
    """
    scene = CargoScene(shape, seed=seed)
    other = scene if scene_seed is None else CargoScene(shape, seed=scene_seed)
    reference = measure(scene.render(shape), seed=seed)
    moving_attenuation = other.render(moving_shape or shape, matrix=np.linalg.inv(truth), energy=energy, blur=0.8)
    return reference, measure(moving_attenuation, photons=5e3, seed=seed + 1000)

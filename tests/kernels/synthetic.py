"""Small synthetic detector frames with known truth, for the kernel tests."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Frame:
    """Raw counts of a known attenuation image with dark/air references and a source monitor."""

    raw: np.ndarray
    dark: np.ndarray
    air: np.ndarray
    reference: np.ndarray
    attenuation: np.ndarray
    """The noiseless truth."""
    noiseless_transmission: np.ndarray


def smooth_attenuation(rows: int, lines: int) -> np.ndarray:
    """A ramp along the lines plus a block and a smooth bump: everything from open beam to A = 9."""
    a = np.tile(np.linspace(0.0, 6.0, lines), (rows, 1))
    a[rows // 4 : rows // 2, lines // 5 : lines // 2] += 2.0
    y, x = np.mgrid[0:rows, 0:lines]
    a += 1.0 * np.exp(-(((y - rows * 0.7) / (rows * 0.15)) ** 2 + ((x - lines * 0.7) / (lines * 0.1)) ** 2))
    return a


def make_frame(
    rows: int = 64,
    lines: int = 96,
    *,
    seed: int = 0,
    air_level: float = 50000.0,
    fluctuation: float = 0.0,
    attenuation: np.ndarray | None = None,
) -> Frame:
    """Poisson counts through ``attenuation`` with per-element dark and gain, and optional source fluctuation."""
    rng = np.random.default_rng(seed)
    a = smooth_attenuation(rows, lines) if attenuation is None else attenuation
    dark_level = rng.uniform(80, 120, rows)
    gain = air_level * rng.uniform(0.9, 1.1, rows)
    source = 1.0 + fluctuation * rng.uniform(-1, 1, lines)
    expected = gain[:, None] * source[None, :] * np.exp(-a)
    raw = np.clip(rng.poisson(expected) + np.round(dark_level)[:, None], 0, 65535).astype(np.uint16)
    dark = np.round(dark_level)[:, None] + rng.normal(0, 0.5, (rows, 8))
    air = gain[:, None] + np.round(dark_level)[:, None] + rng.normal(0, np.sqrt(gain / 8)[:, None], (rows, 8))
    return Frame(raw, dark, air, source, a, np.exp(-a))

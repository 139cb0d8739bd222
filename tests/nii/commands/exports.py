"""Vendor-like exports for the read-option tests: a headerless raw file with its dark and air lines, and the
profile that describes it (the object lines start at ``first_line`` of the simulated scan, so two exports of one
scan are two passes of one truck, the second entering later)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from nii.model import View

RAW_PROFILE = """
[profile]
name = "portal B, headerless raw"

[data]
dtype = "uint16"
layout = "line"
channels = ["high", "low"]
rows = {rows}
lines = "auto"
dark_lines = {dark}
air_lines = {air}

[scan]
acquired_at = "file-mtime"

[geometry]
detector_spacing_mm = 5.0
travel_spacing_mm = 5.0

[scanner]
manufacturer = "Example"
energies_kv = {{ high = 6000, low = 4000 }}
"""


def write_raw_export(path: Path, view: View, *, first_line: int = 0) -> None:
    """``view``'s dark, air and object lines (from ``first_line``) as the profile's line-interleaved uint16 bytes."""
    channels = ("high", "low")
    per_channel = [
        np.concatenate([view.dark[c], view.air[c], np.asarray(view.channels[c])[:, first_line:]], axis=1)
        for c in channels
    ]
    samples = np.stack(per_channel).transpose(2, 0, 1)  # [line][channel][row]
    path.write_bytes(np.round(samples).clip(0, 65535).astype("<u2").tobytes())


def raw_profile(path: Path, view: View) -> Path:
    """The profile of :func:`write_raw_export`'s files of ``view``, written to ``path``."""
    path.write_text(
        RAW_PROFILE.format(rows=view.shape[0], dark=view.dark["high"].shape[1], air=view.air["high"].shape[1])
    )
    return path

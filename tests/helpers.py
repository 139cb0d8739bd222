"""Assertions shared by format tests."""

from __future__ import annotations

import numpy as np

from nii.metadata import scan_to_dict
from nii.model import Scan


def assert_scans_equal(actual: Scan, expected: Scan, *, ignore: tuple[str, ...] = ("provenance",)) -> None:
    """Every metadata field and every array equal (pixels bit-exact)."""
    a, e = scan_to_dict(actual), scan_to_dict(expected)
    for key in ignore:
        a.pop(key, None)
        e.pop(key, None)
    assert a == e
    for view_a, view_e in zip(actual.views, expected.views, strict=True):
        for group in ("channels", "dark", "air", "reference"):
            for name, array in getattr(view_e, group).items():
                got = getattr(view_a, group)[name]
                assert got.dtype == array.dtype, (view_e.name, group, name)
                np.testing.assert_array_equal(got, array)
        if view_e.geometry.line_positions_mm is not None:
            np.testing.assert_array_equal(view_a.geometry.line_positions_mm, view_e.geometry.line_positions_mm)
    for volume_a, volume_e in zip(actual.volumes, expected.volumes, strict=True):
        assert volume_a.data.dtype == volume_e.data.dtype, volume_e.name
        np.testing.assert_array_equal(volume_a.data, volume_e.data)
    for threat_a, threat_e in zip(actual.threats, expected.threats, strict=True):
        if threat_e.mask is not None:
            np.testing.assert_array_equal(threat_a.mask, threat_e.mask)

"""Threats in voxel coordinates: on a scan's volume, or on images a threat report references."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.metadata import scan_arrays, scan_from_dict, scan_to_dict
from nii.model import Scan, Volume
from nii.volume_threats import Box3D, ImageReference, VolumeThreat

MOMENT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
DX_CLASS = "1.2.840.10008.5.1.4.1.1.501.2.2"


def _volume() -> Volume:
    return Volume("ct", np.zeros((5, 6, 7), np.uint16))


def test_a_volume_threat_lies_inside_its_volume():
    mask = np.ones((2, 3, 4), bool)
    threat = VolumeThreat(Box3D(3, 3, 3, 4, 3, 2), volume="ct", mass=350.0, mask=mask)
    scan = Scan([], MOMENT, volumes=[_volume()], volume_threats=[threat])
    assert scan.volume_threats[0].box.slices == (slice(3, 5), slice(3, 6), slice(3, 7))
    with pytest.raises(ValidationError, match="lies outside volume 'ct'"):
        Scan([], MOMENT, volumes=[_volume()], volume_threats=[VolumeThreat(Box3D(4, 0, 0, 4, 1, 1), volume="ct")])
    with pytest.raises(ValidationError, match="unknown volume 'cbct'"):
        Scan([], MOMENT, volumes=[_volume()], volume_threats=[VolumeThreat(Box3D(0, 0, 0, 1, 1, 1), volume="cbct")])
    with pytest.raises(ValidationError, match="threat mask has shape"):
        VolumeThreat(Box3D(0, 0, 0, 1, 1, 1), volume="ct", mask=mask)


def test_a_report_alone_is_a_scan_of_references():
    reference = ImageReference(DX_CLASS, "2.25.12")
    threat = VolumeThreat(Box3D(10, 20, 0, 30, 5, 1), references=(reference,), category="contraband", probability=0.8)
    scan = Scan([], MOMENT, volume_threats=[threat], referenced_images=[reference])
    assert scan.volume_threats[0].category == "CONTRABAND"
    with pytest.raises(ValidationError, match="needs a volume or references"):
        VolumeThreat(Box3D(0, 0, 0, 1, 1, 1))
    with pytest.raises(ValidationError, match="not both"):
        VolumeThreat(Box3D(0, 0, 0, 1, 1, 1), volume="ct", references=(reference,))
    with pytest.raises(ValidationError, match="is not a valid UID"):
        ImageReference(DX_CLASS, "not-a-uid")
    with pytest.raises(ValidationError, match="at least one view or one volume, or references"):
        Scan([], MOMENT, volume_threats=[threat])


def test_volume_threats_and_references_survive_the_metadata_document():
    reference = ImageReference(DX_CLASS, "2.25.12")
    scan = Scan(
        [],
        MOMENT,
        volumes=[_volume()],
        volume_threats=[
            VolumeThreat(Box3D(1, 2, 3, 2, 2, 2), volume="ct", mask=np.eye(2, dtype=bool)[None].repeat(2, 0)),
            VolumeThreat(Box3D(0, 0, 0, 5, 5, 1), references=(reference,), density=1.6, algorithm="atr"),
        ],
        referenced_images=[reference],
    )
    back = scan_from_dict(scan_to_dict(scan), scan_arrays(scan))
    assert back.referenced_images == [reference]
    assert [t.box for t in back.volume_threats] == [t.box for t in scan.volume_threats]
    np.testing.assert_array_equal(back.volume_threats[0].mask, scan.volume_threats[0].mask)
    assert back.volume_threats[1].density == 1.6 and back.volume_threats[1].algorithm == "atr"

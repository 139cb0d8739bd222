"""The 3-D Volume of the scan model and its lossless metadata mapping."""

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from nii.errors import ValidationError
from nii.metadata import scan_arrays, scan_from_dict, scan_to_dict
from nii.model import CalibrationState, Scan, Volume
from tests.helpers import assert_scans_equal


def make_volume(name: str = "ct", frames: int = 5) -> Volume:
    data = np.arange(frames * 6 * 7, dtype=np.uint16).reshape(frames, 6, 7)
    return Volume(name, data, spacing_mm=(1.5, 0.75, 0.8), origin_mm=(-10.0, 2.5, 0.0), channel="low")


def test_volume_keeps_its_array_and_normalises_fields():
    volume = make_volume()
    assert volume.shape == (5, 6, 7)
    assert volume.spacing_mm == (1.5, 0.75, 0.8)
    assert volume.calibration is CalibrationState.ATTENUATION
    data = np.zeros((2, 3, 4), np.int16)
    assert Volume("v", data).data is data


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"data": np.zeros((3, 4), np.uint16)}, "3-D"),
        ({"spacing_mm": (1.0, 0.0, 1.0)}, "positive"),
        ({"spacing_mm": (1.0, 1.0)}, "3 values"),
        ({"origin_mm": (0.0, float("nan"), 0.0)}, "finite"),
        ({"name": "CT"}, "volume name"),
        ({"channel": "High"}, "channel name"),
    ],
)
def test_volume_refuses_invalid_fields(changes, message):
    fields = {"name": "ct", "data": np.zeros((2, 3, 4), np.uint16), **changes}
    with pytest.raises(ValidationError, match=message):
        Volume(**fields)


def test_scan_may_hold_only_volumes_but_not_nothing():
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    scan = Scan(views=[], volumes=[make_volume()], acquired_at=moment)
    assert scan.volume("ct").shape == (5, 6, 7)
    with pytest.raises(ValidationError, match="at least one view or one volume"):
        Scan(views=[], acquired_at=moment)
    with pytest.raises(ValidationError, match="volume names must be unique"):
        Scan(views=[], volumes=[make_volume(), make_volume()], acquired_at=moment)


def test_volume_metadata_round_trip_is_lossless(scan):
    scan.volumes = [make_volume("high"), make_volume("low", frames=3)]
    document = json.loads(json.dumps(scan_to_dict(scan)))
    assert document["volumes"][0]["key"] == "volumes/high/data"
    arrays = scan_arrays(scan)
    assert arrays["volumes/low/data"] is scan.volumes[1].data
    rebuilt = scan_from_dict(document, arrays)
    assert_scans_equal(rebuilt, scan, ignore=())


def test_documents_without_volumes_still_read(scan):
    document = scan_to_dict(scan)
    del document["volumes"]
    assert scan_from_dict(document, scan_arrays(scan)).volumes == []

import json

from nii.metadata import scan_arrays, scan_from_dict, scan_to_dict
from tests.helpers import assert_scans_equal


def test_metadata_round_trip_is_lossless(scan):
    document = json.loads(json.dumps(scan_to_dict(scan)))
    rebuilt = scan_from_dict(document, scan_arrays(scan))
    assert_scans_equal(rebuilt, scan, ignore=())
    assert rebuilt.operator == scan.operator


def test_personal_data_is_left_out_on_request(scan):
    assert "operator" in scan_to_dict(scan)
    assert "operator" not in scan_to_dict(scan, include_personal=False)

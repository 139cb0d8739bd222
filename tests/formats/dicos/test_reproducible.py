"""Same scan, same options → same bytes; UIDs derive from the scan UID."""

from datetime import UTC, datetime

import pydicom

import nii
from tests.conftest import make_scan


def test_fixed_creation_time_gives_identical_bytes_and_derived_uids(tmp_path):
    scan = make_scan()
    moment = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    nii.write(scan, tmp_path / "a", format="dicos", created_at=moment)
    nii.write(scan, tmp_path / "b", format="dicos", created_at=moment)
    names = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "b").iterdir())
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    first = pydicom.dcmread(tmp_path / "a" / "dx-side-high.dcs")
    assert first.InstanceCreationDate == "20261125" and first.SOPInstanceUID.startswith("2.25.")
    other = make_scan()  # another scan UID: other instance UIDs
    nii.write(other, tmp_path / "c", format="dicos", created_at=moment)
    assert pydicom.dcmread(tmp_path / "c" / "dx-side-high.dcs").SOPInstanceUID != first.SOPInstanceUID
    uids = {pydicom.dcmread(tmp_path / "a" / name).SOPInstanceUID for name in names}
    assert len(uids) == len(names)

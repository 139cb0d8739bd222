import struct
from dataclasses import replace

import numpy as np
import pytest

import nii
from nii.errors import CorruptFileError, TruncatedFileError, UnknownFormatError, UnsupportedError
from nii.formats.ref_packed12 import HEADER_FIELDS, HEADER_SIZE, LINE_HEADER_SIZE
from nii.kernels.decode import packed12_size
from tests.formats.vendor_scans import assert_refused_before_allocating, portal_scan

OFFSETS = {}
_position = 0
for _name, _code in HEADER_FIELDS:
    OFFSETS[_name] = _position
    _position += struct.calcsize("<" + _code)


def patch(path, field, code, value):
    data = bytearray(path.read_bytes())
    struct.pack_into("<" + code, data, OFFSETS[field], value)
    path.write_bytes(bytes(data))


@pytest.fixture
def written(tmp_path):
    scan = portal_scan()
    path = tmp_path / "truck.p12"
    nii.write(scan, path)
    return scan, path


def test_round_trip_keeps_pixels_speeds_and_header_metadata(written):
    scan, path = written
    back = nii.read(path)
    side, original = back.view("side"), scan.view("side")
    for name in ("high", "low"):
        assert back.view("side").channels[name].dtype == np.uint16
        np.testing.assert_array_equal(side.channels[name], original.channels[name])
    positions = original.geometry.line_positions_mm
    # Positions are relative to the first line and rebuilt from float32 speeds.
    np.testing.assert_allclose(side.geometry.line_positions_mm, positions - positions[0], rtol=1e-5)
    assert side.geometry.detector_spacing_mm == 5.0 and side.geometry.travel_spacing_mm == 4.2
    assert back.acquired_at == scan.acquired_at and back.acquired_at.utcoffset() == scan.acquired_at.utcoffset()
    assert back.inspected_object.container_numbers == ("CSQU3054383",)
    assert back.inspected_object.licence_plate == "AB-123-CD"
    assert back.scanner == scan.scanner
    assert back.site.name == "Port of Test" and back.site.machine_id == "GATE-3" and back.site.country == "NL"
    assert back.provenance.source_format == "ref-packed12"


def test_what_the_header_cannot_hold_stays_unknown(written, caplog):
    _, path = written
    back = nii.read(path)
    assert back.inspected_object.declaration is None and back.site.address is None
    assert back.operator is None and back.threats == []
    assert back.view("side").dark == {} and back.view("side").reference == {}


def test_unknown_numbers_are_nan_and_read_back_as_none(tmp_path):
    scan = portal_scan()
    scan = replace(scan, scanner=nii.Scanner(), views=[replace(scan.views[0], geometry=nii.Geometry(5.0, 4.0))])
    path = tmp_path / "bare.p12"
    nii.write(scan, path)
    back = nii.read(path)
    assert back.scanner == nii.Scanner()
    assert back.view("side").geometry.line_positions_mm is None  # no line rate: speeds unknown


def test_file_layout_is_the_documented_one(written):
    _, path = written
    data = path.read_bytes()
    assert data[:8] == b"NIIREF12" and len(data) == HEADER_SIZE + 80 * (LINE_HEADER_SIZE + 2 * packed12_size(48))
    line, speed = struct.unpack_from("<If", data, HEADER_SIZE + 5 * (LINE_HEADER_SIZE + 2 * packed12_size(48)))
    assert line == 5 and speed > 0


def test_header_table_in_the_specification_matches_the_code():
    text = (__import__("pathlib").Path(__file__).parents[2] / "docs/formats/ref-packed12.md").read_text()
    documented = {}
    for row in text.splitlines():
        cells = [cell.strip(" `") for cell in row.split("|")[1:-1]]
        if len(cells) >= 4 and cells[0].isdigit():
            documented[cells[2]] = int(cells[0])
    assert documented == {name: offset for name, offset in OFFSETS.items()}


def test_writer_refuses_what_it_cannot_store(tmp_path):
    scan = portal_scan()
    too_deep = replace(scan.views[0], channels={"high": np.full((48, 80), 5000, np.uint16)})
    with pytest.raises(UnsupportedError, match="0..4095"):
        nii.write(replace(scan, views=[too_deep]), tmp_path / "a.p12")
    two_views = replace(scan, views=[scan.views[0], replace(scan.views[0], name="top")])
    with pytest.raises(UnsupportedError, match="one view"):
        nii.write(two_views, tmp_path / "b.p12")
    assert list(tmp_path.iterdir()) == []


# --- bad input ---------------------------------------------------------------------------


def test_truncated(written):
    _, path = written
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(TruncatedFileError, match=r"truck\.p12.*file holds"):
        nii.read(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(TruncatedFileError, match=r"truck\.p12.*header"):
        nii.read(path)


def test_dimensions_larger_than_the_file(written):
    _, path = written
    patch(path, "lines", "I", 81)
    with pytest.raises(TruncatedFileError, match="81 lines"):
        nii.read(path)


def test_zero_size(written):
    _, path = written
    patch(path, "rows", "I", 0)
    with pytest.raises(CorruptFileError, match="must be positive"):
        nii.read(path)


def test_wrong_magic(written):
    _, path = written
    patch(path, "magic", "8s", b"NIIREF13")
    with pytest.raises(UnknownFormatError, match="truck.p12"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="truck.p12.*magic"):
        nii.read(path, format="ref-packed12")


def test_inconsistent_channel_count(written):
    _, path = written
    patch(path, "channels", "H", 3)
    with pytest.raises(CorruptFileError, match="inconsistent channel count"):
        nii.read(path)


def test_lost_lines_and_a_stopped_vehicle(written):
    _, path = written
    record = LINE_HEADER_SIZE + 2 * packed12_size(48)
    data = bytearray(path.read_bytes())
    struct.pack_into("<I", data, HEADER_SIZE + 7 * record, 9)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="line counter is 9 at line 7"):
        nii.read(path)
    struct.pack_into("<If", data, HEADER_SIZE + 7 * record, 7, 0.0)
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="speed 0.0 mm/s at line 7"):
        nii.read(path)


def test_trailing_bytes(written):
    _, path = written
    path.write_bytes(path.read_bytes() + b"\0" * 10)
    with pytest.raises(CorruptFileError, match="10 bytes after"):
        nii.read(path)


def test_absurd_size_is_refused_before_allocation(written):
    _, path = written
    patch(path, "rows", "I", 900_000)
    patch(path, "lines", "I", 900_000)
    assert_refused_before_allocating(path)

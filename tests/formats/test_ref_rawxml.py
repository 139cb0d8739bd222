import numpy as np
import pytest

import nii
from nii.errors import CorruptFileError, TruncatedFileError, UnknownFormatError, UnsupportedError
from tests.formats.vendor_scans import assert_refused_before_allocating, counts_scan


def edit_header(path, old, new):
    """Replace text in the XML header, keeping its length by taking from the space padding."""
    data = path.read_bytes()
    assert data.count(old) == 1
    end = data.index(b"\n", data.index(b"</RefRawScan>"))
    header = data[: end + 1].replace(old, new)
    padding = len(new) - len(old)
    header = (
        header.replace(b" " * (padding + 1) + b"\n", b" \n") if padding > 0 else header[:-1] + b" " * -padding + b"\n"
    )
    assert len(header) == end + 1
    path.write_bytes(header + data[end + 1 :])


@pytest.fixture
def written(tmp_path):
    scan = counts_scan()
    path = tmp_path / "container.rxr"
    nii.write(scan, path)
    return scan, path


def test_round_trip_keeps_pixels_calibration_lines_references_and_metadata(written):
    scan, path = written
    back = nii.read(path)
    assert back.scan_uid == scan.scan_uid and back.acquired_at == scan.acquired_at
    assert back.inspected_object == scan.inspected_object and back.operator == scan.operator
    assert back.scanner == scan.scanner and back.site == scan.site
    assert back.provenance.source_format == "ref-rawxml"
    for view in scan.views:
        got = back.view(view.name)
        assert got.calibration == view.calibration
        assert (got.geometry.detector_spacing_mm, got.geometry.travel_spacing_mm) == (5.0, 4.2)
        assert got.geometry.line_positions_mm is None  # not stored: unknown, not invented
        for name, channel in view.channels.items():
            assert got.channels[name].dtype == np.uint16
            np.testing.assert_array_equal(got.channels[name], channel)
            # Calibration lines come back as recorded: (rows, k) counts.
            np.testing.assert_array_equal(got.dark[name], view.dark[name].reshape(48, 1))
            np.testing.assert_array_equal(got.air[name], view.air[name])
            np.testing.assert_array_equal(got.reference[name], view.reference[name])
    assert back.threats == []


def test_samples_are_big_endian_and_line_interleaved_after_the_calibration_lines(written):
    scan, path = written
    data = path.read_bytes()
    offset = int(data.split(b'offset="')[1].split(b'"')[0])
    side = scan.view("side")
    records = np.frombuffer(data, dtype=">u2", offset=offset, count=(1 + 4 + 80) * 2 * 50).reshape(85, 2, 50)
    assert records[0, 0, 2:].tolist() == side.dark["high"].astype(np.uint16).tolist()
    assert records[1:5, 1, 2:].tolist() == side.air["low"].astype(np.uint16).T.tolist()
    assert records[5 + 3, 1, 2:].tolist() == side.channels["low"][:, 3].tolist()
    assert records[5 + 3, 0, :2].tobytes() == np.array([side.reference["high"][3]], dtype=">f4").tobytes()


def test_writer_refuses_values_it_cannot_store_exactly(tmp_path):
    scan = counts_scan()
    scan.views[0].reference["high"] = np.full(80, 0.1)  # not exact in float32
    with pytest.raises(UnsupportedError, match="reference values as float32"):
        nii.write(scan, tmp_path / "a.rxr")
    scan = counts_scan()
    del scan.views[0].dark["low"]
    with pytest.raises(UnsupportedError, match="dark lines for all channels or none"):
        nii.write(scan, tmp_path / "b.rxr")
    assert list(tmp_path.iterdir()) == []


# --- bad input ---------------------------------------------------------------------------


def test_truncated(written):
    _, path = written
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(TruncatedFileError, match=r"container\.rxr.*view 'top' needs bytes"):
        nii.read(path)
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(TruncatedFileError, match="XML header"):
        nii.read(path)


def test_dimensions_larger_than_the_file(written):
    _, path = written
    edit_header(
        path,
        b'lines="80" channels="2" dark-lines="1" air-lines="4" offset="18',
        b'lines="90" channels="2" dark-lines="1" air-lines="4" offset="18',
    )
    with pytest.raises(TruncatedFileError, match="view 'top' needs bytes"):
        nii.read(path)


@pytest.mark.parametrize("rows", [b"0", b"-48"])
def test_zero_or_negative_size(written, rows):
    _, path = written
    edit_header(path, b'<View name="top" rows="48"', b'<View name="top" rows="' + rows + b'"')
    with pytest.raises(CorruptFileError, match="container.rxr"):
        nii.read(path)


def test_absurd_size_is_refused_before_allocation(written):
    _, path = written
    edit_header(path, b'<View name="top" rows="48" lines="80"', b'<View name="top" rows="900000" lines="900000"')
    assert_refused_before_allocating(path)


def test_wrong_magic(written):
    _, path = written
    data = path.read_bytes().replace(b"<RefRawScan ", b"<RefRawScam ", 1)
    path.write_bytes(data)
    with pytest.raises(UnknownFormatError, match="container.rxr"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="container.rxr: not a ref-rawxml file"):
        nii.read(path, format="ref-rawxml")


def test_inconsistent_channel_count(written):
    _, path = written
    edit_header(
        path,
        b'<View name="side" rows="48" lines="80" channels="2"',
        b'<View name="side" rows="48" lines="80" channels="3"',
    )
    with pytest.raises(CorruptFileError, match="announces 3 channels and lists 2: inconsistent channel count"):
        nii.read(path)


def test_entity_declarations_are_refused(written):
    _, path = written
    edit_header(path, b"<RefRawScan ", b'<!DOCTYPE x [<!ENTITY a "b">]><RefRawScan ')
    with pytest.raises(CorruptFileError, match="DTD"):
        nii.read(path)


def test_repeated_channel_names(written):
    _, path = written
    edit_header(
        path,
        b'<Channel name="low" energy_kv="4000.0" />\n  </View>\n  <View name="top"',
        b'<Channel name="high" energy_kv="4000.0" />\n  </View>\n  <View name="top"',
    )
    with pytest.raises(CorruptFileError, match="a name repeats"):
        nii.read(path)

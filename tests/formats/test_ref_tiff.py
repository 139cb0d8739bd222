import json
import struct

import numpy as np
import pytest
import tifffile

import nii
from nii.errors import CorruptFileError, TruncatedFileError, UnknownFormatError, UnsupportedError
from tests.conftest import make_scan
from tests.formats.vendor_scans import assert_refused_before_allocating


def patch_tag(path, page, name, value):
    with tifffile.TiffFile(path) as tif:
        tag = tif.pages[page].tags[name]
        offset, code = tag.valueoffset, {3: "<H", 4: "<I"}[int(tag.dtype)]
    data = bytearray(path.read_bytes())
    struct.pack_into(code, data, offset, value)
    path.write_bytes(bytes(data))


@pytest.fixture
def written(tmp_path):
    scan = make_scan()
    path = tmp_path / "bag.tif"
    nii.write(scan, path)
    return scan, path


def test_round_trip_keeps_pages_metadata_and_threat_boxes(written):
    scan, path = written
    back = nii.read(path)
    assert back.provenance.source_format == "ref-tiff"
    assert back.scan_uid == scan.scan_uid and back.acquired_at == scan.acquired_at
    assert back.inspected_object == scan.inspected_object
    assert back.scanner == scan.scanner and back.site == scan.site
    assert [view.name for view in back.views] == ["side", "top"]
    for view in scan.views:
        got = back.view(view.name)
        assert (got.geometry.detector_spacing_mm, got.geometry.travel_spacing_mm) == (5.0, 4.2)
        for name, channel in view.channels.items():
            assert got.channels[name].dtype == np.uint16
            np.testing.assert_array_equal(got.channels[name], channel)
    first, second = back.threats
    assert (first.view, first.box, first.category, first.probability, first.algorithm) == (
        "side",
        nii.Box(20, 10, 10, 6),
        "CONTRABAND",
        0.8,
        "atr",
    )
    np.testing.assert_array_equal(first.polygon, scan.threats[0].polygon)
    assert second.origin == "OPERATOR" and second.assessment == "NO_THREAT"


def test_what_the_format_cannot_hold_stays_unknown(written, caplog):
    scan, path = written
    nii.write(scan, path)
    assert (
        "ref-tiff does not store air, dark, line_positions, operator, processing, reference, threat_masks"
        in caplog.text
    )
    back = nii.read(path)
    assert back.operator is None and back.threats[0].mask is None
    assert all(view.dark == {} and view.geometry.line_positions_mm is None for view in back.views)


def test_file_is_a_plain_multipage_16bit_tiff(written):
    scan, path = written
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 4
        assert tif.pages[1].dtype == np.uint16 and tif.pages[1].shape == (48, 80)
        document = json.loads(tif.pages[0].description)
        np.testing.assert_array_equal(tif.pages[3].asarray(), scan.view("top").channels["low"])
    assert document["format"] == "nii-ref-tiff"
    assert document["views"][1]["channels"][1] == {"name": "low", "page": 3, "energy_kv": 4000.0}


def test_a_plain_tiff_is_not_taken_for_ref_tiff(tmp_path):
    path = tmp_path / "photo.tif"
    tifffile.imwrite(path, np.zeros((8, 8), np.uint16))
    with pytest.raises(UnknownFormatError, match="photo.tif"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="photo.tif: not a ref-tiff file"):
        nii.read(path, format="ref-tiff")


def test_writer_refuses_float_channels(tmp_path):
    scan = make_scan()
    scan.views[0].channels = {name: array.astype(np.float32) for name, array in scan.views[0].channels.items()}
    with pytest.raises(UnsupportedError, match="integer pixels"):
        nii.write(scan, tmp_path / "f.tif")


# --- bad input ---------------------------------------------------------------------------


def test_truncated(written):
    _, path = written
    path.write_bytes(path.read_bytes()[: 3 * 48 * 80 * 2])
    with pytest.raises(TruncatedFileError, match=r"bag.tif: page \d .*(data runs to byte|past the end of the file)"):
        nii.read(path)


def test_dimensions_larger_than_the_file(written):
    _, path = written
    patch_tag(path, 1, "ImageLength", 96)
    with pytest.raises(CorruptFileError, match=r"bag\.tif: page 1 is 96 × 80 \(15360 bytes\) but stores 7680"):
        nii.read(path)


def test_zero_size(written):
    _, path = written
    patch_tag(path, 2, "ImageWidth", 0)
    with pytest.raises(CorruptFileError, match=r"bag.tif: invalid dimensions \(48, 0\)"):
        nii.read(path)


def test_absurd_size_is_refused_before_allocation(written):
    _, path = written
    patch_tag(path, 0, "ImageWidth", 65535)
    patch_tag(path, 0, "ImageLength", 65535)
    assert_refused_before_allocating(path)


def test_wrong_magic(written):
    _, path = written
    path.write_bytes(b"XX" + path.read_bytes()[2:])
    with pytest.raises(UnknownFormatError, match="bag.tif"):
        nii.read(path)
    with pytest.raises(CorruptFileError, match="bag.tif: invalid TIFF"):
        nii.read(path, format="ref-tiff")


def test_inconsistent_channel_count(written):
    _, path = written
    data = path.read_bytes()
    assert data.count(b'"page": 3') == 1
    path.write_bytes(data.replace(b'"page": 3', b'"page": 7'))
    with pytest.raises(CorruptFileError, match="channel 'low' of view 'top' is on page 7; the file has 4 pages"):
        nii.read(path)

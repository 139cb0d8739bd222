"""The ``npy`` format: NumPy arrays read natively by a fixed convention, options to override it."""

import numpy as np
import pytest

import nii
from nii.errors import ConfigurationError, CorruptFileError, TruncatedFileError


def dual_energy(rows=6, lines=10):
    high = np.arange(rows * lines, dtype=np.uint16).reshape(rows, lines) + 1000
    return high, high // 2


def test_3d_rows_lines_channels_reads_high_and_low(tmp_path):
    high, low = dual_energy()
    path = tmp_path / "scan.npy"
    np.save(path, np.stack([high, low], axis=-1))
    scan = nii.read(path)
    view = scan.views[0]
    assert scan.provenance.source_format == "npy" and view.name == "side"
    np.testing.assert_array_equal(view.channels["high"], high)
    np.testing.assert_array_equal(view.channels["low"], low)
    assert str(view.calibration) == "RAW"


def test_2d_is_one_channel_or_pixel_interleaved_when_channels_are_named(tmp_path):
    high, low = dual_energy()
    path = tmp_path / "interleaved.npy"
    np.save(path, np.stack([high, low], axis=-1).reshape(high.shape[0], -1))
    single = nii.read(path).views[0]
    assert list(single.channels) == ["single"] and single.shape == (6, 20)
    split = nii.read(path, channels="high,low").views[0]
    np.testing.assert_array_equal(split.channels["high"], high)
    np.testing.assert_array_equal(split.channels["low"], low)


def test_axes_option_and_big_endian_and_fortran_order(tmp_path):
    high, low = dual_energy()
    stored = np.stack([high, low], axis=-1).transpose(1, 0, 2).astype(">u2")  # (lines, rows, channels)
    path = tmp_path / "lines-first.npy"
    np.save(path, np.asfortranarray(stored))
    view = nii.read(path, axes="lines,rows,channels").views[0]
    np.testing.assert_array_equal(view.channels["high"], high)
    np.testing.assert_array_equal(view.channels["low"], low)
    assert view.channels["low"].dtype == np.uint16 and view.channels["low"].dtype.isnative


def test_bad_arrays_are_refused_naming_the_file(tmp_path):
    path = tmp_path / "three.npy"
    np.save(path, np.zeros((4, 5, 3), np.uint16))
    with pytest.raises(ConfigurationError, match="3 channels: name them"):
        nii.read(path)
    assert list(nii.read(path, channels="a,b,c").views[0].channels) == ["a", "b", "c"]
    np.save(path, np.array(["text"]))
    with pytest.raises(CorruptFileError, match=f"{path}.*not plain numbers"):
        nii.read(path)
    np.save(path, np.zeros((4, 5), np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[:-3])
    with pytest.raises(TruncatedFileError, match=str(path)):
        nii.read(path)
    path.write_bytes(data + b"xx")
    with pytest.raises(CorruptFileError, match="header announces"):
        nii.read(path)


def test_a_header_length_of_4_gib_is_refused_before_numpy_reads_it(tmp_path):
    # Found by the final campaign: numpy reads a version 2 header before comparing its length with the limit.
    path = tmp_path / "export.npy"
    np.save(path, np.zeros((4, 5), np.uint16))
    data = bytearray(path.read_bytes())
    data[6:8] = b"\x02\x00"
    data[8:12] = (2**32 - 1).to_bytes(4, "little")
    path.write_bytes(data)
    with pytest.raises(CorruptFileError, match="header of 4294967295 bytes announced"):
        nii.read(path)

import numpy as np
import pytest

from nii.kernels.decode import (
    deinterleave_lines,
    deinterleave_lines_reference,
    pack12,
    pack12_reference,
    packed12_size,
    unpack12,
    unpack12_reference,
)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("count", [1, 2, 7, 64, 1001])
def test_pack_and_unpack_match_the_numpy_references(count, big_endian):
    rng = np.random.default_rng(count)
    values = rng.integers(0, 4096, size=(5, count), dtype=np.uint16)
    values[0, 0] = 4095
    packed = pack12(values, big_endian=big_endian)
    assert packed.shape == (5, packed12_size(count))
    np.testing.assert_array_equal(packed, pack12_reference(values, big_endian=big_endian))
    np.testing.assert_array_equal(unpack12(packed, count, big_endian=big_endian), values)
    np.testing.assert_array_equal(unpack12_reference(packed, count, big_endian=big_endian), values)


def test_bit_layout_is_the_documented_one():
    # Little: 0xABC, 0x123 -> BC 3A 12; big: AB C1 23.
    values = np.array([0xABC, 0x123], dtype=np.uint16)
    assert pack12(values).tolist() == [0xBC, 0x3A, 0x12]
    assert pack12(values, big_endian=True).tolist() == [0xAB, 0xC1, 0x23]


def test_unpack_reads_strided_records_and_one_dimensional_streams():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 4096, size=(6, 10), dtype=np.uint16)
    records = np.zeros((6, 4 + packed12_size(10)), dtype=np.uint8)
    records[:, 4:] = pack12(values)
    np.testing.assert_array_equal(unpack12(records[:, 4:], 10), values)
    stream = pack12(values.reshape(-1))
    assert stream.ndim == 1
    np.testing.assert_array_equal(unpack12(stream, 60), values.reshape(-1))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="0..4095"):
        pack12(np.array([4096], dtype=np.uint16))
    with pytest.raises(ValueError, match="0..4095"):
        pack12_reference(np.array([4096], dtype=np.uint16))
    with pytest.raises(ValueError, match="need 6 bytes"):
        unpack12(np.zeros(5, dtype=np.uint8), 4)
    with pytest.raises(TypeError, match="uint8"):
        unpack12(np.zeros(6, dtype=np.uint16), 4)
    with pytest.raises(TypeError, match="uint16"):
        pack12(np.zeros(4, dtype=np.int32))


@pytest.mark.parametrize("dtype", [np.uint16, np.int16])
@pytest.mark.parametrize("swap_bytes", [False, True])
def test_deinterleave_matches_the_reference_on_strided_views(dtype, swap_bytes):
    rng = np.random.default_rng(2)
    raw = rng.integers(np.iinfo(dtype).min, np.iinfo(dtype).max, size=(9, 3, 1 + 17), dtype=dtype, endpoint=True)
    records = raw[:, :, 1:]  # skip a per-line header word, as formats do
    got = deinterleave_lines(records, swap_bytes=swap_bytes)
    assert got.flags.c_contiguous and got.dtype == dtype and got.shape == (3, 9, 17)
    np.testing.assert_array_equal(got, deinterleave_lines_reference(records, swap_bytes=swap_bytes))
    expected = records.byteswap() if swap_bytes else records
    np.testing.assert_array_equal(got[1], expected[:, 1, :])


def test_deinterleave_swaps_big_endian_files_to_native_values():
    values = np.arange(24, dtype=np.uint16).reshape(2, 3, 4) * 1000
    stored = values.astype(">u2").tobytes()
    native_view = np.frombuffer(stored, dtype=np.uint16).reshape(2, 3, 4)
    np.testing.assert_array_equal(deinterleave_lines(native_view, swap_bytes=True), values.transpose(1, 0, 2))
    with pytest.raises(TypeError, match="native-order"):
        deinterleave_lines(np.frombuffer(stored, dtype=">u2").reshape(2, 3, 4))
    with pytest.raises(TypeError, match="16-bit"):
        deinterleave_lines(np.zeros((2, 3, 4), np.float32))

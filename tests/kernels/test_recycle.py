"""Frames in recycled memory: handed out again only once nothing refers to their block."""

from __future__ import annotations

import numpy as np

from nii.kernels.recycle import recycled_empty


def _address(array: np.ndarray) -> int:
    return int(array.__array_interface__["data"][0])


def test_a_freed_frame_is_reused_with_its_shape_and_type() -> None:
    first = recycled_empty((30, 40), np.uint16)
    address = _address(first)
    del first
    again = recycled_empty((30, 40), np.uint16)
    assert _address(again) == address
    assert again.shape == (30, 40) and again.dtype == np.uint16 and again.flags.c_contiguous


def test_a_frame_still_referred_to_is_never_handed_out_again() -> None:
    frame = recycled_empty((16, 16), np.float32)
    frame[:] = 7.0
    row = frame[3]  # a view keeps the block in use after the frame itself is gone
    data = memoryview(frame[5:])
    del frame
    others = [recycled_empty((16, 16), np.float32) for _ in range(3)]
    for other in others:
        other[:] = -1.0
        assert not np.shares_memory(other, row)
    assert np.all(row == 7.0)
    assert np.all(np.frombuffer(data, np.float32) == 7.0)


def test_sizes_are_not_mixed() -> None:
    small = recycled_empty((8, 8), np.uint16)
    del small
    large = recycled_empty((8, 16), np.uint16)
    assert large.nbytes == 256
    large[:] = 1  # the whole frame is its own
    assert np.all(large == 1)

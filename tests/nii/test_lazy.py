import numpy as np
import pytest

from nii.errors import CorruptFileError
from nii.lazy import LazyArray
from nii.model import View


class CountingSource:
    """An array source that counts how often it is read."""

    def __init__(self, array):
        self.array, self.reads = array, 0
        self.shape, self.dtype = array.shape, array.dtype

    def __getitem__(self, key):
        self.reads += 1
        return self.array[key]


class BrokenSource(CountingSource):
    def __getitem__(self, key):
        raise OSError("Can't read data (filter returned failure)")


def test_a_view_keeps_a_lazy_channel_without_reading_it():
    source = CountingSource(np.arange(24, dtype=np.uint16).reshape(4, 6))
    lazy = LazyArray(source, path="scan.h5")
    view = View("side", {"high": lazy})
    assert view.channels["high"] is lazy and view.shape == (4, 6) and source.reads == 0
    assert lazy.ndim == 2 and lazy.size == 24 and lazy.nbytes == 48 and len(lazy) == 4
    assert lazy[1:3, 2].tolist() == [8, 14] and source.reads == 1
    np.testing.assert_array_equal(np.asarray(lazy), source.array)
    assert lazy.astype(np.float32).dtype == np.float32 and float(np.mean(lazy)) == 11.5


def test_a_lazy_channel_must_still_match_the_other_channels():
    with pytest.raises(ValueError, match="has shape"):
        View("side", {"high": np.zeros((4, 6)), "low": LazyArray(CountingSource(np.zeros((4, 5))), path="x")})


def test_read_errors_name_the_file():
    lazy = LazyArray(BrokenSource(np.zeros((2, 2))), path="scan.h5")
    with pytest.raises(CorruptFileError, match="scan.h5: cannot read pixels"):
        np.asarray(lazy)

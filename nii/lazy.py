"""Arrays whose pixels stay in the file until they are used.

A reader of a chunked, compressed format (HDF5) can open a 64 MiB cargo scan without
decompressing it: it puts a :class:`LazyArray` in the :class:`~nii.model.View` instead of an
``ndarray``. The view keeps it as it is (validation only needs the shape), and the pixels are
read when something asks for them:

* ``lazy[rows, lines]`` reads only the chunks the selection touches (a viewer tile);
* ``numpy.asarray(lazy)`` (and every numpy function given a lazy array) reads everything.

So code that calls ``numpy.asarray(channel)`` before working on a channel handles memory
maps, in-memory arrays and lazy arrays alike. Numba kernels need real arrays: convert first.

Examples
--------
>>> import numpy as np
>>> lazy = LazyArray(np.arange(12, dtype=np.uint16).reshape(3, 4), path="scan.h5")
>>> lazy.shape, lazy.dtype
((3, 4), dtype('uint16'))
>>> lazy[1, 1:3].tolist()
[5, 6]
>>> int(np.asarray(lazy).sum())
66
"""

from __future__ import annotations

import os
from typing import Any, Protocol

import numpy as np

from nii.errors import CorruptFileError

__all__ = ["ArraySource", "LazyArray"]


class ArraySource(Protocol):
    """What a lazy array reads from: ``h5py.Dataset`` and ``numpy.ndarray`` both qualify."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    @property
    def dtype(self) -> np.dtype: ...

    def __getitem__(self, key: Any) -> Any: ...


class LazyArray:
    """A read-only array read from ``source`` on access.

    Parameters
    ----------
    source
        Anything with ``shape``, ``dtype`` and numpy-style slicing (an ``h5py.Dataset``).
    path
        The file the data comes from: read errors name it.
    owner
        An object that must stay alive while the array is used (the open file).
    """

    def __init__(self, source: ArraySource, *, path: str | os.PathLike[str], owner: object = None) -> None:
        self._source = source
        self._path = path
        self._owner = owner
        self.shape: tuple[int, ...] = tuple(int(n) for n in source.shape)
        self.dtype: np.dtype = np.dtype(source.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        """Bytes the array takes once read (not its compressed size in the file)."""
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key: Any) -> np.ndarray:
        """Read the selection (only the storage it touches)."""
        try:
            return np.asarray(self._source[key])
        except OSError as error:
            raise CorruptFileError(f"cannot read pixels: {error}", path=self._path) from error

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        data = self[()]
        return data if dtype is None else data.astype(dtype, copy=False)

    def astype(self, dtype: Any) -> np.ndarray:
        """Read everything as ``dtype``."""
        return np.asarray(self, dtype=dtype)

    def __repr__(self) -> str:
        return f"<LazyArray {self.shape} {self.dtype} from {self._path}>"

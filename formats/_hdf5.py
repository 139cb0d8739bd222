"""Reading whole HDF5 datasets at memory speed: Blosc chunks decoded in parallel, outside HDF5.

HDF5 decompresses a dataset's chunks one after another in one thread, each into its chunk
cache and then into the output, and copies even uncompressed data through its own layers.
For Blosc-compressed datasets (the HDF5 filter 32001 that ``hdf5plugin.Blosc`` writes),
:func:`read_whole` instead lists the chunks' places in the file, maps the file, and decodes
the chunks on :mod:`nii.threads`' pool with numcodecs' Blosc (which releases the GIL), each
straight from the page cache into a tile and from there into the output. An uncompressed
contiguous dataset is read into the output with one system call, as ``numpy.fromfile``
does. Both go through HDF5's own file descriptor, so they read the file h5py opened even if
its path has since been replaced (an archive appended to). Any other layout (gzip, a file
object instead of a path) is read by h5py.

Both ``ref-hdf5`` and the NII archive read their channels through here.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nii.errors import CorruptFileError, TruncatedFileError
from nii.imports import lazy_module
from nii.threads import map_threads, thread_count

if TYPE_CHECKING:
    import h5py
else:
    h5py = lazy_module("h5py", also=["hdf5plugin"])  # hdf5plugin registers the Blosc filters used on reading

__all__ = ["BLOSC_FILTER", "ChunkedChannel", "read_whole"]

BLOSC_FILTER = 32001
"""HDF5 filter number of Blosc (version 1 frames), as registered with The HDF Group."""
_OPTIONAL_FILTER_SKIPPED = 1
"""Bit 0 of a chunk's filter mask: the writer stored this chunk without the Blosc filter."""
_PARTS_PER_THREAD = 4
"""Chunks are dealt to this many parts per thread, so a thread slowed by other work is caught up."""


def read_whole(dataset: h5py.Dataset, *, path: str | os.PathLike[str]) -> np.ndarray:
    """Read all of ``dataset`` into a new array.

    Parameters
    ----------
    dataset
        An open dataset (any layout).
    path
        The file, for error messages.

    Raises
    ------
    TruncatedFileError
        A chunk lies beyond the end of the file.
    CorruptFileError
        A chunk does not decode to its announced size.

    Examples
    --------
    >>> import h5py, hdf5plugin, numpy as np, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(name, "w") as file:
    ...     _ = file.create_dataset("x", data=np.arange(60000, dtype=np.uint16).reshape(200, 300),
    ...                             chunks=(64, 64), **hdf5plugin.Blosc())
    >>> with h5py.File(name, "r") as file:
    ...     int(read_whole(file["x"], path=name)[199, 299])
    59999
    """
    if _contiguous_on_disk(dataset):
        return _read_contiguous(dataset, path)
    try:
        chunks = _blosc_chunks(dataset)
    except RuntimeError as error:  # HDF5 on a damaged chunk index
        raise CorruptFileError(f"{dataset.name}: damaged chunk index: {error}", path=path) from error
    if chunks is None:
        return np.asarray(dataset[()])
    plan = _Plan(dataset.name, tuple(dataset.chunks), path)
    out = np.empty(dataset.shape, dataset.dtype)
    # HDF5's own descriptor: the very file h5py opened, even if the path now names another.
    descriptor = dataset.file.id.get_vfd_handle()
    file_size = os.fstat(descriptor).st_size
    for offset, _, address, size in chunks:
        if address + size > file_size:
            raise TruncatedFileError(
                f"{plan.name}: the chunk at {offset} ends at byte {address + size}, the file has {file_size}",
                path=path,
            )
    view = mmap.mmap(descriptor, 0, access=mmap.ACCESS_READ)
    try:
        parts = max(1, min(len(chunks), thread_count() * _PARTS_PER_THREAD))
        map_threads(lambda part: _decode(plan, view, chunks[part::parts], out), range(parts))
    finally:
        with suppress(BufferError):  # after an error its traceback may still hold a slice: closed when collected
            view.close()
    return out


def _contiguous_on_disk(dataset: h5py.Dataset) -> bool:
    """Unfiltered bytes in one block of a file on disk (``compression="none"``)."""
    if dataset.chunks is not None or not dataset.size or dataset.file.driver != "sec2" or dataset.is_virtual:
        return False
    plist = dataset.id.get_create_plist()
    return (
        plist.get_layout() == h5py.h5d.CONTIGUOUS
        and plist.get_external_count() == 0
        and dataset.dtype.kind in "uif"
        and dataset.id.get_offset() is not None
    )


def _read_contiguous(dataset: h5py.Dataset, path: str | os.PathLike[str]) -> np.ndarray:
    out = np.empty(dataset.shape, dataset.dtype)
    address = dataset.id.get_offset()
    got = os.preadv(dataset.file.id.get_vfd_handle(), [out.data.cast("B")], address)
    if got != out.nbytes:
        raise TruncatedFileError(
            f"{dataset.name}: {out.nbytes} bytes from byte {address} announced, the file holds {got}", path=path
        )
    return out


_Chunk = tuple[tuple[int, ...], int, int, int]
"""``(chunk offset, filter mask, file address, stored size)``."""


def _blosc_chunks(dataset: h5py.Dataset) -> list[_Chunk] | None:
    """Every chunk of a Blosc-compressed dataset in a file on disk; None where h5py reads better."""
    if dataset.chunks is None or not dataset.size or dataset.file.driver != "sec2":
        return None
    plist = dataset.id.get_create_plist()
    if plist.get_nfilters() != 1 or plist.get_filter(0)[0] != BLOSC_FILTER:
        return None
    chunks: list[_Chunk] = []

    def add(info: Any) -> None:
        chunks.append((info.chunk_offset, info.filter_mask, info.byte_offset, info.size))

    dataset.id.chunk_iter(add)
    needed = math.prod(-(-n // c) for n, c in zip(dataset.shape, dataset.chunks, strict=True))
    # Missing chunks read as the fill value: leave that (rare) case to HDF5.
    return chunks if len(chunks) == needed else None


@dataclass(frozen=True)
class _Plan:
    name: str
    chunk_shape: tuple[int, ...]
    path: str | os.PathLike[str]

    def corrupt(self, offset: tuple[int, ...], problem: str) -> CorruptFileError:
        return CorruptFileError(f"{self.name}: the chunk at {offset} {problem}", path=self.path)


def _decode(plan: _Plan, view: mmap.mmap, chunks: list[_Chunk], out: np.ndarray) -> None:
    """Decode ``chunks`` into their places in ``out`` (one thread's share)."""
    from numcodecs import blosc  # loads c-blosc: only when a Blosc dataset is read

    tile = np.empty(plan.chunk_shape, out.dtype)
    raw = tile.reshape(-1).view(np.uint8)
    with memoryview(view) as whole:
        for offset, mask, address, size in chunks:
            stored = whole[address : address + size]
            if mask & _OPTIONAL_FILTER_SKIPPED:
                if size != raw.size:
                    raise plan.corrupt(offset, f"is stored unfiltered in {size} bytes, not {raw.size}")
                raw[:] = np.frombuffer(stored, np.uint8)
            else:
                # Blosc 1 header: decoded size at bytes 4-7, stored size at bytes 12-15.
                decoded, compressed = struct.unpack_from("<I4xI", stored, 4) if size >= 16 else (-1, -1)
                if decoded != raw.size or compressed != size:
                    raise plan.corrupt(
                        offset,
                        f"does not decode: its Blosc header announces {decoded} bytes from {compressed}; "
                        f"the chunk holds {size} bytes and needs {raw.size}",
                    )
                try:
                    blosc.decompress(stored, tile)
                except (RuntimeError, ValueError) as error:
                    raise plan.corrupt(offset, f"does not decode: {error}") from error
            region = tuple(slice(o, min(o + c, n)) for o, c, n in zip(offset, tile.shape, out.shape, strict=True))
            out[region] = tile[tuple(slice(0, r.stop - r.start) for r in region)]


class ChunkedChannel:
    """An HDF5 dataset as a :class:`nii.lazy.ArraySource`: whole reads through :func:`read_whole`.

    Slices go to h5py (only the chunks they touch); ``[()]`` and ``[...]`` read everything.
    """

    def __init__(self, dataset: h5py.Dataset, *, path: str | os.PathLike[str]) -> None:
        self.dataset = dataset
        self.path = Path(path)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.dataset.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.dataset.dtype

    def __getitem__(self, key: Any) -> Any:
        if key is Ellipsis or (isinstance(key, tuple) and not key):
            return read_whole(self.dataset, path=self.path)
        return self.dataset[key]

"""Decoding kernels for scanner exports: 12-bit unpacking and packing, line de-interleaving.

Each numba kernel has its plain-numpy reference beside it (``*_reference``); the tests
compare the two on every case. Kernels work on arrays only.

Where numpy is already at memory speed it is kept, and no kernel exists: swapping the bytes
of a contiguous block (``array.astype(native)`` runs faster than ``numpy.fromfile`` reads the
same bytes) and splitting pixel-interleaved samples (``array[..., c]`` copies, about 0.9 of
``numpy.fromfile``). Numba is used where numpy needs several passes or temporaries:

* :func:`unpack12` / :func:`pack12`: two 12-bit samples in three bytes (numpy needs about ten
  temporaries; the kernel is one pass, 7–8× faster in ``benchmarks/test_formats.py``);
* :func:`deinterleave_lines`: line-interleaved channels (``HE line, LE line, HE line, …``),
  optionally byte-swapped, split into one contiguous block per channel in one pass (numpy
  copies, then swaps: the kernel is about 3× faster).

Examples
--------
>>> import numpy as np
>>> packed = pack12(np.array([[1, 2, 4095]], dtype=np.uint16))
>>> packed.tolist()
[[1, 32, 0, 255, 15]]
>>> unpack12(packed, 3).tolist()
[[1, 2, 4095]]
"""

from __future__ import annotations

import numpy as np

from nii.kernels.jit import jit_on_first_call

__all__ = [
    "deinterleave_lines",
    "deinterleave_lines_reference",
    "pack12",
    "pack12_reference",
    "packed12_size",
    "unpack12",
    "unpack12_reference",
]


def packed12_size(count: int) -> int:
    """Bytes holding ``count`` 12-bit samples: ``ceil(12 * count / 8)``.

    Examples
    --------
    >>> packed12_size(4), packed12_size(5)
    (6, 8)
    """
    return (12 * count + 7) // 8


def _check_packed(packed: np.ndarray, count: int) -> np.ndarray:
    if packed.dtype != np.uint8:
        raise TypeError(f"packed 12-bit data must be uint8, got {packed.dtype}")
    if count < 0:
        raise ValueError(f"sample count must not be negative, got {count}")
    records = packed.reshape(1, -1) if packed.ndim == 1 else packed
    if records.ndim != 2 or records.shape[1] < packed12_size(count):
        raise ValueError(
            f"{count} 12-bit samples need {packed12_size(count)} bytes per record, got shape {packed.shape}"
        )
    return records


def _unit_stride(array: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """A 1-D unit-stride view over the memory of ``array``, and its strides counted in items.

    Numba vectorises loops over contiguous slices, not over strided views (a file's records
    with a line header between them): the kernels slice each record out of the flat view.
    The view spans only memory that ``array``'s own elements lie between.
    """
    item = array.itemsize
    if array.size == 0 or array.strides[-1] != item or any(s < 0 or s % item for s in array.strides):
        array = np.ascontiguousarray(array)
    steps = tuple(stride // item for stride in array.strides)
    span = 1 + sum((n - 1) * step for n, step in zip(array.shape, steps, strict=True)) if array.size else 0
    return np.lib.stride_tricks.as_strided(array, shape=(span,), strides=(item,), writeable=False), steps


@jit_on_first_call(cache=True, nogil=True)
def _unpack12_kernel(flat: np.ndarray, record_step: int, out: np.ndarray, big_endian: bool) -> None:
    count = out.shape[1]
    pairs = count // 2
    for record in range(out.shape[0]):
        # A contiguous slice per record (not flat[base + i]) is what lets LLVM vectorise: 5× faster.
        src = flat[record * record_step : record * record_step + (12 * count + 7) // 8]
        dst = out[record]
        for pair in range(pairs):
            b0 = np.uint16(src[3 * pair])
            b1 = np.uint16(src[3 * pair + 1])
            b2 = np.uint16(src[3 * pair + 2])
            if big_endian:
                dst[2 * pair] = (b0 << 4) | (b1 >> 4)
                dst[2 * pair + 1] = ((b1 & 0xF) << 8) | b2
            else:
                dst[2 * pair] = b0 | ((b1 & 0xF) << 8)
                dst[2 * pair + 1] = (b1 >> 4) | (b2 << 4)
        if count % 2:
            b0 = np.uint16(src[3 * pairs])
            b1 = np.uint16(src[3 * pairs + 1])
            dst[count - 1] = (b0 << 4) | (b1 >> 4) if big_endian else b0 | ((b1 & 0xF) << 8)


def unpack12(packed: np.ndarray, count: int, *, big_endian: bool = False) -> np.ndarray:
    """Unpack 12-bit samples, two in three bytes, to uint16.

    Parameters
    ----------
    packed
        uint8 array: one stream ``(nbytes,)`` or records ``(n, nbytes)``; records may be a
        strided view (for example the pixel part of records that also hold a line header).
    count
        Samples per record; the first :func:`packed12_size` bytes of each record are used.
    big_endian
        Bit order of the stream. Little (default): sample ``2k`` is byte ``3k`` plus the low
        nibble of byte ``3k+1`` as bits 8–11; sample ``2k+1`` is the high nibble of byte
        ``3k+1`` plus byte ``3k+2`` as bits 4–11. Big: byte ``3k`` holds bits 4–11 of sample
        ``2k``, the high nibble of byte ``3k+1`` its bits 0–3, the low nibble bits 8–11 of
        sample ``2k+1`` and byte ``3k+2`` its bits 0–7.

    Returns
    -------
    numpy.ndarray
        uint16 of shape ``(count,)`` or ``(n, count)``, values 0..4095.

    Examples
    --------
    >>> unpack12(np.array([0x01, 0x20, 0x00], dtype=np.uint8), 2).tolist()
    [1, 2]
    """
    records = _check_packed(packed, count)
    out = np.empty((records.shape[0], count), dtype=np.uint16)
    if out.size:
        flat, (record_step, _) = _unit_stride(records[:, : packed12_size(count)])
        _unpack12_kernel(flat, record_step, out, big_endian)
    return out.reshape(count) if packed.ndim == 1 else out


def unpack12_reference(packed: np.ndarray, count: int, *, big_endian: bool = False) -> np.ndarray:
    """Plain-numpy :func:`unpack12` (the reference the kernel is tested against)."""
    records = _check_packed(packed, count)
    triples = -(-count // 2)
    used = np.zeros((records.shape[0], 3 * triples), dtype=np.uint16)
    available = min(records.shape[1], 3 * triples)
    used[:, :available] = records[:, :available]
    b0, b1, b2 = used[:, 0::3], used[:, 1::3], used[:, 2::3]
    out = np.empty((records.shape[0], 2 * triples), dtype=np.uint16)
    if big_endian:
        out[:, 0::2] = (b0 << 4) | (b1 >> 4)
        out[:, 1::2] = ((b1 & 0xF) << 8) | b2
    else:
        out[:, 0::2] = b0 | ((b1 & 0xF) << 8)
        out[:, 1::2] = (b1 >> 4) | (b2 << 4)
    out = out[:, :count]
    return out.reshape(count) if packed.ndim == 1 else out


def _check_values12(values: np.ndarray) -> np.ndarray:
    if values.dtype != np.uint16:
        raise TypeError(f"12-bit samples must be uint16, got {values.dtype}")
    records = values.reshape(1, -1) if values.ndim == 1 else values
    if records.ndim != 2:
        raise ValueError(f"12-bit samples must be 1-D or 2-D, got shape {values.shape}")
    return records


@jit_on_first_call(cache=True, nogil=True)
def _pack12_kernel(records: np.ndarray, out: np.ndarray, big_endian: bool) -> bool:
    """Pack; return False as soon as a sample is over 4095 (the output is then garbage)."""
    count = records.shape[1]
    pairs = count // 2
    for record in range(records.shape[0]):
        src = records[record]
        dst = out[record]
        for pair in range(pairs + count % 2):
            a = src[2 * pair]
            b = src[2 * pair + 1] if 2 * pair + 1 < count else np.uint16(0)
            if a > 4095 or b > 4095:
                return False
            if big_endian:
                dst[3 * pair] = a >> 4
                dst[3 * pair + 1] = ((a & 0xF) << 4) | (b >> 8)
                if pair < pairs:
                    dst[3 * pair + 2] = b & 0xFF
            else:
                dst[3 * pair] = a & 0xFF
                dst[3 * pair + 1] = (a >> 8) | ((b & 0xF) << 4)
                if pair < pairs:
                    dst[3 * pair + 2] = b >> 4
    return True


def pack12(values: np.ndarray, *, big_endian: bool = False) -> np.ndarray:
    """Pack uint16 samples of at most 12 bits, two in three bytes (inverse of :func:`unpack12`).

    Parameters
    ----------
    values
        uint16 ``(count,)`` or ``(n, count)``; an odd count ends with a half-filled byte.
    big_endian
        Bit order, as in :func:`unpack12`.

    Returns
    -------
    numpy.ndarray
        uint8 ``(packed12_size(count),)`` or ``(n, packed12_size(count))``.

    Raises
    ------
    ValueError
        A sample is over 4095.
    """
    records = _check_values12(values)
    out = np.empty((records.shape[0], packed12_size(records.shape[1])), dtype=np.uint8)
    if not _pack12_kernel(records, out, big_endian):
        raise ValueError(f"12-bit packing needs samples 0..4095, got a maximum of {int(records.max())}")
    return out.reshape(-1) if values.ndim == 1 else out


def pack12_reference(values: np.ndarray, *, big_endian: bool = False) -> np.ndarray:
    """Plain-numpy :func:`pack12`."""
    records = _check_values12(values)
    if records.size and int(records.max()) > 4095:
        raise ValueError(f"12-bit packing needs samples 0..4095, got a maximum of {int(records.max())}")
    count = records.shape[1]
    even = np.zeros((records.shape[0], count + count % 2), dtype=np.uint16)
    even[:, :count] = records
    a, b = even[:, 0::2], even[:, 1::2]
    out = np.empty((records.shape[0], 3 * a.shape[1]), dtype=np.uint8)
    if big_endian:
        out[:, 0::3] = a >> 4
        out[:, 1::3] = ((a & 0xF) << 4) | (b >> 8)
        out[:, 2::3] = b & 0xFF
    else:
        out[:, 0::3] = a & 0xFF
        out[:, 1::3] = (a >> 8) | ((b & 0xF) << 4)
        out[:, 2::3] = b >> 4
    out = out[:, : packed12_size(count)]
    return out.reshape(-1) if values.ndim == 1 else out


@jit_on_first_call(cache=True, nogil=True)
def _deinterleave_kernel(flat: np.ndarray, line_step: int, channel_step: int, out: np.ndarray, swap: bool) -> None:
    channels, lines, samples = out.shape
    for line in range(lines):
        for channel in range(channels):
            base = line * line_step + channel * channel_step
            src = flat[base : base + samples]
            dst = out[channel, line]
            if swap:
                for sample in range(samples):
                    value = src[sample]
                    dst[sample] = (value >> 8) | (value << 8)
            else:
                dst[:] = src


def _check_records(records: np.ndarray) -> None:
    if records.ndim != 3:
        raise ValueError(f"records must be (lines, channels, samples), got shape {records.shape}")
    if not records.dtype.isnative:
        raise TypeError("pass the samples as a native-order view and swap_bytes=True for the other byte order")
    if records.dtype not in (np.uint16, np.int16):
        raise TypeError(f"line de-interleaving works on 16-bit samples, got {records.dtype}")


def deinterleave_lines(records: np.ndarray, *, swap_bytes: bool = False) -> np.ndarray:
    """Split line-interleaved 16-bit channels into one contiguous block per channel.

    Parameters
    ----------
    records
        ``(lines, channels, samples)`` native-order uint16 or int16, usually a strided view of
        the file (for example without a per-line header word).
    swap_bytes
        Swap the two bytes of every sample (the file's byte order is not the machine's).

    Returns
    -------
    numpy.ndarray
        ``(channels, lines, samples)``, C-contiguous, same dtype; channel ``c`` as a
        ``(samples, lines)`` image is ``out[c].T``.

    Examples
    --------
    >>> lines = np.array([[[1, 2], [3, 4]], [[5, 6], [7, 8]]], dtype=np.uint16)
    >>> deinterleave_lines(lines)[1].tolist()
    [[3, 4], [7, 8]]
    """
    _check_records(records)
    # Swapping is done on the unsigned view: shifts of negative int16 would sign-extend.
    out = np.empty((records.shape[1], records.shape[0], records.shape[2]), dtype=np.uint16)
    if out.size:
        flat, (line_step, channel_step, _) = _unit_stride(records.view(np.uint16))
        _deinterleave_kernel(flat, line_step, channel_step, out, swap_bytes)
    return out.view(records.dtype)


def deinterleave_lines_reference(records: np.ndarray, *, swap_bytes: bool = False) -> np.ndarray:
    """Plain-numpy :func:`deinterleave_lines`."""
    _check_records(records)
    out = np.ascontiguousarray(records.transpose(1, 0, 2))
    return out.byteswap() if swap_bytes else out

"""JPEG Lossless encoder (ITU T.81 process 14, first-order prediction, selection value 1).

This is the compression the reference DICOS toolkit writes by default (transfer syntax
``1.2.840.10008.1.2.4.70``). pydicom can decode it (with pylibjpeg-libjpeg) but has no
encoder, so nii has its own: a numba kernel for speed and a plain-numpy reference that the
tests compare it with byte for byte.

The encoder writes one greyscale frame with precision 16 (or the given ``bits_stored``),
no restart intervals, point transform 0, and a Huffman table optimised for the frame (the
procedure of T.81 Annex K.2, codes limited to 16 bits), like the reference toolkit does.

Prediction (T.81 H.1.2.1): the first sample of the frame is predicted by ``2**(P-1)``, the
rest of the first line by the sample to the left, the first sample of every other line by
the sample above, and every other sample by the sample to the left (selection value 1).
Differences are taken modulo 2**16; the difference category SSSS (0..16) is Huffman coded
and followed by SSSS extra bits (none for SSSS = 16).

Examples
--------
>>> import numpy as np
>>> frame = np.arange(12, dtype=np.uint16).reshape(3, 4)
>>> stream = encode_frame(frame)
>>> stream[:4].hex(" ")
'ff d8 ff c3'
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["encode_frame", "encode_frame_reference"]

_CATEGORIES = 17
"""Difference categories SSSS = 0..16."""


def _category_table() -> np.ndarray:
    # Number of significant bits of every magnitude 0..32768.
    magnitudes = np.arange(32769, dtype=np.int64)
    table = np.zeros(32769, dtype=np.uint8)
    table[1:] = np.floor(np.log2(magnitudes[1:])).astype(np.uint8) + 1
    return table


_CATEGORY = _category_table()


def _check_frame(frame: np.ndarray, bits_stored: int) -> np.ndarray:
    if frame.ndim != 2 or frame.size == 0:
        raise ValueError(f"JPEG Lossless encodes one non-empty 2-D frame, got shape {frame.shape}")
    if frame.dtype.kind not in "ui" or frame.dtype.itemsize != 2:
        raise ValueError(f"JPEG Lossless encoder takes 16-bit integer samples, got {frame.dtype}")
    if not 2 <= bits_stored <= 16:
        raise ValueError(f"bits_stored must be in 2..16, got {bits_stored}")
    if frame.shape[0] > 65535 or frame.shape[1] > 65535:
        raise ValueError(f"JPEG frames are at most 65535 × 65535 samples, got {frame.shape}")
    # Signed data are coded as their 16-bit pattern (the decoder returns the same bits).
    return np.ascontiguousarray(frame).view(np.uint16)


# ----------------------------------------------------------------------------- numba kernel


@numba.njit(cache=True, nogil=True, inline="always")
def _difference(frame: np.ndarray, r: int, c: int, first_prediction: int) -> np.int64:
    """Sample minus its SV1 prediction, modulo 2**16, as a signed value in [-32768, 32767]."""
    if c > 0:
        prediction = np.int64(frame[r, c - 1])
    elif r > 0:
        prediction = np.int64(frame[r - 1, 0])
    else:
        prediction = np.int64(first_prediction)
    difference = (np.int64(frame[r, c]) - prediction) & 0xFFFF
    if difference >= 32768:
        difference -= 65536
    return difference


@numba.njit(cache=True, nogil=True)
def _histogram(frame: np.ndarray, category: np.ndarray, first_prediction: int) -> np.ndarray:
    rows, columns = frame.shape
    counts = np.zeros(_CATEGORIES, dtype=np.int64)
    for r in range(rows):
        for c in range(columns):
            difference = _difference(frame, r, c, first_prediction)
            counts[category[abs(difference)]] += 1
    return counts


@numba.njit(cache=True, nogil=True)
def _entropy_code(
    frame: np.ndarray,
    category: np.ndarray,
    codes: np.ndarray,
    lengths: np.ndarray,
    first_prediction: int,
    header: np.ndarray,
) -> np.ndarray:
    rows, columns = frame.shape
    # Worst case: 32 bits per sample, every byte stuffed, plus the final byte and EOI.
    out = np.empty(header.size + rows * columns * 8 + 4, dtype=np.uint8)
    out[: header.size] = header
    size = header.size
    accumulator = np.uint64(0)
    pending = 0  # bits in the accumulator not yet written
    for r in range(rows):
        for c in range(columns):
            difference = _difference(frame, r, c, first_prediction)
            ssss = category[abs(difference)]
            if ssss == 16:
                extra_bits = np.int64(0)
                extra = np.int64(0)
            else:
                extra_bits = np.int64(ssss)
                extra = difference if difference >= 0 else difference - 1
                extra &= (1 << extra_bits) - 1
            total = np.int64(lengths[ssss]) + extra_bits
            accumulator = (accumulator << np.uint64(total)) | (
                (np.uint64(codes[ssss]) << np.uint64(extra_bits)) | np.uint64(extra)
            )
            pending += int(total)
            while pending >= 8:
                pending -= 8
                byte = np.uint8((accumulator >> np.uint64(pending)) & np.uint64(0xFF))
                out[size] = byte
                size += 1
                if byte == 0xFF:
                    out[size] = 0
                    size += 1
    if pending > 0:
        # Pad the last byte with 1-bits (T.81 F.1.2.3).
        byte = np.uint8(((accumulator << np.uint64(8 - pending)) | np.uint64((1 << (8 - pending)) - 1)) & 0xFF)
        out[size] = byte
        size += 1
        if byte == 0xFF:
            out[size] = 0
            size += 1
    out[size] = 0xFF  # EOI
    out[size + 1] = 0xD9
    return out[: size + 2]


# ----------------------------------------------------------------------------- Huffman table


def _code_lengths(counts: np.ndarray) -> np.ndarray:
    """Optimal code lengths limited to 16 bits (T.81 Annex K.2, figures K.1 to K.3)."""
    frequency = [int(count) for count in counts] + [1]  # reserved symbol: no code is all 1-bits
    size = len(frequency)
    code_size = [0] * size
    others = [-1] * size
    while True:
        used = [i for i in range(size) if frequency[i] > 0]
        if len(used) < 2:
            break
        # v1: least frequent (largest index on ties), v2: next least frequent.
        v1 = min(used, key=lambda i: (frequency[i], -i))
        v2 = min((i for i in used if i != v1), key=lambda i: (frequency[i], -i))
        frequency[v1] += frequency[v2]
        frequency[v2] = 0
        code_size[v1] += 1
        while others[v1] >= 0:
            v1 = others[v1]
            code_size[v1] += 1
        others[v1] = v2
        code_size[v2] += 1
        while others[v2] >= 0:
            v2 = others[v2]
            code_size[v2] += 1
    bits = [0] * 33
    for length in code_size:
        if length:
            bits[length] += 1
    for i in range(32, 16, -1):  # adjust to at most 16 bits (figure K.3)
        while bits[i] > 0:
            j = i - 2
            while bits[j] == 0:
                j -= 1
            bits[i] -= 2
            bits[i - 1] += 1
            bits[j + 1] += 2
            bits[j] -= 1
    i = 16
    while bits[i] == 0:
        i -= 1
    bits[i] -= 1  # remove the reserved symbol
    # Hand the lengths back to symbols in order of decreasing frequency (T.81 K.2: HUFFVAL order).
    order = sorted((i for i in range(_CATEGORIES) if counts[i] > 0), key=lambda i: (code_size[i], i))
    lengths = np.zeros(_CATEGORIES, dtype=np.int64)
    position = 0
    for length in range(1, 17):
        for _ in range(bits[length]):
            lengths[order[position]] = length
            position += 1
    return lengths


def _canonical_codes(lengths: np.ndarray) -> tuple[np.ndarray, bytes, bytes]:
    """Codes (T.81 Annex C) and the DHT BITS and HUFFVAL lists for the given code lengths."""
    symbols = sorted((int(s) for s in np.flatnonzero(lengths)), key=lambda s: (int(lengths[s]), s))
    codes = np.zeros(_CATEGORIES, dtype=np.int64)
    code = 0
    previous = int(lengths[symbols[0]])
    for symbol in symbols:
        length = int(lengths[symbol])
        code <<= length - previous
        previous = length
        codes[symbol] = code
        code += 1
    bits = bytes(int(np.count_nonzero(lengths == length)) for length in range(1, 17))
    return codes, bits, bytes(symbols)


def _headers(rows: int, columns: int, bits_stored: int, bits: bytes, values: bytes) -> bytes:
    def segment(marker: int, payload: bytes) -> bytes:
        return bytes((0xFF, marker)) + (len(payload) + 2).to_bytes(2, "big") + payload

    frame_header = bytes((bits_stored,)) + rows.to_bytes(2, "big") + columns.to_bytes(2, "big") + b"\x01\x01\x11\x00"
    table = b"\x00" + bits + values
    scan_header = b"\x01\x01\x00" + bytes((1, 0, 0))  # one component, table 0, Ss = 1 (predictor), Se = 0, Al = 0
    return b"\xff\xd8" + segment(0xC3, frame_header) + segment(0xC4, table) + segment(0xDA, scan_header)


def _tables(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray, bytes, bytes]:
    lengths = _code_lengths(counts)
    codes, bits, values = _canonical_codes(lengths)
    return codes, lengths, bits, values


def encode_frame(frame: np.ndarray, *, bits_stored: int = 16) -> bytes:
    """Encode one 16-bit frame as a JPEG Lossless (SV1) codestream.

    Parameters
    ----------
    frame
        2-D ``uint16`` or ``int16`` array ``(rows, columns)``.
    bits_stored
        Sample precision P written in the frame header (2..16).

    Returns
    -------
    bytes
        The complete codestream, SOI to EOI.
    """
    samples = _check_frame(frame, bits_stored)
    first_prediction = 1 << (bits_stored - 1)
    counts = _histogram(samples, _CATEGORY, first_prediction)
    codes, lengths, bits, values = _tables(counts)
    rows, columns = samples.shape
    header = np.frombuffer(_headers(rows, columns, bits_stored, bits, values), np.uint8)
    return _entropy_code(samples, _CATEGORY, codes, lengths, first_prediction, header).tobytes()


# ----------------------------------------------------------------------------- numpy reference


def encode_frame_reference(frame: np.ndarray, *, bits_stored: int = 16) -> bytes:
    """Plain-numpy version of :func:`encode_frame` (same bytes; for tests, small frames only)."""
    samples = _check_frame(frame, bits_stored).astype(np.int64)
    prediction = np.empty_like(samples)
    prediction[:, 1:] = samples[:, :-1]
    prediction[1:, 0] = samples[:-1, 0]
    prediction[0, 0] = 1 << (bits_stored - 1)
    difference = (samples - prediction) & 0xFFFF
    difference = np.where(difference >= 32768, difference - 65536, difference).ravel()
    ssss = _CATEGORY[np.abs(difference)].astype(np.int64)
    counts = np.bincount(ssss, minlength=_CATEGORIES)
    codes, lengths, bits, values = _tables(counts)
    extra_bits = np.where(ssss == 16, 0, ssss)
    extra = np.where(difference >= 0, difference, difference - 1) & ((1 << extra_bits) - 1)
    word = (codes[ssss] << extra_bits) | extra
    width = lengths[ssss] + extra_bits  # at most 32 bits per sample
    aligned = (word << (32 - width)).astype(">u4")
    bit_matrix = np.unpackbits(aligned.view(np.uint8).reshape(-1, 4), axis=1)
    stream = bit_matrix[np.arange(32) < width[:, None]]
    stream = np.concatenate([stream, np.ones(-len(stream) % 8, np.uint8)])
    packed = np.packbits(stream)
    stuffed = np.insert(packed, np.flatnonzero(packed == 0xFF) + 1, 0)
    rows, columns = samples.shape
    return _headers(rows, columns, bits_stored, bits, values) + stuffed.tobytes() + b"\xff\xd9"

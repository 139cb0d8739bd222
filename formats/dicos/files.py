"""DICOS Part 10 files: writing a dataset with its pixels, reading one back safely.

Writing encodes the dataset with :mod:`.encode` (pydicom's bytes, several times faster),
then appends Pixel Data (7FE0,0010) straight from the array's buffer: no ``tobytes()``
copy of the pixels is made for uncompressed output, and compressed frames are written
fragment by fragment. Pixel Data is the last element of every dataset nii writes, so
appending it keeps the tag order valid.

Reading is tolerant of the reference toolkit's quirks (Number of Frames as US, binary in
Implicit VR; encapsulated Pixel Data labelled OW; leading-zero UIDs) and strict about
sizes: dimensions are checked with :func:`nii.limits.check_image_size` before anything
is allocated, and Pixel Data shorter than Rows × Columns × frames is refused. Every
problem is a :mod:`nii.errors` exception naming the file and the tag.
"""

from __future__ import annotations

import functools
import io
import os
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pydicom
from pydicom import config
from pydicom.datadict import dictionary_has_tag, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import generate_frames
from pydicom.errors import InvalidDicomError
from pydicom.pixels.encoders import JPEG2000LosslessEncoder, JPEGLSLosslessEncoder, RLELosslessEncoder
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    RLELossless,
)

import nii.io
from nii.errors import CorruptFileError, LimitExceededError, TruncatedFileError, UnsupportedError
from nii.limits import check_image_size
from nii.version import __version__

from .dictionary import META_VERSION, NUMBER_OF_FRAMES, PIXEL_DATA
from .encode import copy_elements, encode_file, freeze_template, set_elements

__all__ = [
    "Compression",
    "EncodedInstance",
    "read_dataset",
    "read_pixels",
    "tag_text",
    "tolerant_reading",
    "write_instance",
]

NII_IMPLEMENTATION_UID = UID("2.25.285842555822221592906986677081197201286")
"""nii's Implementation Class UID (0002,0012): a UUID-derived 2.25 UID owned by the project."""
NII_IMPLEMENTATION_VERSION = f"NII {__version__}"[:16]

EXTENDED_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.64"
"""The reference toolkit's "Explicit VR Little Endian Extended" (64-bit pixel length); refused."""
J2K_MINIMUM_SIZE = 32
"""openjpeg (through pylibjpeg-openjpeg) codes 6 resolution levels, so frames need 32 pixels a side."""
DEFER_SIZE = 65536
"""Elements larger than this are read on access only, so Pixel Data can be memory-mapped."""


class Compression(StrEnum):
    """Pixel Data encoding of image instances (``compression=``).

    ``none`` (Explicit VR Little Endian, default), ``rle`` (RLE Lossless, pydicom with
    pylibjpeg-rle), ``jpeg-lossless`` (JPEG Lossless SV1, the reference toolkit's default,
    nii's own encoder), ``jpegls`` (JPEG-LS lossless, pyjpegls) and ``j2k`` (JPEG 2000
    lossless, pylibjpeg-openjpeg). All are lossless.

    The reference toolkit reads all of them except ``jpegls`` (it fails with "Image width
    not consistent"); writing ``jpegls`` logs a warning.
    """

    NONE = "none"
    RLE = "rle"
    JPEG_LOSSLESS = "jpeg-lossless"
    JPEG_LS = "jpegls"
    J2K = "j2k"

    @property
    def transfer_syntax(self) -> UID:
        return _TRANSFER_SYNTAX[self]

    @property
    def reference_toolkit_reads(self) -> bool:
        """Whether the reference DICOS toolkit (pyDICOS 1.3.0) reads this encoding (tested)."""
        return self is not Compression.JPEG_LS


_TRANSFER_SYNTAX = {
    Compression.NONE: ExplicitVRLittleEndian,
    Compression.RLE: RLELossless,
    Compression.JPEG_LOSSLESS: JPEGLosslessSV1,
    Compression.JPEG_LS: JPEGLSLossless,
    Compression.J2K: JPEG2000Lossless,
}
_PYDICOM_ENCODERS = {
    Compression.RLE: RLELosslessEncoder,
    Compression.JPEG_LS: JPEGLSLosslessEncoder,
    Compression.J2K: JPEG2000LosslessEncoder,
}


def tag_text(tag: int) -> str:
    """``"Rows (0028,0010)"``: the keyword (when known) and the tag, for messages."""
    number = f"({tag >> 16:04X},{tag & 0xFFFF:04X})"
    keyword = keyword_for_tag(tag) if dictionary_has_tag(tag) else ""
    return f"{keyword} {number}" if keyword else number


# ----------------------------------------------------------------------------- writing


def _file_meta(dataset: Dataset, transfer_syntax: UID, version: str) -> FileMetaDataset:
    meta = FileMetaDataset()
    copy_elements(_file_meta_template(transfer_syntax, version), meta)
    set_elements(
        meta, {"MediaStorageSOPClassUID": dataset.SOPClassUID, "MediaStorageSOPInstanceUID": dataset.SOPInstanceUID}
    )
    return meta


@functools.cache
def _file_meta_template(transfer_syntax: UID, version: str) -> FileMetaDataset:
    """What the file meta of every file nii writes with this syntax and version holds (copied)."""
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = NII_IMPLEMENTATION_UID
    meta.ImplementationVersionName = NII_IMPLEMENTATION_VERSION
    # DICOS-only: the reference DX reader fails without it (doc §3).
    meta.add_new(META_VERSION, "CS", version)
    return freeze_template(meta, charset="")


def _encode_frames(pixels: np.ndarray, compression: Compression) -> list[bytes]:
    frames = pixels.reshape((-1, *pixels.shape[-2:]))
    if compression is Compression.JPEG_LOSSLESS:
        from nii.kernels.jpeg_lossless import encode_frame  # numba: loaded when first needed

        return [encode_frame(frame) for frame in frames]
    if compression is Compression.J2K and min(frames.shape[1:]) < J2K_MINIMUM_SIZE:
        raise UnsupportedError(
            f"the JPEG 2000 encoder (6 resolution levels) needs frames of at least {J2K_MINIMUM_SIZE} × "
            f"{J2K_MINIMUM_SIZE} pixels, got {frames.shape[1]} × {frames.shape[2]}; use another compression"
        )
    encoder = _PYDICOM_ENCODERS[compression]
    options: dict[str, Any] = {
        "rows": frames.shape[1],
        "columns": frames.shape[2],
        "number_of_frames": 1,
        "samples_per_pixel": 1,
        "bits_allocated": 16,
        "bits_stored": 16,
        "pixel_representation": 1 if pixels.dtype.kind == "i" else 0,
        "photometric_interpretation": "MONOCHROME2",
    }
    try:
        return [encoder.encode(np.ascontiguousarray(frame), **options) for frame in frames]
    except RuntimeError as error:  # pydicom: no plug-in installed for this encoder
        raise UnsupportedError(f"cannot encode {compression.value}: {error}") from error


def _write_item(handle: BinaryIO, payload: bytes, length: int | None = None) -> None:
    length = len(payload) if length is None else length
    handle.write(struct.pack("<HHI", 0xFFFE, 0xE000, length))
    handle.write(payload)
    handle.write(bytes(length - len(payload)))


def _write_encapsulated_pixel_data(handle: BinaryIO, pixels: np.ndarray, compression: Compression) -> None:
    fragments = _encode_frames(pixels, compression)
    # Items hold an even number of bytes: odd fragments get one zero byte of padding.
    padded = [len(fragment) + len(fragment) % 2 for fragment in fragments]
    offsets = np.cumsum([0] + [length + 8 for length in padded[:-1]], dtype=np.uint64)
    if offsets[-1] >= 2**32:
        raise UnsupportedError("compressed pixel data over 4 GiB cannot be indexed by a Basic Offset Table")
    handle.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF))
    _write_item(handle, offsets.astype("<u4").tobytes())
    for fragment, length in zip(fragments, padded, strict=True):
        _write_item(handle, fragment, length)
    handle.write(struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))


@dataclass(frozen=True)
class EncodedInstance:
    """A DICOS instance ready for its file: its encoded bytes up to the pixels, and the pixels.

    Encoding needs the GIL; writing the file (and compressing its frames) does not. The scan
    writer encodes each instance in the thread that builds them and hands the file to the
    writer thread (uncompressed: :attr:`parts`) or the thread pool (compressed: :meth:`write`),
    so the disk works while the next instance is built. Uncompressed pixels are written
    straight from the array's buffer (no ``tobytes()`` copy).
    """

    header: bytes
    """Preamble, file meta and dataset, and for uncompressed pixels the Pixel Data element header."""
    pixels: np.ndarray | None
    """Little-endian C-order pixels for uncompressed files, the pixels to compress otherwise, or None."""
    compression: Compression

    @classmethod
    def encode(
        cls, dataset: Dataset, pixels: np.ndarray | None = None, *, compression: Compression, version: str
    ) -> EncodedInstance:
        """Give ``dataset`` (every element but Pixel Data) its file meta and encode it.

        Parameters
        ----------
        dataset
            The instance; it gets its file meta here.
        pixels
            ``(rows, columns)`` or ``(frames, rows, columns)`` 16-bit array, or None (TDR).
        compression
            Encoding of the pixels; objects without pixels are always Explicit VR Little Endian.
        version
            DICOS version for (0002,0004).
        """
        if pixels is None:
            compression = Compression.NONE
        transfer_syntax = compression.transfer_syntax
        if transfer_syntax.is_encapsulated:
            dataset.LossyImageCompression = "00"
        dataset.file_meta = _file_meta(dataset, transfer_syntax, version)
        header = encode_file(dataset)
        if pixels is not None and compression is Compression.NONE:
            # Little-endian C order is what Pixel Data holds (a copy only for other layouts).
            pixels = np.ascontiguousarray(pixels, dtype=pixels.dtype.newbyteorder("<"))
            header += struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, pixels.nbytes)
        return cls(header, pixels, compression)

    @property
    def parts(self) -> list[memoryview] | None:
        """An uncompressed file's bytes as the buffers to write one after the other (the header,
        then the pixels straight from the array); None for a compressed file, whose frames
        :meth:`write` encodes."""
        if self.pixels is not None and self.compression is not Compression.NONE:
            return None
        parts = [memoryview(self.header)]
        if self.pixels is not None:
            parts.append(self.pixels.data.cast("B"))
        return parts

    def write(self, path: Path, *, start_writeback: bool = False) -> None:
        """Write the Part 10 file ``path``.

        ``start_writeback`` has the kernel start writing the file to disk before returning,
        without waiting (:func:`nii.io.start_writeback`); the caller fsyncs when all files
        are written.
        """
        parts = self.parts
        if parts is None:
            assert self.pixels is not None
            with open(path, "wb") as handle:
                handle.write(self.header)
                _write_encapsulated_pixel_data(handle, self.pixels, self.compression)
                handle.flush()
                if start_writeback:
                    nii.io.start_writeback(handle.fileno())
            return
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            nii.io.write_parts(descriptor, parts)
            if start_writeback:
                nii.io.start_writeback(descriptor)
        finally:
            os.close(descriptor)


def write_instance(
    path: Path,
    dataset: Dataset,
    pixels: np.ndarray | None = None,
    *,
    compression: Compression = Compression.NONE,
    version: str,
) -> None:
    """Write ``dataset`` (without Pixel Data) and ``pixels`` as a DICOS Part 10 file.

    See :meth:`EncodedInstance.encode` for the parameters.
    """
    EncodedInstance.encode(dataset, pixels, compression=compression, version=version).write(path)


# ----------------------------------------------------------------------------- reading


@contextmanager
def tolerant_reading() -> Iterator[None]:
    """Read values as they are, without pydicom's per-access warnings.

    The reference toolkit writes UIDs with leading-zero components (doc §12); readers must
    accept them and not "fix" them. The validator reports them once per file instead.
    """
    previous = config.settings.reading_validation_mode
    config.settings.reading_validation_mode = config.IGNORE
    try:
        yield
    finally:
        config.settings.reading_validation_mode = previous


def normalise_number_of_frames(dataset: Dataset, path: Path) -> None:
    """Re-set Number of Frames as IS when the file has it as US (reference quirk, doc §6.3)."""
    raw = dataset.get_item(NUMBER_OF_FRAMES)
    if raw is None:
        return
    value = raw.value
    if not isinstance(value, bytes):
        return
    text = value.strip(b" \0")
    try:
        if raw.VR == "US" or (len(value) == 2 and not text.isdigit()):
            frames = int.from_bytes(value[:2], "little" if getattr(raw, "is_little_endian", True) else "big")
        else:
            frames = int(text.decode("ascii")) if text else 1
    except (UnicodeDecodeError, ValueError) as error:
        raise CorruptFileError(f"{tag_text(NUMBER_OF_FRAMES)} holds {value!r}, not a number", path=path) from error
    del dataset[NUMBER_OF_FRAMES]
    dataset.NumberOfFrames = frames


class BoundedReader(io.BufferedReader):
    """A file whose reads never ask for more than the file holds: pydicom reads an element's
    length as the file states it, and a damaged length of 4 GB must not allocate 4 GB."""

    def __init__(self, path: Path) -> None:
        super().__init__(io.FileIO(os.fspath(path), "rb"))  # a str name: pydicom re-opens it for deferred reads
        self.size = os.fstat(self.fileno()).st_size

    def read(self, size: int | None = -1, /) -> bytes:
        if size is not None and size > 0:
            size = min(size, max(0, self.size - self.tell()))
        return super().read(size)


def read_dataset(
    path: Path, *, stop_before_pixels: bool = False, tags: Iterable[int] | None = None, normalise: bool = True
) -> Dataset:
    """Read a DICOS file's dataset (large elements deferred) with its quirks normalised.

    ``normalise=False`` keeps Number of Frames as the file has it (for the validator).

    Raises
    ------
    CorruptFileError
        Not a Part 10 file (no preamble and ``DICM``), no file meta, or unparsable.
    TruncatedFileError
        The file ends inside an element.
    """
    try:
        with BoundedReader(path) as handle:
            dataset = pydicom.dcmread(
                handle,
                defer_size=DEFER_SIZE,
                stop_before_pixels=stop_before_pixels,
                specific_tags=list(tags) if tags is not None else None,
            )
    except MemoryError as error:
        raise LimitExceededError("an element is larger than the memory available", path=path) from error
    except InvalidDicomError as error:
        raise CorruptFileError(
            f"not a DICOS/DICOM Part 10 file (no 128-byte preamble and 'DICM'): {error}", path=path
        ) from error
    except EOFError as error:
        raise TruncatedFileError(f"file ends inside an element: {error}", path=path) from error
    except (ValueError, struct.error, KeyError, TypeError, NotImplementedError) as error:
        raise CorruptFileError(f"unreadable DICOM structure: {type(error).__name__}: {error}", path=path) from error
    meta = dataset.file_meta
    if "TransferSyntaxUID" not in meta:
        raise CorruptFileError(f"file meta has no {tag_text(0x00020010)}", path=path)
    if meta.TransferSyntaxUID == EXTENDED_LITTLE_ENDIAN:
        raise UnsupportedError(
            "transfer syntax 1.2.840.10008.1.2.1.64 (Explicit VR Little Endian Extended, 64-bit pixel length) "
            "is not supported",
            path=path,
        )
    if normalise:
        normalise_number_of_frames(dataset, path)
    return dataset


def integer(dataset: Dataset, tag: int, *, path: Path, default: int | None = None) -> int:
    """The integer value of ``tag``; a clear error when it is missing or not a number."""
    if tag not in dataset:
        if default is not None:
            return default
        raise CorruptFileError(f"required attribute {tag_text(tag)} is missing", path=path)
    element = dataset[tag]
    try:
        value = element.value
        if isinstance(value, bytes):
            raise TypeError("raw bytes")
        return int(value)
    except (TypeError, ValueError) as error:
        raise CorruptFileError(
            f"{tag_text(tag)} has the invalid value {element.value!r} (VR {element.VR})", path=path
        ) from error


def _pixel_dtype(dataset: Dataset, path: Path) -> np.dtype:
    samples = integer(dataset, 0x00280002, path=path, default=1)
    if samples != 1:
        raise UnsupportedError(f"{tag_text(0x00280002)} is {samples}: only single-sample images are read", path=path)
    bits = integer(dataset, 0x00280100, path=path)
    wide = next((tag for tag in WIDE_PIXEL_DATA if tag in dataset), None)
    if wide is not None and bits in (32, 64):
        signed = integer(dataset, 0x00280103, path=path, default=0) == 1
        kind = "f" if wide == WIDE_PIXEL_DATA[2] else ("i" if signed else "u")
        return np.dtype(f"<{kind}{bits // 8}")
    if bits not in (8, 16):
        raise UnsupportedError(f"{tag_text(0x00280100)} is {bits}: only 8- and 16-bit pixels are read", path=path)
    signed = integer(dataset, 0x00280103, path=path, default=0) == 1
    dtype = np.dtype(f"{'i' if signed else 'u'}{bits // 8}")
    if dataset.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRBigEndian:
        dtype = dtype.newbyteorder(">")
    return dtype


def read_pixels(dataset: Dataset, path: Path) -> np.ndarray:
    """The image as ``(frames, rows, columns)``; memory-mapped when uncompressed.

    Raises
    ------
    CorruptFileError
        Dimensions missing or invalid; undecodable compressed data.
    TruncatedFileError
        Pixel Data is shorter than Rows × Columns × frames, or the file ends inside it.
    LimitExceededError
        The announced size is over :mod:`nii.limits`.
    UnsupportedError
        A pixel layout nii does not read (colour, 32-bit, unknown codec).
    """
    rows = integer(dataset, 0x00280010, path=path)
    columns = integer(dataset, 0x00280011, path=path)
    frames = integer(dataset, NUMBER_OF_FRAMES, path=path, default=1)
    dtype = _pixel_dtype(dataset, path)
    shape = (frames, rows, columns)
    try:
        needed = check_image_size(shape, dtype, path=None)
    except (CorruptFileError, LimitExceededError) as error:
        raise type(error)(
            f"{tag_text(NUMBER_OF_FRAMES)} × {tag_text(0x00280010)} × {tag_text(0x00280011)} = {shape}: "
            f"{error.problem}",
            path=path,
        ) from error
    raw = dataset.get_item(PIXEL_DATA, keep_deferred=True)
    if raw is None and any(tag in dataset for tag in WIDE_PIXEL_DATA):
        return _wide_pixels(dataset, path, shape, dtype, needed)
    if raw is None:
        raise CorruptFileError(f"required attribute {tag_text(PIXEL_DATA)} is missing", path=path)
    syntax = dataset.file_meta.TransferSyntaxUID
    if not syntax.is_encapsulated:
        return _native_pixels(dataset, raw, path, shape, dtype, needed)
    if syntax != RLELossless:
        _check_codestream_ends(dataset, frames, path)
    try:
        decoded = dataset.pixel_array
    except Exception as error:  # decoders raise many types; all mean "cannot decode this file"
        raise CorruptFileError(
            f"{tag_text(PIXEL_DATA)} cannot be decoded ({dataset.file_meta.TransferSyntaxUID.name}): "
            f"{type(error).__name__}: {error}",
            path=path,
        ) from error
    decoded = decoded.reshape((-1, *decoded.shape[-2:])) if decoded.ndim >= 2 else decoded
    if decoded.shape != shape:
        raise CorruptFileError(
            f"{tag_text(PIXEL_DATA)} decodes to {decoded.shape}, the header announces {shape}", path=path
        )
    return decoded


WIDE_PIXEL_DATA = (0x7FE00011, 0x7FE00012, 0x7FE00013)
"""Where the reference toolkit puts 32-bit (OL), 64-bit (OD) and float (OF) pixels (doc §2.2)."""


def _wide_pixels(dataset: Dataset, path: Path, shape: tuple[int, int, int], dtype: np.dtype, needed: int) -> np.ndarray:
    """32-bit, 64-bit or float pixels of the reference toolkit's non-standard classes (V02A DX)."""
    if dataset.file_meta.TransferSyntaxUID != ExplicitVRLittleEndian:
        raise UnsupportedError(
            "32-bit, 64-bit and float pixels are read from Explicit VR Little Endian only", path=path
        )
    tag = next(tag for tag in WIDE_PIXEL_DATA if tag in dataset)
    raw = dataset.get_item(tag, keep_deferred=True)
    if tag != WIDE_PIXEL_DATA[1]:
        return _native_pixels(dataset, raw, path, shape, dtype, needed)
    # The reference writes the 64-bit element as tag, "OD", an 8-byte length, the values;
    # pydicom takes the length's first bytes as reserved and the rest as 0: its value
    # position is 2 bytes before the pixels.
    value_tell = getattr(raw, "value_tell", None)
    if value_tell is None:
        raise CorruptFileError(f"{tag_text(tag)} cannot be located in the file", path=path)
    with open(path, "rb") as handle:
        handle.seek(value_tell - 6)
        length = int.from_bytes(handle.read(8), "little")
    if length < needed or os.path.getsize(path) - (value_tell + 2) < needed:
        raise TruncatedFileError(f"{tag_text(tag)} holds fewer than the {needed} bytes announced", path=path)
    return np.memmap(path, dtype=dtype, mode="r", offset=value_tell + 2, shape=shape)


def _check_codestream_ends(dataset: Dataset, frames: int, path: Path) -> None:
    """JPEG, JPEG-LS and JPEG 2000 frames end with FF D9 (then padding); a decoder fills a cut one silently."""
    try:
        for index, frame in enumerate(generate_frames(dataset.PixelData, number_of_frames=frames)):
            # Pad bytes after EOI: 00 (DICOM), or D9 (the reference toolkit pads odd frames so).
            end = frame.rstrip(b"\0")
            if not (end.endswith(b"\xff\xd9") or end.endswith(b"\xff\xd9\xd9")):
                raise TruncatedFileError(
                    f"{tag_text(PIXEL_DATA)} frame {index} has no end-of-image marker: compressed data cut short",
                    path=path,
                )
    except (ValueError, struct.error) as error:
        raise CorruptFileError(f"{tag_text(PIXEL_DATA)}: bad encapsulation: {error}", path=path) from error


def _native_pixels(
    dataset: Dataset, raw: Any, path: Path, shape: tuple[int, int, int], dtype: np.dtype, needed: int
) -> np.ndarray:
    value = raw.value
    if getattr(raw, "length", None) == 0xFFFFFFFF:
        raise CorruptFileError(
            f"{tag_text(PIXEL_DATA)} is encapsulated but the transfer syntax "
            f"{dataset.file_meta.TransferSyntaxUID} is not a compressed one",
            path=path,
        )
    length = raw.length if value is None else len(value)
    if length < needed:
        raise TruncatedFileError(
            f"{tag_text(PIXEL_DATA)} holds {length} bytes, Rows × Columns × frames × {dtype.itemsize} needs {needed}",
            path=path,
        )
    if value is None:
        offset = raw.value_tell
        available = os.path.getsize(path) - offset
        if available < needed:
            raise TruncatedFileError(
                f"file ends inside {tag_text(PIXEL_DATA)}: {max(available, 0)} of {needed} bytes present", path=path
            )
        return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=shape)
    return np.frombuffer(value, dtype=dtype, count=needed // dtype.itemsize).reshape(shape)

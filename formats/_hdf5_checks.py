"""HDF5 structures checked before libhdf5 follows them: global heaps, attributes, links, storage.

libhdf5 trusts some of what a file says: it steps through a global heap collection by the
object sizes written in it (a zero size loops forever), and it follows an attribute's
variable-length values (text, lists) into those heaps by the collection address, object index
and length written in the attribute (a damaged one has crashed the process). Links and dataset
layouts can send it to other files (external links, virtual datasets, external raw storage).
This module reads those structures itself, bounded by the file size, and refuses what libhdf5
would not survive or should not follow:

* :class:`CheckedFile` reads an object's attributes only after walking its object header
  (version 1 and 2, continuation chunks) and checking every attribute message in it: the
  datatype (numbers, text and variable-length lists of numbers or characters; nothing that
  refers elsewhere: no references, no compound or array types, no shared datatypes), the
  dataspace, the data's size against the message, and each variable-length value's heap
  reference against its heap collection, which it walks first as libhdf5 will when it loads the
  collection for that value (object index and size; a collection is walked once, and only collections
  that checked values refer to are read: libhdf5 loads no other); the number of
  attributes found must be the number libhdf5 counts, so none is read unchecked (attributes in
  dense storage are refused);
* it refuses links to other files, virtual datasets and raw data kept in external files
  (:func:`check_storage`).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

from nii.errors import CorruptFileError, UnsupportedError
from nii.imports import lazy_module
from nii.registry import library_errors

if TYPE_CHECKING:
    import h5py
else:
    h5py = lazy_module("h5py", also=["hdf5plugin"])

__all__ = ["HDF5_ERRORS", "CheckedFile", "check_storage"]

HDF5_ERRORS = library_errors("OSError", "KeyError", "RuntimeError", "UnicodeDecodeError")
"""What h5py raises on a damaged file (an object that does not open, a read that fails, a chunk
index that does not iterate, text that is not UTF-8): the ``read_errors`` of the HDF5-based formats."""

_HEAP_SIGNATURE = b"GCOL\x01\x00\x00\x00"
"""A global heap collection: "GCOL", version 1, three reserved zero bytes, then its size."""
_HEAP_OBJECT_HEADER = 16
_SUPERBLOCK_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_UNDEFINED = 2**64 - 1
_MAX_CHUNKS = 256
"""Object header chunks followed per object (the writer of a scan uses a handful)."""
_MAX_RANK = 32
"""HDF5's limit on dataspace dimensions."""

_ATTRIBUTE, _CONTINUATION, _ATTRIBUTE_INFO = 0x000C, 0x0010, 0x0015
_INTEGER, _FLOAT, _STRING, _VARIABLE_LENGTH = 0, 1, 3, 9
"""The datatype classes nii reads (HDF5 datatype message, class in the low 4 bits of byte 0)."""
_IEEE_FLOATS = {
    2: (0, 16, 10, 5, 0, 10, 15),
    4: (0, 32, 23, 8, 0, 23, 127),
    8: (0, 64, 52, 11, 0, 52, 1023),
}
"""Size -> (bit offset, precision, exponent location and size, mantissa location and size, bias) of IEEE floats."""


def _heap_objects(collection: bytes, start: int, path: str | os.PathLike[str]) -> dict[int, int]:
    """Walk the global heap collection ``collection`` (its bytes; at byte ``start`` of the file) as HDF5 will
    when it loads it: from object to object by the sizes written in them. A zero size steps in place
    forever, a size past the end reads outside the collection (a crash); the walk is bounded by the
    collection's size. Returns each object's index and size."""
    end = len(collection)
    objects = {}
    here = 16
    while here + _HEAP_OBJECT_HEADER <= end:
        index, _, object_size = struct.unpack_from("<HHxxxxQ", collection, here)
        step = _HEAP_OBJECT_HEADER + -(-object_size // 8) * 8 if index else object_size
        if step < _HEAP_OBJECT_HEADER or here + step > end:
            raise CorruptFileError(
                f"global heap at byte {start}: object {index} at byte {start + here} has size {object_size}, "
                f"the heap ends at byte {start + end}",
                path=path,
            )
        if index:
            objects[index] = object_size
        here += step
    return objects


def check_storage(dataset: h5py.Dataset, *, path: str | os.PathLike[str]) -> None:
    """Refuse a dataset whose data HDF5 would read from other files (a virtual dataset, external raw storage)."""
    if dataset.is_virtual or dataset.id.get_create_plist().get_external_count():
        raise CorruptFileError(f"{dataset.name} keeps its data in other files; nii reads only this one", path=path)


def _plain_size(datatype: bytes, *, text: bool = False) -> int:
    """The size of an integer, IEEE float or fixed-length text datatype laid out as HDF5 writes them
    (``text``: only 1-byte integers, the characters of variable-length text); 0 for anything else.

    libhdf5 converts values by the layout the datatype announces; a damaged layout (a precision
    wider than the value, an unknown padding) is refused rather than converted.
    """
    if len(datatype) < 8:
        return 0
    kind, bits = datatype[0] & 0x0F, int.from_bytes(datatype[1:4], "little")
    (size,) = struct.unpack_from("<I", datatype, 4)
    if kind == _INTEGER and len(datatype) >= 12 and size in ((1,) if text else (1, 2, 4, 8)):
        offset, precision = struct.unpack_from("<HH", datatype, 8)
        return size if (offset, precision) == (0, 8 * size) and not bits & ~0x0F else 0
    if text:
        return 0
    if kind == _FLOAT and len(datatype) >= 20 and size in _IEEE_FLOATS:
        layout = struct.unpack_from("<HHBBBBI", datatype, 8)
        sign, normalised, unknown = bits >> 8 & 0xFF, bits >> 4 & 0x03, bits & ~0xFF31
        return size if layout == _IEEE_FLOATS[size] and sign == 8 * size - 1 and normalised == 2 and not unknown else 0
    if kind == _STRING and size:
        return size if bits & 0x0F <= 2 and bits >> 4 & 0x0F <= 1 and not bits >> 8 else 0
    return 0


def _variable_length(datatype: bytes) -> bool:
    """Whether the variable-length datatype is a sequence or text with known padding and character set."""
    bits = int.from_bytes(datatype[1:4], "little")
    kind, padding, charset = bits & 0x0F, bits >> 4 & 0x0F, bits >> 8 & 0x0F
    return (kind == 0 and not bits >> 4) or (kind == 1 and padding <= 2 and charset <= 1 and not bits >> 12)


class CheckedFile:
    """An open HDF5 file whose attributes, links and dataset layouts are checked before h5py reads them.

    Parameters
    ----------
    file
        The file, opened by h5py from a path on disk or from ``stream``.
    path
        The file, for error messages.
    stream
        The seekable binary file object h5py opened ``file`` from, if not a path.

    Examples
    --------
    >>> import h5py, tempfile, os
    >>> name = os.path.join(tempfile.mkdtemp(), "a.h5")
    >>> with h5py.File(name, "w") as file:
    ...     file.create_group("g").attrs["text"] = "hello"
    >>> with h5py.File(name, "r") as file:
    ...     checked = CheckedFile(file, path=name)
    ...     checked.attributes(checked.member(file, "g"))
    {'text': 'hello'}
    """

    def __init__(self, file: h5py.File, *, path: str | os.PathLike[str], stream: IO[bytes] | None = None) -> None:
        self.file = file
        self.path = path
        self._heaps: dict[int, dict[int, int] | None] = {}
        """Global heap collections walked so far, by file offset (None: no collection there)."""
        self._stream = stream
        if stream is None:
            self._descriptor = file.id.get_vfd_handle()
            self._size = os.fstat(self._descriptor).st_size
        else:
            self._size = stream.seek(0, os.SEEK_END)
        self._base, self._offset_size, self._length_size = self._superblock()
        self._refuse_external_links()

    def corrupt(self, problem: str) -> CorruptFileError:
        return CorruptFileError(problem, path=self.path)

    def _read(self, offset: int, size: int, what: str) -> bytes:
        if offset < 0 or size < 0 or offset + size > self._size:
            raise self.corrupt(f"{what} at byte {offset} ({size} bytes) lies beyond the end of the file")
        if self._stream is None:
            data = os.pread(self._descriptor, size, offset)
        else:
            self._stream.seek(offset)  # h5py's file-object driver seeks before each of its reads too
            data = self._stream.read(size)
        if len(data) != size:  # the file shrank, or a stream that reads short
            raise self.corrupt(f"{what} at byte {offset}: {len(data)} of its {size} bytes could be read")
        return data

    def _heap(self, start: int) -> dict[int, int] | None:
        """The objects (index and size) of the global heap collection at byte ``start``, walked once; None when
        no collection starts there."""
        if start not in self._heaps:
            head = self._read(start, 16, "global heap") if 0 <= start <= self._size - 16 else b""
            objects = None
            if head[:8] == _HEAP_SIGNATURE:
                (length,) = struct.unpack_from("<Q", head, 8)
                if length < 4096 or length > self._size - start:
                    raise self.corrupt(
                        f"global heap at byte {start} announces {length} bytes ({self._size - start} left)"
                    )
                objects = _heap_objects(self._read(start, length, "global heap"), start, self.path)
            self._heaps[start] = objects
        return self._heaps[start]

    def _superblock(self) -> tuple[int, int, int]:
        """Where HDF5 data starts (addresses count from there), and the sizes of addresses and lengths."""
        start = 0
        while start + 16 <= self._size:  # HDF5 looks at 0, 512, 1024, 2048, ...
            head = self._read(start, 16, "superblock")
            if head[:8] == _SUPERBLOCK_SIGNATURE:
                sizes = (head[13], head[14]) if head[8] < 2 else (head[9], head[10])
                if sizes != (8, 8):
                    raise UnsupportedError(
                        f"HDF5 addresses of {sizes[0]} bytes and lengths of {sizes[1]}", path=self.path
                    )
                return start, 8, 8
            start = max(512, start * 2)
        raise self.corrupt("no HDF5 superblock")

    def _refuse_external_links(self) -> None:
        """Refuse links to other files (and user-defined ones) anywhere in the file, before any is followed.

        HDF5's walk follows hard links only, once per object; soft links stay in the file.
        """

        def elsewhere(name: bytes, info: Any) -> bytes | None:  # a value other than None stops the walk
            return name if info.type not in (h5py.h5l.TYPE_HARD, h5py.h5l.TYPE_SOFT) else None

        if (name := self.file.id.links.visit(elsewhere, info=True)) is not None:
            raise self.corrupt(f"/{name.decode('utf-8', 'replace')} links to another file; nii reads only this one")

    def member(self, group: h5py.Group, name: str) -> h5py.Group | h5py.Dataset | None:
        """``group[name]``, or None if there is no such link; a dataset keeping its data elsewhere is refused."""
        if not group.id.links.exists(name.encode()):
            return None
        node = group[name]
        if isinstance(node, h5py.Dataset):
            check_storage(node, path=self.path)
        return node

    def members(self, group: h5py.Group) -> dict[str, h5py.Group | h5py.Dataset]:
        """Every member of ``group`` by name, in the group's order, each as :meth:`member` gives it."""
        return {name: node for name in group if (node := self.member(group, name)) is not None}

    def attributes(self, node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
        """The attributes of ``node`` as h5py reads them, after checking each one in the file.

        Raises
        ------
        CorruptFileError
            An attribute does not fit its object header, refers to a missing or differently
            sized heap object, or is of a type nii does not read; or its object header is damaged.
        UnsupportedError
            The attributes are kept in dense storage (more than eight, in new-style objects).
        """
        info = h5py.h5o.get_info(node.id)
        where = node.name or "/"
        found = 0
        for kind, flags, message in self._messages(info.addr, where):
            if kind == _ATTRIBUTE_INFO:
                self._refuse_dense(message, where)
            elif kind == _ATTRIBUTE:
                if flags & 0x02:
                    raise self.corrupt(f"{where}: an attribute is a shared message; nii reads attributes in place")
                self._check_attribute(message, where)
                found += 1
        if found != info.num_attrs:
            raise self.corrupt(f"{where}: HDF5 counts {info.num_attrs} attributes, its object header holds {found}")
        return dict(node.attrs.items())

    def _messages(self, address: int, where: str) -> Iterator[tuple[int, int, bytes]]:
        """``(type, flags, data)`` of each message in the object header at ``address``, all chunks."""
        start = self._base + address
        head = self._read(start, 16, f"{where}: object header")
        if head[:4] == b"OHDR":
            chunks, header = self._chunks_v2(start, head, where)
        elif head[0] == 1:
            (size,) = struct.unpack_from("<I", head, 8)
            chunks, header = [(start + 16, size)], 8
        else:
            raise self.corrupt(f"{where}: object header at byte {start} has version {head[0]}")
        visited = {start}
        while chunks:
            if len(visited) > _MAX_CHUNKS:
                raise self.corrupt(f"{where}: object header continues over more than {_MAX_CHUNKS} chunks")
            chunk_start, chunk_size = chunks.pop(0)
            data = self._read(chunk_start, chunk_size, f"{where}: object header chunk")
            for kind, flags, message in self._chunk_messages(data, header, where):
                if kind == _CONTINUATION:
                    if len(message) < 16:
                        raise self.corrupt(f"{where}: short continuation message")
                    offset, length = struct.unpack_from("<QQ", message)
                    begin = self._base + offset
                    if begin in visited:
                        raise self.corrupt(f"{where}: object header continues into itself at byte {begin}")
                    visited.add(begin)
                    chunks.append(self._continuation(begin, length, v2=header != 8, where=where))
                else:
                    yield kind, flags, message

    def _chunks_v2(self, start: int, head: bytes, where: str) -> tuple[list[tuple[int, int]], int]:
        """The first chunk of a version 2 object header, and the size of its message headers."""
        flags = head[5]
        here = 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        field = self._read(start + here, width, f"{where}: object header")
        size = int.from_bytes(field, "little")
        return [(start + here + width, size)], 6 if flags & 0x04 else 4

    def _continuation(self, begin: int, length: int, *, v2: bool, where: str) -> tuple[int, int]:
        if not v2:
            return begin, length
        if length < 8 or self._read(begin, 4, f"{where}: continuation chunk") != b"OCHK":
            raise self.corrupt(f"{where}: continuation chunk at byte {begin} has no OCHK signature")
        return begin + 4, length - 8  # signature before, checksum after

    def _chunk_messages(self, data: bytes, header: int, where: str) -> Iterator[tuple[int, int, bytes]]:
        """The messages of one chunk; ``header``: 8 bytes each in version 1 headers, 4 or 6 in version 2."""
        here = 0
        while here + header <= len(data):
            kind, size, flags = struct.unpack_from("<HHB" if header == 8 else "<BHB", data, here)
            here += header
            if here + size > len(data):
                raise self.corrupt(f"{where}: an object header message of {size} bytes overruns its chunk")
            yield kind, flags, data[here : here + size]
            here += size

    def _refuse_dense(self, message: bytes, where: str) -> None:
        if len(message) < 2:
            raise self.corrupt(f"{where}: short attribute information message")
        here = 2 + (2 if message[1] & 0x01 else 0)
        if len(message) < here + 8:
            raise self.corrupt(f"{where}: short attribute information message")
        (heap,) = struct.unpack_from("<Q", message, here)
        if heap != _UNDEFINED:
            raise UnsupportedError(
                f"{where}: attributes in dense storage (a fractal heap); nii reads those kept in the object header",
                path=self.path,
            )

    def _check_attribute(self, message: bytes, where: str) -> None:
        if len(message) < 8:
            raise self.corrupt(f"{where}: short attribute message")
        version, flags, name_size, type_size, space_size = struct.unpack_from("<BBHHH", message)
        if version not in (1, 2, 3):
            raise self.corrupt(f"{where}: attribute message version {version}")
        if version > 1 and flags & 0x03:
            raise self.corrupt(f"{where}: an attribute with a shared datatype or dataspace; nii reads them in place")
        padding = 8 if version == 1 else 1
        here = 8 if version < 3 else 9
        parts = []
        for size in (name_size, type_size, space_size):
            parts.append(message[here : here + size])
            here += -(-size // padding) * padding
        if here > len(message) or min(name_size, type_size, space_size) < 1:
            raise self.corrupt(f"{where}: attribute message parts overrun the message")
        name = parts[0].rstrip(b"\0").decode("utf-8", "replace")
        what = f"{where}: attribute {name!r}"
        count = self._element_count(parts[2], what)
        element, base = self._element_size(parts[1], what)
        if count * element > len(message) - here:
            raise self.corrupt(f"{what} announces {count} values of {element} bytes; its message holds fewer")
        if base is not None:
            for index in range(count):
                self._check_reference(message, here + index * element, base, what)

    def _element_count(self, space: bytes, what: str) -> int:
        if len(space) < 4 or space[0] not in (1, 2) or space[1] > _MAX_RANK:
            raise self.corrupt(f"{what} has a damaged dataspace")
        version, rank, kind = space[0], space[1], space[3]
        here = 8 if version == 1 else 4
        if len(space) < here + rank * self._length_size:
            raise self.corrupt(f"{what} has a dataspace shorter than its {rank} dimensions")
        if version == 2 and kind == 2:
            return 0
        dims = struct.unpack_from(f"<{rank}Q", space, here)
        return math.prod(dims)

    def _element_size(self, datatype: bytes, what: str) -> tuple[int, int | None]:
        """Bytes per value in the file, and for variable-length values the bytes per item of the sequence."""
        kind = datatype[0] & 0x0F if datatype else -1
        if kind == _VARIABLE_LENGTH and len(datatype) >= 8 and _variable_length(datatype):
            return 4 + self._offset_size + 4, _plain_size(datatype[8:], text=datatype[1] & 0x0F == 1)
        if size := _plain_size(datatype):
            return size, None
        raise self.corrupt(
            f"{what} has a datatype nii does not read (class {kind}; nii reads integers, IEEE floats, text "
            "and variable-length lists of them) or a damaged one"
        )

    def _check_reference(self, message: bytes, here: int, item_size: int, what: str) -> None:
        """One variable-length value: its length, then its global heap collection and object index."""
        length, collection, index = struct.unpack_from("<IQI", message, here)
        if collection == 0:  # an empty value: HDF5 reads nothing
            return
        objects = self._heap(self._base + collection)
        if objects is None:
            raise self.corrupt(f"{what} refers to a global heap at address {collection}, where there is none")
        if objects.get(index) != length * item_size:
            raise self.corrupt(
                f"{what} refers to object {index} of {length * item_size} bytes in the global heap at address "
                f"{collection}; the heap holds {objects.get(index, 'no such object')}"
            )

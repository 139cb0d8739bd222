"""Explicit VR Little Endian encoding of the datasets nii writes, in a fraction of pydicom's time.

pydicom's writer spends about 40 µs of Python per data element (on the 2-core machine the
benchmarks run on): 3.5 ms for the header of one DX instance, 14 ms for the four files of
a two-view baggage scan, more than writing their pixels to disk. The DICOS writer encodes
headers here instead: one pass over the elements in tag order, each turned into bytes by its
Value Representation, as PS3.5 §7.1.2 lays out Explicit VR Little Endian (defined lengths
throughout, sequences and items included, as pydicom writes them).

The output is byte-for-byte what ``pydicom.dcmwrite(..., enforce_file_format=True)``
writes for the same dataset (``tests/formats/dicos/test_encode.py`` compares them on every
DX, CT and TDR nii produces). Anything this encoder does not know — a character set other
than the default or UTF-8, an element still in its raw form, a VR it has no rule for —
raises :class:`NotEncodable`, and :func:`encode_file` leaves the whole dataset to pydicom.

To stay fast it reads pydicom's internals (``Dataset._dict``, ``DataElement._value``,
``MultiValue._list``) instead of the public accessors, which convert and validate on every
access; ``pyproject.toml`` therefore admits only the pydicom releases those tests cover.
"""

from __future__ import annotations

import functools
import io
import math
import operator
import struct
from collections.abc import Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from typing import Any, TypeVar, cast

import pydicom
from pydicom.datadict import dictionary_VR, tag_for_keyword
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag
from pydicom.uid import UID
from pydicom.valuerep import IS, DSfloat

__all__ = [
    "NotEncodable",
    "TemplateCache",
    "TemplateElement",
    "copy_elements",
    "encode_dataset",
    "encode_file",
    "freeze_template",
    "owned_copy",
    "set_elements",
    "set_private_elements",
    "values_key",
]

PREAMBLE = bytes(128) + b"DICM"

_LONG_LENGTH_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"})
"""VRs with two reserved bytes and a 32-bit length (PS3.5 Table 7.1-1); the others have a 16-bit length."""
_CHARSET_VRS = frozenset({"LO", "LT", "PN", "SH", "ST", "UC", "UT"})
"""VRs whose text is encoded in the dataset's Specific Character Set; the rest are ASCII."""
_NUMBER_FORMATS = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "SV": "q", "UV": "Q"}
_BYTES_VRS = frozenset({"OB", "OD", "OF", "OL", "OV", "OW", "UN"})
_CHARSETS = {"": "latin_1", "ISO_IR 6": "latin_1", "ISO_IR 100": "latin_1", "ISO_IR 192": "utf_8"}
"""Specific Character Set (0008,0005) values encoded here, and their Python codec (pydicom's choices)."""
_SPECIFIC_CHARACTER_SET = BaseTag(0x00080005)


class NotEncodable(Exception):
    """The dataset holds something this encoder leaves to pydicom."""


def _text(value: Any) -> str:
    original = getattr(value, "original_string", None)
    return original if isinstance(original, str) else str(value)


def _values(value: Any) -> Sequence[Any]:
    if value is None or value == "":
        return ()
    # Multiple values are lists (MultiValue); anything else, PersonName included, is one value.
    if type(value) is MultiValue:  # the common case, without the ABC machinery of isinstance
        return value
    return value if isinstance(value, MultiValue | list | tuple) else (value,)


def _encode_value(element: DataElement, codec: str) -> bytes:
    vr, value = element.VR, element.value
    if vr == "SQ":
        raise AssertionError("sequences are encoded by _encode_elements")
    if vr in _BYTES_VRS:
        if value is None:
            return b""
        if not isinstance(value, bytes | bytearray | memoryview):
            raise NotEncodable(f"{element.tag} {vr} holds {type(value).__name__}, not bytes")
        data = bytes(value)
        return data + b"\0" if len(data) % 2 else data
    if vr in _NUMBER_FORMATS:
        items = list(_values(value))
        return struct.pack(f"<{len(items)}{_NUMBER_FORMATS[vr]}", *items)
    if vr == "AT":
        raise NotEncodable("AT values are left to pydicom")
    items = [_text(item) for item in _values(value)]
    text = "\\".join(items)
    data = text.encode(codec if vr in _CHARSET_VRS else "latin_1")
    if len(data) % 2:
        data += b"\0" if vr == "UI" else b" "
    return data


def _header(tag: int, vr: str, length: int) -> bytes:
    if vr in _LONG_LENGTH_VRS:
        return struct.pack("<HH2sHI", tag >> 16, tag & 0xFFFF, vr.encode(), 0, length)
    if length > 0xFFFF:
        raise NotEncodable(f"({tag >> 16:04X},{tag & 0xFFFF:04X}) {vr} value of {length} bytes needs a 32-bit length")
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr.encode(), length)


def _encode_elements(dataset: Dataset, codec: str, out: list[bytes]) -> None:
    # The elements as they are (no conversion of raw ones by access), in tag order; sorted as
    # plain ints, because comparing pydicom's tags runs Python code.
    elements = dataset._dict
    for tag in sorted(elements, key=int):
        element = elements[tag]
        if not isinstance(element, DataElement):
            raise NotEncodable(f"{tag} is still a raw element")
        vr = element.VR
        if vr == "SQ":
            items: list[bytes] = []
            for item in element.value or ():
                parts: list[bytes] = []
                _encode_elements(item, codec, parts)
                body = b"".join(parts)
                items.append(struct.pack("<HHI", 0xFFFE, 0xE000, len(body)) + body)
            body = b"".join(items)
            out.append(_header(tag, vr, len(body)))
            out.append(body)
            continue
        memo = element.__dict__.get(_MEMO)
        if memo is not None and memo[0] is element._value and memo[1] == codec:  # the common case, inline
            out.append(memo[2])
            continue
        memoized = _memoized(element, codec)
        out.append(_encode_element(tag, element, codec) if memoized is None else memoized)


def _encode_element(tag: int, element: DataElement, codec: str) -> bytes:
    vr = element.VR
    if len(vr) != 2 or "or" in vr:
        raise NotEncodable(f"{tag} has the ambiguous VR {vr}")
    data = _encode_value(element, codec)
    return _header(tag, vr, len(data)) + data


_D = TypeVar("_D", bound=Dataset)
_MEMO = "_nii_encoded"
"""Attribute of an element holding ``(value, codec, bytes)``: its encoding, valid while the
element still holds that very value object (immutable values), or for a multi-value, a list of
those very items (``value`` is then the tuple of the items)."""
_IMMUTABLE = (str, int, float, bytes)


def _memoized(element: DataElement, codec: str) -> bytes | None:
    memo = element.__dict__.get(_MEMO)
    if memo is None or memo[1] != codec:
        return None
    held, value = memo[0], element._value
    if held is value:
        return cast(bytes, memo[2])
    if type(held) is tuple and type(value) is MultiValue:
        items = value._list
        # The very same item objects (a DSfloat keeps the text it was made from; equal is not enough).
        if len(items) == len(held) and all(map(operator.is_, items, held)):
            return cast(bytes, memo[2])
    return None


def freeze_template(template: _D, *, charset: str = "ISO_IR 192") -> _D:
    """Make ``template`` a template: its elements encoded once, then frozen, for every dataset they are copied into.

    Each element keeps its bytes beside the value they encode (an element's copy made by
    :func:`copy_elements` carries them; the encoder reuses them as long as the copy holds the same
    value object, or for a multi-value, the same item objects; an element given a new value is
    encoded anew; sequences are never memoized). The elements, those of sequence items included,
    become :class:`TemplateElement`: they refuse changes from now on, so that instances can borrow
    them (see :func:`copy_elements`). Templates hold public elements only.
    """
    codec = _CHARSETS[charset]
    for tag, element in template._dict.items():
        if tag & 0x10000:  # an odd group
            raise ValueError(f"templates hold public elements only, not {tag}")
        if type(element) is DataElement:
            _memoize_element(element, codec)
            if element.VR == "SQ":
                for item in element._value:
                    freeze_template(item, charset=charset)
            element.__class__ = TemplateElement
        elif type(element) is not TemplateElement:
            raise ValueError(f"templates hold converted elements only, not the raw {tag}")
    object.__setattr__(template, _FROZEN, True)
    return template


class TemplateElement(DataElement):
    """An element of a template (:func:`freeze_template`), which every instance borrowing it holds.

    It refuses every change. A :class:`~nii.formats.dicos.instance.DicosInstance` gives out its
    own copy (:func:`owned_copy`) of a borrowed element before anything can reach it, so a change
    that gets here came around the instance (a ``Dataset(instance)`` sharing its elements) and
    would otherwise have changed every instance built from the template since.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        raise TypeError(
            f"{self.tag} belongs to a template shared by many DICOS instances: change it through the instance"
        )

    def __delattr__(self, name: str) -> None:
        self.__setattr__(name, None)

    def __deepcopy__(self, memo: dict[int, Any]) -> DataElement:
        return owned_copy(self)  # the values are immutable and sequence items copied: a deep copy


_FROZEN = "_nii_frozen_template"
"""Attribute of a dataset :func:`freeze_template` froze."""


def _memoize_element(element: DataElement, codec: str) -> DataElement:
    if element.VR == "SQ" or _memoized(element, codec) is not None:
        return element
    value = element._value
    if type(value) is MultiValue and all(isinstance(item, _IMMUTABLE) for item in value._list):
        value = tuple(value._list)
    if isinstance(value, (*_IMMUTABLE, tuple)):
        with suppress(NotEncodable, struct.error, UnicodeEncodeError):
            element.__dict__[_MEMO] = (value, codec, _encode_element(int(element.tag), element, codec))
    return element


def _codec(dataset: Dataset) -> str:
    element = dataset._dict.get(_SPECIFIC_CHARACTER_SET)
    value = "" if element is None else getattr(element, "value", None)
    if not isinstance(value, str) or value not in _CHARSETS:
        raise NotEncodable(f"Specific Character Set {value!r}")
    return _CHARSETS[value]


def encode_dataset(dataset: Dataset) -> bytes:
    """The dataset's elements (not its file meta) in Explicit VR Little Endian.

    Raises
    ------
    NotEncodable
        Something this encoder leaves to pydicom.
    """
    parts: list[bytes] = []
    _encode_elements(dataset, _codec(dataset), parts)
    return b"".join(parts)


def _encode_file_meta(meta: FileMetaDataset) -> bytes:
    parts: list[bytes] = []
    _encode_elements(meta, "latin_1", parts)
    body = b"".join(parts)
    return _header(0x00020000, "UL", 4) + struct.pack("<I", len(body)) + body


def encode_file(dataset: Dataset) -> bytes:
    """Preamble, file meta and dataset of a Part 10 file in Explicit VR Little Endian.

    The same bytes as ``pydicom.dcmwrite(file, dataset, enforce_file_format=True)`` for the
    datasets nii writes (whose file meta holds every required element and no group length);
    whatever this module cannot encode goes through pydicom.

    Examples
    --------
    >>> from pydicom.dataset import Dataset, FileMetaDataset
    >>> ds = Dataset()
    >>> ds.PatientID = "MSCU1234565"
    >>> ds.file_meta = FileMetaDataset()
    >>> ds.file_meta.FileMetaInformationVersion = b"\\0\\1"
    >>> ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
    >>> encode_file(ds)[-20:]
    b'\\x10\\x00 \\x00LO\\x0c\\x00MSCU1234565 '
    """
    meta = dataset.file_meta
    try:
        syntax = UID(str(meta.get("TransferSyntaxUID", "")))
        # Encapsulated (compressed) syntaxes encode the dataset itself as Explicit VR Little Endian too.
        if (
            BaseTag(0x00020000) in meta._dict
            or not syntax.is_little_endian
            or syntax.is_implicit_VR
            or syntax.is_deflated
        ):
            raise NotEncodable("file meta with a group length, or a dataset not in Explicit VR Little Endian")
        return PREAMBLE + _encode_file_meta(meta) + encode_dataset(dataset)
    except (NotEncodable, struct.error, UnicodeEncodeError, TypeError, ValueError):
        return _pydicom_file(dataset)


def _pydicom_file(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def copy_elements(source: Dataset, target: Dataset) -> None:
    """Give ``target`` every element of ``source`` (a template of public elements), as its own.

    Templates built once and copied into each instance make the typed constructors fast:
    setting an element by keyword costs about 12 µs of pydicom conversion and validation,
    a copy of an element already converted about 1 µs. Each dataset gets its own elements,
    multi-values and sequence items, so changing one dataset never changes another.

    A target that borrows templates (``borrows_templates``, as
    :class:`~nii.formats.dicos.instance.DicosInstance` does) gets the elements of a frozen
    template (:func:`freeze_template`) themselves, and copies each the first time it is accessed:
    a DX copies about 80 elements from templates, and the writer only reads them.
    """
    if source.__dict__.get(_FROZEN) and getattr(target, "borrows_templates", False):
        target._dict.update(source._dict)
        return
    elements = target._dict
    for tag, element in cast(dict[BaseTag, DataElement], source._dict).items():
        if tag & 0x10000:  # an odd group
            raise ValueError(f"templates hold public elements only, not {tag}")
        elements[tag] = owned_copy(element)


def owned_copy(element: DataElement) -> DataElement:
    """A copy of ``element`` (a :class:`DataElement`, never a :class:`TemplateElement`) that nothing else holds:
    its own multi-value of the same immutable items, or its own sequence items (copied in turn)."""
    if element.VR == "SQ":
        items = []
        for item in cast(DicomSequence, element._value):
            copied = Dataset()
            copy_elements(item, copied)
            items.append(copied)
        # What Dataset.__setitem__ does for a sequence of items built here: store it.
        return DataElement(element.tag, "SQ", DicomSequence(items), already_converted=True)
    return _clone(element)


def _clone(element: DataElement) -> DataElement:
    # Dataset.__setitem__ does nothing more for a public element that is not Pixel Data.
    clone = DataElement.__new__(DataElement)
    clone.__dict__.update(element.__dict__)
    value = element._value
    if type(value) is MultiValue:  # (isinstance would run the ABC machinery: this is the hot path)
        # Its own list of the same (immutable) converted items; copy.copy takes five times longer.
        values = MultiValue.__new__(MultiValue)
        values.__dict__.update(value.__dict__)
        values._list = value._list.copy()
        clone._value = values
    return clone


_UNCACHED_VRS = frozenset({"DT", "TM", "UT", "SQ"}) | _BYTES_VRS
"""VRs whose values are converted every time: times of day (new in every scan, so a cache would
only fill up; dates repeat all day), long text, sequences and bytes."""
_CACHE_LIMIT = 4096
_converted: dict[Hashable, tuple[int, DataElement]] = {}
"""Elements converted by pydicom and their tags, by ``(VR, value key)``; emptied when it reaches the limit."""


_SCALAR_TYPES = frozenset({str, int, float, UID, DSfloat, IS})
"""Types whose values are cache keys: immutable, and converted by pydicom from type and value alone."""


def _value_key(value: Any) -> Hashable | None:
    # The type is part of the key: 1, 1.0 and True are equal and hash alike but convert differently.
    kind = type(value)
    if kind in _SCALAR_TYPES:
        if kind is DSfloat or kind is IS:
            return (kind, str(value))  # the text it was made from: DSfloat("1.50") == DSfloat("1.5")
        if kind is float and value == 0.0:
            return (kind, value, math.copysign(1.0, value))  # -0.0 == 0.0, but DS writes "-0.0"
        # A UID converts as the text it is (SOP Instance UID then Media Storage SOP Instance UID).
        return (str if kind is UID else kind, value)
    if kind is list or kind is tuple:
        kinds = tuple(map(type, value))
        if _SCALAR_TYPES.issuperset(kinds):
            if DSfloat in kinds or IS in kinds or 0.0 in value:  # (the rare items compared by their text)
                return (kind, kinds, tuple(map(_value_key, value)))
            return (kind, kinds, tuple(value))
    return None


def values_key(values: Mapping[str | tuple[int, str], Any]) -> Hashable | None:
    """A key equal for two mappings when :func:`set_elements` sets the same elements from them.

    Equal keys mean the same element keys in the same order and values of the same types
    that convert alike (``1.0`` and ``1``, ``0.0`` and ``-0.0`` differ); for templates of
    elements built once per distinct set of values. None when a value cannot be a key (an
    array, a dataset, bytes).

    Examples
    --------
    >>> values_key({"KVP": 160.0}) == values_key({"KVP": 160.0}) != values_key({"KVP": 160})
    True
    """
    keys = []
    for key, value in values.items():
        value_key = _value_key(value)
        if value_key is None:
            return None
        keys.append((key, value_key))
    return tuple(keys)


class TemplateCache:
    """Datasets of elements built once per distinct key (a :func:`values_key` and what else decides them),
    frozen (:func:`freeze_template`) and copied into each instance; emptied when it holds ``limit``.

    Examples
    --------
    >>> cache = TemplateCache(limit=8)
    >>> def build():
    ...     template = Dataset()
    ...     template.Modality = "DX"
    ...     return template
    >>> cache.get(values_key({"Modality": "DX"}), build) is cache.get(values_key({"Modality": "DX"}), build)
    True
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._templates: dict[Hashable, Dataset] = {}

    def __len__(self) -> int:
        return len(self._templates)

    def clear(self) -> None:
        """Forget every template."""
        self._templates.clear()

    def get(self, key: Hashable | None, build: Callable[[], Dataset]) -> Dataset:
        """The template of ``key``, built by ``build`` the first time (every time when ``key`` is None: values
        that cannot be a key)."""
        template = None if key is None else self._templates.get(key)
        if template is None:
            template = freeze_template(build())
            if key is not None:
                if len(self._templates) >= self.limit:
                    self.clear()
                self._templates[key] = template
        return template


@functools.cache
def _keyword_entry(keyword: str) -> tuple[int, str]:
    number = tag_for_keyword(keyword)
    if number is None:
        raise ValueError(f"{keyword!r} is not a DICOM keyword")
    return number, dictionary_VR(number)


def set_elements(dataset: Dataset, values: Mapping[str | tuple[int, str], Any]) -> None:
    """Set public elements as ``setattr(dataset, keyword, value)`` does, converting each distinct value once.

    Keys are keywords, or ``(tag, VR)`` for an element set by tag with its own VR. pydicom
    converts and validates a value as it is set (about 5–15 µs per element on the benchmark
    machine); the typed constructors set the same values scan after scan — energies,
    spacings, orientations, series numbers — and the same UID under several tags (SOP
    Instance UID, then Media Storage SOP Instance UID, then a reference in a TDR), so each
    distinct ``(VR, value)`` is converted once and later elements get a copy (under their
    own tag; with the encoding memoized, see :func:`freeze_template`, when the tag is the
    same). Times, long text, bytes and sequences are converted every time. pydicom
    validates each value as ``setattr`` would (a value it refuses raises, or warns, the first
    time it is converted).

    Examples
    --------
    >>> ds = Dataset()
    >>> set_elements(ds, {"KVP": 160.0, "SeriesNumber": 3, (0x00080118, "CS"): "MACHINE"})
    >>> ds.KVP, ds.SeriesNumber, ds[0x00080118].VR
    ('160.0', '3', 'CS')
    """
    elements = dataset._dict
    for key, value in values.items():
        number, vr = _keyword_entry(key) if isinstance(key, str) else key
        if number & 0x10000 or number >> 16 == 0x7FE0:  # an odd (private) group, or Pixel Data's
            raise ValueError(f"set_elements sets public elements other than Pixel Data, not {BaseTag(number)}")
        elements[BaseTag(number)] = _element(number, vr, value)


def _element(number: int, vr: str, value: Any) -> DataElement:
    """A new element holding ``value`` converted by pydicom, from the cache where it can be."""
    value_key = None if vr in _UNCACHED_VRS else _value_key(value)
    if value_key is None:
        return DataElement(number, vr, value)
    cache_key = (vr, value_key)
    cached = _converted.get(cache_key)
    if cached is None:
        element = _memoize_element(DataElement(number, vr, value), _CHARSETS["ISO_IR 192"])
        if len(_converted) >= _CACHE_LIMIT:
            _converted.clear()
        _converted[cache_key] = cached = (number, element)
    clone = _clone(cached[1])
    if cached[0] != number:
        clone.tag = BaseTag(number)
        clone.__dict__.pop(_MEMO, None)  # it encodes the other tag
    return clone


def set_private_elements(dataset: Dataset, creator: str, values: Mapping[tuple[int, str], Any]) -> None:
    """Set the private elements ``{(tag, VR): value}`` of one block, and its creator, as
    ``Dataset.add_new`` does (each element knows its private creator) in a fraction of the time.

    Examples
    --------
    >>> ds = Dataset()
    >>> set_private_elements(ds, "ACME 1", {(0x00090010, "LO"): "ACME 1", (0x00091001, "UT"): "{}"})
    >>> ds[0x00091001].private_creator
    'ACME 1'
    """
    elements = dataset._dict
    for (number, vr), value in values.items():
        if not number & 0x10000:
            raise ValueError(f"set_private_elements sets private elements, not {BaseTag(number)}")
        element = _element(number, vr, value)
        if number & 0xFF00:  # not the creator (gggg,00xx) itself
            element.private_creator = creator
        elements[element.tag] = element

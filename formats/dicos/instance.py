"""Base class of the DICOS IOD classes: a pydicom Dataset that knows its pixels and file."""

from __future__ import annotations

import functools
from collections.abc import Set, ValuesView
from pathlib import Path
from typing import Any, ClassVar, Self, overload

import numpy as np
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag, TagType

from nii.errors import CorruptFileError, UnsupportedError, ValidationError

from .dictionary import COORDINATE_SYSTEM, IMAGE_ORIGIN, CoordinateSystem, ImageOrigin
from .encode import TemplateElement, copy_elements, freeze_template, owned_copy, set_elements
from .files import read_pixels, tag_text

__all__ = ["DicosInstance", "check_uint16", "image_origin_values", "set_pixel_module"]


class DicosInstance(Dataset):
    """A DICOS SOP instance; subclasses build one IOD from typed arguments.

    The pixels are kept as the array given (they are written straight from its buffer) or,
    for an instance read from a file, decoded on first access to :attr:`pixels`.

    An instance borrows the elements of the templates it is built from (see
    :func:`~nii.formats.dicos.encode.copy_elements`): it holds the template's own
    :class:`~nii.formats.dicos.encode.TemplateElement` until the element is accessed, and from
    then on a copy of its own. Every way ``Dataset`` gives out elements (by tag or keyword,
    slices, iteration, :meth:`values`, :meth:`items`, :meth:`get_item`, :meth:`pop`) gives the
    instance's own; the encoder reads the borrowed ones as they are.
    """

    sop_classes: ClassVar[frozenset[str]]
    """SOP classes :meth:`from_dataset` accepts."""

    borrows_templates: ClassVar[bool] = True
    """:func:`~nii.formats.dicos.encode.copy_elements` gives this class a frozen template's own elements."""

    _pixels: np.ndarray | None
    _path: Path | None

    def _init_instance(self, pixels: np.ndarray | None) -> None:
        object.__setattr__(self, "_pixels", pixels)
        object.__setattr__(self, "_path", None)

    @classmethod
    def from_dataset(cls, dataset: Dataset, *, path: Path) -> Self:
        """Take over a dataset read from ``path`` (its class becomes ``cls``).

        Raises
        ------
        UnsupportedError
            The SOP class is not one this class reads.
        """
        sop_class = str(dataset.get("SOPClassUID", ""))
        if sop_class not in cls.sop_classes:
            raise UnsupportedError(
                f"{tag_text(0x00080016)} {sop_class!r} is not a {cls.__name__} class ({sorted(cls.sop_classes)})",
                path=path,
            )
        dataset.__class__ = cls
        instance: Self = dataset  # type: ignore[assignment]
        object.__setattr__(instance, "_pixels", None)
        object.__setattr__(instance, "_path", path)
        return instance

    @property
    def path(self) -> Path | None:
        """The file the instance was read from."""
        return self._path

    def _owned(self, element: Any) -> Any:
        """``element`` of this instance, replaced by a copy of its own if it is a template's."""
        if type(element) is not TemplateElement:
            return element
        copy = owned_copy(element)
        self._dict[copy.tag] = copy
        return copy

    def _own_all(self) -> None:
        for element in list(self._dict.values()):
            self._owned(element)

    @overload
    def __getitem__(self, key: slice) -> Dataset: ...

    @overload
    def __getitem__(self, key: TagType) -> DataElement: ...

    def __getitem__(self, key: slice | TagType) -> Dataset | DataElement:
        if isinstance(key, slice):  # a dataset of the same elements
            self._own_all()
            return super().__getitem__(key)
        return self._owned(super().__getitem__(key))

    @overload
    def get_item(self, key: slice, *, keep_deferred: bool = ...) -> Dataset: ...

    @overload
    def get_item(self, key: TagType, *, keep_deferred: bool = ...) -> DataElement: ...

    def get_item(self, key: slice | TagType, *, keep_deferred: bool = False) -> Dataset | DataElement:
        if isinstance(key, slice):
            self._own_all()
            return super().get_item(key, keep_deferred=keep_deferred)
        return self._owned(super().get_item(key, keep_deferred=keep_deferred))

    def items(self) -> Set[tuple[BaseTag, Any]]:
        self._own_all()
        return super().items()

    def values(self) -> ValuesView[Any]:
        self._own_all()
        return super().values()

    def pop(self, key: BaseTag | TagType, *args: Any) -> Any:
        if key in self:
            self._owned(super().__getitem__(key))  # its own copy, if it was borrowed
        return super().pop(key, *args)

    def popitem(self) -> tuple[BaseTag, Any]:
        self._own_all()
        return super().popitem()

    @property
    def frames(self) -> np.ndarray:
        """Pixels as ``(frames, rows, columns)``."""
        if self._pixels is None:
            if self._path is None:
                raise ValidationError(f"{type(self).__name__} has no pixels")
            object.__setattr__(self, "_pixels", read_pixels(self, self._path))
        assert self._pixels is not None
        return self._pixels.reshape((-1, *self._pixels.shape[-2:]))

    def text(self, tag: int) -> str:
        """The value of ``tag`` as text ('' when absent), read by tag number."""
        element = self.get(tag)
        if element is None or element.value is None:
            return ""
        value = element.value
        if isinstance(value, bytes):  # Implicit VR file without dictionary entry (UN)
            return value.decode("ascii", "replace").strip(" \0")
        return str(value).strip()

    def floats(self, tag: int, *, path: Path | None = None) -> list[float]:
        """The numeric values of ``tag`` (empty list when absent)."""
        element = self.get(tag)
        if element is None or element.value is None or element.value == "":
            return []
        value = element.value
        try:
            if isinstance(value, bytes):
                return [float(v) for v in np.frombuffer(value, "<f4")] if len(value) % 4 == 0 else []
            if isinstance(value, str | int | float):
                return [float(value)]
            return [float(v) for v in value]
        except (TypeError, ValueError) as error:
            raise CorruptFileError(
                f"{tag_text(tag)} has the invalid value {value!r}", path=path or self._path
            ) from error


def image_origin_values(
    origin: ImageOrigin | str, coordinate_system: CoordinateSystem | str
) -> dict[str | tuple[int, str], object]:
    """DICOS Image Origin and Coordinate System, for :func:`set_elements`."""
    # (0008,0118) is Mapping Resource UID (UI) in DICOM: written by tag as CS (doc §6.2).
    return {
        (IMAGE_ORIGIN, "CS"): str(ImageOrigin(origin)),
        (COORDINATE_SYSTEM, "CS"): str(CoordinateSystem(coordinate_system)),
    }


def set_pixel_module(dataset: Dataset, rows: int, columns: int, *, signed: bool) -> None:
    """Image Pixel module for 16-bit MONOCHROME2 pixels, and no burned-in annotation."""
    copy_elements(_sixteen_bit_monochrome(), dataset)
    set_elements(dataset, {"Rows": rows, "Columns": columns, "PixelRepresentation": 1 if signed else 0})


def check_uint16(pixels: np.ndarray, what: str, *, signed_allowed: bool = False) -> np.ndarray:
    """Refuse anything but 16-bit integers (DICOS interchange type, doc §7.2)."""
    allowed = "ui" if signed_allowed else "u"
    if pixels.dtype.kind not in allowed or pixels.dtype.itemsize != 2:
        kinds = "uint16 or int16" if signed_allowed else "uint16"
        raise UnsupportedError(
            f"{what} is {pixels.dtype}: DICOS images are written as {kinds}; convert first "
            "(for example scale transmission in [0, 1] by 65535 and round)"
        )
    return pixels


@functools.cache
def _sixteen_bit_monochrome() -> Dataset:
    """The fixed part of the Image Pixel module of every image nii writes (copied, see :func:`copy_elements`)."""
    template = Dataset()
    template.SamplesPerPixel = 1
    template.PhotometricInterpretation = "MONOCHROME2"
    template.BitsAllocated = 16
    template.BitsStored = 16
    template.HighBit = 15
    template.BurnedInAnnotation = "NO"
    return freeze_template(template)

"""nii's private block ``"NII DICOS 1"`` (group 0009): what DICOS has no home for.

Shared by the writer (:mod:`nii.formats.dicos.mapping`) and the reader
(:mod:`nii.formats.dicos.reading`); the layout is described in ``mapping``'s docstring.

Examples
--------
>>> from pydicom.dataset import Dataset
>>> dataset = Dataset()
>>> new_private_block(dataset, [(PRIVATE_METADATA, "UT", '{"schema": 1, "channel": "high"}')])
>>> private_document(dataset)[0]["channel"]
'high'
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.valuerep import format_number_as_ds

from nii.errors import CorruptFileError
from nii.limits import check_image_size

from .dictionary import (
    PRIVATE_AIR,
    PRIVATE_CREATOR,
    PRIVATE_DARK,
    PRIVATE_GROUP,
    PRIVATE_METADATA,
    PRIVATE_REFERENCE,
)
from .encode import set_private_elements
from .files import tag_text
from .instance import DicosInstance

__all__ = [
    "ID_ISSUERS",
    "PRIVATE_ARRAYS",
    "PRIVATE_SCHEMA",
    "ExactValues",
    "add_private",
    "exact_value",
    "instance_path",
    "new_private_block",
    "private_array",
    "private_document",
]

log = logging.getLogger(__name__)

PRIVATE_SCHEMA = 1
ID_ISSUERS = ("ISO 6346", "LICENCE PLATE", "DECLARATION", "IDENTIFIER")
"""Other OOI IDs' issuers, one per kind of identifier of :class:`nii.model.InspectedObject`."""
PRIVATE_ARRAYS = {"dark": PRIVATE_DARK, "air": PRIVATE_AIR, "reference": PRIVATE_REFERENCE}


class ExactValues:
    """DS values (at most 16 characters) plus the float64 values they cannot hold exactly."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def ds(self, name: str, value: float) -> float:
        text = format_number_as_ds(float(value))
        if float(text) != float(value):
            self.values[name] = float(value)
        return float(text)


def new_private_block(dataset: Dataset, elements: Iterable[tuple[int, str, Any]]) -> None:
    """nii's private block in a dataset built here, which has none: the creator in (0009,0010)
    and each ``(offset, VR, value)`` in (0009,10xx), the slot pydicom's ``private_block``
    would pick, without its search over the dataset's private creators."""
    creator = (PRIVATE_GROUP << 16) | 0x0010
    if creator in dataset:
        raise AssertionError(f"the dataset already has a private creator in {tag_text(creator)}")
    set_private_elements(
        dataset,
        PRIVATE_CREATOR,
        {(creator, "LO"): PRIVATE_CREATOR}
        | {((PRIVATE_GROUP << 16) | 0x1000 | offset, vr): value for offset, vr, value in elements},
    )


def add_private(
    instance: Dataset, document: dict[str, Any], arrays: Mapping[int, np.ndarray], *, scan_json: str
) -> None:
    """The JSON document (after the scan's part, ``scan_json``) and the arrays of one instance."""
    # The scan's part, the same in every instance, is serialised once (`scan_json`) and put first.
    text = json.dumps(document, separators=(",", ":"))
    metadata = (PRIVATE_METADATA, "UT", '{"scan":' + scan_json + ("," + text[1:] if document else "}"))
    # OB even for the float64 line positions: the reference SDK crashes on a private OD.
    new_private_block(instance, [metadata, *((offset, "OB", array.tobytes()) for offset, array in arrays.items())])


def private_document(instance: Dataset) -> tuple[dict[str, Any], Any]:
    """The JSON document and the private block of an instance ({} and None when absent)."""
    try:
        block = instance.private_block(PRIVATE_GROUP, PRIVATE_CREATOR)
    except KeyError:
        return {}, None
    try:
        value = block[PRIVATE_METADATA].value if PRIVATE_METADATA in block else "{}"
        # Implicit VR files give private elements as raw bytes (UN).
        document = json.loads(value.decode("utf-8") if isinstance(value, bytes) else str(value))
    except ValueError as error:
        raise CorruptFileError(
            f"nii private metadata (0009,xx01) is not JSON: {error}", path=instance_path(instance)
        ) from error
    if document and document.get("schema") != PRIVATE_SCHEMA:
        log.warning(
            "%s: nii private metadata schema %r is not %r; ignored",
            instance_path(instance),
            document.get("schema"),
            PRIVATE_SCHEMA,
        )
        return {}, None
    return document, block


def instance_path(instance: Dataset) -> Path | None:
    """The file an instance was read from (None for one built in memory)."""
    return instance.path if isinstance(instance, DicosInstance) else None


def private_array(block: Any, offset: int, spec: Mapping[str, Any] | None, path: Path | None) -> np.ndarray:
    """The array in (0009,xx``offset``) of dtype and shape ``spec`` (float64 of any length without one)."""
    if offset not in block:
        raise CorruptFileError(f"nii private array (0009,xx{offset:02X}) is missing", path=path)
    data = block[offset].value or b""
    dtype = np.dtype(spec["dtype"]) if spec else np.dtype("<f8")
    shape = tuple(spec["shape"]) if spec else (len(data) // 8,)
    needed = check_image_size(shape, dtype, path=path) if shape else 0
    if len(data) < needed:
        raise CorruptFileError(
            f"nii private array (0009,xx{offset:02X}) holds {len(data)} bytes, needs {needed}", path=path
        )
    return np.frombuffer(data, dtype=dtype, count=needed // dtype.itemsize).reshape(shape)


def exact_value(document: Mapping[str, Any], name: str, value: float) -> float:
    """The exact float64 of ``name`` when the document holds one, else ``value``."""
    return float(document.get("exact", {}).get(name, value))

"""``ref-hdf5``: cargo export as HDF5 groups with attributes, chunked, compressed, read lazily.

A reference vendor-style format (specification: ``docs/formats/ref-hdf5.md``): one group per
view with its geometry as attributes, one chunked and compressed dataset per channel, the
calibration references, line positions and threats beside them. A 512-byte HDF5 user block
carries a magic string, so the format is recognised from its first bytes.

Channels are read lazily: the reader returns :class:`nii.lazy.LazyArray` objects over the
HDF5 datasets, so a cargo scan opens without decompressing its pixels, a slice decompresses
only the chunks it touches, and ``numpy.asarray`` reads a whole channel. The file stays open
while any channel of the scan is alive.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

import numpy as np

from nii.errors import CorruptFileError, UnsupportedError
from nii.formats._hdf5 import ChunkedChannel
from nii.formats._hdf5_checks import HDF5_ERRORS, CheckedFile
from nii.formats._vendor import (
    geometry_fields,
    geometry_from_fields,
    metadata_fields,
    metadata_from_fields,
    parse_time,
    reading,
    warn_unstored,
)
from nii.imports import lazy_module
from nii.io import atomic_output
from nii.lazy import LazyArray
from nii.limits import check_image_size
from nii.model import Box, Operator, Scan, Threat, View
from nii.registry import Format, Option, declare, register

if TYPE_CHECKING:
    import h5py
    import hdf5plugin
else:
    h5py = lazy_module("h5py", also=["hdf5plugin"])  # hdf5plugin registers the Blosc filters used on reading
    hdf5plugin = lazy_module("hdf5plugin")

MAGIC = b"NIIREFH5\r\n\x1a\n"
VERSION = 1
USER_BLOCK = 512
CHUNK_LINES = 256
"""Lines per chunk: a chunk is a block of whole detector lines (at most 2048 rows high)."""
CHUNK_ROWS = 2048
_THREAT_FIELDS = ("category", "assessment", "probability", "origin", "algorithm", "algorithm_version", "description")

Compression = Literal["blosc-lz4", "gzip"]


def _filters(compression: str) -> dict[str, Any]:
    if compression == "blosc-lz4":
        return dict(hdf5plugin.Blosc(cname="lz4", clevel=5, shuffle=hdf5plugin.Blosc.SHUFFLE))
    if compression == "gzip":
        return {"compression": "gzip", "compression_opts": 4, "shuffle": True}
    raise ValueError(f"compression must be 'blosc-lz4' or 'gzip', got {compression!r}")


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(item) for item in value]
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def _attributes(file: CheckedFile, node: h5py.Group | h5py.Dataset) -> dict[str, Any]:
    """Attributes as plain Python values (h5py gives numpy scalars and arrays), checked before reading."""
    return {key: _plain(value) for key, value in file.attributes(node).items()}


def _set_attributes(node: h5py.Group | h5py.Dataset, values: dict[str, Any]) -> None:
    for key, value in values.items():
        if value is not None:
            # h5py stores str as a variable-length string, but not str subclasses (enumerations).
            node.attrs[key] = str(value) if isinstance(value, str) else value


class RefHdf5Format(Format):
    """Cargo export in HDF5: view groups with attributes, chunked compressed channels, lazy reads."""

    name = "ref-hdf5"
    extensions = (".rh5",)
    description = "reference cargo format: HDF5 groups and attributes, chunked, compressed, read lazily"
    capabilities = frozenset({"dual-energy", "multi-view", "threats", "lazy", "compression", "calibration-lines"})
    version = "1"
    read_errors = HDF5_ERRORS
    read_options = declare()
    write_options = declare(
        compression=Option("lossless filter of the channels", default="blosc-lz4", choices=("blosc-lz4", "gzip"))
    )

    def can_read(self, head: bytes, path: Path) -> bool:
        return head.startswith(MAGIC)

    def read(self, path: Path, **options: Any) -> Scan:
        with open(path, "rb") as handle:
            if handle.read(len(MAGIC)) != MAGIC:
                raise CorruptFileError(f"not a {self.name} file: no {MAGIC!r} user block", path=path)
        try:
            file = h5py.File(path, "r")
        except OSError as error:
            raise CorruptFileError(f"HDF5 does not open: {error}", path=path) from error
        try:
            return self._scan(path, CheckedFile(file, path=path))
        except BaseException:
            file.close()
            raise

    @staticmethod
    def _dataset(path: Path, node: Any, what: str, *, kinds: str = "uif") -> h5py.Dataset:
        if not isinstance(node, h5py.Dataset) or node.dtype.kind not in kinds:
            raise CorruptFileError(f"{what} is not a numeric dataset", path=path)
        check_image_size(node.shape or (1,), node.dtype, path=path)
        return node

    def _arrays(self, file: CheckedFile, group: h5py.Group, kind: str, channels: list[str]) -> dict[str, np.ndarray]:
        path = file.path
        members = file.member(group, kind)
        if members is None:
            return {}
        if not isinstance(members, h5py.Group):
            raise CorruptFileError(f"{group.name}/{kind} is not a group", path=path)
        arrays = {name: self._dataset(path, node, f"{kind}/{name}")[()] for name, node in file.members(members).items()}
        unknown = set(arrays) - set(channels)
        if unknown:
            raise CorruptFileError(f"{kind} values for channels {sorted(unknown)} the view does not have", path=path)
        return arrays

    def _view(self, file: CheckedFile, name: str, group: h5py.Group) -> tuple[View, dict[str, float]]:
        path = file.path
        attributes = _attributes(file, group)
        names = attributes["channel_names"]
        channels = file.member(group, "channels")
        stored = file.members(channels) if isinstance(channels, h5py.Group) else {}
        if sorted(names) != sorted(stored):
            raise CorruptFileError(
                f"view {name!r} lists channels {names} but stores {list(stored)}: inconsistent channel count",
                path=path,
            )
        datasets = {ch: self._dataset(path, stored[ch], f"view {name!r} channel {ch!r}") for ch in names}
        energies = {}
        for ch, dataset in datasets.items():
            if "energy_kv" in (values := _attributes(file, dataset)):
                energies[ch] = float(values["energy_kv"])
        positions = None
        if (line_positions := file.member(group, "line_positions_mm")) is not None:
            positions = self._dataset(path, line_positions, "line positions")[()]
        view = View(
            name,
            # The model keeps lazy arrays as they are; typed as ndarray for the code that reads channels.
            {
                ch: cast(np.ndarray, LazyArray(ChunkedChannel(ds, path=path), path=path, owner=file.file))
                for ch, ds in datasets.items()
            },
            geometry_from_fields(attributes, positions),
            calibration=attributes["calibration"],
            dark=self._arrays(file, group, "dark", names),
            air=self._arrays(file, group, "air", names),
            reference=self._arrays(file, group, "reference", names),
        )
        return view, energies

    def _scan(self, path: Path, file: CheckedFile) -> Scan:
        root = _attributes(file, file.file)
        if root.get("format") != "nii-ref-hdf5":
            raise CorruptFileError(f"not a {self.name} file: root attribute format={root.get('format')!r}", path=path)
        if root.get("version") != VERSION:
            raise UnsupportedError(f"{self.name} version {root.get('version')!r} (reads {VERSION})", path=path)
        with reading(path, self.name):
            views, energies = [], {}
            for name, group in self._members(file, file.file, "views").items():
                view, view_energies = self._view(file, name, group)
                views.append(view)
                energies.update(view_energies)
            groups = {
                name: _attributes(file, group)
                for name in ("object", "scanner", "site")
                if (group := file.member(file.file, name)) is not None
            }
            inspected_object, scanner, site = metadata_from_fields(groups, energies)
            threats_group = self._members(file, file.file, "threats")
            threats = [self._threat(file, threats_group.get(str(index)), index) for index in range(len(threats_group))]
            operator_group = file.member(file.file, "operator")
            operator = _attributes(file, operator_group) if operator_group is not None else None
            return Scan(
                views=views,
                acquired_at=parse_time(root["acquired"]),
                inspected_object=inspected_object,
                scanner=scanner,
                site=site,
                operator=Operator(operator["identifier"], operator.get("name")) if operator else None,
                threats=threats,
                scan_uid=root["uid"],
            )

    @staticmethod
    def _members(file: CheckedFile, parent: h5py.Group, name: str) -> dict[str, Any]:
        """The members of the group ``name`` of ``parent``; an absent group has none."""
        group = file.member(parent, name)
        if group is None:
            return {}
        if not isinstance(group, h5py.Group):
            raise CorruptFileError(f"{parent.name.rstrip('/')}/{name} is not a group", path=file.path)
        return file.members(group)

    def _threat(self, file: CheckedFile, node: Any, index: int) -> Threat:
        if not isinstance(node, h5py.Group):
            raise CorruptFileError(f"threat {index} is missing or not a group", path=file.path)
        values = _attributes(file, node)
        polygon, mask = (file.member(node, key) for key in ("polygon", "mask"))
        return Threat(
            values["view"],
            Box(*values["box"]),
            polygon=self._dataset(file.path, polygon, "threat polygon")[()] if polygon is not None else None,
            mask=self._dataset(file.path, mask, "threat mask", kinds="biu")[()] if mask is not None else None,
            **{key: values[key] for key in _THREAT_FIELDS if key in values},
        )

    def write(self, scan: Scan, path: Path, **options: Any) -> list[Path]:
        filters = _filters(options["compression"])
        for view in scan.views:
            for name, channel in view.channels.items():
                if channel.dtype.kind not in "uif":
                    raise UnsupportedError(
                        f"{self.name} stores numeric channels; {name!r} is {channel.dtype}", path=path
                    )
        warn_unstored(
            scan,
            self.name,
            path,
            stores={
                "dark", "air", "reference", "line_positions", "threats", "threat_polygons", "threat_masks",
                "operator", "uid", "address", "declaration", "identifier", "description",
            },
        )  # fmt: skip
        with atomic_output(path) as temporary:
            with h5py.File(temporary, "w", userblock_size=USER_BLOCK, track_order=True) as file:
                self._fill(scan, file, filters)
            with open(temporary, "r+b") as handle:
                handle.write(MAGIC + f"version={VERSION}\n".encode())
        return [path]

    def _fill(self, scan: Scan, file: h5py.File, filters: dict[str, Any]) -> None:
        _set_attributes(
            file,
            {
                "format": "nii-ref-hdf5",
                "version": VERSION,
                "uid": scan.scan_uid,
                "acquired": scan.acquired_at.isoformat(),
            },
        )
        for group, values in metadata_fields(scan).items():
            _set_attributes(file.create_group(group), values)
        if scan.operator is not None:
            _set_attributes(
                file.create_group("operator"), {"identifier": scan.operator.identifier, "name": scan.operator.name}
            )
        views = file.create_group("views", track_order=True)
        for view in scan.views:
            group = views.create_group(view.name)
            _set_attributes(
                group,
                {"calibration": str(view.calibration), **geometry_fields(view), "channel_names": list(view.channels)},
            )
            channels = group.create_group("channels", track_order=True)
            rows, lines = view.shape
            for name, channel in view.channels.items():
                dataset = channels.create_dataset(
                    name, data=np.asarray(channel), chunks=(min(rows, CHUNK_ROWS), min(lines, CHUNK_LINES)), **filters
                )
                _set_attributes(dataset, {"energy_kv": scan.scanner.energies_kv.get(name)})
            for kind, arrays in (("dark", view.dark), ("air", view.air), ("reference", view.reference)):
                if arrays:
                    kind_group = group.create_group(kind)
                    for name, array in arrays.items():
                        kind_group.create_dataset(name, data=array)
            if view.geometry.line_positions_mm is not None:
                group.create_dataset("line_positions_mm", data=view.geometry.line_positions_mm)
        if scan.threats:
            threats = file.create_group("threats")
            for index, threat in enumerate(scan.threats):
                node = threats.create_group(str(index))
                box = threat.box
                _set_attributes(
                    node,
                    {
                        "view": threat.view,
                        "box": [box.x, box.y, box.width, box.height],
                        **{key: getattr(threat, key) for key in _THREAT_FIELDS},
                    },
                )
                for key in ("polygon", "mask"):
                    if getattr(threat, key) is not None:
                        node.create_dataset(key, data=getattr(threat, key))


FORMAT = register(RefHdf5Format)

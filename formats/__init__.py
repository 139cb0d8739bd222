"""Scan formats (installed as ``nii.formats``).

Each module registers one :class:`nii.registry.Format`. A new built-in format is one
module plus one line in :data:`BUILTIN_FORMAT_MODULES`; a third-party format is a package
with an entry point in the group ``nii.formats`` (see :mod:`nii.registry`).
"""

from nii.registry import Format, available, get_format, register

__all__ = ["BUILTIN_FORMAT_MODULES", "Format", "available", "get_format", "register"]

BUILTIN_FORMAT_MODULES: tuple[str, ...] = (
    "nii.formats.npz",
    "nii.formats.archive",
    "nii.render.export",  # picture writers: thin wrappers over the renderer, which lives with processing
    "nii.formats.dicos",
    "nii.formats.ref_rawxml",
    "nii.formats.ref_tiff",
    "nii.formats.ref_hdf5",
    "nii.formats.ref_packed12",
    "nii.formats.profile",
    "nii.formats.npy",
)

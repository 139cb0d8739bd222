"""nii: interoperable non-intrusive inspection (NII) images.

Read any registered scanner format into a :class:`Scan`, process it with the kernels,
and write it as DICOS or another format::

    import nii
    scan = nii.read("container.raw")
    nii.write(scan, "out.npz")
"""

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nii.version import __version__


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder`` (made if missing): tried, since a read-only
    mount or a missing HOME defeat permission bits, and root passes os.access anyway."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _ensure_numba_cache_dir() -> None:
    """Give numba a writable cache when neither the source tree nor HOME is writable.

    The kernels are compiled with ``cache=True``; numba looks for a cache beside the sources,
    then in the user's cache folder, and without either every import of a kernel fails. The
    fallback is a per-user folder in the system's temporary folder; set here, before numba is
    imported, because numba reads ``NUMBA_CACHE_DIR`` once.
    """
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured and _writable(Path(configured)):
        return
    if not configured:
        spec = importlib.util.find_spec("nii.kernels")  # beside nii, or in it when installed
        locations = spec.submodule_search_locations if spec is not None else None
        sources = Path(next(iter(locations))) if locations else Path(__file__).resolve().parent
        if _writable(sources / "__pycache__"):
            return
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "numba"
        if _writable(user_cache):
            return
    os.environ["NUMBA_CACHE_DIR"] = str(Path(tempfile.gettempdir()) / f"nii-numba-cache-{os.getuid()}")


_ensure_numba_cache_dir()


if TYPE_CHECKING:
    from nii.errors import NiiError
    from nii.model import (
        Box,
        CalibrationState,
        Geometry,
        InspectedObject,
        ObjectType,
        Operator,
        Scan,
        Scanner,
        Site,
        Threat,
        View,
    )
    from nii.provenance import ProcessingStep, Provenance
    from nii.registry import read, write

__all__ = [
    "Box",
    "CalibrationState",
    "Geometry",
    "InspectedObject",
    "NiiError",
    "ObjectType",
    "Operator",
    "ProcessingStep",
    "Provenance",
    "Scan",
    "Scanner",
    "Site",
    "Threat",
    "View",
    "__version__",
    "read",
    "write",
]

_HOMES = {
    "NiiError": "nii.errors",
    "ProcessingStep": "nii.provenance",
    "Provenance": "nii.provenance",
    "read": "nii.registry",
    "write": "nii.registry",
}


def __getattr__(name: str) -> Any:
    """The public names, imported on first use: ``import nii`` (and so every ``nii.x`` module,
    the CLI's included) then costs nothing until the model, numpy or the registry are needed."""
    if name not in __all__ or name == "__version__":
        raise AttributeError(f"module 'nii' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_HOMES.get(name, "nii.model")), name)
    globals()[name] = value
    return value

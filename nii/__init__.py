"""nii: interoperable non-intrusive inspection (NII) images.

Read any registered scanner format into a :class:`Scan`, process it with the kernels,
and write it as DICOS or another format::

    import nii
    scan = nii.read("container.raw")
    nii.write(scan, "out.npz")
"""

import hashlib
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


_NUMBA_SOURCES = ("_writer_loop.py", "writer_thread.py")
"""Modules of nii itself whose code numba compiles with their globals (besides every kernel module)."""


def numba_cache_name(kernels: Path, package: Path) -> str:
    """The name of the folder numba caches nii's compiled code in: a digest of every kernel source (and
    :data:`_NUMBA_SOURCES`). Numba checks a cached function against its own file only, but kernels inline
    functions of other modules (``fast_ln``, ``clipped_transmission``, ...) and freeze other modules'
    constants: after one of those changed, they would run their old machine code. A new folder for any
    change of the compiled sources compiles them all afresh.

    Examples
    --------
    >>> import nii.kernels
    >>> numba_cache_name(Path(nii.kernels.__path__[0]), Path(nii.__file__).parent).startswith("numba-")
    True
    """
    digest = hashlib.blake2b(digest_size=8)
    for source in sorted(kernels.glob("*.py")) + [package / name for name in _NUMBA_SOURCES]:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    return f"numba-{digest.hexdigest()}"


def _ensure_numba_cache_dir() -> None:
    """Point numba at a writable cache folder named by :func:`numba_cache_name`, unless the user set one.

    The kernels are compiled with ``cache=True``. The folder is in the kernels' ``__pycache__``, else
    in the user's cache folder, else a per-user folder in the system's temporary folder (without a
    writable cache every import of a kernel fails); set here, before numba is imported, because numba
    reads ``NUMBA_CACHE_DIR`` once.
    """
    configured = os.environ.get("NUMBA_CACHE_DIR")
    if configured and _writable(Path(configured)):
        return
    candidates: list[Path] = []
    if not configured:
        spec = importlib.util.find_spec("nii.kernels")  # beside nii, or in it when installed
        locations = spec.submodule_search_locations if spec is not None else None
        kernels = Path(next(iter(locations))) if locations else Path(__file__).resolve().parent / "kernels"
        name = numba_cache_name(kernels, Path(__file__).resolve().parent)
        user_cache = Path(os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()) / "nii"
        candidates = [kernels / "__pycache__" / name, user_cache / name]
    fallback = Path(tempfile.gettempdir()) / f"nii-numba-cache-{os.getuid()}"
    if candidates:
        fallback /= candidates[0].name
    os.environ["NUMBA_CACHE_DIR"] = str(next((folder for folder in candidates if _writable(folder)), fallback))


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

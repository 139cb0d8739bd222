"""Acceptance of a pilot's DICOS files by the reference DICOS toolkit (pyDICOS), run in its own environment.

pyDICOS wraps a closed SDK that can crash its process and lives in a separate virtual environment, so it
is never imported: its interpreter (``NII_PYDICOS_PYTHON``, else ``.venv-pydicos/bin/python`` under the
current folder) runs :data:`READER`, which loads every file with the SDK reader of its SOP class and
answers in JSON. Without that interpreter the check is reported as not done.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["READER", "reference_python", "reference_toolkit_reads"]

READER = """
import json, sys
import pydicom
from pyDICOS import CT, DX, TDR, ErrorLog, Filename
classes = {"1.2.840.10008.5.1.4.1.1.501.1": CT, "1.2.840.10008.5.1.4.1.1.501.2.1": DX,
           "1.2.840.10008.5.1.4.1.1.501.2.2": DX, "1.2.840.10008.5.1.4.1.1.501.3": TDR}
answers = []
for name in sys.argv[1:]:
    kind = classes.get(str(pydicom.dcmread(name, stop_before_pixels=True).SOPClassUID))
    answers.append(bool(kind is not None and kind().Read(Filename(name), ErrorLog(), None)))
print(json.dumps(answers))
"""
"""The script pyDICOS's interpreter runs: one boolean per file, True when the SDK read it."""


def reference_python() -> Path | None:
    """The pyDICOS interpreter, or None when there is none."""
    candidates = [os.environ.get("NII_PYDICOS_PYTHON"), str(Path.cwd() / ".venv-pydicos" / "bin" / "python")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def reference_toolkit_reads(files: Sequence[Path], *, timeout: float = 600.0) -> dict[str, Any]:
    """How many of ``files`` pyDICOS reads: ``{"checked": bool, "read": n, "files": n, "failed": [...]}``."""
    python = reference_python()
    if python is None or not files:
        return {"checked": False, "read": 0, "files": len(files), "failed": []}
    result = subprocess.run(
        [str(python), "-c", READER, *map(str, files)], capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        return {"checked": True, "read": 0, "files": len(files), "failed": [f"pyDICOS failed: {result.stderr[-300:]}"]}
    answers = json.loads(result.stdout.strip().splitlines()[-1])
    failed = [str(path) for path, ok in zip(files, answers, strict=True) if not ok]
    return {"checked": True, "read": len(files) - len(failed), "files": len(files), "failed": failed}

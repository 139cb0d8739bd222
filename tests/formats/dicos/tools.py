"""Outside tools for the interoperability tests: found, or skipped locally and failed in CI.

CI runs ``.ci/run`` with ``CI=true`` after installing dcmtk, dicom3tools and the pyDICOS
environment; a missing tool there is a failure, never a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parents[3]
DRIVER = Path(__file__).with_name("pydicos_driver.py")


def missing(reason: str) -> None:
    """Skip the test locally; fail it in CI, where every tool must be installed."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI installs it in .ci/run)")
    pytest.skip(reason)


def system_program(name: str) -> str | None:
    """The system's program ``name`` (DCMTK, dicom3tools), never one of this environment's own scripts.

    pynetdicom installs Python look-alikes of DCMTK's ``storescu``, ``echoscu``, ... into the
    environment's ``bin``, which comes first on PATH once the environment is activated; they take
    similar options, so a test would pass without DCMTK ever running.
    """
    own_bin = Path(sys.prefix, "bin").resolve()
    folders = [folder for folder in os.environ.get("PATH", "").split(os.pathsep) if folder]
    return shutil.which(name, path=os.pathsep.join(f for f in folders if Path(f).resolve() != own_bin))


def require_program(name: str) -> str:
    """:func:`system_program`, or the test is skipped locally and failed in CI."""
    path = system_program(name)
    if path is None:
        missing(f"{name} is not installed (apt-get install dcmtk dicom3tools)")
    assert path is not None
    return path


def pydicos_python() -> Path:
    """The interpreter of the separate pyDICOS environment (``NII_PYDICOS_PYTHON``)."""
    python = Path(os.environ.get("NII_PYDICOS_PYTHON", ROOT / ".venv-pydicos" / "bin" / "python"))
    if not python.exists():
        missing(f"pyDICOS environment not found at {python} (set NII_PYDICOS_PYTHON)")
    return python


def run_pydicos(*args: str | Path, timeout: float = 600) -> Any:
    """Run the pyDICOS driver in its own process; return its JSON answer."""
    result = subprocess.run(
        [str(pydicos_python()), str(DRIVER), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )
    assert result.returncode == 0, f"pyDICOS driver failed ({result.returncode}): {result.stderr[-2000:]}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=300)

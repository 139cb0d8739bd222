"""numba's cache folder (nii.numba_cache_name): a new one whenever a compiled source changes.

numba checks a cached function against its own file only; kernels inline functions of other modules, so
without this a change to ``_core.py`` alone left the flagged kernel running its old machine code.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nii
import nii.kernels
from nii import numba_cache_name

KERNELS = Path(nii.kernels.__path__[0])
PACKAGE = Path(nii.__file__).parent


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    kernels, package = tmp_path / "kernels", tmp_path / "nii"
    kernels.mkdir()
    package.mkdir()
    for source in KERNELS.glob("*.py"):
        shutil.copy(source, kernels)
    for name in ("_writer_loop.py", "writer_thread.py"):
        shutil.copy(PACKAGE / name, package)
    return kernels, package


def test_any_change_of_a_compiled_source_names_a_new_folder(tmp_path):
    kernels, package = _copy(tmp_path)
    name = numba_cache_name(kernels, package)
    assert name == numba_cache_name(KERNELS, PACKAGE)  # the content counts, not where it lies
    changes = [kernels / "_core.py", package / "writer_thread.py"]
    names = {name}
    for changed in changes:
        original = changed.read_text()
        changed.write_text(original + "\n# changed\n")
        names.add(numba_cache_name(kernels, package))
        changed.write_text(original)
    assert len(names) == 3
    assert numba_cache_name(kernels, package) == name


def test_numba_is_pointed_at_the_folder_unless_the_user_chose_one(tmp_path):
    probe = "import os, nii; print(os.environ['NUMBA_CACHE_DIR'])"
    environment = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
    chosen = subprocess.run([sys.executable, "-c", probe], env=environment, capture_output=True, text=True)
    assert Path(chosen.stdout.strip()) == KERNELS / "__pycache__" / numba_cache_name(KERNELS, PACKAGE)
    mine = tmp_path / "mine"
    kept = subprocess.run(
        [sys.executable, "-c", probe], env=environment | {"NUMBA_CACHE_DIR": str(mine)}, capture_output=True, text=True
    )
    assert kept.stdout.strip() == str(mine)

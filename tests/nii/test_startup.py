"""Start-up cost of the CLI, counted as imports (instruction-count honest, unlike wall time on a busy machine).

Every ``nii`` call pays for what it imports before any work starts: numba alone is about 0.2 s, pydicom
0.1 s, hdf5plugin 0.07 s. ``nii --version`` needs nothing but the version; ``nii info`` on an npz file
needs numpy, the registry and every format's module (to recognise the file), but no format's heavy
library, no kernel and no web or network stack. Each case runs in a fresh interpreter.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import nii
from nii.cli import COMMANDS, commands_to_build, main

NEVER_AT_START = (
    "numba",
    "llvmlite",
    "cv2",
    "scipy",
    "skimage",
    "matplotlib",
    "pydicom",
    "pynetdicom",
    "cryptography",
    "starlette",
    "uvicorn",
    "h5py",
    "hdf5plugin",
    "tifffile",
    "dask",
)
"""Libraries that neither ``nii --version`` nor ``nii info scan.npz`` may import."""

_PROBE = """
import json, runpy, sys
sys.argv = ["nii", *sys.argv[1:]]
try:
    runpy.run_module("nii", run_name="__main__")
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "modules": sorted(sys.modules)}), file=sys.stderr)
"""


def imported_by(*args: str) -> tuple[int, set[str], str]:
    """Exit code, top-level packages imported and standard output of ``nii ARGS`` in a fresh interpreter."""
    result = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120)
    report = json.loads(result.stderr.strip().splitlines()[-1])
    return report["code"], {name.split(".")[0] for name in report["modules"]}, result.stdout


@pytest.fixture(scope="module")
def npz_scan(tmp_path_factory, scan):
    path = tmp_path_factory.mktemp("startup") / "scan.npz"
    nii.write(scan, path)
    return path


@pytest.fixture(scope="module")
def scan():
    from nii.simulate import simulate

    return simulate("suitcase", seed=1, scale=0.1)[0]


def test_version_imports_no_library():
    code, packages, output = imported_by("--version")
    assert code == 0 and output.strip() == f"nii {nii.__version__}"
    assert "numpy" not in packages
    assert not packages & set(NEVER_AT_START)


@pytest.mark.parametrize("json_output", [False, True])
def test_info_on_npz_imports_no_heavy_library(npz_scan, scan, json_output):
    code, packages, output = imported_by("info", str(npz_scan), *(["--json"] if json_output else []))
    assert code == 0
    assert scan.scan_uid in output  # the work was done
    assert not packages & set(NEVER_AT_START), sorted(packages & set(NEVER_AT_START))


def test_a_command_imports_its_libraries_when_it_runs(npz_scan, scan, tmp_path):
    """The other side of laziness: the libraries still load, and work, when a command needs them."""
    code, packages, _ = imported_by("convert", str(npz_scan), "--out", str(tmp_path))
    assert code == 0 and {"numba", "pydicom"} <= packages
    written = [p.suffix for p in (tmp_path / npz_scan.stem).iterdir()]
    assert written == [".dcs"] * sum(len(view.channels) for view in scan.views)  # a DX image per view × channel


def test_usage_errors_without_a_command_build_no_command():
    """``nii`` with a misspelt command still lists every command by name (each module left unimported)."""
    code, packages, _ = imported_by("infoo")
    assert code == 2 and "numpy" not in packages


@pytest.mark.parametrize(
    ("argv", "built"),
    [
        (["info", "scan.npz"], ("info",)),
        (["-v", "--debug", "convert", "-h"], ("convert",)),
        (["--help"], COMMANDS),
        (["-q", "-h", "info"], COMMANDS),  # help asked before any command: every command's help line
        (["--version"], ()),
        (["infoo", "x"], ()),
        ([], ()),
    ],
)
def test_the_parser_builds_the_commands_the_call_needs(argv, built):
    assert commands_to_build(argv) == built


def test_help_still_lists_every_command_with_its_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    listing = capsys.readouterr().out
    assert all(f"    {name} " in listing for name in COMMANDS)
    assert "measure conversion throughput" in listing and "convert scans" in listing


@pytest.mark.parametrize("package", ["nii", "nii.kernels", "nii.render"])
def test_lazy_packages_resolve_every_public_name(package):
    """Names load on first use, each the object its home module defines (a kernel, not its module of the same
    name: ``nii.kernels.attenuation`` and ``nii.kernels.resample`` are both)."""
    import importlib
    import types

    module = importlib.import_module(package)
    importlib.import_module("nii.kernels.attenuation")  # the import system sets the package's attribute
    for name in module.__all__:
        value = getattr(module, name)
        assert not isinstance(value, types.ModuleType), name
    assert callable(importlib.import_module("nii.kernels").attenuation)
    with pytest.raises(AttributeError):
        module.no_such_name  # noqa: B018

"""The design card's layout rules, checked on the source tree."""

import ast
import tomllib
from pathlib import Path

ROOT = Path(__file__).parents[1]
MAPPED = {"formats", "kernels", "viewer"}


def python_files():
    for folder in ("nii", "formats", "kernels", "viewer", "pilots", "benchmarks", "tests"):
        yield from (p for p in (ROOT / folder).rglob("*.py") if "plugin_dist" not in p.parts)


def test_mapped_packages_are_never_imported_top_level():
    offenders = []
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in names if name.split(".")[0] in MAPPED]
    assert offenders == []


def test_every_package_folder_is_installed():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping = config["package-dir"]
    declared = set(config["packages"])
    found = set()
    for package, folder in mapping.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([package, *relative.parts]) if relative.parts else package)
    assert found <= declared, f"add to [tool.setuptools] packages: {sorted(found - declared)}"

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


# --- the import graph ---------------------------------------------------------------------------

PROCESSING = (
    "nii.steps",
    "nii.values",
    "nii.calibration",
    "nii.render",
    "nii.physics",
    "nii.materials",
    "nii.pipeline",
)
SIMULATOR = ("nii.simulate",)
KERNEL_ALLOWED = ("nii.kernels", "nii.errors", "nii.limits")


def installed_modules() -> dict[str, Path]:
    """Module name → source file, through pyproject's package-dir mapping."""
    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    modules = {}
    for package, folder in mapping.items():
        for path in (ROOT / folder).rglob("*.py"):
            relative = path.relative_to(ROOT / folder).with_suffix("")
            parts = [part for part in relative.parts if part != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def imported_names(path: Path, module: str, modules: dict[str, Path]) -> set[str]:
    """Every nii module the file imports, at the top or inside functions, relative imports resolved."""
    is_package = path.name == "__init__.py"
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor if is_package else anchor[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if f"{base}.{alias.name}" in modules)
    return {name for name in names if name == "nii" or name.startswith("nii.")}


def import_graph() -> dict[str, set[str]]:
    modules = installed_modules()
    return {name: imported_names(path, name, modules) for name, path in modules.items()}


def within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def test_the_graph_sees_the_mapped_packages():
    graph = import_graph()
    assert {"nii.formats.dicos.mapping", "nii.kernels.display", "nii.render.renderer", "nii.model"} <= set(graph)
    assert "nii.kernels.display" in graph["nii.render.renderer"]
    assert "nii.errors" in graph["nii.kernels.display"]


def test_the_reader_of_imports_resolves_relative_and_late_imports(tmp_path):
    source = tmp_path / "late.py"
    source.write_text(
        "from . import npz\nfrom ..kernels import orient\ndef f():\n    from nii.values import physical\n"
    )
    names = imported_names(source, "nii.formats.late", installed_modules())
    assert {"nii.formats.npz", "nii.kernels", "nii.values"} <= names
    assert within("nii.values", PROCESSING) and not within("nii.valuesx", PROCESSING)


def offenders(layer: str, forbidden) -> list[str]:
    """``module imports name`` for every import of a module of ``layer`` for which ``forbidden(name)``."""
    graph = import_graph()
    return [
        f"{module} imports {name}"
        for module in graph
        if within(module, (layer,))
        for name in graph[module]
        if forbidden(name)
    ]


def test_formats_do_not_import_processing_or_the_simulator():
    assert offenders("nii.formats", lambda name: within(name, PROCESSING + SIMULATOR)) == []


def test_kernels_import_no_more_of_nii_than_errors_and_limits():
    assert offenders("nii.kernels", lambda name: not within(name, KERNEL_ALLOWED)) == []


def test_the_model_does_not_import_formats():
    graph = import_graph()
    seen, todo = set(), ["nii.model"]
    while todo:  # the model and everything it imports, transitively
        module = todo.pop()
        if module in seen or module not in graph:
            continue
        seen.add(module)
        todo.extend(graph[module])
    assert not [module for module in seen if within(module, ("nii.formats", "nii.registry"))]

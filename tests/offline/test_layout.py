"""The offline kit's layout (issue 20): no private name imported across modules, and the generators' task lists tied
to the one vocabulary (common.vocabulary). No import cycle: tests/test_import_cycles.py, for the whole project."""

import ast
from pathlib import Path

import pytest

from common.data import GEOVLM_TASKS, LHRS_CATEGORIES, LHRS_CATEGORY_NAMES, SCORERS_TASKS
from offline.synthetic import text, writers

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "offline")


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    return {module_name(path): path for package in PACKAGES for path in sorted((REPO / package).rglob("*.py"))}


def imports(path: Path, modules: dict[str, Path]) -> list[tuple[str, str]]:
    """(project module, imported name) of every import in `path`, at any depth of its code. `from package import
    name` counts as importing the submodule package.name where one exists, else the package."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(alias.name, "") for alias in node.names if alias.name in modules]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module in modules:
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                found.append((submodule, "") if submodule in modules else (node.module, alias.name))
    return found


def test_no_private_name_imported_across_modules():
    modules = project_modules()
    offenders = [
        f"{name} imports {target}.{imported}"
        for name, path in modules.items()
        if name.startswith("offline")
        for target, imported in imports(path, modules)
        if imported.startswith("_")
    ]
    assert offenders == []


@pytest.mark.parametrize("name", ["GEOVLM_TASKS", "SCORERS_TASKS", "LHRS_CATEGORIES", "LHRS_CATEGORY_NAMES"])
def test_offline_defines_no_copy_of_the_vocabulary(name):
    defined = [
        f"{path.relative_to(REPO)}:{node.lineno}"
        for path in sorted((REPO / "offline").rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    ]
    assert defined == []


def test_generated_lists_are_tied_to_the_vocabulary():
    assert set(writers.GENERATED_GEOVLM_TASKS) <= set(GEOVLM_TASKS)
    assert set(GEOVLM_TASKS) - set(writers.GENERATED_GEOVLM_TASKS) == {"yes_no", "multiple_choice"}
    assert writers.SCORERS_FILES == tuple(file_name for file_name, _ in SCORERS_TASKS.values())
    assert len(writers.SCORERS_FILES) == 12
    assert set(writers.SCORERS_CLASS_NAMES) == {f for f, kind in SCORERS_TASKS.values() if kind == "cls"}
    assert text.LHRS_CATEGORY_NAMES is LHRS_CATEGORY_NAMES and LHRS_CATEGORY_NAMES[8 - 1] == "resolution"
    assert {t for mcq in text.MCQS.values() for t in mcq.types} <= set(LHRS_CATEGORIES)

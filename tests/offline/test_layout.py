"""The offline kit's layout (issue 20): no import cycle (function-level imports included), no private name imported
across modules, and the generators' task lists tied to the one vocabulary of common.data."""

import ast
from pathlib import Path

import pytest

from common.data import GEOVLM_TASKS, LHRS_CATEGORIES, SCORERS_TASKS
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


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_in_common_or_offline():
    modules = project_modules()
    graph = {name: {target for target, _ in imports(path, modules)} - {name} for name, path in modules.items()}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_cycle_check_sees_a_function_level_cycle():
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


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


@pytest.mark.parametrize("name", ["GEOVLM_TASKS", "SCORERS_TASKS", "LHRS_CATEGORIES"])
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
    assert tuple(text.LHRS_CATEGORY_NAMES) == LHRS_CATEGORIES
    assert len(text.LHRS_CATEGORY_NAMES) == 11 and text.LHRS_CATEGORY_NAMES["8"] == "resolution"
    assert {t for mcq in text.MCQS.values() for t in mcq.types} <= set(LHRS_CATEGORIES)

"""Strict layers: common <- {sft, grpo, eval}. A stage never imports a sibling stage (an edit to an eval task must not
silently change a reward), and common imports no stage; what stages share lives in common/."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = ("sft", "grpo", "eval")


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, at any depth of its code (function-level imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", ["common", *STAGES])
def test_no_sideways_imports(package):
    allowed = {"common", package}
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in imported_packages(path) & {"common", *STAGES}
        if name not in allowed
    }
    assert not offenders, "\n".join(sorted(offenders))


def test_the_check_sees_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from eval.tasks import TASKS\n    import grpo.rewards\n")
    assert imported_packages(module) == {"eval", "grpo"}

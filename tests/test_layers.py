"""Strict layers: common <- {sft, grpo, eval}, common <- offline. A stage never imports a sibling stage (an edit to an
eval task must not silently change a reward), and common imports no stage; what stages share lives in common/.
The offline kit (tiny model, twin, synthetic data, planner) may import common, never a stage; no stage and not common
imports the kit, with one named exception (OFFLINE_EXCEPTIONS), so a training or evaluation run never depends on it.
One stage imports a sibling, by name and at function level only (STAGE_EXCEPTIONS)."""

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STAGES = ("sft", "grpo", "eval")
LAYERS = ("common", *STAGES, "offline")
# The only imports of the offline kit from outside it: module -> why. Each one is a function-level import.
OFFLINE_EXCEPTIONS = {
    "eval/serve.py": "the web demo renders synthetic example scenes when no SAMData test folder is at hand",
}

# The only imports of a sibling stage: (module, stage it imports) -> why. Each one is a function-level import.
STAGE_EXCEPTIONS = {
    ("grpo/validation.py", "eval"): "validation during GRPO scores the held-out slice with the benchmark's own "
    "prompts, generation and scorer (eval.tasks, eval.generate, eval.backends), not a reward or a copy that drifts",
}


def _packages(nodes) -> set[str]:
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def imported_packages(path: Path) -> set[str]:
    """Top-level packages a module imports, at any depth of its code (function-level imports included)."""
    return _packages(ast.walk(ast.parse(path.read_text(), filename=str(path))))


@pytest.mark.parametrize("package", LAYERS)
def test_no_sideways_imports(package):
    allowed = {"common", package}
    offenders = {
        f"{path.relative_to(REPO)} imports {name}"
        for path in sorted((REPO / package).rglob("*.py"))
        for name in imported_packages(path) & set(LAYERS)
        if name not in allowed
        and not (name == "offline" and str(path.relative_to(REPO)) in OFFLINE_EXCEPTIONS)
        and (str(path.relative_to(REPO)), name) not in STAGE_EXCEPTIONS
    }
    assert not offenders, "\n".join(sorted(offenders))


@pytest.mark.parametrize("module", sorted(OFFLINE_EXCEPTIONS))
def test_offline_exceptions_are_function_level_and_used(module):
    top_level = _packages(ast.parse((REPO / module).read_text()).body)
    assert "offline" not in top_level
    assert "offline" in imported_packages(REPO / module)


@pytest.mark.parametrize("module, stage", sorted(STAGE_EXCEPTIONS))
def test_stage_exceptions_are_function_level_and_used(module, stage):
    top_level = _packages(ast.parse((REPO / module).read_text()).body)
    assert stage not in top_level
    assert stage in imported_packages(REPO / module)


def test_the_check_sees_function_level_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from eval.tasks import TASKS\n    import grpo.rewards\n")
    assert imported_packages(module) == {"eval", "grpo"}
